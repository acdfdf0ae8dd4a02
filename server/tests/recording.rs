//! Recordings through the server: who may record, everyone told (on join
//! and by notification), one recording per room, the admin API (list, stop,
//! links, delete), the file served only with the key or a valid signed link,
//! automatic recording when the teacher goes live, and records of a
//! recording cut short by a crash read back as `interrupted`.
//! (What the file holds is the egress crate's e2e tests' job.)

mod common;

use common::app::{TestApp, config, produce, teacher_producing, wait_for_log};
use podium_server::auth::Role;
use serde_json::{Value, json};
use std::time::Duration;

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(app.state.admin_key.expose());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Every log line of this test binary: installed before any test server
/// (one global subscriber per binary), read by the tests that need it.
fn logs() -> &'static podium_testkit::logs::LogCapture {
    podium_testkit::logs::capture("podium_server=info,warn", false)
}

/// The teacher starts a recording with the defaults; its id.
async fn start_recording(teacher: &mut common::app::Client) -> String {
    teacher.ok("startRecording", json!({})).await["recording"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /api/admin/recordings/{id}`: (status, body).
async fn recording(app: &TestApp, id: &str) -> (u16, Value) {
    admin(
        app,
        reqwest::Method::GET,
        &format!("/api/admin/recordings/{id}"),
        None,
    )
    .await
}

fn recording_dir(app: &TestApp) -> std::path::PathBuf {
    app.state.config.recording.dir.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_guarded_announced_listed_served_and_deleted() {
    logs();
    let app = TestApp::start().await;
    let (mut teacher, joined) = app.join("class", "Ada", Role::Teacher).await;
    assert_eq!(joined["recording"], false);
    assert_eq!(joined["canRecord"], true);
    let (mut student, joined) = app.join("class", "Bob", Role::Student).await;
    assert_eq!(joined["canRecord"], false);
    teacher.notified("peerJoined").await;

    // Nothing to record before the teacher sends video; students never may.
    assert_eq!(teacher.err("startRecording", json!({})).await, "conflict");
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    assert_eq!(student.err("startRecording", json!({})).await, "forbidden");
    assert_eq!(student.err("stopRecording", json!({})).await, "forbidden");
    assert_eq!(
        teacher
            .err("startRecording", json!({ "layout": "tiled" }))
            .await,
        "bad_request",
        "unknown layouts are refused"
    );
    assert_eq!(
        teacher
            .err("startRecording", json!({ "videoProducerId": "x" }))
            .await,
        "bad_request",
        "unknown fields are refused"
    );

    // The teacher records: everyone is told, latecomers on join.
    let started = teacher
        .ok("startRecording", json!({ "layout": "screenWithCamera" }))
        .await["recording"]
        .clone();
    assert_eq!(started["layout"], "screenWithCamera");
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(started["state"], "recording");
    assert_eq!(started["room"], "class");
    assert_eq!(student.notified("recording").await["active"], true);
    assert_eq!(teacher.notified("recording").await["active"], true);
    let (_late, joined) = app.join("class", "Cy", Role::Student).await;
    assert_eq!(joined["recording"], true);
    assert!(recording_dir(&app).join(format!("{id}.json")).is_file());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(recording_dir(&app))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the directory is the owner's only: {mode:o}"
        );
        let file = recording_dir(&app).join(format!("{id}.mp4"));
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the file is the owner's only: {mode:o}");
    }

    assert_eq!(app.metric("podium_recordings").await, 1.0);

    // One at a time per room, from the WebSocket or the API.
    assert_eq!(teacher.err("startRecording", json!({})).await, "conflict");
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/rooms/class/recordings",
        None,
    )
    .await;
    assert_eq!(status, 409);

    // Listed while running; not deletable while running.
    let (status, list) = admin(&app, reqwest::Method::GET, "/api/admin/recordings", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["recordings"][0]["id"], id.as_str());
    assert_eq!(list["recordings"][0]["state"], "recording");
    let (status, _) = admin(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/admin/recordings/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 409);

    // Its layout changes live; an unknown one is refused.
    let layout = format!("/api/admin/recordings/{id}/layout");
    let (status, summary) = admin(
        &app,
        reqwest::Method::PUT,
        &layout,
        Some(json!({ "layout": "sideBySide" })),
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["layout"], "sideBySide");
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        &layout,
        Some(json!({ "layout": "tiled" })),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(recording(&app, &id).await.1["layout"], "sideBySide");

    // The teacher stops it: finished, everyone told.
    teacher.ok("stopRecording", json!({})).await;
    assert_eq!(student.notified("recording").await["active"], false);
    let (status, summary) = recording(&app, &id).await;
    assert_eq!(status, 200);
    assert_eq!(summary["state"], "finished");
    assert_eq!(summary["endReason"], "stopped");
    assert_eq!(teacher.err("stopRecording", json!({})).await, "conflict");
    assert_eq!(app.metric("podium_recordings").await, 0.0);
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        &layout,
        Some(json!({ "layout": "camera" })),
    )
    .await;
    assert_eq!(status, 409, "an ended recording keeps its layout");
    assert_eq!(summary["layout"], "sideBySide");

    // The file: with the admin key, or with a signed link only.
    let file = format!("{}/api/admin/recordings/{id}/file", app.base);
    let anonymous = reqwest::get(&file).await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let keyed = reqwest::Client::new()
        .get(&file)
        .bearer_auth(app.state.admin_key.expose())
        .header("Range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert!(
        [200, 206, 416].contains(&keyed.status().as_u16()),
        "{}",
        keyed.status()
    );
    let (status, link) = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/admin/recordings/{id}/link"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("/api/recordings/{id}/file?expires=")));
    let linked = reqwest::get(format!("{}{url}&download=1", app.base))
        .await
        .unwrap();
    assert_eq!(linked.status().as_u16(), 200);
    assert_eq!(linked.headers()["content-type"], "video/mp4");
    assert!(
        linked.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    // A link is good for its recording and expiry only.
    let other = "00000000-0000-4000-8000-000000000000";
    for forged in [
        url.replace(&id, other),
        url.replace("expires=", "expires=9"),
        format!("{}A", url),
        url.split("&sig=").next().unwrap().to_owned(),
    ] {
        let response = reqwest::get(format!("{}{forged}", app.base)).await.unwrap();
        assert!(
            [400, 403, 404].contains(&response.status().as_u16()),
            "{forged}: {}",
            response.status()
        );
        assert_ne!(response.status().as_u16(), 200);
    }

    // Deleted: file and record gone.
    let (status, _) = admin(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/admin/recordings/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(!recording_dir(&app).join(format!("{id}.json")).exists());
    assert!(!recording_dir(&app).join(format!("{id}.mp4")).exists());
    let (status, _) = recording(&app, &id).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teachers_record_only_where_the_server_allows() {
    logs();
    let app = TestApp::with(config(&[("PODIUM_AUTH__TEACHER_CAN_RECORD", "false")])).await;
    let (mut teacher, joined) = app.join("closed", "Ada", Role::Teacher).await;
    assert_eq!(joined["canRecord"], false);
    teacher_producing(&mut teacher, &["camera"]).await;
    assert_eq!(teacher.err("startRecording", json!({})).await, "forbidden");
    // An admin still may, through the API (body optional).
    let (status, started) = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/rooms/closed/recordings",
        None,
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(teacher.notified("recording").await["active"], true);
    let id = started["recording"]["id"].as_str().unwrap().to_owned();
    let (status, stopped) = admin(
        &app,
        reqwest::Method::POST,
        &format!("/api/admin/recordings/{id}/stop"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stopped["state"], "finished");
    // Bad bodies and ids are refused with a reason.
    let (status, body) = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/rooms/closed/recordings",
        Some(json!({ "videoProducerId": 7 })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/recordings/nope/stop",
        None,
    )
    .await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_set_to_record_starts_when_its_teacher_goes_live() {
    logs();
    let app = TestApp::with(config(&[("PODIUM_EGRESS__TEACHER_GRACE_SECS", "1")])).await;
    let (status, _) = admin(
        &app,
        reqwest::Method::PUT,
        "/api/admin/rooms/auto/auto-record",
        Some(json!({ "enabled": true })),
    )
    .await;
    assert_eq!(status, 204);
    let (mut teacher, _) = app.join("auto", "Ada", Role::Teacher).await;
    let (mut student, _) = app.join("auto", "Bob", Role::Student).await;
    // Audio alone does not start it; the camera does.
    let transport = teacher
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    produce(&mut teacher, &transport["id"], "mic").await;
    assert!(
        student
            .try_notified("recording", Duration::from_millis(800))
            .await
            .is_none()
    );
    produce(&mut teacher, &transport["id"], "camera").await;
    assert_eq!(student.notified("recording").await["active"], true);
    let (_, list) = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/recordings?room=auto",
        None,
    )
    .await;
    assert_eq!(list["recordings"][0]["layout"], "auto");
    // The teacher leaves: after egress.teacher_grace_secs with no video, the recording ends.
    teacher.close().await;
    assert_eq!(student.notified("recording").await["active"], false);
    let (_, list) = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/recordings?room=auto",
        None,
    )
    .await;
    assert_eq!(list["recordings"][0]["state"], "finished");
    assert_eq!(list["recordings"][0]["endReason"], "inputEnded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cut_short_by_a_crash_read_back_as_interrupted() {
    logs();
    let dir = std::env::temp_dir().join(format!(
        "podium-test-crashed-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let id = "6f1c1a52-4d1e-4a57-9b0e-0a4b1d2c3e4f";
    std::fs::write(dir.join(format!("{id}.mp4")), vec![0u8; 1234]).unwrap();
    std::fs::write(
        dir.join(format!("{id}.json")),
        json!({
            "id": id, "room": "old", "state": "recording", "startedAt": 1_700_000_000_000u64,
            "durationSecs": 12.0, "bytes": 1000, "endReason": null, "error": null
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("garbage.json"), "{not json").unwrap();
    let app = TestApp::with(config(&[("PODIUM_RECORDING__DIR", dir.to_str().unwrap())])).await;
    let (status, summary) = recording(&app, id).await;
    assert_eq!(status, 200);
    assert_eq!(summary["state"], "interrupted");
    assert_eq!(summary["bytes"], 1234);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(saved["state"], "interrupted");
    app.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An ended recording's record and a file of `bytes`, started `age_days` ago.
fn ended_recording(dir: &std::path::Path, id: &str, age_days: u64, bytes: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    std::fs::write(dir.join(format!("{id}.mp4")), vec![0u8; bytes]).unwrap();
    std::fs::write(
        dir.join(format!("{id}.json")),
        json!({
            "id": id, "room": "old", "state": "finished", "startedAt": now - age_days * 86_400_000,
            "durationSecs": 60.0, "bytes": bytes, "endReason": "stopped", "error": null
        })
        .to_string(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_the_expired_then_the_oldest_beyond_the_total() {
    logs();
    let dir = std::env::temp_dir().join(format!(
        "podium-test-retention-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let expired = "00000000-0000-4000-8000-000000000001";
    let oldest = "00000000-0000-4000-8000-000000000002";
    let middle = "00000000-0000-4000-8000-000000000003";
    let newest = "00000000-0000-4000-8000-000000000004";
    ended_recording(&dir, expired, 40, 1000);
    ended_recording(&dir, oldest, 3, 1000);
    ended_recording(&dir, middle, 2, 1000);
    ended_recording(&dir, newest, 1, 1000);
    let app = TestApp::with(config(&[
        ("PODIUM_RECORDING__DIR", dir.to_str().unwrap()),
        ("PODIUM_RECORDING__RETENTION_DAYS", "30"),
        ("PODIUM_RECORDING__MAX_TOTAL_BYTES", "2500"),
    ]))
    .await;
    let (_, list) = admin(&app, reqwest::Method::GET, "/api/admin/recordings", None).await;
    let ids: Vec<&str> = list["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [newest, middle],
        "newest first; the expired and the oldest beyond 2500 bytes gone"
    );
    for gone in [expired, oldest] {
        assert!(!dir.join(format!("{gone}.mp4")).exists());
        assert!(!dir.join(format!("{gone}.json")).exists());
    }
    app.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_stops_at_its_maximum_duration() {
    logs();
    let app = TestApp::with(config(&[("PODIUM_RECORDING__MAX_DURATION_SECS", "2")])).await;
    let (mut teacher, _) = app.join("long", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let id = start_recording(&mut teacher).await;
    assert_eq!(teacher.notified("recording").await["active"], true);
    let ended = teacher
        .try_notified("recording", Duration::from_secs(6))
        .await
        .expect("the recording ends at its maximum duration");
    assert_eq!(ended["active"], false);
    let (_, summary) = recording(&app, &id).await;
    assert_eq!(summary["state"], "finished", "{summary}");
    assert_eq!(summary["endReason"], "maxDuration");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_who_drops_and_comes_back_stays_in_the_same_recording() {
    let logs = logs();
    let app = TestApp::with(config(&[("PODIUM_EGRESS__TEACHER_GRACE_SECS", "3")])).await;
    let (mut teacher, _) = app.join("flaky", "Ada", Role::Teacher).await;
    let (mut student, _) = app.join("flaky", "Bob", Role::Student).await;
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let id = start_recording(&mut teacher).await;
    assert_eq!(student.notified("recording").await["active"], true);
    // The teacher's connection drops and comes back within the grace period:
    // the same recording goes on (black while they are away).
    teacher.close().await;
    let (mut teacher, _) = app.join("flaky", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["screen", "mic"]).await;
    if let Some(ended) = student
        .try_notified("recording", Duration::from_secs(4))
        .await
    {
        let (_, summary) = recording(&app, &id).await;
        let lines: Vec<String> = logs
            .text()
            .lines()
            .filter(|l| l.contains("flaky") || l.contains(id.as_str()))
            .map(str::to_owned)
            .collect();
        panic!(
            "the recording stopped ({ended}): {summary}\n{}",
            lines.join("\n")
        );
    }
    let (_, list) = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/recordings?room=flaky",
        None,
    )
    .await;
    assert_eq!(list["recordings"].as_array().unwrap().len(), 1);
    assert_eq!(list["recordings"][0]["id"], id.as_str());
    assert_eq!(list["recordings"][0]["state"], "recording");
    // Gone for longer than the grace period: it ends.
    teacher.close().await;
    let ended = student
        .try_notified("recording", Duration::from_secs(8))
        .await
        .expect("the recording ends without the teacher");
    assert_eq!(ended["active"], false);
    let (_, summary) = recording(&app, &id).await;
    assert_eq!(summary["endReason"], "inputEnded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_allowed_to_speak_is_heard_in_the_recording() {
    let logs = logs();
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("speak", "Ada", Role::Teacher).await;
    let (mut student, joined) = app.join("speak", "Bob", Role::Student).await;
    let student_id = joined["peerId"].clone();
    teacher.notified("peerJoined").await;
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    let id = start_recording(&mut teacher).await;
    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": true }),
        )
        .await;
    student.notified("speakPermission").await;
    let mic = teacher_producing(&mut student, &["mic"]).await.remove(0);
    // The recording takes the student's microphone into its mix.
    wait_for_log(
        logs,
        "the speaker's microphone joins the recording",
        |lines| {
            lines
                .iter()
                .any(|l| l.contains("recording follows") && l.contains(&id) && l.contains(&mic))
        },
    )
    .await;
    // Permission taken back: their microphone closes and leaves the mix.
    teacher
        .ok(
            "allowSpeak",
            json!({ "peerId": student_id, "allowed": false }),
        )
        .await;
    wait_for_log(logs, "the microphone leaves the recording", |lines| {
        lines
            .iter()
            .rev()
            .find(|l| l.contains("recording follows") && l.contains(&id))
            .is_some_and(|l| !l.contains(&mic))
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_that_cannot_be_written_shows_no_server_path() {
    logs();
    let app = TestApp::start().await;
    let (mut teacher, _) = app.join("nodisk", "Ada", Role::Teacher).await;
    teacher_producing(&mut teacher, &["camera", "mic"]).await;
    // The directory goes away under the running server.
    let dir = recording_dir(&app);
    std::fs::remove_dir_all(&dir).unwrap();
    let (code, message) = teacher
        .request("startRecording", json!({}))
        .await
        .unwrap_err();
    assert_eq!(code, "internal");
    let dir_text = dir.display().to_string();
    assert!(!message.contains(&dir_text), "{message}");
    assert!(!message.contains(".mp4"), "{message}");
    // Nothing is announced, and the room can be recorded once the disk is back.
    std::fs::create_dir_all(&dir).unwrap();
    start_recording(&mut teacher).await;
    assert_eq!(teacher.notified("recording").await["active"], true);
    app.stop().await;
}
