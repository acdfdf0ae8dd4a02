//! /metrics in the Prometheus text format: workers, rooms, peers, producers,
//! consumers, worker CPU, connections. Counted when scraped, not on hot paths.

use crate::app::AppState;
use std::fmt::Write;

pub fn render(app: &AppState) -> String {
    let mut out = String::with_capacity(2048);
    let workers = app.pool.stats();
    let rooms = app.rooms.all();
    let (mut peers, mut producers, mut consumers) = (0, 0, 0);
    for room in &rooms {
        let (p, pr, c) = room.counts();
        peers += p;
        producers += pr;
        consumers += c;
    }

    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per_worker = |f: &dyn Fn(&crate::workers::WorkerStats) -> f64| -> Vec<(String, f64)> {
        workers
            .iter()
            .map(|w| (format!("{{worker=\"{}\"}}", w.slot), f(w)))
            .collect()
    };
    let one = |v: f64| vec![(String::new(), v)];

    metric(
        "podium_workers",
        "gauge",
        "mediasoup workers alive.",
        &one(workers.iter().filter(|w| w.alive).count() as f64),
    );
    metric(
        "podium_worker_cpu_seconds_total",
        "counter",
        "CPU time of each mediasoup worker thread.",
        &per_worker(&|w| w.cpu_seconds),
    );
    metric(
        "podium_worker_peers",
        "gauge",
        "Peers whose media each worker carries.",
        &per_worker(&|w| w.peers as f64),
    );
    metric(
        "podium_worker_restarts_total",
        "counter",
        "Workers that died and were replaced.",
        &per_worker(&|w| w.restarts as f64),
    );
    metric(
        "podium_rooms",
        "gauge",
        "Open rooms.",
        &one(rooms.len() as f64),
    );
    metric(
        "podium_peers",
        "gauge",
        "Peers in rooms.",
        &one(peers as f64),
    );
    metric(
        "podium_producers",
        "gauge",
        "Producers in rooms.",
        &one(producers as f64),
    );
    metric(
        "podium_consumers",
        "gauge",
        "Consumers in rooms.",
        &one(consumers as f64),
    );
    metric(
        "podium_ws_connections",
        "gauge",
        "Open signaling WebSockets.",
        &one(app.connections.load(std::sync::atomic::Ordering::Relaxed) as f64),
    );
    restreams(&mut out, &app.restreams.list(None));
    out
}

fn restreams(out: &mut String, all: &[podium_egress::EgressStatus]) {
    let running: Vec<_> = all.iter().filter(|s| !s.state.is_final()).collect();
    let state_name = |s: &podium_egress::EgressStatus| {
        serde_json::to_value(&s.state)
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let _ = writeln!(out, "# HELP podium_restreams Running restreams, by state.");
    let _ = writeln!(out, "# TYPE podium_restreams gauge");
    for state in ["starting", "live", "reconnecting", "waitingForInput"] {
        let n = running.iter().filter(|s| state_name(s) == state).count();
        let _ = writeln!(out, "podium_restreams{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP podium_restream_fps Frames per second muxed by a running restream."
    );
    let _ = writeln!(out, "# TYPE podium_restream_fps gauge");
    for s in &running {
        let _ = writeln!(
            out,
            "podium_restream_fps{{restream=\"{}\",room=\"{}\"}} {}",
            s.id, s.label, s.stats.fps
        );
    }
    let _ = writeln!(
        out,
        "# HELP podium_restream_destination_bitrate_bps Bits per second sent to a destination."
    );
    let _ = writeln!(out, "# TYPE podium_restream_destination_bitrate_bps gauge");
    for s in &running {
        for d in &s.destinations {
            let _ = writeln!(
                out,
                "podium_restream_destination_bitrate_bps{{restream=\"{}\",destination=\"{}\"}} {}",
                s.id, d.id, d.stats.bitrate_bps
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP podium_restream_destination_bytes_total Bytes sent to a destination."
    );
    let _ = writeln!(
        out,
        "# TYPE podium_restream_destination_bytes_total counter"
    );
    for s in &running {
        for d in &s.destinations {
            let _ = writeln!(
                out,
                "podium_restream_destination_bytes_total{{restream=\"{}\",destination=\"{}\"}} {}",
                s.id, d.id, d.stats.bytes_out
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP podium_restream_destination_reconnects_total Reconnections of a destination."
    );
    let _ = writeln!(
        out,
        "# TYPE podium_restream_destination_reconnects_total counter"
    );
    for s in &running {
        for d in &s.destinations {
            let _ = writeln!(
                out,
                "podium_restream_destination_reconnects_total{{restream=\"{}\",destination=\"{}\"}} {}",
                s.id, d.id, d.stats.reconnects
            );
        }
    }
}
