//! The supervisor: one task per egress that owns the session and the
//! outputs, applies the retry and watchdog decisions, and publishes status.
//! mediasoup callbacks and the GStreamer bus only post events to it.
//!
//! Here: the loop, commands, session events and the tick. The RTMP
//! destinations' lifecycle is in `destination`, the file output's in `file`,
//! the input's (replaced, lost, flowing) in `input`, state and status in
//! `publish`, rate windows in `rate`.

mod destination;
mod file;
mod input;
mod publish;
mod rate;

use destination::{Destination, Vetted};
use file::FileOutput;
use rate::RateWindow;

use crate::compose::Layout;
use crate::destination::RtmpTarget;
use crate::egress::{Command, EgressConfig};
use crate::error::EgressError;
use crate::ids::{DestinationId, EgressId};
use crate::pipeline::SessionEvent;
use crate::profile::{OutputProfile, VideoPath};
use crate::secret::Scrubber;
use crate::session::{Inputs, Session};
use crate::source::InputEvent;
use crate::status::{
    DestinationState, EgressEvent, EgressState, EgressStatus, FileState, StopReason,
};
use mediasoup::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// How often figures are sampled, connections checked and retries started.
const TICK: Duration = Duration::from_millis(250);
/// Status is republished at least this often (figures change continuously).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Keyframe requests caused by packet loss, at most this often.
const LOSS_KEYFRAME_MIN_GAP: Duration = Duration::from_secs(1);

/// What [`Supervisor::new`] is built from.
pub(crate) struct SupervisorParts {
    pub id: EgressId,
    pub label: String,
    pub router: Router,
    /// The producer pair read (none when composed).
    pub inputs: Option<Inputs>,
    pub output: OutputProfile,
    pub config: EgressConfig,
    pub scrubber: Scrubber,
    pub session: Session,
    pub targets: Vec<RtmpTarget>,
    pub events: broadcast::Sender<EgressEvent>,
}

pub(crate) struct Supervisor {
    id: EgressId,
    label: String,
    /// Kept for `replace_input`. A strong handle: it holds the router open
    /// while the egress runs, at most `input_grace` past its last consumer.
    router: Router,
    inputs: Option<Inputs>,
    /// A composed egress's layout (kept in status once it has ended).
    layout: Option<Layout>,
    output: OutputProfile,
    config: EgressConfig,
    scrubber: Scrubber,
    session: Option<Session>,
    destinations: Vec<Destination>,
    file: Option<FileOutput>,
    /// The file counted as live in the state last computed.
    file_live: bool,
    state: EgressState,
    started_at: Instant,
    status_tx: Option<watch::Sender<EgressStatus>>,
    events: broadcast::Sender<EgressEvent>,
    /// Numbers sink bins, so late errors of a replaced bin are recognised.
    generation: u32,
    muxed: RateWindow,
    frames: RateWindow,
    video_flowing: bool,
    audio_flowing: bool,
    last_video_packets: u64,
    last_audio_packets: u64,
    last_muxed: u64,
    input_flowing: bool,
    waiting_since: Option<Instant>,
    last_loss_keyframe: Option<Instant>,
    last_status_at: Instant,
    /// Something changed since the last published status.
    dirty: bool,
    rng: StdRng,
    /// Host checks report here; each carries the token of its attempt.
    vetted_tx: mpsc::UnboundedSender<Vetted>,
    vetted_rx: mpsc::UnboundedReceiver<Vetted>,
    next_vet: u64,
    /// Detaches of failed destinations' sinks still under way.
    detaching: Vec<tokio::task::JoinHandle<()>>,
}

async fn next_event(session: &mut Option<Session>) -> SessionEvent {
    match session {
        Some(session) => match session.events.recv().await {
            Some(event) => event,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

impl Supervisor {
    /// Starts connecting every destination; returns the supervisor, to be
    /// spawned with [`Supervisor::run`], and its status channel.
    pub(crate) fn new(parts: SupervisorParts) -> (Self, watch::Receiver<EgressStatus>) {
        let now = Instant::now();
        let destinations = parts
            .targets
            .into_iter()
            .map(|t| Destination::new(DestinationId::new(), t))
            .collect();
        let file = parts.session.pipeline.file.as_ref().map(|f| FileOutput {
            path: f.path.clone(),
            state: FileState::Writing,
            progress: Arc::clone(&f.progress),
            bytes: 0,
        });
        let (vetted_tx, vetted_rx) = mpsc::unbounded_channel();
        let mut supervisor = Self {
            id: parts.id,
            label: parts.label,
            router: parts.router,
            inputs: parts.inputs,
            layout: parts.session.layout(),
            output: parts.output,
            config: parts.config,
            scrubber: parts.scrubber,
            session: Some(parts.session),
            destinations,
            file,
            file_live: false,
            state: EgressState::Starting,
            started_at: now,
            status_tx: None,
            events: parts.events,
            generation: 0,
            muxed: RateWindow::default(),
            frames: RateWindow::default(),
            video_flowing: true,
            audio_flowing: true,
            last_video_packets: 0,
            last_audio_packets: 0,
            last_muxed: 0,
            input_flowing: true,
            waiting_since: None,
            last_loss_keyframe: None,
            last_status_at: now,
            dirty: false,
            rng: StdRng::from_entropy(),
            vetted_tx,
            vetted_rx,
            next_vet: 0,
            detaching: Vec::new(),
        };
        for index in 0..supervisor.destinations.len() {
            supervisor.connect(index, now);
        }
        let (status_tx, status_rx) = watch::channel(supervisor.snapshot(now));
        supervisor.status_tx = Some(status_tx);
        (supervisor, status_rx)
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut keyframes = tokio::time::interval(self.output.keyframe_interval);
        keyframes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.state.is_final() {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => self.finish(EgressState::Stopped { reason: StopReason::Dropped }).await,
                },
                event = next_event(&mut self.session) => self.on_session_event(event).await,
                Some(vetted) = self.vetted_rx.recv() => self.on_vetted(vetted),
                _ = tick.tick() => self.on_tick().await,
                _ = keyframes.tick() => {
                    // Passthrough: the producer's GOP is whatever its encoder
                    // does; ask for the ingest's keyframe interval.
                    if let Some(session) = self.session.as_ref().filter(|s| s.path == VideoPath::Passthrough) {
                        session.request_key_frame();
                    }
                }
            }
            if self.dirty {
                self.publish(Instant::now());
            }
        }
        tracing::info!(state = ?self.state, "egress ended");
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::AddDestination(spec, reply) => {
                let result = self.add_destination(spec);
                self.publish(Instant::now());
                let _ = reply.send(result);
            }
            Command::RemoveDestination(id, reply) => {
                let result = self.remove_destination(id).await;
                self.publish(Instant::now());
                let _ = reply.send(result);
            }
            Command::ReplaceInput {
                video,
                audio,
                reply,
            } => {
                let result = self.replace_input(video, audio).await;
                self.publish(Instant::now());
                let _ = reply.send(result);
            }
            Command::SetInputs(inputs, reply) => {
                let result = self.set_inputs(&inputs).await;
                self.publish(Instant::now());
                let _ = reply.send(result);
            }
            Command::SetLayout(layout, reply) => {
                let result = match self.session.as_mut().and_then(Session::composer) {
                    Some(composer) => {
                        composer.set_layout(layout);
                        self.layout = Some(layout);
                        Ok(())
                    }
                    None => Err(EgressError::NotComposed),
                };
                self.publish(Instant::now());
                let _ = reply.send(result);
            }
            Command::Stop(reason, reply) => {
                self.finish(EgressState::Stopped { reason }).await;
                let _ = reply.send(());
            }
            Command::ElementFactories(reply) => {
                let names = self
                    .session
                    .as_ref()
                    .map(|s| s.pipeline.element_factories())
                    .unwrap_or_default();
                let _ = reply.send(names);
            }
        }
    }

    async fn on_session_event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Input(InputEvent::ProducerClosed(MediaKind::Video)) => {
                self.input_lost().await;
            }
            SessionEvent::Input(InputEvent::ProducerClosed(MediaKind::Audio)) => {
                tracing::info!("audio producer closed; going on with silence");
                let _ = self.events.send(EgressEvent::InputEnded {
                    egress: self.id,
                    kind: MediaKind::Audio,
                });
            }
            SessionEvent::Input(InputEvent::TransportClosed(_)) => {
                tracing::warn!("router closed under the egress");
                self.finish(EgressState::Stopped {
                    reason: StopReason::RouterClosed,
                })
                .await;
            }
            SessionEvent::Input(InputEvent::ProducerPaused(kind)) => {
                tracing::info!(?kind, "producer paused");
            }
            SessionEvent::Input(InputEvent::ProducerResumed(kind)) => {
                tracing::info!(?kind, "producer resumed");
                if let (MediaKind::Video, Some(session)) = (kind, &self.session) {
                    session.request_key_frame();
                }
            }
            SessionEvent::DestinationError {
                sink,
                class,
                message,
            } => {
                let index = self
                    .destinations
                    .iter()
                    .position(|d| d.sink.as_ref().is_some_and(|s| s.name == sink));
                match index {
                    Some(index) => self.destination_failed(index, class, message),
                    None => {
                        tracing::debug!(destination = %sink.destination, "late error of a replaced sink ignored");
                    }
                }
            }
            SessionEvent::FileError(message) => self.file_failed(message),
            SessionEvent::Fatal(message) => {
                tracing::error!(error = %message, "pipeline failed");
                self.finish(EgressState::Failed { error: message }).await;
            }
            SessionEvent::InputTimeout(kind) => self.set_flowing(kind, false),
            SessionEvent::KeyframeWanted => {
                let now = Instant::now();
                let due = self
                    .last_loss_keyframe
                    .is_none_or(|t| now.duration_since(t) >= LOSS_KEYFRAME_MIN_GAP);
                if let (true, Some(session)) = (due, &self.session) {
                    self.last_loss_keyframe = Some(now);
                    session.request_key_frame();
                }
            }
            SessionEvent::ComposedInputClosed(producer) => {
                if let Some(composer) = self.session.as_mut().and_then(Session::composer) {
                    composer.remove(producer);
                }
            }
            SessionEvent::Eos => {}
            SessionEvent::Latency => {
                if let Some(session) = &self.session {
                    session.pipeline.recalculate_latency();
                }
            }
        }
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        if let Some(session) = &self.session {
            let counters = Arc::clone(&session.pipeline.counters);
            let muxed = counters.muxed_bytes.load(Ordering::Relaxed);
            self.input_flowing = muxed > self.last_muxed;
            self.last_muxed = muxed;
            self.muxed.push(now, muxed);
            self.frames
                .push(now, counters.video_frames.load(Ordering::Relaxed));
            let video = counters.video_packets.load(Ordering::Relaxed);
            if video > self.last_video_packets {
                self.set_flowing(MediaKind::Video, true);
            }
            self.last_video_packets = video;
            let audio = counters.audio_packets.load(Ordering::Relaxed);
            if audio > self.last_audio_packets {
                self.set_flowing(MediaKind::Audio, true);
            }
            self.last_audio_packets = audio;
        }

        for index in 0..self.destinations.len() {
            self.check_destination(index, now);
        }
        if let Some(file) = &mut self.file
            && file.state == FileState::Writing
        {
            file.refresh_bytes();
            let live = file.as_destination() == DestinationState::Live;
            if live != self.file_live {
                self.file_live = live;
                tracing::info!(path = %file.path.display(), "recording");
                self.refresh_state();
            }
        }
        if self.session.is_some() {
            for index in 0..self.destinations.len() {
                if self.destinations[index]
                    .next_attempt
                    .is_some_and(|t| t <= now)
                {
                    self.connect(index, now);
                }
            }
        }

        if let Some(since) = self.waiting_since
            && now.duration_since(since) >= self.config.input_grace
        {
            tracing::info!("no new input within the grace period");
            self.finish(EgressState::Stopped {
                reason: StopReason::InputEnded,
            })
            .await;
            return;
        }
        if now.duration_since(self.last_status_at) >= STATUS_EVERY {
            self.publish(now);
        }
    }

    /// Ends the egress with `state` (final).
    async fn finish(&mut self, state: EgressState) {
        self.close_session().await;
        for index in 0..self.destinations.len() {
            let destination = &mut self.destinations[index];
            destination.next_attempt = None;
            if !matches!(
                destination.state,
                DestinationState::Failed { .. } | DestinationState::Stopped
            ) {
                destination.state = DestinationState::Stopped;
                self.emit_destination(index);
            }
        }
        self.waiting_since = None;
        self.set_state(state);
    }

    async fn close_session(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        // A sink still being detached must be out (and in NULL) before the
        // pipeline stops and is dropped: GStreamer would otherwise dispose it
        // in PAUSED while its detach thread still uses it.
        for detach in self.detaching.drain(..) {
            let _ = detach.await;
        }
        let mut sinks = Vec::new();
        for destination in &mut self.destinations {
            if let Some(sink) = destination.sink.take() {
                destination.bytes_before += destination.bytes_now;
                destination.bytes_now = 0;
                destination.live_since = None;
                destination.watchdog = None;
                sinks.push(sink);
            }
        }
        session.close(sinks).await;
        self.reset_input_figures();
        if let Some(file) = &mut self.file
            && file.state == FileState::Writing
        {
            file.refresh_bytes();
            file.state = FileState::Finished;
            tracing::info!(path = %file.path.display(), bytes = file.bytes, duration_secs = file.progress.duration().as_secs_f64(), "recording finished");
            let _ = self.events.send(EgressEvent::FileChanged {
                egress: self.id,
                state: FileState::Finished,
            });
            self.dirty = true;
        }
    }
}
