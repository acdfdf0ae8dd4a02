//! The media side of the bots, on str0m's sans-IO WebRTC: a few shard
//! threads, each one UDP socket and many students' `Rtc`s (ICE as the
//! controlling agent, DTLS client, SRTP), and one publisher thread for the
//! teacher. No async here: the signaling tasks hand configured `Rtc`s over.

mod publisher;
mod receiver;
mod shard;
pub mod udp;

pub use publisher::{Publisher, PublisherStats, TeacherMedia};
pub use shard::{Shard, ShardSnapshot, StreamSpec};

use str0m::config::DtlsCert;
use str0m::format::{Codec, FormatParams};
use str0m::media::Frequency;
use str0m::{Rtc, RtcConfig};

/// Payload types the bots announce (and the teacher sends with).
pub const PT_OPUS: u8 = 100;
pub const PT_VP8: u8 = 101;

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
        /// Milliseconds each part of the join took, in [`JOIN_PHASES`] order.
        phases: [f64; JOIN_PHASES.len()],
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

/// An `Rtc` in RTP mode with only Opus and VP8 (our payload types), no
/// header extensions and no statistics events: the cheapest str0m can be.
pub fn new_rtc(cert: &DtlsCert, now: std::time::Instant) -> Rtc {
    let mut config = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .clear_extension_map()
        .set_stats_interval(None)
        .set_dtls_cert(cert.clone());
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
        None,
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    config.build(now)
}
