//! podium-load: simulated students for Podium over real signaling and real
//! WebRTC. See `podium-load --help` and docs/benchmarks/README.md.

mod bots;
mod child;
mod churn;
mod cli;
mod cluster;
mod crowd;
mod engine;
mod janus;
mod links;
mod measure;
mod media;
mod modes;
mod plot;
mod procfs;
mod prom;
mod ramp;
mod report;
mod server;
mod signaling;
mod stats;
mod testbed;

use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_env("LOAD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,str0m=warn,is=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    let cli = cli::Cli::parse();
    str0m::crypto::from_feature_flags().install_process_default();
    let threads = match &cli.mode {
        cli::Mode::Ramp(a) => a.common.signal_threads,
        cli::Mode::Churn(a) => a.common.signal_threads,
        cli::Mode::Smoke(a) => a.common.signal_threads,
        cli::Mode::Links(a) => a.common.signal_threads,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("load-signal")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("podium-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The mode runs on this (main) thread: the servers it starts are tied to it (PDEATHSIG).
    let result = runtime.block_on(async {
        let work = async {
            match cli.mode {
                cli::Mode::Ramp(args) => modes::ramp(args).await,
                cli::Mode::Churn(args) => modes::churn(args).await,
                cli::Mode::Smoke(args) => modes::smoke(args).await,
                cli::Mode::Links(args) => links::run(args).await,
            }
        };
        tokio::select! {
            result = work => result,
            _ = interrupted() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    // Bots may still hold sockets: do not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("podium-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
