//! The VideoRoom requests a class needs: a room for one publisher, the
//! teacher's `joinandconfigure` (offer → answer), a student's subscription
//! (`join` as subscriber → Janus's offer, `start` with the answer) and the
//! simulcast layer it asks for (`substream` in the `join`). Request bodies
//! and answers are pure functions, tested on Janus 1.1's documented shapes.

use super::api::{Api, Handle, JanusError, Jsep, PluginReply};
use serde_json::{Value, json};
use std::time::Duration;

pub const PLUGIN: &str = "janus.plugin.videoroom";

/// How long an asynchronous request may take (a `join` waits for Janus to
/// gather its candidate and write its offer).
pub const WAIT: Duration = Duration::from_secs(10);

/// A class: one publisher, VP8 and Opus.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSpec {
    pub description: String,
    pub publishers: u32,
    /// The REMB cap Janus sends the publisher, bit/s: above the three
    /// layers together, so it never limits the teacher.
    pub bitrate: u32,
    /// Seconds between Janus's own keyframe requests to the publisher (0:
    /// none, as mediasoup sends none unasked).
    pub fir_freq: u32,
}

impl Default for RoomSpec {
    fn default() -> Self {
        Self {
            description: "podium-load".into(),
            publishers: 1,
            bitrate: 4_000_000,
            fir_freq: 0,
        }
    }
}

pub fn create_body(spec: &RoomSpec) -> Value {
    json!({
        "request": "create",
        "description": spec.description,
        "permanent": false,
        "is_private": true,
        "publishers": spec.publishers,
        "bitrate": spec.bitrate,
        "fir_freq": spec.fir_freq,
        "audiocodec": "opus",
        "videocodec": "vp8",
        "notify_joining": false,
    })
}

/// The room id of a `created` answer.
pub fn parse_created(reply: &PluginReply) -> Result<u64, JanusError> {
    expect(reply, "created")?;
    reply.data["room"]
        .as_u64()
        .ok_or_else(|| protocol("created without a room id", reply))
}

pub fn publish_body(room: u64, display: &str) -> Value {
    json!({
        "request": "joinandconfigure",
        "ptype": "publisher",
        "room": room,
        "display": display,
        "audio": true,
        "video": true,
    })
}

/// The teacher's offer: every candidate in it, simulcast rids lowest first.
pub fn publish_jsep(offer_sdp: String) -> Jsep {
    let mut jsep = Jsep::offer(offer_sdp);
    jsep.rid_order = Some("lmh".into());
    jsep
}

/// A publisher in the room.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Its feed id (what students subscribe to).
    pub feed: u64,
    pub answer_sdp: String,
}

pub fn parse_published(reply: &PluginReply) -> Result<Published, JanusError> {
    expect(reply, "joined")?;
    let feed = reply.data["id"]
        .as_u64()
        .ok_or_else(|| protocol("joined without an id", reply))?;
    let answer_sdp = reply
        .jsep
        .as_ref()
        .map(|j| j.sdp.clone())
        .ok_or_else(|| protocol("joined without an SDP answer", reply))?;
    Ok(Published { feed, answer_sdp })
}

/// `join` as a subscriber to every stream of `feed`; `substream` picks the
/// simulcast layer (0 = lowest; Janus's default is the highest).
pub fn subscribe_body(room: u64, feed: u64, substream: Option<u8>) -> Value {
    let mut stream = json!({ "feed": feed });
    if let Some(layer) = substream {
        stream["substream"] = json!(layer);
    }
    json!({
        "request": "join",
        "ptype": "subscriber",
        "room": room,
        "streams": [stream],
    })
}

/// One stream of a subscription, as `attached` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribedStream {
    pub mid: String,
    /// `audio` or `video`.
    pub kind: String,
    pub feed: u64,
}

/// Janus's offer for a subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub offer_sdp: String,
    pub streams: Vec<SubscribedStream>,
}

pub fn parse_attached(reply: &PluginReply) -> Result<Subscription, JanusError> {
    expect(reply, "attached")?;
    let offer_sdp = reply
        .jsep
        .as_ref()
        .map(|j| j.sdp.clone())
        .ok_or_else(|| protocol("attached without an SDP offer", reply))?;
    let streams = reply.data["streams"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    Some(SubscribedStream {
                        mid: s["mid"].as_str()?.to_owned(),
                        kind: s["type"].as_str()?.to_owned(),
                        feed: s["feed_id"].as_u64().unwrap_or(0),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Subscription { offer_sdp, streams })
}

pub fn start_body() -> Value {
    json!({ "request": "start" })
}

/// `"videoroom": <what>`, or a protocol error.
fn expect(reply: &PluginReply, what: &str) -> Result<(), JanusError> {
    if reply.data["videoroom"] == what {
        Ok(())
    } else {
        Err(protocol(&format!("expected \"{what}\""), reply))
    }
}

/// `"videoroom": "event"` with `key: "ok"` (`started`, `configured`...).
fn expect_ok(reply: &PluginReply, key: &str) -> Result<(), JanusError> {
    if reply.data["videoroom"] == "event" && reply.data[key] == "ok" {
        Ok(())
    } else {
        Err(protocol(&format!("expected \"{key}\": \"ok\""), reply))
    }
}

fn protocol(what: &str, reply: &PluginReply) -> JanusError {
    JanusError::Protocol(format!("{what}: {}", reply.data))
}

/// Creates a room over a short-lived session of its own; returns its id.
pub async fn create_room(api: &Api, spec: &RoomSpec) -> Result<u64, JanusError> {
    let session = api.create_session().await?;
    let handle = session.attach(PLUGIN).await?;
    let room = parse_created(&handle.message(create_body(spec), None, WAIT).await?);
    drop(handle);
    let _ = session.destroy().await;
    room
}

/// The teacher's `joinandconfigure` with its offer.
pub async fn publish(
    handle: &Handle,
    room: u64,
    display: &str,
    offer_sdp: String,
) -> Result<Published, JanusError> {
    let reply = handle
        .message(
            publish_body(room, display),
            Some(publish_jsep(offer_sdp)),
            WAIT,
        )
        .await?;
    parse_published(&reply)
}

/// A student's `join`: Janus answers with its offer.
pub async fn subscribe(
    handle: &Handle,
    room: u64,
    feed: u64,
    substream: Option<u8>,
) -> Result<Subscription, JanusError> {
    let reply = handle
        .message(subscribe_body(room, feed, substream), None, WAIT)
        .await?;
    parse_attached(&reply)
}

/// A student's `start` with its answer.
pub async fn start(handle: &Handle, answer_sdp: String) -> Result<(), JanusError> {
    let reply = handle
        .message(start_body(), Some(Jsep::answer(answer_sdp)), WAIT)
        .await?;
    expect_ok(&reply, "started")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::janus::api::JsepType;

    fn reply(data: Value, jsep: Option<Jsep>) -> PluginReply {
        PluginReply { data, jsep }
    }

    #[test]
    fn creates_a_room_for_one_teacher() {
        let body = create_body(&RoomSpec::default());
        assert_eq!(body["request"], "create");
        assert_eq!(body["publishers"], 1);
        assert_eq!(body["videocodec"], "vp8");
        assert_eq!(body["audiocodec"], "opus");
        assert_eq!(body["notify_joining"], false);
        assert!(body.get("admin_key").is_none());
        assert_eq!(
            parse_created(&reply(
                json!({ "videoroom": "created", "room": 42, "permanent": false }),
                None
            ))
            .unwrap(),
            42
        );
        assert!(parse_created(&reply(json!({ "videoroom": "edited" }), None)).is_err());
    }

    #[test]
    fn the_teacher_publishes_with_lmh_rids() {
        let body = publish_body(42, "Teacher");
        assert_eq!(body["request"], "joinandconfigure");
        assert_eq!(body["ptype"], "publisher");
        let jsep = publish_jsep("v=0\r\n".into());
        assert_eq!(jsep.kind, JsepType::Offer);
        assert_eq!(jsep.rid_order.as_deref(), Some("lmh"));
        assert_eq!(jsep.trickle, Some(false));
        let joined = reply(
            json!({ "videoroom": "joined", "room": 42, "id": 7, "private_id": 9, "publishers": [] }),
            Some(Jsep::answer("answer".into())),
        );
        assert_eq!(
            parse_published(&joined).unwrap(),
            Published {
                feed: 7,
                answer_sdp: "answer".into()
            }
        );
        let no_sdp = reply(joined.data.clone(), None);
        assert!(parse_published(&no_sdp).is_err());
    }

    #[test]
    fn a_student_subscribes_to_the_feed() {
        let body = subscribe_body(42, 7, Some(1));
        assert_eq!(body["ptype"], "subscriber");
        assert_eq!(body["streams"], json!([{ "feed": 7, "substream": 1 }]));
        assert_eq!(
            subscribe_body(42, 7, None)["streams"],
            json!([{ "feed": 7 }])
        );
        let attached = reply(
            json!({ "videoroom": "attached", "room": 42, "streams": [
                { "mindex": 0, "mid": "0", "type": "audio", "feed_id": 7, "feed_mid": "0" },
                { "mindex": 1, "mid": "1", "type": "video", "feed_id": 7, "feed_mid": "1" }
            ] }),
            Some(Jsep::offer("offer".into())),
        );
        let sub = parse_attached(&attached).unwrap();
        assert_eq!(sub.offer_sdp, "offer");
        assert_eq!(sub.streams.len(), 2);
        assert_eq!(sub.streams[1].kind, "video");
        assert_eq!(sub.streams[1].mid, "1");
        assert!(
            expect_ok(
                &reply(json!({ "videoroom": "event", "started": "ok" }), None),
                "started"
            )
            .is_ok()
        );
        assert!(
            expect_ok(
                &reply(json!({ "videoroom": "event", "paused": "ok" }), None),
                "started"
            )
            .is_err()
        );
    }
}
