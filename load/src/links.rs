//! Real links: a share of the students behind a capped link (user space:
//! `engine::impair`), the others on good ones. Everyone joins with the cap
//! lifted and settles on the top layer; then the cap is put on and later
//! lifted again. What it measures, per capped student: how long mediasoup
//! takes to move it to a lower layer once capped, and back to the top once
//! the cap lifts; the capped students' audio loss; and whether the students
//! on good links lost anything meanwhile. `scripts/loadtest --links`.

use crate::cli::LinksArgs;
use crate::engine::BotView;
use crate::measure::{self, Probe};
use crate::modes::{command_line, media, setup};
use crate::procfs::Machine;
use crate::stats::{Spread, round2};
use crate::testbed::Testbed;
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How often the students' layers are read.
const SAMPLE: Duration = Duration::from_millis(250);

#[derive(Debug, Default, Serialize)]
struct Phase {
    /// Loss after repair of the students on good links, and of the capped
    /// ones' audio, % over the phase.
    good_loss_pct: f64,
    good_audio_loss_pct: f64,
    capped_audio_loss_pct: f64,
    capped_video_loss_pct: f64,
    /// Capped students on 180p / 360p / 720p at the phase's end.
    capped_layers: [usize; 3],
    good_layers: [usize; 3],
}

#[derive(Debug, Serialize)]
struct LinksReport {
    machine: Machine,
    command: String,
    profile: crate::engine::Profile,
    impairment: crate::engine::Impairment,
    students: usize,
    capped: usize,
    /// Capped students not on the top layer even before the cap (their
    /// link's delay and loss alone kept them lower): not in `down_ms`.
    below_top_uncapped: usize,
    /// Cap on -> a lower layer, and cap off -> the top layer again (ms),
    /// over the capped students who moved; and how many did not in time.
    down_ms: Spread,
    not_down: usize,
    up_ms: Spread,
    not_up: usize,
    uncapped: Phase,
    capped_phase: Phase,
    lifted: Phase,
}

pub async fn run(args: LinksArgs) -> anyhow::Result<()> {
    let mut common = args.common.clone();
    if common.impaired == 0 {
        common.impaired = 20;
    }
    let setup = setup(&common)?;
    let impairment = setup.impairment.context("--impairment names no link")?;
    if impairment.rate_bps.is_none() {
        bail!(
            "--impairment {}: has no cap to put on and lift (use 3g)",
            impairment.name
        );
    }
    let media = media(&common)?;
    let workers = common.workers.last().copied().unwrap_or(2);
    let mut testbed = Testbed::open(&setup, workers, media, "links").await?;

    let ids = testbed.crowd.spawn_many(args.students, 50.0).await;
    testbed.crowd.settle(&ids, Duration::from_secs(60)).await;
    set_capped(&testbed, false);
    // Everyone settles on what their link takes, uncapped.
    wait_for(&mut testbed, Duration::from_secs(args.settle), |views| {
        views.values().all(|v| v.layer == Some(2))
    })
    .await;
    let a = testbed.probe().await;
    testbed.crowd.idle(Duration::from_secs(5)).await;
    let b = testbed.probe().await;
    let uncapped = phase(&a, &b);

    // Those on the top layer when the cap goes on are the ones to watch go down.
    let at_top: HashSet<u64> = views(&testbed)
        .await
        .into_iter()
        .filter(|(_, v)| v.impaired && v.layer == Some(2))
        .map(|(id, _)| id)
        .collect();
    set_capped(&testbed, true);
    let capped_at = Instant::now();
    let mut down = watch(
        &mut testbed,
        Duration::from_secs(args.hold),
        capped_at,
        |v| v.layer.is_some_and(|l| l < 2),
    )
    .await;
    down.retain(|id, _| at_top.contains(id));
    let c = testbed.probe().await;
    let capped_phase = phase(&b, &c);

    set_capped(&testbed, false);
    let lifted_at = Instant::now();
    let up = watch(
        &mut testbed,
        Duration::from_secs(args.hold),
        lifted_at,
        |v| v.layer == Some(2),
    )
    .await;
    let d = testbed.probe().await;
    let lifted = phase(&c, &d);
    testbed.close().await;

    let capped = count_impaired(&c);
    let report = LinksReport {
        machine: Machine::here(),
        command: command_line(),
        profile: common.profile,
        impairment,
        students: args.students,
        capped,
        below_top_uncapped: capped - at_top.len(),
        down_ms: Spread::of(&down.values().copied().collect::<Vec<_>>()),
        not_down: at_top.len() - down.len(),
        up_ms: Spread::of(&up.values().copied().collect::<Vec<_>>()),
        not_up: capped - up.len(),
        uncapped,
        capped_phase,
        lifted,
    };
    let name = common.name.clone().unwrap_or_else(|| "links".into());
    let json = common.out.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    let md = markdown(&report);
    std::fs::write(common.out.join(format!("{name}.md")), &md)?;
    println!("{md}\nwritten: {}", json.display());
    Ok(())
}

fn set_capped(testbed: &Testbed, capped: bool) {
    for shard in &testbed.ctx.shards {
        shard.set_capped(capped);
    }
}

async fn views(testbed: &Testbed) -> HashMap<u64, BotView> {
    let mut all = HashMap::new();
    for shard in &testbed.ctx.shards {
        all.extend(shard.snapshot().await.views);
    }
    all
}

/// Waits (folding the bots' events in) until `done` holds, or `within` passes.
async fn wait_for(
    testbed: &mut Testbed,
    within: Duration,
    done: impl Fn(&HashMap<u64, BotView>) -> bool,
) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline && !done(&views(testbed).await) {
        testbed.crowd.idle(SAMPLE).await;
    }
}

/// For `within`, the first time each impaired student satisfies `reached`
/// after `since` (ms).
async fn watch(
    testbed: &mut Testbed,
    within: Duration,
    since: Instant,
    reached: impl Fn(&BotView) -> bool,
) -> HashMap<u64, f64> {
    let mut at = HashMap::new();
    let deadline = since + within;
    while Instant::now() < deadline {
        for (id, view) in views(testbed).await {
            if view.impaired && reached(&view) && !at.contains_key(&id) {
                // When the layer changed, as the student saw its keyframe.
                let when = view
                    .layer_since
                    .filter(|t| *t >= since)
                    .unwrap_or_else(Instant::now);
                at.insert(
                    id,
                    when.saturating_duration_since(since).as_secs_f64() * 1000.0,
                );
            }
        }
        testbed.crowd.idle(SAMPLE).await;
    }
    at
}

/// Impaired students present.
fn count_impaired(probe: &Probe) -> usize {
    probe.views().values().filter(|v| v.impaired).count()
}

fn phase(a: &Probe, b: &Probe) -> Phase {
    let (good, capped) = measure::groups(a, b);
    Phase {
        good_loss_pct: round2(good.counters.media().loss_pct()),
        good_audio_loss_pct: round2(good.counters.audio.loss_pct()),
        capped_audio_loss_pct: round2(capped.counters.audio.loss_pct()),
        capped_video_loss_pct: round2(capped.counters.video.loss_pct()),
        capped_layers: capped.layers,
        good_layers: good.layers,
    }
}

fn markdown(r: &LinksReport) -> String {
    let mut md = String::new();
    let i = &r.impairment;
    let _ = writeln!(
        md,
        "# Real links: {} of {} students behind a capped link\n\n\
         Link `{}`: {} kbit/s cap (queue {} ms), {} ms delay ± {} ms, {:.1} % loss; both directions, in user space. \
         Students: `{:?}` profile. Command: `{}`\n",
        r.capped,
        r.students,
        i.name,
        i.rate_bps.unwrap_or(0) / 1000,
        i.queue.as_millis(),
        i.delay.as_millis(),
        i.jitter.as_millis(),
        i.loss * 100.0,
        r.profile,
        r.command
    );
    let _ = writeln!(
        md,
        "| | p50 ms | p95 ms | max ms | did not move |\n|---|---|---|---|---|\n\
         | cap on → lower layer (of those on 720p before) | {:.0} | {:.0} | {:.0} | {} |\n\
         | cap off → top layer | {:.0} | {:.0} | {:.0} | {} |\n",
        r.down_ms.p50,
        r.down_ms.p95,
        r.down_ms.max,
        r.not_down,
        r.up_ms.p50,
        r.up_ms.p95,
        r.up_ms.max,
        r.not_up
    );
    let _ = writeln!(
        md,
        "{} of the {} capped students were below 720p before the cap (their link's delay and loss alone).\n",
        r.below_top_uncapped, r.capped
    );
    let _ = writeln!(
        md,
        "| phase | good links: loss after repair % (audio) | capped: audio loss % | capped: video loss % | capped layers 180/360/720 | good layers 180/360/720 |\n|---|---|---|---|---|---|"
    );
    for (name, p) in [
        ("uncapped", &r.uncapped),
        ("capped", &r.capped_phase),
        ("cap lifted", &r.lifted),
    ] {
        let l = |l: &[usize; 3]| format!("{}/{}/{}", l[0], l[1], l[2]);
        let _ = writeln!(
            md,
            "| {name} | {:.2} ({:.2}) | {:.2} | {:.2} | {} | {} |",
            p.good_loss_pct,
            p.good_audio_loss_pct,
            p.capped_audio_loss_pct,
            p.capped_video_loss_pct,
            l(&p.capped_layers),
            l(&p.good_layers)
        );
    }
    md
}
