//! The node registry: each node's record under `{prefix}:node:{id}`, which
//! expires `ttl` after the last heartbeat, and its id in the set
//! `{prefix}:nodes` (ids whose record expired are dropped from it on read).

use crate::{Cluster, ClusterError};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How busy a node is, as its heartbeat says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Load {
    pub peers: u64,
    pub consumers: u64,
    /// Its mediasoup workers' CPU, % of one core summed over the workers.
    pub worker_cpu_pct: f64,
    /// The peers it is sized for.
    pub capacity: u64,
}

impl Load {
    /// Peers over capacity (a node without a capacity counts as full).
    pub fn fill(&self) -> f64 {
        if self.capacity == 0 {
            return f64::INFINITY;
        }
        self.peers as f64 / self.capacity as f64
    }
}

/// A node's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub id: String,
    /// Where browsers reach its signaling (`https://b.example.org`).
    pub public_url: String,
    /// Where other nodes reach it (its internal API and pipe transports).
    pub internal_addr: String,
    pub load: Load,
    /// Draining (SIGTERM): takes no new rooms.
    pub draining: bool,
    /// Unix milliseconds of the heartbeat that wrote it.
    pub updated_at_ms: u64,
}

/// Removes from the set KEYS[1] each id ARGV[i] whose record KEYS[i + 1]
/// is (still) gone.
const FORGET_EXPIRED: &str = r"
local removed = 0
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then
    removed = removed + redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return removed
";

pub struct Registry {
    cluster: Cluster,
}

impl Registry {
    pub(crate) fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    /// Writes (or renews) `node`'s record for `ttl`: called at start and on
    /// every heartbeat (a third of the TTL is a good period).
    pub async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> Result<(), ClusterError> {
        let mut node = node.clone();
        node.updated_at_ms = now_ms();
        let record =
            serde_json::to_string(&node).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.cluster.key(&["node", &node.id]))
            .arg(record)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(self.cluster.key(&["nodes"]))
            .arg(&node.id)
            .ignore();
        self.cluster.pipeline(&pipe).await
    }

    /// Removes `id`'s record at once (a clean shutdown).
    pub async fn deregister(&self, id: &str) -> Result<(), ClusterError> {
        self.cluster
            .query::<()>(redis::cmd("DEL").arg(self.cluster.key(&["node", id])))
            .await?;
        self.cluster
            .query::<()>(redis::cmd("SREM").arg(self.cluster.key(&["nodes"])).arg(id))
            .await
    }

    /// The nodes whose record has not expired, by id.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let ids: Vec<String> = self
            .cluster
            .query(redis::cmd("SMEMBERS").arg(self.cluster.key(&["nodes"])))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| self.cluster.key(&["node", id]))
            .collect();
        let records: Vec<Option<String>> =
            self.cluster.query(redis::cmd("MGET").arg(&keys)).await?;
        let mut nodes = Vec::new();
        let mut gone = Vec::new();
        for (id, record) in ids.iter().zip(records) {
            match record.map(|r| serde_json::from_str::<NodeInfo>(&r)) {
                Some(Ok(node)) => nodes.push(node),
                Some(Err(error)) => {
                    tracing::warn!(node = %id, %error, "unreadable node record: skipped");
                }
                None => gone.push(id.clone()),
            }
        }
        if !gone.is_empty() {
            // Expired: their heartbeat stopped. Removed only if still
            // expired (a node may have beaten since the MGET).
            let script = redis::Script::new(FORGET_EXPIRED);
            let mut invocation = script.prepare_invoke();
            invocation.key(self.cluster.key(&["nodes"]));
            for id in &gone {
                invocation.key(self.cluster.key(&["node", id])).arg(id);
            }
            self.cluster.script::<i64>(invocation).await?;
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }

    /// The live node that is not draining and has the most room left (ties:
    /// lower worker CPU, then id), if any.
    pub async fn least_loaded(&self) -> Result<Option<NodeInfo>, ClusterError> {
        Ok(least_loaded_of(self.nodes().await?))
    }
}

/// The live node that is not draining and has the most room left, of `nodes`.
pub fn least_loaded_of(nodes: Vec<NodeInfo>) -> Option<NodeInfo> {
    nodes.into_iter().filter(|n| !n.draining).min_by(|a, b| {
        a.load
            .fill()
            .total_cmp(&b.load.fill())
            .then(a.load.worker_cpu_pct.total_cmp(&b.load.worker_cpu_pct))
            .then(a.id.cmp(&b.id))
    })
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, peers: u64, capacity: u64, cpu: f64, draining: bool) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            public_url: format!("https://{id}"),
            internal_addr: "10.0.0.1:9000".into(),
            load: Load {
                peers,
                consumers: peers * 2,
                worker_cpu_pct: cpu,
                capacity,
            },
            draining,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn the_least_loaded_has_the_most_room_and_is_not_draining() {
        let picked = least_loaded_of(vec![
            node("a", 500, 1000, 40.0, false),
            node("b", 100, 1000, 90.0, false),
            node("c", 0, 1000, 0.0, true),
            node("d", 100, 0, 0.0, false),
        ]);
        assert_eq!(picked.unwrap().id, "b");
        let tie = least_loaded_of(vec![
            node("a", 100, 1000, 40.0, false),
            node("b", 100, 1000, 20.0, false),
        ]);
        assert_eq!(tie.unwrap().id, "b");
        assert!(least_loaded_of(vec![node("c", 0, 10, 0.0, true)]).is_none());
    }
}
