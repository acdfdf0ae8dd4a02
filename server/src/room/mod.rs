//! Rooms over the worker pool.
//!
//! A room has a home router (on the worker it started on), where its
//! teachers publish, and, as students arrive, routers on other workers.
//! Students are placed on the least-loaded worker; producers are piped
//! (`pipe_producer_to_router`) to the routers whose peers consume them, so the
//! forwarding of one class spreads over every core.
//!
//! Locking: `state` is a sync mutex never held across an `.await`; mediasoup
//! objects are dropped (closed) after it is released. `setup` is an async
//! mutex serializing router creation and piping, which await the worker.
//! mediasoup callbacks never lock: they post a `RoomEvent` to the room's task.

mod cascade;
mod media;
mod peer;
mod registry;

pub use cascade::{
    Audience, EdgeEvent, EdgeOpened, EdgePeer, EdgeRequest, OpenEdge, PipeEnd, PipeOptions,
    PipedProducer, Relayed, Upstream,
};
pub use peer::{CloseSignal, Outbox, Outgoing, Queue};
pub use registry::{RoomSummary, Rooms};

use crate::auth::{Claims, Role};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::{PeerId, RoomId, ToWire};
use crate::workers::{Reservation, WorkerPool};
use event_listener_primitives::HandlerId;
use mediasoup::prelude::*;
use parking_lot::Mutex;
use peer::Peer;
use podium_protocol::signaling::{self as wire, CloseReason, Notification, PeerInfo, Source};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// What every room shares: the pool, the configuration, the codec list, the bans.
pub struct RoomContext {
    pub pool: Arc<WorkerPool>,
    pub config: Arc<Config>,
    pub media_codecs: Vec<RtpCodecCapability>,
    pub bans: Bans,
}

/// Users kicked from a room, refused until their token expires (it would
/// let them straight back in otherwise) or an admin lifts the ban. Kept apart
/// from the rooms: an empty room closes, its bans stay.
#[derive(Default)]
pub struct Bans(Mutex<HashMap<(RoomId, String), u64>>);

impl Bans {
    /// Bans `user` until `until` (Unix seconds); drops expired bans on the way.
    pub fn ban(&self, room: &RoomId, user: String, until: u64) {
        let now = crate::auth::unix_now();
        let mut bans = self.0.lock();
        bans.retain(|_, until| *until > now);
        bans.insert((room.clone(), user), until);
    }

    /// Whether `user` is banned from `room` at `now` (Unix seconds).
    pub fn is_banned(&self, room: &RoomId, user: &str, now: u64) -> bool {
        self.0
            .lock()
            .get(&(room.clone(), user.to_owned()))
            .is_some_and(|until| *until > now)
    }

    /// Lifts a ban; false if there was none.
    pub fn lift(&self, room: &RoomId, user: &str) -> bool {
        self.0
            .lock()
            .remove(&(room.clone(), user.to_owned()))
            .is_some()
    }

    /// The banned users of a room, with the Unix second each ban ends.
    pub fn of(&self, room: &RoomId) -> Vec<(String, u64)> {
        let mut bans: Vec<_> = self
            .0
            .lock()
            .iter()
            .filter(|((r, _), _)| r == room)
            .map(|((_, user), until)| (user.clone(), *until))
            .collect();
        bans.sort();
        bans
    }
}

/// Chat budgets: one per user (across their connections), one for the room.
#[derive(Default)]
struct ChatBudgets {
    users: HashMap<String, crate::ratelimit::TokenBucket>,
    room: Option<crate::ratelimit::TokenBucket>,
}

pub struct Room {
    id: RoomId,
    ctx: Arc<RoomContext>,
    state: Mutex<RoomState>,
    setup: tokio::sync::Mutex<()>,
    events: mpsc::UnboundedSender<RoomEvent>,
}

/// What a composed egress of the room reads: the teacher's camera and
/// screen, and microphones ([`Voices`] says whose).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposedSources {
    pub camera: Option<ProducerId>,
    pub screen: Option<ProducerId>,
    /// The teacher's first, then the speakers' in no set order.
    pub mics: Vec<ProducerId>,
}

/// Whose microphones a composed egress hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voices {
    /// The teacher's only (a restream: students are not told of it).
    Teacher,
    /// The teacher's and those of the students allowed to speak (a
    /// recording: everyone in the room is told of it).
    WithSpeakers,
}

#[derive(Default)]
struct RoomState {
    /// Routers by worker slot.
    routers: BTreeMap<usize, RoomRouter>,
    home: Option<usize>,
    peers: HashMap<PeerId, Peer>,
    producers: HashMap<ProducerId, ProducerEntry>,
    observer: Option<ActiveSpeakerObserver>,
    observer_handler: Option<HandlerId>,
    /// Pipes kept alive by the room, by target slot and producer.
    pipes: HashMap<(usize, ProducerId), PipeProducerToRouterPair>,
    /// Joins under way (placed, not yet inserted): the room stays open for them.
    joining: usize,
    /// Restreams running from this room: it stays open for them, so that a
    /// teacher streaming to an empty room comes back to the same router.
    holds: usize,
    /// Set by the registry once the room is empty: it is then dropped.
    closed: bool,
    /// A recording of the room runs: every peer knows (on join, and by
    /// notification when it changes).
    recording: bool,
    chat: ChatBudgets,
    /// Home of a room across nodes: what stands for the edges' staff and
    /// students (see `cascade`); never in `peers`.
    relays: Vec<Peer>,
    /// Home: the pipes to edge nodes, by node id.
    edges: HashMap<String, cascade::EdgeLink>,
    /// Edge: the pipe from the home node.
    upstream: Option<cascade::HomeLink>,
    /// Edge: the home's peers (as staff see them), as the home relayed them.
    remote_peers: HashMap<PeerId, PeerInfo>,
    /// Home: where the relays' queues go.
    relay_tx: Option<mpsc::Sender<Relayed>>,
    /// Edge: what the home must hear of this node's peers and producers.
    edge_events: Option<mpsc::UnboundedSender<EdgeEvent>>,
}

impl RoomState {
    fn peer(&self, id: PeerId) -> Result<&Peer> {
        self.peers
            .get(&id)
            .ok_or_else(|| Error::not_found("peer", id))
    }

    fn peer_mut(&mut self, id: PeerId) -> Result<&mut Peer> {
        self.peers
            .get_mut(&id)
            .ok_or_else(|| Error::not_found("peer", id))
    }

    /// Adds a producer to the room and tells every peer but its owner.
    fn announce_producer(&mut self, info: &ProducerInfo, slot: usize) {
        self.producers.insert(
            info.id,
            ProducerEntry {
                info: info.clone(),
                slot,
            },
        );
        let text = Notification::NewProducer {
            producer: info.to_wire(),
        }
        .queued();
        broadcast(self, &text, |p| p.info.id != info.peer_id);
    }

    /// Takes a producer out of the room, tells every peer but its owner,
    /// and returns its pipes (to drop after the lock: that closes them).
    fn forget_producer(&mut self, producer_id: ProducerId) -> Vec<PipeProducerToRouterPair> {
        let Some(entry) = self.producers.remove(&producer_id) else {
            return Vec::new();
        };
        let pipes = self.take_pipes(producer_id);
        let text = Notification::ProducerClosed {
            producer_id: producer_id.to_wire(),
        }
        .queued();
        broadcast(self, &text, |p| p.info.id != entry.info.peer_id);
        pipes
    }

    /// Removes the pipes of a producer (dropping them closes them).
    fn take_pipes(&mut self, producer_id: ProducerId) -> Vec<PipeProducerToRouterPair> {
        let keys: Vec<_> = self
            .pipes
            .keys()
            .filter(|(_, p)| *p == producer_id)
            .copied()
            .collect();
        keys.into_iter()
            .filter_map(|k| self.pipes.remove(&k))
            .collect()
    }
}

struct RoomRouter {
    router: Router,
}

/// A producer of the room, as the room keeps it (mediasoup's ids).
#[derive(Debug, Clone)]
pub struct ProducerInfo {
    pub id: ProducerId,
    pub peer_id: PeerId,
    pub kind: MediaKind,
    pub source: Source,
    pub paused: bool,
}

impl ProducerInfo {
    /// As the wire shows it.
    pub fn to_wire(&self) -> wire::ProducerInfo {
        wire::ProducerInfo {
            id: self.id.to_wire(),
            peer_id: self.peer_id,
            kind: self.kind,
            source: self.source,
            paused: self.paused,
        }
    }
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    info: ProducerInfo,
    slot: usize,
}

/// Keeps a room open while it lives (see [`Room::hold`]); the registry
/// closes the room once it is empty and unheld.
pub struct RoomHold(Arc<Room>);

impl RoomHold {
    pub fn room(&self) -> &Arc<Room> {
        &self.0
    }
}

impl Drop for RoomHold {
    fn drop(&mut self) {
        self.0.state.lock().holds -= 1;
    }
}

/// Posted by mediasoup callbacks; handled by the room's task.
#[derive(Debug)]
enum RoomEvent {
    ConsumerClosed {
        peer_id: PeerId,
        consumer_id: ConsumerId,
        producer_id: ProducerId,
    },
    LayersChanged {
        peer_id: PeerId,
        consumer_id: ConsumerId,
        layers: Option<ConsumerLayers>,
    },
    DominantSpeaker {
        producer_id: ProducerId,
    },
}

/// Who hears about a peer: staff see everyone, students see staff and the
/// students allowed to speak. This keeps joins O(staff), not O(room).
fn sees(viewer: Role, subject: &Peer) -> bool {
    sees_info(viewer, &subject.info)
}

fn sees_info(viewer: Role, subject: &PeerInfo) -> bool {
    viewer.is_staff() || subject.role.is_staff() || subject.can_speak
}

impl Room {
    fn new(id: RoomId, ctx: Arc<RoomContext>) -> Arc<Self> {
        let (events, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Self {
            id,
            ctx,
            state: Mutex::new(RoomState::default()),
            setup: tokio::sync::Mutex::new(()),
            events,
        });
        tokio::spawn(run_events(Arc::downgrade(&room), rx));
        room
    }

    pub fn id(&self) -> &RoomId {
        &self.id
    }

    fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// Adds a peer for `claims`; returns the join response data.
    pub async fn join(
        self: &Arc<Self>,
        peer_id: PeerId,
        claims: &Claims,
        outbox: Outbox,
    ) -> Result<wire::Joined> {
        self.refuse_banned(&claims.user)?;
        {
            let mut state = self.state.lock();
            if state.closed {
                return Err(Error::Conflict("the room closed; join again".into()));
            }
            state.joining += 1;
        }
        /// Uncounts the join however it ends, a panic included: a count left
        /// behind would keep the room (and its routers) open for ever.
        struct Joining<'a>(&'a Room);
        impl Drop for Joining<'_> {
            fn drop(&mut self) {
                self.0.state.lock().joining -= 1;
            }
        }
        let _joining = Joining(self);
        self.join_placed(peer_id, claims, outbox).await
    }

    /// Refuses a user kicked from this room whose ban still runs.
    fn refuse_banned(&self, user: &str) -> Result<()> {
        match self
            .ctx
            .bans
            .is_banned(&self.id, user, crate::auth::unix_now())
        {
            true => Err(Error::Forbidden(
                "you were removed from this class; ask the teacher for a new link".into(),
            )),
            false => Ok(()),
        }
    }

    async fn join_placed(
        self: &Arc<Self>,
        peer_id: PeerId,
        claims: &Claims,
        outbox: Outbox,
    ) -> Result<wire::Joined> {
        let reservation = self.place(claims.role).await?;
        let slot = reservation.slot;
        let router = self.router(slot)?;
        let mut state = self.state.lock();
        // A kick may have landed since the check in `join`; bans are set
        // before the kicked peer is removed, so this sees every one of them.
        self.refuse_banned(&claims.user)?;
        // One live connection per user: a second tab or device replaces the
        // first (which is told why, and does not reconnect).
        let replaced: Vec<PeerId> = state
            .peers
            .values()
            .filter(|p| p.user() == claims.user)
            .map(|p| p.info.id)
            .collect();
        if state.peers.len() - replaced.len() >= self.config().limits.max_peers_per_room {
            return Err(Error::RoomFull(self.id.to_string()));
        }
        if state.peers.contains_key(&peer_id) {
            return Err(Error::Conflict("already joined".into()));
        }
        let peer = Peer::new(peer_id, claims, reservation.keep(), outbox);

        let peers: Vec<PeerInfo> = state
            .peers
            .values()
            .filter(|p| !replaced.contains(&p.info.id) && sees(claims.role, p))
            .map(|p| p.info(claims.role))
            .chain(
                (state.remote_peers.values())
                    .filter(|p| sees_info(claims.role, p))
                    .map(|p| PeerInfo {
                        user: p.user.clone().filter(|_| claims.role.is_staff()),
                        ..p.clone()
                    }),
            )
            .collect();
        let producers: Vec<wire::ProducerInfo> = state
            .producers
            .values()
            .filter(|p| !replaced.contains(&p.info.peer_id))
            .map(|p| p.info.to_wire())
            .collect();
        announce_join(&state, &peer);
        let can_speak = peer.info.can_speak;
        cascade::emit(&state, cascade::EdgeEvent::Joined(peer.edge_peer()));
        state.peers.insert(peer_id, peer);
        let peer_count = state.peers.len() - replaced.len() + state.remote_peers.len();
        let recording = state.recording;
        drop(state);
        for old in replaced {
            tracing::info!(room = %self.id, peer = %old, by = %peer_id, "peer replaced by a new connection of its user");
            self.remove(old, CloseReason::Replaced);
        }

        tracing::info!(room = %self.id, peer = %peer_id, role = ?claims.role, slot, "peer joined");
        Ok(wire::Joined {
            peer_id,
            room: self.id.to_string(),
            role: claims.role,
            can_speak,
            router_rtp_capabilities: router.rtp_capabilities().clone(),
            peers,
            peer_count,
            producers,
            recording,
            // The session knows who may record.
            can_record: false,
        })
    }

    /// The worker slot for a new peer, counted on it: staff on the home
    /// router, students on the least-loaded worker (creating the room's router
    /// there if needed).
    async fn place(self: &Arc<Self>, role: Role) -> Result<Reservation> {
        let (home, existing) = {
            let state = self.state.lock();
            (
                state.home,
                state.routers.keys().copied().collect::<Vec<_>>(),
            )
        };
        let fixed = home.filter(|_| role == Role::Teacher);
        let reservation = self
            .ctx
            .pool
            .reserve(fixed, &existing)
            .ok_or_else(|| Error::Internal("no live mediasoup worker".into()))?;
        if !existing.contains(&reservation.slot) {
            let _setup = self.setup.lock().await;
            if !self.state.lock().routers.contains_key(&reservation.slot) {
                self.create_router(reservation.slot).await?;
            }
        }
        Ok(reservation)
    }

    /// Called with `setup` held.
    async fn create_router(self: &Arc<Self>, slot: usize) -> Result<()> {
        let worker = self
            .ctx
            .pool
            .worker(slot)
            .ok_or_else(|| Error::Internal(format!("worker {slot} is restarting")))?;
        let router = worker
            .create_router(RouterOptions::new(self.ctx.media_codecs.clone()))
            .await
            .map_err(|e| Error::Internal(format!("cannot create a router: {e}")))?;
        let first = {
            let mut state = self.state.lock();
            let first = state.home.is_none();
            state.routers.insert(slot, RoomRouter { router });
            if first {
                state.home = Some(slot);
            }
            first
        };
        if first {
            self.create_observer(slot).await?;
        }
        tracing::info!(room = %self.id, slot, home = first, "router created");
        Ok(())
    }

    async fn create_observer(self: &Arc<Self>, slot: usize) -> Result<()> {
        let router = self.router(slot)?;
        let mut options = ActiveSpeakerObserverOptions::default();
        options.interval = 300;
        let observer = router
            .create_active_speaker_observer(options)
            .await
            .map_err(|e| Error::Internal(format!("cannot create the speaker observer: {e}")))?;
        let events = self.events.clone();
        let runtime = tokio::runtime::Handle::current();
        let handler = observer.on_dominant_speaker(move |speaker| {
            let _ = events.send(RoomEvent::DominantSpeaker {
                producer_id: speaker.producer.id(),
            });
            // mediasoup calls this on its worker thread, holding its
            // channel's handler lock, with a producer it looked up. Were
            // that the last reference (its peer leaving meanwhile), dropping
            // it there would unsubscribe under that same lock and hang the
            // worker (seen in CI). A clone outlives the call and is dropped
            // on the runtime a moment later.
            let keep = speaker.producer.clone();
            runtime.spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                drop(keep);
            });
        });
        let mut state = self.state.lock();
        state.observer = Some(observer);
        state.observer_handler = Some(handler);
        Ok(())
    }

    fn router(&self, slot: usize) -> Result<Router> {
        self.state
            .lock()
            .routers
            .get(&slot)
            .map(|r| r.router.clone())
            .ok_or_else(|| Error::Internal("the worker of this peer restarted; reconnect".into()))
    }

    /// Removes a peer, closing its transports, producers and consumers.
    pub fn leave(&self, peer_id: PeerId) {
        let peer = {
            let mut state = self.state.lock();
            let Some(peer) = state.peers.remove(&peer_id) else {
                return;
            };
            let mut texts = vec![Notification::PeerLeft { peer_id }.queued()];
            for producer_id in peer.producers.keys() {
                state.producers.remove(producer_id);
                texts.push(
                    Notification::ProducerClosed {
                        producer_id: producer_id.to_wire(),
                    }
                    .queued(),
                );
            }
            let visible_to_students = sees(Role::Student, &peer);
            for (i, text) in texts.iter().enumerate() {
                // Producer closures concern everyone; the departure only those who saw the peer.
                broadcast(&state, text, |p| {
                    i > 0 || p.info.role.is_staff() || visible_to_students
                });
            }
            let pipes: Vec<_> = peer
                .producers
                .keys()
                .flat_map(|id| state.take_pipes(*id))
                .collect();
            for producer_id in peer.producers.keys() {
                cascade::emit(&state, cascade::EdgeEvent::ProducerClosed(*producer_id));
            }
            cascade::emit(&state, cascade::EdgeEvent::Left(peer_id));
            drop(state);
            drop(pipes);
            peer
        };
        self.ctx.pool.remove_peer(peer.seat);
        tracing::info!(room = %self.id, peer = %peer_id, "peer left");
        drop(peer); // closes its transports, and with them its producers and consumers
    }

    /// Closes the room if nobody is in it or joining it; true if closed.
    pub fn try_close(&self) -> bool {
        let mut state = self.state.lock();
        if state.peers.is_empty() && state.joining == 0 && state.holds == 0 {
            state.closed = true;
        }
        state.closed
    }

    /// Keeps the room open (with its routers) until the hold is dropped.
    pub fn hold(self: &Arc<Self>) -> RoomHold {
        self.state.lock().holds += 1;
        RoomHold(Arc::clone(self))
    }

    /// Closes a peer's connection with `reason` and removes it.
    pub fn remove(&self, peer_id: PeerId, reason: CloseReason) {
        let remote = match self.state.lock().peers.get(&peer_id) {
            Some(peer) => {
                peer.outbox.close(reason);
                peer.edge.is_some()
            }
            None => false,
        };
        if remote {
            // Its edge closes the connection.
            self.relay_removal(peer_id, reason);
        }
        self.leave(peer_id);
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    pub fn peer_count(&self) -> usize {
        self.state.lock().peers.len()
    }

    /// A worker died: drop its router, disconnect the peers it carried (their
    /// clients reconnect), and move the home if it was there.
    pub async fn worker_died(self: &Arc<Self>, slot: usize) {
        let (victims, router, lost_home) = {
            let mut state = self.state.lock();
            let Some(router) = state.routers.remove(&slot) else {
                return;
            };
            let victims: Vec<PeerId> = state
                .peers
                .values()
                .filter(|p| p.slot == slot)
                .map(|p| p.info.id)
                .collect();
            let pipes: Vec<_> = state
                .pipes
                .keys()
                .filter(|(target, _)| *target == slot)
                .copied()
                .collect();
            for key in pipes {
                state.pipes.remove(&key);
            }
            let lost_home = state.home == Some(slot);
            if lost_home {
                state.home = state.routers.keys().next().copied();
                state.observer = None;
                state.observer_handler = None;
            }
            (victims, router, lost_home)
        };
        tracing::warn!(room = %self.id, slot, peers = victims.len(), "worker of this room died");
        for peer_id in victims {
            self.remove(peer_id, CloseReason::WorkerDied);
        }
        drop(router);
        let home = self.state.lock().home;
        if let (true, Some(home)) = (lost_home, home) {
            {
                let _setup = self.setup.lock().await;
                if let Err(error) = self.create_observer(home).await {
                    tracing::warn!(room = %self.id, %error, "cannot move the speaker observer");
                    return;
                }
            }
            // The surviving microphones join the new observer.
            let audio: Vec<_> = {
                let state = self.state.lock();
                state
                    .producers
                    .values()
                    .filter(|p| p.info.kind == MediaKind::Audio)
                    .map(|p| (p.info.id, p.slot))
                    .collect()
            };
            for (producer_id, slot) in audio {
                if let Err(error) = self.observe(producer_id, slot).await {
                    tracing::warn!(room = %self.id, %error, "speaker detection lost for a producer");
                }
            }
        }
    }

    /// Sends `notification` to every peer matching `to`.
    fn notify(&self, notification: Notification, to: impl Fn(&Peer) -> bool) {
        let text = notification.queued();
        broadcast(&self.state.lock(), &text, to);
    }

    pub fn summary(&self) -> RoomSummary {
        let state = self.state.lock();
        let defaults = restream_defaults(&state);
        RoomSummary {
            id: self.id.to_string(),
            routers: state.routers.keys().copied().collect(),
            home_worker: state.home,
            peers: state.peers.values().map(Peer::summary).collect(),
            producers: state.producers.values().map(|p| p.info.to_wire()).collect(),
            bans: (self.ctx.bans.of(&self.id).into_iter())
                .map(|(user, until)| registry::BanSummary { user, until })
                .collect(),
            restream_defaults: podium_protocol::admin::RestreamInputs {
                video_producer_id: defaults.0.map(ToWire::to_wire),
                audio_producer_id: defaults.1.map(ToWire::to_wire),
            },
        }
    }

    /// The producers a restream reads unless told otherwise: the teacher's
    /// camera (else screen), and the teacher's microphone.
    pub fn restream_defaults(&self) -> (Option<ProducerId>, Option<ProducerId>) {
        restream_defaults(&self.state.lock())
    }

    /// The teacher's camera and screen, and the microphones `voices` says,
    /// as they are now.
    pub fn composed_sources(&self, voices: Voices) -> ComposedSources {
        let state = self.state.lock();
        let mut mics: Vec<ProducerId> = teacher_producer(&state, &[Source::Mic])
            .into_iter()
            .collect();
        if voices == Voices::WithSpeakers {
            let mut speakers: Vec<ProducerId> = state
                .producers
                .values()
                .filter(|p| {
                    p.info.source == Source::Mic
                        && state
                            .peers
                            .get(&p.info.peer_id)
                            .is_some_and(|o| o.info.role == Role::Student && o.info.can_speak)
                })
                .map(|p| p.info.id)
                .collect();
            speakers.sort_unstable();
            mics.extend(speakers);
        }
        ComposedSources {
            camera: teacher_producer(&state, &[Source::Camera]),
            screen: teacher_producer(&state, &[Source::Screen]),
            mics,
        }
    }

    /// The home router, with each of `producers` on it (piped there if it
    /// lives elsewhere): what a restream reads from.
    pub async fn home_router_with(&self, producers: &[Option<ProducerId>]) -> Result<Router> {
        let home = self
            .state
            .lock()
            .home
            .ok_or_else(|| Error::Conflict("the room has no media yet".into()))?;
        for producer_id in producers.iter().flatten() {
            let slot = self
                .state
                .lock()
                .producers
                .get(producer_id)
                .map(|p| p.slot)
                .ok_or_else(|| Error::not_found("producer", producer_id))?;
            self.ensure_pipe(*producer_id, slot, home).await?;
        }
        self.router(home)
    }

    /// Marks the room as recorded or not, and tells every peer when that
    /// changes (under the lock joins read it with: no peer misses it).
    pub fn set_recording(&self, active: bool) {
        let mut state = self.state.lock();
        if state.recording == active {
            return;
        }
        state.recording = active;
        broadcast(&state, &Notification::Recording { active }.queued(), |_| {
            true
        });
    }

    /// Sends `notification` to the room's teachers and admins.
    pub fn notify_staff(&self, notification: Notification) {
        self.notify(notification, |p| p.info.role.is_staff());
    }

    /// The role of the peer that owns `producer_id`, if both exist.
    pub fn producer_owner_role(&self, producer_id: ProducerId) -> Option<Role> {
        let state = self.state.lock();
        let owner = state.producers.get(&producer_id)?.info.peer_id;
        state.peers.get(&owner).map(|p| p.info.role)
    }

    pub fn peer_role(&self, peer_id: PeerId) -> Option<Role> {
        self.state.lock().peers.get(&peer_id).map(|p| p.info.role)
    }

    /// Counts for /metrics: (peers, producers, consumers).
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = self.state.lock();
        let consumers = state.peers.values().map(|p| p.consumers.len()).sum();
        (state.peers.len(), state.producers.len(), consumers)
    }

    /// Tells every peer the server is going away and removes them.
    pub fn shut_down(&self) {
        let ids: Vec<PeerId> = self.state.lock().peers.keys().copied().collect();
        for id in ids {
            self.remove(id, CloseReason::ServerShutdown);
        }
    }

    fn handle_event(&self, event: RoomEvent) {
        match event {
            RoomEvent::ConsumerClosed {
                peer_id,
                consumer_id,
                producer_id,
            } => {
                let consumer = {
                    let mut state = self.state.lock();
                    let Some(peer) = state.peers.get_mut(&peer_id) else {
                        return;
                    };
                    let consumer = peer.consumers.remove(&consumer_id);
                    peer.send(
                        &Notification::ConsumerClosed {
                            consumer_id: consumer_id.to_wire(),
                            producer_id: producer_id.to_wire(),
                        }
                        .queued(),
                    );
                    consumer
                };
                drop(consumer);
            }
            RoomEvent::LayersChanged {
                peer_id,
                consumer_id,
                layers,
            } => {
                let state = self.state.lock();
                if let Some(peer) = state.peers.get(&peer_id) {
                    peer.send(
                        &Notification::ConsumerLayersChanged {
                            consumer_id: consumer_id.to_wire(),
                            spatial_layer: layers.map(|l| l.spatial_layer),
                            temporal_layer: layers.and_then(|l| l.temporal_layer),
                        }
                        .queued(),
                    );
                }
            }
            RoomEvent::DominantSpeaker { producer_id } => {
                let peer_id = self
                    .state
                    .lock()
                    .producers
                    .get(&producer_id)
                    .map(|p| p.info.peer_id);
                self.notify(
                    Notification::ActiveSpeaker {
                        peer_id,
                        producer_id: Some(producer_id.to_wire()),
                    },
                    |_| true,
                );
            }
        }
    }
}

/// The teacher's camera (else screen) and microphone, as they are in `state`.
fn restream_defaults(state: &RoomState) -> (Option<ProducerId>, Option<ProducerId>) {
    (
        teacher_producer(state, &[Source::Camera, Source::Screen]),
        teacher_producer(state, &[Source::Mic]),
    )
}

/// A teacher's producer of the first of `sources` there is.
fn teacher_producer(state: &RoomState, sources: &[Source]) -> Option<ProducerId> {
    sources.iter().find_map(|source| {
        state
            .producers
            .values()
            .filter(|p| p.info.source == *source)
            .find(|p| {
                state
                    .peers
                    .get(&p.info.peer_id)
                    .is_some_and(|o| o.info.role == Role::Teacher)
            })
            .map(|p| p.info.id)
    })
}

/// Tells the room's peers (not `peer`) that `peer` joined, each as its role sees it.
fn announce_join(state: &RoomState, peer: &Peer) {
    let id = peer.info.id;
    let joined = Notification::PeerJoined {
        peer: peer.info(Role::Admin),
    }
    .queued();
    broadcast(state, &joined, |p| {
        p.info.id != id && p.info.role.is_staff()
    });
    if sees(Role::Student, peer) {
        let joined = Notification::PeerJoined {
            peer: peer.info(Role::Student),
        }
        .queued();
        broadcast(state, &joined, |p| {
            p.info.id != id && !p.info.role.is_staff()
        });
    }
}

/// Serialized once by the caller, queued to every matching peer connected
/// here, and to the relays of a home (its edges hear it from them).
fn broadcast(state: &RoomState, text: &Arc<Outgoing>, to: impl Fn(&Peer) -> bool) {
    for peer in (state.peers.values())
        .filter(|p| p.edge.is_none())
        .chain(&state.relays)
        .filter(|p| to(p))
    {
        peer.send(text);
    }
}

async fn run_events(room: Weak<Room>, mut rx: mpsc::UnboundedReceiver<RoomEvent>) {
    while let Some(event) = rx.recv().await {
        let Some(room) = room.upgrade() else {
            break;
        };
        room.handle_event(event);
    }
}
