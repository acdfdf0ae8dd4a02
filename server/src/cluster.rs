//! This node's membership of a cluster (`[cluster]`, docs/CLUSTER.md): its
//! record in Redis (id, public URL, internal address, load) written at
//! start and renewed every `cluster.heartbeat_secs`, and removed at
//! shutdown. Redis away: the heartbeat fails and says so, and classes go on
//! (media never goes through Redis); when Redis is back the next heartbeat
//! registers the node again.

use crate::config::Config;
use crate::room::Rooms;
use crate::workers::WorkerPool;
use parking_lot::Mutex;
use podium_cluster::{Cluster, ClusterConfig, ClusterError, Load, NodeInfo};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A node silent for this many heartbeats is gone.
const MISSED_BEATS: u32 = 3;

pub struct Membership {
    cluster: Cluster,
    node: Mutex<NodeInfo>,
    period: Duration,
    rooms: Arc<Rooms>,
    pool: Arc<WorkerPool>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Membership {
    /// Connects to Redis and registers this node (an error if Redis cannot
    /// be reached: a node that cannot join its cluster does not start).
    pub async fn join(
        config: &Config,
        internal_addr: String,
        public_url: String,
        rooms: Arc<Rooms>,
        pool: Arc<WorkerPool>,
    ) -> Result<Arc<Membership>, ClusterError> {
        let section = &config.cluster;
        let cluster = Cluster::connect(ClusterConfig::new(
            section.redis_url.expose(),
            section.secret.expose(),
        ))
        .await?;
        let id = if section.node_id.is_empty() {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            section.node_id.clone()
        };
        let membership = Arc::new(Membership {
            cluster,
            node: Mutex::new(NodeInfo {
                id,
                public_url,
                internal_addr: if section.internal_addr.is_empty() {
                    internal_addr
                } else {
                    section.internal_addr.clone()
                },
                load: Load {
                    capacity: section.capacity,
                    ..Load::default()
                },
                draining: false,
                updated_at_ms: 0,
            }),
            period: Duration::from_secs(section.heartbeat_secs),
            rooms,
            pool,
            task: Mutex::new(None),
        });
        membership.beat().await?;
        tracing::info!(node = %membership.id(), "joined the cluster");
        let beating = Arc::clone(&membership);
        *membership.task.lock() = Some(tokio::spawn(async move { beating.keep_beating().await }));
        Ok(membership)
    }

    pub fn directory(&self) -> podium_cluster::Directory {
        self.cluster.directory()
    }

    pub fn bus(&self) -> podium_cluster::Bus {
        self.cluster.bus()
    }

    /// Between two heartbeats.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Stops taking new rooms: the cluster hears it at once (it picks
    /// other nodes), and classes here go on.
    pub async fn drain(&self) {
        self.node.lock().draining = true;
        if let Err(error) = self.beat().await {
            tracing::warn!(%error, "could not tell the cluster this node drains (the next heartbeat will)");
        }
    }

    pub fn is_draining(&self) -> bool {
        self.node.lock().draining
    }

    /// Where the other nodes reach this one.
    pub fn internal_addr(&self) -> String {
        self.node.lock().internal_addr.clone()
    }

    pub fn id(&self) -> String {
        self.node.lock().id.clone()
    }

    /// How long a record (or a room's home) lives unrenewed.
    pub fn ttl(&self) -> Duration {
        self.period * MISSED_BEATS
    }

    /// Writes this node's record with its load now.
    async fn beat(&self) -> Result<(), ClusterError> {
        let node = self.node.lock().clone();
        self.cluster.registry().heartbeat(&node, self.ttl()).await
    }

    async fn keep_beating(&self) {
        let mut cpu_before = (Instant::now(), self.worker_cpu_seconds());
        let mut failing = false;
        loop {
            tokio::time::sleep(self.period).await;
            let now = (Instant::now(), self.worker_cpu_seconds());
            let elapsed = now.0.duration_since(cpu_before.0).as_secs_f64().max(0.001);
            let cpu_pct = (now.1 - cpu_before.1).max(0.0) / elapsed * 100.0;
            cpu_before = now;
            let (peers, consumers) = self.rooms.all().iter().fold((0, 0), |(p, c), room| {
                let (peers, _, consumers) = room.counts();
                (p + peers as u64, c + consumers as u64)
            });
            {
                let mut node = self.node.lock();
                node.load.peers = peers;
                node.load.consumers = consumers;
                node.load.worker_cpu_pct = (cpu_pct * 10.0).round() / 10.0;
            }
            match self.beat().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("cluster heartbeat back: registered again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cluster heartbeat failed (classes go on; trying again every beat)");
                }
                Err(_) => {}
            }
        }
    }

    fn worker_cpu_seconds(&self) -> f64 {
        self.pool.stats().iter().map(|w| w.cpu_seconds).sum()
    }

    /// The live nodes, this one among them.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        self.cluster.registry().nodes().await
    }

    /// Stops the heartbeat and removes this node's record.
    pub async fn leave(&self) {
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.abort();
            // A heartbeat in flight must not write the record back after
            // it is removed.
            let _ = task.await;
        }
        let id = self.id();
        match self.cluster.registry().deregister(&id).await {
            Ok(()) => tracing::info!(node = %id, "left the cluster"),
            Err(error) => {
                tracing::warn!(node = %id, %error, "could not leave the cluster (its record expires)");
            }
        }
    }
}
