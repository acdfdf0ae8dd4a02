//! One class across nodes (docs/CLUSTER.md). A teacher's join makes this
//! node the room's home (a lease in Redis); any other peer's join on a node
//! that is not the home makes that node an edge, which pipes the home's
//! producers in (`room::cascade`) through the home's internal API (signed
//! HTTP, `http::internal`) and follows the home's room events on the bus.
//!
//! One task per room and node: the home's relays its room's notifications
//! to the bus, renews the lease and drops the pipes of edges that died; an
//! edge's finds the home, opens its pipe, applies what the home relays, and
//! starts over when the home is gone or moved.

use crate::auth::Role;
use crate::cluster::Membership;
use crate::error::{Error, Result};
use crate::ids::PeerId;
use crate::ids::RoomId;
use crate::room::RoomHold;
use crate::room::{
    Audience, EdgeEvent, EdgeOpened, EdgeRequest, OpenEdge, PipeOptions, PipedProducer, Relayed,
    Room, Upstream,
};
use parking_lot::Mutex;
use podium_cluster::{BusEvent, ClusterError, Envelope, NodeInfo, ReplayGuard, RequestParts};
use podium_protocol::ErrorCode;
use podium_protocol::signaling::CloseReason;
use podium_protocol::signaling::Notification;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How much freer (in fill: peers over capacity) another node must be for a
/// new room to start there rather than where its teacher connected.
const HOST_MARGIN: f64 = 0.1;

/// How long a node waits for another's internal API.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What the home says on a room's channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum RoomMessage {
    /// The sender is the room's home now.
    Homed,
    /// The sender is no longer the room's home (its room closed).
    Closed,
    /// A notification the home's peers of `audience` heard.
    Event {
        audience: Audience,
        notification: Box<Notification>,
    },
    /// The home removed a peer of an edge (kicked, say): its edge closes it.
    Removed {
        peer_id: PeerId,
        reason: CloseReason,
    },
    /// The home closed the pipe of `node`, judged gone: if it is not, it
    /// opens its pipe again.
    EdgeDropped { node: String },
}

/// What this node is to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Home,
    Edge,
}

struct Link {
    part: Part,
    task: JoinHandle<()>,
    /// The room object it serves: a room that closed and opened again is a
    /// new one, which needs its own task.
    room: Weak<Room>,
}

impl Link {
    fn serves(&self, room: &Arc<Room>) -> bool {
        !self.task.is_finished() && std::ptr::eq(self.room.as_ptr(), Arc::as_ptr(room))
    }
}

pub struct Cascade {
    membership: Arc<Membership>,
    rooms: Arc<crate::room::Rooms>,
    pipe: PipeOptions,
    secret: String,
    http: reqwest::Client,
    links: Mutex<HashMap<RoomId, Link>>,
    /// The home each room of this edge is piped from.
    homes: Mutex<HashMap<RoomId, NodeInfo>>,
    /// Every node seen in the cluster's list, by id (to ask one missing
    /// from it whether it is really gone).
    seen: Mutex<HashMap<String, NodeInfo>>,
    /// Internal API requests taken, against replays.
    replays: ReplayGuard,
    /// The date of this node's last signed request (Unix ms).
    last_signed: AtomicU64,
}

impl Cascade {
    pub fn new(
        membership: Arc<Membership>,
        rooms: Arc<crate::room::Rooms>,
        pipe: PipeOptions,
        secret: String,
    ) -> Arc<Cascade> {
        Arc::new(Cascade {
            membership,
            rooms,
            pipe,
            secret,
            http: reqwest::Client::builder()
                .timeout(CALL_TIMEOUT)
                .build()
                .expect("a plain HTTP client builds"),
            links: Mutex::new(HashMap::new()),
            homes: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            replays: ReplayGuard::default(),
            last_signed: AtomicU64::new(0),
        })
    }

    /// Checks an internal API request: signed with the cluster's secret,
    /// dated now (give or take 30 s), and not taken before.
    pub fn verify(&self, parts: &RequestParts<'_>, signature: &str) -> Result<(), ClusterError> {
        let now = podium_cluster::now_ms();
        podium_cluster::verify_request(&self.secret, parts, signature, now)?;
        self.replays.first_use(signature, parts.time_ms, now)
    }

    pub fn pipe_options(&self) -> &PipeOptions {
        &self.pipe
    }

    fn part(&self, room: &RoomId) -> Option<Part> {
        self.links
            .lock()
            .get(room)
            .filter(|l| !l.task.is_finished())
            .filter(|l| l.room.upgrade().is_some_and(|r| !r.is_closed()))
            .map(|l| l.part)
    }

    /// Before a join: a teacher's makes this node the room's home unless a
    /// live node is (then this node is an edge, and the teacher's media goes
    /// up to the home); anyone else's needs the directory to answer, so that
    /// the edge can find the home. A draining node takes no new rooms.
    pub async fn admit(&self, room: &RoomId, role: Role) -> Result<Part> {
        let unavailable = |error: ClusterError| {
            tracing::warn!(room = %room, %error, "cluster directory unavailable for a join");
            Error::Unavailable(
                "the cluster's directory does not answer; try again in a few seconds".into(),
            )
        };
        let part = self.part(room);
        if part.is_none() && self.membership.is_draining() {
            return Err(Error::Unavailable(
                "this node is draining: join again to reach another one".into(),
            ));
        }
        if part == Some(Part::Home) {
            return Ok(Part::Home);
        }
        let directory = self.membership.directory();
        if role != Role::Teacher {
            if part.is_none() {
                directory.home(room.as_str()).await.map_err(unavailable)?;
            }
            return Ok(Part::Edge);
        }
        if self.home_elsewhere(room).await.map_err(unavailable)? {
            return Ok(Part::Edge);
        }
        match self.take_home(room).await.map_err(unavailable)? {
            true => Ok(Part::Home),
            false => Ok(Part::Edge),
        }
    }

    /// A room without a live home starts on the least-loaded node: when
    /// that is clearly another one (a tenth of its capacity freer), it is
    /// asked to host the room, and this node becomes its edge. False when
    /// this node should take it (or the other could not).
    async fn home_elsewhere(&self, room: &RoomId) -> Result<bool, ClusterError> {
        let directory = self.membership.directory();
        if let Some(home) = directory.home(room.as_str()).await?
            && !self.gone(&home).await
        {
            return Ok(false); // a live home: take_home says what this node is
        }
        let nodes = self.nodes().await?;
        let me = self.membership.id();
        let Some(mine) = nodes.iter().find(|n| n.id == me).map(|n| n.load.fill()) else {
            return Ok(false);
        };
        let Some(best) = podium_cluster::least_loaded_of(nodes) else {
            return Ok(false);
        };
        if best.id == me || best.load.fill() + HOST_MARGIN > mine {
            return Ok(false);
        }
        let path = format!("/internal/cluster/rooms/{room}/host");
        match self
            .call::<serde_json::Value>(&best, reqwest::Method::POST, &path, None)
            .await
        {
            Ok(_) => {
                tracing::info!(room = %room, home = %best.id, "room started on the least-loaded node");
                Ok(true)
            }
            Err(error) => {
                tracing::warn!(room = %room, node = %best.id, %error, "the least-loaded node did not take the room: it starts here");
                Ok(false)
            }
        }
    }

    /// Another node asks this one to be a new room's home (it is the least
    /// loaded): the room is made here, held while anyone stands in it.
    pub async fn host(self: &Arc<Self>, room: &RoomId) -> Result<()> {
        if self.part(room) == Some(Part::Home) {
            return Ok(());
        }
        if self.membership.is_draining() {
            return Err(Error::Unavailable("this node is draining".into()));
        }
        let taken = self.take_home(room).await.map_err(|error| {
            Error::Unavailable(format!("the cluster's directory does not answer: {error}"))
        })?;
        if !taken {
            return Err(Error::Conflict("another node is the room's home".into()));
        }
        let hosted = self.rooms.get_or_create(room);
        let hold = hosted.hold();
        hosted.prepare_home().await?;
        let weak = Arc::downgrade(&hosted);
        let cascade = Arc::clone(self);
        let task = tokio::spawn(async move { cascade.run_home(weak, Some(hold)).await });
        let old = self.links.lock().insert(
            room.clone(),
            Link {
                part: Part::Home,
                task,
                room: Arc::downgrade(&hosted),
            },
        );
        if let Some(old) = old {
            old.task.abort();
        }
        Ok(())
    }

    /// Makes this node the room's home if it has none, or a dead one.
    async fn take_home(&self, room: &RoomId) -> Result<bool, ClusterError> {
        let me = self.membership.id();
        let directory = self.membership.directory();
        let lease = self.membership.ttl();
        let home = directory.claim(room.as_str(), &me, lease).await?;
        if home.node == me {
            return Ok(true);
        }
        self.nodes().await?;
        if !self.gone(&home.node).await {
            return Ok(false);
        }
        let taken = directory
            .take_over(room.as_str(), &me, &home.node, lease)
            .await?;
        if taken {
            tracing::info!(room = %room, dead = %home.node, "took over the home of a room whose node died");
        }
        Ok(taken)
    }

    /// After a join: starts this node's part in the room, if not running.
    pub fn joined(self: &Arc<Self>, room: &Arc<Room>, part: Part) {
        let mut links = self.links.lock();
        if let Some(link) = links.get(room.id()) {
            if link.serves(room) {
                if link.part == Part::Home || part == Part::Edge {
                    return;
                }
                // An edge whose teacher joined here: this node is the home now.
                room.stop_edge_events();
                room.close_home();
            }
            // Done, or serving a room object that closed since.
            link.task.abort();
        }
        let weak = Arc::downgrade(room);
        let cascade = Arc::clone(self);
        let task = match part {
            Part::Home => tokio::spawn(async move { cascade.run_home(weak, None).await }),
            Part::Edge => tokio::spawn(async move { cascade.run_edge(weak).await }),
        };
        links.insert(
            room.id().clone(),
            Link {
                part,
                task,
                room: Arc::downgrade(room),
            },
        );
    }

    async fn publish(&self, room: &RoomId, message: &RoomMessage) -> Result<(), ClusterError> {
        let bus = self.membership.bus();
        let body =
            serde_json::to_value(message).map_err(|e| ClusterError::Malformed(e.to_string()))?;
        bus.publish(
            &bus.room_channel(room.as_str()),
            &Envelope::new(self.membership.id(), body),
        )
        .await
        .map(|_| ())
    }

    async fn run_home(self: Arc<Self>, weak: Weak<Room>, mut hold: Option<RoomHold>) {
        let Some(room) = weak.upgrade() else { return };
        let id = room.id().clone();
        let me = self.membership.id();
        let mut relayed = room.relay();
        drop(room);
        tracing::info!(room = %id, "this node is the room's home");
        if let Err(error) = self.publish(&id, &RoomMessage::Homed).await {
            tracing::warn!(room = %id, %error, "cannot tell the cluster about the room's home");
        }
        let mut beat = tokio::time::interval(self.membership.period());
        let mut idle = 0;
        loop {
            tokio::select! {
                relayed = relayed.recv() => {
                    let (audience, outgoing) = match relayed {
                        None => break,
                        Some(Relayed::Heard(audience, outgoing)) => (audience, outgoing),
                        Some(Relayed::Removed { peer_id, reason }) => {
                            if let Err(error) = self.publish(&id, &RoomMessage::Removed { peer_id, reason }).await {
                                tracing::warn!(room = %id, %error, "cannot tell an edge its peer was removed");
                            }
                            continue;
                        }
                    };
                    let notification = match serde_json::from_str::<Notification>(outgoing.as_text()) {
                        Ok(notification) => notification,
                        Err(error) => {
                            tracing::warn!(room = %id, %error, "a relayed notification does not parse");
                            continue;
                        }
                    };
                    let event = RoomMessage::Event { audience, notification: Box::new(notification) };
                    if let Err(error) = self.publish(&id, &event).await {
                        tracing::warn!(room = %id, %error, "cannot relay to the edges");
                    }
                }
                _ = beat.tick() => {
                    let Some(room) = weak.upgrade().filter(|r| !r.is_closed()) else { break };
                    self.keep_home(&room, &me).await;
                    // Hosted for another node's teacher: kept while anyone
                    // stands in it, let go after three empty beats.
                    idle = match room.peer_count() {
                        0 => idle + 1,
                        _ => 0,
                    };
                    if idle >= 3 && hold.take().is_some() {
                        drop(room);
                        self.rooms.release(&id);
                    }
                }
            }
        }
        let directory = self.membership.directory();
        if let Err(error) = directory.release(id.as_str(), &me).await {
            tracing::warn!(room = %id, %error, "cannot release the room's home (its lease expires)");
        }
        let _ = self.publish(&id, &RoomMessage::Closed).await;
        tracing::info!(room = %id, "this node is no longer the room's home");
    }

    /// Renews the home's lease (taking it again after Redis lost it) and
    /// closes the pipes of edges that left the cluster.
    async fn keep_home(&self, room: &Room, me: &str) {
        let directory = self.membership.directory();
        let lease = self.membership.ttl();
        match directory.renew(room.id().as_str(), me, lease).await {
            Ok(true) => {}
            Ok(false) => match directory.claim(room.id().as_str(), me, lease).await {
                Ok(home) if home.node == me => {}
                Ok(home) => {
                    tracing::warn!(room = %room.id(), other = %home.node, "another node took this room's home");
                }
                Err(error) => {
                    tracing::warn!(room = %room.id(), %error, "cannot renew the room's home");
                }
            },
            Err(error) => tracing::warn!(room = %room.id(), %error, "cannot renew the room's home"),
        }
        let edges = room.edges();
        if edges.is_empty() {
            return;
        }
        for edge in edges {
            if self.gone(&edge).await {
                tracing::warn!(room = %room.id(), edge, "edge node gone from the cluster: its pipe closes");
                room.close_edge(&edge);
                self.rooms.release(room.id());
                let _ = self
                    .publish(room.id(), &RoomMessage::EdgeDropped { node: edge.clone() })
                    .await;
            }
        }
    }

    async fn run_edge(self: Arc<Self>, weak: Weak<Room>) {
        let Some((id, mut events)) = weak.upgrade().map(|r| (r.id().clone(), r.edge_events()))
        else {
            return;
        };
        let me = self.membership.id();
        let bus = self.membership.bus();
        let mut subscription = bus.subscribe(vec![bus.room_channel(id.as_str())]);
        if !subscription.ready().await {
            return;
        }
        let period = self.membership.period();
        // The home this node last piped from: told when the pipe closes.
        let mut linked: Option<NodeInfo> = None;
        'find: loop {
            if let Some(home) = linked.take() {
                self.homes.lock().remove(&id);
                self.close_pipe(&id, &home).await;
            }
            let Some(room) = weak.upgrade().filter(|r| !r.is_closed()) else {
                break;
            };
            let home = match self.find_home(&id, &me).await {
                Found::Live(home) => home,
                Found::Here => break,
                Found::Nobody => {
                    // No live home. A teacher here makes this node the home
                    // (the teacher of a home that died reconnected here);
                    // else wait for one to announce itself.
                    if room.has_teacher() && matches!(self.take_home(&id).await, Ok(true)) {
                        room.stop_edge_events();
                        drop(room);
                        drop(subscription);
                        drop(events);
                        if let Some(link) = self.links.lock().get_mut(&id) {
                            link.part = Part::Home;
                        }
                        return Box::pin(self.run_home(weak, None)).await;
                    }
                    drop(room);
                    let _ = tokio::time::timeout(period, subscription.next()).await;
                    continue;
                }
            };
            // Opening the pipe tells the home everything up to now.
            while events.try_recv().is_ok() {}
            self.homes.lock().insert(id.clone(), home.clone());
            if let Err(error) = self.open(&room, &home).await {
                tracing::warn!(room = %id, home = %home.id, %error, "cannot pipe from the home; trying again");
                room.close_home();
                drop(room);
                self.homes.lock().remove(&id);
                // What the home made of it (a pipe, stand-ins) goes.
                self.close_pipe(&id, &home).await;
                tokio::time::sleep(period).await;
                continue;
            }
            drop(room);
            linked = Some(home.clone());
            self.homes.lock().insert(id.clone(), home.clone());
            let mut beat = tokio::time::interval(period);
            loop {
                tokio::select! {
                    event = subscription.next_event() => {
                        let message = match event {
                            None => break 'find,
                            Some(BusEvent::Message(message)) => message,
                            Some(BusEvent::Resubscribed) => {
                                // What the home relayed while Redis was away is lost: read it again.
                                let Some(room) = weak.upgrade() else { break 'find };
                                if let Err(error) = self.resync(&room, &home).await {
                                    tracing::warn!(room = %id, home = %home.id, %error, "cannot read the room again from the home: opening the pipe again");
                                    room.close_home();
                                    continue 'find;
                                }
                                continue;
                            }
                        };
                        let (_, envelope) = match message {
                            Ok(message) => message,
                            Err(error) => {
                                tracing::warn!(room = %id, %error, "refused a bus message");
                                continue;
                            }
                        };
                        let Some(room) = weak.upgrade() else { break 'find };
                        match serde_json::from_value::<RoomMessage>(envelope.body) {
                            Ok(RoomMessage::Event { audience, notification }) if envelope.from == home.id => {
                                if let Some(upstream) = room.apply_relayed(audience, *notification)
                                    && let Err(error) = self.follow(&room, &home, upstream).await
                                {
                                    tracing::warn!(room = %id, %error, "cannot follow a producer of the home");
                                }
                            }
                            Ok(RoomMessage::Removed { peer_id, reason }) if envelope.from == home.id => {
                                room.removed_by_home(peer_id, reason);
                            }
                            Ok(RoomMessage::EdgeDropped { node }) if envelope.from == home.id && node == me => {
                                tracing::warn!(room = %id, home = %home.id, "the home dropped this node's pipe: opening it again");
                                room.close_home();
                                continue 'find;
                            }
                            Ok(RoomMessage::Event { .. } | RoomMessage::Removed { .. } | RoomMessage::EdgeDropped { .. }) => {}
                            Ok(RoomMessage::Homed | RoomMessage::Closed) => {
                                // The home closed, restarted or moved: find it again.
                                room.close_home();
                                continue 'find;
                            }
                            Err(error) => tracing::warn!(room = %id, %error, "a bus message does not parse"),
                        }
                    }
                    event = events.recv() => {
                        let Some(event) = event else { break 'find };
                        let Some(room) = weak.upgrade() else { break 'find };
                        let joined = match &event {
                            EdgeEvent::Joined(peer) => Some(peer.peer.id),
                            _ => None,
                        };
                        let told = self.tell_home_retrying(&room, &home, event).await;
                        if let Some(peer_id) = joined.filter(|_| told.as_ref().is_err_and(|e| e.code() == ErrorCode::RoomFull)) {
                            // The class filled up on other nodes: this peer goes, told why.
                            room.removed_by_home(peer_id, CloseReason::RoomFull);
                        } else if let Err(error) = told {
                            // Opening the pipe again tells the home the whole room.
                            tracing::warn!(room = %id, home = %home.id, %error, "the home did not take an edge's change: opening the pipe again");
                            room.close_home();
                            continue 'find;
                        }
                    }
                    _ = beat.tick() => {
                        let Some(room) = weak.upgrade().filter(|r| !r.is_closed()) else { break 'find };
                        if self.gone(&home.id).await {
                            tracing::warn!(room = %id, home = %home.id, "the room's home left the cluster");
                            room.close_home();
                            linked = None; // its pipes went with it
                            continue 'find;
                        }
                    }
                }
            }
        }
        if let Some(room) = weak.upgrade() {
            room.close_home();
        }
        if let Some(home) = linked {
            self.homes.lock().remove(&id);
            self.close_pipe(&id, &home).await;
        }
    }

    /// The live nodes (remembered, see `gone`).
    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let nodes = self.membership.nodes().await?;
        let mut seen = self.seen.lock();
        for node in &nodes {
            seen.insert(node.id.clone(), node.clone());
        }
        Ok(nodes)
    }

    /// Whether `node` left the cluster: missing from its list, and not
    /// answering on its address either (a Redis that restarted empty lists
    /// no one until their next heartbeat). Not when the list is unavailable.
    async fn gone(&self, node: &str) -> bool {
        let Ok(nodes) = self.nodes().await else {
            return false;
        };
        if nodes.iter().any(|n| n.id == node) {
            return false;
        }
        let Some(known) = self.seen.lock().get(node).cloned() else {
            return true;
        };
        let health = format!("http://{}/health", known.internal_addr);
        let answered = self
            .http
            .get(&health)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok();
        if !answered {
            self.seen.lock().remove(node);
        }
        !answered
    }

    /// Reads the room again from the home (after the bus was away) and
    /// brings this edge's picture of it up to date, pipe kept.
    async fn resync(&self, room: &Room, home: &NodeInfo) -> Result<()> {
        let path = format!(
            "/internal/cluster/rooms/{}/edges/{}",
            room.id(),
            self.membership.id()
        );
        let state: EdgeOpened = self.call(home, reqwest::Method::GET, &path, None).await?;
        let (added, removed) = room.resync_home(state).await?;
        tracing::info!(room = %room.id(), home = %home.id, added, removed, "room read again from the home");
        Ok(())
    }

    /// [`Self::tell_home`], three times at most.
    async fn tell_home_retrying(
        &self,
        room: &Room,
        home: &NodeInfo,
        event: EdgeEvent,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.tell_home(room, home, event.clone()).await {
                Ok(()) => return Ok(()),
                // A definite answer of the home; asking again changes nothing.
                Err(error @ Error::Remote(_)) if is_definite(error.code()) => return Err(error),
                Err(error) if attempt == 2 => return Err(error),
                Err(_) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Tells the home what changed on this edge.
    async fn tell_home(&self, room: &Room, home: &NodeInfo, event: EdgeEvent) -> Result<()> {
        let base = format!(
            "/internal/cluster/rooms/{}/edges/{}",
            room.id(),
            self.membership.id()
        );
        match event {
            EdgeEvent::Joined(peer) => {
                let path = format!("{base}/peers");
                self.call::<serde_json::Value>(
                    home,
                    reqwest::Method::POST,
                    &path,
                    Some(to_json(&peer)?),
                )
                .await?;
            }
            EdgeEvent::Left(peer_id) => {
                let path = format!("{base}/peers/{peer_id}");
                self.call::<serde_json::Value>(home, reqwest::Method::DELETE, &path, None)
                    .await?;
            }
            EdgeEvent::Produced(producer_id) => self.pipe_up(room, home, producer_id).await?,
            EdgeEvent::ProducerClosed(producer_id) => {
                room.unpipe_up(producer_id);
                let path = format!("{base}/incoming/{producer_id}");
                self.call::<serde_json::Value>(home, reqwest::Method::DELETE, &path, None)
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends a local producer (a student allowed to speak) up to the home.
    async fn pipe_up(
        &self,
        room: &Room,
        home: &NodeInfo,
        producer_id: mediasoup::prelude::ProducerId,
    ) -> Result<()> {
        let piped = match room.pipe_up(producer_id).await {
            Ok(piped) => piped,
            Err(Error::NotFound { .. }) => return Ok(()), // closed meanwhile
            Err(error) => return Err(error),
        };
        let path = format!(
            "/internal/cluster/rooms/{}/edges/{}/incoming",
            room.id(),
            self.membership.id()
        );
        self.call::<serde_json::Value>(home, reqwest::Method::POST, &path, Some(to_json(&piped)?))
            .await?;
        Ok(())
    }

    /// A room-level request of a peer of this node, carried out by the
    /// room's home when the room is piped from one (`None`: this node
    /// decides, as a node alone does).
    pub async fn forward(
        &self,
        room: &Room,
        peer_id: PeerId,
        request: EdgeRequest,
    ) -> Option<Result<()>> {
        let body = serde_json::json!({ "peerId": peer_id, "request": request });
        let answer = self
            .call_home::<serde_json::Value>(room, "requests", body)
            .await?;
        Some(answer.map(|_| ()))
    }

    /// For an edge peer's request the home carries out: POSTs `body` to
    /// this node's `suffix` of the room on its home. `None` when this node
    /// is not an edge of the room.
    async fn call_home<T: serde::de::DeserializeOwned>(
        &self,
        room: &Room,
        suffix: &str,
        body: serde_json::Value,
    ) -> Option<Result<T>> {
        room.home_node()?;
        let Some(home) = self.homes.lock().get(room.id()).cloned() else {
            return Some(Err(Error::Unavailable(
                "the class's home is moving; try again".into(),
            )));
        };
        let path = format!(
            "/internal/cluster/rooms/{}/edges/{}/{suffix}",
            room.id(),
            self.membership.id()
        );
        Some(
            self.call(&home, reqwest::Method::POST, &path, Some(body))
                .await,
        )
    }

    /// Tells `home` this node's pipe of the room is closed (it may be gone:
    /// then its pipes went with it).
    async fn close_pipe(&self, room: &RoomId, home: &NodeInfo) {
        let path = format!(
            "/internal/cluster/rooms/{room}/edges/{}",
            self.membership.id()
        );
        if let Err(error) = self
            .call::<serde_json::Value>(home, reqwest::Method::DELETE, &path, None)
            .await
        {
            tracing::debug!(room = %room, home = %home.id, %error, "could not tell the home the pipe closed");
        }
    }

    /// Where the room's home is.
    async fn find_home(&self, room: &RoomId, me: &str) -> Found {
        let Ok(Some(home)) = self.membership.directory().home(room.as_str()).await else {
            return Found::Nobody;
        };
        if home == me {
            return Found::Here;
        }
        let nodes = self.nodes().await.unwrap_or_default();
        match nodes.into_iter().find(|n| n.id == home) {
            Some(node) => Found::Live(node),
            None => Found::Nobody,
        }
    }

    /// Opens the room's pipe from `home` and takes the room as it is there.
    async fn open(&self, room: &Arc<Room>, home: &NodeInfo) -> Result<()> {
        let pipe = room.open_home(&home.id, &self.pipe).await?;
        let path = format!(
            "/internal/cluster/rooms/{}/edges/{}",
            room.id(),
            self.membership.id()
        );
        let (peers, local_producers) = room.local_for_home();
        let body = to_json(&OpenEdge { pipe, peers })?;
        let opened: EdgeOpened = self
            .call(home, reqwest::Method::POST, &path, Some(body))
            .await?;
        let producers = opened.producers.len();
        room.connect_home(opened).await?;
        for producer_id in local_producers {
            self.pipe_up(room, home, producer_id).await?;
        }
        tracing::info!(room = %room.id(), home = %home.id, producers, "piped from the home");
        Ok(())
    }

    async fn follow(&self, room: &Room, home: &NodeInfo, upstream: Upstream) -> Result<()> {
        match upstream {
            Upstream::Pipe(producer_id) => {
                let path = format!(
                    "/internal/cluster/rooms/{}/edges/{}/producers/{producer_id}",
                    room.id(),
                    self.membership.id()
                );
                let piped: PipedProducer =
                    self.call(home, reqwest::Method::POST, &path, None).await?;
                room.add_piped(piped).await
            }
            Upstream::Unpipe(producer_id) => {
                room.remove_piped(producer_id);
                Ok(())
            }
            Upstream::Pause(producer_id, paused) => room.pause_piped(producer_id, paused).await,
        }
    }

    /// A signed request to another node's internal API.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        node: &NodeInfo,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let me = self.membership.id();
        let time_ms = signing_time(&self.last_signed, podium_cluster::now_ms());
        let signature = podium_cluster::sign_request(
            &self.secret,
            &RequestParts {
                method: method.as_str(),
                path,
                node: &me,
                time_ms,
                body: body.as_bytes(),
            },
        );
        let url = format!("http://{}{path}", node.internal_addr);
        let response = self
            .http
            .request(method, &url)
            .header(podium_cluster::NODE_HEADER, &me)
            .header(podium_cluster::TIME_HEADER, time_ms.to_string())
            .header(podium_cluster::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("node {} does not answer: {e}", node.id)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Unavailable(format!("node {}: {e}", node.id)))?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Refusal {
                error: podium_protocol::ErrorBody,
            }
            return Err(match serde_json::from_str::<Refusal>(&text) {
                Ok(refusal) => Error::Remote(refusal.error),
                Err(_) => Error::Unavailable(format!("node {} answered {status}", node.id)),
            });
        }
        serde_json::from_str(if text.is_empty() { "null" } else { &text })
            .map_err(|e| Error::Internal(format!("node {} answered {e}", node.id)))
    }

    /// A restream or recording request of a peer of this node, carried out
    /// by the room's home when the room is piped from one (`None`: here).
    pub async fn forward_egress(
        &self,
        room: &Room,
        peer_id: PeerId,
        request: &podium_protocol::Request,
    ) -> Option<Result<podium_protocol::ResponseData>> {
        let body = serde_json::json!({ "peerId": peer_id, "request": request });
        self.call_home(room, "egress", body).await
    }

    /// Stops every room task (shutdown); the homes' leases expire.
    pub fn stop(&self) {
        for (_, link) in self.links.lock().drain() {
            link.task.abort();
        }
    }
}

/// The date to sign a request with: `now_ms`, or later than the last one.
/// Strictly increasing, so no two requests of this node sign alike and the
/// receiver's replay guard never refuses one of them.
fn signing_time(last_signed: &AtomicU64, now_ms: u64) -> u64 {
    let next = |last: u64| now_ms.max(last + 1);
    let last = last_signed
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(next(last))
        })
        .unwrap_or_else(|last| last);
    next(last)
}

/// Whether a refusal of the home stands (a retry would get it again), as
/// opposed to a passing state (a worker restarting, no media yet).
fn is_definite(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::RoomFull | ErrorCode::Forbidden | ErrorCode::NotFound | ErrorCode::BadRequest
    )
}

/// Where an edge finds its room's home.
enum Found {
    Live(NodeInfo),
    /// This node is the home now.
    Here,
    /// None, or a node that died.
    Nobody,
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_signed_within_one_millisecond_get_dates_of_their_own() {
        let last = AtomicU64::new(0);
        assert_eq!(signing_time(&last, 1_000), 1_000);
        assert_eq!(signing_time(&last, 1_000), 1_001);
        assert_eq!(signing_time(&last, 1_000), 1_002);
        assert_eq!(signing_time(&last, 5_000), 5_000);
        let dates: std::collections::HashSet<u64> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..1_000)
                            .map(|_| signing_time(&last, 9_000))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        assert_eq!(dates.len(), 4_000, "every request its own date");
    }
}
