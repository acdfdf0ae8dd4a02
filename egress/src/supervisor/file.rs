//! The file output (a recording) as the supervisor follows it: its state,
//! size and duration, and its failure, which ends it alone.

use super::Supervisor;
use crate::file::FileProgress;
use crate::status::{DestinationState, EgressEvent, FileState, FileStatus};
use std::sync::Arc;
use std::time::Duration;

/// The file output: written by the first session only (a new input would
/// start a new file), so it is finished when that session closes.
pub(super) struct FileOutput {
    pub(super) path: std::path::PathBuf,
    pub(super) state: FileState,
    pub(super) progress: Arc<FileProgress>,
    pub(super) bytes: u64,
}

impl FileOutput {
    /// What the file counts as among the outputs, for the egress's state.
    pub(super) fn as_destination(&self) -> DestinationState {
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

    pub(super) fn status(&self) -> FileStatus {
        FileStatus {
            state: self.state.clone(),
            bytes: self.bytes,
            duration_secs: (self.progress.duration().as_secs_f64() * 1000.0).round() / 1000.0,
        }
    }

    pub(super) fn refresh_bytes(&mut self) {
        if let Ok(meta) = std::fs::metadata(&self.path) {
            self.bytes = meta.len();
        }
    }
}

impl Supervisor {
    /// The file output could not write: it ends, keeping what it wrote;
    /// the other outputs go on.
    pub(super) fn file_failed(&mut self, message: String) {
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
}
