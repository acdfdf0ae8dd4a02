//! A room across nodes (docs/CLUSTER.md): the room's home node, where its
//! teachers publish, pipes each producer once to every edge node that
//! carries students of the room, over a mediasoup `PipeTransport` between
//! the hosts; an edge produces it again with the same id and forwards it to
//! its own students as if it were local.
//!
//! The home also tells edges what happens in the room: two relays, one that
//! hears what staff hear and one what students hear, stand in the room like
//! peers without a connection; whoever drains them (the cluster layer) sends
//! it on, and an edge gives each local peer what its role would have heard.
//! This module knows nothing of Redis or HTTP: `crate::cascade` does.

use super::{Outgoing, ProducerEntry, ProducerInfo, Queue, Room, RoomState, broadcast, sees_info};
use crate::auth::{Claims, Role};
use crate::error::{Error, Result};
use crate::ids::{PeerId, ToMedia, ToWire};
use crate::room::Outbox;
use crate::room::peer::Peer;
use crate::workers::Seat;
use mediasoup::prelude::*;
use mediasoup::types::srtp_parameters::SrtpParameters;
use podium_protocol::signaling::{Notification, PeerInfo, Source};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a relay holds before the cluster layer drains it; a relay that falls
/// this far behind loses the oldest of what it would relay (and says so).
const RELAY_QUEUE: usize = 4096;

/// One end of a pipe between two nodes: where it listens, and its SRTP key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipeEnd {
    pub ip: IpAddr,
    pub port: u16,
    pub srtp: Option<SrtpParameters>,
}

/// How this node opens pipes to other nodes (`cluster.pipe_ip`, `cluster.pipe_srtp`).
#[derive(Debug, Clone)]
pub struct PipeOptions {
    pub ip: IpAddr,
    pub srtp: bool,
    /// Where pipes take their port from.
    pub ports: std::ops::RangeInclusive<u16>,
}

/// A producer of the home as one edge receives it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipedProducer {
    pub id: ProducerId,
    pub peer_id: PeerId,
    pub kind: MediaKind,
    pub source: Source,
    pub paused: bool,
    pub rtp_parameters: RtpParameters,
}

/// What the home answers an edge that opens its pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgeOpened {
    pub pipe: PipeEnd,
    pub producers: Vec<PipedProducer>,
    /// The home's peers, as staff see them.
    pub peers: Vec<PeerInfo>,
    pub recording: bool,
}

/// Who a relayed notification was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Audience {
    Staff,
    Students,
}

/// What a relayed notification asks of the edge's media, which the cluster
/// layer does (it may need the home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Ask the home for this producer.
    Pipe(ProducerId),
    /// The producer is gone from the home.
    Unpipe(ProducerId),
    /// Paused (true) or resumed at the home.
    Pause(ProducerId, bool),
}

/// The home's side of an edge: its pipe, and what it consumes into it.
pub(super) struct EdgeLink {
    transport: PipeTransport,
    consumers: HashMap<ProducerId, Consumer>,
}

/// The edge's side of the home: its pipe, and what it produces from it.
pub(super) struct HomeLink {
    node: String,
    slot: usize,
    transport: PipeTransport,
    producers: HashMap<ProducerId, Producer>,
}

/// The relays' queues, drained by the cluster layer: (audience, notification).
pub type Relayed = mpsc::Receiver<(Audience, Arc<Outgoing>)>;

fn pipe_transport_options(options: &PipeOptions) -> PipeTransportOptions {
    let mut pipe = PipeTransportOptions::new(ListenInfo {
        protocol: Protocol::Udp,
        ip: options.ip,
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: Some(options.ports.clone()),
        flags: None,
        send_buffer_size: None,
        recv_buffer_size: None,
    });
    pipe.enable_srtp = options.srtp;
    pipe.enable_rtx = true;
    pipe
}

fn local_end(transport: &PipeTransport, options: &PipeOptions) -> PipeEnd {
    PipeEnd {
        ip: options.ip,
        port: transport.tuple().local_port(),
        srtp: transport.srtp_parameters(),
    }
}

async fn connect(transport: &PipeTransport, remote: PipeEnd) -> Result<()> {
    transport
        .connect(PipeTransportRemoteParameters {
            ip: remote.ip,
            port: remote.port,
            srtp_parameters: remote.srtp,
        })
        .await
        .map_err(|e| Error::Media(format!("cannot connect the pipe: {e}")))
}

impl RoomState {
    /// Drops the home's consumers of a producer that closed.
    pub(super) fn forget_edge_consumers(&mut self) {
        for link in self.edges.values_mut() {
            link.consumers.retain(|_, c| !c.closed());
        }
    }
}

impl Room {
    /// Starts relaying the room's notifications (home side); the queue
    /// receives what staff hear and what students hear. Once per room.
    pub fn relay(&self) -> Relayed {
        let (tx, rx) = mpsc::channel(RELAY_QUEUE);
        let mut state = self.state.lock();
        state.relays.clear();
        for (role, audience) in [
            (Role::Admin, Audience::Staff),
            (Role::Student, Audience::Students),
        ] {
            let (outbox, mut queue, _) = Outbox::new(RELAY_QUEUE);
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(text) = queue.recv().await {
                    if tx.send((audience, text)).await.is_err() {
                        break;
                    }
                }
            });
            let claims = Claims::relay(self.id.clone(), role);
            state
                .relays
                .push(Peer::new(PeerId::new(), &claims, Seat::detached(), outbox));
        }
        rx
    }

    /// Stops relaying (the room is no longer a home).
    pub fn stop_relay(&self) {
        self.state.lock().relays.clear();
    }

    /// Home side: an edge opens its pipe to this room (a new one replaces
    /// its old one); every producer of the room is consumed into it.
    pub async fn open_edge(
        self: &Arc<Self>,
        edge: &str,
        remote: PipeEnd,
        options: &PipeOptions,
    ) -> Result<EdgeOpened> {
        let home = self.home_slot()?;
        let router = self.router(home)?;
        let transport = router
            .create_pipe_transport(pipe_transport_options(options))
            .await
            .map_err(|e| Error::Media(format!("cannot create a pipe: {e}")))?;
        connect(&transport, remote).await?;
        let pipe = local_end(&transport, options);
        let old = self.state.lock().edges.insert(
            edge.to_owned(),
            EdgeLink {
                transport,
                consumers: HashMap::new(),
            },
        );
        drop(old);
        let ids: Vec<ProducerId> = self.state.lock().producers.keys().copied().collect();
        let mut producers = Vec::with_capacity(ids.len());
        for id in ids {
            match self.pipe_to_edge(edge, id).await {
                Ok(piped) => producers.push(piped),
                Err(Error::NotFound {
                    kind: "producer", ..
                }) => {} // closed meanwhile
                Err(error) => return Err(error),
            }
        }
        let state = self.state.lock();
        tracing::info!(room = %self.id, edge, producers = producers.len(), "edge piped");
        Ok(EdgeOpened {
            pipe,
            producers,
            peers: state.peers.values().map(|p| p.info(Role::Admin)).collect(),
            recording: state.recording,
        })
    }

    /// Home side: consumes `producer_id` into the edge's pipe, once.
    pub async fn pipe_to_edge(&self, edge: &str, producer_id: ProducerId) -> Result<PipedProducer> {
        let (transport, entry, existing, home) = {
            let state = self.state.lock();
            let link = state
                .edges
                .get(edge)
                .ok_or_else(|| Error::not_found("edge", edge))?;
            let entry = state
                .producers
                .get(&producer_id)
                .cloned()
                .ok_or_else(|| Error::not_found("producer", producer_id))?;
            (
                link.transport.clone(),
                entry,
                link.consumers.get(&producer_id).cloned(),
                state.home,
            )
        };
        let consumer = match existing {
            Some(consumer) => consumer,
            None => {
                let home =
                    home.ok_or_else(|| Error::Conflict("the room has no media yet".into()))?;
                self.ensure_pipe(producer_id, entry.slot, home).await?;
                let consumer = transport
                    .consume(ConsumerOptions::new(
                        producer_id,
                        RtpCapabilities::default(),
                    ))
                    .await?;
                let mut state = self.state.lock();
                if !state.producers.contains_key(&producer_id) {
                    return Err(Error::not_found("producer", producer_id));
                }
                state.forget_edge_consumers();
                match state.edges.get_mut(edge) {
                    Some(link) if link.transport.id() == transport.id() => link
                        .consumers
                        .entry(producer_id)
                        .or_insert(consumer)
                        .clone(),
                    _ => return Err(Error::not_found("edge", edge)),
                }
            }
        };
        Ok(PipedProducer {
            id: producer_id,
            peer_id: entry.info.peer_id,
            kind: entry.info.kind,
            source: entry.info.source,
            paused: consumer.producer_paused(),
            rtp_parameters: consumer.rtp_parameters().clone(),
        })
    }

    /// Home side: closes an edge's pipe (the edge left, or died).
    pub fn close_edge(&self, edge: &str) -> bool {
        let link = self.state.lock().edges.remove(edge);
        let closed = link.is_some();
        drop(link);
        if closed {
            tracing::info!(room = %self.id, edge, "edge pipe closed");
        }
        closed
    }

    /// Home side: the nodes with a pipe from this room.
    pub fn edges(&self) -> Vec<String> {
        self.state.lock().edges.keys().cloned().collect()
    }

    fn home_slot(&self) -> Result<usize> {
        self.state
            .lock()
            .home
            .ok_or_else(|| Error::Conflict("the room has no media yet".into()))
    }

    /// Edge side: opens this room's pipe from `node` (closing any previous
    /// one); `connect_home` completes it with the home's end.
    pub async fn open_home(&self, node: &str, options: &PipeOptions) -> Result<PipeEnd> {
        self.close_home();
        let slot = self.home_slot()?;
        let router = self.router(slot)?;
        let transport = router
            .create_pipe_transport(pipe_transport_options(options))
            .await
            .map_err(|e| Error::Media(format!("cannot create a pipe: {e}")))?;
        let end = local_end(&transport, options);
        let old = self.state.lock().upstream.replace(HomeLink {
            node: node.to_owned(),
            slot,
            transport,
            producers: HashMap::new(),
        });
        drop(old);
        Ok(end)
    }

    /// Edge side: connects the pipe to the home's end, and takes the room
    /// as the home has it: its producers, its peers, its recording.
    pub async fn connect_home(&self, opened: EdgeOpened) -> Result<()> {
        let transport = self
            .state
            .lock()
            .upstream
            .as_ref()
            .map(|u| u.transport.clone())
            .ok_or_else(|| Error::Conflict("no pipe to the home".into()))?;
        connect(&transport, opened.pipe).await?;
        {
            let mut state = self.state.lock();
            for peer in opened.peers {
                remote_peer_joined(&mut state, peer);
            }
        }
        self.set_recording(opened.recording);
        for piped in opened.producers {
            self.add_piped(piped).await?;
        }
        Ok(())
    }

    /// Edge side: produces a producer of the home here, with its id, and
    /// tells the local peers.
    pub async fn add_piped(&self, piped: PipedProducer) -> Result<()> {
        let (transport, slot) = {
            let state = self.state.lock();
            let upstream = state
                .upstream
                .as_ref()
                .ok_or_else(|| Error::Conflict("no pipe to the home".into()))?;
            if upstream.producers.contains_key(&piped.id) {
                return Ok(());
            }
            (upstream.transport.clone(), upstream.slot)
        };
        let mut options =
            ProducerOptions::new_pipe_transport(piped.id, piped.kind, piped.rtp_parameters);
        options.paused = piped.paused;
        let producer = transport.produce(options).await?;
        let info = ProducerInfo {
            id: piped.id,
            peer_id: piped.peer_id,
            kind: piped.kind,
            source: piped.source,
            paused: piped.paused,
        };
        let mut state = self.state.lock();
        match state.upstream.as_mut() {
            Some(upstream) if upstream.transport.id() == transport.id() => {
                upstream.producers.insert(piped.id, producer);
            }
            _ => return Ok(()), // the pipe closed meanwhile; `producer` drops
        }
        state.producers.insert(
            piped.id,
            ProducerEntry {
                info: info.clone(),
                slot,
            },
        );
        let text = Notification::NewProducer {
            producer: info.to_wire(),
        }
        .queued();
        broadcast(&state, &text, |_| true);
        tracing::debug!(room = %self.id, producer = %piped.id, "producer piped in from the home");
        Ok(())
    }

    /// Edge side: a producer of the home closed.
    pub fn remove_piped(&self, producer_id: ProducerId) {
        let (producer, pipes) = {
            let mut state = self.state.lock();
            let Some(producer) = state
                .upstream
                .as_mut()
                .and_then(|u| u.producers.remove(&producer_id))
            else {
                return;
            };
            state.producers.remove(&producer_id);
            let pipes = state.take_pipes(producer_id);
            let text = Notification::ProducerClosed {
                producer_id: producer_id.to_wire(),
            }
            .queued();
            broadcast(&state, &text, |_| true);
            (producer, pipes)
        };
        drop(pipes);
        drop(producer);
    }

    /// Edge side: pauses or resumes a piped producer as its home did.
    pub async fn pause_piped(&self, producer_id: ProducerId, paused: bool) -> Result<()> {
        let producer = {
            let mut state = self.state.lock();
            if let Some(entry) = state.producers.get_mut(&producer_id) {
                entry.info.paused = paused;
            }
            state
                .upstream
                .as_ref()
                .and_then(|u| u.producers.get(&producer_id).cloned())
        };
        if let Some(producer) = producer {
            match paused {
                true => producer.pause().await?,
                false => producer.resume().await?,
            }
        }
        Ok(())
    }

    /// Edge side: the home is gone or moved: its producers close, its peers
    /// leave (the local peers are told), the pipe closes. The node it was.
    pub fn close_home(&self) -> Option<String> {
        let (upstream, pipes) = {
            let mut state = self.state.lock();
            let upstream = state.upstream.take()?;
            let mut pipes = Vec::new();
            for producer_id in upstream.producers.keys() {
                state.producers.remove(producer_id);
                pipes.extend(state.take_pipes(*producer_id));
                let text = Notification::ProducerClosed {
                    producer_id: producer_id.to_wire(),
                }
                .queued();
                broadcast(&state, &text, |_| true);
            }
            let remote: Vec<PeerInfo> = state.remote_peers.drain().map(|(_, p)| p).collect();
            for peer in remote {
                let text = Notification::PeerLeft { peer_id: peer.id }.queued();
                broadcast(&state, &text, |p| sees_info(p.info.role, &peer));
            }
            (upstream, pipes)
        };
        drop(pipes);
        let node = upstream.node.clone();
        drop(upstream);
        tracing::info!(room = %self.id, home = %node, "pipe from the home closed");
        Some(node)
    }

    /// Edge side: the node this room's pipe comes from, if any.
    pub fn home_node(&self) -> Option<String> {
        self.state.lock().upstream.as_ref().map(|u| u.node.clone())
    }

    /// Edge side: hands the local peers of `audience` a notification the
    /// home relayed, keeping the room's picture of the home's peers; what it
    /// asks of the media is returned for the cluster layer to do. Producer
    /// notifications are not forwarded: the edge tells its peers itself once
    /// its media follows.
    pub fn apply_relayed(
        &self,
        audience: Audience,
        notification: Notification,
    ) -> Option<Upstream> {
        let mut state = self.state.lock();
        let media = |id: podium_protocol::ProducerId| id.to_media();
        let upstream = match &notification {
            Notification::NewProducer { producer } => Some(Upstream::Pipe(media(producer.id))),
            Notification::ProducerClosed { producer_id } => {
                Some(Upstream::Unpipe(media(*producer_id)))
            }
            Notification::ProducerPaused { producer_id } => {
                Some(Upstream::Pause(media(*producer_id), true))
            }
            Notification::ProducerResumed { producer_id } => {
                Some(Upstream::Pause(media(*producer_id), false))
            }
            _ => None,
        };
        if upstream.is_some() {
            // Staff and students both hear of producers: act once.
            return upstream.filter(|_| audience == Audience::Staff);
        }
        if audience == Audience::Staff {
            match &notification {
                Notification::PeerJoined { peer } => {
                    // Forwarded below as relayed, to each audience its own way.
                    state.remote_peers.insert(peer.id, peer.clone());
                }
                Notification::PeerLeft { peer_id } => {
                    state.remote_peers.remove(peer_id);
                }
                Notification::SpeakPermission { peer } => {
                    if let Some(known) = state.remote_peers.get_mut(&peer.id) {
                        *known = peer.clone();
                    }
                }
                Notification::HandRaised { peer_id, raised } => {
                    if let Some(known) = state.remote_peers.get_mut(peer_id) {
                        known.hand_raised = *raised;
                    }
                }
                Notification::Recording { active } => state.recording = *active,
                _ => {}
            }
        }
        let text = notification.queued();
        let staff = audience == Audience::Staff;
        broadcast(&state, &text, |p| p.info.role.is_staff() == staff);
        None
    }
}

/// Adds (or updates) one of the home's peers in an edge's picture; a new
/// one is announced to the local peers who see it.
fn remote_peer_joined(state: &mut RoomState, peer: PeerInfo) {
    if let Some(known) = state.remote_peers.get_mut(&peer.id) {
        *known = peer;
        return;
    }
    for (staff, viewer) in [(true, Role::Admin), (false, Role::Student)] {
        if !sees_info(viewer, &peer) {
            continue;
        }
        let shown = PeerInfo {
            user: peer.user.clone().filter(|_| staff),
            ..peer.clone()
        };
        let text = Notification::PeerJoined { peer: shown }.queued();
        broadcast(state, &text, |p| {
            p.info.role.is_staff() == staff && !p.is_relay()
        });
    }
    state.remote_peers.insert(peer.id, peer);
}

impl Claims {
    /// What a relay stands in the room as.
    fn relay(room: crate::ids::RoomId, role: Role) -> Claims {
        Claims {
            room,
            user: format!("relay-{role:?}").to_lowercase(),
            name: "relay".into(),
            role,
            exp: u64::MAX,
        }
    }
}
