//! A peer: one connection's place in a room. It owns its transports,
//! producers and consumers; dropping it closes them all in the worker.

use crate::auth::{Claims, Role};
use crate::error::{Error, Result};
use crate::ids::PeerId;
use crate::signaling::protocol::{CloseReason, PeerInfo, Source};
use crate::workers::Seat;
use event_listener_primitives::HandlerId;
use mediasoup::prelude::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// What the connection's writer sends: JSON text, shared between peers.
pub type Outgoing = Arc<str>;

/// The sending side of a peer's bounded queue. A peer whose queue is full
/// reads too slowly: it is disconnected rather than buffered without bound.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
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
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Outgoing>, Arc<CloseSignal>) {
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
    pub fn send(&self, text: &Outgoing) {
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
    pub id: PeerId,
    pub user: String,
    pub name: String,
    pub role: Role,
    pub hand_raised: bool,
    pub can_speak: bool,
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
}

impl Peer {
    pub fn new(id: PeerId, claims: &Claims, seat: Seat, outbox: Outbox) -> Self {
        Self {
            id,
            user: claims.user.clone(),
            name: claims.name.clone(),
            role: claims.role,
            hand_raised: false,
            can_speak: claims.role == Role::Teacher,
            slot: seat.slot,
            seat,
            outbox,
            rtp_capabilities: None,
            send_transport: None,
            recv_transport: None,
            producers: HashMap::new(),
            consumers: HashMap::new(),
            token_exp: claims.exp,
        }
    }

    /// The peer as `viewer` may see it: students never see user ids.
    pub fn info(&self, viewer: Role) -> PeerInfo {
        PeerInfo {
            id: self.id,
            user: viewer.is_staff().then(|| self.user.clone()),
            name: self.name.clone(),
            role: self.role,
            hand_raised: self.hand_raised,
            can_speak: self.can_speak,
        }
    }

    /// Whether this peer may send media (`source`, or any with `None`):
    /// teachers may; students only their microphone, once allowed to speak.
    pub fn may_send(&self, source: Option<Source>) -> Result<()> {
        let refuse = |why: &str| Err(Error::Forbidden(why.into()));
        match self.role {
            Role::Admin => refuse("admins observe; they do not send media"),
            Role::Student if !self.can_speak => {
                refuse("students cannot produce unless the teacher lets them speak")
            }
            Role::Student if source.is_some_and(|s| s != Source::Mic) => {
                refuse("a student allowed to speak sends their microphone only")
            }
            _ => Ok(()),
        }
    }

    pub fn send(&self, text: &Outgoing) {
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

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSummary {
    #[serde(flatten)]
    pub info: PeerInfo,
    pub worker: usize,
    pub producers: usize,
    pub consumers: usize,
}
