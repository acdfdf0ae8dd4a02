//! H.264 in, H.264 out without decoding: depayload, parse, mux. The sender
//! makes a keyframe only every 10 s unless asked; the output has one every
//! 2 s because the egress asks mediasoup for them (PLI to the producer).

use crate::support;
use podium_egress::{Egress, EgressSpec, Preset, VideoPath};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn h264_passes_through_with_requested_keyframes() {
    let logs = support::logs();
    let media = Media::start().await;
    let nginx = Nginx::started(false);
    let sender = Sender::start(
        &media.router,
        VideoIn::H264 {
            width: 1280,
            height: 720,
            gop: 300,
        },
    )
    .await;
    let key = support::stream_key();
    let mut spec = EgressSpec::new(
        "room-passthrough",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![support::destination(&nginx.rtmp_url(), &key)],
    );
    // IVS's rules: baseline, which the constrained-baseline input meets.
    spec.preset = Preset::Ivs;
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    let status =
        support::wait_for(&egress, Duration::from_secs(15), "live", support::is_live).await;
    assert_eq!(
        status.input.as_ref().unwrap().video_path,
        VideoPath::Passthrough
    );

    // No video decoder or encoder in the pipeline.
    let factories = egress.element_factories().await.unwrap();
    println!("pipeline: {factories:?}");
    for forbidden in [
        "x264enc",
        "avdec_h264",
        "vp8dec",
        "videoconvert",
        "videoscale",
    ] {
        assert!(
            !factories.iter().any(|f| f == forbidden),
            "{forbidden} in {factories:?}"
        );
    }
    for factory in &factories {
        let klass = gstreamer::ElementFactory::find(factory)
            .and_then(|f| f.metadata("klass").map(str::to_owned))
            .unwrap_or_default();
        assert!(
            !(klass.contains("Video") && (klass.contains("Encoder") || klass.contains("Decoder"))),
            "{factory} is a video codec ({klass})"
        );
    }
    assert!(factories.iter().any(|f| f == "rtph264depay"));
    assert!(factories.iter().any(|f| f == "h264parse"));

    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 12).await;
    support::show(&egress.status());
    assert_eq!(probe.video_codec, "h264");
    assert_eq!((probe.width, probe.height), (1280, 720));
    assert!(
        probe.video_profile.contains("Baseline"),
        "{}",
        probe.video_profile
    );
    assert!((28.0..=32.0).contains(&probe.fps()), "fps {}", probe.fps());
    assert!(
        probe.duration() >= 10.0,
        "frames stopped: {:.1} s",
        probe.duration()
    );
    let intervals = probe.keyframe_intervals();
    assert!(intervals.len() >= 4, "keyframes: {intervals:?}");
    for interval in &intervals {
        assert!(
            (1.75..=2.25).contains(interval),
            "keyframe interval {interval}"
        );
    }
    assert_eq!(
        (
            probe.audio_codec.as_str(),
            probe.sample_rate,
            probe.channels
        ),
        ("aac", 48000, 2)
    );

    egress.stop().await;
    logs.assert_absent(&key);
}
