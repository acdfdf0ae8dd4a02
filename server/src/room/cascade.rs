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

use super::{Outgoing, ProducerInfo, Queue, Room, RoomState, broadcast, sees_info};
use crate::auth::{Claims, Role};
use crate::error::{Error, Result};
use crate::ids::{PeerId, ToMedia};
use crate::room::Outbox;
use crate::room::peer::Peer;
use crate::workers::Seat;
use mediasoup::prelude::*;
use mediasoup::types::srtp_parameters::SrtpParameters;
use podium_protocol::signaling::{CloseReason, Notification, PeerInfo, Source};
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
    /// Socket buffers of a pipe (bytes; 0: the system's), as for WebRTC
    /// transports (`rtc.udp_send_buffer`, `rtc.udp_recv_buffer`): a pipe
    /// carries every layer of every producer in bursts.
    pub send_buffer: u32,
    pub recv_buffer: u32,
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
    /// The edge's producers (students allowed to speak), produced here.
    incoming: HashMap<ProducerId, Producer>,
}

/// The edge's side of the home: its pipe, and what it produces from it.
pub(super) struct HomeLink {
    node: String,
    slot: usize,
    transport: PipeTransport,
    producers: HashMap<ProducerId, Producer>,
    /// This node's producers, consumed into the pipe for the home.
    consumers: HashMap<ProducerId, Consumer>,
}

/// What a home's relays pass to the cluster layer.
pub enum Relayed {
    /// A notification the room's peers of `Audience` heard.
    Heard(Audience, Arc<Outgoing>),
    /// A peer of an edge was removed (kicked, replaced): its edge closes it.
    Removed {
        peer_id: PeerId,
        reason: CloseReason,
    },
}

/// A peer connected to an edge, as the edge announces it to the home.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EdgePeer {
    /// As staff see it.
    pub peer: PeerInfo,
    /// When its token expires (a kick bans its user until then).
    pub token_exp: u64,
}

/// What an edge sends the home to open its pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenEdge {
    pub pipe: PipeEnd,
    /// The edge's own peers.
    pub peers: Vec<EdgePeer>,
}

/// What happens on an edge that its home must hear of (drained by the
/// cluster layer while the edge is piped).
#[derive(Debug, Clone)]
pub enum EdgeEvent {
    Joined(EdgePeer),
    Left(PeerId),
    /// A local producer (a student allowed to speak): pipe it up.
    Produced(ProducerId),
    ProducerClosed(ProducerId),
}

/// A room-level request of an edge's peer, which the home carries out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    tag = "request",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EdgeRequest {
    Chat {
        text: String,
    },
    SetHand {
        target: Option<PeerId>,
        raised: bool,
    },
    AllowSpeak {
        target: PeerId,
        allowed: bool,
    },
    Kick {
        target: PeerId,
    },
}

/// Queues `event` for the home, if this room is an edge.
pub(super) fn emit(state: &RoomState, event: EdgeEvent) {
    if let Some(events) = &state.edge_events {
        let _ = events.send(event);
    }
}

impl Peer {
    /// How an edge announces it.
    pub(super) fn edge_peer(&self) -> EdgePeer {
        EdgePeer {
            peer: self.info(Role::Admin),
            token_exp: self.token_exp,
        }
    }
}

fn pipe_transport_options(options: &PipeOptions) -> PipeTransportOptions {
    let mut pipe = PipeTransportOptions::new(ListenInfo {
        protocol: Protocol::Udp,
        ip: options.ip,
        announced_address: None,
        expose_internal_ip: false,
        port: None,
        port_range: Some(options.ports.clone()),
        flags: None,
        send_buffer_size: (options.send_buffer > 0).then_some(options.send_buffer),
        recv_buffer_size: (options.recv_buffer > 0).then_some(options.recv_buffer),
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

/// Produces a producer of the pipe's other end here, with its id.
async fn produce_piped(
    transport: &PipeTransport,
    piped: PipedProducer,
) -> Result<(Producer, ProducerInfo)> {
    let info = ProducerInfo {
        id: piped.id,
        peer_id: piped.peer_id,
        kind: piped.kind,
        source: piped.source,
        paused: piped.paused,
    };
    let mut options =
        ProducerOptions::new_pipe_transport(piped.id, piped.kind, piped.rtp_parameters);
    options.paused = piped.paused;
    Ok((transport.produce(options).await?, info))
}

/// Consumes a producer of this node into the pipe, for its other end.
async fn consume_into(transport: &PipeTransport, producer_id: ProducerId) -> Result<Consumer> {
    let options = ConsumerOptions::new(producer_id, RtpCapabilities::default());
    Ok(transport.consume(options).await?)
}

/// What the other end needs to produce `info` from `consumer`.
fn piped(info: &ProducerInfo, consumer: &Consumer) -> PipedProducer {
    PipedProducer {
        id: info.id,
        peer_id: info.peer_id,
        kind: info.kind,
        source: info.source,
        paused: consumer.producer_paused(),
        rtp_parameters: consumer.rtp_parameters().clone(),
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
    /// Starts relaying the room's notifications (home side): the queue
    /// receives what staff hear and what students hear, and the removals
    /// of edges' peers. Once per room.
    pub fn relay(&self) -> mpsc::Receiver<Relayed> {
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
                    if tx.send(Relayed::Heard(audience, text)).await.is_err() {
                        break;
                    }
                }
            });
            let claims = Claims::relay(self.id.clone(), role);
            state
                .relays
                .push(Peer::new(PeerId::new(), &claims, Seat::detached(), outbox));
        }
        state.relay_tx = Some(tx);
        rx
    }

    /// Home side: tells the edges an edge's peer was removed.
    pub(super) fn relay_removal(&self, peer_id: PeerId, reason: CloseReason) {
        let tx = self.state.lock().relay_tx.clone();
        if let Some(tx) = tx
            && tx.try_send(Relayed::Removed { peer_id, reason }).is_err()
        {
            tracing::warn!(room = %self.id, peer = %peer_id, "relay queue full: an edge's peer removal is lost");
        }
    }

    /// Stops relaying (the room is no longer a home).
    pub fn stop_relay(&self) {
        let mut state = self.state.lock();
        state.relays.clear();
        state.relay_tx = None;
    }

    /// Home side: an edge opens its pipe to this room (a new one replaces
    /// its old one) and announces its peers; every producer of the room is
    /// consumed into the pipe.
    pub async fn open_edge(
        self: &Arc<Self>,
        edge: &str,
        open: OpenEdge,
        options: &PipeOptions,
    ) -> Result<EdgeOpened> {
        if self.state.lock().relay_tx.is_none() {
            return Err(Error::Conflict("this node is not the room's home".into()));
        }
        let home = self.home_slot()?;
        let router = self.router(home)?;
        let transport = router
            .create_pipe_transport(pipe_transport_options(options))
            .await
            .map_err(|e| Error::Media(format!("cannot create a pipe: {e}")))?;
        connect(&transport, open.pipe).await?;
        let pipe = local_end(&transport, options);
        self.close_edge(edge);
        self.state.lock().edges.insert(
            edge.to_owned(),
            EdgeLink {
                transport,
                consumers: HashMap::new(),
                incoming: HashMap::new(),
            },
        );
        for peer in open.peers {
            // Already in the class (a pipe opened again): nobody is turned
            // out, even past the room's limit; new joins are held to it.
            let id = peer.peer.id;
            if let Err(error) = self.stand_in(edge, peer, false) {
                tracing::warn!(room = %self.id, edge, peer = %id, %error, "an edge's peer refused");
            }
        }
        let opened = self.edge_view(edge, pipe).await?;
        tracing::info!(room = %self.id, edge, producers = opened.producers.len(), "edge piped");
        Ok(opened)
    }

    /// Home side: the room as `edge` must have it, its pipe kept (its
    /// producers consumed into it, once).
    pub async fn edge_state(&self, edge: &str) -> Result<EdgeOpened> {
        let pipe = {
            let state = self.state.lock();
            let link = state
                .edges
                .get(edge)
                .ok_or_else(|| Error::not_found("edge", edge))?;
            let tuple = link.transport.tuple();
            PipeEnd {
                ip: tuple.local_address().parse().map_err(|_| {
                    Error::Internal("a pipe listens on an address that is not an IP".into())
                })?,
                port: tuple.local_port(),
                srtp: link.transport.srtp_parameters(),
            }
        };
        self.edge_view(edge, pipe).await
    }

    /// Home side: the room as `edge` must have it through its pipe (`pipe`,
    /// this end): every producer but the edge's own consumed into the pipe
    /// (once), the peers of the other nodes, the recording flag.
    async fn edge_view(&self, edge: &str, pipe: PipeEnd) -> Result<EdgeOpened> {
        let ids: Vec<ProducerId> = {
            let state = self.state.lock();
            let link = state
                .edges
                .get(edge)
                .ok_or_else(|| Error::not_found("edge", edge))?;
            (state.producers.keys())
                .filter(|id| !link.incoming.contains_key(id))
                .copied()
                .collect()
        };
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
        Ok(EdgeOpened {
            pipe,
            producers,
            peers: (state.peers.values())
                .filter(|p| p.edge.as_deref() != Some(edge))
                .map(|p| p.info(Role::Admin))
                .collect(),
            recording: state.recording,
        })
    }

    /// Home side: a peer joined on `edge`: it stands in this room (counted,
    /// seen by staff, able to chat and raise its hand through its edge).
    pub fn add_edge_peer(&self, edge: &str, announced: EdgePeer) -> Result<()> {
        self.stand_in(edge, announced, true)
    }

    /// [`Self::add_edge_peer`]; held to the room's limit of peers when
    /// `limited`, as a join is (the user's other connections not counted:
    /// a reload's new connection comes before the old one's leave).
    fn stand_in(&self, edge: &str, announced: EdgePeer, limited: bool) -> Result<()> {
        let mut state = self.state.lock();
        if !state.edges.contains_key(edge) {
            return Err(Error::not_found("edge", edge));
        }
        let id = announced.peer.id;
        if state.peers.contains_key(&id) {
            return Ok(());
        }
        let user = announced.peer.user.as_deref().unwrap_or_default();
        let others = state.peers.values().filter(|p| p.user() != user).count();
        if limited && others >= self.config().limits.max_peers_per_room {
            return Err(Error::RoomFull(self.id.to_string()));
        }
        let info = announced.peer;
        let claims = Claims {
            room: self.id.clone(),
            user: info.user.clone().unwrap_or_default(),
            name: info.name.clone(),
            role: info.role,
            exp: announced.token_exp,
        };
        // Nobody reads its queue: broadcasts skip it (its edge hears the relays).
        let (outbox, _, _) = Outbox::new(1);
        let mut peer = Peer::new(id, &claims, Seat::detached(), outbox);
        peer.info = info;
        peer.edge = Some(edge.to_owned());
        super::announce_join(&state, &peer);
        state.peers.insert(id, peer);
        Ok(())
    }

    /// Home side: a peer of `edge` left it.
    pub fn remove_edge_peer(&self, edge: &str, peer_id: PeerId) {
        let ours = self
            .state
            .lock()
            .peers
            .get(&peer_id)
            .is_some_and(|p| p.edge.as_deref() == Some(edge));
        if ours {
            self.leave(peer_id);
        }
    }

    /// Home side: whether `peer_id` is a peer of `edge` (else a not-found error).
    pub fn check_edge_peer(&self, edge: &str, peer_id: PeerId) -> Result<()> {
        let ours = self
            .state
            .lock()
            .peers
            .get(&peer_id)
            .is_some_and(|p| p.edge.as_deref() == Some(edge));
        match ours {
            true => Ok(()),
            false => Err(Error::not_found("peer", peer_id)),
        }
    }

    /// Home side: a room-level request of `peer_id`, a peer of `edge`.
    pub fn edge_request(&self, edge: &str, peer_id: PeerId, request: EdgeRequest) -> Result<()> {
        self.check_edge_peer(edge, peer_id)?;
        match request {
            EdgeRequest::Chat { text } => self.chat(peer_id, text),
            EdgeRequest::SetHand { target, raised } => self.set_hand(peer_id, target, raised),
            EdgeRequest::AllowSpeak { target, allowed } => {
                self.allow_speak(peer_id, target, allowed)
            }
            EdgeRequest::Kick { target } => self.kick(peer_id, target),
        }
    }

    /// Home side: an edge's producer (a student allowed to speak there),
    /// produced here with its id for the room and the other edges.
    pub async fn pipe_from_edge(self: &Arc<Self>, edge: &str, piped: PipedProducer) -> Result<()> {
        let (transport, home) = {
            let state = self.state.lock();
            let link = state
                .edges
                .get(edge)
                .ok_or_else(|| Error::not_found("edge", edge))?;
            let owner = state
                .peers
                .get(&piped.peer_id)
                .filter(|p| p.edge.as_deref() == Some(edge))
                .ok_or_else(|| Error::not_found("peer", piped.peer_id))?;
            owner.may_send(Some(piped.source))?;
            if state.producers.contains_key(&piped.id) {
                return Ok(());
            }
            let home = state
                .home
                .ok_or_else(|| Error::Conflict("the room has no media yet".into()))?;
            (link.transport.clone(), home)
        };
        let (producer, info) = produce_piped(&transport, piped).await?;
        {
            let mut state = self.state.lock();
            match state.edges.get_mut(edge) {
                Some(link) if link.transport.id() == transport.id() => {
                    link.incoming.insert(info.id, producer);
                }
                _ => return Err(Error::not_found("edge", edge)),
            }
            state.announce_producer(&info, home);
        }
        tracing::info!(room = %self.id, edge, producer = %info.id, source = ?info.source, "producer piped in from an edge");
        if info.kind == MediaKind::Audio
            && let Err(error) = self.observe(info.id, home).await
        {
            tracing::warn!(room = %self.id, %error, "speaker detection unavailable for this producer");
        }
        Ok(())
    }

    /// Home side: an edge's producer closed.
    pub fn unpipe_from_edge(&self, edge: &str, producer_id: ProducerId) {
        let (producer, pipes) = {
            let mut state = self.state.lock();
            let Some(producer) = state
                .edges
                .get_mut(edge)
                .and_then(|l| l.incoming.remove(&producer_id))
            else {
                return;
            };
            let pipes = state.forget_producer(producer_id);
            (producer, pipes)
        };
        drop(pipes);
        drop(producer);
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
                let consumer = consume_into(&transport, producer_id).await?;
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
        Ok(piped(&entry.info, &consumer))
    }

    /// Home side: closes an edge's pipe (the edge left, or died): its
    /// producers close and its peers leave the room.
    pub fn close_edge(&self, edge: &str) -> bool {
        let (incoming, peers) = {
            let state = self.state.lock();
            let Some(link) = state.edges.get(edge) else {
                return false;
            };
            let incoming: Vec<ProducerId> = link.incoming.keys().copied().collect();
            let peers: Vec<PeerId> = (state.peers.values())
                .filter(|p| p.edge.as_deref() == Some(edge))
                .map(|p| p.info.id)
                .collect();
            (incoming, peers)
        };
        for producer_id in incoming {
            self.unpipe_from_edge(edge, producer_id);
        }
        for peer_id in peers {
            self.leave(peer_id);
        }
        let link = self.state.lock().edges.remove(edge);
        drop(link);
        tracing::info!(room = %self.id, edge, "edge pipe closed");
        true
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
            consumers: HashMap::new(),
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

    /// Edge side: brings the room up to date with the home's `state` (read
    /// again after the bus was away), pipe kept: producers it no longer
    /// has close, new ones are piped in, peers come and go. How many
    /// producers were (added, removed).
    pub async fn resync_home(&self, state: EdgeOpened) -> Result<(usize, usize)> {
        let stale = {
            let mut room = self.state.lock();
            let Some(upstream) = room.upstream.as_ref() else {
                return Err(Error::Conflict("no pipe to the home".into()));
            };
            let stale: Vec<ProducerId> = (upstream.producers.keys())
                .filter(|id| !state.producers.iter().any(|p| p.id == **id))
                .copied()
                .collect();
            let left: Vec<PeerInfo> = (room.remote_peers.values())
                .filter(|known| !state.peers.iter().any(|p| p.id == known.id))
                .cloned()
                .collect();
            for peer in &left {
                room.remote_peers.remove(&peer.id);
                let text = Notification::PeerLeft { peer_id: peer.id }.queued();
                broadcast(&room, &text, |p| sees_info(p.info.role, peer));
            }
            for peer in state.peers {
                if !room.peers.contains_key(&peer.id) {
                    remote_peer_joined(&mut room, peer);
                }
            }
            stale
        };
        for id in &stale {
            self.remove_piped(*id);
        }
        self.set_recording(state.recording);
        let mut added = 0;
        for piped in state.producers {
            let known = self.state.lock().producers.contains_key(&piped.id);
            if !known {
                self.add_piped(piped).await?;
                added += 1;
            }
        }
        Ok((added, stale.len()))
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
        let (producer, info) = produce_piped(&transport, piped).await?;
        let mut state = self.state.lock();
        match state.upstream.as_mut() {
            Some(upstream) if upstream.transport.id() == transport.id() => {
                upstream.producers.insert(info.id, producer);
            }
            _ => return Ok(()), // the pipe closed meanwhile; `producer` drops
        }
        state.announce_producer(&info, slot);
        tracing::debug!(room = %self.id, producer = %info.id, "producer piped in from the home");
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
            let pipes = state.forget_producer(producer_id);
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

    /// Edge side: what the home must hear of this room from now on.
    pub fn edge_events(&self) -> mpsc::UnboundedReceiver<EdgeEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.state.lock().edge_events = Some(tx);
        rx
    }

    /// The room is no longer an edge: nothing more to tell a home.
    pub fn stop_edge_events(&self) {
        self.state.lock().edge_events = None;
    }

    /// Edge side: this node's peers and producers, as the home must know them.
    pub fn local_for_home(&self) -> (Vec<EdgePeer>, Vec<ProducerId>) {
        let state = self.state.lock();
        let peers = state.peers.values().map(Peer::edge_peer).collect();
        let producers = state
            .peers
            .values()
            .flat_map(|p| p.producers.keys().copied())
            .collect();
        (peers, producers)
    }

    /// Edge side: consumes a local producer into the pipe, for the home.
    pub async fn pipe_up(&self, producer_id: ProducerId) -> Result<PipedProducer> {
        let (transport, slot, entry, existing) = {
            let state = self.state.lock();
            let upstream = state
                .upstream
                .as_ref()
                .ok_or_else(|| Error::Conflict("no pipe to the home".into()))?;
            let entry = state
                .producers
                .get(&producer_id)
                .filter(|_| !upstream.producers.contains_key(&producer_id))
                .cloned()
                .ok_or_else(|| Error::not_found("producer", producer_id))?;
            (
                upstream.transport.clone(),
                upstream.slot,
                entry,
                upstream.consumers.get(&producer_id).cloned(),
            )
        };
        let consumer = match existing {
            Some(consumer) => consumer,
            None => {
                self.ensure_pipe(producer_id, entry.slot, slot).await?;
                let consumer = consume_into(&transport, producer_id).await?;
                let mut state = self.state.lock();
                match state.upstream.as_mut() {
                    Some(upstream) if upstream.transport.id() == transport.id() => upstream
                        .consumers
                        .entry(producer_id)
                        .or_insert(consumer)
                        .clone(),
                    _ => return Err(Error::Conflict("no pipe to the home".into())),
                }
            }
        };
        Ok(piped(&entry.info, &consumer))
    }

    /// Edge side: a local producer closed; its consumer for the home goes.
    pub fn unpipe_up(&self, producer_id: ProducerId) {
        let consumer =
            (self.state.lock().upstream.as_mut()).and_then(|u| u.consumers.remove(&producer_id));
        drop(consumer);
    }

    /// Edge side: the home removed one of this node's peers (kicked by
    /// staff elsewhere, say): it goes, and a kicked user stays out here too.
    pub fn removed_by_home(&self, peer_id: PeerId, reason: CloseReason) {
        let ban = {
            let state = self.state.lock();
            let Some(peer) = state.peers.get(&peer_id) else {
                return;
            };
            (reason == CloseReason::Kicked).then(|| (peer.user().to_owned(), peer.token_exp))
        };
        if let Some((user, until)) = ban {
            self.ctx.bans.ban(&self.id, user, until);
        }
        tracing::info!(room = %self.id, peer = %peer_id, ?reason, "peer removed by the room's home");
        self.remove(peer_id, reason);
    }

    /// Edge side: the home is gone or moved: its producers close, its peers
    /// leave (the local peers are told), the pipe closes. The node it was.
    pub fn close_home(&self) -> Option<String> {
        let (upstream, pipes) = {
            let mut state = self.state.lock();
            let upstream = state.upstream.take()?;
            let mut pipes = Vec::new();
            for producer_id in upstream.producers.keys() {
                pipes.extend(state.forget_producer(*producer_id));
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

    /// Home side, for a room hosted for another node's teacher: a router to
    /// pipe to, on the least-loaded worker.
    pub async fn prepare_home(self: &Arc<Self>) -> Result<()> {
        if self.state.lock().home.is_some() {
            return Ok(());
        }
        // The reservation is only for placing the router: no peer stays.
        let _placed = self.place(Role::Teacher).await?;
        Ok(())
    }

    /// Whether a teacher is connected here.
    pub fn has_teacher(&self) -> bool {
        (self.state.lock().peers.values()).any(|p| p.edge.is_none() && p.info.role == Role::Teacher)
    }

    /// Edge side: the node this room's pipe comes from, if any.
    pub fn home_node(&self) -> Option<String> {
        self.state.lock().upstream.as_ref().map(|u| u.node.clone())
    }

    /// Edge side: hands the local peers of `audience` a notification the
    /// home relayed, keeping the room's picture of the home's peers and
    /// applying what the home decided about local peers (speak permission,
    /// hands); what it asks of the media is returned for the cluster layer
    /// to do. Producer notifications are not forwarded: the edge tells its
    /// peers itself once its media follows. What the home echoes of this
    /// node's own peers and producers is not told twice.
    pub fn apply_relayed(
        &self,
        audience: Audience,
        notification: Notification,
    ) -> Option<Upstream> {
        let staff = audience == Audience::Staff;
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
        let mut state = self.state.lock();
        if let Some(upstream) = upstream {
            let id = match upstream {
                Upstream::Pipe(id) | Upstream::Unpipe(id) | Upstream::Pause(id, _) => id,
            };
            let local = state.producers.contains_key(&id)
                && !state
                    .upstream
                    .as_ref()
                    .is_some_and(|u| u.producers.contains_key(&id));
            // Staff and students both hear of producers: act once.
            return (staff && !local).then_some(upstream);
        }
        let mut revoked = Vec::new();
        match &notification {
            Notification::PeerJoined { peer } => {
                if state.peers.contains_key(&peer.id) {
                    return None;
                }
                if staff {
                    // Forwarded below as relayed, to each audience its own way.
                    state.remote_peers.insert(peer.id, peer.clone());
                }
            }
            Notification::PeerLeft { peer_id } => {
                if state.peers.contains_key(peer_id) {
                    return None;
                }
                if staff {
                    state.remote_peers.remove(peer_id);
                }
            }
            Notification::SpeakPermission { peer } if staff => {
                if let Some(local) = state.peers.get_mut(&peer.id) {
                    local.info.can_speak = peer.can_speak;
                    local.info.hand_raised = peer.hand_raised;
                    if !peer.can_speak {
                        revoked = local.producers.keys().copied().collect();
                    }
                } else if let Some(known) = state.remote_peers.get_mut(&peer.id) {
                    *known = peer.clone();
                }
            }
            Notification::HandRaised { peer_id, raised } if staff => {
                if let Some(local) = state.peers.get_mut(peer_id) {
                    local.info.hand_raised = *raised;
                    if !local.info.role.is_staff() {
                        // Students hear of their own hand only.
                        local.send(&notification.clone().queued());
                    }
                } else if let Some(known) = state.remote_peers.get_mut(peer_id) {
                    known.hand_raised = *raised;
                }
            }
            Notification::Recording { active } if staff => state.recording = *active,
            _ => {}
        }
        let text = notification.queued();
        broadcast(&state, &text, |p| p.info.role.is_staff() == staff);
        drop(state);
        for producer_id in revoked {
            self.remove_producer(producer_id);
        }
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
        broadcast(state, &text, |p| p.info.role.is_staff() == staff);
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
