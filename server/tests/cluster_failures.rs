//! A class across three real `podium` processes on one real Redis (both
//! started by the test on free loopback ports), and what a school meets:
//! the home node killed (SIGKILL) and the teacher back on another node, an
//! edge frozen (SIGSTOP) past its record's life and back, an edge node
//! killed and its students back on another, Redis restarted mid-class, a
//! node drained (SIGTERM). Students are the test's WebSocket clients doing
//! what the pages do (on a closed connection, join again through another
//! node). The times to recover are printed; the 5 s a student may wait is
//! asserted.

mod common;

use common::app::{Client, teacher_producing, viewer_ready, ws_request};
use podium_server::auth::{Claims, Role, TokenKey, unix_now};
use podium_server::config::Secret;
use podium_server::ids::RoomId;
use podium_testkit::redis::RedisServer;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN_SECRET: &str = "the cluster's token secret, shared by its nodes";
const CLUSTER_SECRET: &str = "the cluster's own secret for its nodes";
const ROOM: &str = "lecture";
/// What a student may wait to watch again after a node died.
const BACK_WITHIN: Duration = Duration::from_secs(5);

/// One `podium` process, a node of the test's cluster.
struct Node {
    id: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Node {
    /// Starts `podium` as node `id` with its media ports in `rtc`.
    async fn start(id: &str, redis: &RedisServer, rtc: (u16, u16)) -> Node {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("podium-cluster-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("podium.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_podium"));
        // podium refuses PODIUM_* variables it does not know (PODIUM_FULL_TESTS).
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("PODIUM_")) {
            command.env_remove(key);
        }
        let child = command
            .env("PODIUM_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("PODIUM_RTC__WORKERS", "1")
            .env("PODIUM_RTC__PORT_MIN", rtc.0.to_string())
            .env("PODIUM_RTC__PORT_MAX", rtc.1.to_string())
            .env("PODIUM_AUTH__TOKEN_SECRET", TOKEN_SECRET)
            .env("PODIUM_AUTH__ADMIN_KEY", "the test cluster's admin key")
            .env("PODIUM_RECORDING__DIR", dir.join("recordings"))
            .env("PODIUM_LIMITS__CONNECTIONS_PER_IP", "1000")
            .env("PODIUM_CLUSTER__REDIS_URL", redis.url())
            .env("PODIUM_CLUSTER__SECRET", CLUSTER_SECRET)
            .env("PODIUM_CLUSTER__NODE_ID", id)
            .env("PODIUM_CLUSTER__HEARTBEAT_SECS", "1")
            .env("PODIUM_LOG", "warn,podium_server=info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("the podium binary starts");
        let node = Node {
            id: id.to_owned(),
            port,
            child,
            log,
        };
        node.wait_healthy().await;
        node
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://127.0.0.1:{}/health", self.port);
        while reqwest::get(&url)
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(
                Instant::now() < deadline,
                "{} did not start: {}",
                self.id,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL: the node gone at once, saying nothing to anyone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`) to the node's process.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} {}", self.id);
    }

    /// A connection to this node's signaling for `name` in `role`.
    async fn connect(&self, name: &str, role: Role) -> Client {
        self.connect_to(ROOM, name, role).await
    }

    async fn connect_to(&self, room: &str, name: &str, role: Role) -> Client {
        let token = TokenKey::new(Secret::new(TOKEN_SECRET)).issue(&Claims {
            room: RoomId::parse(room).unwrap(),
            user: name.to_lowercase(),
            name: name.to_owned(),
            role,
            exp: unix_now() + 600,
        });
        Client::connect(ws_request(
            &format!("ws://127.0.0.1:{}/ws", self.port),
            &token,
        ))
        .await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A student's page: joins through `node`, consumes every producer it is
/// given, and says how long until it consumed `wanted` (a producer id).
async fn student_watching(node: &Node, name: &str, wanted: &[String]) -> Client {
    let mut client = node.connect(name, Role::Student).await;
    let joined = client.ok("join", json!({})).await;
    viewer_ready(&mut client).await;
    let mut have: Vec<String> = (joined["producers"].as_array().unwrap().iter())
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    while !wanted.iter().all(|w| have.contains(w)) {
        let new = client
            .try_notified("newProducer", BACK_WITHIN)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{name} on {} never got {wanted:?}: {}",
                    node.id,
                    node.log_tail()
                )
            });
        have.push(new["producer"]["id"].as_str().unwrap().to_owned());
    }
    for id in wanted {
        let consumed = client.ok("consume", json!({ "producerId": id })).await;
        client
            .ok(
                "resumeConsumer",
                json!({ "consumerId": consumed["consumerId"] }),
            )
            .await;
    }
    client
}

/// A student on `node` that watched before: told of each of `produced`
/// again (within the 5 s a student may wait), it consumes them. `home`'s
/// log goes with a failure too.
async fn consumes_again(student: &mut Client, node: &Node, produced: &[String], home: &Node) {
    let mut have = Vec::new();
    while !produced.iter().all(|p| have.contains(p)) {
        let new = student
            .try_notified("newProducer", BACK_WITHIN)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no video again on {}: {}\n--- {} ---\n{}",
                    node.id,
                    node.log_tail(),
                    home.id,
                    home.log_tail()
                )
            });
        have.push(new["producer"]["id"].as_str().unwrap().to_owned());
    }
    for id in produced {
        student.ok("consume", json!({ "producerId": id })).await;
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_survives_its_home_an_edge_and_redis_dying() {
    let mut redis = RedisServer::start();
    let mut a = Node::start("node-a", &redis, (42000, 42999)).await;
    let mut b = Node::start("node-b", &redis, (43000, 43999)).await;
    let c = Node::start("node-c", &redis, (44000, 44999)).await;
    let mut report = Vec::new();

    // The teacher on a; students on b and c watch.
    let mut teacher = a.connect("Ada", Role::Teacher).await;
    teacher.ok("join", json!({})).await;
    let produced = teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let mut bob = student_watching(&b, "Bob", &produced).await;
    let mut cleo = student_watching(&c, "Cleo", &produced).await;

    // The home dies. Students are told the teacher is gone.
    let killed = Instant::now();
    a.kill();
    drop(teacher);
    for (student, node) in [(&mut bob, &b), (&mut cleo, &c)] {
        let left = student
            .try_notified("peerLeft", Duration::from_secs(10))
            .await;
        assert!(
            left.is_some(),
            "{} was not told the teacher left: {}",
            node.id,
            node.log_tail()
        );
    }
    report.push(format!(
        "home killed -> students told the teacher is gone: {}",
        secs(killed.elapsed())
    ));

    // The teacher comes back through c: c becomes the home, b pipes from it.
    let rejoined = Instant::now();
    let mut teacher = c.connect("Ada", Role::Teacher).await;
    teacher.ok("join", json!({})).await;
    let produced = teacher_producing(&mut teacher, &["camera", "mic"]).await;
    for (student, node) in [(&mut bob, &b), (&mut cleo, &c)] {
        consumes_again(student, node, &produced, &c).await;
    }
    let back = rejoined.elapsed();
    report.push(format!(
        "teacher rejoined on c -> students on b and c consume again: {}",
        secs(back)
    ));
    assert!(back < BACK_WITHIN, "{back:?}");

    // An edge freezes (SIGSTOP) past its record's life: the home takes it
    // for dead, drops its pipe and peers, and says so on the bus. Thawed,
    // the edge reads that and opens its pipe again: its student watches on.
    teacher.drain(Duration::from_millis(300)).await;
    teacher.notifications.clear();
    bob.drain(Duration::from_millis(300)).await;
    bob.notifications.clear();
    let frozen = Instant::now();
    b.signal("STOP");
    let dropped = teacher
        .try_notified("peerLeft", Duration::from_secs(15))
        .await;
    let dropped_after = frozen.elapsed();
    b.signal("CONT");
    assert!(
        dropped.is_some(),
        "the home never dropped the frozen edge: {}",
        c.log_tail()
    );
    let thawed = Instant::now();
    // b lets go of what it had from the home, then pipes it again.
    assert!(
        (bob.try_notified("producerClosed", BACK_WITHIN).await).is_some(),
        "b kept the home's producers of its dropped pipe: {}",
        b.log_tail()
    );
    consumes_again(&mut bob, &b, &produced, &c).await;
    report.push(format!(
        "edge b frozen -> the home drops it: {}; thawed -> its student consumes again: {}",
        secs(dropped_after),
        secs(thawed.elapsed())
    ));

    // An edge dies: its student's page joins again through another node.
    let mut bella = b.connect("Bella", Role::Student).await;
    let bella_id = bella.ok("join", json!({})).await["peerId"].clone();
    teacher.drain(Duration::from_millis(300)).await;
    teacher.notifications.clear();
    let killed = Instant::now();
    b.kill();
    assert!(
        bob.closed_by_server(Duration::from_secs(5)).await || bob.closed,
        "b's student noticed"
    );
    let bob = student_watching(&c, "Bob", &produced).await;
    let back = killed.elapsed();
    report.push(format!(
        "edge b killed -> its student watches through c: {}",
        secs(back)
    ));
    assert!(back < BACK_WITHIN, "{back:?}");
    // The home forgets b's peers once b is gone (Bella does not come back).
    let pruned = loop {
        let left = teacher
            .try_notified("peerLeft", Duration::from_secs(10))
            .await;
        let left = left.unwrap_or_else(|| panic!("the home kept b's student: {}", c.log_tail()));
        if left["peerId"] == bella_id {
            break killed.elapsed();
        }
    };
    drop(bella);
    report.push(format!(
        "edge b killed -> the home drops its peers and pipes: {}",
        secs(pruned)
    ));

    // b comes back empty; a student there; Redis restarts mid-class.
    let b = Node::start("node-b", &redis, (43000, 43999)).await;
    let mut bea = student_watching(&b, "Bea", &produced).await;
    bea.drain(Duration::from_millis(200)).await;
    bea.notifications.clear();
    redis.kill();
    // While Redis is away a second teacher joins on the home: the bus
    // cannot tell b (pub/sub keeps nothing); b reads the room again after.
    let mut ted = c.connect("Ted", Role::Teacher).await;
    let ted_id = ted.ok("join", json!({})).await["peerId"].clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.run();
    let restarted = Instant::now();
    let joined = bea
        .try_notified("peerJoined", Duration::from_secs(10))
        .await
        .unwrap_or_else(|| {
            panic!(
                "b never learnt of the teacher who joined while Redis was away: {}",
                b.log_tail()
            )
        });
    assert_eq!(joined["peer"]["id"], ted_id);
    report.push(format!(
        "Redis restarted -> an edge reads the room again (a teacher who joined meanwhile): {}",
        secs(restarted.elapsed())
    ));
    // The room's events flow again once the nodes are registered.
    loop {
        teacher
            .ok("chat", json!({ "text": "can you hear me" }))
            .await;
        if bea
            .try_notified("chat", Duration::from_millis(250))
            .await
            .is_some()
        {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "no chat after Redis came back: {}",
            b.log_tail()
        );
    }
    let events_back = restarted.elapsed();
    // Running classes kept their pipes: nothing closed on the edge, then or since.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bea.drain(Duration::from_millis(200)).await;
    let closed: Vec<&Value> = (bea.notifications.iter())
        .filter(|n| {
            ["producerClosed", "consumerClosed", "closed", "peerLeft"]
                .contains(&n["notification"].as_str().unwrap_or(""))
        })
        .collect();
    assert!(
        closed.is_empty(),
        "Redis restart closed media on b: {closed:?}\n{}",
        b.log_tail()
    );
    assert!(!bea.closed);
    report.push(format!(
        "Redis down 3 s, restarted empty -> no media closed; room events again after: {}",
        secs(events_back)
    ));

    // b drains (SIGTERM): no new rooms, its class goes on, it stops once empty.
    let mut b = b;
    b.signal("TERM");
    let health = format!("http://127.0.0.1:{}/health", b.port);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = reqwest::get(&health).await.unwrap();
        if response.status() == 503 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status"], "draining");
            break;
        }
        assert!(Instant::now() < deadline, "b never said it drains");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut newcomer = b.connect_to("another-class", "Tom", Role::Teacher).await;
    let (code, _) = newcomer.request("join", json!({})).await.unwrap_err();
    assert_eq!(code, "unavailable", "a draining node takes no new rooms");
    teacher.ok("chat", json!({ "text": "still on" })).await;
    // (Earlier "can you hear me"s may still be queued.)
    while bea.notified("chat").await["text"] != "still on" {}
    let last_left = Instant::now();
    bea.close().await;
    drop(newcomer);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "b did not stop once drained: {}",
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.push(format!(
        "edge b drained (SIGTERM) -> stopped after its last student left: {}",
        secs(last_left.elapsed())
    ));

    println!(
        "cluster failures (cargo test -p podium-server --test cluster_failures -- --nocapture):"
    );
    for line in &report {
        println!("  {line}");
    }
    drop((bob, cleo, teacher, ted, b, c));
}
