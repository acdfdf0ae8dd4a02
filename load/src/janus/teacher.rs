//! The teacher publishing to Janus: a session with a VideoRoom handle,
//! `joinandconfigure` with str0m's offer, then the same publisher thread as
//! for Podium, on the SSRCs str0m picked per simulcast layer.

use super::api::{Api, Handle, HandleEvent, Session};
use super::{sdp, videoroom};
use crate::engine::{Publisher, PublisherStats, udp};
use crate::media::MediaSet;
use anyhow::{Context, bail};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::config::DtlsCert;

/// ICE and DTLS with Janus, on this machine.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

pub struct JanusTeacher {
    publisher: Publisher,
    session: Session,
    handle: Handle,
    /// Its feed id, what students subscribe to.
    pub feed: u64,
    pub layers: usize,
}

impl JanusTeacher {
    /// Publishes `layers` simulcast layers and Opus into `room`, from a
    /// socket on `ip`.
    pub async fn start(
        api: &Api,
        cert: &DtlsCert,
        ip: IpAddr,
        room: u64,
        media: Arc<MediaSet>,
        layers: usize,
    ) -> anyhow::Result<JanusTeacher> {
        let layers = layers.clamp(1, media.video.len());
        let session = api.create_session().await.context("teacher: session")?;
        let handle = session
            .attach(videoroom::PLUGIN)
            .await
            .context("teacher: attach")?;
        let socket = udp::bind(ip, 4 << 20)?;
        let mut rtc = sdp::teacher_rtc(cert, Instant::now());
        let offer = sdp::teacher_offer(&mut rtc, socket.local_addr()?, layers)?;
        let published = videoroom::publish(&handle, room, "Teacher", offer.sdp.clone())
            .await
            .context("teacher: joinandconfigure")?;
        let (ssrcs, janus_addr) = sdp::teacher_accept(&mut rtc, offer, &published.answer_sdp)?;
        tracing::info!(
            room,
            feed = published.feed,
            ?ssrcs,
            %janus_addr,
            "teacher publishing to janus"
        );
        let publisher = Publisher::start(rtc, socket, janus_addr, media, ssrcs)?;
        let mut teacher = JanusTeacher {
            publisher,
            session,
            handle,
            feed: published.feed,
            layers,
        };
        teacher.wait_up(CONNECT_WITHIN).await?;
        Ok(teacher)
    }

    /// Waits for Janus's `webrtcup`: students can subscribe to a feed only
    /// once its PeerConnection is up ("No such feed" before).
    async fn wait_up(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.handle.next_event()).await {
                Ok(Some(HandleEvent::WebrtcUp)) => return Ok(()),
                Ok(Some(HandleEvent::Hangup { reason })) => {
                    bail!("teacher: Janus hung up ({reason})")
                }
                Ok(Some(_)) => {}
                Ok(None) => bail!(
                    "teacher: the Janus session ended ({})",
                    self.session.ended().unwrap_or_default()
                ),
                Err(_) => bail!(
                    "teacher: no webrtcup from Janus within {within:?} (publisher {:?})",
                    self.publisher.stats()
                ),
            }
        }
    }

    pub fn stats(&self) -> PublisherStats {
        self.publisher.stats()
    }

    /// Whether its Janus session is still there.
    pub fn is_alive(&self) -> bool {
        self.session.ended().is_none()
    }

    /// Why its session ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.session.ended()
    }

    /// Stops sending, then `destroy`s the session. Returns how that went.
    pub async fn stop(self) -> String {
        let JanusTeacher {
            publisher,
            session,
            handle,
            ..
        } = self;
        drop(publisher);
        drop(handle);
        match session.destroy().await {
            Ok(()) => "left".into(),
            Err(error) => error.to_string(),
        }
    }
}
