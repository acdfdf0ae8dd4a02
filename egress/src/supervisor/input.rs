//! The supervisor's input side: a new input (the teacher came back), the
//! input lost (the video producer closed), and whether RTP flows.

use super::Supervisor;
use crate::compose::ComposeInputs;
use crate::error::EgressError;
use crate::retry::RetryState;
use crate::session::{Inputs, Session};
use crate::status::{DestinationState, EgressEvent, EgressState, StopReason};
use mediasoup::prelude::*;
use std::time::{Duration, Instant};

impl Supervisor {
    /// A composed egress's new inputs.
    pub(super) async fn set_inputs(&mut self, inputs: &ComposeInputs) -> Result<(), EgressError> {
        let router = self.router.clone();
        let composer = self
            .session
            .as_mut()
            .and_then(Session::composer)
            .ok_or(EgressError::NotComposed)?;
        composer.set(&router, inputs).await
    }

    pub(super) async fn replace_input(
        &mut self,
        video: ProducerId,
        audio: Option<ProducerId>,
    ) -> Result<(), EgressError> {
        let Some(current) = self.inputs else {
            return Err(EgressError::Composed);
        };
        if self.destinations.is_empty() {
            return Err(EgressError::RecordingInput);
        }
        let router = self.router.clone();
        let inputs = Inputs {
            video,
            audio,
            ..current
        };
        let session = Session::open(&router, &inputs, &self.output, &self.scrubber, None).await?;
        tracing::info!(%video, ?audio, path = ?session.path, "input replaced");
        self.inputs = Some(inputs);
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

    /// The video producer closed: tear the session down and wait (a
    /// recording alone does not wait: a new input is a new recording).
    pub(super) async fn input_lost(&mut self) {
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

    pub(super) fn set_flowing(&mut self, kind: MediaKind, flowing: bool) {
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

    pub(super) fn reset_input_figures(&mut self) {
        self.muxed.clear();
        self.frames.clear();
        self.last_muxed = 0;
        self.last_video_packets = 0;
        self.last_audio_packets = 0;
        self.video_flowing = true;
        self.audio_flowing = true;
    }
}
