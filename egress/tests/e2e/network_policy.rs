//! Destinations cannot reach inside: loopback, private, link-local and the
//! other special ranges are refused before any connection is made, at start,
//! when a destination is added, and at every reconnection (a name may
//! resolve elsewhere the second time). The RTMP client then connects only to
//! the addresses that were checked. The first two tests are quick and run
//! with every `cargo test`; the last needs nginx (egress/run-e2e.sh).

use crate::support;
use podium_egress::{
    DestinationSpec, DestinationSpecExt, DestinationState, Egress, EgressConfig, EgressError,
    EgressSpec, EgressState, Ingest, NetworkPolicy, Refusal, StreamKey, TlsValidation,
};
use podium_testkit::ffprobe;
use podium_testkit::ingest::{Nginx, PINNED_NAME};
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::io::ErrorKind;
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn custom(url: &str) -> DestinationSpec {
    DestinationSpec::new(
        Ingest::Custom {
            url: url.to_owned(),
        },
        StreamKey::new(support::stream_key()),
    )
}

/// A loopback listener, to prove nothing connected to it.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the egress connected to the listener (from {from})"),
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_destinations_are_refused_before_any_connection() {
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
    let (listener, port) = listener();
    // The production policy: ports 1935 and 443, nothing allowlisted, and
    // port `port` allowed too so that only the address check can refuse.
    let config = EgressConfig {
        network: NetworkPolicy::new(vec![1935, 443, port], Vec::<String>::new()).unwrap(),
        ..EgressConfig::default()
    };
    let address = Refusal::Address;
    let ivs = |endpoint: &str| {
        DestinationSpec::new(
            Ingest::Ivs {
                ingest_endpoint: endpoint.to_owned(),
            },
            StreamKey::new(support::stream_key()),
        )
    };
    let twitch = |host: &str| {
        DestinationSpec::new(
            Ingest::Twitch {
                ingest: Some(host.to_owned()),
            },
            StreamKey::new(support::stream_key()),
        )
    };
    // Validation only: none of these is ever connected to.
    let cases = [
        (
            custom(&format!("rtmp://127.0.0.1:{port}/live")),
            address.clone(),
        ),
        (
            custom(&format!("rtmp://localhost:{port}/live")),
            address.clone(),
        ),
        (
            custom(&format!("rtmp://[::1]:{port}/live")),
            address.clone(),
        ),
        (
            custom(&format!("rtmp://[::ffff:127.0.0.1]:{port}/live")),
            address.clone(),
        ),
        (custom("rtmp://10.1.2.3/live"), address.clone()),
        (custom("rtmp://192.168.1.20/live"), address.clone()),
        (custom("rtmp://172.16.0.9:1935/live"), address.clone()),
        (custom("rtmps://169.254.169.254/live"), address.clone()),
        (custom("rtmp://100.64.0.1/live"), address.clone()),
        (custom("rtmp://[fd00::1]/live"), address.clone()),
        (custom("rtmp://[fe80::1]/live"), address.clone()),
        (custom("rtmp://0.0.0.0/live"), address.clone()),
        (custom("rtmp://224.0.0.1/live"), address.clone()),
        (custom("rtmp://8.8.8.8:22/live"), Refusal::Port { port: 22 }),
        (
            custom("rtmp://127.0.0.1:6379/live"),
            Refusal::Port { port: 6379 },
        ),
        (ivs("127.0.0.1"), address.clone()),
        (ivs("10.0.0.1"), address.clone()),
        (twitch("192.168.0.1"), address.clone()),
    ];
    for (destination, reason) in cases {
        let shown = destination.redacted_url().unwrap();
        let spec = EgressSpec::new("t", sender.video_id(), None, vec![destination]);
        match Egress::start(&media.router, spec, config.clone()).await {
            Err(EgressError::DestinationRefused {
                index: 0,
                reason: got,
            }) => {
                assert_eq!(got, reason, "{shown}");
            }
            other => panic!("{shown}: {other:?}"),
        }
    }

    // Added to a running egress: refused the same way. (The running one
    // points at a public address that never resolves: nothing is reached.)
    let unresolvable = NetworkPolicy::new(vec![1935, 443, port], Vec::<String>::new())
        .unwrap()
        .with_lookup(Arc::new(|_| Err(std::io::Error::other("no such host"))));
    let spec = EgressSpec::new(
        "t",
        sender.video_id(),
        None,
        vec![custom("rtmp://ingest.example.com/live")],
    );
    let egress = Egress::start(
        &media.router,
        spec,
        EgressConfig {
            network: unresolvable,
            ..config.clone()
        },
    )
    .await
    .unwrap();
    let error = egress
        .add_destination(custom(&format!("rtmp://127.0.0.1:{port}/live")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            EgressError::DestinationRefused {
                reason: Refusal::Address,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "destination 0: the ingest host is not allowed: it must resolve to public internet addresses only"
    );
    assert_eq!(egress.status().destinations.len(), 1);
    egress.stop().await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_untouched(&listener);
    assert!(logs.text().contains("destination refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_resolves_and_checks_the_host_again() {
    let media = Media::start().await;
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 160,
            height: 90,
        },
    )
    .await;
    let (listener, port) = listener();
    // The name does not resolve when the egress starts (accepted: a
    // passing DNS failure), then resolves to loopback (DNS rebinding).
    let lookups = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&lookups);
    let network = NetworkPolicy::new(vec![port], Vec::<String>::new())
        .unwrap()
        .with_lookup(Arc::new(move |host| {
            assert_eq!(host, "rebind.podium.test");
            match counter.fetch_add(1, Ordering::SeqCst) {
                0 => Err(std::io::Error::other("temporary failure")),
                _ => Ok(vec![IpAddr::from([127, 0, 0, 1])]),
            }
        }));
    let spec = EgressSpec::new(
        "t",
        sender.video_id(),
        None,
        vec![custom(&format!("rtmp://rebind.podium.test:{port}/live"))],
    );
    let config = EgressConfig {
        network,
        ..EgressConfig::default()
    };
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    let state = tokio::time::timeout(Duration::from_secs(10), egress.wait())
        .await
        .expect("a refused destination ends at once");
    assert!(matches!(state, EgressState::Failed { .. }), "{state:?}");
    match &egress.status().destinations[0].state {
        DestinationState::Failed { error } => assert_eq!(
            error,
            "destination refused: the ingest host is not allowed: it must resolve to public internet addresses only"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        lookups.load(Ordering::SeqCst) >= 2,
        "checked again at the attempt"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_untouched(&listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn an_allowlisted_name_is_reached_at_its_pinned_address_with_its_tls_identity() {
    let logs = support::logs();
    let media = Media::start().await;
    let nginx = Nginx::started(true);
    let sender = Sender::start(
        &media.router,
        VideoIn::Vp8 {
            width: 320,
            height: 180,
        },
    )
    .await;
    // Only this resolver knows the name; GIO gets its answer through the pin.
    let network = NetworkPolicy::allowing([PINNED_NAME]).with_lookup(Arc::new(|host| {
        assert_eq!(host, PINNED_NAME);
        Ok(vec![IpAddr::from([127, 0, 0, 1])])
    }));
    let config = EgressConfig {
        network,
        // Self-signed, but the host name is still checked: the certificate
        // names PINNED_NAME, so this goes live only if TLS saw that name.
        tls: TlsValidation::AllowUnknownCa,
        ..EgressConfig::default()
    };
    let key = support::stream_key();
    let rtmp = nginx.rtmp_url().replace("127.0.0.1", PINNED_NAME);
    let rtmps = nginx.rtmps_url().replace("127.0.0.1", PINNED_NAME);
    let spec = EgressSpec::new(
        "room-pinned",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![
            support::destination(&rtmp, &key),
            support::destination(&rtmps, &support::stream_key()),
        ],
    );
    let egress = Egress::start(&media.router, spec, config).await.unwrap();
    let status = support::wait_for(&egress, Duration::from_secs(20), "both live", |s| {
        support::destination_live(s, 0) && support::destination_live(s, 1)
    })
    .await;
    support::show(&status);
    let probe = ffprobe::probe(format!("{}/{key}", nginx.rtmp_url()), 4).await;
    assert_eq!(probe.video_codec, "h264");
    egress.stop().await;
    logs.assert_absent(&key);
}
