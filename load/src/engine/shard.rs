//! A shard: one thread, one UDP socket, many students. Datagrams are routed
//! to the student whose SFU transport sent them (each mediasoup
//! WebRtcTransport has its own port); str0m timeouts live in one heap, and
//! so do the datagrams impaired students' links hold back.

use super::impair::Impairment;
use super::receiver::{Held, Receiver};
use super::{BotEvent, BotId, Kind, Profile, udp};
use crate::stats::BotCounters;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use str0m::Rtc;
use tokio::sync::{mpsc::UnboundedSender, oneshot};

/// A consumer's stream, as its `consume` response describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    pub mid: String,
    pub ssrc: u32,
    /// Where its retransmissions come (browser-like students).
    pub rtx_ssrc: Option<u32>,
    pub kind: Kind,
    pub clock_rate: u32,
}

pub use super::receiver::View as BotView;

enum Command {
    Add {
        bot: BotId,
        rtc: Box<Rtc>,
        remote: SocketAddr,
        streams: Vec<StreamSpec>,
        profile: Profile,
        impairment: Option<Impairment>,
    },
    SetCapped(bool),
    AddStreams {
        bot: BotId,
        streams: Vec<StreamSpec>,
    },
    Remove {
        bot: BotId,
    },
    Snapshot {
        reply: oneshot::Sender<ShardSnapshot>,
    },
    Stop,
}

/// Cumulative figures of a shard at one moment.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    /// Everything received since the shard started, removed bots included.
    pub totals: BotCounters,
    /// The bots present now.
    pub bots: Vec<(BotId, BotCounters)>,
    /// What each of them receives now (layer, impairment).
    pub views: Vec<(BotId, BotView)>,
    pub connected: usize,
    pub failed: usize,
    pub local_port: u16,
}

/// The handle the orchestrator keeps.
pub struct Shard {
    tx: mpsc::Sender<Command>,
    pub local: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Shard {
    pub fn start(
        index: usize,
        ip: IpAddr,
        buffer: usize,
        events: UnboundedSender<BotEvent>,
    ) -> anyhow::Result<Shard> {
        let socket = udp::bind(ip, buffer)?;
        let local = socket.local_addr()?;
        tracing::info!(shard = index, %local, rcvbuf = udp::receive_buffer(&socket), "shard socket bound");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("load-shard-{index}"))
            .spawn(move || Loop::new(socket, local, rx, events).run())?;
        Ok(Shard {
            tx,
            local,
            thread: Some(thread),
        })
    }

    pub fn add(
        &self,
        bot: BotId,
        rtc: Rtc,
        remote: SocketAddr,
        streams: Vec<StreamSpec>,
        profile: Profile,
        impairment: Option<Impairment>,
    ) {
        let _ = self.tx.send(Command::Add {
            bot,
            rtc: Box::new(rtc),
            remote,
            streams,
            profile,
            impairment,
        });
    }

    /// Puts the bandwidth cap of every impaired student on or off.
    pub fn set_capped(&self, capped: bool) {
        let _ = self.tx.send(Command::SetCapped(capped));
    }

    pub fn add_streams(&self, bot: BotId, streams: Vec<StreamSpec>) {
        let _ = self.tx.send(Command::AddStreams { bot, streams });
    }

    pub fn remove(&self, bot: BotId) {
        let _ = self.tx.send(Command::Remove { bot });
    }

    pub async fn snapshot(&self) -> ShardSnapshot {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Snapshot { reply }).is_err() {
            return ShardSnapshot::default();
        }
        rx.await.unwrap_or_default()
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Loop {
    socket: UdpSocket,
    local: SocketAddr,
    commands: mpsc::Receiver<Command>,
    events: UnboundedSender<BotEvent>,
    bots: HashMap<BotId, Receiver>,
    by_remote: HashMap<SocketAddr, BotId>,
    timers: BinaryHeap<Reverse<(Instant, BotId)>>,
    /// Datagrams impaired links hold back: (release time, order, bot).
    held: BinaryHeap<Reverse<(Instant, u64, BotId)>>,
    held_data: HashMap<u64, Held>,
    next_held: u64,
    retired: BotCounters,
    failed: usize,
    epoch: Instant,
}

impl Loop {
    fn new(
        socket: UdpSocket,
        local: SocketAddr,
        commands: mpsc::Receiver<Command>,
        events: UnboundedSender<BotEvent>,
    ) -> Self {
        Self {
            socket,
            local,
            commands,
            events,
            bots: HashMap::new(),
            by_remote: HashMap::new(),
            timers: BinaryHeap::new(),
            held: BinaryHeap::new(),
            held_data: HashMap::new(),
            next_held: 0,
            retired: BotCounters::default(),
            failed: 0,
            epoch: Instant::now(),
        }
    }

    fn run(mut self) {
        let mut buf = vec![0u8; 2048];
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Ok(command) => self.on_command(command),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            let mut received = 0;
            while received < 512 {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        received += 1;
                        self.on_datagram(from, &buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(error) => {
                        // ICMP "port unreachable" from a closed transport, say.
                        tracing::trace!(%error, "recv_from");
                        break;
                    }
                }
            }
            let now = Instant::now();
            self.release_held(now);
            self.run_timers(now);
            if received == 0 {
                let next = self.next_timer().unwrap_or(now + Duration::from_millis(20));
                let next = self.next_held().map_or(next, |h| h.min(next));
                let wait = next
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(20));
                if !wait.is_zero() {
                    udp::wait_readable(&self.socket, wait);
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Add {
                bot,
                rtc,
                remote,
                streams,
                profile,
                impairment,
            } => {
                let now = Instant::now();
                let mut receiver = Receiver::new(bot, remote, *rtc, profile, impairment, now);
                for spec in &streams {
                    receiver.add_stream(spec);
                }
                receiver.timeout(now);
                self.by_remote.insert(remote, bot);
                self.bots.insert(bot, receiver);
                self.drive(bot);
            }
            Command::AddStreams { bot, streams } => {
                if let Some(receiver) = self.bots.get_mut(&bot) {
                    for spec in &streams {
                        receiver.add_stream(spec);
                    }
                    self.drive(bot);
                }
            }
            Command::Remove { bot } => {
                if let Some(receiver) = self.bots.remove(&bot) {
                    self.by_remote.remove(&receiver.remote);
                    self.retired.add(&receiver.counters());
                    if receiver.dead {
                        self.failed += 1;
                    }
                }
            }
            Command::SetCapped(capped) => {
                for receiver in self.bots.values_mut() {
                    receiver.set_capped(capped);
                }
            }
            Command::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::Stop => {}
        }
    }

    fn on_datagram(&mut self, from: SocketAddr, data: &[u8]) {
        let Some(&bot) = self.by_remote.get(&from) else {
            return; // a transport we already left
        };
        let Some(receiver) = self.bots.get_mut(&bot) else {
            return;
        };
        let now = Instant::now();
        match &mut receiver.downlink {
            Some(link) => {
                if let Some(at) = link.pass(now, data.len()) {
                    self.hold(
                        bot,
                        Held {
                            at,
                            data: data.to_vec(),
                            to: None,
                        },
                    );
                }
            }
            None => {
                receiver.receive(now, self.local, data);
                self.drive(bot);
            }
        }
    }

    fn hold(&mut self, bot: BotId, held: Held) {
        let order = self.next_held;
        self.next_held += 1;
        self.held.push(Reverse((held.at, order, bot)));
        self.held_data.insert(order, held);
    }

    fn next_held(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Delivers and sends what impaired links held back until now.
    fn release_held(&mut self, now: Instant) {
        while let Some(&Reverse((at, order, bot))) = self.held.peek() {
            if at > now {
                break;
            }
            self.held.pop();
            let Some(held) = self.held_data.remove(&order) else {
                continue;
            };
            match held.to {
                // A bot that left sends nothing more.
                Some(to) if self.bots.contains_key(&bot) => {
                    let _ = self.socket.send_to(&held.data, to);
                }
                Some(_) => {}
                None => {
                    if let Some(receiver) = self.bots.get_mut(&bot) {
                        receiver.receive(now, self.local, &held.data);
                        self.drive(bot);
                    }
                }
            }
        }
    }

    /// Runs a receiver's output and (re)schedules its timer.
    fn drive(&mut self, bot: BotId) {
        let Some(receiver) = self.bots.get_mut(&bot) else {
            return;
        };
        let at = receiver.drive(&self.socket, self.epoch, &self.events);
        if receiver.scheduled.is_none_or(|s| at < s) {
            receiver.scheduled = Some(at);
            self.timers.push(Reverse((at, bot)));
        }
        let outbox = std::mem::take(&mut receiver.outbox);
        for held in outbox {
            self.hold(bot, held);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, bot))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(receiver) = self.bots.get_mut(&bot) else {
                continue;
            };
            if receiver.scheduled != Some(at) {
                continue; // superseded by an earlier entry
            }
            receiver.scheduled = None;
            if receiver.wanted <= now {
                receiver.timeout(now);
            }
            self.drive(bot);
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    fn snapshot(&self) -> ShardSnapshot {
        let mut totals = self.retired;
        let mut bots = Vec::with_capacity(self.bots.len());
        let mut views = Vec::with_capacity(self.bots.len());
        let mut connected = 0;
        let mut failed = self.failed;
        for (id, receiver) in &self.bots {
            let counters = receiver.counters();
            totals.add(&counters);
            bots.push((*id, counters));
            views.push((*id, receiver.view()));
            connected += usize::from(receiver.is_connected());
            failed += usize::from(receiver.dead);
        }
        ShardSnapshot {
            totals,
            bots,
            views,
            connected,
            failed,
            local_port: self.local.port(),
        }
    }
}
