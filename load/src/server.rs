//! The Podium server under test: started by the tool on free ports (or an
//! existing one given by URL and pid), scraped, and stopped.

use crate::child::Process;
use crate::prom::Scrape;
use anyhow::{Context, bail};
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    process: Process,
    pub pid: u32,
    pub http: String,
    /// The UDP/TCP ports of its WebRTC transports.
    pub rtc_ports: (u16, u16),
    metrics_token: Option<String>,
    /// Its dev secret (`X-Podium-Dev` on /api/dev/token).
    pub dev_secret: String,
}

/// How to start a server.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub workers: usize,
    pub rtc_ports: (u16, u16),
    pub log: &'a Path,
    /// PODIUM_LOG for the server; None keeps its default (info).
    pub log_filter: Option<&'a str>,
    /// Extra PODIUM_* settings, e.g. ("PODIUM_RTC__UDP_RECV_BUFFER", "4194304").
    pub env: &'a [(String, String)],
}

/// The dev secret (`X-Podium-Dev`) of a server this tool starts.
fn dev_secret(port: u16) -> String {
    format!("podium-load-dev-{port}-{}", std::process::id())
}

/// The metrics token of a server this tool starts (loopback, this run only).
fn metrics_token(port: u16) -> String {
    format!("podium-load-metrics-{port}-{}", std::process::id())
}

impl Server {
    /// Starts `podium` on a free loopback port and waits for /health.
    pub async fn launch(launch: Launch<'_>, client: &reqwest::Client) -> anyhow::Result<Server> {
        let port = free_port()?;
        let log = File::create(launch.log)
            .with_context(|| format!("creating {}", launch.log.display()))?;
        let mut command = Command::new(launch.binary);
        command
            .env("PODIUM_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("PODIUM_RTC__WORKERS", launch.workers.to_string())
            .env("PODIUM_RTC__PORT_MIN", launch.rtc_ports.0.to_string())
            .env("PODIUM_RTC__PORT_MAX", launch.rtc_ports.1.to_string())
            .env("PODIUM_AUTH__DEV_MODE", "true")
            .env("PODIUM_AUTH__DEV_SECRET", dev_secret(port))
            .env("PODIUM_HTTP__METRICS_TOKEN", metrics_token(port))
            // Every bot connects from 127.0.0.1.
            .env("PODIUM_LIMITS__CONNECTIONS_PER_IP", "100000")
            // The bots of one shard share a UDP socket, and a WebRTC server
            // tells peers apart by their address: per-transport ports (the
            // way the published figures were measured) keep them apart.
            .env("PODIUM_RTC__WEBRTC_SERVER", "false")
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(filter) = launch.log_filter {
            command.env("PODIUM_LOG", filter);
        }
        // SAFETY: prctl is async-signal-safe. The server gets SIGTERM if the
        // thread that started it dies: the tool calls this from its main
        // thread, so a killed tool never leaves a server behind.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let process = Process::started(child, Some(launch.log.to_owned()));
        let pid = process.pid;
        let mut server = Server {
            process,
            pid,
            http: format!("http://127.0.0.1:{port}"),
            rtc_ports: launch.rtc_ports,
            metrics_token: Some(metrics_token(port)),
            dev_secret: dev_secret(port),
        };
        tracing::info!(pid, port, workers = launch.workers, "server starting");
        server.wait_healthy(client, Duration::from_secs(60)).await?;
        Ok(server)
    }

    /// A server someone else started.
    pub fn existing(http: &str, pid: u32, rtc_ports: (u16, u16)) -> Server {
        Server {
            process: Process::existing(pid),
            pid,
            http: http.trim_end_matches('/').to_owned(),
            rtc_ports,
            // /metrics takes a bearer token (the server's http.metrics_token or admin key).
            metrics_token: std::env::var("LOADTEST_METRICS_TOKEN").ok(),
            // Its start link's #dev=... (or auth.dev_secret).
            dev_secret: std::env::var("LOADTEST_DEV_SECRET").unwrap_or_default(),
        }
    }

    async fn wait_healthy(
        &mut self,
        client: &reqwest::Client,
        within: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if !self.is_running() {
                bail!("the server exited at start; see {}", self.log_path());
            }
            let health = client.get(format!("{}/health", self.http)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server did not become healthy within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_path(&self) -> String {
        self.process
            .log
            .as_ref()
            .map_or("its output".into(), |p| p.display().to_string())
    }

    /// Whether the process still runs (a server we did not start: its /proc entry).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub async fn scrape(&self, client: &reqwest::Client) -> anyhow::Result<Scrape> {
        let mut request = client.get(format!("{}/metrics", self.http));
        if let Some(token) = &self.metrics_token {
            request = request.bearer_auth(token);
        }
        let text = request.send().await?.error_for_status()?.text().await?;
        Ok(Scrape::parse(&text))
    }

    /// The last lines of its log, for the report.
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        self.process.log_tail(lines)
    }

    /// SIGTERM, then SIGKILL after 10 s. Returns how it ended.
    pub fn stop(&mut self) -> String {
        self.process.stop()
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
