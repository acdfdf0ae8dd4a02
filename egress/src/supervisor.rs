//! The supervisor: one task per egress that owns the session and the
//! destinations, applies the retry and watchdog decisions, and publishes
//! status. mediasoup callbacks and the GStreamer bus only post events to it.

use crate::destination::{DestinationSpec, RtmpTarget};
use crate::egress::{Command, EgressConfig};
use crate::error::EgressError;
use crate::file::FileProgress;
use crate::ids::{DestinationId, EgressId};
use crate::network::{self, Vetting};
use crate::output::{OutputProfile, VideoPath};
use crate::pipeline::SessionEvent;
use crate::retry::{self, ErrorClass, RetryDecision, RetryState};
use crate::rtmp::{RtmpSink, SinkName};
use crate::secret::Scrubber;
use crate::session::{Inputs, Session};
use crate::source::InputEvent;
use crate::status::{
    DestinationState, DestinationStats, DestinationStatus, EgressEvent, EgressState, EgressStats,
    EgressStatus, FileState, FileStatus, InputStatus, StopReason, running_state,
};
use crate::watchdog::{Sample, Verdict, Watchdog};
use mediasoup::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// How often figures are sampled, connections checked and retries started.
const TICK: Duration = Duration::from_millis(250);
/// Status is republished at least this often (figures change continuously).
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// Window of the bitrate and frame-rate figures.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Keyframe requests caused by packet loss, at most this often.
const LOSS_KEYFRAME_MIN_GAP: Duration = Duration::from_secs(1);

/// What [`Supervisor::new`] is built from.
pub(crate) struct SupervisorParts {
    pub id: EgressId,
    pub label: String,
    pub router: Router,
    pub inputs: Inputs,
    pub output: OutputProfile,
    pub config: EgressConfig,
    pub scrubber: Scrubber,
    pub session: Session,
    pub targets: Vec<RtmpTarget>,
    pub events: broadcast::Sender<EgressEvent>,
}

/// The file output: written by the first session only (a new input would
/// start a new file), so it is finished when that session closes.
struct FileOutput {
    path: std::path::PathBuf,
    state: FileState,
    progress: Arc<FileProgress>,
    bytes: u64,
}

impl FileOutput {
    /// What the file counts as among the outputs, for the egress's state.
    fn as_destination(&self) -> DestinationState {
        match &self.state {
            FileState::Writing if self.progress.duration() > Duration::ZERO => {
                DestinationState::Live
            }
            FileState::Writing => DestinationState::Starting,
            FileState::Finished => DestinationState::Stopped,
            FileState::Failed { error } => DestinationState::Failed {
                error: error.clone(),
            },
        }
    }

    fn status(&self) -> FileStatus {
        FileStatus {
            state: self.state.clone(),
            bytes: self.bytes,
            duration_secs: (self.progress.duration().as_secs_f64() * 1000.0).round() / 1000.0,
        }
    }

    fn refresh_bytes(&mut self) {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            self.bytes = meta.len();
        }
    }
}

struct Destination {
    id: DestinationId,
    target: RtmpTarget,
    state: DestinationState,
    retry: RetryState,
    next_attempt: Option<Instant>,
    sink: Option<RtmpSink>,
    /// The host check of the attempt under way, if it has not answered yet.
    vetting: Option<u64>,
    watchdog: Option<Watchdog>,
    /// Bytes of finished connections, and of the current one.
    bytes_before: u64,
    bytes_now: u64,
    rate: RateWindow,
    live_since: Option<Instant>,
    connects: u32,
}

impl Destination {
    fn new(id: DestinationId, target: RtmpTarget) -> Self {
        Self {
            id,
            target,
            state: DestinationState::Starting,
            retry: RetryState::default(),
            next_attempt: None,
            sink: None,
            vetting: None,
            watchdog: None,
            bytes_before: 0,
            bytes_now: 0,
            rate: RateWindow::default(),
            live_since: None,
            connects: 0,
        }
    }

    fn status(&self, now: Instant) -> DestinationStatus {
        let mut state = self.state.clone();
        if let (DestinationState::Reconnecting { retry_in_ms, .. }, Some(at)) =
            (&mut state, self.next_attempt)
        {
            *retry_in_ms = at.saturating_duration_since(now).as_millis() as u64;
        }
        DestinationStatus {
            id: self.id,
            url: self.target.redacted.clone(),
            state,
            stats: DestinationStats {
                bytes_out: self.bytes_before + self.bytes_now,
                bitrate_bps: self.rate.per_second(8.0) as u64,
                uptime_secs: self
                    .live_since
                    .map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
                reconnects: self.connects.saturating_sub(1),
            },
        }
    }
}

/// Samples of a growing counter over [`RATE_WINDOW`].
#[derive(Default)]
struct RateWindow {
    samples: VecDeque<(Instant, u64)>,
}

impl RateWindow {
    fn push(&mut self, now: Instant, total: u64) {
        self.samples.push_back((now, total));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    fn per_second(&self, scale: f64) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, v0)), Some((t1, v1))) if t1 > t0 => {
                v1.saturating_sub(*v0) as f64 * scale / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    fn clear(&mut self) {
        self.samples.clear();
    }
}

pub(crate) struct Supervisor {
    id: EgressId,
    label: String,
    /// Kept for `replace_input`. A strong handle: it holds the router open
    /// while the egress runs, at most `input_grace` past its last consumer.
    router: Router,
    inputs: Inputs,
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

/// The answer of a connection attempt's host check.
struct Vetted {
    destination: DestinationId,
    token: u64,
    result: Result<Vec<std::net::IpAddr>, Vetting>,
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
            Command::Stop(reply) => {
                self.finish(EgressState::Stopped {
                    reason: StopReason::Requested,
                })
                .await;
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

    fn add_destination(&mut self, spec: DestinationSpec) -> Result<DestinationId, EgressError> {
        let target = crate::destination::parse(&spec)
            .map_err(|error| EgressError::InvalidDestination { index: 0, error })?;
        self.scrubber.add(target.secrets.iter().cloned());
        let id = DestinationId::new();
        tracing::info!(destination = %id, url = %target.redacted, "destination added");
        self.destinations.push(Destination::new(id, target));
        let index = self.destinations.len() - 1;
        self.emit_destination(index);
        if self.session.is_some() {
            self.connect(index, Instant::now());
        }
        self.refresh_state();
        Ok(id)
    }

    async fn remove_destination(&mut self, id: DestinationId) -> Result<(), EgressError> {
        let index = self
            .destinations
            .iter()
            .position(|d| d.id == id)
            .ok_or(EgressError::UnknownDestination(id))?;
        if self.destinations.len() == 1 {
            return Err(EgressError::LastDestination);
        }
        let mut destination = self.destinations.remove(index);
        if let (Some(sink), Some(session)) = (destination.sink.take(), &self.session) {
            let _ = session.pipeline.detach(sink, true).await;
        }
        tracing::info!(destination = %id, url = %destination.target.redacted, "destination removed");
        destination.state = DestinationState::Stopped;
        let _ = self.events.send(EgressEvent::DestinationChanged {
            egress: self.id,
            destination: id,
            url: destination.target.redacted.clone(),
            state: DestinationState::Stopped,
        });
        self.refresh_state();
        Ok(())
    }

    async fn replace_input(
        &mut self,
        video: ProducerId,
        audio: Option<ProducerId>,
    ) -> Result<(), EgressError> {
        if self.destinations.is_empty() {
            return Err(EgressError::RecordingInput);
        }
        let router = self.router.clone();
        let inputs = Inputs {
            video,
            audio,
            ..self.inputs
        };
        let session = Session::open(&router, &inputs, &self.output, &self.scrubber, None).await?;
        tracing::info!(%video, ?audio, path = ?session.path, "input replaced");
        self.inputs = inputs;
        self.close_session().await;
        self.session = Some(session);
        self.waiting_since = None;
        self.reset_input_figures();
        let now = Instant::now();
        for index in 0..self.destinations.len() {
            if matches!(
                self.destinations[index].state,
                DestinationState::Failed { .. }
            ) {
                continue;
            }
            let destination = &mut self.destinations[index];
            destination.state = DestinationState::Starting;
            destination.next_attempt = None;
            destination.retry = RetryState {
                ever_live: destination.retry.ever_live,
                ..RetryState::default()
            };
            self.emit_destination(index);
            self.connect(index, now);
        }
        // Out of waitingForInput (or a running state) first, so that the
        // recomputed state is announced.
        self.set_state(EgressState::Starting);
        self.refresh_state();
        self.publish(now);
        Ok(())
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

    /// Samples a connected destination: live once bytes go out, failed when
    /// the watchdog says so.
    fn check_destination(&mut self, index: usize, now: Instant) {
        let input_flowing = self.input_flowing;
        let watchdog_timeout = self.config.watchdog;
        let destination = &mut self.destinations[index];
        let Some(sink) = &destination.sink else {
            return;
        };
        let stats = sink.stats();
        destination.bytes_now = stats.out_bytes;
        destination
            .rate
            .push(now, destination.bytes_before + stats.out_bytes);
        if stats.out_bytes > 0 && destination.state != DestinationState::Live {
            destination.state = DestinationState::Live;
            destination.retry.went_live(now);
            destination.live_since = Some(now);
            tracing::info!(
                destination = %destination.id,
                url = %destination.target.redacted,
                reconnects = destination.connects.saturating_sub(1),
                "destination live"
            );
            self.emit_destination(index);
            self.refresh_state();
        }
        let destination = &mut self.destinations[index];
        let verdict = destination.watchdog.as_mut().map(|dog| {
            dog.observe(Sample {
                now,
                out_bytes: stats.out_bytes,
                acked_bytes: stats.acked_bytes,
                input_flowing,
            })
        });
        if let Some(Verdict::Stalled(reason)) = verdict {
            self.destination_failed(
                index,
                ErrorClass::Transient,
                reason.describe(watchdog_timeout),
            );
        }
    }

    /// Starts a connection attempt: first the host is resolved and checked
    /// against the network policy (again at every attempt: what a name
    /// resolves to may change), off this task; [`Self::on_vetted`] goes on.
    fn connect(&mut self, index: usize, _now: Instant) {
        if self.session.is_none() {
            return;
        }
        self.next_vet += 1;
        let token = self.next_vet;
        let destination = &mut self.destinations[index];
        destination.next_attempt = None;
        destination.vetting = Some(token);
        let policy = self.config.network.clone();
        let host = destination.target.host.clone();
        let port = destination.target.port;
        let id = destination.id;
        let reply = self.vetted_tx.clone();
        tokio::spawn(async move {
            let result = policy.vet(&host, port).await;
            let _ = reply.send(Vetted {
                destination: id,
                token,
                result,
            });
        });
    }

    /// The host check of an attempt answered: connect to the addresses it
    /// cleared (pinned for GIO), or fail the attempt.
    fn on_vetted(&mut self, vetted: Vetted) {
        let Some(index) = self
            .destinations
            .iter()
            .position(|d| d.id == vetted.destination && d.vetting == Some(vetted.token))
        else {
            return; // removed, or a later attempt superseded it
        };
        self.destinations[index].vetting = None;
        if self.session.is_none() {
            return;
        }
        match vetted.result {
            Ok(addresses) => {
                let host = &self.destinations[index].target.host;
                if network::literal(host).is_none() {
                    crate::pin::pin(host, &addresses);
                }
                self.attach(index, Instant::now());
            }
            Err(Vetting::Refused(reason)) => self.destination_failed(
                index,
                ErrorClass::Refused,
                format!("destination refused: {reason}"),
            ),
            Err(Vetting::Unresolved) => self.destination_failed(
                index,
                ErrorClass::Transient,
                "the ingest host name did not resolve".to_owned(),
            ),
        }
    }

    /// A fresh sink bin on the tee, for a destination whose host was cleared.
    fn attach(&mut self, index: usize, now: Instant) {
        let Some(session) = &self.session else {
            return;
        };
        self.generation = self.generation.wrapping_add(1);
        let destination = &mut self.destinations[index];
        let name = SinkName {
            destination: destination.id,
            generation: self.generation,
        };
        let attached = RtmpSink::build(
            name,
            &destination.target,
            self.config.tls,
            self.config.rtmp_timeout,
        )
        .and_then(|sink| session.pipeline.attach(&sink).map(|()| sink));
        match attached {
            Ok(sink) => {
                tracing::debug!(destination = %destination.id, url = %destination.target.redacted, "connecting");
                destination.sink = Some(sink);
                destination.bytes_now = 0;
                destination.connects += 1;
                // The connect limit covers the TCP/TLS/RTMP handshakes, which
                // rtmp2sink times out on its own; this catches the rest.
                let connect_limit = self.config.rtmp_timeout * 3;
                destination.watchdog =
                    Some(Watchdog::new(now, self.config.watchdog, connect_limit));
            }
            Err(error) => {
                let message = self.scrubber.scrub(&error.to_string());
                self.destination_failed(index, ErrorClass::Transient, message);
            }
        }
    }

    /// Applies the retry decision to a destination that just failed.
    fn destination_failed(&mut self, index: usize, class: ErrorClass, message: String) {
        let now = Instant::now();
        let random = self.rng.gen_range(-1.0..=1.0);
        let destination = &mut self.destinations[index];
        if let (Some(sink), Some(session)) = (destination.sink.take(), &self.session) {
            // Not awaited here (the supervisor goes on), but before the
            // pipeline stops: see `close_session`.
            self.detaching.retain(|d| !d.is_finished());
            self.detaching.push(session.pipeline.detach(sink, false));
        }
        destination.watchdog = None;
        destination.bytes_before += destination.bytes_now;
        destination.bytes_now = 0;
        destination.live_since = None;
        let (decision, next) =
            retry::decide(&self.config.retry, destination.retry, class, now, random);
        destination.retry = next;
        match decision {
            RetryDecision::Retry { attempt, delay } => {
                tracing::warn!(
                    destination = %destination.id,
                    url = %destination.target.redacted,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    error = %message,
                    "destination down; reconnecting"
                );
                destination.state = DestinationState::Reconnecting {
                    attempt,
                    last_error: message,
                    retry_in_ms: delay.as_millis() as u64,
                };
                destination.next_attempt = Some(now + delay);
            }
            RetryDecision::GiveUp(reason) => {
                tracing::error!(
                    destination = %destination.id,
                    url = %destination.target.redacted,
                    ?reason,
                    error = %message,
                    "destination failed"
                );
                destination.state = DestinationState::Failed {
                    error: reason.describe(&self.config.retry, &message),
                };
                destination.next_attempt = None;
            }
        }
        self.emit_destination(index);
        self.refresh_state();
    }

    /// The file output could not write: it ends, keeping what it wrote;
    /// the other outputs go on.
    fn file_failed(&mut self, message: String) {
        let Some(file) = &mut self.file else {
            return;
        };
        if file.state != FileState::Writing {
            return;
        }
        file.refresh_bytes();
        tracing::error!(path = %file.path.display(), bytes = file.bytes, error = %message, "recording failed");
        file.state = FileState::Failed { error: message };
        let _ = self.events.send(EgressEvent::FileChanged {
            egress: self.id,
            state: file.state.clone(),
        });
        self.refresh_state();
    }

    /// The video producer closed: tear the session down and wait (a
    /// recording alone does not wait: a new input is a new recording).
    async fn input_lost(&mut self) {
        let grace = if self.destinations.is_empty() {
            Duration::ZERO
        } else {
            self.config.input_grace
        };
        tracing::info!(grace_ms = grace.as_millis() as u64, "video producer closed");
        let _ = self.events.send(EgressEvent::InputEnded {
            egress: self.id,
            kind: MediaKind::Video,
        });
        if grace.is_zero() {
            self.finish(EgressState::Stopped {
                reason: StopReason::InputEnded,
            })
            .await;
            return;
        }
        self.close_session().await;
        for index in 0..self.destinations.len() {
            if !matches!(
                self.destinations[index].state,
                DestinationState::Failed { .. }
            ) {
                self.destinations[index].state = DestinationState::Stopped;
                self.destinations[index].next_attempt = None;
                self.emit_destination(index);
            }
        }
        self.waiting_since = Some(Instant::now());
        self.set_state(EgressState::WaitingForInput {
            grace_ms: grace.as_millis() as u64,
        });
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

    fn reset_input_figures(&mut self) {
        self.muxed.clear();
        self.frames.clear();
        self.last_muxed = 0;
        self.last_video_packets = 0;
        self.last_audio_packets = 0;
        self.video_flowing = true;
        self.audio_flowing = true;
    }

    fn set_flowing(&mut self, kind: MediaKind, flowing: bool) {
        let flag = match kind {
            MediaKind::Video => &mut self.video_flowing,
            MediaKind::Audio => &mut self.audio_flowing,
        };
        if *flag == flowing {
            return;
        }
        *flag = flowing;
        let event = if flowing {
            tracing::info!(?kind, "input flowing again");
            EgressEvent::InputResumed {
                egress: self.id,
                kind,
            }
        } else {
            tracing::warn!(?kind, "no RTP from the producer");
            EgressEvent::InputStalled {
                egress: self.id,
                kind,
            }
        };
        let _ = self.events.send(event);
    }

    /// Recomputes the overall state while running.
    fn refresh_state(&mut self) {
        if self.state.is_final() || matches!(self.state, EgressState::WaitingForInput { .. }) {
            return;
        }
        let file = self.file.as_ref().map(FileOutput::as_destination);
        let outputs = self.destinations.iter().map(|d| &d.state).chain(&file);
        match running_state(outputs) {
            Some(state) => self.set_state(state),
            None => {
                let error = match (&self.file, self.destinations.is_empty()) {
                    (Some(file), true) => match &file.state {
                        FileState::Failed { error } => format!("recording failed: {error}"),
                        _ => "the recording ended".to_owned(),
                    },
                    _ => "every destination failed".to_owned(),
                };
                tracing::error!(%error, "no output left");
                // Nothing left to push to: the session closes in the background,
                // once the failed sinks are out of it (see `close_session`).
                self.set_state(EgressState::Failed { error });
                if let Some(session) = self.session.take() {
                    let detaching = std::mem::take(&mut self.detaching);
                    tokio::spawn(async move {
                        for detach in detaching {
                            let _ = detach.await;
                        }
                        session.close(Vec::new()).await;
                    });
                }
            }
        }
    }

    fn set_state(&mut self, state: EgressState) {
        if self.state == state {
            return;
        }
        tracing::info!(from = ?self.state, to = ?state, "egress state");
        self.state = state.clone();
        let _ = self.events.send(EgressEvent::StateChanged {
            egress: self.id,
            state,
        });
        self.publish(Instant::now());
    }

    fn emit_destination(&mut self, index: usize) {
        self.dirty = true;
        let destination = &self.destinations[index];
        let _ = self.events.send(EgressEvent::DestinationChanged {
            egress: self.id,
            destination: destination.id,
            url: destination.target.redacted.clone(),
            state: destination.state.clone(),
        });
    }

    fn publish(&mut self, now: Instant) {
        self.last_status_at = now;
        self.dirty = false;
        let status = self.snapshot(now);
        if let Some(tx) = &self.status_tx {
            tx.send_replace(status);
        }
    }

    fn snapshot(&self, now: Instant) -> EgressStatus {
        EgressStatus {
            id: self.id,
            label: self.label.clone(),
            state: self.state.clone(),
            input: self.session.as_ref().map(|s| InputStatus {
                video: s.video_codec.clone(),
                video_path: s.path,
                has_audio: s.audio.is_some(),
                video_flowing: self.video_flowing,
                audio_flowing: s.audio.is_some() && self.audio_flowing,
            }),
            stats: EgressStats {
                uptime_secs: now.duration_since(self.started_at).as_secs_f64(),
                fps: (self.frames.per_second(1.0) * 10.0).round() / 10.0,
                bitrate_bps: self.muxed.per_second(8.0) as u64,
                bytes_muxed: self.last_muxed,
            },
            destinations: self.destinations.iter().map(|d| d.status(now)).collect(),
            file: self.file.as_ref().map(FileOutput::status),
        }
    }
}
