//! The simulated people: students (signaling, then their media handed to a
//! shard) and the teacher (signaling, then the publisher thread).

pub mod params;
pub mod student;
pub mod teacher;

use crate::engine::Shard;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use str0m::config::DtlsCert;

/// What every bot of a run shares.
pub struct Ctx {
    /// `http://127.0.0.1:port`
    pub http: String,
    pub room: String,
    pub cert: DtlsCert,
    pub shards: Vec<Shard>,
    /// The simulcast layer students ask for (0 = lowest).
    pub layer: u8,
    pub client: reqwest::Client,
    pub join_timeout: Duration,
}

impl Ctx {
    /// A join token from the dev-mode endpoint.
    pub async fn token(&self, name: &str, role: &str) -> anyhow::Result<String> {
        let url = format!("{}/api/dev/token", self.http);
        let response: serde_json::Value = self
            .client
            .get(&url)
            .query(&[("room", self.room.as_str()), ("name", name), ("role", role)])
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .context("/api/dev/token (is the server in dev mode?)")?
            .json()
            .await?;
        response
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .context("/api/dev/token answered without a token")
    }

    pub fn ws_url(&self, token: &str) -> String {
        format!("{}/ws?token={token}", self.http.replacen("http", "ws", 1))
    }

    pub fn shard(&self, bot: u64) -> &Shard {
        &self.shards[(bot as usize) % self.shards.len()]
    }
}

pub type SharedCtx = Arc<Ctx>;
