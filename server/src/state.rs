//! What every request handler shares: the config, the worker pool, the rooms,
//! the restreams and recordings, the keys, and the per-address connection counts.

use crate::auth::TokenKey;
use crate::config::{Config, Secret};
use crate::error::{Error, Result};
use crate::recording::Recordings;
use crate::restream::Restreams;
use crate::room::Rooms;
use crate::workers::WorkerPool;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Arc<WorkerPool>,
    pub rooms: Arc<Rooms>,
    pub restreams: Restreams,
    pub recordings: Arc<Recordings>,
    pub tokens: TokenKey,
    /// Empty outside dev mode when none is configured: the admin API is off.
    pub admin_key: Secret,
    /// Dev mode: what `/api/dev/token` wants besides a local request.
    pub dev_secret: Secret,
    pub connections: AtomicUsize,
    /// Open connections by client address (`limits.connections_per_ip`).
    pub(crate) per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Test hook: the next request after a join panics in its handler (to
    /// prove a panicking session leaves nothing behind).
    #[doc(hidden)]
    pub panic_next_request: std::sync::atomic::AtomicBool,
    /// `http.public_url`, else this server's own address: the base of issued links.
    pub(crate) public_base_url: std::sync::OnceLock<String>,
    /// This node's place in a cluster (`[cluster]`), once it joined.
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::Membership>>,
    /// Its part in classes that span nodes, with it.
    pub(crate) cascade: std::sync::OnceLock<Arc<crate::cascade::Cascade>>,
}

impl AppState {
    /// In a cluster: stops taking new rooms (the others take them) and
    /// answers `/health` with 503 so that a load balancer sends no one new;
    /// classes here go on. False for a node alone (nothing to drain to).
    pub async fn drain(&self) -> bool {
        match self.cluster.get() {
            Some(membership) => {
                membership.drain().await;
                true
            }
            None => false,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.cluster.get().is_some_and(|m| m.is_draining())
    }

    /// Peers in this node's rooms (those of edges included: a home serves them).
    pub fn peer_count(&self) -> usize {
        self.rooms.all().iter().map(|r| r.peer_count()).sum()
    }
}

/// One open connection counted against its client address; uncounted on drop.
pub struct ConnectionSlot {
    ip: Option<IpAddr>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// What one client holds: an IPv4 address, or an IPv6 /64 (one subscriber's
/// network; a host picks any address in it). IPv4-mapped addresses count as IPv4.
fn address_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut map = self.per_ip.lock();
        if let Some(count) = map.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&ip);
            }
        }
    }
}

impl AppState {
    /// Counts a connection from `ip`, or refuses it over `limits.connections_per_ip`.
    pub fn connection_slot(&self, ip: Option<IpAddr>) -> Result<ConnectionSlot> {
        let ip = ip.map(address_block);
        if let Some(ip) = ip {
            let max = self.config.limits.connections_per_ip;
            let mut map = self.per_ip.lock();
            let count = map.entry(ip).or_default();
            if *count >= max {
                return Err(Error::LimitReached(format!(
                    "at most {max} connections from one address"
                )));
            }
            *count += 1;
        }
        Ok(ConnectionSlot {
            ip,
            per_ip: Arc::clone(&self.per_ip),
        })
    }

    pub fn public_base_url(&self) -> &str {
        self.public_base_url.get().map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::address_block;
    use std::net::IpAddr;

    #[test]
    fn ipv6_clients_count_by_slash_64() {
        let block = |s: &str| address_block(s.parse::<IpAddr>().unwrap());
        assert_eq!(block("2001:db8:1:2::1"), block("2001:db8:1:2:ffff::9"));
        assert_ne!(block("2001:db8:1:2::1"), block("2001:db8:1:3::1"));
        assert_eq!(block("::ffff:203.0.113.9"), block("203.0.113.9"));
        assert_eq!(block("203.0.113.9").to_string(), "203.0.113.9");
    }
}
