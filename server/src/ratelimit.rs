//! A token bucket: `rate` tokens a second, at most `burst` saved up.
//! Pure: the caller passes the clock.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// `per_minute` tokens a minute, at most `burst` saved up.
    pub fn per_minute(per_minute: u32, burst: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(per_minute) / 60.0,
            ..Self::new(0, burst, now)
        }
    }

    /// Returns `n` tokens taken for something that did not happen after all.
    pub fn give_back(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(self.burst);
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.take_n(1, now)
    }

    /// Takes `n` tokens if there are that many (bytes of a message, say).
    pub fn take_n(&mut self, n: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= f64::from(n) {
            self.tokens -= f64::from(n);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 20, t0);
        assert_eq!((0..25).filter(|_| bucket.take(t0)).count(), 20);
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..25).filter(|_| bucket.take(t1)).count(), 5);
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..25).filter(|_| bucket.take(t2)).count(), 20);
    }

    #[test]
    fn counts_bytes_and_minutes() {
        let t0 = Instant::now();
        let mut bytes = TokenBucket::new(100, 1000, t0);
        assert!(bytes.take_n(900, t0));
        assert!(!bytes.take_n(200, t0), "only 100 left");
        assert!(bytes.take_n(200, t0 + Duration::from_secs(1)));
        let mut chat = TokenBucket::per_minute(30, 5, t0);
        assert_eq!((0..10).filter(|_| chat.take(t0)).count(), 5);
        assert!(!chat.take(t0 + Duration::from_secs(1)), "one per 2 s");
        assert!(chat.take(t0 + Duration::from_secs(2)));
    }
}
