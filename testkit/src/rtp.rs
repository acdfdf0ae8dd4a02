//! Plain RTP for tests that talk to the worker without a browser: the Opus
//! parameters a sender declares and a receiver accepts, and packets built
//! and read by hand. [`crate::sender`] declares its audio the same way.

use mediasoup::prelude::*;
use std::num::{NonZeroU8, NonZeroU32};

pub use crate::media::loopback_listen_info;

/// The RTP payload type of Opus in these helpers and in [`crate::sender`].
pub const OPUS_PT: u8 = 100;

/// Opus as a router codec, nothing else.
pub fn opus_codec() -> RtpCodecCapability {
    RtpCodecCapability::Audio {
        mime_type: MimeTypeAudio::Opus,
        preferred_payload_type: None,
        clock_rate: NonZeroU32::new(48000).unwrap(),
        channels: NonZeroU8::new(2).unwrap(),
        parameters: RtpCodecParametersParameters::default(),
        rtcp_feedback: vec![],
    }
}

/// What a sender of Opus (payload type [`OPUS_PT`]) with `ssrc` declares to
/// `produce`.
pub fn opus_send_parameters(ssrc: u32) -> RtpParameters {
    RtpParameters {
        mid: None,
        codecs: vec![RtpCodecParameters::Audio {
            mime_type: MimeTypeAudio::Opus,
            payload_type: OPUS_PT,
            clock_rate: NonZeroU32::new(48000).unwrap(),
            channels: NonZeroU8::new(2).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![],
        }],
        header_extensions: vec![],
        encodings: vec![RtpEncodingParameters {
            ssrc: Some(ssrc),
            ..RtpEncodingParameters::default()
        }],
        rtcp: RtcpParameters {
            cname: Some("podium-test".into()),
            reduced_size: true,
        },
        msid: None,
    }
}

/// Receive capabilities of an endpoint that decodes Opus only.
pub fn opus_receive_capabilities() -> RtpCapabilities {
    RtpCapabilities {
        codecs: vec![RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: Some(OPUS_PT),
            clock_rate: NonZeroU32::new(48000).unwrap(),
            channels: NonZeroU8::new(2).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: vec![],
        }],
        header_extensions: vec![],
    }
}

/// An RTP packet: 12-byte header, then `payload`.
pub fn rtp_packet(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.extend_from_slice(&[0x80, pt & 0x7f]);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RTCP (payload types 200..=206) or RTP, by RFC 5761's rule.
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 2 && (200..=206).contains(&packet[1])
}

/// The payload of an RTP packet without extensions, padding or CSRCs
/// (what the worker forwards here).
pub fn rtp_payload(packet: &[u8]) -> &[u8] {
    let csrcs = usize::from(packet[0] & 0x0f) * 4;
    let mut offset = 12 + csrcs;
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([packet[offset + 2], packet[offset + 3]]) as usize;
        offset += 4 + words * 4;
    }
    &packet[offset..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip() {
        let packet = rtp_packet(OPUS_PT, 7, 960, 42, b"opus");
        assert!(!is_rtcp(&packet));
        assert_eq!(rtp_payload(&packet), b"opus");
        assert!(is_rtcp(&[0x80, 200, 0, 1]));
    }
}
