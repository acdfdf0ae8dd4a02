//! The Janus API over its HTTP transport, as `janus.js` speaks it: a session
//! (`create`), plugin handles in it (`attach`), plugin messages with an
//! optional JSEP, events by long poll (`GET /janus/<session>?maxev=10`),
//! a `keepalive` every 25 s.
//!
//! Each session has one task polling for its events: an event that answers
//! a message (same `transaction`) goes to the message's caller, any other
//! (`webrtcup`, `media`, `hangup`, plugin notifications) to its handle's
//! bounded queue ([`Handle::next_event`]); when that queue is full the event
//! is dropped and counted. A session ends when Janus says it timed out or no
//! longer knows it, or when its long poll keeps failing; every waiting call
//! then fails with [`JanusError::SessionEnded`].

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// `janus.js`'s `keepAlivePeriod`; the session timeout is 60 s.
pub const KEEPALIVE: Duration = Duration::from_secs(25);
/// A request Janus answers at once (everything but a long poll).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Janus answers a long poll after 30 s without events.
const POLL_TIMEOUT: Duration = Duration::from_secs(45);
const MAX_EVENTS: u32 = 10;
/// Unsolicited events kept per handle until read.
const HANDLE_QUEUE: usize = 64;
/// Long polls failing in a row before the session is given up.
const POLL_FAILURES: u32 = 5;

/// What can go wrong talking to Janus.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The core refused (`"janus": "error"`).
    #[error("Janus error {} ({}): {}", .code, core_error_name(*.code), .reason)]
    Core { code: u32, reason: String },
    /// The plugin refused (`error_code` in its data).
    #[error("VideoRoom error {} ({}): {}", .code, videoroom_error_name(*.code), .reason)]
    Plugin { code: u32, reason: String },
    #[error("unexpected answer from Janus: {0}")]
    Protocol(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the Janus session ended: {0}")]
    SessionEnded(String),
}

/// The core's error codes (`src/apierror.h`).
pub fn core_error_name(code: u32) -> &'static str {
    match code {
        403 => "unauthorized",
        405 => "unauthorized plugin",
        450 => "transport specific",
        452 => "missing request",
        453 => "unknown request",
        454 => "invalid JSON",
        455 => "invalid JSON object",
        456 => "missing mandatory element",
        457 => "invalid request path",
        458 => "session not found",
        459 => "handle not found",
        460 => "plugin not found",
        461 => "plugin attach",
        462 => "plugin message",
        463 => "plugin detach",
        464 => "JSEP unknown type",
        465 => "JSEP invalid SDP",
        466 => "trickle invalid stream",
        467 => "invalid element type",
        468 => "session conflict",
        469 => "unexpected answer",
        470 => "token not found",
        471 => "WebRTC state",
        472 => "not accepting sessions",
        _ => "unknown",
    }
}

/// The VideoRoom plugin's error codes (`janus_videoroom.c`).
pub fn videoroom_error_name(code: u32) -> &'static str {
    match code {
        421 => "no message",
        422 => "invalid JSON",
        423 => "invalid request",
        424 => "join first",
        425 => "already joined",
        426 => "no such room",
        427 => "room exists",
        428 => "no such feed",
        429 => "missing element",
        430 => "invalid element",
        431 => "invalid SDP type",
        432 => "publishers full",
        433 => "unauthorized",
        434 => "already published",
        435 => "not published",
        436 => "ID exists",
        437 => "invalid SDP",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsepType {
    Offer,
    Answer,
}

/// A session description as Janus carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jsep {
    #[serde(rename = "type")]
    pub kind: JsepType,
    pub sdp: String,
    /// `false`: every candidate is in the SDP (Janus waits for no trickle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle: Option<bool>,
    /// `"lmh"`: simulcast rids listed lowest first (Janus assumes `"hml"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid_order: Option<String>,
}

impl Jsep {
    pub fn offer(sdp: String) -> Self {
        Self {
            kind: JsepType::Offer,
            sdp,
            trickle: Some(false),
            rid_order: None,
        }
    }

    pub fn answer(sdp: String) -> Self {
        Self {
            kind: JsepType::Answer,
            sdp,
            trickle: Some(false),
            rid_order: None,
        }
    }
}

/// A plugin's answer: its `data`, and the JSEP that came with it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginReply {
    pub data: Value,
    pub jsep: Option<Jsep>,
}

/// What Janus says about a handle without being asked.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleEvent {
    /// ICE and DTLS done.
    WebrtcUp,
    /// Janus started or stopped receiving a kind of media on this handle.
    Media {
        kind: String,
        receiving: bool,
    },
    SlowLink {
        uplink: bool,
        lost: u64,
    },
    Hangup {
        reason: String,
    },
    Detached,
    /// A plugin notification (the VideoRoom's `publishers`, `unpublished`, ...).
    Plugin(PluginReply),
    Other(Value),
}

impl HandleEvent {
    pub fn from_message(message: &Value) -> HandleEvent {
        match message["janus"].as_str() {
            Some("webrtcup") => HandleEvent::WebrtcUp,
            Some("media") => HandleEvent::Media {
                kind: message["type"].as_str().unwrap_or_default().to_owned(),
                receiving: message["receiving"].as_bool().unwrap_or(false),
            },
            Some("slowlink") => HandleEvent::SlowLink {
                uplink: message["uplink"].as_bool().unwrap_or(false),
                lost: message["lost"].as_u64().unwrap_or(0),
            },
            Some("hangup") => HandleEvent::Hangup {
                reason: message["reason"].as_str().unwrap_or_default().to_owned(),
            },
            Some("detached") => HandleEvent::Detached,
            Some("event") => match reply_of(message) {
                Ok(reply) => HandleEvent::Plugin(reply),
                Err(_) => HandleEvent::Other(message.clone()),
            },
            _ => HandleEvent::Other(message.clone()),
        }
    }
}

/// A core error in `message`, if it is one.
fn core_error(message: &Value) -> Option<JanusError> {
    (message["janus"] == "error").then(|| JanusError::Core {
        code: message["error"]["code"].as_u64().unwrap_or(0) as u32,
        reason: message["error"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

/// A plugin's answer (a `success` or an `event` with `plugindata`), its
/// error if it carries one.
pub fn reply_of(message: &Value) -> Result<PluginReply, JanusError> {
    if let Some(error) = core_error(message) {
        return Err(error);
    }
    let data = &message["plugindata"]["data"];
    if !data.is_object() {
        return Err(JanusError::Protocol(format!(
            "no plugin data in {}",
            truncate(message)
        )));
    }
    if let Some(code) = data["error_code"].as_u64() {
        return Err(JanusError::Plugin {
            code: code as u32,
            reason: data["error"].as_str().unwrap_or_default().to_owned(),
        });
    }
    let jsep = match message.get("jsep") {
        Some(jsep) if !jsep.is_null() => Some(
            serde_json::from_value(jsep.clone())
                .map_err(|e| JanusError::Protocol(format!("a JSEP Janus sent: {e}")))?,
        ),
        _ => None,
    };
    Ok(PluginReply {
        data: data.clone(),
        jsep,
    })
}

fn truncate(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 300 {
        let mut end = 300;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn transaction() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The API of one Janus server. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Arc<str>,
}

impl Api {
    /// `base_url`: `http://<namespace's address>:<port>/janus`
    /// ([`super::process::Janus::base_url`]). No proxy from the
    /// environment: requests go to Janus only.
    pub fn new(base_url: &str) -> Result<Api, JanusError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            .no_proxy()
            .build()?;
        Ok(Api {
            http,
            base: Arc::from(base_url.trim_end_matches('/')),
        })
    }

    /// POSTs a request; a core error comes back as [`JanusError::Core`].
    async fn post(&self, url: &str, body: Value) -> Result<Value, JanusError> {
        let answer: Value = self.http.post(url).json(&body).send().await?.json().await?;
        match core_error(&answer) {
            Some(error) => Err(error),
            None => Ok(answer),
        }
    }

    /// A new session, its long poll and keepalives running.
    pub async fn create_session(&self) -> Result<Session, JanusError> {
        let answer = self
            .post(
                &self.base,
                json!({ "janus": "create", "transaction": transaction() }),
            )
            .await?;
        let id = answer["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("create: {}", truncate(&answer))))?;
        let shared = Arc::new(Shared {
            api: self.clone(),
            id,
            url: format!("{}/{id}", self.base),
            waiting: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            ended: Mutex::new(None),
            dropped_events: AtomicU64::new(0),
        });
        let poller = tokio::spawn(poll(Arc::clone(&shared)));
        let keepalive = tokio::spawn(keep_alive(Arc::clone(&shared)));
        Ok(Session {
            shared,
            tasks: [poller, keepalive],
        })
    }
}

/// What a session's tasks and handles share.
struct Shared {
    api: Api,
    id: u64,
    /// `<base>/<session>`
    url: String,
    /// Calls waiting for the event that answers their transaction.
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    handles: Mutex<HashMap<u64, mpsc::Sender<HandleEvent>>>,
    ended: Mutex<Option<String>>,
    dropped_events: AtomicU64,
}

impl Shared {
    /// Routes one event; false once the session is over.
    fn dispatch(&self, message: Value) -> bool {
        match message["janus"].as_str() {
            Some("keepalive" | "ack") => return true,
            Some("timeout") => {
                self.end("timed out (no request for session_timeout seconds)".into());
                return false;
            }
            Some("error") if message["error"]["code"] == 458 => {
                self.end("Janus no longer knows it (458)".into());
                return false;
            }
            _ => {}
        }
        if let Some(transaction) = message["transaction"].as_str() {
            let waiter = self.waiting.lock().remove(transaction);
            if let Some(waiter) = waiter {
                let _ = waiter.send(message);
                return true;
            }
        }
        let Some(handle) = message["sender"].as_u64() else {
            return true;
        };
        let queue = self.handles.lock().get(&handle).cloned();
        if let Some(queue) = queue
            && queue.try_send(HandleEvent::from_message(&message)).is_err()
        {
            self.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Ends the session: every waiting call fails, every handle's queue closes.
    fn end(&self, reason: String) {
        let mut ended = self.ended.lock();
        if ended.is_none() {
            tracing::debug!(session = self.id, %reason, "janus session ended");
            *ended = Some(reason);
        }
        drop(ended);
        self.waiting.lock().clear();
        self.handles.lock().clear();
    }

    fn ended(&self) -> Option<String> {
        self.ended.lock().clone()
    }

    fn gone(&self) -> JanusError {
        JanusError::SessionEnded(self.ended().unwrap_or_else(|| "closed".into()))
    }
}

async fn poll(shared: Arc<Shared>) {
    let url = format!("{}?maxev={MAX_EVENTS}", shared.url);
    let mut failures = 0;
    loop {
        let polled = async {
            shared
                .api
                .http
                .get(&url)
                .timeout(POLL_TIMEOUT)
                .send()
                .await?
                .json::<Value>()
                .await
        }
        .await;
        match polled {
            Ok(Value::Array(events)) => {
                failures = 0;
                for event in events {
                    if !shared.dispatch(event) {
                        return;
                    }
                }
            }
            Ok(event) => {
                failures = 0;
                if !shared.dispatch(event) {
                    return;
                }
            }
            Err(error) => {
                failures += 1;
                if failures >= POLL_FAILURES {
                    shared.end(format!("long poll failed {failures} times: {error}"));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn keep_alive(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(KEEPALIVE);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let request = json!({ "janus": "keepalive", "transaction": transaction() });
        match shared.api.post(&shared.url, request).await {
            Err(JanusError::Core { code: 458, .. }) => {
                shared.end("Janus no longer knows it (458)".into());
                return;
            }
            Err(error) => tracing::debug!(session = shared.id, %error, "janus keepalive failed"),
            Ok(_) => {}
        }
    }
}

/// A Janus session. Dropping it stops its long poll and keepalives (Janus
/// then times it out); [`Session::destroy`] ends it at once.
pub struct Session {
    shared: Arc<Shared>,
    tasks: [JoinHandle<()>; 2],
}

impl Session {
    /// Why the session ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.shared.ended()
    }

    /// Attaches a plugin (`janus.plugin.videoroom`).
    pub async fn attach(&self, plugin: &str) -> Result<Handle, JanusError> {
        if self.shared.ended().is_some() {
            return Err(self.shared.gone());
        }
        let answer = self
            .shared
            .api
            .post(
                &self.shared.url,
                json!({ "janus": "attach", "plugin": plugin, "transaction": transaction() }),
            )
            .await?;
        let id = answer["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("attach: {}", truncate(&answer))))?;
        let (tx, rx) = mpsc::channel(HANDLE_QUEUE);
        self.shared.handles.lock().insert(id, tx);
        Ok(Handle {
            shared: Arc::clone(&self.shared),
            id,
            url: format!("{}/{id}", self.shared.url),
            events: rx,
        })
    }

    /// `destroy`: Janus hangs up every PeerConnection of the session.
    pub async fn destroy(self) -> Result<(), JanusError> {
        let request = json!({ "janus": "destroy", "transaction": transaction() });
        let result = self.shared.api.post(&self.shared.url, request).await;
        self.shared.end("destroyed".into());
        result.map(|_| ())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.end("dropped".into());
    }
}

/// A plugin handle in a session.
pub struct Handle {
    shared: Arc<Shared>,
    pub id: u64,
    /// `<base>/<session>/<handle>`
    url: String,
    events: mpsc::Receiver<HandleEvent>,
}

impl Handle {
    /// A plugin message. A synchronous request (`create`) is answered in
    /// the HTTP response; an asynchronous one (`join`, `configure`,
    /// `start`...) is acknowledged there and answered by an event, awaited
    /// up to `wait`.
    pub async fn message(
        &self,
        body: Value,
        jsep: Option<Jsep>,
        wait: Duration,
    ) -> Result<PluginReply, JanusError> {
        if self.shared.ended().is_some() {
            return Err(self.shared.gone());
        }
        let tx = transaction();
        let (answered, answer) = oneshot::channel();
        // Registered first: the event may come before the acknowledgement.
        self.shared.waiting.lock().insert(tx.clone(), answered);
        let mut request = json!({ "janus": "message", "transaction": tx, "body": body });
        if let Some(jsep) = jsep {
            request["jsep"] = serde_json::to_value(jsep)
                .map_err(|e| JanusError::Protocol(format!("a JSEP: {e}")))?;
        }
        let forget = || {
            self.shared.waiting.lock().remove(&tx);
        };
        let ack = match self.shared.api.post(&self.url, request).await {
            Ok(ack) => ack,
            Err(error) => {
                forget();
                return Err(error);
            }
        };
        match ack["janus"].as_str() {
            Some("ack") => {}
            Some("success") => {
                forget();
                return reply_of(&ack);
            }
            _ => {
                forget();
                return Err(JanusError::Protocol(format!("message: {}", truncate(&ack))));
            }
        }
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(event)) => reply_of(&event),
            Ok(Err(_)) => Err(self.shared.gone()),
            Err(_) => {
                forget();
                Err(JanusError::Timeout(wait))
            }
        }
    }

    /// The next unsolicited event; `None` once the session ended.
    pub async fn next_event(&mut self) -> Option<HandleEvent> {
        self.events.recv().await
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.handles.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plugin_event_with_a_jsep() {
        let event = json!({
            "janus": "event", "session_id": 1, "sender": 2, "transaction": "t1",
            "plugindata": { "plugin": "janus.plugin.videoroom",
                "data": { "videoroom": "attached", "room": 1234 } },
            "jsep": { "type": "offer", "sdp": "v=0\r\n" }
        });
        let reply = reply_of(&event).unwrap();
        assert_eq!(reply.data["videoroom"], "attached");
        let jsep = reply.jsep.unwrap();
        assert_eq!(jsep.kind, JsepType::Offer);
        assert_eq!(jsep.sdp, "v=0\r\n");
    }

    #[test]
    fn tells_core_and_plugin_errors_apart() {
        let core = json!({ "janus": "error", "transaction": "t",
            "error": { "code": 458, "reason": "No such session 1" } });
        let error = reply_of(&core).unwrap_err();
        assert!(matches!(error, JanusError::Core { code: 458, .. }));
        assert_eq!(
            error.to_string(),
            "Janus error 458 (session not found): No such session 1"
        );
        let plugin = json!({ "janus": "event", "sender": 2, "transaction": "t",
            "plugindata": { "plugin": "janus.plugin.videoroom",
                "data": { "videoroom": "event", "error_code": 426, "error": "No such room (7)" } } });
        let error = reply_of(&plugin).unwrap_err();
        assert!(matches!(error, JanusError::Plugin { code: 426, .. }));
        assert_eq!(
            error.to_string(),
            "VideoRoom error 426 (no such room): No such room (7)"
        );
        assert!(matches!(
            reply_of(&json!({ "janus": "ack" })),
            Err(JanusError::Protocol(_))
        ));
    }

    #[test]
    fn classifies_unsolicited_events() {
        let from = |v: Value| HandleEvent::from_message(&v);
        assert_eq!(
            from(json!({ "janus": "webrtcup", "sender": 2 })),
            HandleEvent::WebrtcUp
        );
        assert_eq!(
            from(json!({ "janus": "media", "sender": 2, "type": "video", "receiving": true })),
            HandleEvent::Media {
                kind: "video".into(),
                receiving: true
            }
        );
        assert_eq!(
            from(json!({ "janus": "hangup", "sender": 2, "reason": "DTLS alert" })),
            HandleEvent::Hangup {
                reason: "DTLS alert".into()
            }
        );
        let HandleEvent::Plugin(reply) = from(json!({ "janus": "event", "sender": 2,
            "plugindata": { "plugin": "janus.plugin.videoroom",
                "data": { "videoroom": "event", "unpublished": 9 } } }))
        else {
            panic!("not a plugin event");
        };
        assert_eq!(reply.data["unpublished"], 9);
    }

    #[test]
    fn a_jsep_goes_out_as_janus_reads_it() {
        let mut offer = Jsep::offer("v=0\r\n".into());
        offer.rid_order = Some("lmh".into());
        assert_eq!(
            serde_json::to_value(&offer).unwrap(),
            json!({ "type": "offer", "sdp": "v=0\r\n", "trickle": false, "rid_order": "lmh" })
        );
        assert_eq!(
            serde_json::to_value(Jsep::answer("x".into())).unwrap(),
            json!({ "type": "answer", "sdp": "x", "trickle": false })
        );
    }

    #[test]
    fn routes_events_by_transaction_then_by_handle() {
        let shared = Shared {
            api: Api::new("http://127.0.0.1:9/janus").unwrap(),
            id: 1,
            url: String::new(),
            waiting: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            ended: Mutex::new(None),
            dropped_events: AtomicU64::new(0),
        };
        let (answered, mut answer) = oneshot::channel();
        shared.waiting.lock().insert("t7".into(), answered);
        let (tx, mut rx) = mpsc::channel(1);
        shared.handles.lock().insert(2, tx);
        assert!(shared.dispatch(json!({ "janus": "event", "sender": 2, "transaction": "t7" })));
        assert_eq!(answer.try_recv().unwrap()["transaction"], "t7");
        assert!(shared.dispatch(json!({ "janus": "webrtcup", "sender": 2 })));
        assert_eq!(rx.try_recv().unwrap(), HandleEvent::WebrtcUp);
        // A full queue drops and counts.
        assert!(shared.dispatch(json!({ "janus": "webrtcup", "sender": 2 })));
        assert!(shared.dispatch(json!({ "janus": "webrtcup", "sender": 2 })));
        assert_eq!(shared.dropped_events.load(Ordering::Relaxed), 1);
        assert!(!shared.dispatch(json!({ "janus": "timeout", "session_id": 1 })));
        assert!(shared.ended().unwrap().contains("timed out"));
        assert!(shared.handles.lock().is_empty());
    }
}
