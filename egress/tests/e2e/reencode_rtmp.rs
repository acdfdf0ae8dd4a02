//! VP8 in, H.264 out: a real producer re-encoded and pushed over RTMP to a
//! local nginx-rtmp; ffprobe checks what a player receives.
//! Run by `egress/run-e2e.sh` (ignored in a plain `cargo test`).

use crate::support;
use podium_egress::{
    DestinationSpec, Egress, EgressSpec, EgressState, Ingest, Preset, StopReason, StreamKey,
    VideoPath,
};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn vp8_is_reencoded_to_720p30_cbr_with_2s_keyframes() {
    let logs = support::logs();
    let media = Media::start().await;
    let nginx = Nginx::started(false);
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 640,
            height: 360,
        },
    )
    .await;
    let key = support::stream_key();
    let mut spec = EgressSpec::new(
        "room-reencode",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![DestinationSpec::new(
            Ingest::Custom {
                url: nginx.rtmp_url(),
            },
            StreamKey::new(key.clone()),
        )],
    );
    spec.preset = Preset::Twitch;
    let target_kbps = Preset::Twitch.output().video_kbps;
    let started = Instant::now();
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    let status =
        support::wait_for(&egress, Duration::from_secs(15), "live", support::is_live).await;
    println!("live {:?} after start", started.elapsed());
    assert_eq!(
        status.input.as_ref().unwrap().video_path,
        VideoPath::Reencode
    );
    let factories = egress.element_factories().await.unwrap();
    assert!(factories.iter().any(|f| f == "x264enc"), "{factories:?}");

    tokio::time::sleep(Duration::from_secs(2)).await;
    support::show(&egress.status());
    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 12).await;
    support::show(&egress.status());

    assert_eq!(probe.video_codec, "h264");
    assert_eq!((probe.width, probe.height), (1280, 720));
    assert_eq!(probe.video_profile, "Main");
    assert!((28.5..=31.5).contains(&probe.fps()), "fps {}", probe.fps());
    assert!(
        probe.duration() >= 10.0,
        "frames stopped: {:.1} s",
        probe.duration()
    );
    let intervals = probe.keyframe_intervals();
    assert!(intervals.len() >= 4, "keyframes: {intervals:?}");
    for interval in &intervals {
        assert!(
            (interval - 2.0).abs() < 0.05,
            "keyframe interval {interval}"
        );
    }
    let kbps = probe.video_kbps();
    assert!(
        (target_kbps as f64 * 0.85..=target_kbps as f64 * 1.15).contains(&kbps),
        "video {kbps:.0} kbit/s, target {target_kbps}"
    );
    assert_eq!(probe.audio_codec, "aac");
    assert_eq!(probe.audio_profile, "LC");
    assert_eq!((probe.sample_rate, probe.channels), (48000, 2));
    assert!(
        probe.audio_packets > 400,
        "audio packets {}",
        probe.audio_packets
    );

    egress.stop().await;
    assert_eq!(
        egress.status().state,
        EgressState::Stopped {
            reason: StopReason::Requested
        }
    );
    logs.assert_absent(&key);
}
