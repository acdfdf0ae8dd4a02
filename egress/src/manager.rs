//! A registry of egresses for the server: start, look up, list, stop. Ended
//! egresses stay visible (with their final state) until `forget`, or until
//! the most recent [`KEEP_ENDED`] push them out.

use crate::egress::{Egress, EgressConfig, EgressSpec};
use crate::error::EgressError;
use crate::ids::EgressId;
use crate::status::EgressStatus;
use mediasoup::prelude::Router;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Ended egresses kept for `get`/`list`.
pub const KEEP_ENDED: usize = 32;

/// The server's registry of egresses, all started with one config: the running ones, and
/// the statuses of the last [`KEEP_ENDED`] ended ones. Cheap to clone.
#[derive(Clone)]
pub struct EgressManager {
    inner: Arc<Inner>,
}

struct Inner {
    config: EgressConfig,
    state: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    running: HashMap<EgressId, Egress>,
    ended: VecDeque<EgressStatus>,
}

impl EgressManager {
    /// A manager whose egresses all run with `config`.
    pub fn new(config: EgressConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(Registry::default()),
            }),
        }
    }

    /// The config every egress started here gets.
    pub fn config(&self) -> &EgressConfig {
        &self.inner.config
    }

    /// Starts an egress with the manager's config and keeps it until it ends.
    pub async fn start(&self, router: &Router, spec: EgressSpec) -> Result<Egress, EgressError> {
        let egress = Egress::start(router, spec, self.inner.config.clone()).await?;
        self.inner
            .state
            .lock()
            .running
            .insert(egress.id(), egress.clone());
        let weak = Arc::downgrade(&self.inner);
        let watched = egress.clone();
        tokio::spawn(async move {
            watched.wait().await;
            let status = watched.status();
            drop(watched);
            if let Some(inner) = weak.upgrade() {
                let mut registry = inner.state.lock();
                registry.running.remove(&status.id);
                registry.ended.push_back(status);
                while registry.ended.len() > KEEP_ENDED {
                    registry.ended.pop_front();
                }
            }
        });
        Ok(egress)
    }

    /// A running egress.
    pub fn get(&self, id: EgressId) -> Option<Egress> {
        self.inner.state.lock().running.get(&id).cloned()
    }

    /// The status of a running or recently ended egress.
    pub fn status(&self, id: EgressId) -> Option<EgressStatus> {
        let registry = self.inner.state.lock();
        match registry.running.get(&id) {
            Some(egress) => Some(egress.status()),
            None => registry.ended.iter().rev().find(|s| s.id == id).cloned(),
        }
    }

    /// Running egresses first, then the recently ended ones, newest first.
    pub fn list(&self) -> Vec<EgressStatus> {
        let registry = self.inner.state.lock();
        let mut list: Vec<_> = registry.running.values().map(Egress::status).collect();
        list.sort_by(|a, b| b.stats.uptime_secs.total_cmp(&a.stats.uptime_secs));
        list.extend(registry.ended.iter().rev().cloned());
        list
    }

    /// Stops a running egress; returns once it has stopped.
    pub async fn stop(&self, id: EgressId) -> Result<(), EgressError> {
        let egress = self.get(id).ok_or(EgressError::Ended)?;
        egress.stop().await;
        Ok(())
    }

    /// Stops every running egress (server shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<Egress> = self.inner.state.lock().running.values().cloned().collect();
        for egress in all {
            egress.stop().await;
        }
    }

    /// Drops an ended egress's record.
    pub fn forget(&self, id: EgressId) {
        self.inner.state.lock().ended.retain(|s| s.id != id);
    }
}
