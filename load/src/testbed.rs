//! One server under test with its room: the server process, the shards, the
//! teacher and the crowd of students.

use crate::bots::{Ctx, SharedCtx, teacher::Teacher};
use crate::crowd::Crowd;
use crate::engine::{Impairment, Profile, Shard, certificate};
use crate::measure::Probe;
use crate::media::MediaSet;
use crate::server::{Launch, Server};
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
}

pub struct Testbed {
    pub server: Server,
    pub ctx: SharedCtx,
    pub crowd: Crowd,
    pub teacher: Option<Teacher>,
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
        let server = match &setup.existing {
            Some((url, pid)) => Server::existing(url, *pid, setup.rtc_ports),
            None => {
                let log = setup.log_dir.join(format!("server-{tag}.log"));
                Server::launch(
                    Launch {
                        binary: &setup.server_bin,
                        workers,
                        rtc_ports: setup.rtc_ports,
                        log: &log,
                        log_filter: setup.server_log_filter.as_deref(),
                        env: &setup.server_env,
                    },
                    &client,
                )
                .await?
            }
        };
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
        });
        let teacher = Teacher::start(&ctx, Arc::clone(&media), setup.layers).await?;
        let crowd = Crowd::new(Arc::clone(&ctx), tx, rx);
        let mut testbed = Testbed {
            server,
            ctx,
            crowd,
            teacher: Some(teacher),
            workers,
            media,
            layers: setup.layers,
        };
        // Let the teacher's media reach the SFU before anyone consumes it.
        testbed.crowd.idle(Duration::from_secs(2)).await;
        Ok(testbed)
    }

    /// A new teacher in place of one the server disconnected.
    pub async fn restart_teacher(&mut self) -> anyhow::Result<()> {
        if let Some(old) = self.teacher.take() {
            old.stop().await;
        }
        let teacher = Teacher::start(&self.ctx, Arc::clone(&self.media), self.layers).await?;
        self.teacher = Some(teacher);
        self.crowd.idle(Duration::from_secs(2)).await;
        Ok(())
    }

    pub async fn probe(&self) -> Probe {
        let teacher = self
            .teacher
            .as_ref()
            .map(Teacher::stats)
            .unwrap_or_default();
        let port = self.teacher.as_ref().map_or(0, |t| t.server_port);
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
                let layers = t.layers;
                let ended = t.stop().await;
                serde_json::json!({ "publisher": stats, "signaling": ended, "layers_sent": layers })
            }
            None => serde_json::Value::Null,
        };
        let tail = self.server.log_tail(20);
        let stopped = self.server.stop();
        (teacher, tail, stopped)
    }
}
