//! What a bot counts on each received RTP stream, and the arithmetic over it:
//! loss from extended sequence numbers (RFC 3550, A.3), interarrival jitter
//! (RFC 3550, 6.4.1), windows as differences of cumulative counters, and
//! percentiles. Pure: no clocks, no I/O.

use serde::Serialize;
use std::time::Instant;

/// Loss and jitter of one RTP stream, from its first packet on.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Extended sequence number of the first packet.
    base: Option<u64>,
    /// Highest extended sequence number seen.
    highest: u64,
    /// Packets received (str0m has already dropped duplicates).
    received: u64,
    /// Bytes of RTP payload received.
    payload_bytes: u64,
    /// Sequence numbers the sender skipped on purpose (no packet behind
    /// them): not expected.
    skipped: u64,
    jitter: Jitter,
}

impl StreamStats {
    /// Records one packet: its extended sequence number, RTP timestamp,
    /// arrival time (seconds on any monotonic clock) and payload size.
    pub fn on_packet(
        &mut self,
        seq: u64,
        rtp_time: u32,
        arrival_secs: f64,
        clock_rate: u32,
        bytes: usize,
    ) {
        match self.base {
            None => {
                self.base = Some(seq);
                self.highest = seq;
            }
            Some(base) if seq < base => self.base = Some(seq), // reordered before the first
            Some(_) => self.highest = self.highest.max(seq),
        }
        self.received += 1;
        self.payload_bytes += bytes as u64;
        self.jitter.on_packet(rtp_time, arrival_secs, clock_rate);
    }

    /// Highest extended sequence number seen (0 before any).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether any packet came yet.
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    /// `n` sequence numbers that carry no packet, by the sender's choice.
    pub fn skip(&mut self, n: u64) {
        self.skipped += n;
    }

    /// Packets expected so far: the span of sequence numbers seen, less
    /// those skipped on purpose.
    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |base| {
            (self.highest - base + 1).saturating_sub(self.skipped)
        })
    }

    pub fn counters(&self) -> Counters {
        Counters {
            received: self.received,
            expected: self.expected(),
            payload_bytes: self.payload_bytes,
            jitter_ms: self.jitter.millis(),
            streams: 1,
        }
    }
}

/// RFC 3550 interarrival jitter, kept in seconds.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    last_transit: Option<f64>,
    jitter: f64,
}

impl Jitter {
    pub fn on_packet(&mut self, rtp_time: u32, arrival_secs: f64, clock_rate: u32) {
        if clock_rate == 0 {
            return;
        }
        let transit = arrival_secs - f64::from(rtp_time) / f64::from(clock_rate);
        if let Some(last) = self.last_transit {
            let mut d = (transit - last).abs();
            // A wrap of the 32-bit RTP clock shows as a jump of 2^32 ticks.
            let wrap = 4_294_967_296.0 / f64::from(clock_rate);
            if d > wrap / 2.0 {
                d = (d - wrap).abs();
            }
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    pub fn millis(&self) -> f64 {
        self.jitter * 1000.0
    }
}

/// Cumulative counters of one or more streams; a window is the difference
/// of two snapshots ([`Counters::since`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counters {
    pub received: u64,
    pub expected: u64,
    pub payload_bytes: u64,
    /// Sum of the streams' current jitter (a gauge, not a counter): divide by `streams`.
    pub jitter_ms: f64,
    pub streams: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.received += other.received;
        self.expected += other.expected;
        self.payload_bytes += other.payload_bytes;
        self.jitter_ms += other.jitter_ms;
        self.streams += other.streams;
    }

    /// What happened between `earlier` and `self` (jitter: the later value).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            received: self.received.saturating_sub(earlier.received),
            expected: self.expected.saturating_sub(earlier.expected),
            payload_bytes: self.payload_bytes.saturating_sub(earlier.payload_bytes),
            jitter_ms: self.jitter_ms,
            streams: self.streams,
        }
    }

    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Lost packets as a percentage of the expected ones (0 when none were expected).
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost() as f64 * 100.0 / self.expected as f64
        }
    }
}

/// Everything one bot received, by media kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BotCounters {
    pub audio: Counters,
    pub video: Counters,
    /// UDP datagrams and bytes received from the SFU (SRTP, SRTCP, STUN, DTLS).
    pub datagrams: u64,
    pub udp_bytes: u64,
    /// RTX packets received (browser-like students: each repairs a loss).
    pub rtx: u64,
    /// NACKs and PLIs the student sent.
    pub nacks: u64,
    pub plis: u64,
    /// Sequence numbers mediasoup skipped at a layer switch (not loss).
    pub switch_skips: u64,
}

impl BotCounters {
    pub fn add(&mut self, other: &BotCounters) {
        self.audio.add(&other.audio);
        self.video.add(&other.video);
        self.datagrams += other.datagrams;
        self.udp_bytes += other.udp_bytes;
        self.rtx += other.rtx;
        self.nacks += other.nacks;
        self.plis += other.plis;
        self.switch_skips += other.switch_skips;
    }

    pub fn since(&self, earlier: &BotCounters) -> BotCounters {
        BotCounters {
            audio: self.audio.since(&earlier.audio),
            video: self.video.since(&earlier.video),
            datagrams: self.datagrams.saturating_sub(earlier.datagrams),
            udp_bytes: self.udp_bytes.saturating_sub(earlier.udp_bytes),
            rtx: self.rtx.saturating_sub(earlier.rtx),
            nacks: self.nacks.saturating_sub(earlier.nacks),
            plis: self.plis.saturating_sub(earlier.plis),
            switch_skips: self.switch_skips.saturating_sub(earlier.switch_skips),
        }
    }

    /// Loss before repair: what was lost for good plus what RTX brought back,
    /// over what was expected (%).
    pub fn loss_before_repair_pct(&self) -> f64 {
        let media = self.media();
        if media.expected == 0 {
            0.0
        } else {
            (media.lost() + self.rtx).min(media.expected) as f64 * 100.0 / media.expected as f64
        }
    }

    /// Audio and video together.
    pub fn media(&self) -> Counters {
        let mut all = self.audio;
        all.add(&self.video);
        all
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; `None` when empty.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Milliseconds between two instants, as a float.
pub fn millis_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// p50, p95 and p99 of samples, rounded to 0.1 ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    pub fn of(samples: &[f64]) -> Spread {
        let at = |p| round1(percentile(samples, p).unwrap_or(0.0));
        Spread {
            p50: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max: at(100.0),
            count: samples.len(),
        }
    }
}

/// Least-squares slope of `(x, y)` points; `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    Some(sxy / sxx)
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stats: &mut StreamStats, seqs: &[u64]) {
        for (i, &seq) in seqs.iter().enumerate() {
            stats.on_packet(seq, (seq as u32) * 960, i as f64 * 0.02, 48_000, 100);
        }
    }

    #[test]
    fn no_gaps_no_loss() {
        let mut s = StreamStats::default();
        feed(&mut s, &[10, 11, 12, 13]);
        let c = s.counters();
        assert_eq!((c.received, c.expected, c.lost()), (4, 4, 0));
        assert_eq!(c.loss_pct(), 0.0);
    }

    #[test]
    fn gaps_are_loss_and_reordering_is_not() {
        let mut s = StreamStats::default();
        feed(&mut s, &[100, 101, 103, 102, 106]);
        let c = s.counters();
        assert_eq!(c.expected, 7);
        assert_eq!(c.received, 5);
        assert_eq!(c.lost(), 2);
        assert!((c.loss_pct() - 200.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn numbers_skipped_on_purpose_are_not_loss() {
        let mut s = StreamStats::default();
        feed(&mut s, &[100, 101, 103, 104, 107]);
        s.skip(1); // 102: mediasoup's skip at a layer switch
        let c = s.counters();
        assert_eq!((c.expected, c.received, c.lost()), (7, 5, 2));
    }

    #[test]
    fn a_packet_older_than_the_first_moves_the_base() {
        let mut s = StreamStats::default();
        feed(&mut s, &[50, 49, 51]);
        assert_eq!(s.counters().expected, 3);
        assert_eq!(s.counters().lost(), 0);
    }

    #[test]
    fn extended_sequence_numbers_cross_the_16_bit_wrap() {
        let mut s = StreamStats::default();
        feed(&mut s, &[65_534, 65_535, 65_536, 65_538]);
        assert_eq!(s.counters().expected, 5);
        assert_eq!(s.counters().lost(), 1);
    }

    #[test]
    fn windows_are_differences_of_cumulative_counters() {
        let mut s = StreamStats::default();
        feed(&mut s, &[1, 2, 3]);
        let before = s.counters();
        for seq in [4, 6, 7, 10] {
            s.on_packet(seq, 0, 0.0, 48_000, 10);
        }
        let window = s.counters().since(&before);
        assert_eq!(window.expected, 7); // 4..=10
        assert_eq!(window.received, 4);
        assert_eq!(window.lost(), 3);
        assert_eq!(window.payload_bytes, 40);
    }

    #[test]
    fn jitter_is_zero_for_perfect_pacing_and_grows_with_variation() {
        let mut perfect = Jitter::default();
        for i in 0..100u32 {
            perfect.on_packet(i * 960, f64::from(i) * 0.020, 48_000);
        }
        assert!(perfect.millis().abs() < 1e-6);

        let mut bumpy = Jitter::default();
        for i in 0..100u32 {
            let late = if i % 2 == 0 { 0.0 } else { 0.010 };
            bumpy.on_packet(i * 960, f64::from(i) * 0.020 + late, 48_000);
        }
        // |D| is 10 ms every packet: the estimate converges towards 10 ms.
        assert!(
            bumpy.millis() > 9.0 && bumpy.millis() <= 10.0,
            "{}",
            bumpy.millis()
        );
    }

    #[test]
    fn jitter_survives_the_rtp_clock_wrap() {
        let mut j = Jitter::default();
        let start = u32::MAX - 3 * 960;
        for i in 0..10u32 {
            j.on_packet(start.wrapping_add(i * 960), f64::from(i) * 0.020, 48_000);
        }
        assert!(j.millis() < 1e-3, "{}", j.millis());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50.0));
        assert_eq!(percentile(&samples, 95.0), Some(95.0));
        assert_eq!(percentile(&samples, 99.0), Some(99.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
        assert_eq!(percentile(&samples, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0, 3.0, 5.0], 50.0), Some(5.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
    }

    #[test]
    fn spread_rounds_and_counts() {
        let s = Spread::of(&[1.04, 2.06, 3.0]);
        assert_eq!(s.p50, 2.1);
        assert_eq!(s.max, 3.0);
        assert_eq!(s.count, 3);
        assert_eq!(Spread::of(&[]).p95, 0.0);
    }

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 7.0))
            .collect();
        assert!((slope(&line).unwrap() - 3.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 6.0), (2.0, 5.0), (3.0, 6.0)];
        assert!(slope(&flat).unwrap().abs() < 0.5);
        assert_eq!(slope(&[(1.0, 1.0)]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    #[test]
    fn bot_counters_add_up_and_subtract() {
        let mut a = BotCounters::default();
        a.audio.received = 10;
        a.audio.expected = 10;
        a.video.received = 5;
        a.video.expected = 6;
        a.udp_bytes = 1000;
        let mut total = BotCounters::default();
        total.add(&a);
        total.add(&a);
        assert_eq!(total.media().received, 30);
        assert_eq!(total.media().lost(), 2);
        let window = total.since(&a);
        assert_eq!(window.udp_bytes, 1000);
        assert_eq!(window.video.lost(), 1);
    }
}
