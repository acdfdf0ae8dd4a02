//! Command-line options.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "podium-load",
    about = "Simulated students against a Podium server: real signaling, real WebRTC (str0m)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Students join step by step until it breaks; then a join storm. Compares worker counts.
    Ramp(RampArgs),
    /// A class where students keep leaving and joining; samples server memory.
    Churn(ChurnArgs),
    /// A short run for the test suite: asserts every student gets media with little loss.
    Smoke(SmokeArgs),
    /// A share of the students behind a capped link: the cap goes on, then
    /// off; how fast mediasoup moves them down and back up.
    Links(LinksArgs),
}

#[derive(Debug, Args, Clone)]
pub struct Common {
    /// The podium binary to start (one server per worker count).
    #[arg(long, default_value = "target/release/podium")]
    pub server_bin: PathBuf,
    /// Test a running server instead (dev mode on): its base URL...
    #[arg(long, requires = "pid")]
    pub url: Option<String>,
    /// ...and its pid, for /proc.
    #[arg(long, requires = "url")]
    pub pid: Option<u32>,
    /// mediasoup workers, one server (and one run) per value: "1,2".
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub workers: Vec<usize>,
    /// Bot media threads (each one UDP socket and a share of the students).
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// Threads of the bots' signaling runtime (one thread measurably slows
    /// the bots' own side of a 500-student join storm).
    #[arg(long, default_value_t = 2)]
    pub signal_threads: usize,
    /// Receive buffer of each bot socket, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub socket_buffer: usize,
    /// Simulcast layers the teacher sends (1-3).
    #[arg(long, default_value_t = 3)]
    pub layers: usize,
    /// How students' WebRTC behaves: `browser` (what Chrome negotiates: NACK,
    /// RTX, PLI, transport-cc feedback; mediasoup picks the layer) or `lean`
    /// (no repair, no feedback, the layer pinned).
    #[arg(long, value_enum, default_value_t = crate::engine::Profile::Browser)]
    pub profile: crate::engine::Profile,
    /// The layer lean students pin (0 = 180p ~150 kbit/s, 1 = 360p ~500 kbit/s, 2 = 720p).
    #[arg(long, default_value_t = 1)]
    pub student_layer: u8,
    /// Percent of the students behind an impaired link (user space, both directions).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub impaired: u32,
    /// Their link: good (20 ms), 3g (1.6 Mbit/s, 150 ms, 1 % loss) or lossy (5 % loss, 80 ms).
    #[arg(long, default_value = "3g", value_parser = ["good", "3g", "lossy"])]
    pub impairment: String,
    /// The server's WebRTC port range (kept clear of other servers and of ephemeral ports).
    #[arg(long, default_value = "20000-29999")]
    pub rtc_ports: String,
    /// PODIUM_LOG for the server (its default when absent).
    #[arg(long)]
    pub server_log: Option<String>,
    /// Extra server settings, KEY=VALUE (repeatable), e.g. PODIUM_RTC__UDP_RECV_BUFFER=4194304.
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,
    /// Seconds a student may take to join.
    #[arg(long, default_value_t = 20)]
    pub join_timeout: u64,
    /// Where the pre-encoded teacher media is cached.
    #[arg(long, default_value = "target/loadtest-media")]
    pub media_dir: PathBuf,
    /// Where results go.
    #[arg(long, default_value = "docs/benchmarks")]
    pub out: PathBuf,
    /// Where the servers' logs go (default: with the results).
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// Base name of the result files.
    #[arg(long)]
    pub name: Option<String>,
    /// Podium nodes of one cluster on a Redis the tool starts (1: one node,
    /// no Redis). The teacher joins the first; students are spread over all
    /// of them, so every other node is an edge the class is piped to.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub nodes: u16,
    /// The goals: loss below this %...
    #[arg(long, default_value_t = 1.0)]
    pub goal_loss: f64,
    /// ...and join p95 below this many ms.
    #[arg(long, default_value_t = 500.0)]
    pub goal_join_p95: f64,
}

#[derive(Debug, Args)]
pub struct RampArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,300,500")]
    pub steps: Vec<usize>,
    /// After the listed steps, add this many students per step until it breaks (0: stop).
    #[arg(long, default_value_t = 200)]
    pub beyond: usize,
    #[arg(long, default_value_t = 1500)]
    pub max_students: usize,
    /// Seconds measured per step.
    #[arg(long, default_value_t = 15)]
    pub window: u64,
    /// Seconds between the last join of a step and its window.
    #[arg(long, default_value_t = 3)]
    pub settle: u64,
    /// Joins per second within a step (0: all at once).
    #[arg(long, default_value_t = 100.0)]
    pub join_rate: f64,
    /// Students of the join storm after the ramp (0: none).
    #[arg(long, default_value_t = 500)]
    pub storm: usize,
    /// Steps in a row that may miss the goal before the ramp stops.
    #[arg(long, default_value_t = 2)]
    pub max_missed: usize,
    /// Measure a window again when other processes took more CPU than this (% of one core)...
    #[arg(long, default_value_t = 20.0)]
    pub max_others_cpu: f64,
    /// ...up to this many times.
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    #[command(flatten)]
    pub peer: PeerArgs,
}

/// A peer SFU measured after Podium, the same way.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// After Podium, the same students on this SFU ("janus": Debian's
    /// janus, VideoRoom, in a network namespace this tool makes; root).
    #[arg(long, value_enum)]
    pub peer: Option<Peer>,
    /// The Janus binary.
    #[arg(long, default_value = "janus")]
    pub janus_bin: PathBuf,
    /// Janus's event loops (its media threads); default: the largest
    /// --workers value, the CPU Podium was given.
    #[arg(long)]
    pub janus_event_loops: Option<usize>,
}

impl PeerArgs {
    pub fn janus_event_loops(&self, common: &Common) -> usize {
        self.janus_event_loops
            .or_else(|| common.workers.iter().copied().max())
            .unwrap_or(2)
    }
}

/// A peer SFU measured beside Podium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    Janus,
}

#[derive(Debug, Args)]
pub struct ChurnArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 200)]
    pub students: usize,
    /// Students replaced per second.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    #[arg(long, default_value_t = 30)]
    pub sample_secs: u64,
    #[arg(long, default_value_t = 120)]
    pub warmup_secs: u64,
    #[arg(long, default_value_t = 50.0)]
    pub join_rate: f64,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 50)]
    pub students: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
    /// Loss above this % fails the smoke test.
    #[arg(long, default_value_t = 5.0)]
    pub max_loss: f64,
    /// Students replaced (leave / drop and rejoin) after the window.
    #[arg(long, default_value_t = 10)]
    pub churn: usize,
    /// A cluster run (--nodes > 1): stop the cluster's Redis for 3 s in the
    /// middle of the window and start it again empty; the window's checks
    /// then say whether any student lost media.
    #[arg(long)]
    pub restart_redis: bool,
    #[command(flatten)]
    pub peer: PeerArgs,
}

#[derive(Debug, Args)]
pub struct LinksArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 50)]
    pub students: usize,
    /// Seconds everyone may take to reach the top layer, uncapped.
    #[arg(long, default_value_t = 30)]
    pub settle: u64,
    /// Seconds the cap stays on, and watched after it lifts.
    #[arg(long, default_value_t = 20)]
    pub hold: u64,
}

impl Common {
    pub fn rtc_port_range(&self) -> anyhow::Result<(u16, u16)> {
        let (lo, hi) = self
            .rtc_ports
            .split_once('-')
            .ok_or_else(|| anyhow::anyhow!("--rtc-ports wants MIN-MAX"))?;
        let (lo, hi): (u16, u16) = (lo.trim().parse()?, hi.trim().parse()?);
        anyhow::ensure!(lo < hi, "--rtc-ports: {lo} is not below {hi}");
        Ok((lo, hi))
    }

    pub fn env_pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.server_env
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| anyhow::anyhow!("--server-env {kv:?}: want KEY=VALUE"))
            })
            .collect()
    }
}
