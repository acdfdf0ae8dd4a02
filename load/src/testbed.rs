//! One SFU under test with its room: the SFU process (Podium, or Janus for
//! the side-by-side run), the shards, the teacher and the crowd of students.

use crate::bots::{Ctx, SharedCtx, teacher::Teacher};
use crate::crowd::Crowd;
use crate::engine::{Impairment, Profile, PublisherStats, Shard, certificate};
use crate::janus::api::Api;
use crate::janus::config::JanusConfig;
use crate::janus::netns::Netns;
use crate::janus::process::Janus;
use crate::janus::teacher::JanusTeacher;
use crate::janus::{JanusClass, videoroom};
use crate::measure::Probe;
use crate::media::MediaSet;
use crate::prom::Scrape;
use crate::server::{Launch, Server};
use anyhow::bail;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How testbeds are set up (from the command line).
#[derive(Debug, Clone)]
pub struct Setup {
    pub server_bin: PathBuf,
    /// An already running server instead of starting one: its URL and pid.
    pub existing: Option<(String, u32)>,
    pub shards: usize,
    pub shard_buffer: usize,
    /// Simulcast layers the teacher sends (1-3) and the one lean students pin.
    pub layers: usize,
    pub student_layer: u8,
    pub profile: Profile,
    /// The link of the impaired share of the students.
    pub impairment: Option<Impairment>,
    pub impaired_pct: u32,
    pub rtc_ports: (u16, u16),
    pub server_log_filter: Option<String>,
    pub server_env: Vec<(String, String)>,
    pub join_timeout: Duration,
    /// Where the server's log goes.
    pub log_dir: PathBuf,
    pub room: String,
    /// Podium nodes in one cluster (1: no cluster).
    pub nodes: usize,
}

/// The SFU a testbed measures.
pub enum Sfu {
    Podium(Server),
    /// Janus in its own network namespace (see `crate::janus`).
    Janus(Box<Janus>),
}

impl Sfu {
    pub fn is_running(&mut self) -> bool {
        match self {
            Sfu::Podium(server) => server.is_running(),
            Sfu::Janus(janus) => janus.is_running(),
        }
    }

    /// "podium" or "janus", for the report.
    pub fn name(&self) -> &'static str {
        match self {
            Sfu::Podium(_) => "podium",
            Sfu::Janus(_) => "janus",
        }
    }

    /// Janus's version and the settings it ran with, for the report.
    pub fn settings(&self) -> serde_json::Value {
        match self {
            Sfu::Podium(_) => serde_json::Value::Null,
            Sfu::Janus(janus) => serde_json::json!({
                "version": janus.info["version_string"],
                "config": janus.config.summary(),
            }),
        }
    }

    /// Its process, for CPU and memory.
    pub fn pid(&self) -> u32 {
        match self {
            Sfu::Podium(server) => server.pid,
            Sfu::Janus(janus) => janus.pid,
        }
    }

    /// The ports of its WebRTC sockets.
    pub fn rtc_ports(&self) -> (u16, u16) {
        match self {
            Sfu::Podium(server) => server.rtc_ports,
            Sfu::Janus(janus) => janus.config.rtp_ports,
        }
    }

    /// Podium's /metrics (Janus has none: its figures come from /proc).
    pub async fn scrape(&self, client: &reqwest::Client) -> Scrape {
        match self {
            Sfu::Podium(server) => server.scrape(client).await.unwrap_or_default(),
            Sfu::Janus(_) => Scrape::default(),
        }
    }

    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        match self {
            Sfu::Podium(server) => server.log_tail(lines),
            Sfu::Janus(janus) => janus.log_tail(lines),
        }
    }

    pub fn stop(&mut self) -> String {
        match self {
            Sfu::Podium(server) => server.stop(),
            Sfu::Janus(janus) => janus.stop(),
        }
    }
}

/// The teacher publishing to the SFU under test.
pub enum TeacherBot {
    Podium(Teacher),
    Janus(JanusTeacher),
}

impl TeacherBot {
    pub fn stats(&self) -> PublisherStats {
        match self {
            TeacherBot::Podium(t) => t.stats(),
            TeacherBot::Janus(t) => t.stats(),
        }
    }

    pub fn is_alive(&self) -> bool {
        match self {
            TeacherBot::Podium(t) => t.is_alive(),
            TeacherBot::Janus(t) => t.is_alive(),
        }
    }

    /// Why its signaling ended, if it did.
    pub fn ended(&self) -> Option<String> {
        match self {
            TeacherBot::Podium(t) => t.ended(),
            TeacherBot::Janus(t) => t.ended(),
        }
    }

    /// The SFU's port for the teacher's media, where Podium's socket
    /// drops are counted (0: not on this host's network).
    fn server_port(&self) -> u16 {
        match self {
            TeacherBot::Podium(t) => t.server_port,
            TeacherBot::Janus(_) => 0,
        }
    }

    fn layers(&self) -> usize {
        match self {
            TeacherBot::Podium(t) => t.layers,
            TeacherBot::Janus(t) => t.layers,
        }
    }

    async fn stop(self) -> String {
        match self {
            TeacherBot::Podium(t) => t.stop().await,
            TeacherBot::Janus(t) => t.stop().await,
        }
    }
}

/// Janus's HTTP API port and RTP ports, inside its own namespace (no other
/// process there to collide with).
const JANUS_HTTP_PORT: u16 = 8088;
const JANUS_RTP_PORTS: (u16, u16) = (20_000, 40_000);

pub struct Testbed {
    /// The SFU; in a cluster run, the class's home node.
    pub server: Sfu,
    /// A cluster run's other nodes and its Redis.
    pub cluster: Option<crate::cluster::Cluster>,
    pub ctx: SharedCtx,
    pub crowd: Crowd,
    pub teacher: Option<TeacherBot>,
    pub workers: usize,
    media: Arc<MediaSet>,
    layers: usize,
}

impl Testbed {
    pub async fn open(
        setup: &Setup,
        workers: usize,
        media: Arc<MediaSet>,
        tag: &str,
    ) -> anyhow::Result<Testbed> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .timeout(Duration::from_secs(20))
            .build()?;
        let log = setup.log_dir.join(format!("server-{tag}.log"));
        let launch = Launch {
            binary: &setup.server_bin,
            workers,
            rtc_ports: setup.rtc_ports,
            log: &log,
            log_filter: setup.server_log_filter.as_deref(),
            env: &setup.server_env,
        };
        let (server, cluster) = match &setup.existing {
            Some((url, pid)) => (Server::existing(url, *pid, setup.rtc_ports), None),
            None if setup.nodes > 1 => {
                let (home, cluster) =
                    crate::cluster::Cluster::launch(&launch, setup.nodes, &client).await?;
                (home, Some(cluster))
            }
            None => (Server::launch(launch, &client).await?, None),
        };
        let nodes: Vec<String> = std::iter::once(server.http.clone())
            .chain(
                cluster
                    .iter()
                    .flat_map(|c| c.edges.iter().map(|e| e.http.clone())),
            )
            .collect();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let shards = (0..setup.shards.max(1))
            .map(|i| Shard::start(i, ip, setup.shard_buffer, tx.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ctx = Arc::new(Ctx {
            http: server.http.clone(),
            room: setup.room.clone(),
            cert: certificate()?,
            shards,
            layer: setup.student_layer,
            profile: setup.profile,
            impairment: setup.impairment,
            impaired_pct: setup.impaired_pct,
            client,
            join_timeout: setup.join_timeout,
            dev_secret: server.dev_secret.clone(),
            janus: None,
            nodes,
        });
        let teacher = Teacher::start(&ctx, Arc::clone(&media), setup.layers).await?;
        let crowd = Crowd::new(Arc::clone(&ctx), tx, rx);
        let mut testbed = Testbed {
            server: Sfu::Podium(server),
            cluster,
            ctx,
            crowd,
            teacher: Some(TeacherBot::Podium(teacher)),
            workers,
            media,
            layers: setup.layers,
        };
        // Let the teacher's media reach the SFU before anyone consumes it.
        testbed.crowd.idle(Duration::from_secs(2)).await;
        Ok(testbed)
    }

    /// Janus (`binary`) with its VideoRoom, in a network namespace of
    /// this run's making, with `event_loops` threads; the same shards,
    /// teacher media and students as [`Testbed::open`]. Needs root.
    pub async fn open_janus(
        setup: &Setup,
        binary: &std::path::Path,
        event_loops: usize,
        media: Arc<MediaSet>,
        tag: &str,
    ) -> anyhow::Result<Testbed> {
        if setup.profile != Profile::Browser {
            bail!("a Janus run takes browser-like students (--profile browser)");
        }
        let netns = Netns::create()?;
        let bots_ip = IpAddr::V4(netns.host_ip);
        let mut config =
            JanusConfig::new(JANUS_HTTP_PORT, JANUS_RTP_PORTS, IpAddr::V4(netns.ns_ip));
        config.event_loops = event_loops;
        let log = setup.log_dir.join(format!("janus-{tag}.log"));
        let janus = Janus::launch(binary, config, netns, &log).await?;
        tracing::info!(version = %janus.info["version_string"], pid = janus.pid, "janus ready");
        let api = Api::new(&janus.base_url)?;
        let room = videoroom::create_room(&api, &videoroom::RoomSpec::default()).await?;
        let cert = certificate()?;
        let teacher =
            JanusTeacher::start(&api, &cert, bots_ip, room, Arc::clone(&media), setup.layers)
                .await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let shards = (0..setup.shards.max(1))
            .map(|i| Shard::start(i, bots_ip, setup.shard_buffer, tx.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ctx = Arc::new(Ctx {
            http: String::new(),
            room: setup.room.clone(),
            cert,
            shards,
            layer: setup.student_layer,
            profile: setup.profile,
            impairment: setup.impairment,
            impaired_pct: setup.impaired_pct,
            client: reqwest::Client::new(),
            join_timeout: setup.join_timeout,
            dev_secret: String::new(),
            janus: Some(JanusClass {
                api,
                room,
                feed: teacher.feed,
            }),
            nodes: Vec::new(),
        });
        let crowd = Crowd::new(Arc::clone(&ctx), tx, rx);
        let mut testbed = Testbed {
            server: Sfu::Janus(Box::new(janus)),
            cluster: None,
            ctx,
            crowd,
            teacher: Some(TeacherBot::Janus(teacher)),
            workers: event_loops,
            media,
            layers: setup.layers,
        };
        testbed.crowd.idle(Duration::from_secs(2)).await;
        Ok(testbed)
    }

    /// A new teacher in place of one the server disconnected (Podium: in
    /// Janus a new teacher is a new feed the students would not know).
    pub async fn restart_teacher(&mut self) -> anyhow::Result<()> {
        if matches!(self.server, Sfu::Janus(_)) {
            bail!("the teacher's Janus session ended; no new teacher in a Janus run");
        }
        if let Some(old) = self.teacher.take() {
            old.stop().await;
        }
        let teacher = Teacher::start(&self.ctx, Arc::clone(&self.media), self.layers).await?;
        self.teacher = Some(TeacherBot::Podium(teacher));
        self.crowd.idle(Duration::from_secs(2)).await;
        Ok(())
    }

    pub async fn probe(&self) -> Probe {
        let teacher = self
            .teacher
            .as_ref()
            .map(TeacherBot::stats)
            .unwrap_or_default();
        let port = self.teacher.as_ref().map_or(0, TeacherBot::server_port);
        Probe::take(&self.ctx, &self.server, teacher, port).await
    }

    /// Everyone leaves, the server stops. Returns the teacher's figures and
    /// the end of the server's log.
    pub async fn close(mut self) -> (serde_json::Value, Vec<String>, String) {
        self.crowd
            .dismiss_all(crate::bots::student::Exit::Leave, Duration::from_secs(20))
            .await;
        let teacher = match self.teacher.take() {
            Some(t) => {
                let stats = t.stats();
                let layers = t.layers();
                let ended = t.stop().await;
                serde_json::json!({ "publisher": stats, "signaling": ended, "layers_sent": layers })
            }
            None => serde_json::Value::Null,
        };
        let tail = self.server.log_tail(20);
        let mut edges = self
            .cluster
            .as_mut()
            .map(crate::cluster::Cluster::stop)
            .unwrap_or_default();
        let stopped = self.server.stop();
        // Every node must stop cleanly for the run to be.
        edges.retain(|said| !said.contains("stopped: exit status: 0"));
        let stopped = match edges.is_empty() {
            true => stopped,
            false => format!("{stopped}; {}", edges.join("; ")),
        };
        (teacher, tail, stopped)
    }

    /// The pid of every Podium node of the run (the home first).
    pub fn node_pids(&self) -> Vec<u32> {
        std::iter::once(self.server.pid())
            .chain(
                self.cluster
                    .iter()
                    .flat_map(|c| c.edges.iter().map(|e| e.pid)),
            )
            .collect()
    }
}
