//! Garbage on the wire: every bad message gets a typed error, the connection
//! stays usable, nothing else in the room changes, and nothing panics.

mod common;

use common::app::*;
use podium_server::auth::Role;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_typed_errors_and_change_nothing() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("room", "Ada", Role::Teacher).await;
    let producers = teacher_producing(&mut teacher, &["mic"]).await;
    let mut student = app.connect("room", "Eve", Role::Student).await;

    // Before joining, only `join` is accepted.
    assert_eq!(
        student.err("chat", json!({ "text": "hi" })).await,
        "conflict"
    );
    student.ok("join", json!({})).await;
    assert_eq!(student.err("join", json!({})).await, "conflict");
    teacher.notified("peerJoined").await;
    let before = serde_json::to_value(app.state.rooms.summaries()).unwrap();

    let zero = "00000000-0000-0000-0000-000000000000";
    let cases: Vec<(String, Option<u32>, &str)> = vec![
        ("{".into(), None, "bad_request"),
        ("[]".into(), None, "bad_request"),
        ("null".into(), None, "bad_request"),
        (r#"{"id":-1,"method":"join"}"#.into(), None, "bad_request"),
        (
            r#"{"id":9999999999,"method":"join"}"#.into(),
            None,
            "bad_request",
        ),
        (r#"{"id":"7","method":"join"}"#.into(), None, "bad_request"),
        (r#"{"id":1}"#.into(), Some(1), "bad_request"),
        (
            r#"{"id":2,"method":"fly","data":{}}"#.into(),
            Some(2),
            "unknown_method",
        ),
        (
            r#"{"id":3,"method":"Consume","data":{}}"#.into(),
            Some(3),
            "unknown_method",
        ),
        (
            r#"{"id":4,"method":"consume","data":{}}"#.into(),
            Some(4),
            "bad_request",
        ),
        (
            r#"{"id":5,"method":"consume","data":{"producerId":"x"}}"#.into(),
            Some(5),
            "bad_request",
        ),
        (
            r#"{"id":6,"method":"consume","data":[1,2]}"#.into(),
            Some(6),
            "bad_request",
        ),
        (
            format!(r#"{{"id":7,"method":"consume","data":{{"producerId":"{zero}"}}}}"#),
            Some(7),
            "not_found",
        ),
        (
            format!(r#"{{"id":8,"method":"resumeConsumer","data":{{"consumerId":"{zero}"}}}}"#),
            Some(8),
            "not_found",
        ),
        (
            format!(
                r#"{{"id":9,"method":"connectTransport","data":{{"transportId":"{zero}","dtlsParameters":{{"role":"client","fingerprints":[]}}}}}}"#
            ),
            Some(9),
            "not_found",
        ),
        (
            r#"{"id":10,"method":"createTransport","data":{"direction":"sideways"}}"#.into(),
            Some(10),
            "bad_request",
        ),
        (
            r#"{"id":11,"method":"createTransport","data":{"direction":"send"}}"#.into(),
            Some(11),
            "forbidden",
        ),
        (
            format!(
                r#"{{"id":12,"method":"closeProducer","data":{{"producerId":"{}"}}}}"#,
                producers[0]
            ),
            Some(12),
            "forbidden",
        ),
        (
            format!(r#"{{"id":13,"method":"kick","data":{{"peerId":"{zero}"}}}}"#),
            Some(13),
            "not_found",
        ),
        (
            r#"{"id":14,"method":"chat","data":{"text":"x","extra":true}}"#.into(),
            Some(14),
            "bad_request",
        ),
        (
            r#"{"id":15,"method":"setRtpCapabilities","data":{"rtpCapabilities":{"codecs":"no"}}}"#
                .into(),
            Some(15),
            "bad_request",
        ),
        (
            r#"{"id":16,"method":"consume","data":{"producerId":null}}"#.into(),
            Some(16),
            "bad_request",
        ),
        ("\u{0}\u{1}\u{2}".into(), None, "bad_request"),
        (
            "{\"id\":17,\"method\":\"chat\",\"data\":{\"text\":\"\\ud800\"}}".into(),
            None,
            "bad_request",
        ),
    ];
    for (text, id, code) in cases {
        student.send_text(&text).await;
        let reply = student
            .next_message(Duration::from_secs(5))
            .await
            .expect("a reply");
        assert_eq!(reply["ok"], false, "{text}");
        assert_eq!(reply["error"]["code"], code, "{text}: {reply}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
        match id {
            Some(id) => assert_eq!(reply["response"], id, "{text}"),
            None => assert!(reply.get("response").is_none(), "{text}: {reply}"),
        }
    }

    // Binary frames are not part of the protocol.
    student.send_raw(Message::Binary(vec![1, 2, 3])).await;
    assert_eq!(student.anonymous_error().await.0, "bad_request");

    // Over the message limit but under the frame cap: refused, connection kept.
    let big = format!(
        r#"{{"id":20,"method":"chat","data":{{"text":"{}"}}}}"#,
        "a".repeat(70_000)
    );
    student.send_text(&big).await;
    let (code, message) = student.anonymous_error().await;
    assert_eq!(code, "too_large", "{message}");

    // Still usable, and nothing changed for anyone.
    student
        .ok(
            "setRtpCapabilities",
            json!({ "rtpCapabilities": browser_rtp_capabilities() }),
        )
        .await;
    let after = serde_json::to_value(app.state.rooms.summaries()).unwrap();
    assert_eq!(before, after);
    teacher.drain(Duration::from_millis(300)).await;
    // (The speaker observer may name the teacher's own microphone: not the student's doing.)
    teacher
        .notifications
        .retain(|n| n["notification"] != "activeSpeaker");
    assert!(
        teacher.notifications.is_empty(),
        "the teacher heard: {:?}",
        teacher.notifications
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_rate_limited_and_the_connection_recovers() {
    let app = TestApp::with(config(&[
        ("PODIUM_LIMITS__WS_REQUESTS_PER_SECOND", "20"),
        ("PODIUM_LIMITS__WS_REQUEST_BURST", "40"),
    ]))
    .await;
    let (mut student, _) = app.join("flood", "Eve", Role::Student).await;
    for id in 100..400u32 {
        student
            .send_text(&json!({ "id": id, "method": "raiseHand", "data": {} }).to_string())
            .await;
    }
    let (mut ok, mut limited) = (0, 0);
    while ok + limited < 300 {
        let reply = student
            .next_message(Duration::from_secs(5))
            .await
            .expect("every request answered");
        if reply.get("notification").is_some() {
            continue;
        }
        if reply["ok"] == true {
            ok += 1;
        } else {
            assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
            assert!(
                reply["response"].as_u64().is_some(),
                "rate-limited replies keep the id"
            );
            limited += 1;
        }
    }
    assert!(
        (35..=60).contains(&ok),
        "about the burst passes: {ok} ok, {limited} limited"
    );
    assert!(limited >= 240);
    tokio::time::sleep(Duration::from_millis(500)).await;
    student.ok("lowerHand", json!({})).await;

    // Chat fans out to the room: it has its own, slower budget.
    let mut refused = 0;
    for i in 0..10 {
        if student
            .request("chat", json!({ "text": format!("spam {i}") }))
            .await
            .is_err()
        {
            refused += 1;
        }
    }
    assert!(refused >= 4, "chat floods are refused: {refused}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_over_the_hard_cap_close_only_that_connection() {
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("cap", "Ada", Role::Teacher).await;
    let (mut student, _) = app.join("cap", "Eve", Role::Student).await;
    teacher.notified("peerJoined").await;
    student.send_text(&"x".repeat(2 << 20)).await;
    assert!(
        student.closed_by_server(Duration::from_secs(5)).await,
        "closed with 1009"
    );
    assert!(teacher.notified("peerLeft").await["peerId"].is_string());
    teacher.ok("chat", json!({ "text": "still here" })).await;
    app.stop().await;
}
