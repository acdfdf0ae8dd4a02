//! The bus: room events (`{prefix}:bus:room:{room}`) and messages to one
//! node (`{prefix}:bus:node:{id}`) over Redis pub/sub. Every message is an
//! [`Envelope`] signed with the cluster secret (HMAC-SHA256 over its JSON);
//! a receiver refuses a wrong signature and a message older than
//! [`MAX_AGE`] (a replay). A [`Subscription`] subscribes again by itself
//! after Redis comes back.

use crate::registry::now_ms;
use crate::{Cluster, ClusterError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::mpsc;

/// Older messages are refused.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Between two attempts to subscribe again while Redis is away.
const RESUBSCRIBE_EVERY: Duration = Duration::from_millis(500);

/// What nodes say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The sending node.
    pub from: String,
    /// Unix milliseconds.
    pub sent_at_ms: u64,
    pub body: serde_json::Value,
}

impl Envelope {
    pub fn new(from: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            from: from.into(),
            sent_at_ms: now_ms(),
            body,
        }
    }
}

/// On the wire: the envelope's JSON and its signature.
#[derive(Serialize, Deserialize)]
struct Signed {
    envelope: String,
    sig: String,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

/// Signs `envelope` with `secret`: the payload to publish.
pub(crate) fn seal(secret: &str, envelope: &Envelope) -> Result<String, ClusterError> {
    let json =
        serde_json::to_string(envelope).map_err(|e| ClusterError::Malformed(e.to_string()))?;
    let mut mac = mac(secret);
    mac.update(json.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    serde_json::to_string(&Signed {
        envelope: json,
        sig,
    })
    .map_err(|e| ClusterError::Malformed(e.to_string()))
}

/// Checks a payload's signature and age; the envelope if both hold.
pub(crate) fn open(secret: &str, payload: &str, now_ms: u64) -> Result<Envelope, ClusterError> {
    let signed: Signed = serde_json::from_str(payload)
        .map_err(|e| ClusterError::Refused(format!("not a signed message: {e}")))?;
    let sig = STANDARD
        .decode(&signed.sig)
        .map_err(|_| ClusterError::Refused("signature is not base64".into()))?;
    let mut mac = mac(secret);
    mac.update(signed.envelope.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| ClusterError::Refused("wrong signature (another cluster secret?)".into()))?;
    let envelope: Envelope = serde_json::from_str(&signed.envelope)
        .map_err(|e| ClusterError::Malformed(e.to_string()))?;
    let age = now_ms.saturating_sub(envelope.sent_at_ms);
    if age > MAX_AGE.as_millis() as u64 {
        return Err(ClusterError::Refused(format!(
            "sent {age} ms ago by {}: too old",
            envelope.from
        )));
    }
    Ok(envelope)
}

pub struct Bus {
    cluster: Cluster,
}

impl Bus {
    pub(crate) fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    /// The channel of a room's events.
    pub fn room_channel(&self, room: &str) -> String {
        self.cluster.key(&["bus", "room", room])
    }

    /// The channel of messages to one node.
    pub fn node_channel(&self, node: &str) -> String {
        self.cluster.key(&["bus", "node", node])
    }

    /// Publishes `envelope`, signed, on `channel`; how many nodes heard it.
    pub async fn publish(&self, channel: &str, envelope: &Envelope) -> Result<u64, ClusterError> {
        let payload = seal(&self.cluster.config.secret, envelope)?;
        self.cluster
            .query(redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await
    }

    /// Listens on `channels` until dropped, subscribing again whenever the
    /// connection to Redis comes back.
    pub fn subscribe(&self, channels: Vec<String>) -> Subscription {
        let (tx, rx) = mpsc::channel(1024);
        let client = self.cluster.client.clone();
        let secret = self.cluster.config.secret.clone();
        let task = tokio::spawn(async move {
            loop {
                match listen(&client, &channels, &secret, &tx).await {
                    Ok(()) => return, // the subscriber is gone
                    Err(error) => {
                        tracing::warn!(%error, "cluster bus: not subscribed; trying again");
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(RESUBSCRIBE_EVERY).await;
            }
        });
        Subscription { rx, task }
    }
}

/// Subscribes and forwards until the connection drops (an error) or the
/// receiver goes (Ok).
async fn listen(
    client: &redis::Client,
    channels: &[String],
    secret: &str,
    tx: &mpsc::Sender<Item>,
) -> Result<(), ClusterError> {
    let mut pubsub = client.get_async_pubsub().await?;
    for channel in channels {
        pubsub.subscribe(channel).await?;
    }
    if tx.send(Item::Subscribed).await.is_err() {
        return Ok(());
    }
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let channel = message.get_channel_name().to_owned();
        let item = message
            .get_payload::<String>()
            .map_err(|e| ClusterError::Malformed(e.to_string()))
            .and_then(|payload| open(secret, &payload, now_ms()))
            .map(|envelope| (channel, envelope));
        if tx.send(Item::Message(item)).await.is_err() {
            return Ok(());
        }
    }
    Err(ClusterError::Unavailable(
        "the subscription's connection closed".into(),
    ))
}

enum Item {
    /// (Again) subscribed to every channel.
    Subscribed,
    Message(Result<(String, Envelope), ClusterError>),
}

/// What a subscription hears.
#[derive(Debug)]
pub enum BusEvent {
    /// A message `(channel, envelope)`, or why one was refused.
    Message(Result<(String, Envelope), ClusterError>),
    /// Subscribed again after the connection to Redis dropped.
    Resubscribed,
}

/// Messages on the subscribed channels: `(channel, envelope)`, or why one
/// was refused.
pub struct Subscription {
    rx: mpsc::Receiver<Item>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    /// Waits until it is subscribed (pub/sub keeps nothing for later: what
    /// is published before is not heard). False if the bus task ended.
    pub async fn ready(&mut self) -> bool {
        loop {
            match self.rx.recv().await {
                Some(Item::Subscribed) => return true,
                Some(Item::Message(_)) => {}
                None => return false,
            }
        }
    }

    /// The next message or refusal, or [`BusEvent::Resubscribed`] when the
    /// subscription came back after Redis was away (what was published
    /// meanwhile is lost: read the state again). `None` once the bus task
    /// ended.
    pub async fn next_event(&mut self) -> Option<BusEvent> {
        match self.rx.recv().await? {
            Item::Subscribed => Some(BusEvent::Resubscribed),
            Item::Message(item) => Some(BusEvent::Message(item)),
        }
    }

    /// The next message (or refusal); `None` once the bus task ended.
    pub async fn next(&mut self) -> Option<Result<(String, Envelope), ClusterError>> {
        loop {
            match self.rx.recv().await? {
                Item::Subscribed => {}
                Item::Message(item) => return Some(item),
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a cluster secret of some length";

    #[test]
    fn a_sealed_message_opens_with_the_same_secret_only() {
        let envelope = Envelope::new("node-a", serde_json::json!({ "chat": "hello" }));
        let payload = seal(SECRET, &envelope).unwrap();
        assert_eq!(
            open(SECRET, &payload, envelope.sent_at_ms).unwrap(),
            envelope
        );
        let wrong = open(
            "another secret, just as long",
            &payload,
            envelope.sent_at_ms,
        );
        assert!(matches!(wrong, Err(ClusterError::Refused(_))), "{wrong:?}");
        assert!(!payload.contains(SECRET));
    }

    #[test]
    fn a_tampered_or_stale_message_is_refused() {
        let envelope = Envelope::new("node-a", serde_json::json!({ "kick": "bob" }));
        let payload = seal(SECRET, &envelope).unwrap();
        let tampered = payload.replace("bob", "eve");
        assert!(matches!(
            open(SECRET, &tampered, envelope.sent_at_ms),
            Err(ClusterError::Refused(_))
        ));
        let later = envelope.sent_at_ms + MAX_AGE.as_millis() as u64 + 1;
        assert!(matches!(
            open(SECRET, &payload, later),
            Err(ClusterError::Refused(_))
        ));
        assert!(matches!(
            open(SECRET, "{}", 0),
            Err(ClusterError::Refused(_))
        ));
    }
}
