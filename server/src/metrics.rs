//! /metrics in the Prometheus text format: workers, rooms, peers, producers,
//! consumers, worker CPU, connections. Counted when scraped, not on hot paths.

use crate::state::AppState;
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

    let per_worker = |f: &dyn Fn(&crate::workers::WorkerStats) -> f64| -> Vec<(String, f64)> {
        workers
            .iter()
            .map(|w| (format!("{{worker=\"{}\"}}", w.slot), f(w)))
            .collect()
    };
    let one = |v: f64| vec![(String::new(), v)];

    metric(
        &mut out,
        "podium_workers",
        "gauge",
        "mediasoup workers alive.",
        &one(workers.iter().filter(|w| w.alive).count() as f64),
    );
    metric(
        &mut out,
        "podium_worker_cpu_seconds_total",
        "counter",
        "CPU time of each mediasoup worker thread.",
        &per_worker(&|w| w.cpu_seconds),
    );
    metric(
        &mut out,
        "podium_worker_peers",
        "gauge",
        "Peers whose media each worker carries.",
        &per_worker(&|w| w.peers as f64),
    );
    metric(
        &mut out,
        "podium_worker_restarts_total",
        "counter",
        "Workers that died and were replaced.",
        &per_worker(&|w| w.restarts as f64),
    );
    metric(
        &mut out,
        "podium_rooms",
        "gauge",
        "Open rooms.",
        &one(rooms.len() as f64),
    );
    metric(
        &mut out,
        "podium_peers",
        "gauge",
        "Peers in rooms.",
        &one(peers as f64),
    );
    metric(
        &mut out,
        "podium_producers",
        "gauge",
        "Producers in rooms.",
        &one(producers as f64),
    );
    metric(
        &mut out,
        "podium_consumers",
        "gauge",
        "Consumers in rooms.",
        &one(consumers as f64),
    );
    metric(
        &mut out,
        "podium_ws_connections",
        "gauge",
        "Open signaling WebSockets.",
        &one(app.connections.load(std::sync::atomic::Ordering::Relaxed) as f64),
    );
    restreams(&mut out, &app.restreams.list(None));
    recordings(&mut out, &app.recordings.list(None));
    out
}

fn recordings(out: &mut String, all: &[podium_protocol::RecordingSummary]) {
    let running: Vec<_> = all.iter().filter(|r| !r.state.is_final()).collect();
    metric(
        out,
        "podium_recordings",
        "gauge",
        "Running recordings.",
        &[(String::new(), running.len() as f64)],
    );
    let bytes: Vec<_> = running
        .iter()
        .map(|r| {
            (
                format!("{{recording=\"{}\",room=\"{}\"}}", r.id, r.room),
                r.bytes as f64,
            )
        })
        .collect();
    metric(
        out,
        "podium_recording_bytes",
        "gauge",
        "Bytes written by a running recording.",
        &bytes,
    );
    let failed = all
        .iter()
        .filter(|r| r.state == podium_protocol::RecordingState::Failed)
        .count();
    metric(
        out,
        "podium_recordings_failed",
        "gauge",
        "Recordings on disk that failed (disk full, directory gone).",
        &[(String::new(), failed as f64)],
    );
}

fn restreams(out: &mut String, all: &[podium_egress::EgressStatus]) {
    let running: Vec<_> = all.iter().filter(|s| !s.state.is_final()).collect();
    let state_name = |s: &podium_egress::EgressStatus| {
        serde_json::to_value(&s.state)
            .ok()
            .and_then(|v| v["state"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let by_state: Vec<_> = ["starting", "live", "reconnecting", "waitingForInput"]
        .iter()
        .map(|state| {
            let n = running.iter().filter(|s| state_name(s) == *state).count();
            (format!("{{state=\"{state}\"}}"), n as f64)
        })
        .collect();
    metric(
        out,
        "podium_restreams",
        "gauge",
        "Running restreams, by state.",
        &by_state,
    );
    let fps: Vec<_> = running
        .iter()
        .map(|s| {
            (
                format!("{{restream=\"{}\",room=\"{}\"}}", s.id, s.label),
                s.stats.fps,
            )
        })
        .collect();
    metric(
        out,
        "podium_restream_fps",
        "gauge",
        "Frames per second muxed by a running restream.",
        &fps,
    );
    let per_destination =
        |f: &dyn Fn(&podium_egress::DestinationStats) -> f64| -> Vec<(String, f64)> {
            running
                .iter()
                .flat_map(|s| {
                    s.destinations.iter().map(move |d| {
                        (
                            format!("{{restream=\"{}\",destination=\"{}\"}}", s.id, d.id),
                            f(&d.stats),
                        )
                    })
                })
                .collect()
        };
    metric(
        out,
        "podium_restream_destination_bitrate_bps",
        "gauge",
        "Bits per second sent to a destination.",
        &per_destination(&|d| d.bitrate_bps as f64),
    );
    metric(
        out,
        "podium_restream_destination_bytes_total",
        "counter",
        "Bytes sent to a destination.",
        &per_destination(&|d| d.bytes_out as f64),
    );
    metric(
        out,
        "podium_restream_destination_reconnects_total",
        "counter",
        "Reconnections of a destination.",
        &per_destination(&|d| f64::from(d.reconnects)),
    );
}

/// One metric family: HELP, TYPE, then a sample per (labels, value).
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}
