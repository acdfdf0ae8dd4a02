//! An ingest that accepts the stream and drops it a second later, every
//! time (what a service does with a wrong stream key): the destination does
//! not flip between live and reconnecting for ever, it fails as rejected with
//! a hint to check the key, after `max_brief_lives` brief spells (3), while a
//! second destination on a good application stays live.

use crate::support;
use podium_egress::{DestinationState, Egress, EgressSpec, EgressState, RetryPolicy};
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn a_stream_the_ingest_keeps_dropping_is_rejected() {
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
    let spec = EgressSpec::new(
        "room-dropping",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![
            support::destination(&nginx.dropping_url(), &key),
            support::destination(&nginx.rtmp_url(), &support::stream_key()),
        ],
    );
    let config = podium_egress::EgressConfig {
        retry: RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..support::config()
    };
    let started = Instant::now();
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    let status = support::wait_for(&egress, Duration::from_secs(40), "rejected", |s| {
        matches!(s.destinations[0].state, DestinationState::Failed { .. })
    })
    .await;
    support::show(&status);
    println!("rejected after {:?}", started.elapsed());
    let DestinationState::Failed { error } = &status.destinations[0].state else {
        unreachable!()
    };
    assert!(error.contains("check the stream key"), "{error}");
    assert!(error.starts_with("rejected"), "{error}");
    assert!(
        status.destinations[0].stats.reconnects >= 2,
        "it went live and was dropped more than once first: {:?}",
        status.destinations[0]
    );
    // The good destination is unaffected, and the egress lives on.
    let status = support::wait_for(&egress, Duration::from_secs(10), "live", |s| {
        support::destination_live(s, 1)
    })
    .await;
    assert_eq!(status.state, EgressState::Live);
    logs.assert_absent(&key);
    egress.stop().await;
}
