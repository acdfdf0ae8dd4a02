//! A student: join, receive transport, ICE + DTLS (via its shard), consume
//! and resume every producer (a lean student pins the simulcast layer), then
//! stay until told to leave or closed by the server.

use super::SharedCtx;
use super::params::{self, Consumer};
use crate::engine::{BotEvent, BotId, JOIN_PHASES, Kind, Profile};
use crate::signaling::{Signal, SignalError, wire_name};
use podium_protocol::{Direction, Empty, Joined, Notification, ProducerId, Request};
use std::sync::Arc;
use std::time::Instant;
use str0m::Rtc;
use tokio::sync::{Barrier, mpsc::UnboundedSender, oneshot};

/// How a student ends.
#[derive(Debug, Clone, Copy)]
pub enum Exit {
    /// Says `leave`, then closes.
    Leave,
    /// Closes the WebSocket without a word (a tab closed).
    Drop,
}

/// Runs one student to the end. Everything it has to say goes to `events`.
/// With a `gate`, it gets its token and builds its peer, then waits there
/// with the others of a join storm, so that they all join at one instant.
pub async fn run(
    ctx: SharedCtx,
    bot: BotId,
    name: String,
    gate: Option<Arc<Barrier>>,
    exit: oneshot::Receiver<Exit>,
    events: UnboundedSender<BotEvent>,
) {
    let prepared = ctx.token(&name, "student").await;
    let rtc = ctx.new_rtc();
    if let Some(gate) = gate {
        gate.wait().await;
    }
    let token = match prepared {
        Ok(token) => token,
        Err(error) => {
            let _ = events.send(BotEvent::JoinFailed {
                bot,
                started: Instant::now(),
                error: format!("token: {error:#}"),
            });
            return;
        }
    };
    let started = Instant::now();
    let mut phases = Phases::new(started);
    let joined =
        tokio::time::timeout(ctx.join_timeout, join(&ctx, bot, &token, rtc, &mut phases)).await;
    let Some(signal) = ctx.joined(bot, started, &events, joined) else {
        return;
    };
    let _ = events.send(BotEvent::Joined {
        bot,
        started,
        signaled: Instant::now(),
        phases: JOIN_PHASES.iter().copied().zip(phases.ms).collect(),
    });
    let reason = stay(&ctx, bot, signal, exit).await;
    ctx.shard(bot).remove(bot);
    let _ = events.send(BotEvent::Ended { bot, reason });
}

/// Times the parts of a join.
struct Phases {
    last: Instant,
    ms: [f64; JOIN_PHASES.len()],
}

impl Phases {
    fn new(started: Instant) -> Self {
        Self {
            last: started,
            ms: [0.0; JOIN_PHASES.len()],
        }
    }

    /// The phase at `index` ended now (phases may be entered more than once).
    fn done(&mut self, index: usize) {
        let now = Instant::now();
        self.ms[index] += now.saturating_duration_since(self.last).as_secs_f64() * 1000.0;
        self.last = now;
    }
}

async fn join(
    ctx: &SharedCtx,
    bot: BotId,
    token: &str,
    rtc: Rtc,
    phases: &mut Phases,
) -> anyhow::Result<Signal> {
    let shard = ctx.shard(bot);
    let mut signal = Signal::connect(&ctx.student_ws_url(bot), token).await?;
    phases.done(0);
    let joined: Joined = signal.request(Request::Join {}).await?;
    signal
        .request::<Empty>(Request::SetRtpCapabilities {
            rtp_capabilities: params::rtp_capabilities(ctx.profile),
        })
        .await?;
    phases.done(1);
    let transport = params::parse_transport(
        &signal
            .request(Request::CreateTransport {
                direction: Direction::Recv,
            })
            .await?,
    )?;

    phases.done(2);
    let rtc = ctx
        .connect_rtc(&mut signal, rtc, shard.local, &transport, |_| {})
        .await?;
    phases.done(3);

    let mut consumers = Vec::new();
    for producer in &joined.producers {
        consumers.push(consume(ctx, &mut signal, producer.id).await?);
    }
    phases.done(4);
    // Media starts flowing as soon as the shard runs ICE and DTLS.
    shard.add(
        bot,
        rtc,
        transport.udp,
        consumers.iter().map(|c| c.stream.clone()).collect(),
        ctx.profile,
        ctx.impairment_for(bot),
    );
    for consumer in &consumers {
        signal
            .request::<Empty>(Request::ResumeConsumer {
                consumer_id: consumer.id,
            })
            .await?;
    }
    phases.done(5);
    Ok(signal)
}

/// `consume`, then (lean students) pins the video layer before the consumer
/// is resumed; browser-like ones leave it to mediasoup's estimate.
async fn consume(
    ctx: &SharedCtx,
    signal: &mut Signal,
    producer_id: ProducerId,
) -> anyhow::Result<Consumer> {
    let consumer =
        params::parse_consumed(&signal.request(Request::Consume { producer_id }).await?)?;
    if consumer.kind == Kind::Video && consumer.simulcast && ctx.profile == Profile::Lean {
        signal
            .request::<Empty>(Request::SetConsumerPreferredLayers {
                consumer_id: consumer.id,
                spatial_layer: ctx.layer,
                temporal_layer: None,
            })
            .await?;
    }
    Ok(consumer)
}

/// Follows notifications (new producers) until told to go or closed.
async fn stay(
    ctx: &SharedCtx,
    bot: BotId,
    mut signal: Signal,
    mut exit: oneshot::Receiver<Exit>,
) -> String {
    loop {
        tokio::select! {
            how = &mut exit => {
                match how.unwrap_or(Exit::Drop) {
                    Exit::Leave => signal.leave().await,
                    Exit::Drop => signal.drop_connection().await,
                }
                return "left".into();
            }
            notification = signal.notification() => match notification {
                Ok(Notification::NewProducer { producer }) => {
                    match consume(ctx, &mut signal, producer.id).await {
                        Ok(consumer) => {
                            ctx.shard(bot).add_streams(bot, vec![consumer.stream.clone()]);
                            if let Err(error) = signal
                                .request::<Empty>(Request::ResumeConsumer { consumer_id: consumer.id })
                                .await
                            {
                                return format!("resumeConsumer: {error}");
                            }
                        }
                        Err(error) => tracing::warn!(bot, error = %format!("{error:#}"), "consume failed"),
                    }
                }
                Ok(Notification::Closed { reason }) => {
                    return format!("closed by the server: {:?}", wire_name(&reason));
                }
                Ok(_) => {}
                Err(SignalError::Closed(reason)) => {
                    return format!("connection closed ({})", reason.unwrap_or_default());
                }
                Err(error) => return error.to_string(),
            }
        }
    }
}
