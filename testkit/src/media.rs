//! A real mediasoup worker and router, with the codecs Podium routes, and
//! the loopback listen info every test transport uses.

use mediasoup::prelude::*;
use std::net::Ipv4Addr;
use std::num::{NonZeroU8, NonZeroU32};

/// UDP on 127.0.0.1, any port.
pub fn loopback_listen_info() -> ListenInfo {
    ListenInfo {
        protocol: Protocol::Udp,
        ip: Ipv4Addr::LOCALHOST.into(),
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: None,
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    }
}

/// The codecs a Podium room routes with the default `rtc.codecs` (Opus,
/// VP8, H.264): a copy of podium-server's `codecs::media_codecs`, which
/// this crate cannot reach (the server depends on it). Kept equal by
/// server/tests/testkit_codecs.rs.
pub fn router_codecs() -> Vec<RtpCodecCapability> {
    let video_feedback = || {
        vec![
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli,
            RtcpFeedback::CcmFir,
            RtcpFeedback::GoogRemb,
            RtcpFeedback::TransportCc,
        ]
    };
    vec![
        RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(48000).unwrap(),
            channels: NonZeroU8::new(2).unwrap(),
            parameters: RtpCodecParametersParameters::from_iter([("useinbandfec", 1_u32.into())]),
            rtcp_feedback: vec![RtcpFeedback::TransportCc],
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: video_feedback(),
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::H264,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::from_iter([
                ("packetization-mode", 1_u32.into()),
                ("level-asymmetry-allowed", 1_u32.into()),
                ("profile-level-id", "42e01f".into()),
            ]),
            rtcp_feedback: video_feedback(),
        },
    ]
}

/// A worker and a router with [`router_codecs`]; GStreamer initialized.
pub struct Media {
    _manager: WorkerManager,
    /// The mediasoup worker.
    pub worker: Worker,
    /// A router with [`router_codecs`].
    pub router: Router,
}

impl Media {
    /// Initializes GStreamer, starts a worker and creates the router; panics on failure.
    pub async fn start() -> Self {
        gstreamer::init().unwrap();
        let manager = WorkerManager::new();
        let worker = manager
            .create_worker(WorkerSettings::default())
            .await
            .expect("mediasoup worker");
        let router = worker
            .create_router(RouterOptions::new(router_codecs()))
            .await
            .expect("router");
        Self {
            _manager: manager,
            worker,
            router,
        }
    }
}
