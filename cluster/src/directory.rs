//! Room homes: `{prefix}:room:{room}:home` holds the id of the node where
//! the room's teachers publish, with a lease (PX) its home renews. The
//! first node to take it wins (SET NX); a node takes over a home whose
//! holder it saw die, and no other.

use crate::{Cluster, ClusterError};
use std::time::Duration;

/// Sets the home to ARGV[1] for ARGV[2] ms if it is ARGV[3] or nobody.
const TAKE_OVER: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Renews the lease (ARGV[2] ms) if ARGV[1] holds it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the home if ARGV[1] holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Who a room's home is after a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub node: String,
    /// This claim made it so (the caller is the new home).
    pub claimed: bool,
}

pub struct Directory {
    cluster: Cluster,
}

impl Directory {
    pub(crate) fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }

    fn key(&self, room: &str) -> String {
        self.cluster.key(&["room", room, "home"])
    }

    /// Makes `node` the room's home unless it has one: the home either way.
    pub async fn claim(
        &self,
        room: &str,
        node: &str,
        lease: Duration,
    ) -> Result<Home, ClusterError> {
        // Twice at most: the holder's lease may end between SET and GET.
        for _ in 0..2 {
            let set: Option<String> = self
                .cluster
                .query(
                    redis::cmd("SET")
                        .arg(self.key(room))
                        .arg(node)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease.as_millis() as u64),
                )
                .await?;
            if set.is_some() {
                return Ok(Home {
                    node: node.to_owned(),
                    claimed: true,
                });
            }
            if let Some(holder) = self.home(room).await? {
                return Ok(Home {
                    node: holder,
                    claimed: false,
                });
            }
        }
        Err(ClusterError::Unavailable(format!(
            "the home of room {room} kept changing"
        )))
    }

    /// The room's home, if it has one.
    pub async fn home(&self, room: &str) -> Result<Option<String>, ClusterError> {
        self.cluster
            .query(redis::cmd("GET").arg(self.key(room)))
            .await
    }

    /// Renews `node`'s lease on the room; false if it is not (or no longer)
    /// the home.
    pub async fn renew(
        &self,
        room: &str,
        node: &str,
        lease: Duration,
    ) -> Result<bool, ClusterError> {
        let script = redis::Script::new(RENEW);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key(room))
            .arg(node)
            .arg(lease.as_millis() as u64);
        let renewed: i64 = self.cluster.script(invocation).await?;
        Ok(renewed == 1)
    }

    /// Makes `node` the home in place of `dead` (whose heartbeat expired),
    /// or of nobody; false if a third node was faster.
    pub async fn take_over(
        &self,
        room: &str,
        node: &str,
        dead: &str,
        lease: Duration,
    ) -> Result<bool, ClusterError> {
        let script = redis::Script::new(TAKE_OVER);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.key(room))
            .arg(node)
            .arg(lease.as_millis() as u64)
            .arg(dead);
        let taken: i64 = self.cluster.script(invocation).await?;
        Ok(taken == 1)
    }

    /// Gives the room up if `node` is its home (the room closed).
    pub async fn release(&self, room: &str, node: &str) -> Result<bool, ClusterError> {
        let script = redis::Script::new(RELEASE);
        let mut invocation = script.prepare_invoke();
        invocation.key(self.key(room)).arg(node);
        let released: i64 = self.cluster.script(invocation).await?;
        Ok(released == 1)
    }
}
