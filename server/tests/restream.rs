//! Restreams through the server: who may start them, what bad requests get,
//! who hears of their status, that stream keys never reach a log line, that
//! destinations cannot reach inside the network, and the limits on what
//! teachers may ask for and on how many restreams run. (Media actually
//! reaching an ingest is proven by egress/run-e2e.sh and by the browser
//! suite.) No test here connects anywhere but loopback: refused destinations
//! are refused before any connection.

mod common;

use common::app::*;
use podium_server::auth::Role;
use podium_testkit::logs::LogCapture;
use serde_json::json;
use std::time::Duration;

const KEY: &str = "sk-podium-test-0000-SECRET";

/// Every log line of this test binary, at trace level: installed once for
/// the whole binary (all its tests log into it).
fn capture_logs() -> &'static LogCapture {
    podium_testkit::logs::capture("trace", false)
}

/// A destination that refuses connections: the restream starts and retries.
fn closed_port_destination() -> serde_json::Value {
    json!({ "service": "custom", "url": "rtmp://127.0.0.1:9/live", "streamKey": KEY })
}

/// The local "ingest" (127.0.0.1) allowlisted, and custom URLs open to
/// teachers, plus `overrides`.
fn local_ingest(overrides: &[(&str, &str)]) -> podium_server::config::Config {
    let mut all = vec![
        ("PODIUM_EGRESS__ALLOW_HOSTS", r#"["127.0.0.1"]"#),
        ("PODIUM_EGRESS__TEACHER_CUSTOM_URLS", "true"),
    ];
    all.extend_from_slice(overrides);
    config(&all)
}

fn custom(url: &str) -> serde_json::Value {
    json!({ "service": "custom", "url": url, "streamKey": KEY })
}

/// POST on the admin API: (status, body).
async fn admin_post(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restreams_are_guarded_validated_reported_and_never_log_keys() {
    let logs = capture_logs();
    let app = TestApp::with(local_ingest(&[])).await;
    let (mut teacher, _) = app.join("live", "Ada", Role::Teacher).await;
    let producers = teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let (mut student, _) = app.join("live", "Bob", Role::Student).await;
    teacher.notified("peerJoined").await;

    // A student's token cannot start (or stop) a restream.
    let start = json!({ "destinations": [closed_port_destination()] });
    assert_eq!(
        student.err("startRestream", start.clone()).await,
        "forbidden"
    );
    let zero = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        student
            .err("stopRestream", json!({ "restreamId": zero }))
            .await,
        "forbidden"
    );

    // Bad requests are refused with a reason, and start nothing.
    assert_eq!(
        teacher
            .err("startRestream", json!({ "destinations": [] }))
            .await,
        "bad_request"
    );
    let bad_url =
        json!({ "destinations": [{ "service": "custom", "url": "http://x/y", "streamKey": KEY }] });
    let (code, message) = teacher.request("startRestream", bad_url).await.unwrap_err();
    assert_eq!(code, "bad_request");
    assert!(!message.contains(KEY), "{message}");
    let audio_as_video =
        json!({ "videoProducerId": producers[1], "destinations": [closed_port_destination()] });
    assert_eq!(
        teacher.err("startRestream", audio_as_video).await,
        "bad_request"
    );
    assert_eq!(app.metric("podium_restreams").await, 0.0);

    // The teacher restreams their camera and microphone by default.
    let started = teacher.ok("startRestream", start).await["restream"].clone();
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["label"], "live");
    let url = started["destinations"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with("rtmp://127.0.0.1:9/live") && !url.contains(KEY),
        "{url}"
    );
    let status = teacher.notified("restreamStatus").await;
    assert_eq!(status["restream"]["id"], id.as_str());
    assert!(!status.to_string().contains(KEY));
    assert!(
        student
            .try_notified("restreamStatus", Duration::from_millis(500))
            .await
            .is_none(),
        "students do not hear of restreams"
    );

    // The admin API sees it, and /metrics counts it.
    let listed = app.admin_get("/api/admin/restreams?room=live").await;
    assert_eq!(listed["restreams"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(KEY));
    assert_eq!(app.metric("podium_restreams").await, 1.0);

    // One producer pair has no layout to change.
    let put = reqwest::Client::new()
        .put(format!("{}/api/admin/restreams/{id}/layout", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .json(&json!({ "layout": "camera" }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 409);
    assert!(listed["restreams"][0]["layout"].is_null());

    // The down destination is retried, not dropped.
    let mut reconnecting = false;
    for _ in 0..40 {
        let status = app.admin_get(&format!("/api/admin/restreams/{id}")).await;
        if status["destinations"][0]["state"] == "reconnecting" {
            assert!(status["destinations"][0]["lastError"].is_string());
            reconnecting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(reconnecting, "a refused connection is retried");

    teacher
        .ok("stopRestream", json!({ "restreamId": id }))
        .await;
    let stopped = app.admin_get(&format!("/api/admin/restreams/{id}")).await;
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(app.metric("podium_restreams").await, 0.0);
    app.stop().await;

    let logs = logs.text();
    assert!(logs.lines().count() > 100, "the capture saw the run");
    assert!(!logs.contains(KEY), "a stream key reached the logs");
    assert!(
        !logs.contains("SECRET"),
        "part of a stream key reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_restream_only_where_the_server_allows() {
    let _logs = capture_logs();
    let app = TestApp::with(local_ingest(&[(
        "PODIUM_AUTH__TEACHER_CAN_RESTREAM",
        "false",
    )]))
    .await;
    let (mut teacher, _) = app.join("closed", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["camera"]).await;
    let start = json!({ "destinations": [closed_port_destination()] });
    assert_eq!(
        teacher.err("startRestream", start.clone()).await,
        "forbidden"
    );

    // The admin API may, and refuses what it cannot do.
    let http = reqwest::Client::new();
    let post = |room: &str, body: serde_json::Value| {
        http.post(format!("{}/api/admin/rooms/{room}/restreams", app.base))
            .bearer_auth(app.state.admin_key.expose())
            .json(&body)
            .send()
    };
    assert_eq!(post("nowhere", start.clone()).await.unwrap().status(), 404);
    assert_eq!(
        post("closed", json!({ "destinations": "x" }))
            .await
            .unwrap()
            .status(),
        400
    );
    let created = post("closed", start).await.unwrap();
    assert_eq!(created.status(), 201);
    let status: serde_json::Value = created.json().await.unwrap();
    let id = status["id"].as_str().unwrap();
    let add = http
        .post(format!(
            "{}/api/admin/restreams/{id}/destinations",
            app.base
        ))
        .bearer_auth(app.state.admin_key.expose())
        .json(&json!({ "service": "youtube", "streamKey": KEY }))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 201);
    let status = app.admin_get(&format!("/api/admin/restreams/{id}")).await;
    assert_eq!(status["destinations"].as_array().unwrap().len(), 2);
    let stop = http
        .delete(format!("{}/api/admin/restreams/{id}", app.base))
        .bearer_auth(app.state.admin_key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 204);
    app.stop().await;
}

/// Whether anything connected to `listener` (non-blocking).
fn touched(listener: &std::net::TcpListener) -> bool {
    match listener.accept() {
        Ok(_) => true,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_cannot_reach_inside_the_network() {
    let _logs = capture_logs();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Production defaults, with the listener's port allowed too: only the
    // address check stands between a request and the listener.
    let ports = format!("[1935, 443, {port}]");
    let app = TestApp::with(config(&[("PODIUM_EGRESS__ALLOW_PORTS", &ports)])).await;
    let (mut teacher, _) = app.join("inside", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let start = "/api/admin/rooms/inside/restreams";
    let address = "destination 0: the ingest host is not allowed: it must resolve to public internet addresses only";

    // Validation only: none of these is ever connected to.
    let refused = [
        (
            custom(&format!("rtmp://127.0.0.1:{port}/live")),
            address.to_owned(),
        ),
        (
            custom(&format!("rtmp://localhost:{port}/live")),
            address.to_owned(),
        ),
        (
            custom(&format!("rtmp://[::1]:{port}/live")),
            address.to_owned(),
        ),
        (custom("rtmp://10.0.0.8/live"), address.to_owned()),
        (custom("rtmp://192.168.1.10:1935/live"), address.to_owned()),
        (custom("rtmps://169.254.169.254/live"), address.to_owned()),
        (custom("rtmp://172.20.0.1/live"), address.to_owned()),
        (custom("rtmp://100.100.100.100/live"), address.to_owned()),
        (
            json!({ "service": "ivs", "ingestEndpoint": "127.0.0.1", "streamKey": KEY }),
            address.to_owned(),
        ),
        (
            json!({ "service": "twitch", "ingest": "10.1.1.1", "streamKey": KEY }),
            address.to_owned(),
        ),
        (
            custom("rtmp://8.8.8.8:22/live"),
            "destination 0: port 22 is not an allowed ingest port".to_owned(),
        ),
    ];
    for (destination, message) in refused {
        let (status, body) =
            admin_post(&app, start, json!({ "destinations": [destination] })).await;
        assert_eq!(status, 403, "{destination} -> {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        assert_eq!(body["error"]["message"], message.as_str(), "{body}");
        assert!(!body.to_string().contains(KEY));
    }
    assert_eq!(app.metric("podium_restreams").await, 0.0);

    // Over the WebSocket too: an admin's custom URL is refused the same way.
    let (mut admin, _) = app.join("inside", "Root", Role::Admin).await;
    let (code, message) = admin
        .request(
            "startRestream",
            json!({ "destinations": [custom(&format!("rtmp://127.0.0.1:{port}/live"))] }),
        )
        .await
        .unwrap_err();
    assert_eq!((code.as_str(), message.as_str()), ("forbidden", address));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !touched(&listener),
        "a refused destination was connected to"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_ask_for_less_than_admins() {
    let _logs = capture_logs();
    // Production defaults: no custom URLs and no re-encode for teachers.
    let app = TestApp::with(config(&[])).await;
    let (mut teacher, _) = app.join("rules", "Ada", Role::Teacher).await;
    let producers = teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let youtube = json!({ "service": "youtube", "streamKey": KEY });

    // A custom URL (even to a public address), or a preset pointed outside
    // its service: for admins only. Refused before anything is looked up.
    for destination in [
        custom("rtmp://live.example.com/app"),
        json!({ "service": "twitch", "ingest": "live.example.com", "streamKey": KEY }),
        json!({ "service": "ivs", "ingestEndpoint": "live.example.com", "streamKey": KEY }),
    ] {
        let (code, message) = teacher
            .request("startRestream", json!({ "destinations": [destination] }))
            .await
            .unwrap_err();
        assert_eq!(code, "forbidden");
        assert!(
            message.contains("custom RTMP URLs are for admins"),
            "{message}"
        );
    }

    // A re-encode: for admins only.
    let (code, message) = teacher
        .request(
            "startRestream",
            json!({ "destinations": [youtube.clone()], "videoMode": "reencode" }),
        )
        .await
        .unwrap_err();
    assert_eq!(code, "forbidden");
    assert!(message.contains("re-encoding is for admins"), "{message}");

    // A student's microphone, even while they may speak: never.
    let (mut student, joined) = app.join("rules", "Bob", Role::Student).await;
    let student_id = joined["peerId"].clone();
    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": true }),
        )
        .await;
    student.notified("speakPermission").await;
    let transport = student
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let student_mic = produce(&mut student, &transport["id"], "mic").await;
    let take_mic = json!({
        "videoProducerId": producers[0],
        "audioProducerId": student_mic,
        "destinations": [youtube.clone()],
    });
    let (code, message) = teacher
        .request("startRestream", take_mic.clone())
        .await
        .unwrap_err();
    assert_eq!(code, "forbidden");
    assert!(message.contains("student's microphone"), "{message}");
    let (status, body) = admin_post(&app, "/api/admin/rooms/rules/restreams", take_mic).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        student
            .try_notified("restreamStatus", Duration::from_millis(300))
            .await
            .is_none()
    );
    assert_eq!(app.metric("podium_restreams").await, 0.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restreams_and_destinations_are_capped() {
    let _logs = capture_logs();
    let app = TestApp::with(local_ingest(&[
        ("PODIUM_EGRESS__MAX_RESTREAMS", "2"),
        ("PODIUM_EGRESS__MAX_RESTREAMS_PER_ROOM", "1"),
        ("PODIUM_EGRESS__MAX_DESTINATIONS", "2"),
    ]))
    .await;
    let mut teachers = Vec::new();
    for room in ["cap-a", "cap-b", "cap-c"] {
        let (mut teacher, _) = app.join(room, "Ada", Role::Teacher).await;
        teacher_producing(&mut teacher, &["camera", "mic"]).await;
        teachers.push(teacher);
    }
    let closed = || custom("rtmp://127.0.0.1:9/live");

    // Destinations per restream, at start...
    let three = json!({ "destinations": [closed(), closed(), closed()] });
    let (code, message) = teachers[0]
        .request("startRestream", three.clone())
        .await
        .unwrap_err();
    assert_eq!(code, "limit_reached");
    assert_eq!(message, "a restream takes at most 2 destinations");
    let (status, body) = admin_post(&app, "/api/admin/rooms/cap-a/restreams", three).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("limit_reached"))
    );

    // ... and when adding one.
    let started = teachers[0]
        .ok("startRestream", json!({ "destinations": [closed()] }))
        .await;
    let id = started["restream"]["id"].as_str().unwrap().to_owned();
    let add = format!("/api/admin/restreams/{id}/destinations");
    assert_eq!(admin_post(&app, &add, closed()).await.0, 201);
    let (status, body) = admin_post(&app, &add, closed()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["error"]["message"],
        "a restream takes at most 2 destinations"
    );

    // Restreams per room, then per server.
    let one = json!({ "destinations": [closed()] });
    let (code, message) = teachers[0]
        .request("startRestream", one.clone())
        .await
        .unwrap_err();
    assert_eq!(code, "limit_reached");
    assert!(
        message.contains("room cap-a already has 1 restreams"),
        "{message}"
    );
    teachers[1].ok("startRestream", one.clone()).await;
    let (code, message) = teachers[2]
        .request("startRestream", one.clone())
        .await
        .unwrap_err();
    assert_eq!(code, "limit_reached");
    assert_eq!(message, "this server runs at most 2 restreams at once");
    assert_eq!(app.metric("podium_restreams").await, 2.0);

    // A stopped restream frees its place.
    teachers[0]
        .ok("stopRestream", json!({ "restreamId": id }))
        .await;
    teachers[2].ok("startRestream", one).await;
    app.stop().await;
}

/// A restream given a layout composes the teacher's camera and screen and
/// follows them live: the screen stopped, it goes on with the camera. It
/// hears the teacher only: a student allowed to speak is in recordings
/// (everyone is told of those), not in restreams. With no video from the
/// teacher past the grace period, it ends as `inputEnded`. A layout
/// re-encodes, so teachers need `egress.teacher_can_reencode`; a layout with
/// producer ids is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restream_with_a_layout_follows_the_teacher() {
    let logs = capture_logs();
    let app = TestApp::with(local_ingest(&[("PODIUM_EGRESS__TEACHER_GRACE_SECS", "2")])).await;
    let (mut teacher, _) = app.join("layout", "Ada", Role::Teacher).await;
    let (mut student, joined) = app.join("layout", "Bob", Role::Student).await;
    let student_id = joined["peerId"].clone();
    teacher.notified("peerJoined").await;
    let producers = teacher_producing(&mut teacher, &["camera", "screen", "mic"]).await;
    let start =
        json!({ "layout": "screenWithCamera", "destinations": [closed_port_destination()] });

    assert_eq!(
        teacher.err("startRestream", start.clone()).await,
        "forbidden",
        "teachers re-encode only where the server allows"
    );
    let with_producer = json!({
        "layout": "auto",
        "videoProducerId": producers[0],
        "destinations": [closed_port_destination()],
    });
    let (code, body) = admin_post(&app, "/api/admin/rooms/layout/restreams", with_producer).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(app.metric("podium_restreams").await, 0.0);

    let (code, status) = admin_post(&app, "/api/admin/rooms/layout/restreams", start).await;
    assert_eq!(code, 201, "{status}");
    assert_eq!(status["layout"], "screenWithCamera");
    let id = status["id"].as_str().unwrap().to_owned();

    let layout = |body: serde_json::Value| {
        reqwest::Client::new()
            .put(format!("{}/api/admin/restreams/{id}/layout", app.base))
            .bearer_auth(app.state.admin_key.expose())
            .json(&body)
            .send()
    };
    let changed = layout(json!({ "layout": "sideBySide" })).await.unwrap();
    assert_eq!(changed.status(), 200);
    let changed: serde_json::Value = changed.json().await.unwrap();
    assert_eq!(changed["layout"], "sideBySide", "the layout changes live");
    let unknown = layout(json!({ "layout": "tiled" })).await.unwrap();
    assert_eq!(unknown.status(), 400);

    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": true }),
        )
        .await;
    student.notified("speakPermission").await;
    let student_mic = teacher_producing(&mut student, &["mic"]).await.remove(0);
    teacher
        .ok("closeProducer", json!({ "producerId": producers[1] }))
        .await;
    wait_for_log(logs, "the restream follows the camera alone", |lines| {
        lines.iter().any(|l| {
            l.contains("restream follows")
                && l.contains(&id)
                && l.contains(&producers[0])
                && l.contains(&producers[2])
                && !l.contains(&producers[1])
        })
    })
    .await;
    assert!(
        !logs
            .text()
            .lines()
            .any(|l| l.contains("restream follows") && l.contains(&student_mic)),
        "a student's microphone is not restreamed"
    );
    let status = app.admin_get(&format!("/api/admin/restreams/{id}")).await;
    assert!(
        status["state"] != "stopped" && status["state"] != "failed",
        "it goes on while the teacher sends video: {status}"
    );

    // The teacher leaves for longer than the grace period.
    teacher.close().await;
    let mut ended = None;
    for _ in 0..40 {
        let status = app.admin_get(&format!("/api/admin/restreams/{id}")).await;
        if status["state"] == "stopped" {
            ended = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ended = ended.expect("the restream ends without the teacher");
    assert_eq!(ended["reason"], "inputEnded", "{ended}");
    assert_eq!(
        ended["layout"], "sideBySide",
        "an ended restream keeps its layout"
    );
    assert_eq!(app.metric("podium_restreams").await, 0.0);
    app.stop().await;
}
