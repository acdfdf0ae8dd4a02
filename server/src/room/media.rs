//! What peers do in a room: transports, producers, consumers, and the
//! classroom's own gestures (chat, hands, speaking, kicks). Each method checks
//! the caller's role first and changes nothing when it refuses.

use super::{ProducerInfo, Queue, Room, RoomEvent, broadcast};
use crate::auth::{Role, unix_now};
use crate::error::{Error, Result};
use crate::ids::{PeerId, ToWire};
use crate::ratelimit::TokenBucket;
use crate::turn;
use mediasoup::consumer::ConsumerType;
use mediasoup::prelude::*;
use podium_protocol::signaling::{
    self as wire, ChatFrom, CloseReason, Direction, Notification, Source,
};
use std::sync::Arc;

/// Highest bitrate a browser may send on one transport (camera + screen).
const MAX_INCOMING_BITRATE: u64 = 6_000_000;
/// Coalesces the keyframe requests of many consumers (a join storm) into one.
const KEY_FRAME_REQUEST_DELAY_MS: u32 = 500;

impl Room {
    /// Where a new transport listens: the WebRTC server (one UDP and one TCP
    /// port) of the worker under `router`, or, with `rtc.webrtc_server =
    /// false`, its own ports from `rtc.port_min..=rtc.port_max`.
    fn transport_options(&self, slot: usize, router: &Router) -> Result<WebRtcTransportOptions> {
        let rtc = &self.config().rtc;
        if rtc.webrtc_server {
            let server = self
                .ctx
                .pool
                .webrtc_server(slot)
                .filter(|server| server.worker().id() == router.worker().id())
                .ok_or_else(|| {
                    Error::Internal("the worker of this peer restarted; reconnect".into())
                })?;
            return Ok(WebRtcTransportOptions::new_with_server(server));
        }
        let info = |protocol| ListenInfo {
            protocol,
            ip: self.config().listen_ip(),
            announced_address: self.config().announced_ip().map(|ip| ip.to_string()),
            expose_internal_ip: false,
            port: None,
            port_range: Some(rtc.port_min..=rtc.port_max),
            flags: None,
            send_buffer_size: (rtc.udp_send_buffer > 0).then_some(rtc.udp_send_buffer),
            recv_buffer_size: (rtc.udp_recv_buffer > 0).then_some(rtc.udp_recv_buffer),
        };
        let infos =
            WebRtcTransportListenInfos::new(info(Protocol::Udp)).insert(info(Protocol::Tcp));
        Ok(WebRtcTransportOptions::new(infos))
    }

    pub fn set_rtp_capabilities(&self, peer_id: PeerId, caps: RtpCapabilities) -> Result<()> {
        let mut state = self.state.lock();
        let peer = state.peer_mut(peer_id)?;
        peer.rtp_capabilities = Some(caps);
        Ok(())
    }

    pub async fn create_transport(
        &self,
        peer_id: PeerId,
        direction: Direction,
    ) -> Result<wire::TransportCreated> {
        let slot = {
            let state = self.state.lock();
            let peer = state.peer(peer_id)?;
            if direction == Direction::Send {
                peer.may_send(None)?;
            }
            let existing = match direction {
                Direction::Send => &peer.send_transport,
                Direction::Recv => &peer.recv_transport,
            };
            if existing.is_some() {
                return Err(Error::Conflict(
                    format!("a {direction:?} transport exists already").to_lowercase(),
                ));
            }
            peer.slot
        };
        let router = self.router(slot)?;
        let mut options = self.transport_options(slot, &router)?;
        options.enable_udp = true;
        options.enable_tcp = true;
        options.prefer_udp = true;
        options.initial_available_outgoing_bitrate =
            u64::from(self.config().rtc.initial_outgoing_bitrate);
        let transport = router.create_webrtc_transport(options).await?;
        if direction == Direction::Send {
            transport
                .set_max_incoming_bitrate(MAX_INCOMING_BITRATE)
                .await?;
        }
        let data = wire::TransportCreated {
            id: transport.id().to_wire(),
            ice_parameters: transport.ice_parameters().clone(),
            ice_candidates: transport.ice_candidates().clone(),
            dtls_parameters: transport.dtls_parameters(),
            ice_servers: turn::ice_servers(&self.config().turn, peer_id, unix_now()),
            ice_transport_policy: turn::ice_transport_policy(&self.config().turn),
        };
        let mut state = self.state.lock();
        let peer = state.peer_mut(peer_id)?;
        let place = match direction {
            Direction::Send => &mut peer.send_transport,
            Direction::Recv => &mut peer.recv_transport,
        };
        if place.is_some() {
            return Err(Error::Conflict(
                "a transport of this direction exists already".into(),
            ));
        }
        *place = Some(transport);
        Ok(data)
    }

    fn own_transport(&self, peer_id: PeerId, transport_id: TransportId) -> Result<WebRtcTransport> {
        let state = self.state.lock();
        let peer = state.peer(peer_id)?;
        peer.transport(transport_id)
            .cloned()
            .ok_or_else(|| Error::not_found("transport", transport_id))
    }

    pub async fn connect_transport(
        &self,
        peer_id: PeerId,
        transport_id: TransportId,
        dtls_parameters: DtlsParameters,
    ) -> Result<()> {
        let transport = self.own_transport(peer_id, transport_id)?;
        transport
            .connect(WebRtcTransportRemoteParameters { dtls_parameters })
            .await
            .map_err(|e| Error::Media(format!("connectTransport: {e}")))?;
        Ok(())
    }

    pub async fn restart_ice(
        &self,
        peer_id: PeerId,
        transport_id: TransportId,
    ) -> Result<wire::IceRestarted> {
        let transport = self.own_transport(peer_id, transport_id)?;
        let ice_parameters = transport.restart_ice().await?;
        Ok(wire::IceRestarted { ice_parameters })
    }

    pub async fn produce(
        self: &Arc<Self>,
        peer_id: PeerId,
        transport_id: TransportId,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        source: Source,
    ) -> Result<wire::Produced> {
        let (transport, slot) = {
            let state = self.state.lock();
            let peer = state.peer(peer_id)?;
            peer.may_send(Some(source))?;
            if source.kind() != kind {
                return Err(Error::BadRequest(
                    format!("source {source:?} does not carry {kind:?}").to_lowercase(),
                ));
            }
            if peer.producers.values().any(|(_, s)| *s == source) {
                return Err(Error::Conflict(
                    format!("already producing {source:?}").to_lowercase(),
                ));
            }
            let transport = peer
                .send_transport
                .as_ref()
                .filter(|t| t.id() == transport_id)
                .cloned()
                .ok_or_else(|| Error::not_found("send transport", transport_id))?;
            (transport, peer.slot)
        };
        let mut rtp_parameters = rtp_parameters;
        check_rtp_parameters(kind, &rtp_parameters)?;
        // Chromium 156 sends `cname: ""` with RID simulcast; mediasoup would adopt
        // it for the whole transport and then refuse every producer on it.
        if rtp_parameters.rtcp.cname.as_deref() == Some("") {
            rtp_parameters.rtcp.cname = None;
        }
        let mut options = ProducerOptions::new(kind, rtp_parameters);
        if kind == MediaKind::Video {
            options.key_frame_request_delay = KEY_FRAME_REQUEST_DELAY_MS;
        }
        let producer = transport.produce(options).await?;
        let info = ProducerInfo {
            id: producer.id(),
            peer_id,
            kind,
            source,
            paused: producer.paused(),
        };
        {
            let mut state = self.state.lock();
            let peer = state.peer_mut(peer_id)?;
            // The permission may have been withdrawn while the worker answered.
            peer.may_send(Some(source))?;
            peer.producers
                .insert(producer.id(), (producer.clone(), source));
            state.announce_producer(&info, slot);
            super::cascade::emit(&state, super::EdgeEvent::Produced(producer.id()));
        }
        tracing::info!(room = %self.id, peer = %peer_id, producer = %producer.id(), ?source, "producing");
        if kind == MediaKind::Audio
            && let Err(error) = self.observe(producer.id(), slot).await
        {
            tracing::warn!(room = %self.id, %error, "speaker detection unavailable for this producer");
        }
        Ok(wire::Produced {
            producer_id: producer.id().to_wire(),
        })
    }

    /// Pipes `producer_id` (on `from`) to the router on `to`, once.
    pub(super) async fn ensure_pipe(
        &self,
        producer_id: ProducerId,
        from: usize,
        to: usize,
    ) -> Result<()> {
        if from == to || self.state.lock().pipes.contains_key(&(to, producer_id)) {
            return Ok(());
        }
        let _setup = self.setup.lock().await;
        if self.state.lock().pipes.contains_key(&(to, producer_id)) {
            return Ok(());
        }
        let (source, target) = (self.router(from)?, self.router(to)?);
        let pair = source
            .pipe_producer_to_router(producer_id, PipeToRouterOptions::new(target))
            .await?;
        let mut state = self.state.lock();
        if !state.producers.contains_key(&producer_id) {
            return Err(Error::not_found("producer", producer_id)); // closed meanwhile; `pair` drops
        }
        state.pipes.insert((to, producer_id), pair);
        tracing::debug!(room = %self.id, producer = %producer_id, from, to, "producer piped");
        Ok(())
    }

    /// Adds an audio producer to the home router's speaker observer.
    pub(super) async fn observe(&self, producer_id: ProducerId, slot: usize) -> Result<()> {
        let home = self
            .state
            .lock()
            .home
            .ok_or_else(|| Error::Internal("room has no home".into()))?;
        self.ensure_pipe(producer_id, slot, home).await?;
        let observer = self.state.lock().observer.clone();
        if let Some(observer) = observer {
            observer
                .add_producer(RtpObserverAddProducerOptions::new(producer_id))
                .await?;
        }
        Ok(())
    }

    pub async fn consume(
        &self,
        peer_id: PeerId,
        producer_id: ProducerId,
    ) -> Result<wire::Consumed> {
        let (transport, caps, slot, entry) = {
            let state = self.state.lock();
            let peer = state.peer(peer_id)?;
            let entry = state
                .producers
                .get(&producer_id)
                .cloned()
                .ok_or_else(|| Error::not_found("producer", producer_id))?;
            if entry.info.peer_id == peer_id {
                return Err(Error::BadRequest(
                    "a peer does not consume its own producer".into(),
                ));
            }
            if peer
                .consumers
                .values()
                .any(|(c, _)| c.producer_id() == producer_id)
            {
                return Err(Error::Conflict("already consuming this producer".into()));
            }
            let transport = peer
                .recv_transport
                .clone()
                .ok_or_else(|| Error::Conflict("create a recv transport first".into()))?;
            let caps = peer
                .rtp_capabilities
                .clone()
                .ok_or_else(|| Error::Conflict("call setRtpCapabilities first".into()))?;
            (transport, caps, peer.slot, entry)
        };
        self.ensure_pipe(producer_id, entry.slot, slot).await?;
        let router = self.router(slot)?;
        if !router.can_consume(&producer_id, &caps) {
            return Err(Error::Media(
                "the browser cannot decode this producer's codec".into(),
            ));
        }
        let mut options = ConsumerOptions::new(producer_id, caps);
        options.paused = true;
        let consumer = transport.consume(options).await?;

        let events = self.events.clone();
        let consumer_id = consumer.id();
        let mut handlers = vec![consumer.on_producer_close(move || {
            let _ = events.send(RoomEvent::ConsumerClosed {
                peer_id,
                consumer_id,
                producer_id,
            });
        })];
        if consumer.r#type() == ConsumerType::Simulcast {
            let events = self.events.clone();
            handlers.push(consumer.on_layers_change(move |layers| {
                let _ = events.send(RoomEvent::LayersChanged {
                    peer_id,
                    consumer_id,
                    layers: *layers,
                });
            }));
        }
        let data = wire::Consumed {
            consumer_id: consumer_id.to_wire(),
            producer_id: producer_id.to_wire(),
            peer_id: entry.info.peer_id,
            kind: consumer.kind(),
            source: entry.info.source,
            rtp_parameters: consumer.rtp_parameters().clone(),
            consumer_type: match consumer.r#type() {
                ConsumerType::Simulcast => wire::ConsumerType::Simulcast,
                ConsumerType::Svc => wire::ConsumerType::Svc,
                _ => wire::ConsumerType::Simple,
            },
            producer_paused: consumer.producer_paused(),
        };
        let mut state = self.state.lock();
        let Some(peer) = state.peers.get_mut(&peer_id) else {
            return Err(Error::not_found("peer", peer_id));
        };
        peer.consumers.insert(consumer_id, (consumer, handlers));
        Ok(data)
    }

    fn own_consumer(&self, peer_id: PeerId, consumer_id: ConsumerId) -> Result<Consumer> {
        let state = self.state.lock();
        let peer = state.peer(peer_id)?;
        peer.consumers
            .get(&consumer_id)
            .map(|(c, _)| c.clone())
            .ok_or_else(|| Error::not_found("consumer", consumer_id))
    }

    pub async fn resume_consumer(&self, peer_id: PeerId, consumer_id: ConsumerId) -> Result<()> {
        let consumer = self.own_consumer(peer_id, consumer_id)?;
        consumer.resume().await?;
        if consumer.kind() == MediaKind::Video {
            // The producer's keyframe requests are coalesced (key_frame_request_delay).
            consumer.request_key_frame().await?;
        }
        Ok(())
    }

    pub async fn pause_consumer(&self, peer_id: PeerId, consumer_id: ConsumerId) -> Result<()> {
        self.own_consumer(peer_id, consumer_id)?.pause().await?;
        Ok(())
    }

    pub async fn set_preferred_layers(
        &self,
        peer_id: PeerId,
        consumer_id: ConsumerId,
        spatial_layer: u8,
        temporal_layer: Option<u8>,
    ) -> Result<()> {
        let consumer = self.own_consumer(peer_id, consumer_id)?;
        if consumer.r#type() != ConsumerType::Simulcast {
            return Err(Error::BadRequest(
                "only simulcast consumers have layers".into(),
            ));
        }
        let mode = consumer
            .rtp_parameters()
            .encodings
            .first()
            .map(|e| e.scalability_mode.clone())
            .unwrap_or_default();
        let (spatial, temporal) = (mode.spatial_layers().get(), mode.temporal_layers().get());
        if spatial_layer >= spatial || temporal_layer.is_some_and(|t| t >= temporal) {
            return Err(Error::BadRequest(format!(
                "layers out of range: spatial 0..{spatial}, temporal 0..{temporal}"
            )));
        }
        consumer
            .set_preferred_layers(ConsumerLayers {
                spatial_layer,
                temporal_layer,
            })
            .await?;
        Ok(())
    }

    /// The producer, if the caller may act on it: its owner, or staff.
    fn producer_for(&self, peer_id: PeerId, producer_id: ProducerId) -> Result<Producer> {
        let state = self.state.lock();
        let caller = state.peer(peer_id)?;
        let entry = state
            .producers
            .get(&producer_id)
            .ok_or_else(|| Error::not_found("producer", producer_id))?;
        if entry.info.peer_id != peer_id && !caller.info.role.is_staff() {
            return Err(Error::Forbidden(
                "only its owner or the teacher acts on a producer".into(),
            ));
        }
        state
            .peers
            .get(&entry.info.peer_id)
            .and_then(|owner| owner.producers.get(&producer_id))
            .map(|(p, _)| p.clone())
            .ok_or_else(|| Error::not_found("producer", producer_id))
    }

    pub async fn pause_producer(
        &self,
        peer_id: PeerId,
        producer_id: ProducerId,
        pause: bool,
    ) -> Result<()> {
        let producer = self.producer_for(peer_id, producer_id)?;
        if pause {
            producer.pause().await?;
        } else {
            producer.resume().await?;
        }
        let mut state = self.state.lock();
        if let Some(entry) = state.producers.get_mut(&producer_id) {
            entry.info.paused = pause;
        }
        let owner = state.producers.get(&producer_id).map(|e| e.info.peer_id);
        let text = if pause {
            Notification::ProducerPaused {
                producer_id: producer_id.to_wire(),
            }
        } else {
            Notification::ProducerResumed {
                producer_id: producer_id.to_wire(),
            }
        }
        .queued();
        broadcast(&state, &text, |p| Some(p.info.id) != owner);
        Ok(())
    }

    pub fn close_producer(&self, peer_id: PeerId, producer_id: ProducerId) -> Result<()> {
        // Checks the caller may close it; the handle is a clone, dropping it closes nothing.
        let _checked = self.producer_for(peer_id, producer_id)?;
        self.remove_producer(producer_id);
        Ok(())
    }

    /// Closes a producer (and its pipes) and tells the room.
    pub(super) fn remove_producer(&self, producer_id: ProducerId) {
        let (producer, pipes) = {
            let mut state = self.state.lock();
            let Some(owner) = state.producers.get(&producer_id).map(|e| e.info.peer_id) else {
                return;
            };
            let producer = state
                .peers
                .get_mut(&owner)
                .and_then(|owner| owner.producers.remove(&producer_id));
            let pipes = state.forget_producer(producer_id);
            super::cascade::emit(&state, super::EdgeEvent::ProducerClosed(producer_id));
            (producer, pipes)
        };
        drop(pipes);
        drop(producer);
        tracing::info!(room = %self.id, producer = %producer_id, "producer closed");
    }

    pub fn chat(&self, peer_id: PeerId, text: String) -> Result<()> {
        let limits = &self.config().limits;
        let max = limits.max_chat_bytes;
        if text.trim().is_empty() || text.len() > max {
            return Err(Error::BadRequest(format!(
                "chat messages are 1 to {max} bytes"
            )));
        }
        check_chat_text(&text)?;
        let now = std::time::Instant::now();
        let mut state = self.state.lock();
        let peer = state.peer(peer_id)?;
        let from = ChatFrom {
            peer_id,
            name: peer.info.name.clone(),
            role: peer.info.role,
        };
        let (user, staff) = (peer.user().to_owned(), peer.info.role.is_staff());
        // One budget per user (however many connections it opened), one per
        // room for its students (however many): a crowd cannot flood every
        // queue, nor silence the teacher.
        let per_minute = limits.chat_messages_per_minute;
        let bytes = text.len() as u32;
        let room_rate = limits.chat_room_bytes_per_second;
        let chat = &mut state.chat;
        let room_budget = chat
            .room
            .get_or_insert_with(|| TokenBucket::new(room_rate, room_rate.saturating_mul(10), now));
        if !staff && !room_budget.take_n(bytes, now) {
            return Err(Error::LimitReached(
                "the room's chat is busy: try again in a few seconds".into(),
            ));
        }
        let user_budget = chat
            .users
            .entry(user)
            .or_insert_with(|| TokenBucket::per_minute(per_minute, per_minute.min(5), now));
        if !user_budget.take(now) {
            if !staff {
                room_budget.give_back(bytes);
            }
            return Err(Error::ChatRateLimited { per_minute });
        }
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let text = Notification::Chat { from, text, at }.queued();
        broadcast(&state, &text, |_| true);
        Ok(())
    }

    pub fn set_hand(&self, caller: PeerId, target: Option<PeerId>, raised: bool) -> Result<()> {
        let mut state = self.state.lock();
        let caller_role = state.peer(caller)?.info.role;
        let target = target.unwrap_or(caller);
        if target != caller && !caller_role.is_staff() {
            return Err(Error::Forbidden(
                "only the teacher lowers another peer's hand".into(),
            ));
        }
        let peer = state.peer_mut(target)?;
        if raised && peer.info.role != Role::Student {
            return Err(Error::BadRequest("only students raise their hand".into()));
        }
        if peer.info.hand_raised == raised {
            return Ok(());
        }
        peer.info.hand_raised = raised;
        let text = Notification::HandRaised {
            peer_id: target,
            raised,
        }
        .queued();
        broadcast(&state, &text, |p| {
            p.info.role.is_staff() || p.info.id == target
        });
        Ok(())
    }

    pub fn allow_speak(&self, caller: PeerId, target: PeerId, allowed: bool) -> Result<()> {
        let revoked: Vec<ProducerId> = {
            let mut state = self.state.lock();
            let caller_role = state.peer(caller)?.info.role;
            if !caller_role.is_staff() {
                return Err(Error::Forbidden(
                    "only the teacher lets students speak".into(),
                ));
            }
            let peer = state.peer_mut(target)?;
            if peer.info.role != Role::Student {
                return Err(Error::BadRequest(
                    "only students need permission to speak".into(),
                ));
            }
            if peer.info.can_speak == allowed {
                return Ok(());
            }
            peer.info.can_speak = allowed;
            if allowed {
                peer.info.hand_raised = false;
            }
            let revoked = if allowed {
                vec![]
            } else {
                peer.producers.keys().copied().collect()
            };
            let (staff, students) = (
                Notification::SpeakPermission {
                    peer: peer.info(Role::Admin),
                }
                .queued(),
                Notification::SpeakPermission {
                    peer: peer.info(Role::Student),
                }
                .queued(),
            );
            broadcast(&state, &staff, |p| p.info.role.is_staff());
            broadcast(&state, &students, |p| !p.info.role.is_staff());
            revoked
        };
        for producer_id in revoked {
            self.remove_producer(producer_id);
        }
        tracing::info!(room = %self.id, peer = %target, allowed, "speak permission changed");
        Ok(())
    }

    pub fn kick(&self, caller: PeerId, target: PeerId) -> Result<()> {
        {
            let state = self.state.lock();
            let caller_role = state.peer(caller)?.info.role;
            let target_role = state.peer(target)?.info.role;
            let allowed = match caller_role {
                Role::Admin => true,
                Role::Teacher => target_role == Role::Student,
                Role::Student => false,
            };
            if !allowed || caller == target {
                return Err(Error::Forbidden("not allowed to remove this peer".into()));
            }
        }
        tracing::info!(room = %self.id, peer = %target, by = %caller, "peer kicked");
        self.kick_out(target);
        Ok(())
    }

    /// Admin API: remove a peer, whoever it is.
    pub fn kick_by_admin(&self, target: PeerId) -> Result<()> {
        if !self.state.lock().peers.contains_key(&target) {
            return Err(Error::not_found("peer", target));
        }
        tracing::info!(room = %self.id, peer = %target, "peer kicked by the admin API");
        self.kick_out(target);
        Ok(())
    }

    /// Removes a kicked peer and bans its user from the room until its token
    /// expires (a kicked link does not work again; an admin can lift it).
    fn kick_out(&self, target: PeerId) {
        let ban = self
            .state
            .lock()
            .peers
            .get(&target)
            .map(|p| (p.user().to_owned(), p.token_exp));
        if let Some((user, until)) = ban {
            self.ctx.bans.ban(&self.id, user, until);
        }
        self.remove(target, CloseReason::Kicked);
    }
}

/// Simulcast encodings a video producer may have (browsers send 3).
const MAX_ENCODINGS: usize = 3;

/// Refuses producer parameters a well-behaved browser never sends, before
/// mediasoup sees them (some would pass `produce` and break every `consume`).
pub(crate) fn check_rtp_parameters(kind: MediaKind, parameters: &RtpParameters) -> Result<()> {
    let bad = |why: String| Err(Error::BadRequest(format!("rtpParameters: {why}")));
    let max = match kind {
        MediaKind::Audio => 1,
        MediaKind::Video => MAX_ENCODINGS,
    };
    let encodings = &parameters.encodings;
    if encodings.is_empty() || encodings.len() > max {
        return bad(format!(
            "{kind:?} takes 1 to {max} encodings, not {}",
            encodings.len()
        )
        .to_lowercase());
    }
    let mut rids = std::collections::HashSet::new();
    let mut ssrcs = std::collections::HashSet::new();
    for encoding in encodings {
        if let Some(rid) = &encoding.rid {
            let valid = (1..=16).contains(&rid.len())
                && rid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid || !rids.insert(rid.as_str()) {
                return bad(format!("rid {rid:?} is invalid or repeated"));
            }
        }
        if let Some(ssrc) = encoding.ssrc
            && !ssrcs.insert(ssrc)
        {
            return bad(format!("ssrc {ssrc} is repeated"));
        }
        let mode = &encoding.scalability_mode;
        let spatial = mode.spatial_layers().get();
        let temporal = mode.temporal_layers().get();
        if spatial > MAX_ENCODINGS as u8 || temporal > 3 {
            return bad("scalabilityMode has more than 3 spatial or temporal layers".into());
        }
        if encodings.len() > 1 && spatial > 1 {
            return bad("simulcast encodings take no spatial layers of their own".into());
        }
    }
    if encodings.len() > 1 && rids.len() != encodings.len() && ssrcs.len() != encodings.len() {
        return bad("simulcast encodings need a rid or an ssrc each".into());
    }
    let known = ["audio/opus", "video/vp8", "video/h264", "video/rtx"];
    if parameters.codecs.is_empty() || parameters.codecs.len() > 8 {
        return bad("1 to 8 codecs".into());
    }
    for codec in &parameters.codecs {
        let mime = codec.mime_type().as_str().to_lowercase();
        if !known.contains(&mime.as_str())
            || !mime.starts_with(&format!("{kind:?}/").to_lowercase())
        {
            return bad(
                format!("codec {mime} is not one this server routes for {kind:?}").to_lowercase(),
            );
        }
    }
    Ok(())
}

/// Chat text: no control characters (but new lines and tabs), no bidi
/// overrides or invisible characters (a student must not pass as "Teacher").
fn check_chat_text(text: &str) -> Result<()> {
    if text
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || crate::auth::is_deceptive(c))
    {
        return Err(Error::BadRequest(
            "chat text has control, bidi or invisible characters".into(),
        ));
    }
    Ok(())
}
