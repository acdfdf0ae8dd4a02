//! An egress as the caller sees it: what to start it with ([`EgressSpec`],
//! [`EgressConfig`]) and the handle to steer and watch it ([`Egress`]). The
//! work happens in the supervisor task ([`crate::supervisor`]).

use crate::compose::{Compose, ComposeInputs, Layout};
use crate::destination::{DestinationSpec, RtmpTarget};
use crate::error::EgressError;
use crate::ids::{DestinationId, EgressId};
use crate::network::{NetworkPolicy, Vetting};
use crate::profile::{OutputProfile, Preset, VideoMode};
use crate::retry::RetryPolicy;
use crate::rtmp::TlsValidation;
use crate::secret::Scrubber;
use crate::session::{Inputs, Session};
use crate::status::{EgressEvent, EgressState, EgressStatus, StopReason};
use crate::supervisor::{Supervisor, SupervisorParts};
use gstreamer as gst;
use mediasoup::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

/// Settings shared by every egress (the server's `[egress]` config).
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// How failed destinations are reconnected.
    pub retry: RetryPolicy,
    /// No byte accepted (or acknowledged) by a live ingest for this long,
    /// while media flows: the ingest is hung and the connection is redone.
    pub watchdog: Duration,
    /// rtmp2sink's own network timeout.
    pub rtmp_timeout: Duration,
    /// After the video producer closes, wait this long for
    /// [`Egress::replace_input`] before stopping. Zero: stop at once.
    pub input_grace: Duration,
    /// How RTMPS ingests' certificates are checked (`Full` in production).
    pub tls: TlsValidation,
    /// Which hosts and ports destinations may use; checked before every
    /// connection attempt.
    pub network: NetworkPolicy,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            watchdog: Duration::from_secs(5),
            rtmp_timeout: Duration::from_secs(5),
            input_grace: Duration::from_secs(30),
            tls: TlsValidation::Full,
            network: NetworkPolicy::default(),
        }
    }
}

/// What an egress reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressInput {
    /// One producer pair, passed through or re-encoded.
    Producers {
        /// A video producer (VP8 or H.264) on the router given to [`Egress::start`].
        video: ProducerId,
        /// An Opus producer; `None` sends silence.
        audio: Option<ProducerId>,
    },
    /// A camera and a screen composed into one picture, microphones mixed;
    /// always re-encoded. [`Egress::set_inputs`] changes them live.
    Composed(Compose),
}

/// What to restream, and where.
#[derive(Debug, Clone)]
pub struct EgressSpec {
    /// Shown in status and logs (e.g. the room id). Not a secret.
    pub label: String,
    /// What it reads, on the router given to [`Egress::start`].
    pub input: EgressInput,
    /// RTMP(S) destinations; at least one unless `file` is given.
    pub destinations: Vec<DestinationSpec>,
    /// Record to this MP4 file too (it must not exist yet). The file is
    /// written by the first input only: an egress with no destination ends
    /// with its input, and one with destinations goes on without the file
    /// after [`Egress::replace_input`].
    pub file: Option<std::path::PathBuf>,
    /// Output rules; [`EgressSpec::new`] picks the strictest of the destinations'.
    pub preset: Preset,
    /// Overrides the preset's output profile.
    pub output: Option<OutputProfile>,
    /// Whether H.264 input may pass through (default `Auto`).
    pub video_mode: VideoMode,
    /// Simulcast/SVC layer to pin (clamped; default the top one).
    pub simulcast_layer: Option<u8>,
}

impl EgressSpec {
    /// A spec whose preset follows the destinations (IVS if any is IVS, else the first one's
    /// service), with the preset's output, `VideoMode::Auto` and the top simulcast layer.
    pub fn new(
        label: impl Into<String>,
        video_producer: ProducerId,
        audio_producer: Option<ProducerId>,
        destinations: Vec<DestinationSpec>,
    ) -> Self {
        Self {
            label: label.into(),
            input: EgressInput::Producers {
                video: video_producer,
                audio: audio_producer,
            },
            preset: preset_for(&destinations),
            destinations,
            file: None,
            output: None,
            video_mode: VideoMode::Auto,
            simulcast_layer: None,
        }
    }

    /// A composed restream: `compose`'s inputs in one picture, re-encoded
    /// by the destinations' preset ([`EgressSpec::new`]'s choice).
    pub fn composed(
        label: impl Into<String>,
        compose: Compose,
        destinations: Vec<DestinationSpec>,
    ) -> Self {
        Self {
            label: label.into(),
            input: EgressInput::Composed(compose),
            preset: preset_for(&destinations),
            destinations,
            file: None,
            output: None,
            video_mode: VideoMode::Reencode,
            simulcast_layer: None,
        }
    }

    /// A recording: the producers written to `path` (H.264 + AAC in MP4,
    /// re-encoded to the custom preset's 720p30 unless H.264 passes through).
    pub fn record(
        label: impl Into<String>,
        video_producer: ProducerId,
        audio_producer: Option<ProducerId>,
        path: impl Into<std::path::PathBuf>,
    ) -> Self {
        let mut spec = Self::new(label, video_producer, audio_producer, Vec::new());
        spec.file = Some(path.into());
        spec
    }

    /// A composed recording: `compose`'s inputs in one picture, written to
    /// `path` (H.264 + AAC in MP4, the custom preset's 720p30).
    pub fn record_composed(
        label: impl Into<String>,
        compose: Compose,
        path: impl Into<std::path::PathBuf>,
    ) -> Self {
        let mut spec = Self::composed(label, compose, Vec::new());
        spec.file = Some(path.into());
        spec
    }

    fn output_profile(&self) -> OutputProfile {
        self.output.clone().unwrap_or_else(|| self.preset.output())
    }
}

/// The output rules of a set of destinations: IVS if any is IVS (the
/// strictest: baseline), else the first one's service, else custom.
fn preset_for(destinations: &[DestinationSpec]) -> Preset {
    use crate::destination::Ingest;
    if destinations
        .iter()
        .any(|d| matches!(d.ingest, Ingest::Ivs { .. }))
    {
        return Preset::Ivs;
    }
    match destinations.first().map(|d| &d.ingest) {
        Some(Ingest::YouTube) => Preset::YouTube,
        Some(Ingest::Twitch { .. }) => Preset::Twitch,
        _ => Preset::Custom,
    }
}

pub(crate) enum Command {
    AddDestination(
        DestinationSpec,
        oneshot::Sender<Result<DestinationId, EgressError>>,
    ),
    RemoveDestination(DestinationId, oneshot::Sender<Result<(), EgressError>>),
    ReplaceInput {
        video: ProducerId,
        audio: Option<ProducerId>,
        reply: oneshot::Sender<Result<(), EgressError>>,
    },
    SetInputs(ComposeInputs, oneshot::Sender<Result<(), EgressError>>),
    SetLayout(Layout, oneshot::Sender<Result<(), EgressError>>),
    Stop(StopReason, oneshot::Sender<()>),
    ElementFactories(oneshot::Sender<Vec<String>>),
}

/// A running restream. Cheap to clone; when the last clone is dropped the
/// egress stops (reason `dropped`).
#[derive(Clone)]
#[must_use = "dropping the last handle stops the egress"]
pub struct Egress {
    shared: Arc<Shared>,
}

struct Shared {
    id: EgressId,
    network: NetworkPolicy,
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<EgressStatus>,
    events: broadcast::Sender<EgressEvent>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("id", &self.shared.id)
            .finish()
    }
}

impl Egress {
    /// Consumes the producers, builds and plays the pipeline, and starts
    /// connecting to every destination. Returns once the pipeline plays and
    /// the consumers are resumed; the destinations go live in the background
    /// (watch [`Egress::subscribe`]). Needs a Tokio runtime.
    ///
    /// Errors: no or invalid destinations, destinations the network policy
    /// refuses, unknown producers, unsupported codecs, missing GStreamer
    /// plugins, mediasoup failures.
    pub async fn start(
        router: &Router,
        spec: EgressSpec,
        config: EgressConfig,
    ) -> Result<Self, EgressError> {
        gst::init().map_err(|e| EgressError::Pipeline(e.to_string()))?;
        if spec.destinations.is_empty() && spec.file.is_none() {
            return Err(EgressError::NoDestinations);
        }
        let targets = spec
            .destinations
            .iter()
            .enumerate()
            .map(|(index, d)| {
                crate::destination::parse(d)
                    .map_err(|error| EgressError::InvalidDestination { index, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (index, target) in targets.iter().enumerate() {
            refuse_early(&config.network, index, target).await?;
        }
        crate::pin::install();
        let scrubber = Scrubber::default();
        for target in &targets {
            scrubber.add(target.secrets.iter().cloned());
        }

        let id = EgressId::new();
        let span = tracing::info_span!("egress", egress = %id, label = %spec.label);
        let output = spec.output_profile();
        let (inputs, session) = match &spec.input {
            EgressInput::Producers { video, audio } => {
                let inputs = Inputs {
                    video: *video,
                    audio: *audio,
                    simulcast_layer: spec.simulcast_layer,
                    mode: spec.video_mode,
                };
                let session =
                    Session::open(router, &inputs, &output, &scrubber, spec.file.as_deref())
                        .instrument(span.clone())
                        .await?;
                (Some(inputs), session)
            }
            EgressInput::Composed(compose) => {
                let session = Session::open_composed(
                    router,
                    compose,
                    &output,
                    &scrubber,
                    spec.file.as_deref(),
                )
                .instrument(span.clone())
                .await?;
                (None, session)
            }
        };
        span.in_scope(|| {
            tracing::info!(
                video = ?session.video_codec(),
                path = ?session.path,
                audio = session.has_audio(),
                destinations = targets.len(),
                file = ?spec.file,
                "egress started"
            );
        });

        let network = config.network.clone();
        let (events, _) = broadcast::channel(256);
        let (supervisor, status_rx) = Supervisor::new(SupervisorParts {
            id,
            label: spec.label,
            router: router.clone(),
            inputs,
            output,
            config,
            scrubber,
            session,
            targets,
            events: events.clone(),
        });
        let (commands_tx, commands_rx) = mpsc::channel(32);
        tokio::spawn(supervisor.run(commands_rx).instrument(span));
        Ok(Self {
            shared: Arc::new(Shared {
                id,
                network,
                commands: commands_tx,
                status: status_rx,
                events,
            }),
        })
    }

    /// This egress's id (also in its status and events).
    pub fn id(&self) -> EgressId {
        self.shared.id
    }

    /// The latest status (updated on every change, and every second).
    pub fn status(&self) -> EgressStatus {
        self.shared.status.borrow().clone()
    }

    /// Status stream: each change of state, and fresh figures every second.
    /// Ends after the final state (`failed` / `stopped`) is published.
    pub fn subscribe(&self) -> watch::Receiver<EgressStatus> {
        self.shared.status.clone()
    }

    /// State changes as discrete events (for notifications). A receiver
    /// that lags loses the oldest events, never blocks the egress.
    pub fn events(&self) -> broadcast::Receiver<EgressEvent> {
        self.shared.events.subscribe()
    }

    /// Adds a destination while live; it starts connecting at once.
    pub async fn add_destination(
        &self,
        destination: DestinationSpec,
    ) -> Result<DestinationId, EgressError> {
        let target = crate::destination::parse(&destination)
            .map_err(|error| EgressError::InvalidDestination { index: 0, error })?;
        refuse_early(&self.shared.network, 0, &target).await?;
        self.request(|reply| Command::AddDestination(destination, reply))
            .await?
    }

    /// Removes a destination (ends its stream cleanly). The last one cannot
    /// be removed: stop the egress instead.
    pub async fn remove_destination(&self, id: DestinationId) -> Result<(), EgressError> {
        self.request(|reply| Command::RemoveDestination(id, reply))
            .await?
    }

    /// Switches to other producers (the teacher came back, or changed
    /// camera): a new session is built, and each destination reconnects
    /// with it (a new RTMP publish). On error the current input is kept.
    pub async fn replace_input(
        &self,
        video: ProducerId,
        audio: Option<ProducerId>,
    ) -> Result<(), EgressError> {
        self.request(|reply| Command::ReplaceInput {
            video,
            audio,
            reply,
        })
        .await?
    }

    /// Changes a composed egress's inputs live (on the router it started
    /// on): gone ones are dropped, new ones consumed and placed; the
    /// encoder and the outputs run on. Errors on an egress reading one
    /// producer pair ([`EgressError::NotComposed`]).
    pub async fn set_inputs(&self, inputs: ComposeInputs) -> Result<(), EgressError> {
        self.request(|reply| Command::SetInputs(inputs, reply))
            .await?
    }

    /// Changes a composed egress's layout live (the outputs go on, the
    /// next frame is placed the new way); refused for a producer pair
    /// ([`EgressError::NotComposed`]).
    pub async fn set_layout(&self, layout: Layout) -> Result<(), EgressError> {
        self.request(|reply| Command::SetLayout(layout, reply))
            .await?
    }

    /// Ends every stream cleanly and releases the consumers. Returns once
    /// stopped; a no-op on an egress that already ended.
    pub async fn stop(&self) {
        let _ = self
            .request(|reply| Command::Stop(StopReason::Requested, reply))
            .await;
    }

    /// Stops as [`stop`](Self::stop) does, for the reason that the caller's
    /// inputs are gone for good (a composed egress whose teacher left):
    /// the state says `inputEnded`, not `requested`.
    pub async fn input_ended(&self) {
        let _ = self
            .request(|reply| Command::Stop(StopReason::InputEnded, reply))
            .await;
    }

    /// Resolves with the final state, once the egress ends.
    pub async fn wait(&self) -> EgressState {
        let mut rx = self.subscribe();
        loop {
            let state = rx.borrow_and_update().state.clone();
            if state.is_final() {
                return state;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().state.clone();
            }
        }
    }

    /// GStreamer factory names of the running pipeline's elements (e.g. to
    /// check that a passthrough runs no encoder). Empty while no session runs.
    pub async fn element_factories(&self) -> Result<Vec<String>, EgressError> {
        self.request(Command::ElementFactories).await
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, EgressError> {
        let (reply, response) = oneshot::channel();
        self.shared
            .commands
            .send(command(reply))
            .await
            .map_err(|_| EgressError::Ended)?;
        response.await.map_err(|_| EgressError::Ended)
    }
}

/// Refuses a destination the network policy forbids, before anything is
/// built. A host that does not resolve now is let through: each connection
/// attempt resolves and checks again, and fails (and retries) on its own.
async fn refuse_early(
    network: &NetworkPolicy,
    index: usize,
    target: &RtmpTarget,
) -> Result<(), EgressError> {
    match network.vet(&target.host, target.port).await {
        Err(Vetting::Refused(reason)) => {
            tracing::warn!(index, url = %target.redacted, %reason, "destination refused");
            Err(EgressError::DestinationRefused { index, reason })
        }
        Ok(_) | Err(Vetting::Unresolved) => Ok(()),
    }
}
