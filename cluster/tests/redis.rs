//! The cluster's parts against a real Redis (Debian's `redis-server`,
//! installed by `scripts/setup --test`), started by each test on a free
//! loopback port, with no disk persistence.

use podium_cluster::{Cluster, ClusterConfig, ClusterError, Envelope, Load, NodeInfo};
use podium_testkit::redis::RedisServer;
use serde_json::json;
use std::time::{Duration, Instant};

const SECRET: &str = "test cluster secret, long enough";

fn config(redis: &RedisServer) -> ClusterConfig {
    let mut config = ClusterConfig::new(redis.url(), SECRET);
    config.request_timeout = Duration::from_millis(500);
    config
}

fn node(id: &str, peers: u64) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        public_url: format!("http://127.0.0.1/{id}"),
        internal_addr: "127.0.0.1:9000".into(),
        load: Load {
            peers,
            consumers: 2 * peers,
            worker_cpu_pct: peers as f64 / 10.0,
            capacity: 1000,
        },
        draining: false,
        updated_at_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_by_heartbeat_and_drop_out_when_it_stops() {
    let redis = RedisServer::start();
    let cluster = Cluster::connect(config(&redis)).await.unwrap();
    let registry = cluster.registry();
    let ttl = Duration::from_millis(600);
    registry.heartbeat(&node("a", 300), ttl).await.unwrap();
    registry.heartbeat(&node("b", 100), ttl).await.unwrap();
    let ids: Vec<String> = registry
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(registry.least_loaded().await.unwrap().unwrap().id, "b");
    // b draining: a takes the next room.
    let mut draining = node("b", 100);
    draining.draining = true;
    registry.heartbeat(&draining, ttl).await.unwrap();
    assert_eq!(registry.least_loaded().await.unwrap().unwrap().id, "a");
    // Only a keeps beating: b's record expires and it leaves the list.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        registry.heartbeat(&node("a", 300), ttl).await.unwrap();
    }
    let nodes = registry.nodes().await.unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].id, "a");
    assert!(nodes[0].updated_at_ms > 0);
    registry.deregister("a").await.unwrap();
    assert!(registry.nodes().await.unwrap().is_empty());
    assert!(registry.least_loaded().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_has_one_home_and_only_its_holder_renews_or_gives_it_up() {
    let redis = RedisServer::start();
    let a = Cluster::connect(config(&redis)).await.unwrap().directory();
    let b = Cluster::connect(config(&redis)).await.unwrap().directory();
    let lease = Duration::from_secs(5);
    let (ha, hb) = tokio::join!(a.claim("maths", "a", lease), b.claim("maths", "b", lease));
    let (ha, hb) = (ha.unwrap(), hb.unwrap());
    assert_eq!(ha.node, hb.node, "both see the same home");
    assert!(
        ha.claimed != hb.claimed,
        "exactly one claim made it: {ha:?} {hb:?}"
    );
    let (home, other) = if ha.claimed { ("a", "b") } else { ("b", "a") };
    assert!(!a.renew("maths", other, lease).await.unwrap());
    assert!(a.renew("maths", home, lease).await.unwrap());
    assert!(!a.release("maths", other).await.unwrap());
    assert_eq!(a.home("maths").await.unwrap().as_deref(), Some(home));
    // The home died: c takes over from it, and a node naming the wrong
    // dead one cannot.
    assert!(!b.take_over("maths", "c", "nobody", lease).await.unwrap());
    assert!(b.take_over("maths", "c", home, lease).await.unwrap());
    assert_eq!(a.home("maths").await.unwrap().as_deref(), Some("c"));
    assert!(a.release("maths", "c").await.unwrap());
    assert_eq!(a.home("maths").await.unwrap(), None);
    // A lease that is not renewed ends.
    a.claim("art", "a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(a.home("art").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_carries_signed_messages_and_refuses_other_secrets() {
    let redis = RedisServer::start();
    let home = Cluster::connect(config(&redis)).await.unwrap().bus();
    let edge = Cluster::connect(config(&redis)).await.unwrap().bus();
    let mut intruder_config = config(&redis);
    intruder_config.secret = "not this cluster's secret at all".into();
    let intruder = Cluster::connect(intruder_config).await.unwrap().bus();

    let channel = edge.room_channel("maths");
    let mut heard = edge.subscribe(vec![channel.clone(), edge.node_channel("b")]);
    assert!(heard.ready().await);
    let chat = Envelope::new("a", json!({ "chat": { "from": "Bob", "text": "hi" } }));
    assert_eq!(home.publish(&channel, &chat).await.unwrap(), 1);
    let (on, got) = heard.next().await.unwrap().unwrap();
    assert_eq!((on.as_str(), &got), (channel.as_str(), &chat));

    intruder
        .publish(&channel, &Envelope::new("x", json!({ "kick": "Bob" })))
        .await
        .unwrap();
    let refused = heard.next().await.unwrap();
    assert!(
        matches!(refused, Err(ClusterError::Refused(_))),
        "{refused:?}"
    );

    let direct = Envelope::new("a", json!({ "pipe": "please" }));
    home.publish(&home.node_channel("b"), &direct)
        .await
        .unwrap();
    assert_eq!(heard.next().await.unwrap().unwrap().1, direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_is_a_clear_error_and_its_return_is_picked_up() {
    let mut redis = RedisServer::start();
    let cluster = Cluster::connect(config(&redis)).await.unwrap();
    let registry = cluster.registry();
    let bus = cluster.bus();
    let channel = bus.room_channel("maths");
    let mut heard = bus.subscribe(vec![channel.clone()]);
    assert!(heard.ready().await);
    let ttl = Duration::from_secs(5);
    registry.heartbeat(&node("a", 1), ttl).await.unwrap();

    redis.kill();
    let asked = Instant::now();
    let error = registry.heartbeat(&node("a", 1), ttl).await.unwrap_err();
    assert!(matches!(error, ClusterError::Unavailable(_)), "{error:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "no hang: {:?}",
        asked.elapsed()
    );

    // Back (empty: no persistence): the node registers again, the bus
    // subscribes again by itself.
    redis.run();
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry.heartbeat(&node("a", 1), ttl).await.is_err() {
        assert!(Instant::now() < deadline, "no reconnection to Redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(registry.nodes().await.unwrap().len(), 1);
    assert!(heard.ready().await, "subscribed again");
    let hello = Envelope::new("a", json!({ "hello": 1 }));
    bus.publish(&channel, &hello).await.unwrap();
    assert_eq!(heard.next().await.unwrap().unwrap().1, hello);

    // A node started while Redis is down gets an error at once.
    redis.kill();
    let started = Instant::now();
    let refused = Cluster::connect(config(&redis)).await;
    assert!(
        matches!(refused, Err(ClusterError::Unavailable(_))),
        "{:?}",
        refused.err()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_short_secret_is_refused_at_start() {
    let mut config = ClusterConfig::new("redis://127.0.0.1:1/0", "short");
    config.request_timeout = Duration::from_millis(200);
    assert!(matches!(
        Cluster::connect(config).await,
        Err(ClusterError::Config(_))
    ));
}
