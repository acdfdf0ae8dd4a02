//! The teacher: joins, opens a send transport, produces Opus and VP8
//! simulcast from the pre-encoded clips (the publisher thread sends them),
//! and keeps its signaling connection read so it never falls behind.

use super::SharedCtx;
use super::params;
use crate::engine::{Profile, Publisher, PublisherStats, TeacherMedia, new_rtc, udp};
use crate::media::{LAYERS, MediaSet};
use crate::signaling::{Signal, wire_name};
use anyhow::Context;
use podium_protocol::{Direction, Joined, Notification, Produced, Request};
use std::sync::Arc;
use tokio::sync::oneshot;

pub struct Teacher {
    publisher: Publisher,
    stop: Option<oneshot::Sender<()>>,
    reader: tokio::task::JoinHandle<String>,
    pub layers: usize,
    closed: Arc<parking_lot::Mutex<Option<String>>>,
    /// The server's port of the teacher's send transport.
    pub server_port: u16,
}

impl Teacher {
    pub async fn start(
        ctx: &SharedCtx,
        media: Arc<MediaSet>,
        layers: usize,
    ) -> anyhow::Result<Teacher> {
        let layers = layers.clamp(1, media.video.len());
        let token = ctx.token("Teacher", "teacher").await?;
        let mut signal = Signal::connect(&ctx.ws_url(), &token).await?;
        signal
            .request::<Joined>(Request::Join {})
            .await
            .context("teacher join")?;
        let transport = params::parse_transport(
            &signal
                .request(Request::CreateTransport {
                    direction: Direction::Send,
                })
                .await?,
        )?;
        let socket = udp::bind(ctx.shards[0].local.ip(), 4 << 20)?;
        let ssrcs = TeacherMedia::new(layers);
        let rtc = ctx
            .connect_rtc(
                &mut signal,
                // The teacher sends as before in every profile: what is
                // measured is the students' side.
                new_rtc(&ctx.cert, std::time::Instant::now(), Profile::Lean),
                socket.local_addr()?,
                &transport,
                |rtc| ssrcs.declare(rtc),
            )
            .await?;
        let publisher = Publisher::start(rtc, socket, transport.udp, media, ssrcs.clone())?;
        signal
            .request::<Produced>(params::produce_audio(transport.id, &ssrcs))
            .await
            .context("teacher produce audio")?;
        let kbps: Vec<u32> = LAYERS.iter().map(|l| l.kbps).collect();
        signal
            .request::<Produced>(params::produce_video(transport.id, &ssrcs, &kbps))
            .await
            .context("teacher produce video")?;
        tracing::info!(layers, "teacher producing");

        let (stop, mut stopped) = oneshot::channel();
        let closed = Arc::new(parking_lot::Mutex::new(None));
        let closed_by_server = Arc::clone(&closed);
        let reader = tokio::spawn(async move {
            let reason = loop {
                tokio::select! {
                    _ = &mut stopped => {
                        signal.leave().await;
                        return "left".to_owned();
                    }
                    n = signal.notification() => match n {
                        Ok(Notification::Closed { reason }) => {
                            break format!("closed by the server: {:?}", wire_name(&reason));
                        }
                        Ok(_) => {}
                        Err(error) => break error.to_string(),
                    }
                }
            };
            tracing::warn!(%reason, "teacher: signaling ended");
            *closed_by_server.lock() = Some(reason.clone());
            reason
        });
        Ok(Teacher {
            publisher,
            stop: Some(stop),
            reader,
            layers,
            closed,
            server_port: transport.udp.port(),
        })
    }

    pub fn stats(&self) -> PublisherStats {
        self.publisher.stats()
    }

    /// Whether the teacher's signaling is still open.
    pub fn is_alive(&self) -> bool {
        !self.reader.is_finished()
    }

    /// Why the teacher's signaling ended, if it did (closed by the server, say).
    pub fn ended(&self) -> Option<String> {
        let reason = self.closed.lock().clone();
        reason.or_else(|| self.reader.is_finished().then(|| "ended".to_owned()))
    }

    pub async fn stop(mut self) -> String {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let reason = (&mut self.reader).await.unwrap_or_else(|e| e.to_string());
        drop(self.publisher);
        reason
    }
}
