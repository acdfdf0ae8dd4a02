//! Starting, refusing and stopping an egress, with a real worker, producer
//! and pipeline but no ingest: the destination is a port nothing listens on,
//! so it keeps reconnecting. Fast enough for every `cargo test`.

use crate::support;
use mediasoup::prelude::*;
use podium_egress::{
    DestinationError, DestinationSpec, DestinationState, Egress, EgressConfig, EgressError,
    EgressSpec, EgressState, Ingest, OutputProfile, Preset, RetryPolicy, StopReason, StreamKey,
};
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::time::Duration;

fn config() -> EgressConfig {
    EgressConfig {
        retry: RetryPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(800),
            ..RetryPolicy::default()
        },
        network: support::local_network(),
        ..EgressConfig::default()
    }
}

/// A small output keeps this test light on CPU.
fn small() -> OutputProfile {
    OutputProfile {
        width: 320,
        height: 180,
        video_kbps: 300,
        ..Preset::Custom.output()
    }
}

fn custom(port: u16, key: &str) -> DestinationSpec {
    DestinationSpec::new(
        Ingest::Custom {
            url: format!("rtmp://127.0.0.1:{port}/live"),
        },
        StreamKey::new(key),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_bad_requests_without_leaking_keys() {
    let logs = support::logs();
    let media = Media::start().await;
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    let key = support::stream_key();

    let no_destination = EgressSpec::new("t", sender.video_id(), None, vec![]);
    assert!(matches!(
        Egress::start(&media.router, no_destination, config()).await,
        Err(EgressError::NoDestinations)
    ));

    let bad = EgressSpec::new(
        "t",
        sender.video_id(),
        None,
        vec![DestinationSpec::new(
            Ingest::Custom {
                url: format!("http://example.com/app/{key}"),
            },
            None,
        )],
    );
    let error = Egress::start(&media.router, bad, config())
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        EgressError::InvalidDestination {
            index: 0,
            error: DestinationError::Scheme
        }
    ));
    assert!(!error.to_string().contains(&key));

    let unknown = EgressSpec::new(
        "t",
        uuid::Uuid::new_v4()
            .to_string()
            .parse::<ProducerId>()
            .unwrap(),
        None,
        vec![custom(1, &key)],
    );
    let error = Egress::start(&media.router, unknown, config())
        .await
        .unwrap_err();
    assert!(matches!(error, EgressError::ProducerNotFound(_)), "{error}");

    let swapped = EgressSpec::new("t", sender.audio_id(), None, vec![custom(1, &key)]);
    let error = Egress::start(&media.router, swapped, config())
        .await
        .unwrap_err();
    assert!(matches!(error, EgressError::WrongKind { .. }), "{error}");

    logs.assert_absent(&key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_reconnecting_to_a_closed_port_then_stops() {
    let logs = support::logs();
    let media = Media::start().await;
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    let key = support::stream_key();
    let closed = podium_testkit::free_port();
    let mut spec = EgressSpec::new(
        "room-1",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![custom(closed, &key)],
    );
    spec.output = Some(small());
    let egress = Egress::start(&media.router, spec, config()).await.unwrap();
    let mut events = egress.events();

    let status = support::wait_for(&egress, Duration::from_secs(15), "three attempts", |s| {
        matches!(s.destinations[0].state, DestinationState::Reconnecting { attempt, .. } if attempt >= 3)
    })
    .await;
    assert_eq!(status.state, EgressState::Reconnecting);
    assert_eq!(
        status.destinations[0].url,
        format!("rtmp://127.0.0.1:{closed}/live/***")
    );
    let json = serde_json::to_string(&status).unwrap();
    assert!(!json.contains(&key), "{json}");
    assert!(json.contains("\"state\":\"reconnecting\""), "{json}");

    // Media flows into the muxer meanwhile (VP8 re-encoded).
    let status = support::wait_for(&egress, Duration::from_secs(10), "frames", |s| {
        s.stats.fps > 20.0
    })
    .await;
    support::show(&status);
    let factories = egress.element_factories().await.unwrap();
    assert!(factories.iter().any(|f| f == "x264enc"), "{factories:?}");

    // The last destination cannot be removed; a second can.
    let id = status.destinations[0].id;
    assert!(matches!(
        egress.remove_destination(id).await,
        Err(EgressError::LastDestination)
    ));
    let other = egress
        .add_destination(custom(closed, &support::stream_key()))
        .await
        .unwrap();
    assert_eq!(egress.status().destinations.len(), 2);
    egress.remove_destination(other).await.unwrap();
    assert_eq!(egress.status().destinations.len(), 1);

    egress.stop().await;
    assert_eq!(
        egress.status().state,
        EgressState::Stopped {
            reason: StopReason::Requested
        }
    );
    assert!(matches!(
        egress.add_destination(custom(1, "abcd")).await,
        Err(EgressError::Ended)
    ));
    let mut saw_reconnecting = false;
    while let Ok(event) = events.try_recv() {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains(&key));
        saw_reconnecting |= text.contains("reconnecting");
    }
    assert!(saw_reconnecting);
    logs.assert_absent(&key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ends_when_the_video_producer_closes() {
    let media = Media::start().await;
    let mut sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    let mut spec = EgressSpec::new(
        "room-2",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![custom(podium_testkit::free_port(), &support::stream_key())],
    );
    spec.output = Some(small());
    let config = EgressConfig {
        input_grace: Duration::from_millis(1500),
        ..config()
    };
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    sender.close_video();
    support::wait_for(&egress, Duration::from_secs(5), "waiting for input", |s| {
        matches!(s.state, EgressState::WaitingForInput { .. })
    })
    .await;
    let state = tokio::time::timeout(Duration::from_secs(5), egress.wait())
        .await
        .unwrap();
    assert_eq!(
        state,
        EgressState::Stopped {
            reason: StopReason::InputEnded
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulcast_producer_is_pinned_and_flows() {
    let logs = support::logs();
    let media = Media::start().await;
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8Simulcast {
            width: 160,
            height: 90,
        },
    )
    .await;
    let mut spec = EgressSpec::new(
        "room-3",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![custom(podium_testkit::free_port(), &support::stream_key())],
    );
    spec.output = Some(small());
    // The top layer (2) is asked for; only layer 0 is sent, which mediasoup
    // forwards meanwhile.
    let egress = Egress::start(&media.router, spec, config()).await.unwrap();
    let status = support::wait_for(&egress, Duration::from_secs(10), "frames", |s| {
        s.stats.fps > 20.0
    })
    .await;
    support::show(&status);
    let text = logs.text();
    assert!(text.contains("simulcast consumer pinned to one layer") && text.contains("spatial=2"));
    egress.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_producers_within_the_grace_period_resume_the_egress() {
    let media = Media::start().await;
    let mut sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    let mut spec = EgressSpec::new(
        "room-4",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![custom(podium_testkit::free_port(), &support::stream_key())],
    );
    spec.output = Some(small());
    let config = EgressConfig {
        input_grace: Duration::from_secs(30),
        ..config()
    };
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    let mut events = egress.events();
    support::wait_for(&egress, Duration::from_secs(10), "frames", |s| {
        s.stats.fps > 20.0
    })
    .await;

    // The teacher leaves: the egress waits, and says why.
    sender.close_video();
    let status = support::wait_for(&egress, Duration::from_secs(5), "waiting", |s| {
        matches!(s.state, EgressState::WaitingForInput { .. })
    })
    .await;
    assert!(status.input.is_none());
    assert!(
        status
            .destinations
            .iter()
            .all(|d| d.state == DestinationState::Stopped)
    );
    let mut input_ended = false;
    while let Ok(event) = events.try_recv() {
        input_ended |= matches!(
            event,
            podium_egress::EgressEvent::InputEnded {
                kind: MediaKind::Video,
                ..
            }
        );
    }
    assert!(input_ended);

    // Unknown producers are refused and the egress keeps waiting.
    let bogus = uuid::Uuid::new_v4()
        .to_string()
        .parse::<ProducerId>()
        .unwrap();
    assert!(matches!(
        egress.replace_input(bogus, None).await,
        Err(EgressError::ProducerNotFound(_))
    ));

    // The teacher comes back with new producers.
    let again = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    egress
        .replace_input(again.video_id(), Some(again.audio_id()))
        .await
        .unwrap();
    let status = support::wait_for(&egress, Duration::from_secs(10), "frames again", |s| {
        s.stats.fps > 20.0 && s.input.is_some()
    })
    .await;
    support::show(&status);
    assert!(matches!(
        status.state,
        EgressState::Starting | EgressState::Reconnecting
    ));
    egress.stop().await;
}
