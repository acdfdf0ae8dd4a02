//! Safe on the open internet: each test here fails on a server without the
//! fix it names (issue "Safe on the open internet", items 1 and 3-6).

mod common;

use common::app::*;
use podium_server::auth::Role;
use serde_json::{Value, json};
use std::time::Duration;

/// Production-like settings: dev mode off, real secrets.
fn production(extra: &[(&str, &str)]) -> podium_server::config::Config {
    let mut overrides = vec![
        ("PODIUM_AUTH__DEV_MODE", "false"),
        (
            "PODIUM_AUTH__TOKEN_SECRET",
            "0123456789abcdef0123456789abcdef0123",
        ),
        ("PODIUM_AUTH__ADMIN_KEY", "an-admin-key-for-tests"),
    ];
    overrides.extend_from_slice(extra);
    config(&overrides)
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

// 1. Dev mode: off by default; on, it never hands out the admin key, and
// serves only local browsers (no proxy, no foreign Host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_is_off_by_default_and_never_hands_out_the_admin_key() {
    let defaults = podium_server::config::Config::load(None, []).unwrap();
    assert!(!defaults.auth.dev_mode, "embedded defaults: dev mode off");

    let app = TestApp::start().await; // dev mode on (the test config)
    let url = format!("{}/api/dev/token?room=lab&name=Root&role=admin", app.base);
    let dev = ("x-podium-dev", DEV_SECRET);
    // A default reverse proxy (nginx `proxy_pass http://127.0.0.1:8080`)
    // sends a loopback Host and no forwarding header: the dev secret, which
    // only the printed start link carries, still stops it.
    for secret in [None, Some(""), Some("guess")] {
        let headers: Vec<_> = secret.map(|s| ("x-podium-dev", s)).into_iter().collect();
        let response = get(&url, &headers).await;
        assert_eq!(response.status(), 401, "{secret:?}");
    }
    let response = get(&url, &[dev]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["token"].is_string());
    let text = body.to_string();
    assert!(body.get("adminKey").is_none(), "{text}");
    assert!(!text.contains(app.state.admin_key.expose()), "{text}");

    // A reverse proxy on the host (nginx doing TLS) or a DNS-rebinding page.
    for headers in [
        &[dev, ("x-forwarded-for", "203.0.113.9")][..],
        &[dev, ("forwarded", "for=203.0.113.9")],
        &[dev, ("x-forwarded-host", "class.example.org")],
        &[dev, ("host", "attacker.example")],
        &[dev, ("host", "attacker.example:8080")],
    ] {
        let response = get(&url, headers).await;
        assert_eq!(response.status(), 403, "{headers:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden", "{headers:?}");
    }
    for host in ["localhost", "localhost:8080", "127.0.0.1:1", "[::1]:8080"] {
        assert_eq!(
            get(&url, &[dev, ("host", host)]).await.status(),
            200,
            "{host}"
        );
    }
    // Not only the token route: a dev server answers nothing to a proxy or
    // to a foreign Host (the admin API and the WebSocket included).
    for path in ["/api/info", "/api/admin/rooms", "/ws", "/student.html"] {
        let url = format!("{}{path}", app.base);
        assert_eq!(
            get(&url, &[("host", "attacker.example")]).await.status(),
            403,
            "{path}"
        );
        assert_eq!(
            get(&url, &[("x-forwarded-for", "203.0.113.9")])
                .await
                .status(),
            403,
            "{path}"
        );
    }
    app.stop().await;
}

// 6. Issued links use the configured public URL, never request headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issued_links_use_the_public_url_not_request_headers() {
    let app = TestApp::with(production(&[(
        "PODIUM_HTTP__PUBLIC_URL",
        "https://class.example.org/",
    )]))
    .await;
    let issued: Value = reqwest::Client::new()
        .post(format!("{}/api/admin/tokens", app.base))
        .bearer_auth("an-admin-key-for-tests")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("host", "evil.example")
        .json(&json!({ "room": "lab", "name": "Ada", "role": "student" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = issued["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://class.example.org/student.html#token="),
        "{url}"
    );
    app.stop().await;
}

// 6. Tokens stay out of URLs: a query token is refused; the subprotocol
// carries it and the server picks `podium`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_travel_in_the_websocket_subprotocol_not_the_url() {
    let app = TestApp::start().await;
    let token = app.token("lab", "Ada", Role::Student);
    let ws = app.base.replace("http", "ws");
    let err = tokio_tungstenite::connect_async(format!("{ws}/ws?token={token}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    let (_ws, response) = tokio_tungstenite::connect_async(app.ws_url(&token))
        .await
        .expect("the subprotocol token is accepted");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "podium",
        "the server selects the podium subprotocol"
    );
    // Tools may send it as a bearer header instead.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{ws}/ws"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .expect("a bearer token is accepted");
    app.stop().await;
}

// /metrics names rooms and restreams: it takes a bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_bearer_token() {
    let app = TestApp::with(production(&[(
        "PODIUM_HTTP__METRICS_TOKEN",
        "a-metrics-token-for-tests",
    )]))
    .await;
    let url = format!("{}/metrics", app.base);
    assert_eq!(get(&url, &[]).await.status(), 401);
    assert_eq!(
        get(&url, &[("authorization", "Bearer an-admin-key-for-tests")])
            .await
            .status(),
        401,
        "with a metrics token configured, the admin key is not it"
    );
    let ok = get(
        &url,
        &[("authorization", "Bearer a-metrics-token-for-tests")],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("podium_workers"));
    app.stop().await;
}

// 3. A producer with 100 simulcast encodings used to pass `produce` and then
// panic every student's `consume` inside mediasoup, leaving ghost peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_producers_are_refused_and_leave_no_ghost_peers() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("ghost", "Teacher", Role::Teacher).await;
    let transport = teacher
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let encodings: Vec<Value> = (0..100)
        .map(|i| json!({ "rid": format!("r{i}"), "scalabilityMode": "L1T3" }))
        .collect();
    let mut params = camera_rtp_parameters(5000);
    params["encodings"] = json!(encodings);
    let refused = teacher
        .err(
            "produce",
            json!({ "transportId": transport["id"], "kind": "video", "rtpParameters": params, "source": "camera" }),
        )
        .await;
    assert_eq!(refused, "bad_request");
    for (field, value) in [
        (
            "encodings",
            json!([{ "ssrc": 1, "scalabilityMode": "L9T3" }]),
        ),
        (
            "encodings",
            json!([{ "rid": "a", "ssrc": 1 }, { "rid": "a", "ssrc": 2 }]),
        ),
        ("encodings", json!([])),
    ] {
        let mut params = camera_rtp_parameters(6000);
        params[field] = value.clone();
        let refused = teacher
            .err(
                "produce",
                json!({ "transportId": transport["id"], "kind": "video", "rtpParameters": params, "source": "camera" }),
            )
            .await;
        assert_eq!(refused, "bad_request", "{value}");
    }
    let mut audio = mic_rtp_parameters(7000);
    audio["encodings"] = json!([{ "ssrc": 7000 }, { "ssrc": 7001 }]);
    let refused = teacher
        .err(
            "produce",
            json!({ "transportId": transport["id"], "kind": "audio", "rtpParameters": audio, "source": "mic" }),
        )
        .await;
    assert_eq!(refused, "bad_request");
    // A browser's camera still produces, a student consumes it, and once the
    // student's socket closes the room lists only the teacher.
    let camera = produce(&mut teacher, &transport["id"], "camera").await;
    let (mut student, _) = app.join("ghost", "Student", Role::Student).await;
    viewer_ready(&mut student).await;
    student.ok("consume", json!({ "producerId": camera })).await;
    student.close().await;
    let mut peers = 0;
    for _ in 0..50 {
        peers = app.admin_get("/api/admin/rooms/ghost").await["peers"]
            .as_array()
            .unwrap()
            .len();
        if peers == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(peers, 1, "only the teacher is left");
    app.stop().await;
}

// 4. One live connection per user and room: the newer replaces the older.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_of_a_user_replaces_the_first() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("one", "Teacher", Role::Teacher).await;
    let token = app.token("one", "Sam", Role::Student);
    let mut first = Client::connect(app.ws_url(&token)).await;
    let first_id = first.ok("join", json!({})).await["peerId"].clone();
    let mut second = Client::connect(app.ws_url(&token)).await;
    let joined = second.ok("join", json!({})).await;
    assert_eq!(joined["peerCount"], 2, "teacher + one Sam");
    assert_eq!(first.notified("closed").await["reason"], "replaced");
    loop {
        let left = teacher.notified("peerLeft").await;
        if left["peerId"] == first_id {
            break;
        }
    }
    let room = app.admin_get("/api/admin/rooms/one").await;
    assert_eq!(room["peers"].as_array().unwrap().len(), 2);
    app.stop().await;
}

// 4. A kicked user cannot rejoin with the same link until an admin lifts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_user_stays_out_until_the_ban_is_lifted() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("ban", "Teacher", Role::Teacher).await;
    let token = app.token("ban", "Eve", Role::Student);
    let mut eve = Client::connect(app.ws_url(&token)).await;
    let eve_id = eve.ok("join", json!({})).await["peerId"].clone();
    teacher.ok("kick", json!({ "peerId": eve_id })).await;
    assert_eq!(eve.notified("closed").await["reason"], "kicked");

    let mut again = Client::connect(app.ws_url(&token)).await;
    assert_eq!(again.err("join", json!({})).await, "forbidden");
    let room = app.admin_get("/api/admin/rooms/ban").await;
    assert_eq!(room["bans"][0]["user"], "eve", "{room}");

    let lifted = reqwest::Client::new()
        .delete(format!("{}/api/admin/rooms/ban/bans/eve", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    again.ok("join", json!({})).await;
    app.stop().await;
}

// 4. Connections that never join are closed; one address opens only so many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_close_and_addresses_are_capped() {
    let app = TestApp::with(config(&[
        ("PODIUM_LIMITS__JOIN_TIMEOUT_SECS", "1"),
        ("PODIUM_LIMITS__CONNECTIONS_PER_IP", "3"),
    ]))
    .await;
    let mut idle = app.connect("cap", "Idle", Role::Student).await;
    assert_eq!(
        idle.try_notified("closed", Duration::from_secs(5))
            .await
            .expect("closed for not joining")["reason"],
        "joinTimeout"
    );
    assert!(idle.closed_by_server(Duration::from_secs(3)).await);

    let mut open = Vec::new();
    for name in ["A", "B", "C"] {
        let (client, _) = app.join("cap", name, Role::Student).await;
        open.push(client);
    }
    let err = tokio_tungstenite::connect_async(app.ws_url(&app.token("cap", "D", Role::Student)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("429"), "{err}");
    open.pop().unwrap().close().await;
    let mut d = None;
    for _ in 0..50 {
        if let Ok((ws, _)) =
            tokio_tungstenite::connect_async(app.ws_url(&app.token("cap", "D", Role::Student)))
                .await
        {
            d = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(d.is_some(), "a closed connection frees its slot");
    app.stop().await;
}

// 4. Chat budgets: per user across reconnects, per room in bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_has_a_budget_per_user_and_per_room() {
    let app = TestApp::with(config(&[
        ("PODIUM_LIMITS__CHAT_MESSAGES_PER_MINUTE", "3"),
        ("PODIUM_LIMITS__MAX_CHAT_BYTES", "1000"),
        ("PODIUM_LIMITS__CHAT_ROOM_BYTES_PER_SECOND", "1000"),
    ]))
    .await;
    let (mut teacher, _) = app.join("chat", "Teacher", Role::Teacher).await;
    let (mut sam, _) = app.join("chat", "Sam", Role::Student).await;
    for _ in 0..3 {
        sam.ok("chat", json!({ "text": "hi" })).await;
    }
    assert_eq!(
        sam.err("chat", json!({ "text": "hi" })).await,
        "rate_limited"
    );
    // A new connection of the same user does not get a fresh budget.
    sam.close().await;
    let (mut sam, _) = app.join("chat", "Sam", Role::Student).await;
    assert_eq!(
        sam.err("chat", json!({ "text": "hi" })).await,
        "rate_limited"
    );

    // Bytes, not characters; bidi overrides refused.
    let long = "é".repeat(501); // 1002 bytes
    assert_eq!(
        teacher.err("chat", json!({ "text": long })).await,
        "bad_request"
    );
    assert_eq!(
        teacher
            .err("chat", json!({ "text": "\u{202e}gnorw si siht" }))
            .await,
        "bad_request"
    );

    // The students' bytes: ten seconds' worth (10,000) at once, plus 1,000
    // a second, whoever sends them.
    let big = "x".repeat(1000);
    let mut sent = 0;
    let mut codes = Vec::new();
    let started = std::time::Instant::now();
    let mut students = Vec::new();
    for name in ["U1", "U2", "U3", "U4", "U5"] {
        let (user, _) = app.join("chat", name, Role::Student).await;
        students.push(user);
    }
    for user in &mut students {
        for _ in 0..3 {
            match user.request("chat", json!({ "text": big })).await {
                Ok(_) => sent += 1,
                Err((code, _)) => codes.push(code),
            }
        }
    }
    let allowed = 10 + started.elapsed().as_secs() as usize + 1;
    assert!(
        sent <= allowed,
        "at most {allowed} x 1,000 bytes, sent {sent}"
    );
    assert!(codes.iter().any(|c| c == "limit_reached"), "{codes:?}");
    // The crowd does not silence the teacher.
    teacher.ok("chat", json!({ "text": big })).await;
    app.stop().await;
}

// 5. Students never see another peer's user id; staff do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_do_not_see_user_ids() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("privacy", "Teacher", Role::Teacher).await;
    let (mut ada, joined) = app.join("privacy", "Ada", Role::Student).await;
    let seen = &joined["peers"][0];
    assert_eq!(seen["name"], "Teacher");
    assert!(seen.get("user").is_none(), "{joined}");
    let arrived = teacher.notified("peerJoined").await;
    assert_eq!(arrived["peer"]["user"], "ada", "staff see the user id");
    let (_assistant, _) = app.join("privacy", "Assistant", Role::Teacher).await;
    let arrived = ada.notified("peerJoined").await;
    assert_eq!(arrived["peer"]["name"], "Assistant");
    assert!(arrived["peer"].get("user").is_none(), "{arrived}");

    let ada_id = joined["peerId"].clone();
    let (mut bob, _) = app.join("privacy", "Bob", Role::Student).await;
    teacher
        .ok("allowSpeak", json!({ "peerId": ada_id, "allowed": true }))
        .await;
    let told = bob.notified("speakPermission").await;
    assert_eq!(told["peer"]["name"], "Ada");
    assert!(told["peer"].get("user").is_none(), "{told}");
    let told = teacher.notified("speakPermission").await;
    assert_eq!(told["peer"]["user"], "ada");
    ada.drain(Duration::from_millis(50)).await;
    app.stop().await;
}

// Pages send a Content-Security-Policy (and friends) with every response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers() {
    let app = TestApp::start().await;
    let response = get(&format!("{}/api/info", app.base), &[]).await;
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    app.stop().await;
}

// 1. The binary on its embedded defaults (no config at all): no dev tokens,
// no admin key anywhere, the admin API off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_defaults_serve_no_dev_tokens_and_no_admin_api() {
    let config = podium_server::config::Config::load(
        None,
        [
            ("PODIUM_HTTP__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("PODIUM_RTC__WORKERS".to_owned(), "1".to_owned()),
        ],
    )
    .unwrap();
    let app = TestApp::with(config).await;
    assert!(app.state.admin_key.is_empty(), "no admin key was made up");
    for role in ["admin", "teacher", "student"] {
        let url = format!("{}/api/dev/token?room=a&name=b&role={role}", app.base);
        assert_eq!(
            get(&url, &[("x-podium-dev", DEV_SECRET)]).await.status(),
            404,
            "{role}"
        );
    }
    let rooms = format!("{}/api/admin/rooms", app.base);
    for auth in ["Bearer ", "Bearer x", "Bearer null"] {
        assert_eq!(
            get(&rooms, &[("authorization", auth)]).await.status(),
            401,
            "{auth}"
        );
    }
    let info: Value = get(&format!("{}/api/info", app.base), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["devMode"], false);
    app.stop().await;
}

// A peer of a dead worker that leaves after the replacement started must not
// uncount a peer of the replacement (placement would drift).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_a_dead_worker_do_not_uncount_its_replacement() {
    let app = TestApp::with(config(&[("PODIUM_RTC__WORKERS", "1")])).await;
    let pool = &app.state.pool;
    let old = pool.reserve(Some(0), &[]).unwrap().keep();
    pool.simulate_death(0);
    for _ in 0..100 {
        if pool.worker(0).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new = pool.reserve(Some(0), &[]).unwrap().keep();
    pool.remove_peer(old);
    assert_eq!(
        pool.stats()[0].peers,
        1,
        "the replacement's peer stays counted"
    );
    pool.remove_peer(new);
    assert_eq!(pool.stats()[0].peers, 0);
    app.stop().await;
}

// 3. A bug that panics inside a request handler ends that session only, and
// its peer leaves the room on the way out: no ghost peer, the room closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_session_leaves_no_ghost_peer() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("panic", "Teacher", Role::Teacher).await;
    let (mut student, joined) = app.join("panic", "Student", Role::Student).await;
    let student_id = joined["peerId"].clone();
    app.state
        .panic_next_request
        .store(true, std::sync::atomic::Ordering::Relaxed);
    student.send_text(r#"{"id":99,"method":"raiseHand"}"#).await;
    assert!(
        student.closed_by_server(Duration::from_secs(5)).await,
        "the panicking session's socket closes"
    );
    loop {
        let left = teacher.notified("peerLeft").await;
        if left["peerId"] == student_id {
            break;
        }
    }
    let room = app.admin_get("/api/admin/rooms/panic").await;
    assert_eq!(room["peers"].as_array().unwrap().len(), 1, "{room}");
    // The teacher goes too: the room closes (no join left counted).
    teacher.close().await;
    let mut gone = false;
    for _ in 0..50 {
        if app.admin_get("/api/admin/rooms").await["rooms"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the room closed");
    app.stop().await;
}

// 4. Behind a reverse proxy on this host, connections count per forwarded
// client (only a loopback peer is believed; see `client_ip`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_client_addresses_count_only_from_a_local_proxy() {
    let app = TestApp::with(config(&[
        ("PODIUM_HTTP__TRUST_FORWARDED_FOR", "true"),
        ("PODIUM_LIMITS__CONNECTIONS_PER_IP", "1"),
        // Dev mode refuses forwarded requests; this is a production setting.
        ("PODIUM_AUTH__DEV_MODE", "false"),
        (
            "PODIUM_AUTH__TOKEN_SECRET",
            "0123456789abcdef0123456789abcdef0123",
        ),
        ("PODIUM_AUTH__ADMIN_KEY", "an-admin-key-for-tests"),
    ]))
    .await;
    let connect = |name: &str, forwarded: &str| {
        let mut request = app.ws_url(&app.token("fwd", name, Role::Student));
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let _a = connect("A", "198.51.100.1, 203.0.113.1").await.unwrap();
    let _b = connect("B", "203.0.113.2").await.unwrap();
    let err = connect("C", "203.0.113.2").await.unwrap_err().to_string();
    assert!(err.contains("429"), "{err}");
    app.stop().await;
}
