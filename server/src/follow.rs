//! A composed egress (a recording, or a restream given a layout) follows
//! the room: every [`POLL`] it is given the teacher's camera, screen and
//! microphone (and, for a recording, the speakers' microphones) as they are
//! now, piped to its router first. The picture goes on, black while there
//! is no video; once the teacher has sent no video for the grace period,
//! the follower says so and its owner ends the egress.

use crate::restream::egress_error;
use crate::room::{ComposedSources, Room, Voices};
use mediasoup::prelude::ProducerId;
use podium_egress::{ComposeInputs, Egress};
use std::time::Duration;
use tokio::time::Instant;

/// How often the room's producers are looked at.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Whether the teacher's video is still there (or may come back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Followed {
    /// Video, or none for less than the grace period.
    Going,
    /// No video from the teacher for the whole grace period.
    VideoGone,
}

pub(crate) struct Follower {
    /// What is followed ("recording", "restream"), for the log.
    what: &'static str,
    /// Its id, for the log.
    id: String,
    voices: Voices,
    grace: Duration,
    sources: ComposedSources,
    no_video_since: Option<Instant>,
}

impl Follower {
    /// Starts from `sources`, the ones the egress was started with.
    pub(crate) fn new(
        what: &'static str,
        id: impl ToString,
        voices: Voices,
        grace: Duration,
        sources: ComposedSources,
    ) -> Self {
        Self {
            what,
            id: id.to_string(),
            voices,
            grace,
            sources,
            no_video_since: None,
        }
    }

    /// Looks at the room once: gives the egress any change (again at the
    /// next tick if it could not take it), and says whether the teacher's
    /// video is gone for good.
    pub(crate) async fn tick(&mut self, room: &Room, egress: &Egress) -> Followed {
        let now = room.composed_sources(self.voices);
        if now != self.sources && self.apply(room, egress, &now).await {
            self.sources = now.clone();
        }
        if has_video(&now) {
            self.no_video_since = None;
            return Followed::Going;
        }
        let since = *self.no_video_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= self.grace {
            tracing::info!(room = %room.id(), what = self.what, id = %self.id, "no video from the teacher within the grace period");
            Followed::VideoGone
        } else {
            Followed::Going
        }
    }

    /// Gives the egress `sources` (piped to its router first); whether it took them.
    async fn apply(&self, room: &Room, egress: &Egress, sources: &ComposedSources) -> bool {
        let result = match room.home_router_with(&producers(sources)).await {
            Ok(_) => egress
                .set_inputs(compose_inputs(sources))
                .await
                .map_err(egress_error),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                tracing::info!(room = %room.id(), id = %self.id, ?sources, "{} follows the room's producers", self.what);
                true
            }
            Err(error) => {
                tracing::warn!(room = %room.id(), id = %self.id, %error, "{} could not take the teacher's producers (tried again in a moment)", self.what);
                false
            }
        }
    }
}

pub(crate) fn has_video(sources: &ComposedSources) -> bool {
    sources.camera.is_some() || sources.screen.is_some()
}

/// What a composed egress reads.
pub(crate) fn compose_inputs(sources: &ComposedSources) -> ComposeInputs {
    ComposeInputs {
        camera: sources.camera,
        screen: sources.screen,
        audio: sources.mics.clone(),
    }
}

/// Every producer a composed egress reads, to pipe to its router.
pub(crate) fn producers(sources: &ComposedSources) -> Vec<Option<ProducerId>> {
    [sources.camera, sources.screen]
        .into_iter()
        .chain(sources.mics.iter().copied().map(Some))
        .collect()
}
