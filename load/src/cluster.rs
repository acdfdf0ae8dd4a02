//! A cluster run (`--nodes N`): a Redis of the run's own on a free loopback
//! port and N Podium nodes on it, sharing their token secret; the first is
//! the class's home (the teacher joins there), the others are edges the
//! class is piped to. Their CPU is read from /proc per node.

use crate::child::Process;
use crate::server::{Launch, Server};
use anyhow::Context;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The nodes besides the first, and their Redis.
pub struct Cluster {
    pub edges: Vec<Server>,
    redis: Process,
    redis_port: u16,
}

/// `redis-server` on `port` (no persistence), once it listens.
async fn redis_server(port: u16) -> anyhow::Result<Process> {
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("redis-server (scripts/setup --test installs it)")?;
    let redis = Process::started(child, None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "redis-server did not listen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(redis)
}

/// What every node of a run shares.
fn cluster_env(redis_url: &str, node: usize) -> Vec<(String, String)> {
    let run = std::process::id();
    [
        ("PODIUM_CLUSTER__REDIS_URL", redis_url.to_owned()),
        (
            "PODIUM_CLUSTER__SECRET",
            format!("podium-load-cluster-{run}"),
        ),
        ("PODIUM_CLUSTER__NODE_ID", format!("node-{node}")),
        ("PODIUM_CLUSTER__HEARTBEAT_SECS", "1".to_owned()),
        // Stopped with everyone gone: a drain has nothing to wait for.
        ("PODIUM_CLUSTER__DRAIN_SECS", "5".to_owned()),
        (
            "PODIUM_AUTH__TOKEN_SECRET",
            format!("podium-load-tokens-{run}-shared-by-nodes"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `ports` cut in `n` equal ranges, one per node.
pub fn split_ports(ports: (u16, u16), n: usize) -> Vec<(u16, u16)> {
    let span = (usize::from(ports.1 - ports.0) + 1) / n.max(1);
    (0..n.max(1))
        .map(|i| {
            let lo = usize::from(ports.0) + i * span;
            (lo as u16, (lo + span - 1) as u16)
        })
        .collect()
}

impl Cluster {
    /// Starts Redis and `nodes` Podium nodes (`launch` tells how, its
    /// ports are split between them); the first node, then the others.
    pub async fn launch(
        launch: &Launch<'_>,
        nodes: usize,
        client: &reqwest::Client,
    ) -> anyhow::Result<(Server, Cluster)> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let redis = redis_server(port).await?;
        let url = format!("redis://127.0.0.1:{port}/0");
        let ranges = split_ports(launch.rtc_ports, nodes);
        let mut servers = Vec::with_capacity(nodes);
        for (i, ports) in ranges.into_iter().enumerate() {
            let mut env = launch.env.to_vec();
            env.extend(cluster_env(&url, i));
            let log = launch.log.with_file_name(format!(
                "node-{i}-{}",
                launch.log.file_name().unwrap_or_default().to_string_lossy()
            ));
            let node = Server::launch(
                Launch {
                    binary: launch.binary,
                    workers: launch.workers,
                    rtc_ports: ports,
                    log: &log,
                    log_filter: launch.log_filter,
                    env: &env,
                },
                client,
            )
            .await
            .with_context(|| format!("starting node {i}"))?;
            servers.push(node);
        }
        let home = servers.remove(0);
        Ok((
            home,
            Cluster {
                edges: servers,
                redis,
                redis_port: port,
            },
        ))
    }

    /// Stops Redis, waits `down`, and starts it again, empty, on its port
    /// (classes must go on: media never goes through it).
    pub async fn restart_redis(&mut self, down: Duration) -> anyhow::Result<()> {
        let said = self.redis.stop();
        tracing::info!(%said, "redis stopped");
        tokio::time::sleep(down).await;
        self.redis = redis_server(self.redis_port).await?;
        tracing::info!("redis started again, empty");
        Ok(())
    }

    /// Stops the edges, then Redis; what each said.
    pub fn stop(&mut self) -> Vec<String> {
        let mut said: Vec<String> = self.edges.iter_mut().map(Server::stop).collect();
        said.push(format!("redis {}", self.redis.stop()));
        said
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_split_without_overlap() {
        assert_eq!(split_ports((20000, 29999), 1), [(20000, 29999)]);
        assert_eq!(
            split_ports((20000, 29999), 3),
            [(20000, 23332), (23333, 26665), (26666, 29998)]
        );
    }
}
