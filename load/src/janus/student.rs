//! A student subscribing to the teacher's feed in Janus, as `janus.js`
//! does: a session, a VideoRoom handle, `join` as a subscriber (Janus
//! offers), str0m's answer, `start`. The configured `Rtc` is handed over
//! (to a shard) before `start` goes out, so that Janus's first ICE checks
//! find it there.

use super::api::{Api, Handle, Session};
use super::{sdp, videoroom};
use crate::engine::{Kind, StreamSpec};
use anyhow::Context;
use std::net::SocketAddr;
use std::time::Instant;
use str0m::Rtc;

/// The parts of a join, as timed ([`Joined::phases_ms`]).
pub const JOIN_PHASES: [&str; 4] = ["session", "attach", "join", "start"];

/// What the media side needs: the answered `Rtc`, Janus's address for it
/// and the streams Janus sends (SSRC, RTX SSRC, mid, clock rate).
pub struct StudentMedia {
    pub rtc: Rtc,
    pub remote: SocketAddr,
    pub streams: Vec<StreamSpec>,
}

/// A student in the room; dropping it stops its long poll and keepalives
/// (Janus then times the session out, as when a tab is closed).
pub struct Joined {
    pub session: Session,
    pub handle: Handle,
    /// The video m-line's mid (for [`Joined::set_layer`]).
    pub video_mid: Option<String>,
    /// Milliseconds per part of the join, in [`JOIN_PHASES`] order.
    pub phases_ms: [f64; JOIN_PHASES.len()],
}

/// Joins `room` as a subscriber of `feed`, on simulcast layer `substream`
/// (Janus's default is the top one). `rtc` comes from
/// [`sdp::student_rtc`]; `local` is the address its datagrams come from.
/// `hand_over` gets the media side once the answer is made.
pub async fn join(
    api: &Api,
    mut rtc: Rtc,
    local: SocketAddr,
    room: u64,
    feed: u64,
    substream: Option<u8>,
    hand_over: impl FnOnce(StudentMedia),
) -> anyhow::Result<Joined> {
    let mut phases = [0.0; JOIN_PHASES.len()];
    let mut last = Instant::now();
    let mut done = |phase: usize| {
        let now = Instant::now();
        phases[phase] += now.saturating_duration_since(last).as_secs_f64() * 1000.0;
        last = now;
    };
    let session = api.create_session().await.context("session")?;
    done(0);
    let handle = session.attach(videoroom::PLUGIN).await.context("attach")?;
    done(1);
    let subscription = videoroom::subscribe(&handle, room, feed, substream)
        .await
        .context("join as subscriber")?;
    done(2);
    let answer = sdp::student_answer(&mut rtc, local, &subscription.offer_sdp)?;
    let video_mid = answer
        .streams
        .iter()
        .find(|s| s.kind == Kind::Video)
        .map(|s| s.mid.clone());
    hand_over(StudentMedia {
        rtc,
        remote: answer.remote,
        streams: answer.streams,
    });
    videoroom::start(&handle, answer.sdp)
        .await
        .context("start")?;
    done(3);
    Ok(Joined {
        session,
        handle,
        video_mid,
        phases_ms: phases,
    })
}

impl Joined {
    /// Switches to simulcast layer `substream` (0 = lowest).
    pub async fn set_layer(&self, substream: u8) -> anyhow::Result<()> {
        let mid = self.video_mid.as_deref().context("no video to switch")?;
        videoroom::set_substream(&self.handle, mid, substream).await?;
        Ok(())
    }

    /// Leaves at once (`destroy`: Janus hangs up the PeerConnection).
    pub async fn leave(self) -> anyhow::Result<()> {
        let Joined {
            session, handle, ..
        } = self;
        drop(handle);
        session.destroy().await?;
        Ok(())
    }
}
