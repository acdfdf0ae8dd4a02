//! A hung ingest (SIGSTOP: connections stay open, nothing is read) raises no
//! error in rtmp2sink for a minute or more; the watchdog notices the stalled
//! byte counters, the destination reconnects, and goes live once the server
//! runs again.

use crate::support;
use podium_egress::{DestinationState, Egress, EgressConfig, EgressSpec, RetryPolicy};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn watchdog_detects_a_hung_ingest() {
    let logs = support::logs();
    let media = Media::start().await;
    let mut nginx = Nginx::started(false);
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
        "room-hung",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![support::destination(&nginx.rtmp_url(), &key)],
    );
    let config = EgressConfig {
        watchdog: Duration::from_secs(5),
        retry: RetryPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..support::config()
    };
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    support::wait_for(&egress, Duration::from_secs(15), "live", support::is_live).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    nginx.freeze();
    let frozen = Instant::now();
    let status = support::wait_for(&egress, Duration::from_secs(60), "the watchdog", |s| {
        matches!(&s.destinations[0].state, DestinationState::Reconnecting { last_error, .. } if last_error.contains("watchdog"))
    })
    .await;
    let took = frozen.elapsed();
    println!(
        "watchdog fired {took:?} after SIGSTOP: {:?}",
        status.destinations[0].state
    );
    assert!(took >= Duration::from_secs(5), "too early: {took:?}");
    assert!(took <= Duration::from_secs(30), "too late: {took:?}");

    nginx.thaw();
    let thawed = Instant::now();
    support::wait_for(
        &egress,
        Duration::from_secs(30),
        "live again",
        support::is_live,
    )
    .await;
    println!("live again {:?} after SIGCONT", thawed.elapsed());
    // The new connection starts at the next keyframe (at most 2 s away).
    tokio::time::sleep(Duration::from_secs(2)).await;
    support::show(&egress.status());
    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 5).await;
    support::show(&egress.status());
    probe.assert_flowing(5);
    egress.stop().await;
    logs.assert_absent(&key);
}
