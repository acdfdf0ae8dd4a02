//! The real server, real workers, real WebSockets: the classroom's rules.

mod common;

use common::app::*;
use podium_server::auth::Role;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teacher_publishes_and_a_student_consumes() {
    let app = TestApp::start().await;
    let (mut teacher, joined) = app.join("math", "Ada", Role::Teacher).await;
    assert_eq!(joined["role"], "teacher");
    assert!(
        joined["routerRtpCapabilities"]["codecs"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    let transport = teacher
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let producers = vec![
        produce(&mut teacher, &transport["id"], "mic").await,
        produce(&mut teacher, &transport["id"], "camera").await,
    ];

    let (mut student, joined) = app.join("math", "Bob", Role::Student).await;
    assert_eq!(joined["canSpeak"], false);
    assert_eq!(joined["peerCount"], 2);
    let listed: Vec<_> = joined["producers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        joined["peers"][0]["name"], "Ada",
        "students see the teacher"
    );
    assert!(teacher.notified("peerJoined").await["peer"]["name"] == "Bob");

    viewer_ready(&mut student).await;
    for producer_id in &producers {
        let consumed = student
            .ok("consume", json!({ "producerId": producer_id }))
            .await;
        assert_eq!(consumed["producerId"], *producer_id);
        assert_eq!(consumed["peerId"], joined["peers"][0]["id"]);
        let consumer_id = consumed["consumerId"].clone();
        if consumed["kind"] == "video" {
            assert_eq!(consumed["type"], "simulcast");
            assert_eq!(consumed["source"], "camera");
            student
                .ok(
                    "setConsumerPreferredLayers",
                    json!({ "consumerId": consumer_id, "spatialLayer": 0 }),
                )
                .await;
            assert_eq!(
                student
                    .err(
                        "setConsumerPreferredLayers",
                        json!({ "consumerId": consumer_id, "spatialLayer": 7 })
                    )
                    .await,
                "bad_request"
            );
        }
        student
            .ok("resumeConsumer", json!({ "consumerId": consumer_id }))
            .await;
    }
    assert_eq!(
        student
            .err("consume", json!({ "producerId": producers[0] }))
            .await,
        "conflict",
        "one consumer per producer"
    );

    // A producer added later reaches the student; a closed one is announced.
    let screen = produce(&mut teacher, &transport["id"], "screen").await;
    let announced = student.notified("newProducer").await;
    assert_eq!(announced["producer"]["source"], "screen");
    assert_eq!(
        teacher
            .err(
                "produce",
                json!({ "transportId": transport["id"], "kind": "video",
            "rtpParameters": camera_rtp_parameters(9000), "source": "screen" })
            )
            .await,
        "conflict",
        "one producer per source"
    );
    teacher
        .ok("pauseProducer", json!({ "producerId": screen }))
        .await;
    assert_eq!(
        student.notified("producerPaused").await["producerId"],
        screen
    );
    teacher
        .ok("closeProducer", json!({ "producerId": producers[0] }))
        .await;
    assert_eq!(
        student.notified("producerClosed").await["producerId"],
        producers[0]
    );
    let closed = student.notified("consumerClosed").await;
    assert_eq!(closed["producerId"], producers[0]);

    assert_eq!(app.metric("podium_producers").await, 2.0);
    assert_eq!(app.metric("podium_consumers").await, 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_cannot_produce_until_the_teacher_lets_them_speak() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("bio", "Ada", Role::Teacher).await;
    let (mut student, joined) = app.join("bio", "Bob", Role::Student).await;
    let student_id = joined["peerId"].clone();
    teacher.notified("peerJoined").await;

    assert_eq!(
        student
            .err("createTransport", json!({ "direction": "send" }))
            .await,
        "forbidden"
    );
    let fake_transport = "00000000-0000-0000-0000-000000000000";
    let produce = json!({ "transportId": fake_transport, "kind": "audio",
                          "rtpParameters": mic_rtp_parameters(5), "source": "mic" });
    assert_eq!(student.err("produce", produce).await, "forbidden");
    // Students do not rule others either.
    let teacher_id = joined["peers"][0]["id"].clone();
    assert_eq!(
        student.err("kick", json!({ "peerId": teacher_id })).await,
        "forbidden"
    );
    assert_eq!(
        student
            .err(
                "allowSpeak",
                json!({ "peerId": student_id, "allowed": true })
            )
            .await,
        "forbidden"
    );

    student.ok("raiseHand", json!({})).await;
    assert_eq!(teacher.notified("handRaised").await["raised"], true);
    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": true }),
        )
        .await;
    let permission = student.notified("speakPermission").await;
    assert_eq!(permission["peer"]["canSpeak"], true);
    assert_eq!(
        permission["peer"]["handRaised"], false,
        "allowing lowers the hand"
    );

    let transport = student
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let camera = json!({ "transportId": transport["id"], "kind": "video",
                         "rtpParameters": camera_rtp_parameters(60), "source": "camera" });
    assert_eq!(
        student.err("produce", camera).await,
        "forbidden",
        "a speaker sends audio only"
    );
    let mic = json!({ "transportId": transport["id"], "kind": "audio",
                      "rtpParameters": mic_rtp_parameters(70), "source": "mic" });
    let produced = student.ok("produce", mic).await;
    let announced = teacher.notified("newProducer").await;
    assert_eq!(announced["producer"]["id"], produced["producerId"]);

    // Taking the permission back closes the student's microphone.
    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": false }),
        )
        .await;
    assert_eq!(
        teacher.notified("producerClosed").await["producerId"],
        produced["producerId"]
    );
    assert_eq!(
        student.notified("speakPermission").await["peer"]["canSpeak"],
        false
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn students_hear_of_staff_not_of_each_other() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("art", "Ada", Role::Teacher).await;
    let (mut first, _) = app.join("art", "S1", Role::Student).await;
    let (mut second, joined) = app.join("art", "S2", Role::Student).await;
    assert_eq!(
        joined["peers"].as_array().unwrap().len(),
        1,
        "only the teacher is listed"
    );
    assert_eq!(joined["peerCount"], 3);
    assert_eq!(teacher.notified("peerJoined").await["peer"]["name"], "S1");
    assert_eq!(teacher.notified("peerJoined").await["peer"]["name"], "S2");
    assert!(
        first
            .try_notified("peerJoined", Duration::from_millis(500))
            .await
            .is_none()
    );

    // Chat reaches everyone, with its author; hands reach staff only.
    second.ok("chat", json!({ "text": "hello" })).await;
    for client in [&mut teacher, &mut first] {
        let chat = client.notified("chat").await;
        assert_eq!(
            (chat["text"].as_str(), chat["from"]["name"].as_str()),
            (Some("hello"), Some("S2"))
        );
    }
    second.ok("raiseHand", json!({})).await;
    teacher.notified("handRaised").await;
    assert!(
        first
            .try_notified("handRaised", Duration::from_millis(500))
            .await
            .is_none()
    );
    assert_eq!(
        second.err("chat", json!({ "text": "   " })).await,
        "bad_request"
    );
    let long = "x".repeat(2001); // limits.max_chat_bytes: 2000
    assert_eq!(
        second.err("chat", json!({ "text": long })).await,
        "bad_request"
    );

    // The teacher removes a student; the others see them leave.
    let second_id = joined["peerId"].clone();
    teacher.ok("kick", json!({ "peerId": second_id })).await;
    assert_eq!(second.notified("closed").await["reason"], "kicked");
    assert!(second.closed_by_server(Duration::from_secs(5)).await);
    assert_eq!(teacher.notified("peerLeft").await["peerId"], second_id);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_connection_takes_its_transports_and_consumers_with_it() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("chem", "Ada", Role::Teacher).await;
    let producers = teacher_producing(&mut teacher, &["mic", "camera"]).await;
    let (mut student, joined) = app.join("chem", "Bob", Role::Student).await;
    viewer_ready(&mut student).await;
    for producer_id in &producers {
        student
            .ok("consume", json!({ "producerId": producer_id }))
            .await;
    }
    assert_eq!(app.metric("podium_consumers").await, 2.0);
    let room = app
        .state
        .rooms
        .get(&podium_server::ids::RoomId::parse("chem").unwrap())
        .unwrap();
    let before = room.summary();
    assert_eq!(before.peers.len(), 2);

    drop(student); // the TCP connection goes away without a close frame
    let left = teacher.notified("peerLeft").await;
    assert_eq!(left["peerId"], joined["peerId"]);
    assert_eq!(app.metric("podium_consumers").await, 0.0);
    assert_eq!(app.metric("podium_peers").await, 1.0);
    assert_eq!(room.summary().peers.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_room_has_routers_on_every_worker_and_consumes_across_them() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("big", "Ada", Role::Teacher).await;
    let producers = teacher_producing(&mut teacher, &["mic", "camera"]).await;
    let mut students = Vec::new();
    for i in 0..24 {
        let (mut student, _) = app.join("big", &format!("S{i}"), Role::Student).await;
        viewer_ready(&mut student).await;
        for producer_id in &producers {
            let consumed = student
                .ok("consume", json!({ "producerId": producer_id }))
                .await;
            student
                .ok(
                    "resumeConsumer",
                    json!({ "consumerId": consumed["consumerId"] }),
                )
                .await;
        }
        students.push(student);
    }
    let summary = app.admin_get("/api/admin/rooms/big").await;
    let routers = summary["routers"].as_array().unwrap();
    assert_eq!(routers.len(), 2, "one router per worker: {summary}");
    let on_worker = |w: u64| {
        summary["peers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["role"] == "student" && p["worker"] == w)
            .count()
    };
    let (a, b) = (on_worker(0), on_worker(1));
    assert_eq!(a + b, 24);
    assert!(a.abs_diff(b) <= 2, "students spread evenly: {a} vs {b}");
    assert_eq!(app.metric("podium_consumers").await, 48.0);
    let peers_per_worker = app.state.pool.stats();
    assert!(
        peers_per_worker.iter().all(|w| w.peers >= 11),
        "{peers_per_worker:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_worker_is_replaced_and_its_peers_are_told() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("geo", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["mic"]).await;
    let mut students = Vec::new();
    for i in 0..4 {
        students.push(app.join("geo", &format!("S{i}"), Role::Student).await);
    }
    let summary = app.admin_get("/api/admin/rooms/geo").await;
    let home = summary["homeWorker"].as_u64().unwrap() as usize;
    let other = 1 - home;

    app.state.pool.simulate_death(other);
    let mut told = 0;
    for (client, joined) in &mut students {
        let on_dead = summary["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == joined["peerId"] && p["worker"] == other as u64);
        if on_dead {
            assert_eq!(client.notified("closed").await["reason"], "workerDied");
            told += 1;
        }
    }
    assert!(told > 0, "some students were on the dead worker");
    for _ in 0..told {
        teacher.notified("peerLeft").await;
    }
    assert_eq!(app.metric("podium_worker_restarts_total").await, 1.0);
    // The replacement starts and takes new peers.
    for _ in 0..50 {
        if app.state.pool.stats()[other].alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.metric("podium_workers").await, 2.0);
    let (mut late, _) = app.join("geo", "Late", Role::Student).await;
    viewer_ready(&mut late).await;
    let summary = app.admin_get("/api/admin/rooms/geo").await;
    assert!(
        summary["routers"]
            .as_array()
            .unwrap()
            .contains(&json!(other)),
        "{summary}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_every_peer() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("hist", "Ada", Role::Teacher).await;
    let (mut student, _) = app.join("hist", "Bob", Role::Student).await;
    let stopping = tokio::spawn(app.stop());
    for client in [&mut teacher, &mut student] {
        assert_eq!(client.notified("closed").await["reason"], "serverShutdown");
    }
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_the_admin_api_guard_the_doors() {
    let app = TestApp::start().await;
    let http = reqwest::Client::new();
    let ws = app.base.replace("http", "ws");
    for url in [format!("{ws}/ws"), format!("{ws}/ws?token=garbage")] {
        let err = tokio_tungstenite::connect_async(&url)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("401"), "{url}: {err}");
    }
    let expired = app.state.tokens.issue(&podium_server::auth::Claims {
        room: podium_server::ids::RoomId::parse("x").unwrap(),
        user: "u".into(),
        name: "U".into(),
        role: Role::Student,
        exp: 1,
    });
    let err = tokio_tungstenite::connect_async(app.ws_url(&expired))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");

    let rooms = http
        .get(format!("{}/api/admin/rooms", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(rooms.status(), 401);
    let wrong = http
        .get(format!("{}/api/admin/rooms", app.base))
        .bearer_auth("not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let issued: serde_json::Value = http
        .post(format!("{}/api/admin/tokens", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .json(&json!({ "room": "lab", "name": "Ada", "role": "teacher" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        issued["url"]
            .as_str()
            .unwrap()
            .contains("/teacher.html#token=")
    );
    let mut teacher = Client::connect(app.ws_url(issued["token"].as_str().unwrap())).await;
    assert_eq!(teacher.ok("join", json!({})).await["role"], "teacher");

    let bad = http
        .post(format!("{}/api/admin/tokens", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .json(&json!({ "room": "no spaces", "name": "Ada", "role": "teacher" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("room name"),
        "{body}"
    );

    // Dev mode hands out tokens; the admin API lists the room and kicks.
    let dev = http
        .get(format!(
            "{}/api/dev/token?room=lab&name=Bob&role=student",
            app.base
        ))
        .header("x-podium-dev", DEV_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(dev.status(), 200, "{:?}", dev.text().await);
    let dev: serde_json::Value = dev.json().await.unwrap();
    let mut student = Client::connect(app.ws_url(dev["token"].as_str().unwrap())).await;
    let joined = student.ok("join", json!({})).await;
    let listed = app.admin_get("/api/admin/rooms").await;
    assert_eq!(listed["rooms"][0]["peers"].as_array().unwrap().len(), 2);
    let kicked = http
        .delete(format!(
            "{}/api/admin/rooms/lab/peers/{}",
            app.base,
            joined["peerId"].as_str().unwrap()
        ))
        .bearer_auth(app.state.admin_key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(kicked.status(), 204);
    assert_eq!(student.notified("closed").await["reason"], "kicked");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_token_route_is_closed_outside_dev_mode() {
    let app = TestApp::with(config(&[
        ("PODIUM_AUTH__DEV_MODE", "false"),
        (
            "PODIUM_AUTH__TOKEN_SECRET",
            "0123456789abcdef0123456789abcdef0123",
        ),
        ("PODIUM_AUTH__ADMIN_KEY", "an-admin-key-for-tests"),
    ]))
    .await;
    let response = reqwest::get(format!(
        "{}/api/dev/token?room=a&name=b&role=admin",
        app.base
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    let health: serde_json::Value = reqwest::get(format!("{}/health", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_storm_spreads_over_workers() {
    let app = TestApp::start().await;
    let (_teacher, _) = app.join("storm", "Ada", Role::Teacher).await;
    let joins = (0..30).map(|i| {
        let app = &app;
        async move { app.join("storm", &format!("S{i}"), Role::Student).await }
    });
    let students = futures_util::future::join_all(joins).await;
    assert_eq!(students.len(), 30);
    let peers = app.state.pool.stats();
    let (a, b) = (peers[0].peers, peers[1].peers);
    assert_eq!(a + b, 31);
    assert!(
        a.abs_diff(b) <= 1,
        "31 peers spread over 2 workers: {a} vs {b}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cname_does_not_break_the_transport() {
    // Chromium 156 sends `"rtcp": {"cname": ""}` for RID simulcast.
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("cname", "Ada", Role::Teacher).await;
    let transport = teacher
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let mut camera = camera_rtp_parameters(3000);
    camera["rtcp"]["cname"] = json!("");
    teacher
        .ok(
            "produce",
            json!({ "transportId": transport["id"], "kind": "video", "rtpParameters": camera, "source": "camera" }),
        )
        .await;
    produce(&mut teacher, &transport["id"], "mic").await;
    app.stop().await;
}
