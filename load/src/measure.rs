//! A measurement window: probe everything at its start and end (bots'
//! counters, /metrics, /proc of the server and of this process, kernel UDP
//! drops) and turn the difference into a [`Step`].

use crate::bots::Ctx;
use crate::crowd::JoinFigures;
use crate::engine::{BotView, PublisherStats, ShardSnapshot};
use crate::procfs::{self, UdpErrors};
use crate::prom::Scrape;
use crate::report::Step;
use crate::stats::{BotCounters, Spread, millis_between, round1, round2};
use crate::testbed::Sfu;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Everything read at one moment.
pub struct Probe {
    pub at: Instant,
    pub shards: Vec<ShardSnapshot>,
    pub scrape: Scrape,
    pub server_cpu: f64,
    pub tool_cpu: f64,
    pub rss_mb: f64,
    pub udp: UdpErrors,
    pub server_drops: u64,
    /// Drops on the server's other UDP sockets: the pipe transports between workers.
    pub pipe_drops: u64,
    /// Drops on the server socket of the teacher's transport (lost before the fan-out).
    pub teacher_drops: u64,
    pub bot_drops: u64,
    pub teacher: PublisherStats,
    /// CPU seconds of the server's and this tool's threads, by thread name.
    pub server_threads: BTreeMap<String, f64>,
    pub tool_threads: BTreeMap<String, f64>,
    /// Busy CPU seconds of the whole machine, and its softirq part (/proc/stat).
    pub machine_busy: f64,
    pub softirq: f64,
    pub steal: f64,
}

/// CPU seconds by thread name (numbered names like load-shard-3 kept apart).
fn threads_by_name(pid: u32) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (_, name, cpu) in procfs::threads(pid) {
        *out.entry(name).or_insert(0.0) += cpu;
    }
    out
}

fn thread_deltas(
    a: &BTreeMap<String, f64>,
    b: &BTreeMap<String, f64>,
    secs: f64,
) -> BTreeMap<String, f64> {
    b.iter()
        .map(|(name, cpu)| {
            let pct = (cpu - a.get(name).copied().unwrap_or(0.0)) / secs * 100.0;
            (name.clone(), round1(pct))
        })
        .filter(|(_, pct)| *pct >= 0.5)
        .collect()
}

impl Probe {
    pub async fn take(
        ctx: &Ctx,
        server: &Sfu,
        teacher: PublisherStats,
        teacher_port: u16,
    ) -> Probe {
        let mut shards = Vec::with_capacity(ctx.shards.len());
        for shard in &ctx.shards {
            shards.push(shard.snapshot().await);
        }
        let scrape = server.scrape(&ctx.client).await;
        let pid = server.pid();
        let sockets = procfs::udp_sockets();
        let bot_ports: Vec<u16> = shards.iter().map(|s| s.local_port).collect();
        // The server's own sockets: its WebRTC transports (in its port
        // range) and the pipe transports between its workers (elsewhere).
        let (lo, hi) = server.rtc_ports();
        let inodes = procfs::socket_inodes(pid);
        let (mut server_drops, mut pipe_drops) = (0, 0);
        for s in sockets.iter().filter(|s| inodes.contains(&s.inode)) {
            if (lo..=hi).contains(&s.local_port) {
                server_drops += s.drops;
            } else {
                pipe_drops += s.drops;
            }
        }
        let teacher_drops = sockets
            .iter()
            .filter(|s| s.local_port == teacher_port)
            .map(|s| s.drops)
            .sum();
        let bot_drops = sockets
            .iter()
            .filter(|s| bot_ports.contains(&s.local_port))
            .map(|s| s.drops)
            .sum();
        let busy = procfs::machine_busy_seconds().unwrap_or((0.0, 0.0, 0.0));
        Probe {
            at: Instant::now(),
            shards,
            scrape,
            server_cpu: procfs::process_cpu_seconds(pid).unwrap_or(0.0),
            tool_cpu: procfs::process_cpu_seconds(std::process::id()).unwrap_or(0.0),
            rss_mb: procfs::rss_mb(pid).unwrap_or(0.0),
            udp: procfs::udp_errors(),
            server_drops,
            pipe_drops,
            teacher_drops,
            bot_drops,
            teacher,
            server_threads: threads_by_name(pid),
            tool_threads: threads_by_name(std::process::id()),
            machine_busy: busy.0,
            softirq: busy.1,
            steal: busy.2,
        }
    }

    fn totals(&self) -> BotCounters {
        let mut t = BotCounters::default();
        for s in &self.shards {
            t.add(&s.totals);
        }
        t
    }

    fn per_bot(&self) -> HashMap<u64, BotCounters> {
        self.shards
            .iter()
            .flat_map(|s| s.bots.iter().copied())
            .collect()
    }

    pub fn views(&self) -> HashMap<u64, BotView> {
        self.shards
            .iter()
            .flat_map(|s| s.views.iter().copied())
            .collect()
    }
}

/// The students present in both probes who did not receive both audio and
/// video between them: (id, impaired, audio packets, video packets, layer).
pub fn not_receiving(a: &Probe, b: &Probe) -> Vec<(u64, bool, u64, u64, Option<u8>)> {
    let before = a.per_bot();
    let views = b.views();
    let mut out: Vec<_> = b
        .per_bot()
        .iter()
        .filter_map(|(id, c)| Some((*id, c.since(before.get(id)?))))
        .filter(|(_, d)| d.audio.received == 0 || d.video.received == 0)
        .map(|(id, d)| {
            let view = views.get(&id).copied().unwrap_or_default();
            (
                id,
                view.impaired,
                d.audio.received,
                d.video.received,
                view.layer,
            )
        })
        .collect();
    out.sort_unstable_by_key(|s| s.0);
    out
}

/// What the students of one group (good or impaired links) got in a window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Group {
    pub students: usize,
    /// Loss after repair (what never arrived) and before (RTX included), %.
    pub loss_pct: f64,
    pub loss_before_repair_pct: f64,
    /// Students on each simulcast layer (180p, 360p, 720p) at the window's end.
    pub layers: [usize; 3],
}

/// A group's raw window: its students' counters summed, and their layers.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupWindow {
    pub students: usize,
    pub counters: BotCounters,
    pub layers: [usize; 3],
}

impl From<&GroupWindow> for Group {
    fn from(w: &GroupWindow) -> Self {
        Group {
            students: w.students,
            loss_pct: round2(w.counters.media().loss_pct()),
            loss_before_repair_pct: round2(w.counters.loss_before_repair_pct()),
            layers: w.layers,
        }
    }
}

/// The students present in both probes, split into (good links, impaired).
pub fn groups(a: &Probe, b: &Probe) -> (GroupWindow, GroupWindow) {
    let before = a.per_bot();
    let views = b.views();
    let (mut good, mut bad) = (GroupWindow::default(), GroupWindow::default());
    for (id, counters) in b.per_bot() {
        let Some(earlier) = before.get(&id) else {
            continue;
        };
        let view = views.get(&id).copied().unwrap_or_default();
        let group = if view.impaired { &mut bad } else { &mut good };
        group.students += 1;
        group.counters.add(&counters.since(earlier));
        if let Some(layer) = view.layer {
            group.layers[usize::from(layer.min(2))] += 1;
        }
    }
    (good, bad)
}

/// The step between two probes. `students` is what the step asked for.
pub fn step(
    phase: &str,
    workers: usize,
    students: usize,
    a: &Probe,
    b: &Probe,
    joins: &JoinFigures,
) -> Step {
    let secs = b.at.saturating_duration_since(a.at).as_secs_f64().max(1e-3);
    let window = b.totals().since(&a.totals());
    let media = window.media();

    // Students present for the whole window: who received, who lost.
    let before = a.per_bot();
    let views = b.views();
    let windows: Vec<BotCounters> = b
        .per_bot()
        .iter()
        .filter_map(|(id, c)| Some(c.since(before.get(id)?)))
        .collect();
    let (good, bad) = groups(a, b);
    let (good, bad) = (Group::from(&good), Group::from(&bad));
    // Time from media up to the top layer, for the good students who got there.
    let to_top: Vec<f64> = views
        .values()
        .filter(|v| !v.impaired)
        .filter_map(|v| Some(millis_between(v.connected_at?, v.top_layer_at?)))
        .collect();
    let to_top = Spread::of(&to_top);
    let receiving = windows
        .iter()
        .filter(|d| d.audio.received > 0 && d.video.received > 0)
        .count();
    let with_loss = windows.iter().filter(|d| d.media().lost() > 0).count();
    let worst = windows
        .iter()
        .map(|d| d.media().loss_pct())
        .fold(0.0, f64::max);
    let machine_cpu = (b.machine_busy - a.machine_busy) / secs * 100.0;
    let server_cpu = (b.server_cpu - a.server_cpu) / secs * 100.0;
    let tool_cpu = (b.tool_cpu - a.tool_cpu) / secs * 100.0;
    let softirq = (b.softirq - a.softirq) / secs * 100.0;

    let worker_cpu: Vec<f64> = b
        .scrape
        .worker_cpu_seconds
        .iter()
        .map(|(slot, s)| {
            let earlier = a
                .scrape
                .worker_cpu_seconds
                .get(slot)
                .copied()
                .unwrap_or(0.0);
            round1((s - earlier) / secs * 100.0)
        })
        .collect();
    let worker_cores: f64 = worker_cpu.iter().sum::<f64>() / 100.0;
    let pps = window.datagrams as f64 / secs;
    let mbps = window.udp_bytes as f64 * 8.0 / secs / 1e6;
    let consumers = b.scrape.consumers as usize;
    let per_core = |v: f64| {
        if worker_cores > 0.0 {
            (v / worker_cores).round()
        } else {
            0.0
        }
    };

    Step {
        phase: phase.to_owned(),
        workers,
        students,
        students_receiving: receiving,
        consumers,
        join_p50_ms: joins.join.p50,
        join_p95_ms: joins.join.p95,
        join_p99_ms: joins.join.p99,
        join_max_ms: joins.join.max,
        joins: joins.join.count + joins.failures,
        join_failures: joins.failures,
        join_phase_p95_ms: joins.phase_p95_ms.clone(),
        first_video_p50_ms: joins.first_video.p50,
        first_video_p95_ms: joins.first_video.p95,
        first_video_p99_ms: joins.first_video.p99,
        loss_pct: round2(media.loss_pct()),
        loss_before_repair_pct: round2(window.loss_before_repair_pct()),
        rtx_recovered: window.rtx,
        nacks_per_s: round1(window.nacks as f64 / secs),
        plis: window.plis,
        layer_switch_skips: window.switch_skips,
        good,
        impaired: bad,
        top_layer_p50_ms: to_top.p50,
        top_layer_p95_ms: to_top.p95,
        audio_loss_pct: round2(window.audio.loss_pct()),
        video_loss_pct: round2(window.video.loss_pct()),
        packets_lost: media.lost(),
        packets_expected: media.expected,
        video_jitter_ms: round2(b.totals_live_video_jitter()),
        kbps_per_student: if receiving > 0 {
            round1(window.udp_bytes as f64 * 8.0 / secs / 1000.0 / receiving as f64)
        } else {
            0.0
        },
        cpu_pct_per_worker: worker_cpu,
        peers_per_worker: b.scrape.worker_peers.values().copied().collect(),
        server_cpu_pct: round1(server_cpu),
        bots_cpu_pct: round1(tool_cpu),
        rss_mb: round1(b.rss_mb),
        sfu_out_mbps: round2(mbps),
        sfu_out_pps: pps.round(),
        pps_per_worker_core: per_core(pps),
        consumers_per_worker_core: per_core(consumers as f64),
        udp_drops_server: b.server_drops.saturating_sub(a.server_drops),
        udp_drops_bots: b.bot_drops.saturating_sub(a.bot_drops),
        udp_drops_pipes: b.pipe_drops.saturating_sub(a.pipe_drops),
        udp_drops_teacher_transport: b.teacher_drops.saturating_sub(a.teacher_drops),
        udp_rcvbuf_errors: b.udp.since(&a.udp).rcvbuf_errors,
        server_threads_cpu_pct: thread_deltas(&a.server_threads, &b.server_threads, secs),
        bots_threads_cpu_pct: thread_deltas(&a.tool_threads, &b.tool_threads, secs),
        media_failures: b.shards.iter().map(|s| s.failed).sum(),
        students_connected: b.shards.iter().map(|s| s.connected).sum(),
        teacher_keyframe_requests: b
            .teacher
            .keyframe_requests
            .saturating_sub(a.teacher.keyframe_requests),
        teacher_frames_skipped: b
            .teacher
            .frames_skipped
            .saturating_sub(a.teacher.frames_skipped),
        teacher_send_errors: b.teacher.send_errors.saturating_sub(a.teacher.send_errors),
        students_with_loss: with_loss,
        worst_student_loss_pct: round2(worst),
        machine_cpu_pct: round1(machine_cpu),
        softirq_cpu_pct: round1(softirq),
        steal_cpu_pct: round1((b.steal - a.steal) / secs * 100.0),
        // Processes' times include the softirq work done in their context.
        others_cpu_pct: round1((machine_cpu - server_cpu - tool_cpu).max(0.0)),
        window_s: round1(secs),
        remeasured: 0,
        verdict: String::new(),
    }
}

impl Probe {
    /// Mean video jitter over the bots present now.
    fn totals_live_video_jitter(&self) -> f64 {
        let (sum, n) = self
            .shards
            .iter()
            .flat_map(|s| s.bots.iter())
            .fold((0.0, 0u64), |(sum, n), (_, c)| {
                (sum + c.video.jitter_ms, n + c.video.streams)
            });
        if n == 0 { 0.0 } else { sum / n as f64 }
    }
}

/// The goals of issue 5 for one step, and whether it broke outright.
pub fn judge(step: &Step, goal_loss_pct: f64, goal_join_p95_ms: f64) -> (bool, bool, String) {
    let mut misses = Vec::new();
    // Loss after repair of the students on good links: an impaired link's
    // own loss is its own, reported beside.
    let loss = step.good_loss_pct();
    if loss >= goal_loss_pct {
        misses.push(format!("loss {loss:.2} % >= {goal_loss_pct} %"));
    }
    if step.join_p95_ms >= goal_join_p95_ms {
        misses.push(format!(
            "join p95 {:.0} ms >= {goal_join_p95_ms} ms",
            step.join_p95_ms
        ));
    }
    if step.join_failures > 0 {
        misses.push(format!("{} joins failed", step.join_failures));
    }
    if step.students_receiving < step.students {
        misses.push(format!(
            "{} of {} students receiving",
            step.students_receiving, step.students
        ));
    }
    let broken = loss >= 5.0
        || step.join_failures * 20 > step.joins.max(1)
        || step.students_receiving * 10 < step.students * 9;
    let verdict = match (misses.is_empty(), broken) {
        (true, _) => "ok".to_owned(),
        (false, false) => format!("goal missed: {}", misses.join(", ")),
        (false, true) => format!("broken: {}", misses.join(", ")),
    };
    (misses.is_empty(), broken, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(loss: f64, p95: f64, failures: usize, receiving: usize) -> Step {
        Step {
            students: 100,
            students_receiving: receiving,
            joins: 100,
            loss_pct: loss,
            join_p95_ms: p95,
            join_failures: failures,
            ..Default::default()
        }
    }

    #[test]
    fn judges_goals_and_breaks() {
        assert!(judge(&step(0.1, 100.0, 0, 100), 1.0, 500.0).0);
        let (ok, broken, verdict) = judge(&step(1.5, 100.0, 0, 100), 1.0, 500.0);
        assert!(!ok && !broken);
        assert!(verdict.starts_with("goal missed: loss 1.50"));
        let (ok, broken, _) = judge(&step(0.0, 900.0, 0, 100), 1.0, 500.0);
        assert!(!ok && !broken);
        assert!(judge(&step(6.0, 100.0, 0, 100), 1.0, 500.0).1);
        assert!(judge(&step(0.0, 100.0, 6, 94), 1.0, 500.0).1);
        assert!(judge(&step(0.0, 100.0, 0, 80), 1.0, 500.0).1);
        assert!(!judge(&step(0.0, 100.0, 1, 99), 1.0, 500.0).1);
    }
}
