//! Nodes in a cluster on a real Redis (started by the test on a free
//! loopback port): each registers with its load and renews it, the admin API
//! lists the live nodes, a node that stops leaves the list; Redis away is a
//! clear 503 while classes go on, and its return is picked up.

mod common;

use common::app::{TestApp, config};
use podium_server::app::{Application, StartError};
use podium_server::auth::Role;
use podium_testkit::redis::RedisServer;
use serde_json::Value;
use std::time::{Duration, Instant};

const SECRET: &str = "the test cluster's secret";

fn node(redis: &RedisServer, id: &str) -> podium_server::config::Config {
    config(&[
        ("PODIUM_CLUSTER__REDIS_URL", &redis.url()),
        ("PODIUM_CLUSTER__SECRET", SECRET),
        ("PODIUM_CLUSTER__NODE_ID", id),
        ("PODIUM_CLUSTER__HEARTBEAT_SECS", "1"),
    ])
}

/// `GET /api/admin/cluster` on `app` until `done` holds (10 s at most).
async fn cluster_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listing = app.admin_get("/api/admin/cluster").await;
        if done(&listing) {
            return listing;
        }
        assert!(Instant::now() < deadline, "{what}: {listing}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The listed node ids (none for an error answer).
fn ids(listing: &Value) -> Vec<&str> {
    listing["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_each_other_with_their_load_and_leave_when_they_stop() {
    let mut redis = RedisServer::start();
    let a = TestApp::with(node(&redis, "node-a")).await;
    let b = TestApp::with(node(&redis, "node-b")).await;
    let (_student, _) = b.join("maths", "Bob", Role::Student).await;
    let listing = cluster_until(&a, "b's heartbeat carries its student", |l| {
        l["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["id"] == "node-b" && n["load"]["peers"] == 1)
    })
    .await;
    assert_eq!(listing["node"], "node-a");
    assert_eq!(ids(&listing), ["node-a", "node-b"]);
    let b_record = &listing["nodes"][1];
    assert_eq!(b_record["publicUrl"], b.base.as_str());
    assert_eq!(b_record["load"]["capacity"], 900);
    assert_eq!(b_record["draining"], false);
    let text = listing.to_string();
    assert!(!text.contains(SECRET), "the secret is not listed");

    // b stops: it leaves the list at once (not after its record expires).
    b.stop().await;
    let listing = a.admin_get("/api/admin/cluster").await;
    assert_eq!(ids(&listing), ["node-a"]);

    // Redis away: a clear 503; a running class goes on, a new one is refused clearly.
    let (mut running, _) = a.join("running", "Ada", Role::Teacher).await;
    redis.kill();
    let asked = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{}/api/admin/cluster", a.base))
        .bearer_auth(a.state.admin_key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );
    // A class that is not running yet cannot find its home: a clear error,
    // not a hang.
    let mut teacher = a.connect("physics", "Ada", Role::Teacher).await;
    let asked = Instant::now();
    let (code, message) = teacher
        .request("join", serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(code, "unavailable", "{message}");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );

    // The class that was running goes on.
    running
        .ok("chat", serde_json::json!({ "text": "still here" }))
        .await;

    // Redis back (empty): the next heartbeat registers a again.
    redis.run();
    cluster_until(&a, "a registered again after Redis came back", |l| {
        ids(l) == ["node-a"]
    })
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_alone_has_no_cluster_and_one_without_its_redis_does_not_start() {
    let alone = TestApp::start().await;
    let listing = alone.admin_get("/api/admin/cluster").await;
    assert_eq!(listing, serde_json::json!({ "node": null, "nodes": [] }));
    alone.stop().await;

    let mut redis = RedisServer::start();
    let config = node(&redis, "node-c");
    redis.kill();
    let started = Instant::now();
    let error = Application::build(config).await.err().expect("no start");
    assert!(matches!(error, StartError::Cluster(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let mut short = node(&redis, "node-d");
    short.cluster.secret = podium_server::config::Secret::new("short");
    let error = Application::build(short).await.err().expect("no start");
    assert!(error.to_string().contains("cluster.secret"), "{error}");
}

/// `n` notifications named `name` (10 s each at most), their data.
async fn notified_n(client: &mut common::app::Client, name: &str, n: usize) -> Vec<Value> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(client.notified(name).await);
    }
    all
}

/// Until `done` holds for the home's room (5 s at most).
async fn home_until(app: &TestApp, room: &str, what: &str, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let id = podium_server::ids::RoomId::parse(room).unwrap();
    loop {
        let mut edges = app
            .state
            .rooms
            .get(&id)
            .map(|r| r.edges())
            .unwrap_or_default();
        edges.sort();
        if done(&edges) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: edges {edges:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_spans_nodes_its_home_pipes_each_producer_once_to_each_edge() {
    let redis = RedisServer::start();
    let a = TestApp::with(node(&redis, "node-a")).await;
    let b = TestApp::with(node(&redis, "node-b")).await;
    let c = TestApp::with(node(&redis, "node-c")).await;

    // A student on b before the teacher: b waits for a home.
    let (mut early, joined) = b.join("maths", "Early", Role::Student).await;
    assert_eq!(joined["producers"], serde_json::json!([]));

    let (mut teacher, _) = a.join("maths", "Ada", Role::Teacher).await;
    let produced = common::app::teacher_producing(&mut teacher, &["camera", "mic"]).await;

    // The early student hears of the teacher and of both producers, piped in.
    let joined_peer = early.notified("peerJoined").await;
    assert_eq!(joined_peer["peer"]["name"], "Ada");
    assert!(
        joined_peer["peer"]["user"].is_null(),
        "students see no user ids"
    );
    let mut ids: Vec<String> = notified_n(&mut early, "newProducer", 2)
        .await
        .iter()
        .map(|n| n["producer"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = produced.clone();
    expected.sort();
    assert_eq!(ids, expected);

    // Students on b and c: the teacher and its producers are in their join,
    // and they consume them from their own node.
    let (mut bob, joined) = b.join("maths", "Bob", Role::Student).await;
    assert_eq!(joined["producers"].as_array().unwrap().len(), 2, "{joined}");
    assert!(
        joined["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Ada")
    );
    let (mut cleo, _) = c.join("maths", "Cleo", Role::Student).await;
    notified_n(&mut cleo, "newProducer", 2).await;
    for student in [&mut bob, &mut cleo] {
        common::app::viewer_ready(student).await;
        for id in &produced {
            let consumed = student
                .ok("consume", serde_json::json!({ "producerId": id }))
                .await;
            assert_eq!(consumed["producerId"], id.as_str());
            assert!(consumed["peerId"].is_string());
        }
    }
    // One pipe per edge node, however many students it carries.
    home_until(&a, "maths", "b and c piped", |e| e == ["node-b", "node-c"]).await;

    // What the teacher says on a reaches students on b and c.
    teacher
        .ok("chat", serde_json::json!({ "text": "page 12" }))
        .await;
    for student in [&mut bob, &mut cleo, &mut early] {
        assert_eq!(student.notified("chat").await["text"], "page 12");
    }

    // The teacher closes the camera: consumers on the edges close.
    teacher
        .ok(
            "closeProducer",
            serde_json::json!({ "producerId": produced[0] }),
        )
        .await;
    for student in [&mut bob, &mut cleo] {
        let closed = student.notified("consumerClosed").await;
        assert_eq!(closed["producerId"], produced[0].as_str());
    }

    // A second teacher, on b (a load balancer sent them there): b stays an
    // edge, and the screen they share goes up to the home and out to c.
    let (mut other, _) = b.join("maths", "Tom", Role::Teacher).await;
    let screen = common::app::teacher_producing(&mut other, &["screen"]).await;
    for listener in [&mut teacher, &mut cleo, &mut bob] {
        let new = listener.notified("newProducer").await;
        assert_eq!(new["producer"]["id"], screen[0].as_str(), "{new}");
    }
    cleo.ok("consume", serde_json::json!({ "producerId": screen[0] }))
        .await;

    // c's only student reloads the page: the room on c closes and opens
    // again at once (a new room object), and is piped again.
    cleo.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut dora, joined) = c.join("maths", "Cleo", Role::Student).await;
    let mic = produced[1].as_str();
    let mut piped = (joined["producers"].as_array().into_iter().flatten()).any(|p| p["id"] == mic);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !piped {
        assert!(Instant::now() < deadline, "c's new room was never piped");
        if let Some(new) = dora
            .try_notified("newProducer", Duration::from_millis(200))
            .await
        {
            piped = new["producer"]["id"] == mic;
        }
    }

    // The students of c leave: c's pipe closes on the home.
    dora.close().await;
    home_until(&a, "maths", "c's pipe closed", |e| e == ["node-b"]).await;

    // The teacher leaves: the edge's students see the teacher go.
    teacher.close().await;
    let left = bob.notified("peerLeft").await;
    assert_eq!(left["peerId"], joined_peer["peer"]["id"]);
    // The home keeps the room while b's peers stand in it; once they are
    // gone too, it closes there (its routers and lease go).
    let id = podium_server::ids::RoomId::parse("maths").unwrap();
    assert!(a.state.rooms.get(&id).is_ok(), "b's students keep the room");
    for client in [early, bob, other] {
        client.close().await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.state.rooms.get(&id).is_ok() {
        assert!(Instant::now() < deadline, "the home kept an empty room");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_decides_chat_hands_speaking_and_kicks_for_every_node() {
    let redis = RedisServer::start();
    let a = TestApp::with(node(&redis, "node-a")).await;
    let b = TestApp::with(node(&redis, "node-b")).await;
    let c = TestApp::with(node(&redis, "node-c")).await;
    let (mut teacher, _) = a.join("history", "Ada", Role::Teacher).await;
    common::app::teacher_producing(&mut teacher, &["mic"]).await;
    let (mut bob, _) = b.join("history", "Bob", Role::Student).await;
    let (mut cleo, _) = c.join("history", "Cleo", Role::Student).await;
    bob.notified("newProducer").await;
    cleo.notified("newProducer").await;

    // Staff on the home see the students of every node, user ids included.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let peer = teacher.notified("peerJoined").await["peer"].clone();
        assert!(peer["user"].is_string(), "{peer}");
        seen.push(peer["name"].as_str().unwrap().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["Bob", "Cleo"]);
    let cleo_id = peer_id_on(&a, "history", "Cleo");

    // Chat from c reaches the teacher on a and a student on b.
    cleo.ok("chat", serde_json::json!({ "text": "a question" }))
        .await;
    assert_eq!(teacher.notified("chat").await["text"], "a question");
    assert_eq!(bob.notified("chat").await["from"]["name"], "Cleo");
    assert_eq!(cleo.notified("chat").await["text"], "a question");
    // The home's limits hold for every node: an empty message is refused there.
    let code = cleo.err("chat", serde_json::json!({ "text": " " })).await;
    assert_eq!(code, "bad_request");

    // Cleo raises her hand on c; the teacher sees it and lets her speak.
    cleo.ok("raiseHand", serde_json::json!({})).await;
    assert_eq!(cleo.notified("handRaised").await["raised"], true);
    let hand = teacher.notified("handRaised").await;
    assert_eq!(hand["peerId"], cleo_id.as_str());
    teacher
        .ok(
            "allowSpeak",
            serde_json::json!({ "peerId": cleo_id, "allowed": true }),
        )
        .await;
    assert_eq!(
        cleo.notified("speakPermission").await["peer"]["canSpeak"],
        true
    );

    // Her microphone on c is heard on a and on b.
    let transport = cleo
        .ok(
            "createTransport",
            serde_json::json!({ "direction": "send" }),
        )
        .await;
    let mic = common::app::produce(&mut cleo, &transport["id"], "mic").await;
    for listener in [&mut teacher, &mut bob] {
        let new = listener.notified("newProducer").await;
        assert_eq!(new["producer"]["id"], mic.as_str(), "{new}");
        assert_eq!(new["producer"]["peerId"], cleo_id.as_str());
    }
    common::app::viewer_ready(&mut bob).await;
    let consumed = bob
        .ok("consume", serde_json::json!({ "producerId": mic }))
        .await;
    assert_eq!(consumed["kind"], "audio");

    // Permission withdrawn on a: her producer closes on c, and everywhere.
    teacher
        .ok(
            "allowSpeak",
            serde_json::json!({ "peerId": cleo_id, "allowed": false }),
        )
        .await;
    let closed = bob.notified("producerClosed").await;
    assert_eq!(closed["producerId"], mic.as_str());
    assert_eq!(
        teacher.notified("producerClosed").await["producerId"],
        mic.as_str()
    );
    let code = cleo
        .err(
            "produce",
            serde_json::json!({
                "transportId": transport["id"], "kind": "audio", "source": "mic",
                "rtpParameters": common::app::mic_rtp_parameters(4242),
            }),
        )
        .await;
    assert_eq!(code, "forbidden");

    // A teacher on b shares a camera and records the class: the recording
    // runs on the home, with the camera piped up to it.
    let (mut tom, tom_joined) = b.join("history", "Tom", Role::Teacher).await;
    let camera = common::app::teacher_producing(&mut tom, &["camera"]).await;
    let new = teacher.notified("newProducer").await;
    assert_eq!(new["producer"]["id"], camera[0].as_str());
    let started = tom.ok("startRecording", serde_json::json!({})).await;
    let id = started["recording"]["id"].as_str().unwrap().to_owned();
    let listed = a.admin_get("/api/admin/recordings").await;
    let on_home = listed["recordings"].as_array().unwrap();
    assert!(
        on_home
            .iter()
            .any(|r| r["id"] == id.as_str() && r["room"] == "history"),
        "{listed}"
    );
    let on_edge = b.admin_get("/api/admin/recordings").await;
    assert_eq!(
        on_edge["recordings"],
        serde_json::json!([]),
        "nothing records on the edge"
    );
    tom.ok("stopRecording", serde_json::json!({})).await;
    // A student on an edge may not, there either.
    assert_eq!(
        bob.err("startRecording", serde_json::json!({})).await,
        "forbidden"
    );
    tom.close().await;
    // Students see staff come and go, wherever they are.
    let left = cleo.notified("peerLeft").await;
    assert_eq!(left["peerId"], tom_joined["peerId"]);

    // The teacher on a kicks Bob on b: b closes him, and keeps him out.
    let bob_id = peer_id_on(&a, "history", "Bob");
    teacher
        .ok("kick", serde_json::json!({ "peerId": bob_id }))
        .await;
    assert_eq!(bob.notified("closed").await["reason"], "kicked");
    let mut again = b.connect("history", "Bob", Role::Student).await;
    assert_eq!(again.err("join", serde_json::json!({})).await, "forbidden");
    let left = cleo
        .try_notified("peerLeft", Duration::from_millis(300))
        .await;
    assert!(
        left.is_none(),
        "students do not hear of other students: {left:?}"
    );

    drop((teacher, bob, cleo, again));
    c.stop().await;
    b.stop().await;
    a.stop().await;
}

/// The id of `name`'s peer as the home's room has it.
fn peer_id_on(home: &TestApp, room: &str, name: &str) -> String {
    let id = podium_server::ids::RoomId::parse(room).unwrap();
    let summary = home.state.rooms.get(&id).unwrap().summary();
    summary
        .peers
        .iter()
        .find(|p| p.info.name == name)
        .map(|p| p.info.id.to_string())
        .unwrap_or_else(|| panic!("{name} is not in the home's room"))
}

/// Until `done` holds for the names of the peers in the home's room (5 s at most).
async fn class_until(app: &TestApp, room: &str, what: &str, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let names = class_names(app, room);
        if done(&names) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: peers {names:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names of the peers in the home's room, sorted.
fn class_names(app: &TestApp, room: &str) -> Vec<String> {
    let id = podium_server::ids::RoomId::parse(room).unwrap();
    let mut names: Vec<String> = (app.state.rooms.get(&id).map(|r| r.summary().peers))
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.info.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_class_counts_every_node() {
    let redis = RedisServer::start();
    let small = |id| {
        let mut config = node(&redis, id);
        config.limits.max_peers_per_room = 3;
        config
    };
    let a = TestApp::with(small("node-a")).await;
    let b = TestApp::with(small("node-b")).await;
    let c = TestApp::with(small("node-c")).await;
    let (mut teacher, _) = a.join("seminar", "Ada", Role::Teacher).await;
    common::app::teacher_producing(&mut teacher, &["mic"]).await;
    let (mut bob, _) = b.join("seminar", "Bob", Role::Student).await;
    let (_cleo, _) = c.join("seminar", "Cleo", Role::Student).await;
    bob.notified("newProducer").await;
    class_until(&a, "seminar", "three in the class", |names| {
        names.len() == 3
    })
    .await;
    bob.drain(Duration::from_millis(300)).await;
    bob.notifications.clear();

    // b has room for Dan by its own count; the class, counted on the home, has not.
    let (mut dan, _) = b.join("seminar", "Dan", Role::Student).await;
    let closed = dan
        .try_notified("closed", Duration::from_secs(5))
        .await
        .unwrap_or_else(|| panic!("Dan stayed in a full class: {:?}", dan.notifications));
    assert_eq!(closed["reason"], "roomFull");
    assert!(dan.closed_by_server(Duration::from_secs(5)).await);
    // The others' class goes on undisturbed (b's pipe was not opened again).
    bob.drain(Duration::from_secs(1)).await;
    let disturbed: Vec<&Value> = (bob.notifications.iter())
        .filter(|n| n["notification"] != "peerJoined" && n["notification"] != "peerLeft")
        .collect();
    assert!(disturbed.is_empty(), "{disturbed:?}");
    assert_eq!(class_names(&a, "seminar"), ["Ada", "Bob", "Cleo"]);

    // Bob reloads his page in the full class: his new connection comes in
    // (before the old one leaves), and the old one is replaced.
    let (mut bob_again, _) = b.join("seminar", "Bob", Role::Student).await;
    assert_eq!(bob.notified("closed").await["reason"], "replaced");
    assert!(
        (bob_again
            .try_notified("closed", Duration::from_secs(2))
            .await)
            .is_none(),
        "a reload in a full class was refused"
    );
    class_until(&a, "seminar", "Bob once", |names| {
        names == ["Ada", "Bob", "Cleo"]
    })
    .await;

    // Once someone leaves, b admits a newcomer again.
    bob_again.close().await;
    class_until(&a, "seminar", "Bob gone", |names| names.len() == 2).await;
    let (mut eve, _) = b.join("seminar", "Eve", Role::Student).await;
    class_until(&a, "seminar", "Eve in", |names| {
        names.iter().any(|n| n == "Eve")
    })
    .await;
    assert!(
        eve.try_notified("closed", Duration::from_secs(1))
            .await
            .is_none()
    );
    drop((teacher, eve));
    c.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_class_starts_on_the_least_loaded_node() {
    let redis = RedisServer::start();
    // a is sized for 4 peers and carries 3: b, empty, is clearly freer.
    let mut busy = node(&redis, "node-a");
    busy.cluster.capacity = 4;
    let a = TestApp::with(busy).await;
    let b = TestApp::with(node(&redis, "node-b")).await;
    let mut crowd = Vec::new();
    for name in ["One", "Two", "Three"] {
        crowd.push(a.join("busy", name, Role::Student).await.0);
    }
    cluster_until(&a, "a's load is known", |l| {
        l["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["id"] == "node-a" && n["load"]["peers"] == 3)
    })
    .await;

    // The teacher reaches a; the class starts on b, and a pipes up to it.
    let (mut teacher, _) = a.join("fresh", "Ada", Role::Teacher).await;
    let id = podium_server::ids::RoomId::parse("fresh").unwrap();
    assert!(b.state.rooms.get(&id).is_ok(), "b hosts the new class");
    let camera = common::app::teacher_producing(&mut teacher, &["camera"]).await;
    let (mut student, joined) = b.join("fresh", "Bob", Role::Student).await;
    let has_camera = |producers: &Value| {
        (producers.as_array().into_iter().flatten()).any(|p| p["id"] == camera[0].as_str())
    };
    let mut arrived = has_camera(&joined["producers"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !arrived {
        if let Some(new) = student
            .try_notified("newProducer", Duration::from_millis(200))
            .await
        {
            arrived = new["producer"]["id"] == camera[0].as_str();
        }
        assert!(
            Instant::now() < deadline,
            "the teacher's camera never reached b"
        );
    }
    student
        .ok(
            "setRtpCapabilities",
            serde_json::json!({ "rtpCapabilities": common::app::browser_rtp_capabilities() }),
        )
        .await;
    student
        .ok(
            "createTransport",
            serde_json::json!({ "direction": "recv" }),
        )
        .await;
    student
        .ok("consume", serde_json::json!({ "producerId": camera[0] }))
        .await;

    // Everyone leaves: b lets the hosted class go.
    teacher.close().await;
    student.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state.rooms.get(&id).is_ok() {
        assert!(Instant::now() < deadline, "b kept the hosted class");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(crowd);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_api_takes_only_requests_the_cluster_signed() {
    use podium_cluster::{NODE_HEADER, RequestParts, SIGNATURE_HEADER, TIME_HEADER};
    let redis = RedisServer::start();
    let a = TestApp::with(node(&redis, "node-a")).await;
    let (_teacher, _) = a.join("maths", "Ada", Role::Teacher).await;
    let id = podium_server::ids::RoomId::parse("maths").unwrap();
    let edges = || a.state.rooms.get(&id).unwrap().edges();
    let http = reqwest::Client::new();
    let path = "/internal/cluster/rooms/maths/edges/node-x";
    // An edge's pipe end, with its SRTP key (cluster.pipe_srtp is on).
    let body = r#"{"pipe":{"ip":"127.0.0.1","port":9,"srtp":{"cryptoSuite":"AEAD_AES_256_GCM","keyBase64":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis="}},"peers":[]}"#;
    let signed = |method: reqwest::Method, secret: &str, node: &str, time_ms: u64, body: &str| {
        let signature = podium_cluster::sign_request(
            secret,
            &RequestParts {
                method: method.as_str(),
                path,
                node,
                time_ms,
                body: body.as_bytes(),
            },
        );
        http.request(method, format!("{}{path}", a.base))
            .header(NODE_HEADER, node)
            .header(TIME_HEADER, time_ms.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body.to_owned())
    };
    let post = |secret: &str, node: &str, time_ms: u64| {
        signed(reqwest::Method::POST, secret, node, time_ms, body)
    };
    let now = podium_cluster::now_ms();
    let unsigned = http
        .post(format!("{}{path}", a.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let other_secret = post("another cluster's secret", "node-x", now)
        .send()
        .await
        .unwrap();
    assert_eq!(other_secret.status(), 401);
    let replayed_late = post(SECRET, "node-x", now - 60_000).send().await.unwrap();
    assert_eq!(replayed_late.status(), 401);
    let for_another = post(SECRET, "node-y", now).send().await.unwrap();
    assert_eq!(
        for_another.status(),
        403,
        "a node acts on its own pipe only"
    );
    assert!(edges().is_empty(), "refused requests changed nothing");
    let opened = post(SECRET, "node-x", now).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert_eq!(edges(), ["node-x"]);
    // Captured on the internal network and sent again within the 30 s a
    // date may be off: refused, as is a repeated close.
    let closed = signed(reqwest::Method::DELETE, SECRET, "node-x", now + 1, "")
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 204);
    assert!(edges().is_empty());
    let replayed = post(SECRET, "node-x", now).send().await.unwrap();
    assert_eq!(replayed.status(), 401, "a replayed request is refused");
    assert!(edges().is_empty(), "the replay opened nothing");
    let closed_again = signed(reqwest::Method::DELETE, SECRET, "node-x", now + 1, "")
        .send()
        .await
        .unwrap();
    assert_eq!(closed_again.status(), 401);

    // A node alone has no internal API at all.
    let alone = TestApp::start().await;
    let response = http
        .post(format!("{}{path}", alone.base))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    alone.stop().await;
    a.stop().await;
}
