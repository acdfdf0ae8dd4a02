//! Churn: a class of N students where students keep leaving (half say
//! `leave`, half just drop the connection) and new ones join, for a long
//! time, sampling the server's memory to see whether it stays flat.

use crate::bots::student::Exit;
use crate::crowd::Record;
use crate::measure::{self, judge};
use crate::procfs::Machine;
use crate::report::Step;
use crate::stats::{round1, round2, slope};
use crate::testbed::Testbed;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Plan {
    pub students: usize,
    /// Students replaced per second.
    pub rate: f64,
    pub duration: Duration,
    pub sample: Duration,
    /// Samples before this are left out of the memory trend (allocators warm up).
    pub warmup: Duration,
    pub join_rate: f64,
    pub goal_loss_pct: f64,
    pub goal_join_p95_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub minute: f64,
    pub rss_mb: f64,
    pub live_students: usize,
    pub joins: usize,
    pub step: Step,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    pub machine: Machine,
    pub command: String,
    pub script: Option<String>,
    pub generated_at: u64,
    pub workers: usize,
    pub students: usize,
    pub replaced_per_second: f64,
    pub minutes: f64,
    #[serde(flatten)]
    pub summary: Summary,
    pub samples: Vec<Sample>,
    /// "ok", or why not.
    pub verdict: String,
    pub server_stopped: String,
}

pub async fn churn(testbed: &mut Testbed, plan: &Plan) -> Vec<Sample> {
    let ids = testbed
        .crowd
        .spawn_many(plan.students, plan.join_rate)
        .await;
    testbed
        .crowd
        .settle(
            &ids,
            Duration::from_secs(30) + Duration::from_millis(100 * ids.len() as u64),
        )
        .await;
    let start = Instant::now();
    let mut order: VecDeque<u64> = testbed.crowd.live().into_iter().collect();
    let mut samples = Vec::new();
    let mut probe = testbed.probe().await;
    let mut window_joins: Vec<u64> = Vec::new();
    let mut next_sample = start + plan.sample;
    let mut next_swap = start;
    let gap = Duration::from_secs_f64(1.0 / plan.rate.max(0.01));
    let mut drop_next = false;
    while start.elapsed() < plan.duration && testbed.server.is_running() {
        let now = Instant::now();
        if now >= next_swap {
            next_swap += gap;
            // The oldest student goes, a new one comes.
            while let Some(old) = order.pop_front() {
                if testbed.crowd.records.get(&old).is_some_and(Record::is_live) {
                    let how = if drop_next { Exit::Drop } else { Exit::Leave };
                    drop_next = !drop_next;
                    testbed.crowd.dismiss(old, how);
                    break;
                }
            }
            let new = testbed.crowd.spawn();
            order.push_back(new);
            window_joins.push(new);
        }
        if now >= next_sample {
            next_sample += plan.sample;
            let next = testbed.probe().await;
            // Joins of this window that have settled; the others count next time.
            let figures = testbed.crowd.figures(&window_joins, false);
            let live = testbed.crowd.live().len();
            let mut step = measure::step(
                "churn",
                testbed.workers,
                plan.students,
                &probe,
                &next,
                &figures,
            );
            step.verdict = judge(&step, plan.goal_loss_pct, plan.goal_join_p95_ms).2;
            let sample = Sample {
                minute: round2(start.elapsed().as_secs_f64() / 60.0),
                rss_mb: step.rss_mb,
                live_students: live,
                joins: window_joins.len() - figures.pending,
                step,
            };
            println!(
                "churn {:>6.1} min  rss {:>7.1} MB  live {:>4}  joins {:>4}  join p95 {:>5.0} ms  loss {:.2} %  worker CPU {:?}",
                sample.minute,
                sample.rss_mb,
                live,
                sample.joins,
                sample.step.join_p95_ms,
                sample.step.loss_pct,
                sample.step.cpu_pct_per_worker
            );
            samples.push(sample);
            // Joins still under way are counted in the next window.
            window_joins.retain(|id| {
                testbed
                    .crowd
                    .records
                    .get(id)
                    .is_some_and(Record::is_pending)
            });
            probe = next;
        }
        let wake = next_swap.min(next_sample);
        let wait = wake
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        testbed.crowd.idle(wait).await;
    }
    samples
}

/// The figures of a churn run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub rss_after_warmup_mb: f64,
    pub rss_end_mb: f64,
    pub rss_max_mb: f64,
    /// Least-squares trend of RSS after the warm-up, and over the second half.
    pub rss_slope_mb_per_min: f64,
    pub rss_slope_second_half_mb_per_min: f64,
    pub loss_pct: f64,
    pub joins: usize,
    pub join_failures: usize,
}

pub fn summarize(samples: &[Sample], warmup: Duration) -> Summary {
    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.minute * 60.0 >= warmup.as_secs_f64())
        .collect();
    let trend: Vec<(f64, f64)> = warm.iter().map(|s| (s.minute, s.rss_mb)).collect();
    let end_minute = samples.last().map_or(0.0, |s| s.minute);
    let second_half: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.minute >= end_minute / 2.0)
        .map(|s| (s.minute, s.rss_mb))
        .collect();
    let lost: u64 = samples.iter().map(|s| s.step.packets_lost).sum();
    let expected: u64 = samples.iter().map(|s| s.step.packets_expected).sum();
    Summary {
        rss_after_warmup_mb: round1(warm.first().map_or(0.0, |s| s.rss_mb)),
        rss_end_mb: round1(samples.last().map_or(0.0, |s| s.rss_mb)),
        rss_max_mb: round1(samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max)),
        rss_slope_mb_per_min: round2(slope(&trend).unwrap_or(0.0)),
        rss_slope_second_half_mb_per_min: round2(slope(&second_half).unwrap_or(0.0)),
        loss_pct: round2(if expected == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / expected as f64
        }),
        joins: samples.iter().map(|s| s.joins).sum(),
        join_failures: samples.iter().map(|s| s.step.join_failures).sum(),
    }
}

/// Flat when the second half of the run grows by less than 2 % of the
/// resident size (allocators settle during the first half).
pub fn memory_verdict(summary: &Summary, minutes: f64) -> String {
    let half_growth = summary.rss_slope_second_half_mb_per_min * minutes / 2.0;
    if half_growth.abs() <= 0.02 * summary.rss_after_warmup_mb.max(1.0) {
        format!("memory flat: {half_growth:+.1} MB over the second half")
    } else {
        format!(
            "memory not flat: {:+.2} MB/min over the second half",
            summary.rss_slope_second_half_mb_per_min
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(minute: f64, rss: f64) -> Sample {
        Sample {
            minute,
            rss_mb: rss,
            live_students: 10,
            joins: 5,
            step: Step {
                packets_expected: 100,
                packets_lost: 1,
                ..Default::default()
            },
        }
    }

    #[test]
    fn summary_and_verdict() {
        // Grows during warm-up, then flat.
        let flat: Vec<Sample> = (1..=20)
            .map(|m| sample(f64::from(m), if m < 5 { 50.0 + f64::from(m) } else { 55.0 }))
            .collect();
        let s = summarize(&flat, Duration::from_secs(120));
        assert_eq!(s.rss_after_warmup_mb, 52.0);
        assert_eq!(s.rss_end_mb, 55.0);
        assert_eq!(s.rss_slope_second_half_mb_per_min, 0.0);
        assert_eq!(s.joins, 100);
        assert_eq!(s.loss_pct, 1.0);
        assert!(memory_verdict(&s, 20.0).starts_with("memory flat"));

        // A steady leak of 1 MB per minute.
        let leak: Vec<Sample> = (1..=20)
            .map(|m| sample(f64::from(m), 50.0 + f64::from(m)))
            .collect();
        let s = summarize(&leak, Duration::from_secs(120));
        assert_eq!(s.rss_slope_mb_per_min, 1.0);
        assert!(memory_verdict(&s, 20.0).starts_with("memory not flat"));
    }
}
