//! RTMPS: the same restream over TLS (nginx's stream module in front of
//! nginx-rtmp, with a self-signed certificate made by openssl for the test).
//! Full certificate validation (the default) refuses it at once; accepting
//! an unknown CA (tests only) goes live.

use crate::support;
use podium_egress::{
    DestinationState, Egress, EgressConfig, EgressSpec, EgressState, TlsValidation, VideoPath,
};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn rtmps_with_certificate_validation() {
    let logs = support::logs();
    let media = Media::start().await;
    let nginx = Nginx::started(true);
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 640,
            height: 360,
        },
    )
    .await;
    let key = support::stream_key();
    let spec = || {
        EgressSpec::new(
            "room-rtmps",
            sender.video_id(),
            Some(sender.audio_id()),
            vec![support::destination(&nginx.rtmps_url(), &key)],
        )
    };

    // Production default: a self-signed ingest is refused, and not retried.
    let strict = Egress::start(&media.router, spec(), support::config())
        .await
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(15), strict.wait())
        .await
        .unwrap();
    let status = strict.status();
    println!("strict TLS: {state:?} / {:?}", status.destinations[0].state);
    assert!(matches!(state, EgressState::Failed { .. }), "{state:?}");
    match &status.destinations[0].state {
        DestinationState::Failed { error } => {
            assert!(error.contains("tls"), "{error}");
            assert!(!error.contains(&key));
        }
        other => panic!("{other:?}"),
    }

    let config = EgressConfig {
        tls: TlsValidation::AllowUnknownCa,
        ..support::config()
    };
    let egress = Egress::start(&media.router, spec(), config).await.unwrap();
    let status = support::wait_for(
        &egress,
        Duration::from_secs(15),
        "live over rtmps",
        support::is_live,
    )
    .await;
    assert_eq!(
        status.destinations[0].url,
        format!("{}/***", nginx.rtmps_url())
    );
    assert_eq!(
        status.input.as_ref().unwrap().video_path,
        VideoPath::Reencode
    );

    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 10).await;
    support::show(&egress.status());
    assert_eq!(probe.video_codec, "h264");
    assert_eq!((probe.width, probe.height), (1280, 720));
    assert!((28.5..=31.5).contains(&probe.fps()), "fps {}", probe.fps());
    assert!(
        probe.duration() >= 8.0,
        "frames stopped: {:.1} s",
        probe.duration()
    );
    for interval in probe.keyframe_intervals() {
        assert!(
            (interval - 2.0).abs() < 0.05,
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
