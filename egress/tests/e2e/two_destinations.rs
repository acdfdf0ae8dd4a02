//! Two destinations from one encode, one of them down: the other stays
//! live; the down one keeps retrying and goes live when its server comes up.
//! Then a third is added and removed while live.

use crate::support;
use podium_egress::{
    DestinationState, Egress, EgressConfig, EgressEvent, EgressSpec, EgressState, RetryPolicy,
};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn one_destination_down_does_not_stop_the_other() {
    let logs = support::logs();
    let media = Media::start().await;
    let up = Nginx::started(false);
    let mut down = Nginx::new(false);
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 640,
            height: 360,
        },
    )
    .await;
    let (key_a, key_b, key_c) = (
        support::stream_key(),
        support::stream_key(),
        support::stream_key(),
    );
    let spec = EgressSpec::new(
        "room-two",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![
            support::destination(&up.rtmp_url(), &key_a),
            support::destination(&down.rtmp_url(), &key_b),
        ],
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
    let mut events = egress.events();
    let status = support::wait_for(&egress, Duration::from_secs(15), "A live", |s| {
        support::destination_live(s, 0)
    })
    .await;
    let a = status.destinations[0].id;
    assert_eq!(status.state, EgressState::Live);

    // B is down: A carries on, frames keep coming.
    let probe = ffprobe::probe(format!("{}/{key_a}", up.rtmp_url()), 6).await;
    probe.assert_flowing(6);
    let status = egress.status();
    support::show(&status);
    match &status.destinations[1].state {
        DestinationState::Reconnecting {
            attempt,
            last_error,
            ..
        } => {
            assert!(*attempt >= 3, "attempt {attempt}");
            assert!(last_error.contains("refused"), "{last_error}");
            assert!(!last_error.contains(&key_b));
        }
        other => panic!("B should be reconnecting: {other:?}"),
    }
    assert_eq!(status.destinations[0].state, DestinationState::Live);

    // B's server comes up: B goes live.
    down.start();
    let back = Instant::now();
    support::wait_for(&egress, Duration::from_secs(10), "B live", |s| {
        support::destination_live(s, 1)
    })
    .await;
    println!("B live {:?} after its server came up", back.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = ffprobe::probe(format!("{}/{key_b}", down.rtmp_url()), 5).await;
    probe.assert_flowing(5);
    assert_eq!((probe.width, probe.height), (1280, 720));

    // A third destination while live, then removed: the others stay live.
    let c = egress
        .add_destination(support::destination(&up.rtmp_url(), &key_c))
        .await
        .unwrap();
    support::wait_for(&egress, Duration::from_secs(10), "C live", |s| {
        support::destination_live(s, 2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = ffprobe::probe(format!("{}/{key_c}", up.rtmp_url()), 5).await;
    probe.assert_flowing(5);
    egress.remove_destination(c).await.unwrap();
    let status = egress.status();
    support::show(&status);
    assert_eq!(status.destinations.len(), 2);
    assert!(
        status
            .destinations
            .iter()
            .all(|d| d.state == DestinationState::Live)
    );

    // A never left live.
    while let Ok(event) = events.try_recv() {
        if let EgressEvent::DestinationChanged {
            destination, state, ..
        } = &event
        {
            assert!(
                *destination != a || *state == DestinationState::Live,
                "A changed: {event:?}"
            );
        }
    }
    egress.stop().await;
    for key in [&key_a, &key_b, &key_c] {
        logs.assert_absent(key);
    }
}
