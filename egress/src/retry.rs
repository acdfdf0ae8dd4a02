//! When to reconnect a failed destination: a pure function of the policy,
//! the destination's failure history, the kind of error and the time, so the
//! whole policy is table-tested here and the supervisor only applies it.

use std::time::{Duration, Instant};

/// Reconnect policy, shared by every destination of an egress.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first reconnect.
    pub initial: Duration,
    /// Longest delay between two attempts.
    pub max: Duration,
    /// Growth of the delay per attempt.
    pub multiplier: f64,
    /// Random spread, as a fraction of the delay: 0.2 is +-20 %.
    pub jitter: f64,
    /// Stop trying after failing this long without going live again.
    /// `None`: keep trying for as long as the egress runs.
    pub give_up_after: Option<Duration>,
    /// Stop sooner, after failing this long, when the destination was never
    /// live: a wrong host or a dead ingest, not a passing outage. `None`:
    /// only `give_up_after` applies.
    pub give_up_unreached: Option<Duration>,
    /// A live spell shorter than this counts as brief: the ingest took the
    /// stream, then closed it.
    pub brief_live: Duration,
    /// This many brief live spells in a row end the destination as rejected:
    /// an ingest that accepts the connection and then drops it (a wrong
    /// stream key) would otherwise flip between live and reconnecting for
    /// ever. 0: never.
    pub max_brief_lives: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            give_up_after: None,
            give_up_unreached: None,
            brief_live: Duration::from_secs(10),
            max_brief_lives: 3,
        }
    }
}

/// How an RTMP error bears on retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Network trouble: refused, reset, timed out, hung. Worth retrying.
    Transient,
    /// The server said no (connect or publish rejected, bad certificate):
    /// a wrong URL or key, which retrying will not fix.
    Rejected,
    /// The destination's policy forbids the address or port: never retried.
    Refused,
}

/// A destination's failure history, kept by the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryState {
    /// Attempts since the destination was last live.
    pub attempt: u32,
    /// When the current run of failures began.
    pub failing_since: Option<Instant>,
    /// Whether it was ever live since the egress (or the destination) started.
    pub ever_live: bool,
    /// When the current live spell began (none while down).
    pub live_since: Option<Instant>,
    /// Live spells in a row shorter than [`RetryPolicy::brief_live`].
    pub brief_lives: u32,
}

impl RetryState {
    /// The destination went live at `now`: the next failure starts a new
    /// run (the count of brief live spells goes on until one lasts).
    pub fn went_live(&mut self, now: Instant) {
        *self = Self {
            attempt: 0,
            failing_since: None,
            ever_live: true,
            live_since: Some(now),
            brief_lives: self.brief_lives,
        };
    }
}

/// What [`decide`] says to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryDecision {
    /// Reconnect after `delay`; this will be attempt number `attempt`.
    Retry {
        /// Attempt number: 1 for the first reconnect after going live (or starting).
        attempt: u32,
        /// How long to wait before reconnecting.
        delay: Duration,
    },
    /// Stop retrying: the destination fails for good.
    GiveUp(GiveUpReason),
}

/// Why a destination is given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// Rejected before it was ever live: fail fast, the URL or key is wrong.
    Rejected,
    /// Failing for longer than `give_up_after`.
    TimedOut,
    /// Never live, and failing for longer than `give_up_unreached`.
    Unreached,
    /// Forbidden by the network policy.
    Refused,
    /// The ingest accepted the stream and closed it again, `max_brief_lives`
    /// times in a row: it does not want this stream (a wrong key, usually).
    DroppedAfterAccepting,
}

impl GiveUpReason {
    /// The final error a destination shows, from its last one.
    pub fn describe(self, policy: &RetryPolicy, last_error: &str) -> String {
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs());
        match self {
            Self::Rejected | Self::Refused => last_error.to_owned(),
            Self::TimedOut => format!(
                "gave up after {} s of failures: {last_error}",
                secs(policy.give_up_after)
            ),
            Self::Unreached => format!(
                "gave up: never reached the ingest in {} s: {last_error}",
                secs(policy.give_up_unreached)
            ),
            Self::DroppedAfterAccepting => format!(
                "rejected: the ingest accepted the stream and closed it {} times within {} s; \
                 check the stream key ({last_error})",
                policy.max_brief_lives,
                policy.brief_live.as_secs()
            ),
        }
    }
}

/// Decides what follows a failure at `now`. `random` is a sample in
/// [-1, 1] that scales the jitter. Returns the decision and the state to keep.
pub fn decide(
    policy: &RetryPolicy,
    state: RetryState,
    class: ErrorClass,
    now: Instant,
    random: f64,
) -> (RetryDecision, RetryState) {
    let failing_since = state.failing_since.unwrap_or(now);
    let brief_lives = match state.live_since {
        Some(since) if now.saturating_duration_since(since) < policy.brief_live => {
            state.brief_lives.saturating_add(1)
        }
        Some(_) => 0,
        None => state.brief_lives,
    };
    let next = RetryState {
        attempt: state.attempt.saturating_add(1),
        failing_since: Some(failing_since),
        ever_live: state.ever_live,
        live_since: None,
        brief_lives,
    };
    if class == ErrorClass::Refused {
        return (RetryDecision::GiveUp(GiveUpReason::Refused), next);
    }
    if policy.max_brief_lives > 0 && brief_lives >= policy.max_brief_lives {
        return (
            RetryDecision::GiveUp(GiveUpReason::DroppedAfterAccepting),
            next,
        );
    }
    if class == ErrorClass::Rejected && !state.ever_live {
        return (RetryDecision::GiveUp(GiveUpReason::Rejected), next);
    }
    if let Some(limit) = policy.give_up_unreached
        && !state.ever_live
        && now.saturating_duration_since(failing_since) >= limit
    {
        return (RetryDecision::GiveUp(GiveUpReason::Unreached), next);
    }
    if let Some(limit) = policy.give_up_after
        && now.saturating_duration_since(failing_since) >= limit
    {
        return (RetryDecision::GiveUp(GiveUpReason::TimedOut), next);
    }
    let exponent = i32::try_from(state.attempt).unwrap_or(i32::MAX).min(64);
    let base = policy.initial.as_secs_f64() * policy.multiplier.max(1.0).powi(exponent);
    let capped = base.min(policy.max.as_secs_f64());
    let spread = policy.jitter.clamp(0.0, 1.0) * random.clamp(-1.0, 1.0);
    let delay = (capped * (1.0 + spread)).clamp(0.0, policy.max.as_secs_f64());
    (
        RetryDecision::Retry {
            attempt: next.attempt,
            delay: Duration::from_secs_f64(delay),
        },
        next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn decision_table() {
        let t0 = Instant::now();
        let policy = RetryPolicy {
            initial: ms(500),
            max: ms(4000),
            multiplier: 2.0,
            jitter: 0.2,
            give_up_after: Some(Duration::from_secs(60)),
            give_up_unreached: None,
            ..RetryPolicy::default()
        };
        let never_live = |attempt, since: Option<u64>| RetryState {
            attempt,
            failing_since: since.map(|s| t0 + ms(s)),
            ever_live: false,
            ..RetryState::default()
        };
        let was_live = |attempt, since: Option<u64>| RetryState {
            ever_live: true,
            ..never_live(attempt, since)
        };
        use ErrorClass::*;
        use RetryDecision::*;
        // (state, class, now ms, random, expected)
        let cases = [
            // Exponential growth without jitter.
            (
                never_live(0, None),
                Transient,
                0,
                0.0,
                Retry {
                    attempt: 1,
                    delay: ms(500),
                },
            ),
            (
                never_live(1, Some(0)),
                Transient,
                600,
                0.0,
                Retry {
                    attempt: 2,
                    delay: ms(1000),
                },
            ),
            (
                never_live(2, Some(0)),
                Transient,
                2000,
                0.0,
                Retry {
                    attempt: 3,
                    delay: ms(2000),
                },
            ),
            // Capped.
            (
                never_live(3, Some(0)),
                Transient,
                4000,
                0.0,
                Retry {
                    attempt: 4,
                    delay: ms(4000),
                },
            ),
            (
                never_live(30, Some(0)),
                Transient,
                50_000,
                0.0,
                Retry {
                    attempt: 31,
                    delay: ms(4000),
                },
            ),
            (
                never_live(u32::MAX, Some(0)),
                Transient,
                50_000,
                0.0,
                Retry {
                    attempt: u32::MAX,
                    delay: ms(4000),
                },
            ),
            // Jitter spreads both ways, never past the cap.
            (
                never_live(1, Some(0)),
                Transient,
                600,
                1.0,
                Retry {
                    attempt: 2,
                    delay: ms(1200),
                },
            ),
            (
                never_live(1, Some(0)),
                Transient,
                600,
                -1.0,
                Retry {
                    attempt: 2,
                    delay: ms(800),
                },
            ),
            (
                never_live(3, Some(0)),
                Transient,
                600,
                1.0,
                Retry {
                    attempt: 4,
                    delay: ms(4000),
                },
            ),
            (
                never_live(3, Some(0)),
                Transient,
                600,
                -1.0,
                Retry {
                    attempt: 4,
                    delay: ms(3200),
                },
            ),
            // Rejected before ever being live: fail fast.
            (
                never_live(0, None),
                Rejected,
                0,
                0.0,
                GiveUp(GiveUpReason::Rejected),
            ),
            // Rejected after having been live: the server may be restarting.
            (
                was_live(0, None),
                Rejected,
                0,
                0.0,
                Retry {
                    attempt: 1,
                    delay: ms(500),
                },
            ),
            // Give up once failing for give_up_after.
            (
                was_live(9, Some(0)),
                Transient,
                59_999,
                0.0,
                Retry {
                    attempt: 10,
                    delay: ms(4000),
                },
            ),
            (
                was_live(10, Some(0)),
                Transient,
                60_000,
                0.0,
                GiveUp(GiveUpReason::TimedOut),
            ),
        ];
        for (state, class, now, random, expected) in cases {
            let (decision, next) = decide(&policy, state, class, t0 + ms(now), random);
            assert_eq!(
                decision, expected,
                "{state:?} {class:?} at {now} ms, random {random}"
            );
            assert_eq!(next.ever_live, state.ever_live);
            assert_eq!(
                next.failing_since,
                Some(state.failing_since.unwrap_or(t0 + ms(now)))
            );
        }
    }

    #[test]
    fn default_policy_never_gives_up_on_transient_errors() {
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        let mut state = RetryState::default();
        for i in 0..1000u64 {
            let now = t0 + Duration::from_secs(i * 10);
            let (decision, next) = decide(&policy, state, ErrorClass::Transient, now, 0.5);
            let RetryDecision::Retry { delay, .. } = decision else {
                panic!("gave up at {i}");
            };
            assert!(delay <= policy.max);
            state = next;
        }
    }

    #[test]
    fn going_live_resets_the_run() {
        let now = Instant::now();
        let mut state = RetryState {
            attempt: 7,
            failing_since: Some(now),
            ever_live: false,
            ..RetryState::default()
        };
        state.went_live(now);
        assert_eq!(state.attempt, 0);
        assert_eq!(state.failing_since, None);
        assert!(state.ever_live);
    }

    #[test]
    fn refusals_and_unreached_destinations_end() {
        let t0 = Instant::now();
        let policy = RetryPolicy {
            give_up_after: Some(Duration::from_secs(300)),
            give_up_unreached: Some(Duration::from_secs(60)),
            ..RetryPolicy::default()
        };
        let failing = |ever_live| RetryState {
            attempt: 5,
            failing_since: Some(t0),
            ever_live,
            ..RetryState::default()
        };
        use ErrorClass::*;
        // (state, class, now s, gives up with)
        let cases = [
            (
                RetryState::default(),
                Refused,
                0,
                Some(GiveUpReason::Refused),
            ),
            (failing(true), Refused, 1, Some(GiveUpReason::Refused)),
            (failing(false), Transient, 59, None),
            (failing(false), Transient, 60, Some(GiveUpReason::Unreached)),
            // Once live, only give_up_after counts.
            (failing(true), Transient, 60, None),
            (failing(true), Transient, 299, None),
            (failing(true), Transient, 300, Some(GiveUpReason::TimedOut)),
        ];
        for (state, class, now, expected) in cases {
            let (decision, _) = decide(&policy, state, class, t0 + Duration::from_secs(now), 0.0);
            let got = match decision {
                RetryDecision::GiveUp(reason) => Some(reason),
                RetryDecision::Retry { .. } => None,
            };
            assert_eq!(got, expected, "{state:?} {class:?} at {now} s");
        }
        assert_eq!(
            GiveUpReason::Unreached.describe(&policy, "connection refused"),
            "gave up: never reached the ingest in 60 s: connection refused"
        );
    }

    /// An ingest that takes the stream and drops it (a wrong key) ends the
    /// destination after `max_brief_lives` brief spells; one spell that
    /// lasts starts the count again; a transient outage after a long spell
    /// is retried as before.
    #[test]
    fn an_ingest_that_keeps_dropping_the_stream_rejects_it() {
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut state = RetryState::default();
        // Live for 1 s, then dropped: twice retried, the third time rejected.
        for (spell, live_at) in [(1, 0), (2, 5), (3, 10)] {
            state.went_live(at(live_at));
            let (decision, next) =
                decide(&policy, state, ErrorClass::Transient, at(live_at + 1), 0.0);
            state = next;
            assert_eq!(state.brief_lives, spell);
            if spell < 3 {
                assert!(
                    matches!(decision, RetryDecision::Retry { .. }),
                    "{decision:?}"
                );
            } else {
                assert_eq!(
                    decision,
                    RetryDecision::GiveUp(GiveUpReason::DroppedAfterAccepting)
                );
                let shown = GiveUpReason::DroppedAfterAccepting.describe(&policy, "EOF");
                assert!(shown.contains("check the stream key"), "{shown}");
            }
        }
        // A spell that lasts resets the count; failing while down does not add to it.
        let mut state = RetryState::default();
        state.went_live(at(0));
        state = decide(&policy, state, ErrorClass::Transient, at(1), 0.0).1;
        state.went_live(at(2));
        state = decide(&policy, state, ErrorClass::Transient, at(3), 0.0).1;
        state = decide(&policy, state, ErrorClass::Transient, at(4), 0.0).1;
        assert_eq!(state.brief_lives, 2);
        state.went_live(at(5));
        let (decision, state) = decide(&policy, state, ErrorClass::Transient, at(600), 0.0);
        assert!(
            matches!(decision, RetryDecision::Retry { .. }),
            "{decision:?}"
        );
        assert_eq!(state.brief_lives, 0);
        // Off when max_brief_lives is 0.
        let never = RetryPolicy {
            max_brief_lives: 0,
            ..RetryPolicy::default()
        };
        let mut state = RetryState::default();
        for i in 0..10 {
            state.went_live(at(i * 2));
            let (decision, next) = decide(&never, state, ErrorClass::Transient, at(i * 2 + 1), 0.0);
            assert!(
                matches!(decision, RetryDecision::Retry { .. }),
                "{decision:?}"
            );
            state = next;
        }
    }
}
