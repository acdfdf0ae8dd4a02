//! A session: the consumers of one input and the pipeline they feed. An
//! egress has one while running; `replace_input` swaps it for a new one.

use crate::compose::{Compose, Composer, Layout};
use crate::error::EgressError;
use crate::pipeline::{MediaPipeline, PipelinePlan, PlanInput, SessionEvent};
use crate::profile::{InputVideoCodec, OutputProfile, VideoMode, VideoPath, choose_video_path};
use crate::rtmp::RtmpSink;
use crate::secret::Scrubber;
use crate::source::{ConsumedTrack, RtpCodec};
use mediasoup::prelude::*;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a stop waits for the closing RTMP commands to go out.
const EOS_WAIT: Duration = Duration::from_secs(2);
/// How long a stop waits when a file is finalised too (its index written).
const FILE_EOS_WAIT: Duration = Duration::from_secs(10);
/// How long a stop waits for the pipeline to reach NULL.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Which producers to consume, and how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs {
    pub video: ProducerId,
    pub audio: Option<ProducerId>,
    pub simulcast_layer: Option<u8>,
    pub mode: VideoMode,
}

/// What feeds a session's pipeline.
pub(crate) enum SessionInput {
    /// One video and maybe one audio consumer.
    Producers {
        video: ConsumedTrack,
        audio: Option<ConsumedTrack>,
    },
    /// Inputs composed into one picture; they come and go.
    Composed(Composer),
}

/// The consumers and the pipeline fed by them.
pub(crate) struct Session {
    pub input: SessionInput,
    pub pipeline: MediaPipeline,
    pub events: mpsc::UnboundedReceiver<SessionEvent>,
    video_codec: InputVideoCodec,
    pub path: VideoPath,
}

impl Session {
    /// Consumers are created paused and resumed only once the pipeline
    /// plays: a stream that starts before its keyframe produces nothing.
    pub(crate) async fn open(
        router: &Router,
        inputs: &Inputs,
        output: &OutputProfile,
        scrubber: &Scrubber,
        file: Option<&std::path::Path>,
    ) -> Result<Self, EgressError> {
        let (tx, events) = mpsc::unbounded_channel();
        let video = ConsumedTrack::consume(
            router,
            inputs.video,
            MediaKind::Video,
            inputs.simulcast_layer,
            tx.clone(),
        )
        .await?;
        let audio = match inputs.audio {
            Some(producer) => Some(
                ConsumedTrack::consume(router, producer, MediaKind::Audio, None, tx.clone())
                    .await?,
            ),
            None => None,
        };
        let video_codec = match &video.stream.codec {
            RtpCodec::Vp8 => InputVideoCodec::Vp8,
            RtpCodec::H264 { profile_level_id } => InputVideoCodec::H264 {
                profile_level_id: profile_level_id.clone(),
            },
            RtpCodec::Opus => {
                return Err(EgressError::UnsupportedCodec("Opus as video".to_owned()));
            }
        };
        let path = choose_video_path(&video_codec, output, inputs.mode);
        let plan = PipelinePlan {
            input: PlanInput::Producers {
                video: &video.stream,
                audio: audio.as_ref().map(|a| &a.stream),
                path,
            },
            output,
            file,
        };
        let (pipeline, _) = MediaPipeline::build(&plan, tx, scrubber.clone())?;
        let (Some(video_port), audio_port) = pipeline.bind()? else {
            return Err(EgressError::Pipeline("no video socket".to_owned()));
        };
        video.connect(video_port).await?;
        if let (Some(audio), Some(port)) = (&audio, audio_port) {
            audio.connect(port).await?;
        }
        pipeline.play()?;
        video.resume().await?;
        if let Some(audio) = &audio {
            audio.resume().await?;
        }
        let _ = video.consumer().request_key_frame().await;
        Ok(Self {
            input: SessionInput::Producers { video, audio },
            pipeline,
            events,
            video_codec,
            path,
        })
    }

    /// A composed session: the pipeline plays (black and silence) before
    /// its first inputs are added.
    pub(crate) async fn open_composed(
        router: &Router,
        compose: &Compose,
        output: &OutputProfile,
        scrubber: &Scrubber,
        file: Option<&std::path::Path>,
    ) -> Result<Self, EgressError> {
        let (tx, events) = mpsc::unbounded_channel();
        let plan = PipelinePlan {
            input: PlanInput::Composed(compose.layout),
            output,
            file,
        };
        let (pipeline, composer) = MediaPipeline::build(&plan, tx, scrubber.clone())?;
        let mut composer =
            composer.ok_or_else(|| EgressError::Pipeline("no composing stage".to_owned()))?;
        pipeline.bind()?;
        pipeline.play()?;
        composer.set(router, &compose.inputs).await?;
        Ok(Self {
            input: SessionInput::Composed(composer),
            pipeline,
            events,
            video_codec: InputVideoCodec::Vp8,
            path: VideoPath::Reencode,
        })
    }

    /// Asks the video producer(s) for a keyframe.
    pub(crate) fn request_key_frame(&self) {
        match &self.input {
            SessionInput::Producers { video, .. } => {
                let consumer = video.consumer().clone();
                tokio::spawn(async move {
                    if let Err(error) = consumer.request_key_frame().await {
                        tracing::debug!(%error, "keyframe request failed");
                    }
                });
            }
            SessionInput::Composed(composer) => composer.request_key_frames(),
        }
    }

    /// The video codec coming in (composed: the camera's, else the screen's).
    pub(crate) fn video_codec(&self) -> InputVideoCodec {
        match &self.input {
            SessionInput::Producers { .. } => self.video_codec.clone(),
            SessionInput::Composed(composer) => match composer.video_codec() {
                Some(RtpCodec::H264 { profile_level_id }) => {
                    InputVideoCodec::H264 { profile_level_id }
                }
                _ => InputVideoCodec::Vp8,
            },
        }
    }

    pub(crate) fn has_audio(&self) -> bool {
        match &self.input {
            SessionInput::Producers { audio, .. } => audio.is_some(),
            SessionInput::Composed(composer) => composer.has_audio(),
        }
    }

    /// How the picture is composed; `None` for a producer pair.
    pub(crate) fn layout(&self) -> Option<Layout> {
        match &self.input {
            SessionInput::Composed(composer) => Some(composer.layout()),
            SessionInput::Producers { .. } => None,
        }
    }

    /// The composing stage, if this session composes.
    pub(crate) fn composer(&mut self) -> Option<&mut Composer> {
        match &mut self.input {
            SessionInput::Composed(composer) => Some(composer),
            SessionInput::Producers { .. } => None,
        }
    }

    /// EOS first (the ingests hear the stream end), then NULL; dropping the
    /// session closes the consumers and transports.
    ///
    /// No EOS while the muxer has output nothing: it is still waiting for a
    /// first video buffer and holds the audio branch back, whose source then
    /// keeps the lock EOS needs (with the pipeline's state lock, which would
    /// stall the stop too); nothing reached an ingest to finish anyway.
    pub(crate) async fn close(mut self, sinks: Vec<RtmpSink>) {
        if let Some(composer) = self.composer() {
            composer.remove_all();
        }
        if self.pipeline.counters.muxed_bytes.load(Ordering::Relaxed) > 0 {
            self.pipeline.send_eos();
            let wait = if self.pipeline.file.is_some() {
                FILE_EOS_WAIT
            } else {
                EOS_WAIT
            };
            let _ = tokio::time::timeout(wait, async {
                while let Some(event) = self.events.recv().await {
                    if matches!(event, SessionEvent::Eos) {
                        break;
                    }
                }
            })
            .await;
        }
        for sink in sinks {
            let _ = self.pipeline.detach(sink, false).await;
        }
        let pipeline = self.pipeline;
        let stopped = tokio::task::spawn_blocking(move || {
            pipeline.stop_blocking();
            drop(pipeline);
        });
        if tokio::time::timeout(STOP_WAIT, stopped).await.is_err() {
            // Left to finish (or not) on its blocking thread: a stop of the
            // egress, or of the server, does not hang on it.
            tracing::error!("the media pipeline did not stop in time");
        }
    }
}
