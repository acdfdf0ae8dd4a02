//! A peer: one connection's place in a room. It owns its transports,
//! producers and consumers; dropping it closes them all in the worker.

use crate::auth::{Claims, Role};
use crate::error::{Error, Result};
use crate::ids::PeerId;
use crate::workers::Seat;
use event_listener_primitives::HandlerId;
use mediasoup::prelude::*;
use parking_lot::Mutex;
use podium_protocol::signaling::{CloseReason, Notification, PeerInfo, Source};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, mpsc};

/// What the connection's writer sends, shared between the peers it is
/// queued to: a notification is serialized once, by the first writer that
/// sends it, and never under the room lock.
pub struct Outgoing {
    notification: Option<Notification>,
    text: OnceLock<Arc<str>>,
}

impl Outgoing {
    /// A notification, serialized when first sent.
    pub fn notification(notification: Notification) -> Arc<Self> {
        Arc::new(Self {
            notification: Some(notification),
            text: OnceLock::new(),
        })
    }

    /// A message already serialized (a response).
    pub fn text(text: impl Into<Arc<str>>) -> Arc<Self> {
        let cell = OnceLock::new();
        let _ = cell.set(text.into());
        Arc::new(Self {
            notification: None,
            text: cell,
        })
    }

    /// The JSON text.
    pub fn as_text(&self) -> &Arc<str> {
        self.text.get_or_init(|| {
            self.notification
                .as_ref()
                .expect("an outgoing message is a notification or a text")
                .to_text()
        })
    }
}

/// A notification to queue: `Notification::PeerLeft { .. }.queued()`.
pub trait Queue {
    /// Wraps it for the outboxes, unserialized.
    fn queued(self) -> Arc<Outgoing>;
}

impl Queue for Notification {
    fn queued(self) -> Arc<Outgoing> {
        Outgoing::notification(self)
    }
}

/// The sending side of a peer's bounded queue. A peer whose queue is full
/// reads too slowly: it is disconnected rather than buffered without bound.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Arc<Outgoing>>,
    close: Arc<CloseSignal>,
}

#[derive(Default)]
pub struct CloseSignal {
    reason: Mutex<Option<CloseReason>>,
    notify: Notify,
}

impl CloseSignal {
    pub fn reason(&self) -> Option<CloseReason> {
        *self.reason.lock()
    }
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.notify.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            notified.await;
        }
    }
}

impl Outbox {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Arc<Outgoing>>, Arc<CloseSignal>) {
        let (tx, rx) = mpsc::channel(capacity);
        let close = Arc::new(CloseSignal::default());
        (
            Self {
                tx,
                close: Arc::clone(&close),
            },
            rx,
            close,
        )
    }

    /// Queues `text`; a full queue closes the connection.
    pub fn send(&self, text: &Arc<Outgoing>) {
        if self.tx.try_send(Arc::clone(text)).is_err() {
            self.close(CloseReason::TooSlow);
        }
    }

    /// Asks the connection to send `closed` and end; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut current = self.close.reason.lock();
        if current.is_none() {
            *current = Some(reason);
            self.close.notify.notify_waiters();
        }
    }
}

pub struct Peer {
    /// Who it is and what the room shows of it, as staff see it (`user` is
    /// always set here; [`Peer::info`] hides it from students).
    pub info: PeerInfo,
    /// The worker slot its transports live on.
    pub slot: usize,
    /// Where the pool counts it (its slot, in that worker's life).
    pub seat: Seat,
    pub outbox: Outbox,
    pub rtp_capabilities: Option<RtpCapabilities>,
    pub send_transport: Option<WebRtcTransport>,
    pub recv_transport: Option<WebRtcTransport>,
    pub producers: HashMap<ProducerId, (Producer, Source)>,
    /// Each consumer with its event subscriptions (dropped with it).
    pub consumers: HashMap<ConsumerId, (Consumer, Vec<HandlerId>)>,
    /// Expiry of the token it joined with (a kick bans the user until then).
    pub token_exp: u64,
    /// The home's stand-in for a peer connected to this edge node (a room
    /// across nodes): it counts and is seen, and hears nothing itself (its
    /// edge hears the room's relays).
    pub edge: Option<String>,
}

impl Peer {
    pub fn new(id: PeerId, claims: &Claims, seat: Seat, outbox: Outbox) -> Self {
        Self {
            info: PeerInfo {
                id,
                user: Some(claims.user.clone()),
                name: claims.name.clone(),
                role: claims.role,
                hand_raised: false,
                can_speak: claims.role == Role::Teacher,
            },
            slot: seat.slot,
            seat,
            outbox,
            rtp_capabilities: None,
            send_transport: None,
            recv_transport: None,
            producers: HashMap::new(),
            consumers: HashMap::new(),
            token_exp: claims.exp,
            edge: None,
        }
    }

    /// The peer as `viewer` may see it: students never see user ids.
    pub fn info(&self, viewer: Role) -> PeerInfo {
        PeerInfo {
            user: if viewer.is_staff() {
                self.info.user.clone()
            } else {
                None
            },
            ..self.info.clone()
        }
    }

    /// The token's user id.
    pub fn user(&self) -> &str {
        self.info.user.as_deref().unwrap_or_default()
    }

    /// Whether this peer may send media (`source`, or any with `None`):
    /// teachers may; students only their microphone, once allowed to speak.
    pub fn may_send(&self, source: Option<Source>) -> Result<()> {
        let refuse = |why: &str| Err(Error::Forbidden(why.into()));
        match self.info.role {
            Role::Admin => refuse("admins observe; they do not send media"),
            Role::Student if !self.info.can_speak => {
                refuse("students cannot produce unless the teacher lets them speak")
            }
            Role::Student if source.is_some_and(|s| s != Source::Mic) => {
                refuse("a student allowed to speak sends their microphone only")
            }
            _ => Ok(()),
        }
    }

    pub fn send(&self, text: &Arc<Outgoing>) {
        self.outbox.send(text);
    }

    pub fn transport(&self, id: TransportId) -> Option<&WebRtcTransport> {
        [&self.send_transport, &self.recv_transport]
            .into_iter()
            .flatten()
            .find(|t| t.id() == id)
    }

    pub fn summary(&self) -> PeerSummary {
        PeerSummary {
            info: self.info(Role::Admin),
            worker: self.slot,
            producers: self.producers.len(),
            consumers: self.consumers.len(),
        }
    }
}

pub use podium_protocol::admin::PeerSummary;
