//! Each worker's WebRTC server: every transport of a worker announces the
//! same UDP and TCP port (`rtc.webrtc_server_port` + worker), a replaced
//! worker gets its port back, `rtc.webrtc_server = false` gives each
//! transport its own ports, and `createTransport` hands out TURN servers with
//! credentials for the peer.

mod common;

use common::app::{TestApp, config};
use podium_server::auth::{Role, unix_now};
use podium_server::turn::rest_credentials;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

const TURN_SECRET: &str = "webrtc-server-test-turn-secret";
const TURN_URL: &str = "turns:turn.example.org:443?transport=tcp";

/// A port `p` such that `p` and `p + 1` are free on 127.0.0.1 for UDP and TCP.
fn free_port_pair() -> u16 {
    for _ in 0..500 {
        let base = 30_000 + rand_port() % 9_000;
        let free = (base..=base + 1).all(|p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if free {
            return base;
        }
    }
    panic!("no free port pair");
}

fn rand_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos ^ std::process::id().rotate_left(7)) as u16
}

/// The (protocol, port) pairs a transport announces.
fn candidates(transport: &Value) -> BTreeSet<(String, u64)> {
    transport["iceCandidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["protocol"].as_str().unwrap().to_owned(),
                c["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn on_port(port: u16) -> BTreeSet<(String, u64)> {
    [
        ("tcp".to_owned(), port.into()),
        ("udp".to_owned(), port.into()),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_share_their_workers_ports_and_get_turn_credentials() {
    let base = free_port_pair();
    let port = base.to_string();
    let urls = format!("[\"{TURN_URL}\"]");
    let app = TestApp::with(config(&[
        ("PODIUM_RTC__WEBRTC_SERVER_PORT", &port),
        ("PODIUM_TURN__URLS", &urls),
        ("PODIUM_TURN__SECRET", TURN_SECRET),
        ("PODIUM_TURN__RELAY_ONLY", "true"),
    ]))
    .await;

    let (mut teacher, joined) = app.join("ports", "Teacher", Role::Teacher).await;
    let before = unix_now();
    let send = teacher
        .ok("createTransport", json!({"direction": "send"}))
        .await;
    let ports = [on_port(base), on_port(base + 1)];
    assert!(ports.contains(&candidates(&send)), "{send}");

    // TURN: one server entry with every URL, credentials for this peer.
    assert_eq!(send["iceTransportPolicy"], "relay");
    let servers = send["iceServers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{send}");
    assert_eq!(servers[0]["urls"], json!([TURN_URL]));
    let username = servers[0]["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, joined["peerId"].as_str().unwrap());
    let expiry: u64 = expiry.parse().unwrap();
    let ttl = app.state.config.turn.ttl_secs;
    assert!((before + ttl..=unix_now() + ttl).contains(&expiry));
    let (_, credential) = rest_credentials(TURN_SECRET, user, expiry);
    assert_eq!(servers[0]["credential"], credential);

    // Students spread over both workers; each one's transport is on its worker's port.
    let mut students = Vec::new();
    let mut seen = BTreeSet::new();
    for i in 0..4 {
        let (mut student, _) = app
            .join("ports", &format!("Student {i}"), Role::Student)
            .await;
        let recv = student
            .ok("createTransport", json!({"direction": "recv"}))
            .await;
        let announced = candidates(&recv);
        assert!(ports.contains(&announced), "{recv}");
        seen.insert(announced);
        students.push(student);
    }
    assert_eq!(seen.len(), 2, "both workers' servers are used");

    // A replaced worker opens its WebRTC server on the same port again.
    app.state.pool.simulate_death(1);
    for _ in 0..100 {
        if app.state.pool.stats()[1].alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.state.pool.stats()[1].alive, "the replacement started");
    let mut after = BTreeSet::new();
    for i in 0..4 {
        let (mut student, _) = app.join("ports", &format!("Late {i}"), Role::Student).await;
        let recv = student
            .ok("createTransport", json!({"direction": "recv"}))
            .await;
        after.insert(candidates(&recv));
        students.push(student);
    }
    assert!(after.contains(&on_port(base + 1)), "{after:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_webrtc_servers_each_transport_has_its_own_ports() {
    let app = TestApp::with(config(&[
        ("PODIUM_RTC__WEBRTC_SERVER", "false"),
        ("PODIUM_RTC__WORKERS", "1"),
    ]))
    .await;
    let mut seen = BTreeSet::new();
    let mut students = Vec::new();
    for i in 0..3 {
        let (mut student, _) = app
            .join("own", &format!("Student {i}"), Role::Student)
            .await;
        let recv = student
            .ok("createTransport", json!({"direction": "recv"}))
            .await;
        let announced = candidates(&recv);
        assert_eq!(announced.len(), 2, "{recv}");
        // UDP and TCP ports are drawn apart and may share a number.
        seen.extend(announced);
        students.push(student);
    }
    assert_eq!(
        seen.len(),
        6,
        "three transports, six (protocol, port) pairs: {seen:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_turn_transports_get_no_ice_servers() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("plain", "Teacher", Role::Teacher).await;
    let send = teacher
        .ok("createTransport", json!({"direction": "send"}))
        .await;
    assert_eq!(send["iceServers"], json!([]));
    assert_eq!(send["iceTransportPolicy"], "all");
    // Port 0: each worker's server took one port from rtc.port_min..port_max.
    let announced = candidates(&send);
    assert_eq!(announced.len(), 2, "{send}");
    for (_, port) in &announced {
        assert!((40_000..=49_999).contains(port), "{send}");
    }
    app.stop().await;
}
