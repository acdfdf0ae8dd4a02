//! The ingest is killed mid-stream and restarted on the same port: the
//! destination goes reconnecting, then live again within 5 s of the server
//! returning (with a retry cap of 2 s).

use crate::support;
use podium_egress::{DestinationState, Egress, EgressConfig, EgressSpec, EgressState, RetryPolicy};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn killed_ingest_comes_back_live_within_5s() {
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
        "room-restart",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![support::destination(&nginx.rtmp_url(), &key)],
    );
    let config = EgressConfig {
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

    nginx.kill();
    let killed = Instant::now();
    let status = support::wait_for(&egress, Duration::from_secs(10), "reconnecting", |s| {
        matches!(
            s.destinations[0].state,
            DestinationState::Reconnecting { .. }
        )
    })
    .await;
    println!(
        "reconnecting {:?} after the kill: {:?}",
        killed.elapsed(),
        status.destinations[0].state
    );
    assert_eq!(status.state, EgressState::Reconnecting);
    tokio::time::sleep(Duration::from_secs(4)).await;

    nginx.start();
    let back = Instant::now();
    let status = support::wait_for(
        &egress,
        Duration::from_secs(10),
        "live again",
        support::is_live,
    )
    .await;
    let took = back.elapsed();
    println!("live again {took:?} after the server returned");
    assert!(took <= Duration::from_secs(5), "took {took:?}");
    assert!(status.destinations[0].stats.reconnects >= 1);

    tokio::time::sleep(Duration::from_secs(2)).await;
    support::show(&egress.status());
    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 5).await;
    support::show(&egress.status());
    probe.assert_flowing(5);
    egress.stop().await;
    logs.assert_absent(&key);
}
