//! The media side of the bots, on str0m's sans-IO WebRTC: a few shard
//! threads, each one UDP socket and many students' `Rtc`s (ICE as the
//! controlling agent, DTLS client, SRTP), and one publisher thread for the
//! teacher. No async here: the signaling tasks hand configured `Rtc`s over.

pub mod impair;
mod publisher;
mod receiver;
mod shard;
pub mod udp;

pub use impair::Impairment;
pub use publisher::{Publisher, PublisherStats, TeacherMedia};
pub use shard::{BotView, Shard, ShardSnapshot, StreamSpec};

use str0m::config::DtlsCert;
use str0m::format::{Codec, FormatParams};
use str0m::media::Frequency;
use str0m::rtp::Extension;
use str0m::{Rtc, RtcConfig};

/// Payload types the bots announce (and the teacher sends with): those
/// mediasoup gives the server's codecs (`rtc.codecs`: Opus, VP8 and VP8's
/// RTX, in that order, from 100). `params::parse_consumed` checks them.
pub const PT_OPUS: u8 = 100;
pub const PT_VP8: u8 = 101;
pub const PT_VP8_RTX: u8 = 102;
/// mediasoup's bandwidth probation packets: SSRC 1234, payload type 127,
/// mid "probator". mediasoup-client receives them on a consumer of their own;
/// a receiver that drops them gives no transport-wide feedback for them, and
/// mediasoup's estimate never grows past its start.
pub const PT_PROBATOR: u8 = 127;
pub const SSRC_PROBATOR: u32 = 1234;
pub const MID_PROBATOR: &str = "probator";

/// The header extensions a browser-like student receives, with the ids every
/// mediasoup router uses (mediasoup's supported RTP capabilities).
pub const EXTENSIONS: [(u8, Extension); 7] = [
    (1, Extension::RtpMid),
    (4, Extension::AbsoluteSendTime),
    (5, Extension::TransportSequenceNumber),
    (6, Extension::AudioLevel),
    (8, Extension::VideoOrientation),
    (9, Extension::AbsoluteCaptureTime),
    (10, Extension::PlayoutDelay),
];

/// How students' WebRTC behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// What Chrome negotiates with mediasoup-client: VP8 with NACK, PLI,
    /// FIR, transport-cc and RTX, Opus with transport-cc, the header
    /// extensions; transport-wide feedback sent, lost packets NACKed, a PLI
    /// when a frame cannot be completed; no layer pinned (mediasoup picks it
    /// from its estimate).
    #[default]
    Browser,
    /// Opus and VP8 only, no repair, no feedback, a pinned layer: the
    /// cheapest bot, for the server's forwarding cost alone.
    Lean,
}

/// The parts of a student's join, as timed.
pub const JOIN_PHASES: [&str; 6] = [
    "websocket",
    "join",
    "createTransport",
    "connectTransport",
    "consume",
    "resumeConsumer",
];

/// A student's join attempt; a student who rejoins is a new bot.
pub type BotId = u64;

/// What bots (their signaling tasks and the shards) tell the orchestrator.
#[derive(Debug)]
pub enum BotEvent {
    /// Signaling done: every consumer resumed.
    Joined {
        bot: BotId,
        started: std::time::Instant,
        signaled: std::time::Instant,
        /// Milliseconds each part of the join took, by name (Podium's
        /// [`JOIN_PHASES`], or Janus's).
        phases: Vec<(&'static str, f64)>,
    },
    JoinFailed {
        bot: BotId,
        started: std::time::Instant,
        error: String,
    },
    /// ICE and DTLS done.
    Connected {
        bot: BotId,
        at: std::time::Instant,
    },
    FirstPacket {
        bot: BotId,
        kind: Kind,
        at: std::time::Instant,
    },
    MediaFailed {
        bot: BotId,
        reason: String,
    },
    /// The bot left (asked to, or the server closed it).
    Ended {
        bot: BotId,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Audio,
    Video,
}

/// One DTLS certificate for every bot: generating one per peer would cost
/// more than the rest of a join.
pub fn certificate() -> anyhow::Result<DtlsCert> {
    let provider = str0m::crypto::from_feature_flags();
    provider
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| anyhow::anyhow!("cannot generate a DTLS certificate"))
}

/// An `Rtc` in RTP mode with only Opus and VP8 (our payload types). Lean:
/// no header extensions and no statistics events, the cheapest str0m can
/// be. Browser: VP8's RTX, the header extensions of [`EXTENSIONS`], and
/// statistics every second (NACKs and PLIs sent).
pub fn new_rtc(cert: &DtlsCert, now: std::time::Instant, profile: Profile) -> Rtc {
    let mut config = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .clear_extension_map()
        .set_stats_interval(match profile {
            Profile::Browser => Some(std::time::Duration::from_secs(1)),
            Profile::Lean => None,
        })
        .set_dtls_cert(cert.clone());
    if profile == Profile::Browser {
        for (id, extension) in EXTENSIONS {
            config = config.set_extension(id, extension);
        }
    }
    let codecs = config.codec_config();
    codecs.add_config(
        PT_OPUS.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams::default(),
    );
    codecs.add_config(
        PT_VP8.into(),
        (profile == Profile::Browser).then(|| PT_VP8_RTX.into()),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    if profile == Profile::Browser {
        codecs.add_config(
            PT_PROBATOR.into(),
            None,
            Codec::Vp8,
            Frequency::NINETY_KHZ,
            None,
            FormatParams::default(),
        );
    }
    config.build(now)
}
