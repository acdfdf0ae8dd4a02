//! Restreams: the server's side of the egress crate. Who may start one (an
//! admin, or the room's teacher when `auth.teacher_can_restream`), what each
//! may ask for, how many may run, which producers it reads (the teacher's
//! camera and microphone unless told otherwise), and who hears of its status
//! (the room's staff).
//!
//! What a teacher may ask is narrower than an admin: YouTube, Twitch and IVS
//! only (`egress.teacher_custom_urls` opens custom URLs), no re-encode
//! (`egress.teacher_can_reencode`), and the room's teachers' producers only.
//! A student's microphone is never restreamed, whoever asks: telling the
//! student needs a per-peer notification the room does not offer yet, and
//! restreaming someone unaware is what the rule is for.
//!
//! Given a `layout`, a restream reads no fixed pair: it composes the
//! teacher's camera and screen into one picture and follows them live, as a
//! recording does (`crate::follow`), with the teacher's microphone only. A
//! layout always re-encodes, so a teacher needs `egress.teacher_can_reencode`
//! for it. Where destinations
//! may point (public addresses, allowed ports) is the egress crate's
//! `NetworkPolicy`, checked before every connection.

use crate::auth::Role;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::follow::{self, Followed, Follower};
use crate::ids::{PeerId, RoomId, ToMedia};
use crate::room::Voices;
use crate::room::{Room, RoomHold, Rooms};
use mediasoup::prelude::*;
use parking_lot::Mutex;
use podium_egress::{
    Compose, DestinationId, DestinationSpec, DestinationSpecExt, EgressConfig, EgressError,
    EgressEvent, EgressId, EgressManager, EgressSpec, EgressStatus, Layout, NetworkPolicy,
    RetryPolicy, VideoMode,
};
use podium_protocol::signaling::Notification;

use std::sync::Arc;
use std::time::Duration;

/// What to restream where, with mediasoup's ids (the wire form is
/// [`podium_protocol::admin::StartRestream`]).
#[derive(Debug)]
pub struct StartRestream {
    /// Default: the teacher's camera, else their screen.
    pub video_producer_id: Option<ProducerId>,
    /// Default: the teacher's microphone (none: silence).
    pub audio_producer_id: Option<ProducerId>,
    pub destinations: Vec<DestinationSpec>,
    pub video_mode: VideoMode,
    /// Compose the teacher's camera and screen this way, following them.
    pub layout: Option<Layout>,
}

impl From<podium_protocol::admin::StartRestream> for StartRestream {
    fn from(wire: podium_protocol::admin::StartRestream) -> Self {
        Self {
            video_producer_id: wire.video_producer_id.map(ToMedia::to_media),
            audio_producer_id: wire.audio_producer_id.map(ToMedia::to_media),
            destinations: wire.destinations,
            video_mode: wire.video_mode,
            layout: wire.layout,
        }
    }
}

/// Who asks for a restream: what they may ask for differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The admin API, or an admin's WebSocket.
    Admin,
    /// A room's teacher, over the WebSocket.
    Teacher,
}

impl Requester {
    /// What `peer` of `room` is as a requester (students are none).
    pub fn peer(room: &Room, peer: PeerId) -> Result<Self> {
        match room.peer_role(peer) {
            Some(Role::Admin) => Ok(Self::Admin),
            Some(Role::Teacher) => Ok(Self::Teacher),
            Some(Role::Student) => Err(Error::Forbidden("students cannot restream".into())),
            None => Err(Error::not_found("peer", peer)),
        }
    }
}

pub struct Restreams {
    manager: EgressManager,
    rooms: Arc<Rooms>,
    teacher_can_restream: bool,
    teacher_custom_urls: bool,
    teacher_can_reencode: bool,
    max_restreams: usize,
    max_restreams_per_room: usize,
    max_destinations: usize,
    /// How long a composed restream waits for the teacher's video to come back.
    teacher_grace: Duration,
    /// Rooms (labels) of the restreams being started: counted against the
    /// limits with the running ones, so that parallel starts cannot pass them.
    starting: Arc<Mutex<Vec<String>>>,
}

/// A place among the restreams counted against the limits, held while one
/// starts (the running egress counts from then on).
struct Reservation {
    starting: Arc<Mutex<Vec<String>>>,
    label: String,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut starting = self.starting.lock();
        if let Some(at) = starting.iter().position(|l| *l == self.label) {
            starting.swap_remove(at);
        }
    }
}

impl Restreams {
    pub fn new(config: &Config, rooms: Arc<Rooms>) -> Self {
        let egress = &config.egress;
        let retry = RetryPolicy {
            initial: Duration::from_millis(egress.retry_initial_ms),
            max: Duration::from_millis(egress.retry_max_ms),
            give_up_after: (egress.give_up_after_secs > 0)
                .then(|| Duration::from_secs(egress.give_up_after_secs)),
            give_up_unreached: (egress.give_up_unreached_secs > 0)
                .then(|| Duration::from_secs(egress.give_up_unreached_secs)),
            ..RetryPolicy::default()
        };
        let network = NetworkPolicy::new(egress.allow_ports.clone(), &egress.allow_hosts)
            .expect("egress.allow_hosts is checked by Config::validate");
        Self {
            manager: EgressManager::new(EgressConfig {
                retry,
                watchdog: Duration::from_secs(egress.watchdog_secs),
                input_grace: Duration::from_secs(egress.teacher_grace_secs),
                network,
                ..EgressConfig::default()
            }),
            rooms,
            teacher_can_restream: config.auth.teacher_can_restream,
            teacher_custom_urls: egress.teacher_custom_urls,
            teacher_can_reencode: egress.teacher_can_reencode,
            max_restreams: egress.max_restreams,
            max_restreams_per_room: egress.max_restreams_per_room,
            max_destinations: egress.max_destinations,
            teacher_grace: Duration::from_secs(egress.teacher_grace_secs),
            starting: Arc::default(),
        }
    }

    /// Refuses roles that may not restream in a room.
    pub fn check_role(&self, role: Role) -> Result<()> {
        match role {
            Role::Admin => Ok(()),
            Role::Teacher if self.teacher_can_restream => Ok(()),
            Role::Teacher => Err(Error::Forbidden(
                "restreaming is for admins on this server".into(),
            )),
            Role::Student => Err(Error::Forbidden("students cannot restream".into())),
        }
    }

    pub async fn start(
        &self,
        room: &Arc<Room>,
        request: StartRestream,
        requester: Requester,
    ) -> Result<EgressStatus> {
        self.check_request(&request, requester)?;
        if let Some(layout) = request.layout {
            return self.start_composed(room, request, layout, requester).await;
        }
        let (video, audio) = inputs(
            room,
            request.video_producer_id,
            request.audio_producer_id,
            requester,
        )?;
        let reservation = self.reserve(room.id())?;
        let router = room.home_router_with(&[Some(video), audio]).await?;
        let mut spec = EgressSpec::new(room.id().to_string(), video, audio, request.destinations);
        spec.video_mode = request.video_mode;
        let egress = self
            .manager
            .start(&router, spec)
            .await
            .map_err(egress_error)?;
        // The manager lists it from now on: count it once.
        drop(reservation);
        tracing::info!(room = %room.id(), egress = %egress.id(), "restream started");
        tokio::spawn(supervise(
            egress.clone(),
            room.hold(),
            Arc::clone(&self.rooms),
            None,
        ));
        Ok(egress.status())
    }

    /// A restream of the teacher's camera and screen in one picture, with
    /// their microphone, following them as they come and go.
    async fn start_composed(
        &self,
        room: &Arc<Room>,
        request: StartRestream,
        layout: Layout,
        requester: Requester,
    ) -> Result<EgressStatus> {
        let sources = room.composed_sources(Voices::Teacher);
        if !follow::has_video(&sources) {
            return Err(Error::Conflict("the teacher is not sending video".into()));
        }
        let producers = follow::producers(&sources);
        check_producers(room, &producers, requester)?;
        let reservation = self.reserve(room.id())?;
        let router = room.home_router_with(&producers).await?;
        let compose = Compose {
            layout,
            inputs: follow::compose_inputs(&sources),
        };
        let spec = EgressSpec::composed(room.id().to_string(), compose, request.destinations);
        let egress = self
            .manager
            .start(&router, spec)
            .await
            .map_err(egress_error)?;
        drop(reservation);
        tracing::info!(room = %room.id(), egress = %egress.id(), ?layout, "restream started");
        let follower = Follower::new(
            "restream",
            egress.id(),
            Voices::Teacher,
            self.teacher_grace,
            sources,
        );
        tokio::spawn(supervise(
            egress.clone(),
            room.hold(),
            Arc::clone(&self.rooms),
            Some(follower),
        ));
        Ok(egress.status())
    }

    /// Stops a restream; stopping one that has ended already is fine.
    pub async fn stop(&self, id: EgressId) -> Result<()> {
        match self.manager.stop(id).await {
            Err(EgressError::Ended) if self.manager.status(id).is_some() => Ok(()),
            result => result.map_err(egress_error),
        }
    }

    pub fn get(&self, id: EgressId) -> Result<EgressStatus> {
        self.manager
            .status(id)
            .ok_or_else(|| Error::not_found("restream", id))
    }

    /// Running restreams first, then recently ended ones; of one room if given.
    pub fn list(&self, room: Option<&RoomId>) -> Vec<EgressStatus> {
        let mut all = self.manager.list();
        if let Some(room) = room {
            all.retain(|s| s.label == room.as_str());
        }
        all
    }

    /// Changes a running composed restream's layout live.
    pub async fn set_layout(&self, id: EgressId, layout: Layout) -> Result<EgressStatus> {
        let egress = self
            .manager
            .get(id)
            .ok_or_else(|| Error::not_found("running restream", id))?;
        egress.set_layout(layout).await.map_err(egress_error)?;
        tracing::info!(egress = %id, ?layout, "restream layout changed");
        Ok(egress.status())
    }

    pub async fn add_destination(
        &self,
        id: EgressId,
        destination: DestinationSpec,
    ) -> Result<DestinationId> {
        let egress = self
            .manager
            .get(id)
            .ok_or_else(|| Error::not_found("running restream", id))?;
        if egress.status().destinations.len() >= self.max_destinations {
            return Err(self.too_many_destinations());
        }
        egress
            .add_destination(destination)
            .await
            .map_err(egress_error)
    }

    pub async fn remove_destination(&self, id: EgressId, destination: DestinationId) -> Result<()> {
        let egress = self
            .manager
            .get(id)
            .ok_or_else(|| Error::not_found("running restream", id))?;
        egress
            .remove_destination(destination)
            .await
            .map_err(egress_error)
    }

    pub async fn stop_all(&self) {
        self.manager.stop_all().await;
    }

    /// What a requester may ask for, before anything is looked up.
    fn check_request(&self, request: &StartRestream, requester: Requester) -> Result<()> {
        if request.destinations.len() > self.max_destinations {
            return Err(self.too_many_destinations());
        }
        if request.layout.is_some()
            && (request.video_producer_id.is_some() || request.audio_producer_id.is_some())
        {
            return Err(Error::BadRequest(
                "a layout follows the teacher's camera, screen and microphone: leave out videoProducerId and audioProducerId"
                    .into(),
            ));
        }
        if requester == Requester::Teacher {
            if !self.teacher_custom_urls
                && request
                    .destinations
                    .iter()
                    .any(DestinationSpecExt::is_custom)
            {
                return Err(Error::Forbidden(
                    "custom RTMP URLs are for admins on this server: use YouTube, Twitch or IVS"
                        .into(),
                ));
            }
            if !self.teacher_can_reencode && request.layout.is_some() {
                return Err(Error::Forbidden(
                    "a layout re-encodes, which is for admins on this server (leave out layout to send the camera as it is)"
                        .into(),
                ));
            }
            if !self.teacher_can_reencode && request.video_mode == VideoMode::Reencode {
                return Err(Error::Forbidden(
                    "re-encoding is for admins on this server (videoMode \"auto\" passes H.264 through)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    fn too_many_destinations(&self) -> Error {
        Error::LimitReached(format!(
            "a restream takes at most {} destinations",
            self.max_destinations
        ))
    }

    /// Counts a restream of `room` against the limits, or refuses it.
    fn reserve(&self, room: &RoomId) -> Result<Reservation> {
        let running: Vec<String> = self
            .manager
            .list()
            .into_iter()
            .filter(|s| !s.state.is_final())
            .map(|s| s.label)
            .collect();
        let mut starting = self.starting.lock();
        let in_room = running
            .iter()
            .chain(starting.iter())
            .filter(|l| l.as_str() == room.as_str())
            .count();
        if in_room >= self.max_restreams_per_room {
            return Err(Error::LimitReached(format!(
                "room {room} already has {in_room} restreams running (at most {})",
                self.max_restreams_per_room
            )));
        }
        if running.len() + starting.len() >= self.max_restreams {
            return Err(Error::LimitReached(format!(
                "this server runs at most {} restreams at once",
                self.max_restreams
            )));
        }
        starting.push(room.to_string());
        Ok(Reservation {
            starting: Arc::clone(&self.starting),
            label: room.to_string(),
        })
    }
}

/// The producers an egress of `room` reads: those asked for, else the
/// teacher's camera (else screen) and microphone; checked against what
/// `requester` may take.
pub(crate) fn inputs(
    room: &Room,
    video: Option<ProducerId>,
    audio: Option<ProducerId>,
    requester: Requester,
) -> Result<(ProducerId, Option<ProducerId>)> {
    let (video, audio) = match video {
        Some(video) => (video, audio),
        None => {
            let (video, defaults) = room.restream_defaults();
            let video =
                video.ok_or_else(|| Error::Conflict("the teacher is not sending video".into()))?;
            (video, audio.or(defaults))
        }
    };
    check_producers(room, &[Some(video), audio], requester)?;
    Ok((video, audio))
}

/// Whose producers a requester may restream: a teacher, the room's teachers'
/// only; an admin, the teachers' and admins'. Never a student's.
fn check_producers(
    room: &Room,
    producers: &[Option<ProducerId>],
    requester: Requester,
) -> Result<()> {
    for id in producers.iter().flatten() {
        let owner = room
            .producer_owner_role(*id)
            .ok_or_else(|| Error::not_found("producer", id))?;
        match (owner, requester) {
            (Role::Teacher, _) | (Role::Admin, Requester::Admin) => {}
            (Role::Student, _) => {
                return Err(Error::Forbidden(
                    "a student's microphone cannot be restreamed".into(),
                ));
            }
            _ => {
                return Err(Error::Forbidden(
                    "a teacher restreams the room's teachers' producers only".into(),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn egress_error(error: EgressError) -> Error {
    match error {
        EgressError::NoDestinations
        | EgressError::InvalidDestination { .. }
        | EgressError::WrongKind { .. }
        | EgressError::UnsupportedCodec(_)
        | EgressError::LastDestination => Error::BadRequest(error.to_string()),
        // The same words whatever lies at the address: nothing was connected.
        EgressError::DestinationRefused { .. } => Error::Forbidden(error.to_string()),
        EgressError::ProducerNotFound(id) => Error::not_found("producer", id),
        EgressError::UnknownDestination(id) => Error::not_found("destination", id),
        EgressError::Ended => Error::Conflict(error.to_string()),
        EgressError::Mediasoup(_) => Error::Media(error.to_string()),
        EgressError::RecordingInput | EgressError::NotComposed | EgressError::Composed => {
            Error::Conflict(error.to_string())
        }
        // The server's paths stay in its log.
        EgressError::File { .. } => {
            tracing::error!(%error, "recording file");
            Error::Internal(
                "the recording could not be written on this server (see its log)".into(),
            )
        }
        EgressError::Pipeline(_) | EgressError::MissingElement(_) => {
            Error::Internal(error.to_string())
        }
    }
}

/// Tells the room's staff of every change. A restream of one producer pair
/// whose teacher's video ends is fed the teacher's new producers once they
/// come back (within the grace period; the egress stops by itself after
/// it); a composed one follows the room (`follower`) and ends once the
/// teacher has sent no video for the grace period.
async fn supervise(
    egress: podium_egress::Egress,
    hold: RoomHold,
    rooms: Arc<Rooms>,
    mut follower: Option<Follower>,
) {
    let room = Arc::clone(hold.room());
    let mut events = egress.events();
    let notify = |status: &EgressStatus| {
        room.notify_staff(Notification::RestreamStatus {
            restream: status.clone(),
        });
    };
    notify(&egress.status());
    let mut poll = tokio::time::interval(follow::POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        // Ended before `events` was subscribed, no event would come: the
        // status says so (every later change is an event).
        let status = egress.status();
        if status.state.is_final() {
            notify(&status);
            break;
        }
        let event = tokio::select! {
            event = events.recv() => event,
            _ = poll.tick(), if follower.is_some() => {
                if let Some(follower) = &mut follower
                    && follower.tick(&room, &egress).await == Followed::VideoGone
                {
                    egress.input_ended().await;
                }
                continue;
            }
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        let status = egress.status();
        notify(&status);
        if status.state.is_final() {
            break;
        }
        if let (
            EgressEvent::InputEnded {
                kind: MediaKind::Video,
                ..
            },
            None,
        ) = (event, &follower)
        {
            wait_for_teacher(&egress, &room).await;
        }
    }
    tracing::info!(room = %room.id(), egress = %egress.id(), state = ?egress.status().state, "restream ended");
    drop(hold);
    rooms.release(room.id());
}

async fn wait_for_teacher(egress: &podium_egress::Egress, room: &Room) {
    loop {
        tokio::time::sleep(follow::POLL).await;
        if egress.status().state.is_final() {
            return;
        }
        let (Some(video), audio) = room.restream_defaults() else {
            continue;
        };
        // The room stayed open (held), so the teacher's new producers are on
        // the restream's router, or can be piped there.
        if let Err(error) = room.home_router_with(&[Some(video), audio]).await {
            tracing::debug!(room = %room.id(), %error, "teacher's producers not ready yet");
            continue;
        }
        match egress.replace_input(video, audio).await {
            Ok(()) => {
                tracing::info!(room = %room.id(), egress = %egress.id(), "restream resumed with the teacher's new producers");
                return;
            }
            Err(error) => {
                tracing::debug!(room = %room.id(), %error, "teacher's producers not usable yet");
            }
        }
    }
}
