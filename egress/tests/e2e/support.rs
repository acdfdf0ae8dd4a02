//! The egress-specific parts of the tests' set-up (the shared ones are
//! podium-testkit): configs with the local ingests allowed, destinations,
//! stream keys, log capture at the egress's trace level, and waiting on an
//! egress's status. Also used by examples/bench.rs.

use podium_egress::{
    DestinationSpec, DestinationState, Egress, EgressConfig, EgressState, EgressStatus, Ingest,
    NetworkPolicy, StreamKey,
};
use podium_testkit::logs::LogCapture;
use std::time::{Duration, Instant};

/// Every tracing line of the test process, to grep for secrets: at trace
/// level for the egress so every log line it can write is checked. The
/// lines also go to stderr with `EGRESS_TEST_LOG=1`.
pub fn logs() -> &'static LogCapture {
    podium_testkit::logs::capture(
        "podium_egress=trace,info",
        std::env::var_os("EGRESS_TEST_LOG").is_some(),
    )
}

/// The default config, with the local ingests (127.0.0.1) allowlisted: the
/// network policy refuses loopback destinations otherwise.
pub fn config() -> EgressConfig {
    EgressConfig {
        network: local_network(),
        ..EgressConfig::default()
    }
}

pub fn local_network() -> NetworkPolicy {
    NetworkPolicy::allowing(["127.0.0.1"])
}

/// A fresh random stream key, unlikely to appear anywhere by chance.
pub fn stream_key() -> String {
    format!("sk_test_{}", uuid::Uuid::new_v4().simple())
}

/// A custom destination: `<base>/<key>`.
pub fn destination(base: &str, key: &str) -> DestinationSpec {
    DestinationSpec::new(
        Ingest::Custom {
            url: base.to_owned(),
        },
        StreamKey::new(key),
    )
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
