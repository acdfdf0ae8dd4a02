//! What a bot tells Podium about media and reads back: its RTP capabilities,
//! the transport the server created, DTLS parameters, what `consume` answers
//! and what the teacher `produce`s. Pure functions of the protocol's types
//! (`podium-protocol`, mediasoup's data types); tested.

use crate::engine::{
    EXTENSIONS, Kind, PT_OPUS, PT_VP8, PT_VP8_RTX, Profile, StreamSpec, TeacherMedia,
};
use anyhow::{Context, bail};
use mediasoup_types::data_structures::{DtlsFingerprint, DtlsParameters, DtlsRole, Protocol};
use mediasoup_types::rtp_parameters::{
    MediaKind, MimeTypeAudio, MimeTypeVideo, RtcpFeedback, RtcpParameters, RtpCapabilities,
    RtpCodecCapability, RtpCodecParameters, RtpCodecParametersParameters, RtpEncodingParameters,
    RtpHeaderExtension, RtpHeaderExtensionDirection, RtpHeaderExtensionUri, RtpParameters,
};
use podium_protocol::{ConsumerId, ConsumerType, Request, Source, TransportCreated, TransportId};
use std::net::{IpAddr, SocketAddr};
use std::num::{NonZeroU8, NonZeroU32};
use str0m::config::Fingerprint;
use str0m::rtp::Extension;

const OPUS_CLOCK_RATE: NonZeroU32 = NonZeroU32::new(48_000).unwrap();
const VP8_CLOCK_RATE: NonZeroU32 = NonZeroU32::new(90_000).unwrap();
const STEREO: NonZeroU8 = NonZeroU8::new(2).unwrap();
const CNAME: &str = "podium-load-teacher";

/// What the bots can receive. Lean: Opus and VP8, without RTX, NACK,
/// transport-cc or header extensions, so every gap in sequence numbers is a
/// loss. Browser: what Chrome announces through mediasoup-client for these
/// codecs: transport-cc on both, NACK, PLI, FIR and REMB on VP8 with its RTX,
/// and the header extensions of [`EXTENSIONS`] (mid, abs-send-time,
/// transport-wide-cc, and those Chrome takes when receiving).
pub fn rtp_capabilities(profile: Profile) -> RtpCapabilities {
    let browser = profile == Profile::Browser;
    let mut codecs = vec![
        RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: Some(PT_OPUS),
            clock_rate: OPUS_CLOCK_RATE,
            channels: STEREO,
            parameters: if browser {
                RtpCodecParametersParameters::from([
                    ("minptime", 10_u32.into()),
                    ("useinbandfec", 1_u32.into()),
                ])
            } else {
                RtpCodecParametersParameters::default()
            },
            rtcp_feedback: if browser {
                vec![RtcpFeedback::TransportCc]
            } else {
                vec![]
            },
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: Some(PT_VP8),
            clock_rate: VP8_CLOCK_RATE,
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: if browser {
                vec![
                    RtcpFeedback::GoogRemb,
                    RtcpFeedback::TransportCc,
                    RtcpFeedback::CcmFir,
                    RtcpFeedback::Nack,
                    RtcpFeedback::NackPli,
                ]
            } else {
                vec![]
            },
        },
    ];
    if browser {
        codecs.push(RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Rtx,
            preferred_payload_type: Some(PT_VP8_RTX),
            clock_rate: VP8_CLOCK_RATE,
            parameters: RtpCodecParametersParameters::from([("apt", u32::from(PT_VP8).into())]),
            rtcp_feedback: vec![],
        });
    }
    let header_extensions = if browser {
        EXTENSIONS
            .iter()
            .flat_map(|(id, extension)| {
                header_extension_uri(extension)
                    .into_iter()
                    .flat_map(move |(uri, kinds)| {
                        kinds.iter().map(move |kind| RtpHeaderExtension {
                            kind: *kind,
                            uri,
                            preferred_id: u16::from(*id),
                            preferred_encrypt: false,
                            direction: RtpHeaderExtensionDirection::SendRecv,
                        })
                    })
            })
            .collect()
    } else {
        vec![]
    };
    RtpCapabilities {
        codecs,
        header_extensions,
    }
}

/// mediasoup's name of a str0m header extension, and the kinds it is for.
fn header_extension_uri(
    extension: &Extension,
) -> Option<(RtpHeaderExtensionUri, &'static [MediaKind])> {
    const BOTH: &[MediaKind] = &[MediaKind::Audio, MediaKind::Video];
    Some(match extension {
        Extension::RtpMid => (RtpHeaderExtensionUri::Mid, BOTH),
        Extension::AbsoluteSendTime => (RtpHeaderExtensionUri::AbsSendTime, &[MediaKind::Video]),
        Extension::TransportSequenceNumber => (RtpHeaderExtensionUri::TransportWideCcDraft01, BOTH),
        Extension::AudioLevel => (RtpHeaderExtensionUri::SsrcAudioLevel, &[MediaKind::Audio]),
        Extension::VideoOrientation => {
            (RtpHeaderExtensionUri::VideoOrientation, &[MediaKind::Video])
        }
        Extension::AbsoluteCaptureTime => (RtpHeaderExtensionUri::AbsCaptureTime, BOTH),
        Extension::PlayoutDelay => (RtpHeaderExtensionUri::PlayoutDelay, BOTH),
        _ => return None,
    })
}

/// A WebRtcTransport as `createTransport` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTransport {
    pub id: TransportId,
    pub ufrag: String,
    pub password: String,
    /// Its UDP host candidate.
    pub udp: SocketAddr,
    pub fingerprint: Fingerprint,
}

pub fn parse_transport(created: &TransportCreated) -> anyhow::Result<RemoteTransport> {
    let candidate = created
        .ice_candidates
        .iter()
        .find(|c| c.protocol == Protocol::Udp)
        .context("createTransport: no UDP candidate")?;
    let (address, port) = (&candidate.address, candidate.port);
    let ip: IpAddr = address
        .parse()
        .with_context(|| format!("createTransport: candidate address {address}:{port}"))?;
    let fingerprint = created
        .dtls_parameters
        .fingerprints
        .iter()
        .find_map(|f| match f {
            DtlsFingerprint::Sha256 { value } => Some(value),
            _ => None,
        })
        .context("createTransport: no sha-256 fingerprint")?;
    Ok(RemoteTransport {
        id: created.id,
        ufrag: created.ice_parameters.username_fragment.clone(),
        password: created.ice_parameters.password.clone(),
        udp: SocketAddr::new(ip, port),
        fingerprint: Fingerprint {
            hash_func: "sha-256".to_owned(),
            bytes: fingerprint.to_vec(),
        },
    })
}

/// `connectTransport`'s dtlsParameters for a bot that is the DTLS client.
pub fn dtls_parameters(local: &Fingerprint) -> anyhow::Result<DtlsParameters> {
    fn value<const N: usize>(local: &Fingerprint) -> anyhow::Result<[u8; N]> {
        local.bytes.as_slice().try_into().with_context(|| {
            format!(
                "a {} fingerprint of {} bytes",
                local.hash_func,
                local.bytes.len()
            )
        })
    }
    let fingerprint = match local.hash_func.as_str() {
        "sha-1" => DtlsFingerprint::Sha1 {
            value: value(local)?,
        },
        "sha-224" => DtlsFingerprint::Sha224 {
            value: value(local)?,
        },
        "sha-256" => DtlsFingerprint::Sha256 {
            value: value(local)?,
        },
        "sha-384" => DtlsFingerprint::Sha384 {
            value: value(local)?,
        },
        "sha-512" => DtlsFingerprint::Sha512 {
            value: value(local)?,
        },
        other => bail!("fingerprint algorithm {other:?}"),
    };
    Ok(DtlsParameters {
        role: DtlsRole::Client,
        fingerprints: vec![fingerprint],
    })
}

/// A consumer as `consume` answers it, as the bot's shard needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub id: ConsumerId,
    pub kind: Kind,
    pub simulcast: bool,
    pub stream: StreamSpec,
}

/// Reads a `consume` answer. The payload types and header extension ids
/// must be those the bots' `Rtc` was built with (mediasoup's, see
/// `crate::engine`): a server that assigns others is an error, not silent
/// loss.
pub fn parse_consumed(consumed: &podium_protocol::Consumed) -> anyhow::Result<Consumer> {
    let kind = match consumed.kind {
        MediaKind::Audio => Kind::Audio,
        MediaKind::Video => Kind::Video,
    };
    let rtp = &consumed.rtp_parameters;
    let mid = rtp.mid.clone().context("consume: no mid")?;
    let encoding = rtp.encodings.first().context("consume: no encoding")?;
    let ssrc = encoding.ssrc.context("consume: no ssrc")?;
    let clock_rate = rtp
        .codecs
        .first()
        .map(|c| c.clock_rate().get())
        .context("consume: no clockRate")?;
    for codec in &rtp.codecs {
        let expected = match codec {
            RtpCodecParameters::Audio {
                mime_type: MimeTypeAudio::Opus,
                ..
            } => PT_OPUS,
            RtpCodecParameters::Video {
                mime_type: MimeTypeVideo::Vp8,
                ..
            } => PT_VP8,
            RtpCodecParameters::Video {
                mime_type: MimeTypeVideo::Rtx,
                ..
            } => PT_VP8_RTX,
            _ => continue,
        };
        if codec.payload_type() != expected {
            bail!(
                "consume: the server sends {:?} as payload type {}, the bots expect {expected}",
                codec.mime_type(),
                codec.payload_type()
            );
        }
    }
    for extension in &rtp.header_extensions {
        let ours = EXTENSIONS
            .iter()
            .find(|(_, e)| header_extension_uri(e).is_some_and(|(uri, _)| uri == extension.uri));
        if let Some((id, _)) = ours
            && u16::from(*id) != extension.id
        {
            bail!(
                "consume: the server uses id {} for {:?}, the bots {id}",
                extension.id,
                extension.uri
            );
        }
    }
    Ok(Consumer {
        id: consumed.consumer_id,
        kind,
        simulcast: consumed.consumer_type == ConsumerType::Simulcast,
        stream: StreamSpec {
            mid,
            ssrc,
            rtx_ssrc: encoding.rtx.as_ref().map(|r| r.ssrc),
            kind,
            clock_rate,
        },
    })
}

fn rtcp() -> RtcpParameters {
    RtcpParameters {
        cname: Some(CNAME.to_owned()),
        reduced_size: true,
    }
}

/// `produce` for the teacher's microphone.
pub fn produce_audio(transport_id: TransportId, media: &TeacherMedia) -> Request {
    Request::Produce {
        transport_id,
        kind: MediaKind::Audio,
        source: Source::Mic,
        rtp_parameters: RtpParameters {
            mid: None,
            codecs: vec![RtpCodecParameters::Audio {
                mime_type: MimeTypeAudio::Opus,
                payload_type: PT_OPUS,
                clock_rate: OPUS_CLOCK_RATE,
                channels: STEREO,
                parameters: RtpCodecParametersParameters::from([("useinbandfec", 1_u32.into())]),
                rtcp_feedback: vec![],
            }],
            header_extensions: vec![],
            encodings: vec![RtpEncodingParameters {
                ssrc: Some(media.audio_ssrc),
                ..RtpEncodingParameters::default()
            }],
            rtcp: rtcp(),
            msid: None,
        },
    }
}

/// `produce` for the teacher's camera: one encoding per simulcast layer,
/// lowest first, told apart by SSRC.
pub fn produce_video(transport_id: TransportId, media: &TeacherMedia, max_kbps: &[u32]) -> Request {
    let encodings = media
        .video_ssrcs
        .iter()
        .zip(max_kbps)
        .map(|(ssrc, kbps)| RtpEncodingParameters {
            ssrc: Some(*ssrc),
            max_bitrate: Some(u64::from(kbps * 1000 * 3 / 2)),
            ..RtpEncodingParameters::default()
        })
        .collect();
    Request::Produce {
        transport_id,
        kind: MediaKind::Video,
        source: Source::Camera,
        rtp_parameters: RtpParameters {
            mid: None,
            codecs: vec![RtpCodecParameters::Video {
                mime_type: MimeTypeVideo::Vp8,
                payload_type: PT_VP8,
                clock_rate: VP8_CLOCK_RATE,
                parameters: RtpCodecParametersParameters::default(),
                rtcp_feedback: vec![RtcpFeedback::NackPli, RtcpFeedback::CcmFir],
            }],
            header_extensions: vec![],
            encodings,
            rtcp: rtcp(),
            msid: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::encode;
    use serde_json::{Value, json};

    const TRANSPORT_ID: &str = "5f0c1e2a-8d4b-4c6e-9a1f-2b3c4d5e6f70";
    const SHA256: &str = "AB:CD:EF:00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C";

    /// A `createTransport` answer as the server sends it.
    fn transport() -> Value {
        json!({
            "id": TRANSPORT_ID,
            "iceParameters": { "usernameFragment": "uf", "password": "pw", "iceLite": true },
            "iceCandidates": [
                { "foundation": "tcp", "priority": 1, "address": "127.0.0.1", "protocol": "tcp", "port": 40001, "type": "host", "tcpType": "passive" },
                { "foundation": "udp", "priority": 2, "address": "127.0.0.1", "protocol": "udp", "port": 40000, "type": "host" }
            ],
            "dtlsParameters": { "role": "auto", "fingerprints": [
                { "algorithm": "sha-1", "value": "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33" },
                { "algorithm": "sha-256", "value": SHA256 }
            ] },
            "iceServers": [],
            "iceTransportPolicy": "all"
        })
    }

    fn read(value: Value) -> anyhow::Result<RemoteTransport> {
        parse_transport(&serde_json::from_value(value)?)
    }

    /// The `data` of a request as it goes on the wire, after checking that
    /// the server's parser takes it.
    fn wire(request: &Request) -> Value {
        let text = encode(1, request);
        podium_protocol::signaling::parse(&text).expect("the server reads it");
        serde_json::from_str::<Value>(&text).unwrap()["data"].take()
    }

    #[test]
    fn reads_a_transport() {
        let t = read(transport()).unwrap();
        assert_eq!(t.id.to_string(), TRANSPORT_ID);
        assert_eq!(t.udp, "127.0.0.1:40000".parse().unwrap());
        assert_eq!((t.ufrag.as_str(), t.password.as_str()), ("uf", "pw"));
        assert_eq!(t.fingerprint.hash_func, "sha-256");
        assert_eq!(t.fingerprint.bytes[..4], [0xab, 0xcd, 0xef, 0x00]);
        assert_eq!(t.fingerprint.bytes.len(), 32);
        let mut broken = transport();
        broken["iceCandidates"] = json!([]);
        assert!(read(broken).is_err());
        let mut no_sha256 = transport();
        no_sha256["dtlsParameters"]["fingerprints"]
            .as_array_mut()
            .unwrap()
            .pop();
        assert!(read(no_sha256).is_err());
        let mut bad_fingerprint = transport();
        bad_fingerprint["dtlsParameters"]["fingerprints"][1]["value"] = json!("zz");
        assert!(read(bad_fingerprint).is_err());
    }

    #[test]
    fn dtls_parameters_round_trip() {
        let t = read(transport()).unwrap();
        let dtls = dtls_parameters(&t.fingerprint).unwrap();
        let v = wire(&Request::ConnectTransport {
            transport_id: t.id,
            dtls_parameters: dtls,
        });
        assert_eq!(
            v,
            json!({
                "transportId": TRANSPORT_ID,
                "dtlsParameters": {
                    "role": "client",
                    "fingerprints": [{ "algorithm": "sha-256", "value": SHA256 }]
                }
            })
        );
        let short = Fingerprint {
            hash_func: "sha-256".into(),
            bytes: vec![0x01, 0xa0, 0xff],
        };
        assert!(dtls_parameters(&short).is_err());
        let unknown = Fingerprint {
            hash_func: "md5".into(),
            bytes: vec![0; 16],
        };
        assert!(dtls_parameters(&unknown).is_err());
    }

    #[test]
    fn reads_a_consumer() {
        let data = json!({
            "consumerId": "0e9f3a54-0b8e-4f7a-a0a5-6d1c2b3a4f5e",
            "producerId": "9d2c7b0e-52a1-4e6b-8c3d-1f0a2b3c4d5e",
            "peerId": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
            "kind": "video", "source": "camera", "type": "simulcast", "producerPaused": false,
            "rtpParameters": {
                "mid": "1",
                "codecs": [{ "mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000 }],
                "headerExtensions": [],
                "encodings": [{ "ssrc": 123456 }],
                "rtcp": { "reducedSize": true }
            }
        });
        let c = parse_consumed(&serde_json::from_value(data.clone()).unwrap()).unwrap();
        assert_eq!(c.id.to_string(), "0e9f3a54-0b8e-4f7a-a0a5-6d1c2b3a4f5e");
        assert!(c.simulcast);
        assert_eq!(c.stream.mid, "1");
        assert_eq!(c.stream.ssrc, 123_456);
        assert_eq!(c.stream.clock_rate, 90_000);
        assert_eq!(c.kind, Kind::Video);
        let mut no_ssrc = data;
        no_ssrc["rtpParameters"]["encodings"] = json!([]);
        assert!(parse_consumed(&serde_json::from_value(no_ssrc).unwrap()).is_err());
    }

    /// The typed requests say exactly what the JSON the bots used to write said.
    #[test]
    fn requests_are_the_bots_json() {
        assert_eq!(
            wire(&Request::SetRtpCapabilities {
                rtp_capabilities: rtp_capabilities(Profile::Lean)
            }),
            json!({ "rtpCapabilities": {
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
            } })
        );
        let t: TransportId = TRANSPORT_ID.parse().unwrap();
        let media = TeacherMedia::new(3);
        assert_eq!(
            wire(&produce_audio(t, &media)),
            json!({
                "transportId": TRANSPORT_ID,
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
        );
        let video = wire(&produce_video(t, &media, &[150, 500, 1200]));
        assert_eq!(
            video,
            json!({
                "transportId": TRANSPORT_ID,
                "kind": "video",
                "source": "camera",
                "rtpParameters": {
                    "codecs": [{
                        "mimeType": "video/VP8", "payloadType": PT_VP8, "clockRate": 90000,
                        "parameters": {},
                        "rtcpFeedback": [ { "type": "nack", "parameter": "pli" }, { "type": "ccm", "parameter": "fir" } ]
                    }],
                    "headerExtensions": [],
                    "encodings": [
                        { "ssrc": media.video_ssrcs[0], "maxBitrate": 225_000 },
                        { "ssrc": media.video_ssrcs[1], "maxBitrate": 750_000 },
                        { "ssrc": media.video_ssrcs[2], "maxBitrate": 1_800_000 }
                    ],
                    "rtcp": { "cname": "podium-load-teacher", "reducedSize": true }
                }
            })
        );
    }

    #[test]
    fn produce_requests_carry_every_layer() {
        let media = TeacherMedia::new(3);
        let t = TransportId::new();
        let Request::Produce { rtp_parameters, .. } = produce_video(t, &media, &[150, 500, 1200])
        else {
            panic!("not a produce");
        };
        assert_eq!(rtp_parameters.encodings.len(), 3);
        assert_eq!(rtp_parameters.encodings[0].ssrc, Some(media.video_ssrcs[0]));
        let Request::Produce { rtp_parameters, .. } = produce_audio(t, &media) else {
            panic!("not a produce");
        };
        assert_eq!(rtp_parameters.encodings[0].ssrc, Some(media.audio_ssrc));
    }
}
