//! Shared parts of the end-to-end tests: captured logs, a real mediasoup
//! worker and router, a GStreamer RTP sender feeding PlainTransport
//! producers, a local nginx-rtmp (with TLS in front), and ffprobe.
#![allow(dead_code)]

pub mod ingest;
pub mod probe;
pub mod sender;

use mediasoup::prelude::*;
use parking_lot::Mutex;
use podium_egress::{DestinationState, Egress, EgressState, EgressStatus};
use std::io::Write;
use std::num::{NonZeroU8, NonZeroU32};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Every tracing line of the test process, to grep for secrets.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>, bool);

impl Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        if self.1 {
            std::io::stderr().write_all(bytes)?;
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per test binary), at trace
/// level for this crate so every log line it can write is checked. The
/// lines also go to stderr with `EGRESS_TEST_LOG=1`.
pub fn logs() -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let echo = std::env::var_os("EGRESS_TEST_LOG").is_some();
        tracing_subscriber::fmt()
            .with_env_filter("podium_egress=trace,info")
            .with_ansi(false)
            .with_writer(move || CaptureWriter(Arc::clone(&writer), echo))
            .init();
        LogCapture { buffer }
    })
}

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock()).into_owned()
    }

    /// Fails if `secret` appears in any log line so far.
    pub fn assert_absent(&self, secret: &str) {
        let text = self.text();
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "stream key found in logs: {hits:#?}");
        assert!(
            !text.is_empty(),
            "no log captured: the check would prove nothing"
        );
    }
}

/// The default config, with the local ingests (127.0.0.1) allowlisted: the
/// network policy refuses loopback destinations otherwise.
pub fn config() -> podium_egress::EgressConfig {
    podium_egress::EgressConfig {
        network: local_network(),
        ..podium_egress::EgressConfig::default()
    }
}

pub fn local_network() -> podium_egress::NetworkPolicy {
    podium_egress::NetworkPolicy::allowing(["127.0.0.1"])
}

/// A fresh random stream key, unlikely to appear anywhere by chance.
pub fn stream_key() -> String {
    format!("sk_test_{}", uuid::Uuid::new_v4().simple())
}

pub struct Media {
    _manager: WorkerManager,
    pub worker: Worker,
    pub router: Router,
}

/// A worker and a router with the codecs Podium routes (as server/codecs.rs).
pub async fn media() -> Media {
    gstreamer::init().unwrap();
    let manager = WorkerManager::new();
    let worker = manager
        .create_worker(WorkerSettings::default())
        .await
        .expect("mediasoup worker");
    let router = worker
        .create_router(RouterOptions::new(codecs()))
        .await
        .expect("router");
    Media {
        _manager: manager,
        worker,
        router,
    }
}

fn codecs() -> Vec<RtpCodecCapability> {
    let feedback = || {
        vec![
            RtcpFeedback::Nack,
            RtcpFeedback::NackPli,
            RtcpFeedback::CcmFir,
        ]
    };
    vec![
        RtpCodecCapability::Audio {
            mime_type: MimeTypeAudio::Opus,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(48000).unwrap(),
            channels: NonZeroU8::new(2).unwrap(),
            parameters: RtpCodecParametersParameters::from_iter([("useinbandfec", 1_u32.into())]),
            rtcp_feedback: vec![],
        },
        RtpCodecCapability::Video {
            mime_type: MimeTypeVideo::Vp8,
            preferred_payload_type: None,
            clock_rate: NonZeroU32::new(90000).unwrap(),
            parameters: RtpCodecParametersParameters::default(),
            rtcp_feedback: feedback(),
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
            rtcp_feedback: feedback(),
        },
    ]
}

/// Waits until `check` holds for the egress status, or panics with the
/// last status after `timeout`.
pub async fn wait_for(
    egress: &Egress,
    timeout: Duration,
    what: &str,
    check: impl Fn(&EgressStatus) -> bool,
) -> EgressStatus {
    let deadline = Instant::now() + timeout;
    let mut rx = egress.subscribe();
    loop {
        let status = rx.borrow_and_update().clone();
        if check(&status) {
            return status;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("timed out waiting for {what}; last status: {status:#?}");
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(250)), rx.changed()).await;
    }
}

pub fn destination_live(status: &EgressStatus, index: usize) -> bool {
    status
        .destinations
        .get(index)
        .is_some_and(|d| d.state == DestinationState::Live)
}

pub fn is_live(status: &EgressStatus) -> bool {
    status.state == EgressState::Live
}

/// Prints a status line for the test log.
pub fn show(status: &EgressStatus) {
    println!(
        "egress {:?}: {:.1} fps, {} kbit/s muxed; {}",
        status.state,
        status.stats.fps,
        status.stats.bitrate_bps / 1000,
        status
            .destinations
            .iter()
            .map(|d| format!(
                "{} {:?} {} kbit/s",
                d.url,
                d.state,
                d.stats.bitrate_bps / 1000
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// A custom destination: `<base>/<key>`.
pub fn destination(base: &str, key: &str) -> podium_egress::DestinationSpec {
    podium_egress::DestinationSpec::new(
        podium_egress::Ingest::Custom {
            url: base.to_owned(),
        },
        podium_egress::StreamKey::new(key),
    )
}

/// ffprobe on a blocking thread.
pub async fn probe(url: String, seconds: u32) -> probe::Probe {
    let probe = tokio::task::spawn_blocking(move || probe::ffprobe(&url, seconds))
        .await
        .unwrap();
    println!("ffprobe: {}", probe.report());
    probe
}

/// Frames kept coming over a probe of `seconds`: the span of video
/// timestamps (less the wait for a first keyframe and ffprobe's start) and
/// a frame rate a player can use. Strict figures are checked by the
/// single-destination tests; this is for "still flowing after X".
pub fn assert_flowing(probe: &probe::Probe, seconds: u32) {
    assert!(
        probe.duration() >= f64::from(seconds) - 2.5 && probe.fps() >= 20.0,
        "frames did not keep coming: {}",
        probe.report()
    );
}
