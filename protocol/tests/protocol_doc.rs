//! docs/PROTOCOL.md is generated from the protocol's own types: the variant
//! and field docs come from signaling.rs and error.rs, every request example
//! is parsed by the protocol's parser, every notification example is built
//! from the `Notification` enum, and every variant must appear. A stale
//! document fails this test; `PODIUM_UPDATE_DOCS=1 cargo test -p
//! podium-protocol` rewrites it.

use podium_protocol::signaling::{self, RESPONSE_TYPES};
use podium_protocol::{
    ChatFrom, CloseReason, ConsumerId, DestinationId, DestinationState, DestinationStats,
    DestinationStatus, EgressId, EgressState, EgressStats, EgressStatus, ErrorCode, InputStatus,
    InputVideoCodec, Notification, PeerId, PeerInfo, ProducerId, ProducerInfo, Request, Role,
    Source, VideoPath,
};
use std::collections::BTreeMap;
use std::fmt::Write;

const PROTOCOL_RS: &str = include_str!("../src/signaling.rs");
const RECORDING_RS: &str = include_str!("../src/recording.rs");
const ERROR_RS: &str = include_str!("../src/error.rs");
const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");

/// A variant of an enum in source text: its doc comment and its fields.
struct Variant {
    name: String,
    doc: String,
    fields: Vec<(String, String, String)>,
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Reads `pub struct <name> { ... }` as rustfmt lays it out: its doc
/// comment, and its fields (wire name, type, doc).
fn structure(source: &str, name: &str) -> Variant {
    let start = source
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name}"));
    let doc: Vec<String> = source[..start]
        .lines()
        .rev()
        .skip_while(|l| l.trim().is_empty() || l.starts_with("pub struct"))
        .skip_while(|l| l.starts_with("#["))
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches("///").trim().to_owned())
        .collect();
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("struct end")];
    let (mut fields, mut field_doc) = (Vec::new(), Vec::<String>::new());
    for line in body.lines().skip(1) {
        let text = line.trim();
        if let Some(comment) = text.strip_prefix("///") {
            field_doc.push(comment.trim().to_owned());
        } else if let Some((field, ty)) = text
            .strip_prefix("pub ")
            .and_then(|t| t.trim_end_matches(',').split_once(": "))
        {
            let wire = if field == "consumer_type" {
                "type".to_owned()
            } else {
                camel(field)
            };
            fields.push((wire, ty.to_owned(), field_doc.join(" ")));
            field_doc.clear();
        }
    }
    Variant {
        name: name.to_owned(),
        doc: doc.into_iter().rev().collect::<Vec<_>>().join(" "),
        fields,
    }
}

/// Reads `pub enum <name> { ... }` as rustfmt lays it out.
fn variants(source: &str, name: &str) -> Vec<Variant> {
    let start = source
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("enum {name}"));
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("enum end")];
    let (mut out, mut doc) = (Vec::<Variant>::new(), Vec::<String>::new());
    for line in body.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if let Some(comment) = text.strip_prefix("///") {
            doc.push(comment.trim().to_owned());
        } else if text.starts_with("#[") || text.is_empty() || text == "}," || text == "}" {
            continue;
        } else if indent == 4 {
            let ident: String = text.chars().take_while(|c| c.is_alphanumeric()).collect();
            // rustfmt keeps short variants on one line: `Name { a: A, b: B },`.
            let inline = text
                .split_once('{')
                .and_then(|(_, rest)| rest.rsplit_once('}'))
                .map(|(fields, _)| fields.trim())
                .filter(|fields| !fields.is_empty());
            let fields = inline
                .into_iter()
                .flat_map(|fields| fields.split(", "))
                .filter_map(|f| f.split_once(": "))
                .map(|(f, ty)| (camel(f), ty.trim_end_matches(',').to_owned(), String::new()))
                .collect();
            out.push(Variant {
                name: ident,
                doc: doc.join(" "),
                fields,
            });
            doc.clear();
        } else if indent == 8
            && let Some((field, ty)) = text.trim_end_matches(',').split_once(": ")
        {
            let field = field.trim_start_matches("pub ");
            let wire = if field == "consumer_type" {
                "type".to_owned()
            } else {
                camel(field)
            };
            out.last_mut()
                .expect("a field belongs to a variant")
                .fields
                .push((wire, ty.to_owned(), doc.join(" ")));
            doc.clear();
        }
    }
    out
}

fn request_examples() -> BTreeMap<&'static str, String> {
    let id = "\"5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70\"";
    let caps = r#"{"codecs":[{"kind":"audio","mimeType":"audio/opus","preferredPayloadType":100,"clockRate":48000,"channels":2,"parameters":{},"rtcpFeedback":[]}],"headerExtensions":[]}"#;
    let dtls = r#"{"role":"client","fingerprints":[{"algorithm":"sha-256","value":"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"}]}"#;
    let rtp = r#"{"mid":"0","codecs":[{"mimeType":"audio/opus","payloadType":111,"clockRate":48000,"channels":2,"parameters":{"useinbandfec":1},"rtcpFeedback":[]}],"headerExtensions":[],"encodings":[{"ssrc":1111}],"rtcp":{"cname":"x","reducedSize":true}}"#;
    BTreeMap::from([
        ("join", "{}".to_owned()),
        (
            "setRtpCapabilities",
            format!(r#"{{"rtpCapabilities":{caps}}}"#),
        ),
        ("createTransport", r#"{"direction":"recv"}"#.to_owned()),
        (
            "connectTransport",
            format!(r#"{{"transportId":{id},"dtlsParameters":{dtls}}}"#),
        ),
        ("restartIce", format!(r#"{{"transportId":{id}}}"#)),
        (
            "produce",
            format!(
                r#"{{"transportId":{id},"kind":"audio","rtpParameters":{rtp},"source":"mic"}}"#
            ),
        ),
        ("closeProducer", format!(r#"{{"producerId":{id}}}"#)),
        ("pauseProducer", format!(r#"{{"producerId":{id}}}"#)),
        ("resumeProducer", format!(r#"{{"producerId":{id}}}"#)),
        ("consume", format!(r#"{{"producerId":{id}}}"#)),
        ("resumeConsumer", format!(r#"{{"consumerId":{id}}}"#)),
        ("pauseConsumer", format!(r#"{{"consumerId":{id}}}"#)),
        (
            "setConsumerPreferredLayers",
            format!(r#"{{"consumerId":{id},"spatialLayer":1,"temporalLayer":2}}"#),
        ),
        ("chat", r#"{"text":"Page 12, everyone"}"#.to_owned()),
        ("raiseHand", "{}".to_owned()),
        ("lowerHand", format!(r#"{{"peerId":{id}}}"#)),
        ("allowSpeak", format!(r#"{{"peerId":{id},"allowed":true}}"#)),
        ("kick", format!(r#"{{"peerId":{id}}}"#)),
        (
            "startRestream",
            r#"{"destinations":[{"service":"youtube","streamKey":"your-stream-key"},{"service":"custom","url":"rtmp://127.0.0.1/live","streamKey":"test"}]}"#.to_owned(),
        ),
        ("stopRestream", format!(r#"{{"restreamId":{id}}}"#)),
        ("startRecording", r#"{"layout":"screenWithCamera"}"#.to_owned()),
        ("stopRecording", "{}".to_owned()),
        ("leave", "{}".to_owned()),
    ])
}

fn notification_examples() -> Vec<Notification> {
    let peer: PeerId = "7b2e3f40-1a5c-4e6d-8f90-4a5b6c7d8e9f".parse().unwrap();
    let info = || PeerInfo {
        id: peer,
        user: Some("ada@example.org".into()),
        name: "Ada".into(),
        role: Role::Student,
        hand_raised: false,
        can_speak: true,
    };
    let producer: ProducerId = "5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70".parse().unwrap();
    let consumer: ConsumerId = "6a1d2f3b-9e5c-4d7f-8b20-3c4d5e6f7081".parse().unwrap();
    vec![
        Notification::PeerJoined { peer: info() },
        Notification::PeerLeft { peer_id: peer },
        Notification::HandRaised {
            peer_id: peer,
            raised: true,
        },
        Notification::SpeakPermission { peer: info() },
        Notification::NewProducer {
            producer: ProducerInfo {
                id: producer,
                peer_id: peer,
                kind: mediasoup_types::rtp_parameters::MediaKind::Video,
                source: Source::Camera,
                paused: false,
            },
        },
        Notification::ProducerClosed {
            producer_id: producer,
        },
        Notification::ProducerPaused {
            producer_id: producer,
        },
        Notification::ProducerResumed {
            producer_id: producer,
        },
        Notification::ConsumerClosed {
            consumer_id: consumer,
            producer_id: producer,
        },
        Notification::ConsumerLayersChanged {
            consumer_id: consumer,
            spatial_layer: Some(1),
            temporal_layer: Some(2),
        },
        Notification::ActiveSpeaker {
            peer_id: Some(peer),
            producer_id: Some(producer),
        },
        Notification::Chat {
            from: ChatFrom {
                peer_id: peer,
                name: "Ada".into(),
                role: Role::Student,
            },
            text: "Page 12?".into(),
            at: 1_795_000_000_000,
        },
        Notification::RestreamStatus {
            restream: EgressStatus {
                id: "0b6c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d"
                    .parse::<EgressId>()
                    .unwrap(),
                label: "math-101".into(),
                state: EgressState::Live,
                input: Some(InputStatus {
                    video: InputVideoCodec::Vp8,
                    video_path: VideoPath::Reencode,
                    has_audio: true,
                    video_flowing: true,
                    audio_flowing: true,
                }),
                stats: EgressStats {
                    uptime_secs: 42.0,
                    fps: 30.0,
                    bitrate_bps: 2_600_000,
                    bytes_muxed: 13_650_000,
                },
                destinations: vec![DestinationStatus {
                    id: "1c7d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f"
                        .parse::<DestinationId>()
                        .unwrap(),
                    url: "rtmps://a.rtmps.youtube.com:443/live2/***".into(),
                    state: DestinationState::Live,
                    stats: DestinationStats {
                        bytes_out: 13_600_000,
                        bitrate_bps: 2_600_000,
                        uptime_secs: 41.5,
                        reconnects: 0,
                    },
                }],
                file: None,
                layout: None,
            },
        },
        Notification::Recording { active: true },
        Notification::Closed {
            reason: CloseReason::Kicked,
        },
    ]
}

fn render_variant(out: &mut String, v: &Variant, example: &str) {
    let _ = writeln!(out, "### `{}`\n", lower_first(&v.name));
    if !v.doc.is_empty() {
        let _ = writeln!(out, "{}\n", v.doc);
    }
    if !v.fields.is_empty() {
        let _ = writeln!(out, "| field | type | |\n|---|---|---|");
        for (field, ty, doc) in &v.fields {
            let _ = writeln!(out, "| `{field}` | `{ty}` | {doc} |");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "```json\n{example}\n```\n");
}

fn render() -> String {
    let mut out = String::from(
        "# Podium signaling protocol\n\n\
         <!-- Generated by protocol/tests/protocol_doc.rs from protocol/src/signaling.rs and \
         protocol/src/error.rs. Do not edit: run PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol -->\n\n\
         The browser's TypeScript for these messages is generated from the same types: \
         `client/src/generated/protocol.ts`.\n\n\
         One WebSocket per peer: `GET /ws`, offering the subprotocols `podium` and \
         `podium.token.<join token>` (browsers: `new WebSocket(url, [\"podium\", \"podium.token.\" + token])`; \
         tools may send `Authorization: Bearer <join token>` instead). The server answers 101 with \
         `Sec-WebSocket-Protocol: podium`, or 401 without a valid, unexpired token (tokens in the query \
         string are refused: proxies log URLs), or 429 over `limits.connections_per_ip`. \
         Every message is one JSON text frame.\n\n\
         - Request (client to server): `{\"id\": 7, \"method\": \"consume\", \"data\": {...}}`. \
         `id` is the client's (a u32), echoed in the response; `data` may be omitted when empty.\n\
         - Response: `{\"response\": 7, \"ok\": true, \"data\": {...}}`, or \
         `{\"response\": 7, \"ok\": false, \"error\": {\"code\": \"forbidden\", \"message\": \"...\"}}`. \
         An error to a message whose id could not be read has no `response`.\n\
         - Notification (server to client): `{\"notification\": \"newProducer\", \"data\": {...}}`.\n\n\
         Requests on one connection are answered in order. Limits (config `[limits]`): message size \
         (larger: `too_large`; frames over 1 MiB close the connection with 1009), requests per second \
         with a burst (over: `rate_limited`), chat messages per user a minute (`rate_limited`) and chat \
         bytes per room a second (`limit_reached`), a bounded notification queue (a peer that cannot \
         keep up is closed with `closed {reason: \"tooSlow\"}`), `join` within `limits.join_timeout_secs` \
         (else `closed {reason: \"joinTimeout\"}`), and one live connection per user and room (a new \
         `join` closes the older one with `closed {reason: \"replaced\"}`; pages do not reconnect then). \
         In a cluster (docs/CLUSTER.md) the room's limit of peers counts every node: a peer admitted on \
         one node while the class filled up on others is closed right after its `join` with \
         `closed {reason: \"roomFull\"}` (pages say the class is full and do not reconnect). \
         A user kicked from a room is refused (`forbidden`) until their token expires or an admin lifts \
         the ban. Students receive peers without their `user` id; staff receive it.\n\n\
         Joining: `join` → load mediasoup-client's Device with `routerRtpCapabilities` → \
         `setRtpCapabilities` → `createTransport` (`recv`; `send` for teachers and students allowed to speak) → \
         `connectTransport` on the transport's `connect` event → `produce` / `consume` + `resumeConsumer`.\n\n\
         ## Requests\n\n",
    );
    let examples = request_examples();
    for v in variants(PROTOCOL_RS, "Request") {
        let method = lower_first(&v.name);
        let data = examples
            .get(method.as_str())
            .unwrap_or_else(|| panic!("no example for {method}"));
        let text = format!(r#"{{"id":1,"method":"{method}","data":{data}}}"#);
        let (_, parsed) = signaling::parse(&text)
            .unwrap_or_else(|e| panic!("example for {method}: {}", e.message));
        assert_eq!(parsed.method(), method);
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        )
        .unwrap();
        render_variant(&mut out, &v, &pretty);
    }

    out.push_str("## Responses\n\nThe `data` of a successful response, by request:\n\n");
    for v in variants(PROTOCOL_RS, "ResponseData") {
        let source = if v.name.starts_with("Recording") {
            RECORDING_RS
        } else {
            PROTOCOL_RS
        };
        let v = structure(source, &v.name);
        let methods: Vec<String> = RESPONSE_TYPES
            .iter()
            .filter(|(_, ty)| *ty == v.name)
            .map(|(m, _)| format!("`{m}`"))
            .collect();
        let v = Variant {
            doc: format!("{} (answers {})", v.doc, methods.join(", ")),
            ..v
        };
        let _ = writeln!(
            out,
            "- **{}**{}",
            v.name,
            if v.doc.is_empty() {
                String::new()
            } else {
                format!(": {}", v.doc)
            }
        );
        for (field, ty, doc) in &v.fields {
            let _ = writeln!(
                out,
                "  - `{field}`: `{ty}`{}",
                if doc.is_empty() {
                    String::new()
                } else {
                    format!(" — {doc}")
                }
            );
        }
    }
    out.push_str("\n## Notifications\n\n");
    let notifications = notification_examples();
    let by_name: BTreeMap<&str, &Notification> =
        notifications.iter().map(|n| (n.name(), n)).collect();
    for v in variants(PROTOCOL_RS, "Notification") {
        let name = lower_first(&v.name);
        let example = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("no example for {name}"));
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&example.to_text()).unwrap(),
        )
        .unwrap();
        render_variant(&mut out, &v, &pretty);
    }

    out.push_str("## Error codes\n\n| code | meaning |\n|---|---|\n");
    for v in variants(ERROR_RS, "ErrorCode") {
        let mut code = String::new();
        for (i, c) in v.name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                code.push('_');
            }
            code.extend(c.to_lowercase());
        }
        let _ = writeln!(out, "| `{code}` | {} |", v.doc);
    }
    out
}

#[test]
fn every_variant_is_documented_and_its_example_parses() {
    use strum::VariantNames;
    let documented: Vec<String> = variants(PROTOCOL_RS, "Request")
        .iter()
        .map(|v| lower_first(&v.name))
        .collect();
    assert_eq!(
        documented,
        Request::methods(),
        "the doc reader sees every request"
    );
    let examples: Vec<&str> = request_examples().keys().copied().collect();
    let mut variants_sorted = Request::methods().to_vec();
    variants_sorted.sort();
    assert_eq!(examples, variants_sorted, "one example per request");
    let mut notified: Vec<&str> = notification_examples()
        .iter()
        .map(Notification::name)
        .collect();
    notified.sort();
    let mut all = Notification::names().to_vec();
    all.sort();
    assert_eq!(notified, all, "one example per notification");
    assert_eq!(
        variants(ERROR_RS, "ErrorCode").len(),
        ErrorCode::VARIANTS.len()
    );
}

#[test]
fn protocol_md_is_up_to_date() {
    let fresh = render();
    if std::env::var_os("PODIUM_UPDATE_DOCS").is_some() {
        std::fs::write(DOC_PATH, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(DOC_PATH).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/PROTOCOL.md is stale: run PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol"
    );
}
