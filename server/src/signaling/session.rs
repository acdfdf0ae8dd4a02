//! One WebSocket connection: a reader that parses and answers requests in
//! order, and a writer that drains the peer's bounded queue (responses and
//! notifications alike) and says goodbye when the room closes the connection.

use super::protocol::{
    self, CloseReason, Empty, Notification, Request, RequestId, ResponseData, RestreamStarted,
};
use crate::auth::{Claims, Role};
use crate::error::{Error, Result};
use crate::ids::PeerId;
use crate::ids::ToMedia;
use crate::ratelimit::TokenBucket;
use crate::recording::StartRecording;
use crate::restream::{Requester, StartRestream};
use crate::room::{EdgeRequest, Outbox, Outgoing, Room};
use crate::state::{AppState, ConnectionSlot};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, Session};
use futures_util::StreamExt;
use mediasoup::prelude::MediaKind;
use podium_protocol::recording::RecordingStarted;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Frames up to this size are read (and answered `too_large` when over the
/// configured message limit); larger ones end the connection (close 1009).
pub const HARD_FRAME_LIMIT: usize = 1 << 20;
const PING_EVERY: Duration = Duration::from_secs(15);
const SILENT_FOR: Duration = Duration::from_secs(45);

pub async fn run(
    session: Session,
    stream: AggregatedMessageStream,
    app: Arc<AppState>,
    claims: Claims,
    slot: ConnectionSlot,
) {
    let peer_id = PeerId::new();
    let limits = &app.config.limits;
    // Staff see every arrival and departure: a class of hundreds leaving at
    // once must not overflow the teacher's queue, so theirs holds one more
    // notification per possible member (tokio allocates queue slots lazily).
    let queue_len = match claims.role.is_staff() {
        true => limits.peer_queue_len + limits.max_peers_per_room,
        false => limits.peer_queue_len,
    };
    let (outbox, rx, close) = Outbox::new(queue_len);
    let writer = actix_web::rt::spawn(write(session.clone(), rx, Arc::clone(&close)));

    let mut conn = Connection {
        peer_id,
        bucket: TokenBucket::new(
            app.config.limits.ws_requests_per_second,
            app.config.limits.ws_request_burst,
            Instant::now(),
        ),
        app: Arc::clone(&app),
        claims,
        room: None,
        outbox: outbox.clone(),
        _slot: slot,
    };
    app.connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // `conn` leaves its room when dropped, so a panic while handling a
    // request (caught by the runtime: the task ends, unwinding drops `conn`)
    // leaves no peer behind either.
    conn.read(session, stream, &close).await;
    drop(conn);
    drop(outbox);
    let _ = writer.await;
}

async fn write(
    mut session: Session,
    mut rx: mpsc::Receiver<Arc<Outgoing>>,
    close: Arc<crate::room::CloseSignal>,
) {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let reason = loop {
        tokio::select! {
            text = rx.recv() => match text {
                Some(text) => if session.text(&**text.as_text()).await.is_err() { return },
                // Every sender is gone: the peer left the room, perhaps closed by it.
                None => break close.reason(),
            },
            reason = close.closed() => break Some(reason),
            _ = ping.tick() => if session.ping(b"").await.is_err() { return },
        }
    };
    if let Some(reason) = reason {
        // Flush what is queued (the response to `leave`, say) before the goodbye.
        while let Ok(text) = rx.try_recv() {
            if session.text(&**text.as_text()).await.is_err() {
                return;
            }
        }
        let _ = session
            .text(&*Notification::Closed { reason }.to_text())
            .await;
    }
    let _ = session
        .close(Some(actix_ws::CloseReason {
            code: CloseCode::Normal,
            description: reason.map(|r| format!("{r:?}")),
        }))
        .await;
}

struct Connection {
    peer_id: PeerId,
    bucket: TokenBucket,
    app: Arc<AppState>,
    claims: Claims,
    room: Option<Arc<Room>>,
    outbox: Outbox,
    /// Counts this connection against its client address while it lives.
    _slot: ConnectionSlot,
}

impl Drop for Connection {
    /// Every way out of a connection, a panic included, takes its peer out
    /// of the room: no ghost peers.
    fn drop(&mut self) {
        if let Some(room) = self.room.take() {
            room.leave(self.peer_id);
            self.app.rooms.release(room.id());
        }
        self.app
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Connection {
    async fn read(
        &mut self,
        mut session: Session,
        mut stream: AggregatedMessageStream,
        close: &crate::room::CloseSignal,
    ) {
        let mut last_seen = Instant::now();
        let mut check = tokio::time::interval(PING_EVERY);
        let join_deadline = tokio::time::sleep(Duration::from_secs(
            self.app.config.limits.join_timeout_secs,
        ));
        tokio::pin!(join_deadline);
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = close.closed() => return,
                _ = &mut join_deadline, if self.room.is_none() => {
                    tracing::debug!(peer = %self.peer_id, "no join in time; closing");
                    self.outbox.close(CloseReason::JoinTimeout);
                    return;
                }
                _ = check.tick() => {
                    if last_seen.elapsed() > SILENT_FOR {
                        tracing::info!(peer = %self.peer_id, "connection silent; closing");
                        return;
                    }
                    continue;
                }
            };
            last_seen = Instant::now();
            match message {
                Some(Ok(AggregatedMessage::Text(text))) => self.on_text(&text).await,
                Some(Ok(AggregatedMessage::Binary(_))) => self.reply_error(
                    None,
                    &Error::BadRequest("binary messages are not part of the protocol".into()),
                ),
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    let _ = session.pong(&bytes).await;
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(_))) | None => return,
                Some(Err(error)) => {
                    // A dropped connection shows up here too (EOF mid-frame): not worth more than debug.
                    let code = match error {
                        actix_ws::ProtocolError::Overflow => {
                            tracing::info!(peer = %self.peer_id, "frame over the hard limit; closing");
                            CloseCode::Size
                        }
                        _ => {
                            tracing::debug!(peer = %self.peer_id, %error, "websocket ended with an error");
                            CloseCode::Protocol
                        }
                    };
                    let _ = session.clone().close(Some(code.into())).await;
                    return;
                }
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        let max = self.app.config.limits.ws_max_message_bytes;
        if text.len() > max {
            return self.reply_error(
                None,
                &Error::TooLarge {
                    size: text.len(),
                    max,
                },
            );
        }
        if !self.bucket.take(Instant::now()) {
            let id = protocol::parse(text).map_or_else(|(id, _)| id, |(id, _)| Some(id));
            let per_second = self.app.config.limits.ws_requests_per_second;
            return self.reply_error(id, &Error::RateLimited { per_second });
        }
        let (id, request) = match protocol::parse(text) {
            Ok(parsed) => parsed,
            Err((id, error)) => return self.reply_error(id, &error),
        };
        let method = request.method();
        let leaving = matches!(request, Request::Leave {});
        let result = self.handle(request).await;
        if let Err(error) = &result {
            tracing::debug!(peer = %self.peer_id, method, code = ?error.code(), %error, "request refused");
        }
        self.outbox
            .send(&Outgoing::text(protocol::response_text(id, &result)));
        if leaving && result.is_ok() {
            self.outbox.close(CloseReason::Left);
        }
    }

    fn reply_error(&self, id: Option<RequestId>, error: &Error) {
        let text = protocol::error_text(id, error);
        self.outbox.send(&Outgoing::text(text));
    }

    async fn handle(&mut self, request: Request) -> Result<ResponseData> {
        let peer = self.peer_id;
        let room = match (&self.room, &request) {
            (None, Request::Join {}) => return self.join().await,
            (Some(_), Request::Join {}) => return Err(Error::Conflict("already joined".into())),
            (None, _) => return Err(Error::Conflict("join first".into())),
            (Some(room), _) => Arc::clone(room),
        };
        if self.app.panic_next_request.load(Ordering::Relaxed)
            && self.app.panic_next_request.swap(false, Ordering::Relaxed)
        {
            panic!("test hook: a bug in a request handler");
        }
        // A room piped from another node: its home decides the room's gestures.
        if let Some(cascade) = self.app.cascade.get()
            && let Some(gesture) = edge_request(&request)
            && let Some(result) = cascade.forward(&room, peer, gesture).await
        {
            return result.map(done);
        }
        match request {
            Request::Join {} => unreachable!("handled above"),
            Request::SetRtpCapabilities { rtp_capabilities } => {
                room.set_rtp_capabilities(peer, rtp_capabilities).map(done)
            }
            Request::CreateTransport { direction } => room
                .create_transport(peer, direction)
                .await
                .map(ResponseData::TransportCreated),
            Request::ConnectTransport {
                transport_id,
                dtls_parameters,
            } => room
                .connect_transport(peer, transport_id.to_media(), dtls_parameters)
                .await
                .map(done),
            Request::RestartIce { transport_id } => room
                .restart_ice(peer, transport_id.to_media())
                .await
                .map(ResponseData::IceRestarted),
            Request::Produce {
                transport_id,
                kind,
                rtp_parameters,
                source,
            } => {
                let produced = room
                    .produce(peer, transport_id.to_media(), kind, rtp_parameters, source)
                    .await?;
                let teacher_video =
                    kind == MediaKind::Video && room.peer_role(self.peer_id) == Some(Role::Teacher);
                if teacher_video {
                    // Off the request path: the answer does not wait for the encoder.
                    let recordings = Arc::clone(&self.app.recordings);
                    let room = Arc::clone(&room);
                    tokio::spawn(async move { recordings.teacher_live(&room).await });
                }
                Ok(ResponseData::Produced(produced))
            }
            Request::CloseProducer { producer_id } => {
                room.close_producer(peer, producer_id.to_media()).map(done)
            }
            Request::PauseProducer { producer_id } => room
                .pause_producer(peer, producer_id.to_media(), true)
                .await
                .map(done),
            Request::ResumeProducer { producer_id } => room
                .pause_producer(peer, producer_id.to_media(), false)
                .await
                .map(done),
            Request::Consume { producer_id } => room
                .consume(peer, producer_id.to_media())
                .await
                .map(ResponseData::Consumed),
            Request::ResumeConsumer { consumer_id } => room
                .resume_consumer(peer, consumer_id.to_media())
                .await
                .map(done),
            Request::PauseConsumer { consumer_id } => room
                .pause_consumer(peer, consumer_id.to_media())
                .await
                .map(done),
            Request::SetConsumerPreferredLayers {
                consumer_id,
                spatial_layer,
                temporal_layer,
            } => room
                .set_preferred_layers(peer, consumer_id.to_media(), spatial_layer, temporal_layer)
                .await
                .map(done),
            Request::Chat { text } => room.chat(peer, text).map(done),
            Request::RaiseHand {} => room.set_hand(peer, None, true).map(done),
            Request::LowerHand { peer_id } => room.set_hand(peer, peer_id, false).map(done),
            Request::AllowSpeak { peer_id, allowed } => {
                room.allow_speak(peer, peer_id, allowed).map(done)
            }
            Request::Kick { peer_id } => room.kick(peer, peer_id).map(done),
            Request::StartRestream { .. }
            | Request::StopRestream { .. }
            | Request::StartRecording { .. }
            | Request::StopRecording {} => egress_request(&self.app, &room, peer, request).await,
            Request::Leave {} => Ok(Empty {}.into()),
        }
    }

    async fn join(&mut self) -> Result<ResponseData> {
        let cascade = self.app.cascade.get().cloned();
        let part = match &cascade {
            Some(cascade) => Some(cascade.admit(&self.claims.room, self.claims.role).await?),
            None => None,
        };
        // A room whose last peer just left is closed; the registry then makes a new one.
        for _ in 0..3 {
            let room = self.app.rooms.get_or_create(&self.claims.room);
            // Set before the join: should it panic once the peer is in,
            // dropping the connection still takes the peer out.
            self.room = Some(Arc::clone(&room));
            match room
                .join(self.peer_id, &self.claims, self.outbox.clone())
                .await
            {
                Err(Error::Conflict(message)) if room.is_closed() => {
                    tracing::debug!(%message, "room closed during join; retrying");
                    self.room = None;
                    self.app.rooms.release(room.id());
                }
                Err(error) => {
                    self.room = None;
                    self.app.rooms.release(room.id());
                    return Err(error);
                }
                Ok(mut joined) => {
                    if let (Some(cascade), Some(part)) = (&cascade, part) {
                        cascade.joined(&room, part);
                    }
                    joined.can_record = self.app.recordings.may_record(joined.role);
                    return Ok(ResponseData::Joined(joined));
                }
            }
        }
        Err(Error::Internal("the room kept closing; join again".into()))
    }
}

/// Restreams and recordings asked over the WebSocket: here, or, for a room
/// piped from another node, at its home (`http::internal`), which runs them.
pub(crate) async fn egress_request(
    app: &AppState,
    room: &Arc<Room>,
    peer: PeerId,
    request: Request,
) -> Result<ResponseData> {
    if let Some(cascade) = app.cascade.get()
        && let Some(answer) = cascade.forward_egress(room, peer, &request).await
    {
        return answer;
    }
    match request {
        Request::StartRestream {
            video_producer_id,
            audio_producer_id,
            destinations,
            video_mode,
            layout,
        } => {
            may_restream(app, room, peer)?;
            let request = StartRestream {
                video_producer_id: video_producer_id.map(ToMedia::to_media),
                audio_producer_id: audio_producer_id.map(ToMedia::to_media),
                destinations,
                video_mode,
                layout,
            };
            let requester = Requester::peer(room, peer)?;
            let restream = app.restreams.start(room, request, requester).await?;
            Ok(ResponseData::RestreamStarted(RestreamStarted { restream }))
        }
        Request::StopRestream { restream_id } => {
            may_restream(app, room, peer)?;
            if app.restreams.get(restream_id)?.label != room.id().as_str() {
                return Err(Error::not_found("restream", restream_id));
            }
            app.restreams.stop(restream_id).await?;
            Ok(Empty {}.into())
        }
        Request::StartRecording { layout } => {
            may_record(app, room, peer)?;
            let request = StartRecording { layout };
            let requester = Requester::peer(room, peer)?;
            let recording = app.recordings.start(room, request, requester).await?;
            Ok(ResponseData::RecordingStarted(RecordingStarted {
                recording,
            }))
        }
        Request::StopRecording {} => {
            may_record(app, room, peer)?;
            app.recordings.stop_room(room.id()).await?;
            Ok(Empty {}.into())
        }
        _ => Err(Error::BadRequest(
            "not a restream or recording request".into(),
        )),
    }
}

fn may_record(app: &AppState, room: &Room, peer: PeerId) -> Result<()> {
    let role = room
        .peer_role(peer)
        .ok_or_else(|| Error::not_found("peer", peer))?;
    app.recordings.check_role(role)
}

fn may_restream(app: &AppState, room: &Room, peer: PeerId) -> Result<()> {
    let role = room
        .peer_role(peer)
        .ok_or_else(|| Error::not_found("peer", peer))?;
    app.restreams.check_role(role)
}

/// A room-level gesture, as the room's home carries it out for an edge.
fn edge_request(request: &Request) -> Option<EdgeRequest> {
    Some(match request {
        Request::Chat { text } => EdgeRequest::Chat { text: text.clone() },
        Request::RaiseHand {} => EdgeRequest::SetHand {
            target: None,
            raised: true,
        },
        Request::LowerHand { peer_id } => EdgeRequest::SetHand {
            target: *peer_id,
            raised: false,
        },
        Request::AllowSpeak { peer_id, allowed } => EdgeRequest::AllowSpeak {
            target: *peer_id,
            allowed: *allowed,
        },
        Request::Kick { peer_id } => EdgeRequest::Kick { target: *peer_id },
        _ => return None,
    })
}

/// The answer of a request that returns nothing: `{}`.
fn done((): ()) -> ResponseData {
    Empty {}.into()
}
