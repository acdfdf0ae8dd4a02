//! The supervisor's state and status: the egress's state from its outputs'
//! states, and what subscribers and event listeners get.

use super::{FileOutput, Supervisor};
use crate::status::{
    EgressEvent, EgressState, EgressStats, EgressStatus, FileState, InputStatus, running_state,
};
use std::time::Instant;

impl Supervisor {
    /// Recomputes the overall state while running.
    pub(super) fn refresh_state(&mut self) {
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

    pub(super) fn set_state(&mut self, state: EgressState) {
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

    pub(super) fn publish(&mut self, now: Instant) {
        self.last_status_at = now;
        self.dirty = false;
        let status = self.snapshot(now);
        if let Some(tx) = &self.status_tx {
            tx.send_replace(status);
        }
    }

    pub(super) fn snapshot(&self, now: Instant) -> EgressStatus {
        EgressStatus {
            id: self.id,
            label: self.label.clone(),
            state: self.state.clone(),
            input: self.session.as_ref().map(|s| InputStatus {
                video: s.video_codec(),
                video_path: s.path,
                has_audio: s.has_audio(),
                video_flowing: self.video_flowing,
                audio_flowing: s.has_audio() && self.audio_flowing,
            }),
            stats: EgressStats {
                uptime_secs: now.duration_since(self.started_at).as_secs_f64(),
                fps: (self.frames.per_second(1.0) * 10.0).round() / 10.0,
                bitrate_bps: self.muxed.per_second(8.0) as u64,
                bytes_muxed: self.last_muxed,
            },
            destinations: self.destinations.iter().map(|d| d.status(now)).collect(),
            file: self.file.as_ref().map(FileOutput::status),
            layout: self.layout,
        }
    }
}
