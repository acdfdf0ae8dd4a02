//! Detects a hung ingest: rtmp2sink reports no error for a minute or more
//! when the server stops reading without closing the connection, so each
//! destination is watched through its byte counters instead. Pure: the
//! supervisor feeds samples in, a verdict comes out.

use std::time::{Duration, Instant};

/// Backlog allowed beyond two acknowledgement windows before the acks count
/// as stalled (what is in flight on a long path).
const ACK_SLACK: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    pub now: Instant,
    /// rtmp2sink `out-bytes-total`: bytes written to the socket.
    pub out_bytes: u64,
    /// rtmp2sink `out-bytes-acked`: bytes the server acknowledged.
    pub acked_bytes: u64,
    /// Whether the muxer produced data since the last sample: with nothing
    /// to send, a flat counter is not the ingest's fault.
    pub input_flowing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Healthy,
    Stalled(StallReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StallReason {
    /// Connected, input flowing, but no byte written for the timeout.
    NoBytesOut,
    /// Bytes go out but the server stopped acknowledging them.
    NoAcks,
    /// Not connected (no byte out) within the connect limit.
    ConnectTimeout,
}

impl StallReason {
    pub(crate) fn describe(self, timeout: Duration) -> String {
        match self {
            Self::NoBytesOut => format!(
                "watchdog: the ingest accepted no data for {} s",
                timeout.as_secs_f32()
            ),
            Self::NoAcks => format!(
                "watchdog: the ingest acknowledged no data for {} s",
                timeout.as_secs_f32()
            ),
            Self::ConnectTimeout => "watchdog: could not connect and publish in time".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Watchdog {
    timeout: Duration,
    connect_limit: Duration,
    started_at: Instant,
    last_out: u64,
    out_progress_at: Instant,
    last_acked: u64,
    /// Largest step between two acknowledgements seen: the server's window.
    ack_step: u64,
    backlog_since: Option<Instant>,
    input_was_flowing: bool,
}

impl Watchdog {
    /// A watchdog for a connection attempt started at `now`.
    pub(crate) fn new(now: Instant, timeout: Duration, connect_limit: Duration) -> Self {
        Self {
            timeout,
            connect_limit,
            started_at: now,
            last_out: 0,
            out_progress_at: now,
            last_acked: 0,
            ack_step: 0,
            backlog_since: None,
            input_was_flowing: true,
        }
    }

    pub(crate) fn observe(&mut self, s: Sample) -> Verdict {
        if s.out_bytes > self.last_out {
            self.last_out = s.out_bytes;
            self.out_progress_at = s.now;
        }
        if s.acked_bytes > self.last_acked {
            self.ack_step = self.ack_step.max(s.acked_bytes - self.last_acked);
            self.last_acked = s.acked_bytes;
        }
        if self.last_out == 0 {
            return if s.now.saturating_duration_since(self.started_at) >= self.connect_limit {
                Verdict::Stalled(StallReason::ConnectTimeout)
            } else {
                Verdict::Healthy
            };
        }
        let resumed = s.input_flowing && !self.input_was_flowing;
        self.input_was_flowing = s.input_flowing;
        if !s.input_flowing || resumed {
            // Nothing to send (or just something again): the clock starts now.
            self.out_progress_at = s.now;
            self.backlog_since = None;
            return Verdict::Healthy;
        }
        if s.now.saturating_duration_since(self.out_progress_at) >= self.timeout {
            return Verdict::Stalled(StallReason::NoBytesOut);
        }
        if self.ack_step > 0 {
            let backlog = self.last_out.saturating_sub(self.last_acked);
            if backlog > 2 * self.ack_step + ACK_SLACK {
                let since = *self.backlog_since.get_or_insert(s.now);
                if s.now.saturating_duration_since(since) >= self.timeout {
                    return Verdict::Stalled(StallReason::NoAcks);
                }
            } else {
                self.backlog_since = None;
            }
        }
        Verdict::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: u64 = 1024;

    fn run(samples: &[(u64, u64, u64, bool)]) -> Vec<Verdict> {
        let t0 = Instant::now();
        let mut dog = Watchdog::new(t0, Duration::from_secs(5), Duration::from_secs(15));
        samples
            .iter()
            .map(|&(ms, out, acked, flowing)| {
                dog.observe(Sample {
                    now: t0 + Duration::from_millis(ms),
                    out_bytes: out,
                    acked_bytes: acked,
                    input_flowing: flowing,
                })
            })
            .collect()
    }

    use StallReason::*;
    use Verdict::*;

    #[test]
    fn healthy_stream() {
        let v = run(&[
            (0, 4 * KB, 0, true),
            (1000, 400 * KB, 0, true),
            (2000, 800 * KB, 128 * KB, true),
            (6000, 2400 * KB, 2200 * KB, true),
            (11000, 4400 * KB, 4300 * KB, true),
        ]);
        assert!(v.iter().all(|v| *v == Healthy), "{v:?}");
    }

    #[test]
    fn flat_bytes_while_input_flows_is_a_stall() {
        let v = run(&[
            (0, 100 * KB, 0, true),
            (1000, 500 * KB, 0, true),
            (3000, 500 * KB, 0, true),
            (5999, 500 * KB, 0, true),
            (6000, 500 * KB, 0, true),
        ]);
        assert_eq!(v, [Healthy, Healthy, Healthy, Healthy, Stalled(NoBytesOut)]);
    }

    #[test]
    fn flat_bytes_without_input_is_not_the_ingests_fault() {
        let v = run(&[
            (0, 100 * KB, 0, true),
            (1000, 500 * KB, 0, false),
            (9000, 500 * KB, 0, false),
            (13000, 500 * KB, 0, true),
            (14000, 500 * KB, 0, true),
            (18000, 500 * KB, 0, true),
        ]);
        assert_eq!(
            v,
            [
                Healthy,
                Healthy,
                Healthy,
                Healthy,
                Healthy,
                Stalled(NoBytesOut)
            ]
        );
    }

    #[test]
    fn acks_stopping_with_a_growing_backlog_is_a_stall() {
        // The server acks every 128 KiB, then stops while the kernel buffers
        // still take bytes.
        let v = run(&[
            (0, 100 * KB, 0, true),
            (500, 300 * KB, 128 * KB, true),
            (1000, 500 * KB, 384 * KB, true),
            (2000, 1300 * KB, 384 * KB, true),
            (4000, 1700 * KB, 384 * KB, true),
            (6900, 2800 * KB, 384 * KB, true),
            (7000, 2900 * KB, 384 * KB, true),
        ]);
        assert_eq!(
            v,
            [
                Healthy,
                Healthy,
                Healthy,
                Healthy,
                Healthy,
                Healthy,
                Stalled(NoAcks)
            ]
        );
    }

    #[test]
    fn a_server_that_never_acks_is_judged_on_bytes_alone() {
        let v = run(&[(0, 100 * KB, 0, true), (30_000, 90_000 * KB, 0, true)]);
        assert_eq!(v, [Healthy, Healthy]);
    }

    #[test]
    fn no_connection_within_the_limit() {
        let v = run(&[(0, 0, 0, true), (14_999, 0, 0, true), (15_000, 0, 0, false)]);
        assert_eq!(v, [Healthy, Healthy, Stalled(ConnectTimeout)]);
    }
}
