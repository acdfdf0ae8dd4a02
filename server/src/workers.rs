//! The pool of mediasoup workers: one per core, each a thread of this process.
//! Each worker has a WebRTC server: one UDP and one TCP port that all its
//! WebRTC transports share (`rtc.webrtc_server_port`), so a firewall opens a
//! few ports, not a range. A worker that dies is logged and replaced, WebRTC
//! server included; the rooms hear of it through the channel returned by
//! [`WorkerPool::start`].

use crate::config::{Config, WorkerLogLevel};
use mediasoup::prelude::*;
use mediasoup::worker::{WorkerLogLevel as MsLogLevel, WorkerLogTag};
use parking_lot::Mutex;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// A worker died; its slot already holds (or is getting) a replacement.
#[derive(Debug, Clone, Copy)]
pub struct WorkerDied {
    pub slot: usize,
}

pub struct WorkerPool {
    manager: WorkerManager,
    slots: Vec<Slot>,
    log_level: WorkerLogLevel,
    listen: ServerListen,
    died_tx: mpsc::UnboundedSender<WorkerDied>,
    placing: Mutex<()>,
}

/// Where the WebRTC servers listen: `rtc.*` as the pool needs it.
struct ServerListen {
    /// `rtc.webrtc_server`: false, every transport binds its own ports.
    enabled: bool,
    ip: IpAddr,
    announced: Option<IpAddr>,
    /// Worker i's port; `None`: a free one from `range`.
    ports: Vec<Option<u16>>,
    range: std::ops::RangeInclusive<u16>,
    send_buffer: Option<u32>,
    recv_buffer: Option<u32>,
}

impl ServerListen {
    fn new(config: &Config, count: usize) -> Self {
        let rtc = &config.rtc;
        Self {
            enabled: rtc.webrtc_server,
            ip: config.listen_ip(),
            announced: config.announced_ip(),
            ports: (0..count).map(|i| config.webrtc_server_port(i)).collect(),
            range: rtc.port_min..=rtc.port_max,
            send_buffer: (rtc.udp_send_buffer > 0).then_some(rtc.udp_send_buffer),
            recv_buffer: (rtc.udp_recv_buffer > 0).then_some(rtc.udp_recv_buffer),
        }
    }

    /// UDP first: browsers prefer it; TCP is for networks that drop UDP.
    fn infos(&self, slot: usize) -> WebRtcServerListenInfos {
        let port = self.ports[slot];
        let info = |protocol| ListenInfo {
            protocol,
            ip: self.ip,
            announced_address: self.announced.map(|ip| ip.to_string()),
            expose_internal_ip: false,
            port,
            port_range: port.is_none().then(|| self.range.clone()),
            flags: None,
            send_buffer_size: self.send_buffer,
            recv_buffer_size: self.recv_buffer,
        };
        WebRtcServerListenInfos::new(info(Protocol::Udp)).insert(info(Protocol::Tcp))
    }
}

struct Slot {
    worker: Mutex<Option<Worker>>,
    /// The worker's WebRTC server; replaced with the worker.
    server: Mutex<Option<WebRtcServer>>,
    /// Kernel thread id of the worker thread, for CPU figures from /proc.
    tid: Arc<AtomicI32>,
    /// Peers whose media this worker carries: what placement balances.
    peers: AtomicUsize,
    restarts: AtomicUsize,
    /// Bumped when the worker is replaced: peers of the dead worker leaving
    /// later must not uncount peers of its replacement.
    generation: AtomicUsize,
    handlers: Mutex<Vec<event_listener_primitives::HandlerId>>,
}

/// A peer counted on a worker; uncounted on drop unless [`Reservation::keep`] was called.
pub struct Reservation {
    pool: Arc<WorkerPool>,
    pub slot: usize,
    seat: Seat,
    kept: bool,
}

/// Where a peer is counted: a worker slot, in one life of its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub slot: usize,
    generation: usize,
}

impl Seat {
    /// A seat on no worker: what stands in a room without media (a relay).
    pub fn detached() -> Seat {
        Seat {
            slot: usize::MAX,
            generation: usize::MAX,
        }
    }
}

impl Reservation {
    /// The peer joined: it stays counted until `remove_peer`.
    pub fn keep(mut self) -> Seat {
        self.kept = true;
        self.seat
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            self.pool.remove_peer(self.seat);
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkerStats {
    pub slot: usize,
    pub alive: bool,
    pub peers: usize,
    pub restarts: usize,
    /// CPU time of the worker thread, in seconds.
    pub cpu_seconds: f64,
}

impl WorkerPool {
    pub async fn start(
        config: &Config,
    ) -> std::io::Result<(Arc<Self>, mpsc::UnboundedReceiver<WorkerDied>)> {
        let (died_tx, died_rx) = mpsc::unbounded_channel();
        let count = config.worker_count();
        let pool = Arc::new(Self {
            manager: WorkerManager::new(),
            slots: (0..count)
                .map(|_| Slot {
                    worker: Mutex::new(None),
                    server: Mutex::new(None),
                    tid: Arc::new(AtomicI32::new(0)),
                    peers: AtomicUsize::new(0),
                    restarts: AtomicUsize::new(0),
                    generation: AtomicUsize::new(0),
                    handlers: Mutex::new(Vec::new()),
                })
                .collect(),
            log_level: config.rtc.worker_log_level,
            listen: ServerListen::new(config, count),
            died_tx,
            placing: Mutex::new(()),
        });
        for slot in 0..count {
            pool.spawn_into(slot).await?;
        }
        tracing::info!(workers = count, "mediasoup workers started");
        Ok((pool, died_rx))
    }

    async fn spawn_into(self: &Arc<Self>, slot: usize) -> std::io::Result<()> {
        let mut settings = WorkerSettings::default();
        settings.log_level = match self.log_level {
            WorkerLogLevel::Debug => MsLogLevel::Debug,
            WorkerLogLevel::Warn => MsLogLevel::Warn,
            WorkerLogLevel::Error => MsLogLevel::Error,
            WorkerLogLevel::None => MsLogLevel::None,
        };
        settings.log_tags = vec![WorkerLogTag::Info, WorkerLogTag::Ice, WorkerLogTag::Dtls];
        let tid = Arc::clone(&self.slots[slot].tid);
        settings.thread_initializer = Some(Arc::new(move || {
            // SAFETY: gettid has no preconditions.
            let id = unsafe { libc_gettid() };
            tid.store(id, Ordering::Relaxed);
        }));
        let worker = self.manager.create_worker(settings).await?;
        let server = if self.listen.enabled {
            Some(self.open_webrtc_server(&worker, slot).await?)
        } else {
            None
        };
        let weak = Arc::downgrade(self);
        let handler = worker.on_dead(move |result| {
            tracing::error!(slot, ?result, "mediasoup worker died; replacing it");
            if let Some(pool) = weak.upgrade() {
                pool.replace(slot);
            }
        });
        let ports = match &server {
            Some(server) => webrtc_server_ports(server).await,
            None => "one pair per transport".to_owned(),
        };
        tracing::info!(slot, worker_id = %worker.id(), ip = %self.listen.ip, ports, "worker ready");
        *self.slots[slot].server.lock() = server;
        *self.slots[slot].worker.lock() = Some(worker);
        let mut handlers = self.slots[slot].handlers.lock();
        handlers.clear();
        handlers.push(handler);
        Ok(())
    }

    /// The WebRTC server of a new worker. A replacement may find its fixed
    /// port still held for a moment by the worker it replaces: it retries.
    async fn open_webrtc_server(
        &self,
        worker: &Worker,
        slot: usize,
    ) -> std::io::Result<WebRtcServer> {
        let mut attempts = 0;
        loop {
            let options = WebRtcServerOptions::new(self.listen.infos(slot));
            match worker.create_webrtc_server(options).await {
                Ok(server) => return Ok(server),
                Err(error) if attempts < 20 && self.listen.ports[slot].is_some() => {
                    attempts += 1;
                    tracing::debug!(slot, %error, "WebRTC server port busy; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(error) => {
                    let port = self.listen.ports[slot].map_or_else(
                        || format!("from {:?}", self.listen.range),
                        |p| p.to_string(),
                    );
                    return Err(std::io::Error::other(format!(
                        "worker {slot}: cannot open its WebRTC server on {} port {port}: {error}",
                        self.listen.ip
                    )));
                }
            }
        }
    }

    /// Takes the worker of `slot` out, starts a new one and tells the rooms.
    fn replace(self: &Arc<Self>, slot: usize) {
        self.slots[slot].worker.lock().take();
        self.slots[slot].server.lock().take();
        self.slots[slot].restarts.fetch_add(1, Ordering::Relaxed);
        {
            let _placing = self.placing.lock();
            self.slots[slot].generation.fetch_add(1, Ordering::Relaxed);
            self.slots[slot].peers.store(0, Ordering::Relaxed);
        }
        let _ = self.died_tx.send(WorkerDied { slot });
        let pool = Arc::clone(self);
        std::thread::spawn(move || {
            // Worker creation is runtime-agnostic; a plain thread keeps this
            // off whichever executor called on_dead.
            let result = futures_lite_block_on(pool.spawn_into(slot));
            match result {
                Ok(()) => tracing::info!(slot, "replacement worker started"),
                Err(error) => tracing::error!(slot, %error, "cannot start a replacement worker"),
            }
        });
    }

    /// Test hook: acts as if the worker of `slot` had died.
    #[doc(hidden)]
    pub fn simulate_death(self: &Arc<Self>, slot: usize) {
        tracing::warn!(slot, "simulating the death of a worker");
        self.replace(slot);
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn worker(&self, slot: usize) -> Option<Worker> {
        self.slots[slot].worker.lock().clone()
    }

    /// The WebRTC server of the worker in `slot` (`None` while it restarts,
    /// or with `rtc.webrtc_server = false`).
    pub fn webrtc_server(&self, slot: usize) -> Option<WebRtcServer> {
        self.slots[slot].server.lock().clone()
    }

    /// Counts a new peer on `fixed`, or on the live slot carrying the fewest
    /// peers (preferring `preferred` on ties: the room's routers, so that it
    /// pipes less). Choice and count are one step, so a join storm spreads.
    pub fn reserve(
        self: &Arc<Self>,
        fixed: Option<usize>,
        preferred: &[usize],
    ) -> Option<Reservation> {
        let _placing = self.placing.lock();
        let slot = fixed.or_else(|| {
            (0..self.slots.len())
                .filter(|&s| self.slots[s].worker.lock().is_some())
                .min_by_key(|&s| {
                    (
                        self.slots[s].peers.load(Ordering::Relaxed),
                        !preferred.contains(&s),
                        s,
                    )
                })
        })?;
        self.slots[slot].peers.fetch_add(1, Ordering::Relaxed);
        let generation = self.slots[slot].generation.load(Ordering::Relaxed);
        Some(Reservation {
            pool: Arc::clone(self),
            slot,
            seat: Seat { slot, generation },
            kept: false,
        })
    }

    /// Uncounts a peer; a no-op for a peer of a worker that has since been
    /// replaced (the replacement started from zero).
    pub fn remove_peer(&self, seat: Seat) {
        let _placing = self.placing.lock();
        let Some(slot) = self.slots.get(seat.slot) else {
            return; // a detached seat
        };
        if slot.generation.load(Ordering::Relaxed) != seat.generation {
            return;
        }
        let _ = slot
            .peers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn stats(&self) -> Vec<WorkerStats> {
        self.slots
            .iter()
            .enumerate()
            .map(|(slot, s)| WorkerStats {
                slot,
                alive: s.worker.lock().is_some(),
                peers: s.peers.load(Ordering::Relaxed),
                restarts: s.restarts.load(Ordering::Relaxed),
                cpu_seconds: thread_cpu_seconds(s.tid.load(Ordering::Relaxed)).unwrap_or(0.0),
            })
            .collect()
    }

    pub async fn close(&self) {
        for slot in &self.slots {
            slot.handlers.lock().clear();
            slot.server.lock().take();
            slot.worker.lock().take();
        }
    }
}

/// "udp 44444, tcp 44444": what a WebRTC server listens on, for the log.
async fn webrtc_server_ports(server: &WebRtcServer) -> String {
    match server.dump().await {
        Ok(dump) => {
            let udp = dump.udp_sockets.iter().map(|s| format!("udp {}", s.port));
            let tcp = dump.tcp_servers.iter().map(|s| format!("tcp {}", s.port));
            udp.chain(tcp).collect::<Vec<_>>().join(", ")
        }
        Err(error) => format!("unknown ({error})"),
    }
}

unsafe extern "C" {
    #[link_name = "gettid"]
    fn libc_gettid() -> i32;
}

/// utime + stime of a thread of this process, from `/proc/self/task/<tid>/stat`.
pub fn thread_cpu_seconds(tid: i32) -> Option<f64> {
    if tid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    cpu_seconds_from_stat(&stat)
}

/// Fields 14 and 15 (utime, stime) of a /proc stat line, in seconds.
pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces: count from its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    100.0 // USER_HZ on every Linux Podium targets
}

fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "1234 (mediasoup worker) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(4.0));
        assert_eq!(cpu_seconds_from_stat("garbage"), None);
    }
}
