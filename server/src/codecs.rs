//! The codecs rooms route, from the `rtc.codecs` config list.

use crate::config::Codec;
use mediasoup::prelude::*;
use std::num::{NonZeroU8, NonZeroU32};

pub fn media_codecs(codecs: &[Codec]) -> Vec<RtpCodecCapability> {
    let video_feedback = || {
        vec![
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli,
            RtcpFeedback::CcmFir,
            RtcpFeedback::GoogRemb,
            RtcpFeedback::TransportCc,
        ]
    };
    codecs
        .iter()
        .map(|codec| match codec {
            Codec::Opus => RtpCodecCapability::Audio {
                mime_type: MimeTypeAudio::Opus,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(48000).expect("non-zero"),
                channels: NonZeroU8::new(2).expect("non-zero"),
                parameters: RtpCodecParametersParameters::from_iter([(
                    "useinbandfec",
                    1_u32.into(),
                )]),
                rtcp_feedback: vec![RtcpFeedback::TransportCc],
            },
            Codec::Vp8 => RtpCodecCapability::Video {
                mime_type: MimeTypeVideo::Vp8,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(90000).expect("non-zero"),
                parameters: RtpCodecParametersParameters::default(),
                rtcp_feedback: video_feedback(),
            },
            // Constrained baseline, packetization-mode 1: what every browser
            // sends and what RTMP ingests (IVS real-time) take without B-frames.
            Codec::H264 => RtpCodecCapability::Video {
                mime_type: MimeTypeVideo::H264,
                preferred_payload_type: None,
                clock_rate: NonZeroU32::new(90000).expect("non-zero"),
                parameters: RtpCodecParametersParameters::from_iter([
                    ("packetization-mode", 1_u32.into()),
                    ("level-asymmetry-allowed", 1_u32.into()),
                    ("profile-level-id", "42e01f".into()),
                ]),
                rtcp_feedback: video_feedback(),
            },
        })
        .collect()
}
