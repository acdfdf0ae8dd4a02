//! Podium nodes in a cluster on Redis (issue 10): the parts that hold the
//! cluster together, with no media in them (media goes node to node over
//! mediasoup PipeTransports, never through Redis).
//!
//! - [`Registry`]: each node's record (id, public signaling URL, internal
//!   address, load) under a key that expires unless the node's heartbeat
//!   renews it; the live nodes, and the least loaded one.
//! - [`Directory`]: a room's home node (where its teachers publish), taken
//!   with a lease the home renews; the first to take it wins.
//! - [`Bus`]: room events and node-to-node messages over Redis pub/sub,
//!   each signed with the cluster secret (HMAC-SHA256) and refused when the
//!   signature is wrong or the message is stale.
//!
//! One connection to Redis ([`Cluster::connect`]): a `redis`
//! `ConnectionManager`, which reconnects by itself after Redis restarts;
//! every request has a deadline, so a request made while Redis is away
//! fails with [`ClusterError::Unavailable`] instead of hanging.
//!
//! Keys and channels (prefix `podium` by default), as docs/CLUSTER.md lists:
//! `{prefix}:node:{id}`, `{prefix}:nodes`, `{prefix}:room:{room}:home`,
//! channels `{prefix}:bus:room:{room}` and `{prefix}:bus:node:{id}`.

mod bus;
mod directory;
mod error;
mod registry;
mod request;

pub use bus::{Bus, BusEvent, Envelope, Subscription};
pub use directory::{Directory, Home};
pub use error::ClusterError;
pub use registry::{Load, NodeInfo, Registry, least_loaded_of, now_ms};
pub use request::{
    NODE_HEADER, ReplayGuard, RequestParts, SIGNATURE_HEADER, TIME_HEADER, sign_request,
    verify_request,
};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// The longest wait between two attempts to reach Redis again.
const RECONNECT_MAX_DELAY_MS: u64 = 500;

/// How a node reaches the cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    /// `redis://127.0.0.1:6379/0`
    pub redis_url: String,
    /// Keys and channels start with this (several clusters on one Redis).
    pub prefix: String,
    /// Signs and checks node-to-node messages. Never logged.
    pub secret: String,
    /// Each Redis request's deadline.
    pub request_timeout: Duration,
}

/// The secret and a password in the URL never show.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("redis_url", &redact_url(&self.redis_url))
            .field("prefix", &self.prefix)
            .field("secret", &"<redacted>")
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// `redis://user:password@host` without the password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}<credentials>{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl ClusterConfig {
    pub fn new(redis_url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            prefix: "podium".into(),
            secret: secret.into(),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// A node's handle on the cluster: one reconnecting connection, shared.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) redis: ConnectionManager,
    pub(crate) client: redis::Client,
    pub(crate) config: ClusterConfig,
}

impl Cluster {
    /// Connects to Redis (within the request timeout: an absent Redis is an
    /// error at start, not a hang).
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        if config.secret.len() < 16 {
            return Err(ClusterError::Config(
                "cluster.secret must be at least 16 characters".into(),
            ));
        }
        let client = redis::Client::open(config.redis_url.as_str())
            .map_err(|e| ClusterError::Config(format!("cluster.redis_url: {e}")))?;
        // Reconnect attempts half a second apart at most: the defaults back
        // off to a minute, and a node would stay unregistered that long
        // after Redis came back.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(config.request_timeout)
            .set_response_timeout(config.request_timeout)
            .set_factor(2)
            .set_max_delay(RECONNECT_MAX_DELAY_MS)
            .set_number_of_retries(1);
        let redis = tokio::time::timeout(
            config.request_timeout,
            ConnectionManager::new_with_config(client.clone(), manager),
        )
        .await
        .map_err(|_| ClusterError::Unavailable("no answer from Redis".into()))?
        .map_err(ClusterError::from)?;
        Ok(Cluster {
            redis,
            client,
            config,
        })
    }

    pub fn registry(&self) -> Registry {
        Registry::new(self.clone())
    }

    pub fn directory(&self) -> Directory {
        Directory::new(self.clone())
    }

    pub fn bus(&self) -> Bus {
        Bus::new(self.clone())
    }

    pub(crate) fn key(&self, parts: &[&str]) -> String {
        let mut key = self.config.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// Runs one request with the deadline.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, ClusterError> {
        let mut redis = self.redis.clone();
        tokio::time::timeout(self.config.request_timeout, command.query_async(&mut redis))
            .await
            .map_err(|_| ClusterError::Unavailable("Redis did not answer in time".into()))?
            .map_err(ClusterError::from)
    }

    /// Runs a pipeline with the deadline.
    pub(crate) async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, ClusterError> {
        let mut redis = self.redis.clone();
        tokio::time::timeout(self.config.request_timeout, pipe.query_async(&mut redis))
            .await
            .map_err(|_| ClusterError::Unavailable("Redis did not answer in time".into()))?
            .map_err(ClusterError::from)
    }

    /// Runs a Lua script with the deadline.
    pub(crate) async fn script<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, ClusterError> {
        let mut redis = self.redis.clone();
        tokio::time::timeout(
            self.config.request_timeout,
            invocation.invoke_async(&mut redis),
        )
        .await
        .map_err(|_| ClusterError::Unavailable("Redis did not answer in time".into()))?
        .map_err(ClusterError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_the_secret_nor_a_password() {
        let config = ClusterConfig::new(
            "redis://:hunter2-password@10.0.0.5:6379/0",
            "s3cret-s3cret-s3cret",
        );
        let text = format!("{config:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("10.0.0.5:6379"), "{text}");
        assert_eq!(
            redact_url("redis://10.0.0.5:6379/0"),
            "redis://10.0.0.5:6379/0"
        );
    }
}
