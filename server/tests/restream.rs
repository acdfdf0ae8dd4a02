//! Restreams through the server: who may start them, what bad requests get,
//! who hears of their status, and that stream keys never reach a log line.
//! (Media actually reaching an ingest is proven by egress/run-e2e.sh and by
//! the browser suite.)

mod common;

use common::app::*;
use podium_server::auth::Role;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk-podium-test-0000-SECRET";

/// Every log line of this test binary, at trace level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installed once for the whole binary (both tests log into it).
fn capture_logs() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_env_filter("trace")
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .init();
            captured
        })
        .clone()
}

/// A destination that refuses connections: the restream starts and retries.
fn closed_port_destination() -> serde_json::Value {
    json!({ "service": "custom", "url": "rtmp://127.0.0.1:9/live", "streamKey": KEY })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restreams_are_guarded_validated_reported_and_never_log_keys() {
    let logs = capture_logs();
    let app = TestApp::start().await;
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
    let status = teacher.notified("egressStatus").await;
    assert_eq!(status["egress"]["id"], id.as_str());
    assert!(!status.to_string().contains(KEY));
    assert!(
        student
            .try_notified("egressStatus", Duration::from_millis(500))
            .await
            .is_none(),
        "students do not hear of restreams"
    );

    // The admin API sees it, and /metrics counts it.
    let listed = app.admin_get("/api/admin/restreams?room=live").await;
    assert_eq!(listed["restreams"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(KEY));
    assert_eq!(app.metric("podium_restreams").await, 1.0);

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

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
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
    let app = TestApp::with(config(&[("PODIUM_AUTH__TEACHER_CAN_RESTREAM", "false")])).await;
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
