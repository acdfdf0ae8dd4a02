//! The three things the tool does, end to end: ramp, churn, smoke.

use crate::bots::student::Exit;
use crate::churn::{self, ChurnReport};
use crate::cli::{ChurnArgs, Common, Peer, RampArgs, SmokeArgs};
use crate::engine::Profile;
use crate::measure::{self, judge};
use crate::media::{LAYERS, MediaSet, OPUS_KBPS};
use crate::procfs::Machine;
use crate::report::{EngineCeiling, Report, Run, repair_table, table};
use crate::testbed::TeacherBot;
use crate::testbed::{Setup, Testbed};
use crate::{plot, ramp};
use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) fn setup(common: &Common) -> anyhow::Result<Setup> {
    for dir in [Some(&common.out), common.logs.as_ref()]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if common.url.is_none() && !common.server_bin.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p podium-server)",
            common.server_bin.display()
        );
    }
    Ok(Setup {
        server_bin: common.server_bin.clone(),
        existing: common.url.clone().zip(common.pid),
        shards: common.shards,
        shard_buffer: common.socket_buffer,
        layers: common.layers,
        student_layer: common.student_layer,
        profile: common.profile,
        impairment: (common.impaired > 0)
            .then(|| crate::engine::Impairment::named(&common.impairment))
            .flatten(),
        impaired_pct: common.impaired,
        rtc_ports: common.rtc_port_range()?,
        server_log_filter: common.server_log.clone(),
        server_env: common.env_pairs()?,
        join_timeout: Duration::from_secs(common.join_timeout),
        log_dir: common.logs.clone().unwrap_or_else(|| common.out.clone()),
        room: "loadtest".into(),
        nodes: usize::from(common.nodes),
    })
}

pub(crate) fn media(common: &Common) -> anyhow::Result<Arc<MediaSet>> {
    let media = MediaSet::load_or_encode(&common.media_dir)?;
    for (i, clip) in media.video.iter().enumerate() {
        tracing::info!(
            layer = i,
            kbps = clip.kbps().round(),
            pps = clip.packets_per_second().round(),
            keyframes = clip.keyframes.len(),
            "VP8 layer"
        );
    }
    tracing::info!(
        kbps = media.audio.kbps().round(),
        pps = media.audio.packets_per_second().round(),
        "Opus"
    );
    Ok(Arc::new(media))
}

fn teacher_description(common: &Common, media: &MediaSet) -> String {
    let layers: Vec<String> = LAYERS
        .iter()
        .zip(&media.video)
        .take(common.layers.clamp(1, 3))
        .map(|(l, clip)| format!("{}x{} ~{:.0} kbit/s", l.width, l.height, clip.kbps()))
        .collect();
    format!(
        "publisher bot replaying pre-encoded media (made once by GStreamer: videotestsrc smpte -> vp8enc real-time CBR, 30 fps, keyframe every 2 s; audiotestsrc -> opusenc CBR {OPUS_KBPS} kbit/s, 20 ms): \
         VP8 simulcast {} layer(s) [{}] + Opus ~{:.0} kbit/s; {}",
        layers.len(),
        layers.join(", "),
        media.audio.kbps(),
        match common.profile {
            Profile::Browser => "students take the layer mediasoup picks".to_owned(),
            Profile::Lean => format!("students pin spatial layer {}", common.student_layer),
        }
    )
}

pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn script() -> Option<String> {
    std::env::var("LOADTEST_SCRIPT").ok()
}

const NOTES: [&str; 5] = [
    "Students are str0m peers (RTP mode, DTLS by dimpl with OpenSSL's crypto: it retransmits lost handshake flights as browsers do) on the same machine as the server: ICE (controlling), DTLS client, SRTP.",
    "Profile `browser` (the default): what Chrome negotiates with mediasoup-client: Opus with transport-cc; VP8 with nack, nack pli, ccm fir, goog-remb, transport-cc and RTX; header extensions mid, abs-send-time, transport-wide-cc, ssrc-audio-level, video-orientation, abs-capture-time, playout-delay; mediasoup's probation packets received on a 'probator' stream as mediasoup-client does. The students send transport-wide feedback, NACK lost packets, send a PLI when a video packet stays lost for 500 ms (at most one per second), and pin no layer: mediasoup picks it from its estimate. loss_pct is after repair; loss_before_repair_pct adds what RTX brought back. Profile `lean`: Opus and VP8 only, no RTX, NACK or transport-cc, a pinned layer: every gap is loss and mediasoup runs no estimate.",
    "join_* : WebSocket opened -> join, setRtpCapabilities, createTransport, connectTransport, consume x2, setConsumerPreferredLayers, resumeConsumer x2 answered. first_video_* : WebSocket opened -> first video RTP packet (ICE, DTLS, keyframe included).",
    "cpu_pct_per_worker from /metrics podium_worker_cpu_seconds_total deltas (the worker threads' /proc stat); server_cpu_pct and bots_cpu_pct from /proc/<pid>/stat; rss_mb is the server's VmRSS; sfu_out_* is what the bots' sockets received from the SFU.",
    "pps_per_worker_core and consumers_per_worker_core divide by the worker CPU actually used (sum over workers, in cores): compare with the engine ceiling below.",
];

pub async fn ramp(args: RampArgs) -> anyhow::Result<()> {
    let common = &args.common;
    let setup = setup(common)?;
    let media = media(common)?;
    let plan = ramp::Plan {
        steps: args.steps.clone(),
        beyond: args.beyond,
        max_students: args.max_students,
        window: Duration::from_secs(args.window),
        settle: Duration::from_secs(args.settle),
        join_rate: args.join_rate,
        storm: args.storm,
        goal_loss_pct: common.goal_loss,
        goal_join_p95_ms: common.goal_join_p95,
        max_missed: args.max_missed,
        max_others_cpu_pct: args.max_others_cpu,
        retries: args.retries,
    };
    let mut runs: Vec<Run> = Vec::new();
    for &workers in &common.workers {
        let what = format!("{workers} worker(s)");
        println!("\n== {what}");
        print!("{}", table(&[]));
        let testbed = Testbed::open(
            &setup,
            workers,
            Arc::clone(&media),
            &format!("ramp-w{workers}"),
        )
        .await?;
        runs.push(ramp_on(testbed, &plan, &what).await);
    }
    if args.peer.peer == Some(Peer::Janus) {
        let loops = args.peer.janus_event_loops(common);
        let what = format!("Janus, {loops} event loop(s)");
        println!("\n== {what}");
        print!("{}", table(&[]));
        let testbed = Testbed::open_janus(
            &setup,
            &args.peer.janus_bin,
            loops,
            Arc::clone(&media),
            "ramp",
        )
        .await
        .context("the Janus run")?;
        runs.push(ramp_on(testbed, &plan, &what).await);
    }
    let name = common.name.clone().unwrap_or_else(|| "loadtest".into());
    let report = Report {
        machine: Machine::here(),
        command: command_line(),
        script: script(),
        generated_at: unix_now(),
        teacher_media: teacher_description(common, &media),
        profile: common.profile,
        impairment: setup.impairment,
        impaired_pct: setup.impaired_pct,
        engine_ceiling: EngineCeiling::default(),
        steps: runs.iter().flat_map(|r| r.steps.iter().cloned()).collect(),
        runs,
        notes: NOTES.iter().map(ToString::to_string).collect(),
    };
    let json = common.out.join(format!("{name}.json"));
    report.write_json(&json)?;
    std::fs::write(common.out.join(format!("{name}.md")), report.markdown())?;
    let png = common.out.join(format!("{name}.png"));
    if let Err(error) = plot::ramp(&report.runs, &png) {
        tracing::warn!(error = %format!("{error:#}"), "no plot");
    }
    println!("\n{}", report.markdown());
    println!("written: {} (+ .md, .png)", json.display());
    Ok(())
}

/// The ramp on one testbed, then everyone leaves and the SFU stops.
async fn ramp_on(mut testbed: Testbed, plan: &ramp::Plan, what: &str) -> Run {
    let mut run = ramp::ramp(&mut testbed, plan).await;
    let (teacher, tail, stopped) = testbed.close().await;
    run.teacher = teacher;
    run.server_log_tail = tail;
    tracing::info!(sfu = what, %stopped, "stopped");
    println!("-- {what}: {}", run.stopped);
    run
}

pub async fn churn(args: ChurnArgs) -> anyhow::Result<()> {
    let common = &args.common;
    let setup = setup(common)?;
    let media = media(common)?;
    let workers = common.workers.last().copied().unwrap_or(2);
    let plan = churn::Plan {
        students: args.students,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        sample: Duration::from_secs(args.sample_secs),
        warmup: Duration::from_secs(args.warmup_secs),
        join_rate: args.join_rate,
        goal_loss_pct: common.goal_loss,
        goal_join_p95_ms: common.goal_join_p95,
    };
    let mut testbed = Testbed::open(&setup, workers, media, "churn").await?;
    let samples = churn::churn(&mut testbed, &plan).await;
    let alive = testbed.server.is_running();
    let (_, _, stopped) = testbed.close().await;
    let summary = churn::summarize(&samples, plan.warmup);
    let minutes = samples.last().map_or(0.0, |s| s.minute);
    let verdict = if alive {
        churn::memory_verdict(&summary, minutes)
    } else {
        "the server died".to_owned()
    };
    let report = ChurnReport {
        machine: Machine::here(),
        command: command_line(),
        script: script(),
        generated_at: unix_now(),
        workers,
        students: plan.students,
        replaced_per_second: plan.rate,
        minutes,
        summary,
        samples,
        verdict: verdict.clone(),
        server_stopped: stopped,
    };
    let name = common.name.clone().unwrap_or_else(|| "churn".into());
    let json = common.out.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    let title = format!(
        "server RSS, {} students, {} replaced/s, {} worker(s)",
        plan.students, plan.rate, workers
    );
    if let Err(error) = plot::churn(
        &report.samples,
        &common.out.join(format!("{name}.png")),
        &title,
    ) {
        tracing::warn!(error = %format!("{error:#}"), "no plot");
    }
    let md = format!(
        "# Podium churn run\n\n- Machine: {} ({} cores, {} GB)\n{}- Command: `{}`\n\n{} students, {} replaced per second (half `leave`, half dropped connections), {} worker(s), {:.1} minutes: {} joins, {} failed.\n\n\
         Server RSS: {:.1} MB after {} s of warm-up, {:.1} MB at the end ({:+.1} MB), max {:.1} MB; trend {:+.2} MB/min after the warm-up, {:+.2} MB/min over the second half. Loss {:.2} %.\n\nVerdict: {}\n",
        report.machine.cpu,
        report.machine.cores,
        report.machine.memory_gb,
        report
            .script
            .as_ref()
            .map_or(String::new(), |s| format!("- Script: `{s}`\n")),
        report.command,
        plan.students,
        plan.rate,
        workers,
        minutes,
        summary.joins,
        summary.join_failures,
        summary.rss_after_warmup_mb,
        args.warmup_secs,
        summary.rss_end_mb,
        summary.rss_end_mb - summary.rss_after_warmup_mb,
        summary.rss_max_mb,
        summary.rss_slope_mb_per_min,
        summary.rss_slope_second_half_mb_per_min,
        summary.loss_pct,
        verdict
    );
    std::fs::write(common.out.join(format!("{name}.md")), &md)?;
    println!("\n{md}\nwritten: {}", json.display());
    Ok(())
}

/// The smoke test: returns an error (exit 1) when an assertion fails.
pub async fn smoke(args: SmokeArgs) -> anyhow::Result<()> {
    let common = &args.common;
    let setup = setup(common)?;
    let media = media(common)?;
    let workers = common.workers.last().copied().unwrap_or(2);
    let mut testbed = Testbed::open(&setup, workers, Arc::clone(&media), "smoke").await?;
    let (step, mut failures, nodes) = smoke_window(&mut testbed, &args, &setup).await;

    // A little churn: students leave (politely or not) and others come.
    let live = testbed.crowd.live();
    let mut replacements = Vec::new();
    for (i, bot) in live.iter().take(args.churn).enumerate() {
        testbed
            .crowd
            .dismiss(*bot, if i % 2 == 0 { Exit::Leave } else { Exit::Drop });
        replacements.push(testbed.crowd.spawn());
    }
    testbed
        .crowd
        .settle(&replacements, Duration::from_secs(30))
        .await;
    let churned = testbed.crowd.figures(&replacements, true);
    if churned.failures > 0 || churned.without_media > 0 {
        failures.push(format!(
            "after churn: {} rejoins failed, {} without media: {:?}",
            churned.failures, churned.without_media, churned.errors
        ));
    }
    // Leaving takes the server a moment: wait for its count to match.
    let expected_peers = (args.students + 1) as f64;
    let mut scrape = testbed.server.scrape(&testbed.ctx.client).await;
    for _ in 0..50 {
        if scrape.peers == expected_peers {
            break;
        }
        testbed.crowd.idle(Duration::from_millis(100)).await;
        scrape = testbed.server.scrape(&testbed.ctx.client).await;
    }
    if scrape.worker_restarts > 0.0 {
        failures.push(format!(
            "{} mediasoup worker(s) restarted",
            scrape.worker_restarts
        ));
    }
    if scrape.peers != expected_peers {
        failures.push(format!(
            "the server counts {} peers, expected {expected_peers}",
            scrape.peers
        ));
    }
    if !testbed.teacher.as_ref().is_some_and(TeacherBot::is_alive) {
        failures.push("the teacher's connection closed".into());
    }
    if !testbed.server.is_running() {
        failures.push("the server died".into());
    }
    let (teacher, tail, stopped) = testbed.close().await;
    if !stopped.starts_with("stopped") {
        failures.push(format!("the server did not stop cleanly: {stopped}"));
    }
    // The same window on the peer SFU: the path its figures come from works.
    let mut peer_step = None;
    if args.peer.peer == Some(Peer::Janus) {
        let loops = args.peer.janus_event_loops(common);
        match Testbed::open_janus(&setup, &args.peer.janus_bin, loops, media, "smoke").await {
            Ok(mut janus) => {
                let (step, peer_failures, _) = smoke_window(&mut janus, &args, &setup).await;
                failures.extend(peer_failures.into_iter().map(|f| format!("janus: {f}")));
                let (_, _, stopped) = janus.close().await;
                if !stopped.starts_with("stopped") {
                    failures.push(format!("janus did not stop cleanly: {stopped}"));
                }
                peer_step = Some(step);
            }
            Err(error) => failures.push(format!("janus: {error:#}")),
        }
    }
    let name = common.name.clone().unwrap_or_else(|| "smoke".into());
    let result = serde_json::json!({
        "janus_steps": peer_step.into_iter().collect::<Vec<_>>(),
        "machine": Machine::here(),
        "command": command_line(),
        "profile": common.profile,
        "impairment": setup.impairment,
        "impaired_pct": setup.impaired_pct,
        "steps": [step],
        "nodes": nodes,
        "rejoins": { "count": replacements.len(), "join_p95_ms": churned.join.p95, "failures": churned.failures },
        "teacher": teacher,
        "server_stopped": stopped,
        "failures": failures,
    });
    std::fs::write(
        common.out.join(format!("{name}.json")),
        serde_json::to_string_pretty(&result)? + "\n",
    )?;
    if failures.is_empty() {
        println!(
            "smoke: ok ({} students over {} node(s), {} rejoined)",
            args.students,
            setup.nodes,
            replacements.len()
        );
        Ok(())
    } else {
        for line in tail {
            eprintln!("server| {line}");
        }
        bail!("smoke failed:\n  - {}", failures.join("\n  - "))
    }
}

/// The smoke test's window: everyone joins at once, then one window is
/// measured and checked (joins, media, loss after repair, repair on lossy
/// links, good links on the top layer). The step and what failed.
async fn smoke_window(
    testbed: &mut Testbed,
    args: &SmokeArgs,
    setup: &Setup,
) -> (crate::report::Step, Vec<String>, serde_json::Value) {
    let common = &args.common;
    let workers = testbed.workers;
    let mut failures: Vec<String> = Vec::new();

    let ids = testbed.crowd.spawn_many(args.students, 0.0).await;
    testbed.crowd.settle(&ids, Duration::from_secs(60)).await;
    testbed.crowd.idle(Duration::from_secs(2)).await;
    let pids = testbed.node_pids();
    let cpu = |pids: &[u32]| -> Vec<f64> {
        (pids.iter())
            .map(|pid| crate::procfs::process_cpu_seconds(*pid).unwrap_or(0.0))
            .collect()
    };
    let before = testbed.probe().await;
    let cpu_before = cpu(&pids);
    match testbed.cluster.as_mut().filter(|_| args.restart_redis) {
        Some(cluster) => {
            let third = Duration::from_secs(args.secs) / 3;
            testbed.crowd.idle(third).await;
            let down = Duration::from_secs(3);
            if let Err(error) = cluster.restart_redis(down).await {
                failures.push(format!("restarting Redis: {error:#}"));
            }
            testbed.crowd.idle((third * 2).saturating_sub(down)).await;
        }
        None => testbed.crowd.idle(Duration::from_secs(args.secs)).await,
    }
    let after = testbed.probe().await;
    let cpu_after = cpu(&pids);
    let figures = testbed.crowd.figures(&ids, true);
    let window = after.at.duration_since(before.at).as_secs_f64().max(0.001);
    let nodes = node_figures(&pids, &cpu_before, &cpu_after, window, args.students);
    if pids.len() > 1 {
        println!("{}", serde_json::to_string(&nodes).unwrap_or_default());
    }
    let mut step = measure::step("smoke", workers, args.students, &before, &after, &figures);
    step.verdict = judge(&step, common.goal_loss, common.goal_join_p95).2;
    print!("{}", table(std::slice::from_ref(&step)));
    print!("{}", repair_table(std::slice::from_ref(&step)));
    if figures.failures > 0 {
        failures.push(format!(
            "{} of {} joins failed: {:?}",
            figures.failures, args.students, figures.errors
        ));
    }
    if step.students_receiving < args.students {
        failures.push(format!(
            "{} of {} students received audio and video; the others (id, impaired, audio packets, video packets, layer): {:?}",
            step.students_receiving,
            args.students,
            measure::not_receiving(&before, &after)
        ));
    }
    if step.good_loss_pct() > args.max_loss {
        failures.push(format!(
            "loss after repair {:.2} % > {} %",
            step.good_loss_pct(),
            args.max_loss
        ));
    }
    if step.impaired.students > 0 && step.impaired.loss_pct > args.max_loss {
        failures.push(format!(
            "impaired students' loss after repair {:.2} % > {} %",
            step.impaired.loss_pct, args.max_loss
        ));
    }
    if common.profile == Profile::Browser {
        // Repair works: what an impaired link loses, NACK brings back.
        if setup.impairment.is_some_and(|i| i.loss > 0.0) && step.rtx_recovered == 0 {
            failures.push("lossy links but no packet repaired (NACK/RTX)".into());
        }
        // The estimate works: students on good links end up on the top layer.
        let top = step.good.layers[2];
        if top * 10 < step.good.students * 9 {
            failures.push(format!(
                "{top} of {} students on good links reached the top layer",
                step.good.students
            ));
        }
    }
    if step.packets_expected == 0 {
        failures.push("no media at all".into());
    }

    (step, failures, nodes)
}

/// Per node of the run: its students (spread by id, the home first), its
/// process CPU over the window (% of one core) and its memory.
fn node_figures(
    pids: &[u32],
    before: &[f64],
    after: &[f64],
    window_secs: f64,
    students: usize,
) -> serde_json::Value {
    let n = pids.len().max(1);
    let nodes: Vec<serde_json::Value> = (pids.iter().enumerate())
        .map(|(i, pid)| {
            serde_json::json!({
                "node": i,
                "role": if i == 0 { "home" } else { "edge" },
                "students": students / n + usize::from(i < students % n),
                "cpu_pct": ((after[i] - before[i]) / window_secs * 1000.0).round() / 10.0,
                "rss_mb": crate::procfs::rss_mb(*pid).unwrap_or(0.0).round(),
            })
        })
        .collect();
    serde_json::Value::Array(nodes)
}
