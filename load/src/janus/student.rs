//! A student subscribing to the teacher's feed in Janus, as `janus.js`
//! does: a session, a VideoRoom handle, `join` as a subscriber (Janus
//! offers), str0m's answer, `start`. The configured `Rtc` is handed over
//! (to a shard) before `start` goes out, so that Janus's first ICE checks
//! find it there.

use super::api::{Api, Handle, HandleEvent, Session};
use super::{sdp, videoroom};
use crate::bots::SharedCtx;
use crate::bots::student::Exit;
use crate::engine::{BotEvent, BotId, Profile, StreamSpec};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use str0m::Rtc;
use tokio::sync::{Barrier, mpsc::UnboundedSender, oneshot};

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
        phases_ms: phases,
    })
}

impl Joined {
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

/// Runs one student of a Janus run to the end, as
/// [`crate::bots::student::run`] does on Podium: the same shard, the same
/// receiver and the same events; Janus sends the top layer (it picks no
/// layer from an estimate). With a `gate`, it waits there with the others
/// of a join storm.
pub async fn run(
    ctx: SharedCtx,
    bot: BotId,
    gate: Option<Arc<Barrier>>,
    exit: oneshot::Receiver<Exit>,
    events: UnboundedSender<BotEvent>,
) {
    let Some(class) = ctx.janus.as_ref() else {
        return;
    };
    let rtc = sdp::student_rtc(&ctx.cert, Instant::now());
    if let Some(gate) = gate {
        gate.wait().await;
    }
    let started = Instant::now();
    let shard = ctx.shard(bot);
    let impairment = ctx.impairment_for(bot);
    let joining = join(
        &class.api,
        rtc,
        shard.local,
        class.room,
        class.feed,
        None,
        |media| {
            shard.add(
                bot,
                media.rtc,
                media.remote,
                media.streams,
                Profile::Browser,
                impairment,
            );
        },
    );
    let outcome = tokio::time::timeout(ctx.join_timeout, joining).await;
    let Some(joined) = ctx.joined(bot, started, &events, outcome) else {
        return;
    };
    let _ = events.send(BotEvent::Joined {
        bot,
        started,
        signaled: Instant::now(),
        phases: JOIN_PHASES.iter().copied().zip(joined.phases_ms).collect(),
    });
    let reason = stay(joined, exit).await;
    shard.remove(bot);
    let _ = events.send(BotEvent::Ended { bot, reason });
}

/// Until told to go, or Janus hangs up or ends the session.
async fn stay(mut joined: Joined, mut exit: oneshot::Receiver<Exit>) -> String {
    loop {
        tokio::select! {
            how = &mut exit => {
                return match how.unwrap_or(Exit::Drop) {
                    Exit::Leave => match joined.leave().await {
                        Ok(()) => "left".into(),
                        Err(error) => format!("left ({error:#})"),
                    },
                    // Keepalives stop: Janus times the session out.
                    Exit::Drop => "left".into(),
                };
            }
            event = joined.handle.next_event() => match event {
                Some(HandleEvent::Hangup { reason }) => return format!("Janus hung up: {reason}"),
                Some(_) => {}
                None => {
                    return format!(
                        "the Janus session ended ({})",
                        joined.session.ended().unwrap_or_default()
                    );
                }
            }
        }
    }
}
