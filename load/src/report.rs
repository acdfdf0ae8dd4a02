//! What a run reports: one [`Step`] per measured window, grouped into runs
//! (one per worker count), the machine and the command; printed as a table,
//! written as JSON and Markdown.

use crate::procfs::Machine;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// One measured window at a given number of students.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Step {
    /// "ramp", "storm" or "churn".
    pub phase: String,
    pub workers: usize,
    /// Students the step asked for.
    pub students: usize,
    /// Students receiving both audio and video during the window.
    pub students_receiving: usize,
    /// Consumers in the room (server's /metrics).
    pub consumers: usize,
    /// Signaling join: WebSocket opened -> every consumer resumed, for the
    /// students who joined in this step.
    pub join_p50_ms: f64,
    pub join_p95_ms: f64,
    pub join_p99_ms: f64,
    pub join_max_ms: f64,
    pub joins: usize,
    pub join_failures: usize,
    /// p95 of each part of the join (WebSocket, join, createTransport, ...).
    pub join_phase_p95_ms: std::collections::BTreeMap<String, f64>,
    /// WebSocket opened -> first video packet (ICE, DTLS, keyframe included).
    pub first_video_p50_ms: f64,
    pub first_video_p95_ms: f64,
    pub first_video_p99_ms: f64,
    /// RTP packets lost (sequence gaps) over expected, audio and video.
    pub loss_pct: f64,
    pub audio_loss_pct: f64,
    pub video_loss_pct: f64,
    pub packets_lost: u64,
    pub packets_expected: u64,
    /// Before repair: what never arrived plus what RTX brought back (%), the
    /// RTX packets, NACKs sent per second and keyframe requests (PLI) of
    /// every student (browser-like students; zero for lean ones).
    pub loss_before_repair_pct: f64,
    pub rtx_recovered: u64,
    pub nacks_per_s: f64,
    pub plis: u64,
    /// Sequence numbers mediasoup skipped at layer switches: not expected,
    /// so not loss (they have no packet behind them).
    pub layer_switch_skips: u64,
    /// Students on good links and on impaired ones: loss and layers.
    pub good: crate::measure::Group,
    pub impaired: crate::measure::Group,
    /// Media up -> first keyframe of the top layer, good students present.
    pub top_layer_p50_ms: f64,
    pub top_layer_p95_ms: f64,
    /// Mean RFC 3550 interarrival jitter of the video streams at the window's end.
    pub video_jitter_ms: f64,
    /// Mean UDP bitrate each receiving student got from the SFU.
    pub kbps_per_student: f64,
    /// CPU of each mediasoup worker thread, % of one core.
    pub cpu_pct_per_worker: Vec<f64>,
    /// Students whose media each worker carries.
    pub peers_per_worker: Vec<f64>,
    /// The whole server process (workers, signaling, HTTP), % of one core.
    pub server_cpu_pct: f64,
    /// The load tool itself (bots, teacher), % of one core.
    pub bots_cpu_pct: f64,
    /// Server resident memory.
    pub rss_mb: f64,
    /// What the SFU sent the bots (UDP payload bytes, i.e. SRTP).
    pub sfu_out_mbps: f64,
    pub sfu_out_pps: f64,
    /// Forwarded packets per second per core of worker CPU used.
    pub pps_per_worker_core: f64,
    /// Consumers per core of worker CPU used.
    pub consumers_per_worker_core: f64,
    /// Datagrams the kernel dropped on the server's sockets and on the bots' during the window.
    pub udp_drops_server: u64,
    pub udp_drops_bots: u64,
    /// Drops on the pipe transports between the server's workers: each one
    /// is a packet every student of the far worker misses.
    pub udp_drops_pipes: u64,
    /// Of the server's drops, those on the teacher's transport: each one is a
    /// packet every student misses.
    pub udp_drops_teacher_transport: u64,
    /// Kernel-wide UDP receive-buffer overflows during the window (/proc/net/snmp).
    pub udp_rcvbuf_errors: u64,
    /// CPU by thread name, % of one core (threads under 0.5 % left out).
    pub server_threads_cpu_pct: std::collections::BTreeMap<String, f64>,
    pub bots_threads_cpu_pct: std::collections::BTreeMap<String, f64>,
    /// Bots whose ICE/DTLS failed, and bots with DTLS up, at the window's end.
    pub media_failures: usize,
    pub students_connected: usize,
    /// Keyframe requests the teacher got, and frames it skipped for lack of CPU.
    pub teacher_keyframe_requests: u64,
    pub teacher_frames_skipped: u64,
    pub teacher_send_errors: u64,
    /// Students who lost any packet in the window, and the worst one's loss.
    pub students_with_loss: usize,
    pub worst_student_loss_pct: f64,
    /// All cores' busy time (% of one core, up to 100 x cores), its softirq
    /// part (packet delivery; mostly charged to the process it interrupted),
    /// and what processes other than the server and the tool used.
    pub machine_cpu_pct: f64,
    pub softirq_cpu_pct: f64,
    /// Time the hypervisor gave this VM's CPUs to someone else.
    pub steal_cpu_pct: f64,
    pub others_cpu_pct: f64,
    pub window_s: f64,
    /// Windows measured again because other processes took the CPU.
    pub remeasured: u32,
    /// "ok", "goal missed: ..." or "broken: ...".
    pub verdict: String,
}

impl Step {
    /// Loss after repair of the students on good links (all of them when
    /// nobody is impaired).
    pub fn good_loss_pct(&self) -> f64 {
        if self.impaired.students > 0 {
            self.good.loss_pct
        } else {
            self.loss_pct
        }
    }
}

/// Where a run stopped meeting the goal, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Break {
    pub students: usize,
    pub reason: String,
}

/// One server configuration (worker count) through the ramp.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    /// The SFU measured: "podium" or "janus".
    pub sfu: String,
    /// Its version and the settings it ran with (Janus's configuration).
    pub sfu_settings: serde_json::Value,
    /// mediasoup workers (Podium) or event loops (Janus).
    pub workers: usize,
    /// Last step that met every goal (loss < 1 %, join p95 < 500 ms, no failures).
    pub goal_met_up_to: Option<usize>,
    /// First step that missed a goal.
    pub broke_at: Option<Break>,
    /// Where the ramp stopped (a hard break, or the configured maximum).
    pub stopped: String,
    pub steps: Vec<Step>,
    pub teacher: serde_json::Value,
    /// What happened besides the steps (the teacher disconnected, ...).
    pub events: Vec<String>,
    pub server_log_tail: Vec<String>,
}

impl Run {
    /// "2 workers", or "Janus, 2 event loops".
    pub fn title(&self) -> String {
        let plural = if self.workers == 1 { "" } else { "s" };
        match self.sfu.as_str() {
            "janus" => format!("Janus, {} event loop{plural}", self.workers),
            _ => format!("{} worker{plural}", self.workers),
        }
    }

    /// The SFU's cost per student at the largest step that met the goal:
    /// CPU (% of one core) at that step over its students, and memory
    /// (MB) grown from the first step to it over the students added.
    pub fn cost_per_student(&self) -> Option<(f64, Option<f64>)> {
        let ramp: Vec<&Step> = self.steps.iter().filter(|s| s.phase == "ramp").collect();
        let at_goal = ramp
            .iter()
            .rev()
            .find(|s| Some(s.students) == self.goal_met_up_to)?;
        let cpu = at_goal.server_cpu_pct / at_goal.students.max(1) as f64;
        let first = ramp.first()?;
        let memory = (at_goal.students > first.students)
            .then(|| (at_goal.rss_mb - first.rss_mb) / (at_goal.students - first.students) as f64);
        Some((cpu, memory))
    }
}

/// Podium and Janus on the same ramp, the same students and the same goal.
pub fn side_by_side(runs: &[Run]) -> String {
    let mut md = String::from(
        "## Side by side\n\n| SFU | students at goal | CPU per student (% of a core) | memory per student (MB) | broke at |\n|---|---|---|---|---|\n",
    );
    for run in runs {
        let cost = run.cost_per_student();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            match run.sfu.as_str() {
                "janus" => run.title(),
                _ => format!("Podium, {}", run.title()),
            },
            run.goal_met_up_to.map_or("none".into(), |n| n.to_string()),
            cost.map_or("-".into(), |(cpu, _)| format!("{cpu:.3}")),
            cost.and_then(|(_, m)| m)
                .map_or("-".into(), |m| format!("{m:.3}")),
            run.broke_at
                .as_ref()
                .map_or("did not break".into(), |b| format!(
                    "{} ({})",
                    b.students, b.reason
                )),
        );
    }
    let best = |sfu: &str| {
        runs.iter()
            .filter(|r| r.sfu == sfu)
            .filter_map(|r| r.goal_met_up_to)
            .max()
    };
    if let (Some(podium), Some(janus)) = (best("podium"), best("janus")) {
        let _ = writeln!(
            md,
            "\nStudents at goal, Podium over Janus: {podium} / {janus} = {:.2}\n",
            podium as f64 / janus as f64
        );
    } else {
        md.push('\n');
    }
    md
}

/// The engine's own ceiling on this machine, as issue 5 gives it (measured
/// with PlainTransport consumers, no signaling), for comparison.
#[derive(Debug, Clone, Serialize)]
pub struct EngineCeiling {
    pub source: &'static str,
    pub pps_per_worker_at_0_loss: u64,
    pub consumers_per_worker_at_80pps: u64,
    pub worker_cpu_pct_at_that_load: u64,
    pub saturation_pps: &'static str,
    pub rss_mb_per_consumer: f64,
}

impl Default for EngineCeiling {
    fn default() -> Self {
        Self {
            source: "issue 5: one mediasoup 0.33.1 worker pinned to one core, PlainTransport consumers, SRTP AES-CM, no signaling",
            pps_per_worker_at_0_loss: 48_000,
            consumers_per_worker_at_80pps: 1_200,
            worker_cpu_pct_at_that_load: 87,
            saturation_pps: "52000-57000",
            rss_mb_per_consumer: 0.55,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    /// The exact command line of the load tool.
    pub command: String,
    /// The script that ran it, if any (`LOADTEST_SCRIPT`).
    pub script: Option<String>,
    /// Unix seconds.
    pub generated_at: u64,
    pub teacher_media: String,
    /// How the students behaved, and the link of the impaired share (if any).
    pub profile: crate::engine::Profile,
    pub impairment: Option<crate::engine::Impairment>,
    pub impaired_pct: u32,
    pub engine_ceiling: EngineCeiling,
    /// Every step of every run, in order.
    pub steps: Vec<Step>,
    pub runs: Vec<Run>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# Podium load test\n");
        let _ = writeln!(
            md,
            "- Machine: {} ({} cores, {} GB), {}, Linux {}",
            m.cpu, m.cores, m.memory_gb, m.os, m.kernel
        );
        if let Some(script) = &self.script {
            let _ = writeln!(md, "- Script: `{script}`");
        }
        let _ = writeln!(md, "- Command: `{}`", self.command);
        let _ = writeln!(md, "- Teacher: {}", self.teacher_media);
        let _ = writeln!(
            md,
            "- Students: `{}` profile{}",
            serde_json::to_value(self.profile)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            match &self.impairment {
                Some(i) if self.impaired_pct > 0 => {
                    format!(
                        "; {} % of them behind a `{}` link",
                        self.impaired_pct, i.name
                    )
                }
                _ => String::new(),
            }
        );
        let _ = writeln!(md, "- Generated at: {} (unix seconds)\n", self.generated_at);
        for run in &self.runs {
            let _ = writeln!(md, "## {}\n", run.title());
            md.push_str(&table(&run.steps));
            if self.profile == crate::engine::Profile::Browser {
                md.push('\n');
                md.push_str(&repair_table(&run.steps));
            }
            let _ = writeln!(
                md,
                "\nGoal met up to: {}. Broke at: {}. Stopped: {}.\n",
                run.goal_met_up_to
                    .map_or("none".into(), |n| format!("{n} students")),
                run.broke_at
                    .as_ref()
                    .map_or("did not break".into(), |b| format!(
                        "{} students ({})",
                        b.students, b.reason
                    )),
                run.stopped
            );
            for event in &run.events {
                let _ = writeln!(md, "- {event}");
            }
            if !run.events.is_empty() {
                md.push('\n');
            }
        }
        if self.runs.iter().any(|r| r.sfu == "janus") {
            md.push_str(&side_by_side(&self.runs));
        }
        let c = &self.engine_ceiling;
        let _ = writeln!(
            md,
            "## Engine ceiling (from issue 5)\n\n{}: ~{} pps per worker at 0 % loss ({} consumers at 80 pps, {} % of the core), saturating at ~{} pps; ~{} MB RSS per consumer.\n",
            c.source,
            c.pps_per_worker_at_0_loss,
            c.consumers_per_worker_at_80pps,
            c.worker_cpu_pct_at_that_load,
            c.saturation_pps,
            c.rss_mb_per_consumer
        );
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        md
    }
}

fn join_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The steps as a Markdown table (also what the tool prints).
pub fn table(steps: &[Step]) -> String {
    let mut out = String::from(
        "| phase | workers | students | recv | consumers | join p50/p95/p99 ms | fails | 1st video p95 ms | loss % (a/v) | kbps/student | worker CPU % | server CPU % | bots CPU % | RSS MB | SFU out Mbps | pps | pps/worker-core | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0}/{:.0}/{:.0} | {} | {:.0} | {:.2} ({:.2}/{:.2}) | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {} |",
            s.phase,
            s.workers,
            s.students,
            s.students_receiving,
            s.consumers,
            s.join_p50_ms,
            s.join_p95_ms,
            s.join_p99_ms,
            s.join_failures,
            s.first_video_p95_ms,
            s.loss_pct,
            s.audio_loss_pct,
            s.video_loss_pct,
            s.kbps_per_student,
            join_list(&s.cpu_pct_per_worker),
            s.server_cpu_pct,
            s.bots_cpu_pct,
            s.rss_mb,
            s.sfu_out_mbps,
            s.sfu_out_pps,
            s.pps_per_worker_core,
            s.verdict
        );
    }
    out
}

/// What repair and the estimate did, per step (browser-like students): loss
/// before and after repair, RTX, NACKs, PLIs, the layers students got, and
/// the same for the impaired share.
pub fn repair_table(steps: &[Step]) -> String {
    let mut out = String::from(
        "| phase | workers | students | loss before repair % | loss after repair % | RTX recovered | NACKs/s | PLIs | layer-switch skips | layers 180p/360p/720p | to 720p p50/p95 ms | impaired | impaired loss before/after % | impaired layers |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        let layers = |l: &[usize; 3]| format!("{}/{}/{}", l[0], l[1], l[2]);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {} | {:.1} | {} | {} | {} | {:.0}/{:.0} | {} | {:.2}/{:.2} | {} |",
            s.phase,
            s.workers,
            s.students,
            s.good.loss_before_repair_pct,
            s.good.loss_pct,
            s.rtx_recovered,
            s.nacks_per_s,
            s.plis,
            s.layer_switch_skips,
            layers(&s.good.layers),
            s.top_layer_p50_ms,
            s.top_layer_p95_ms,
            s.impaired.students,
            s.impaired.loss_before_repair_pct,
            s.impaired.loss_pct,
            layers(&s.impaired.layers),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let step = Step {
            phase: "ramp".into(),
            workers: 2,
            students: 50,
            consumers: 100,
            cpu_pct_per_worker: vec![10.0, 12.5],
            verdict: "ok".into(),
            ..Default::default()
        };
        Report {
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                memory_gb: 24.0,
                kernel: "6".into(),
                os: "Debian".into(),
            },
            command: "podium-load ramp".into(),
            script: Some("scripts/loadtest".into()),
            generated_at: 1,
            teacher_media: "VP8 x3 + Opus".into(),
            profile: crate::engine::Profile::Browser,
            impairment: None,
            impaired_pct: 0,
            engine_ceiling: EngineCeiling::default(),
            steps: vec![step.clone()],
            runs: vec![Run {
                workers: 2,
                goal_met_up_to: Some(50),
                broke_at: Some(Break {
                    students: 100,
                    reason: "loss".into(),
                }),
                stopped: "max".into(),
                steps: vec![step],
                ..Default::default()
            }],
            notes: vec![],
        }
    }

    #[test]
    fn json_has_the_keys_the_issue_asks_for() {
        let value = serde_json::to_value(report()).unwrap();
        for key in ["machine", "command", "steps"] {
            assert!(value.get(key).is_some(), "missing {key}");
        }
        let step = &value["steps"][0];
        for key in [
            "students",
            "consumers",
            "workers",
            "join_p50_ms",
            "join_p95_ms",
            "join_p99_ms",
            "loss_pct",
            "kbps_per_student",
            "cpu_pct_per_worker",
            "rss_mb",
            "sfu_out_mbps",
        ] {
            assert!(step.get(key).is_some(), "step lacks {key}");
        }
        assert!(step["cpu_pct_per_worker"].is_array());
        assert!(step["students"].is_u64());
        assert_eq!(value["runs"][0]["broke_at"]["students"], 100);
    }

    #[test]
    fn markdown_and_table_show_every_step() {
        let r = report();
        let table = table(&r.steps);
        assert_eq!(table.lines().count(), 3);
        assert!(table.contains("| 10/12 |") || table.contains("| 10/13 |"));
        let md = r.markdown();
        assert!(md.contains("## 2 workers"));
        assert!(md.contains("Broke at: 100 students (loss)"));
        assert!(md.contains("`podium-load ramp`"));
    }

    /// Podium at goal up to 300, Janus up to 100: the costs come from the
    /// last step at goal (CPU) and the growth from the first one (memory).
    #[test]
    fn side_by_side_gives_costs_per_student_and_the_ratio() {
        let step = |students: usize, cpu: f64, rss: f64| Step {
            phase: "ramp".into(),
            students,
            server_cpu_pct: cpu,
            rss_mb: rss,
            ..Default::default()
        };
        let run = |sfu: &str, goal: usize, steps: Vec<Step>| Run {
            sfu: sfu.into(),
            workers: 2,
            goal_met_up_to: Some(goal),
            steps,
            ..Default::default()
        };
        let podium = run(
            "podium",
            300,
            vec![
                step(100, 30.0, 60.0),
                step(300, 90.0, 120.0),
                step(500, 99.0, 160.0),
            ],
        );
        let janus = run(
            "janus",
            100,
            vec![step(50, 20.0, 50.0), step(100, 50.0, 80.0)],
        );
        let (cpu, memory) = podium.cost_per_student().unwrap();
        assert!((cpu - 0.3).abs() < 1e-9);
        assert!((memory.unwrap() - 0.3).abs() < 1e-9);
        let (cpu, memory) = janus.cost_per_student().unwrap();
        assert!((cpu - 0.5).abs() < 1e-9);
        assert!((memory.unwrap() - 0.6).abs() < 1e-9);
        let md = side_by_side(&[podium, janus]);
        assert!(
            md.contains("| Podium, 2 workers | 300 | 0.300 | 0.300 |"),
            "{md}"
        );
        assert!(
            md.contains("| Janus, 2 event loops | 100 | 0.500 | 0.600 |"),
            "{md}"
        );
        assert!(md.contains("300 / 100 = 3.00"), "{md}");
    }
}
