//! Real links in user space (this kernel has no netem): a student behind an
//! [`Impairment`] has each of its datagrams, in both directions, pass a
//! [`Link`] that loses some (random and in bursts: a two-state
//! Gilbert-Elliott model), holds others behind a bandwidth cap (a token
//! bucket with a drop-tail queue, as a router's buffer), and delays the rest
//! (fixed delay plus jitter, order kept). The shard holds what the link
//! delays and releases it on time. Pure: time comes from the caller.

use std::time::{Duration, Instant};

/// What a student's link does to its traffic.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Impairment {
    pub name: &'static str,
    /// Share of packets lost over time (0..1).
    pub loss: f64,
    /// Mean length of a loss burst, in packets (1: independent losses).
    pub burst: f64,
    /// One-way delay, and up to this much more or less.
    #[serde(with = "millis")]
    pub delay: Duration,
    #[serde(with = "millis")]
    pub jitter: Duration,
    /// The cap, bits per second (each direction), and the queue before it.
    pub rate_bps: Option<u64>,
    #[serde(with = "millis")]
    pub queue: Duration,
}

impl Impairment {
    /// A home line that works: a little delay and jitter.
    pub const GOOD: Self = Self {
        name: "good",
        loss: 0.0,
        burst: 1.0,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        rate_bps: None,
        queue: Duration::ZERO,
    };
    /// A mobile link: 1.6 Mbit/s, 150 ms, 1 % loss.
    pub const THREE_G: Self = Self {
        name: "3g",
        loss: 0.01,
        burst: 1.5,
        delay: Duration::from_millis(150),
        jitter: Duration::from_millis(20),
        rate_bps: Some(1_600_000),
        queue: Duration::from_millis(300),
    };
    /// A bad Wi-Fi: 5 % loss (in bursts), 80 ms.
    pub const LOSSY: Self = Self {
        name: "lossy",
        loss: 0.05,
        burst: 2.0,
        delay: Duration::from_millis(80),
        jitter: Duration::from_millis(15),
        rate_bps: None,
        queue: Duration::ZERO,
    };

    pub fn named(name: &str) -> Option<Self> {
        [Self::GOOD, Self::THREE_G, Self::LOSSY]
            .into_iter()
            .find(|i| i.name == name)
    }
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// A small, seeded generator (xorshift64*): the same bot loses the same way
/// from run to run.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of a student's link.
#[derive(Debug, Clone)]
pub struct Link {
    profile: Impairment,
    rng: Rng,
    /// In a loss burst.
    bad: bool,
    /// When the cap's queue is empty again.
    busy_until: Option<Instant>,
    /// When the last datagram is released (order is kept).
    last_release: Option<Instant>,
    /// Whether the cap applies now ([`Link::set_capped`]).
    capped: bool,
    pub lost: u64,
    pub dropped_by_cap: u64,
}

impl Link {
    pub fn new(profile: Impairment, seed: u64) -> Self {
        Self {
            profile,
            rng: Rng::new(seed),
            bad: false,
            busy_until: None,
            last_release: None,
            capped: true,
            lost: 0,
            dropped_by_cap: 0,
        }
    }

    /// Lifts (or puts back) the bandwidth cap; loss and delay stay.
    pub fn set_capped(&mut self, capped: bool) {
        self.capped = capped;
        if !capped {
            self.busy_until = None;
        }
    }

    /// When a datagram of `len` bytes that arrives at `now` comes out of the
    /// link; `None` when it is lost.
    pub fn pass(&mut self, now: Instant, len: usize) -> Option<Instant> {
        if self.lose() {
            self.lost += 1;
            return None;
        }
        let mut out = now;
        if let (Some(rate), true) = (self.profile.rate_bps, self.capped) {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            if start.saturating_duration_since(now) > self.profile.queue {
                self.dropped_by_cap += 1;
                return None;
            }
            let send = Duration::from_secs_f64((len as f64 + 28.0) * 8.0 / rate as f64);
            self.busy_until = Some(start + send);
            out = start + send;
        }
        let jitter = self.profile.jitter.as_secs_f64() * (2.0 * self.rng.next() - 1.0);
        let delay = (self.profile.delay.as_secs_f64() + jitter).max(0.0);
        let release = out + Duration::from_secs_f64(delay);
        let release = self.last_release.map_or(release, |last| last.max(release));
        self.last_release = Some(release);
        Some(release)
    }

    /// Gilbert-Elliott: in a burst every packet is lost and a burst ends
    /// with probability 1/burst; a burst starts with the probability that
    /// makes `loss` the long-run share.
    fn lose(&mut self) -> bool {
        let (loss, burst) = (self.profile.loss, self.profile.burst.max(1.0));
        if loss <= 0.0 {
            return false;
        }
        if self.bad {
            if self.rng.next() < 1.0 / burst {
                self.bad = false;
            }
        } else if self.rng.next() < loss / (burst * (1.0 - loss)) {
            self.bad = true;
        }
        self.bad
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loses_the_share_asked_for_in_bursts() {
        let mut link = Link::new(Impairment::LOSSY, 7);
        let now = Instant::now();
        let (mut lost, mut bursts, mut previous) = (0, 0, false);
        let n = 200_000;
        for _ in 0..n {
            let gone = link.pass(now, 100).is_none();
            lost += usize::from(gone);
            bursts += usize::from(gone && !previous);
            previous = gone;
        }
        let share = lost as f64 / n as f64;
        assert!((0.045..0.055).contains(&share), "{share}");
        let mean_burst = lost as f64 / bursts as f64;
        assert!((1.8..2.2).contains(&mean_burst), "{mean_burst}");
    }

    #[test]
    fn delays_within_the_jitter_and_keeps_order() {
        let mut link = Link::new(Impairment::GOOD, 1);
        let start = Instant::now();
        let mut last = start;
        for i in 0..1000 {
            let now = start + Duration::from_millis(i);
            let out = link.pass(now, 100).unwrap();
            let delay = out - now;
            assert!(delay <= Duration::from_millis(25), "{delay:?}");
            assert!(out >= last);
            last = out;
        }
    }

    #[test]
    fn the_cap_holds_the_rate_and_drops_beyond_its_queue() {
        let profile = Impairment {
            loss: 0.0,
            jitter: Duration::ZERO,
            ..Impairment::THREE_G
        };
        let mut link = Link::new(profile, 3);
        let start = Instant::now();
        // 4 Mbit/s offered for 2 s into a 1.6 Mbit/s cap.
        let mut last = start;
        let mut passed = 0u64;
        for i in 0..1000 {
            let now = start + Duration::from_millis(2 * i);
            if let Some(out) = link.pass(now, 972) {
                passed += 1;
                last = out;
            }
        }
        let secs = (last - start).as_secs_f64() - 0.15;
        let rate = passed as f64 * 1000.0 * 8.0 / secs;
        assert!((1.5e6..1.7e6).contains(&rate), "{rate}");
        assert!(link.dropped_by_cap > 400, "{}", link.dropped_by_cap);
        // The cap lifted: no more queueing, only the delay.
        link.set_capped(false);
        let now = start + Duration::from_secs(3);
        let out = link.pass(now, 972).unwrap();
        assert_eq!(out - now, Duration::from_millis(150));
    }
}
