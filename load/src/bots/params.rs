//! The JSON a bot exchanges with Podium about media: its RTP capabilities,
//! the transport the server created, DTLS parameters, what `consume` answers
//! and what the teacher `produce`s. Pure functions of JSON; tested.

use crate::engine::{Kind, PT_OPUS, PT_VP8, StreamSpec, TeacherMedia};
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::net::SocketAddr;
use str0m::config::Fingerprint;

/// What the bots can receive: Opus and VP8, without RTX, NACK, transport-cc
/// or header extensions, so every gap in sequence numbers is a loss.
pub fn rtp_capabilities() -> Value {
    json!({
        "codecs": [
            {
                "kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": PT_OPUS,
                "clockRate": 48000, "channels": 2, "parameters": {}, "rtcpFeedback": []
            },
            {
                "kind": "video", "mimeType": "video/VP8", "preferredPayloadType": PT_VP8,
                "clockRate": 90000, "parameters": {}, "rtcpFeedback": []
            }
        ],
        "headerExtensions": []
    })
}

/// A WebRtcTransport as `createTransport` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTransport {
    pub id: String,
    pub ufrag: String,
    pub password: String,
    /// Its UDP host candidate.
    pub udp: SocketAddr,
    pub fingerprint: Fingerprint,
}

pub fn parse_transport(data: &Value) -> anyhow::Result<RemoteTransport> {
    let text = |v: &Value, key: &str| -> anyhow::Result<String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("createTransport: no {key}"))
    };
    let ice = data
        .get("iceParameters")
        .context("createTransport: no iceParameters")?;
    let candidate = data
        .get("iceCandidates")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|c| c.get("protocol").and_then(Value::as_str) == Some("udp"))
        })
        .context("createTransport: no UDP candidate")?;
    let address = text(candidate, "address")?;
    let port = candidate
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .context("createTransport: candidate without a port")?;
    let udp: SocketAddr = format!("{address}:{port}")
        .parse()
        .with_context(|| format!("createTransport: candidate address {address}:{port}"))?;
    let fingerprint = data
        .pointer("/dtlsParameters/fingerprints")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|f| f.get("algorithm").and_then(Value::as_str) == Some("sha-256"))
        })
        .context("createTransport: no sha-256 fingerprint")?;
    Ok(RemoteTransport {
        id: text(data, "id")?,
        ufrag: text(ice, "usernameFragment")?,
        password: text(ice, "password")?,
        udp,
        fingerprint: parse_fingerprint("sha-256", &text(fingerprint, "value")?)?,
    })
}

pub fn parse_fingerprint(algorithm: &str, value: &str) -> anyhow::Result<Fingerprint> {
    let bytes = value
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<Vec<u8>, _>>()
        .with_context(|| format!("fingerprint {value:?}"))?;
    if bytes.is_empty() {
        bail!("empty fingerprint");
    }
    Ok(Fingerprint {
        hash_func: algorithm.to_owned(),
        bytes,
    })
}

/// `connectTransport`'s dtlsParameters for a bot that is the DTLS client.
pub fn dtls_parameters(local: &Fingerprint) -> Value {
    let value = local
        .bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    json!({
        "role": "client",
        "fingerprints": [{ "algorithm": local.hash_func, "value": value }]
    })
}

/// A consumer as `consume` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    pub id: String,
    pub kind: Kind,
    pub simulcast: bool,
    pub stream: StreamSpec,
}

pub fn parse_consumed(data: &Value) -> anyhow::Result<Consumed> {
    let id = data
        .get("consumerId")
        .and_then(Value::as_str)
        .context("consume: no consumerId")?
        .to_owned();
    let kind = match data.get("kind").and_then(Value::as_str) {
        Some("audio") => Kind::Audio,
        Some("video") => Kind::Video,
        other => bail!("consume: kind {other:?}"),
    };
    let rtp = data
        .get("rtpParameters")
        .context("consume: no rtpParameters")?;
    let mid = rtp
        .get("mid")
        .and_then(Value::as_str)
        .context("consume: no mid")?
        .to_owned();
    let ssrc = rtp
        .pointer("/encodings/0/ssrc")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .context("consume: no ssrc")?;
    let clock_rate = rtp
        .pointer("/codecs/0/clockRate")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .context("consume: no clockRate")?;
    Ok(Consumed {
        id,
        kind,
        simulcast: data.get("type").and_then(Value::as_str) == Some("simulcast"),
        stream: StreamSpec {
            mid,
            ssrc,
            kind,
            clock_rate,
        },
    })
}

/// The producer ids of a `join` response or a `newProducer` notification.
pub fn producer_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|all| {
            all.iter()
                .filter_map(|p| p.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `produce` data for the teacher's microphone.
pub fn produce_audio(transport_id: &str, media: &TeacherMedia) -> Value {
    json!({
        "transportId": transport_id,
        "kind": "audio",
        "source": "mic",
        "rtpParameters": {
            "codecs": [{
                "mimeType": "audio/opus", "payloadType": PT_OPUS, "clockRate": 48000,
                "channels": 2, "parameters": { "useinbandfec": 1 }, "rtcpFeedback": []
            }],
            "headerExtensions": [],
            "encodings": [{ "ssrc": media.audio_ssrc }],
            "rtcp": { "cname": "podium-load-teacher", "reducedSize": true }
        }
    })
}

/// `produce` data for the teacher's camera: one encoding per simulcast layer,
/// lowest first, told apart by SSRC.
pub fn produce_video(transport_id: &str, media: &TeacherMedia, max_kbps: &[u32]) -> Value {
    let encodings: Vec<Value> = media
        .video_ssrcs
        .iter()
        .zip(max_kbps)
        .map(|(ssrc, kbps)| json!({ "ssrc": ssrc, "maxBitrate": kbps * 1000 * 3 / 2 }))
        .collect();
    json!({
        "transportId": transport_id,
        "kind": "video",
        "source": "camera",
        "rtpParameters": {
            "codecs": [{
                "mimeType": "video/VP8", "payloadType": PT_VP8, "clockRate": 90000,
                "parameters": {},
                "rtcpFeedback": [ { "type": "nack", "parameter": "pli" }, { "type": "ccm", "parameter": "fir" } ]
            }],
            "headerExtensions": [],
            "encodings": encodings,
            "rtcp": { "cname": "podium-load-teacher", "reducedSize": true }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport() -> Value {
        json!({
            "id": "5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70",
            "iceParameters": { "usernameFragment": "uf", "password": "pw", "iceLite": true },
            "iceCandidates": [
                { "foundation": "tcp", "priority": 1, "address": "127.0.0.1", "protocol": "tcp", "port": 40001, "type": "host", "tcpType": "passive" },
                { "foundation": "udp", "priority": 2, "address": "127.0.0.1", "protocol": "udp", "port": 40000, "type": "host" }
            ],
            "dtlsParameters": { "role": "auto", "fingerprints": [
                { "algorithm": "sha-1", "value": "00:11" },
                { "algorithm": "sha-256", "value": "AB:CD:EF" }
            ] }
        })
    }

    #[test]
    fn reads_a_transport() {
        let t = parse_transport(&transport()).unwrap();
        assert_eq!(t.udp, "127.0.0.1:40000".parse().unwrap());
        assert_eq!((t.ufrag.as_str(), t.password.as_str()), ("uf", "pw"));
        assert_eq!(t.fingerprint.hash_func, "sha-256");
        assert_eq!(t.fingerprint.bytes, vec![0xab, 0xcd, 0xef]);
        let mut broken = transport();
        broken["iceCandidates"] = json!([]);
        assert!(parse_transport(&broken).is_err());
    }

    #[test]
    fn dtls_parameters_round_trip() {
        let fp = parse_fingerprint("sha-256", "01:A0:FF").unwrap();
        let v = dtls_parameters(&fp);
        assert_eq!(v["role"], "client");
        assert_eq!(v["fingerprints"][0]["value"], "01:A0:FF");
        assert_eq!(v["fingerprints"][0]["algorithm"], "sha-256");
        assert!(parse_fingerprint("sha-256", "zz").is_err());
    }

    #[test]
    fn reads_a_consumer() {
        let data = json!({
            "consumerId": "c1", "producerId": "p1", "peerId": "x", "kind": "video", "source": "camera",
            "type": "simulcast", "producerPaused": false,
            "rtpParameters": { "mid": "1", "codecs": [{ "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000 }],
                               "encodings": [{ "ssrc": 123456 }] }
        });
        let c = parse_consumed(&data).unwrap();
        assert_eq!(c.id, "c1");
        assert!(c.simulcast);
        assert_eq!(c.stream.mid, "1");
        assert_eq!(c.stream.ssrc, 123_456);
        assert_eq!(c.stream.clock_rate, 90_000);
        assert_eq!(c.kind, Kind::Video);
    }

    #[test]
    fn produce_requests_carry_every_layer() {
        let media = TeacherMedia::new(3);
        let v = produce_video("t", &media, &[150, 500, 1200]);
        let encodings = v["rtpParameters"]["encodings"].as_array().unwrap();
        assert_eq!(encodings.len(), 3);
        assert_eq!(encodings[0]["ssrc"], media.video_ssrcs[0]);
        assert_eq!(
            produce_audio("t", &media)["rtpParameters"]["encodings"][0]["ssrc"],
            media.audio_ssrc
        );
        assert_eq!(
            producer_ids(&json!([{ "id": "a" }, { "id": "b" }])),
            vec!["a", "b"]
        );
    }
}
