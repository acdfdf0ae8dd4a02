//! The real server on port 0 with real workers, and a WebSocket client that
//! speaks the protocol: what the integration tests drive. Every message the
//! server sends is checked against podium-protocol's types (a notification
//! must decode as a `Notification`, a response as its method's type), so a
//! server that drifts from the protocol fails every test that sees it.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use podium_server::app::{AppState, Application};
use podium_server::auth::{Claims, Role, unix_now};
use podium_server::config::Config;
use podium_server::ids::RoomId;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
pub use tokio_tungstenite::tungstenite::handshake::client::Request;

/// A WebSocket request to `url` offering `podium` and `podium.token.<token>`.
pub fn ws_request(url: &str, token: &str) -> Request {
    let mut request = url.into_client_request().expect("a ws:// URL");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("podium, podium.token.{token}")
            .parse()
            .expect("tokens are header-safe"),
    );
    request
}
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The dev secret of the test servers (`X-Podium-Dev` on /api/dev/token).
pub const DEV_SECRET: &str = "test-dev-secret";

/// Defaults plus `overrides` (PODIUM_* style pairs), on a free port.
pub fn config(overrides: &[(&str, &str)]) -> Config {
    let mut env: Vec<(String, String)> = vec![
        ("PODIUM_HTTP__LISTEN".into(), "127.0.0.1:0".into()),
        ("PODIUM_RTC__WORKERS".into(), "2".into()),
        // Random secrets and admin key for the run; tests that need
        // production settings override it.
        ("PODIUM_AUTH__DEV_MODE".into(), "true".into()),
        ("PODIUM_AUTH__DEV_SECRET".into(), DEV_SECRET.into()),
        // Every test client connects from 127.0.0.1.
        ("PODIUM_LIMITS__CONNECTIONS_PER_IP".into(), "1000".into()),
        // Recordings of each test server in a directory of its own.
        (
            "PODIUM_RECORDING__DIR".into(),
            std::env::temp_dir()
                .join(format!(
                    "podium-test-recordings-{}",
                    uuid::Uuid::new_v4().simple()
                ))
                .display()
                .to_string(),
        ),
    ];
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Config::load(None, env).expect("test config is valid")
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with(config(&[])).await
    }

    pub async fn with(config: Config) -> Self {
        podium_server::telemetry::init_with_default("warn,mediasoup=error");
        let app = Application::build(config).await.expect("the server starts");
        let base = app.base_url();
        let state = app.state();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            base,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn token(&self, room: &str, name: &str, role: Role) -> String {
        self.state.tokens.issue(&Claims {
            room: RoomId::parse(room).unwrap(),
            user: name.to_lowercase(),
            name: name.into(),
            role,
            exp: unix_now() + 600,
        })
    }

    /// The signaling endpoint with `token` offered as a subprotocol, as the
    /// pages send it (never in the URL).
    pub fn ws_url(&self, token: &str) -> Request {
        ws_request(&format!("{}/ws", self.base.replace("http", "ws")), token)
    }

    pub async fn connect(&self, room: &str, name: &str, role: Role) -> Client {
        Client::connect(self.ws_url(&self.token(room, name, role))).await
    }

    /// Connects and joins; returns the client and the join response.
    pub async fn join(&self, room: &str, name: &str, role: Role) -> (Client, Value) {
        let mut client = self.connect(room, name, role).await;
        let joined = client.ok("join", json!({})).await;
        (client, joined)
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.state.admin_key.expose())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(self.state.admin_key.expose())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Stops the server the way SIGTERM does.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u32,
    pub notifications: VecDeque<Value>,
    pub closed: bool,
    /// The method of each request sent and not yet answered, by id.
    methods: HashMap<u32, String>,
}

/// Decodes a successful response's data as the type its method answers
/// (podium_protocol::signaling::RESPONSE_TYPES); panics when it does not fit.
fn check_response(method: &str, data: &Value) {
    use podium_protocol::signaling::*;
    fn fits<T: serde::de::DeserializeOwned>(method: &str, data: &Value) {
        if let Err(e) = serde_json::from_value::<T>(data.clone()) {
            panic!(
                "the response to {method} does not fit {}: {e}: {data}",
                std::any::type_name::<T>()
            );
        }
    }
    match response_type(method) {
        Some("Joined") => fits::<Joined>(method, data),
        Some("TransportCreated") => fits::<TransportCreated>(method, data),
        Some("IceRestarted") => fits::<IceRestarted>(method, data),
        Some("Produced") => fits::<Produced>(method, data),
        Some("Consumed") => fits::<Consumed>(method, data),
        Some("RestreamStarted") => fits::<RestreamStarted>(method, data),
        Some("RecordingStarted") => {
            fits::<podium_protocol::recording::RecordingStarted>(method, data);
        }
        Some("Empty") => fits::<Empty>(method, data),
        Some(other) => panic!("the test client does not know the response type {other}"),
        // Requests the tests make up on purpose are refused, never answered ok.
        None => panic!("{method} is not a method, yet it was answered ok: {data}"),
    }
}

/// An error response: (code, message).
pub type ErrorReply = (String, String);

impl Client {
    pub async fn connect(request: Request) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        Self {
            ws,
            next_id: 1,
            notifications: VecDeque::new(),
            closed: false,
            methods: HashMap::new(),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        let _ = self.ws.send(message).await;
    }

    /// The next server message; notifications are also kept in `notifications`.
    pub async fn next_message(&mut self, within: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(within, self.ws.next()).await.ok()??;
            match message {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    match podium_protocol::Incoming::parse(&text) {
                        Ok(podium_protocol::Incoming::Ok { response, data }) => {
                            if let Some(method) = self.methods.remove(&response) {
                                check_response(&method, &data);
                            }
                        }
                        Ok(podium_protocol::Incoming::Err { response, .. }) => {
                            if let Some(id) = response {
                                self.methods.remove(&id);
                            }
                        }
                        Ok(podium_protocol::Incoming::Notification(_)) => {}
                        Err(e) => {
                            panic!("the server sent a message outside the protocol: {e}: {text}")
                        }
                    }
                    if value.get("notification").is_some() {
                        self.notifications.push_back(value.clone());
                    }
                    return Some(value);
                }
                Ok(Message::Close(_)) | Err(_) => {
                    self.closed = true;
                    return None;
                }
                Ok(_) => continue,
            }
        }
    }

    /// Sends a request and waits for its response.
    pub async fn request(&mut self, method: &str, data: Value) -> Result<Value, ErrorReply> {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({ "id": id, "method": method, "data": data }).to_string();
        self.methods.insert(id, method.to_owned());
        self.send_text(&text).await;
        self.response(id).await
    }

    pub async fn response(&mut self, id: u32) -> Result<Value, ErrorReply> {
        loop {
            let message = self
                .next_message(Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("no response to request {id}"));
            if message["response"] == json!(id) {
                return if message["ok"] == json!(true) {
                    Ok(message["data"].clone())
                } else {
                    Err((
                        message["error"]["code"].as_str().unwrap().to_owned(),
                        message["error"]["message"].as_str().unwrap().to_owned(),
                    ))
                };
            }
        }
    }

    /// The next error response without a request id.
    pub async fn anonymous_error(&mut self) -> ErrorReply {
        loop {
            let message = self
                .next_message(Duration::from_secs(10))
                .await
                .expect("an error reply");
            if message.get("response").is_none() && message["ok"] == json!(false) {
                return (
                    message["error"]["code"].as_str().unwrap().to_owned(),
                    message["error"]["message"].as_str().unwrap().to_owned(),
                );
            }
        }
    }

    pub async fn ok(&mut self, method: &str, data: Value) -> Value {
        match self.request(method, data).await {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e:?}"),
        }
    }

    pub async fn err(&mut self, method: &str, data: Value) -> String {
        match self.request(method, data).await {
            Ok(v) => panic!("{method} should have failed, got {v}"),
            Err((code, _)) => code,
        }
    }

    /// Waits for a notification named `name` (returns its data).
    pub async fn notified(&mut self, name: &str) -> Value {
        self.try_notified(name, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no {name} notification"))
    }

    pub async fn try_notified(&mut self, name: &str, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(i) = self
                .notifications
                .iter()
                .position(|n| n["notification"] == name)
            {
                return Some(self.notifications.remove(i).unwrap()["data"].clone());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.closed {
                return None;
            }
            self.next_message(left).await?;
        }
    }

    /// Reads everything that arrives within `within` (notifications are kept).
    pub async fn drain(&mut self, within: Duration) {
        while self.next_message(within).await.is_some() {}
    }

    /// Waits until the server closes the connection.
    pub async fn closed_by_server(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.closed {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if self.next_message(left).await.is_none() && !self.closed {
                return false;
            }
        }
        true
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Receive capabilities of a browser that decodes Opus and VP8.
pub fn browser_rtp_capabilities() -> Value {
    json!({
        "codecs": [
            { "kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": 100, "clockRate": 48000, "channels": 2,
              "parameters": {}, "rtcpFeedback": [] },
            { "kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 101, "clockRate": 90000,
              "parameters": {}, "rtcpFeedback": [{ "type": "nack" }, { "type": "nack", "parameter": "pli" }] }
        ],
        "headerExtensions": []
    })
}

/// What a browser sends to `produce` for a microphone.
pub fn mic_rtp_parameters(ssrc: u32) -> Value {
    json!({
        "mid": ssrc.to_string(),
        "codecs": [{ "mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2,
                     "parameters": { "useinbandfec": 1 }, "rtcpFeedback": [] }],
        "headerExtensions": [],
        "encodings": [{ "ssrc": ssrc }],
        "rtcp": { "cname": "test", "reducedSize": true }
    })
}

/// What a browser sends to `produce` for a 3-layer simulcast VP8 camera.
pub fn camera_rtp_parameters(ssrc: u32) -> Value {
    json!({
        "mid": ssrc.to_string(),
        "codecs": [{ "mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000,
                     "parameters": {}, "rtcpFeedback": [{ "type": "nack" }, { "type": "nack", "parameter": "pli" }] }],
        "headerExtensions": [],
        "encodings": [
            { "ssrc": ssrc, "rid": "r0", "scalabilityMode": "L1T3", "maxBitrate": 150000 },
            { "ssrc": ssrc + 1, "rid": "r1", "scalabilityMode": "L1T3", "maxBitrate": 500000 },
            { "ssrc": ssrc + 2, "rid": "r2", "scalabilityMode": "L1T3", "maxBitrate": 1500000 }
        ],
        "rtcp": { "cname": "test", "reducedSize": true }
    })
}

/// A teacher with a send transport, producing `source`s; returns producer ids.
pub async fn teacher_producing(client: &mut Client, sources: &[&str]) -> Vec<String> {
    let transport = client
        .ok("createTransport", json!({ "direction": "send" }))
        .await;
    let mut ids = Vec::new();
    for source in sources {
        ids.push(produce(client, &transport["id"], source).await);
    }
    ids
}

/// Produces `source` ("mic", "camera", "screen") on an existing send transport.
pub async fn produce(client: &mut Client, transport_id: &Value, source: &str) -> String {
    let ssrc = 1000 + 100 * source.len() as u32 + rand_ssrc_offset();
    let (kind, params) = match source {
        "mic" => ("audio", mic_rtp_parameters(ssrc)),
        _ => ("video", camera_rtp_parameters(ssrc)),
    };
    let produced = client
        .ok(
            "produce",
            json!({ "transportId": transport_id, "kind": kind, "rtpParameters": params, "source": source }),
        )
        .await;
    produced["producerId"].as_str().unwrap().to_owned()
}

fn rand_ssrc_offset() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(10, Ordering::Relaxed)
}

/// A viewer ready to consume: capabilities set, recv transport created.
pub async fn viewer_ready(client: &mut Client) {
    client
        .ok(
            "setRtpCapabilities",
            json!({ "rtpCapabilities": browser_rtp_capabilities() }),
        )
        .await;
    client
        .ok("createTransport", json!({ "direction": "recv" }))
        .await;
}

/// Waits (up to 5 s) until the log's lines satisfy `check`.
pub async fn wait_for_log(
    logs: &podium_testkit::logs::LogCapture,
    what: &str,
    check: impl Fn(&[&str]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = logs.text();
        if check(&text.lines().collect::<Vec<_>>()) {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!("timed out: {what}; the log's last lines:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
