//! Figures over a sliding window: bytes or frames per second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Window of the bitrate and frame-rate figures.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Samples of a growing counter over [`RATE_WINDOW`].
#[derive(Default)]
pub(super) struct RateWindow {
    pub(super) samples: VecDeque<(Instant, u64)>,
}

impl RateWindow {
    pub(super) fn push(&mut self, now: Instant, total: u64) {
        self.samples.push_back((now, total));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    pub(super) fn per_second(&self, scale: f64) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, v0)), Some((t1, v1))) if t1 > t0 => {
                v1.saturating_sub(*v0) as f64 * scale / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.samples.clear();
    }
}
