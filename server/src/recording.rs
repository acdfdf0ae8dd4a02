//! Recordings: the server's side of the egress crate's file output. Who may
//! record (an admin, or the room's teacher when `auth.teacher_can_record`),
//! one recording per room at a time, which producers it reads (the same
//! defaults and rules as a restream), the room told while it runs (every
//! peer: people must know they are recorded), automatic recording when the
//! teacher goes live, and the files on disk: `<id>.mp4` and `<id>.json` (the
//! record the admin API lists) in `recording.dir`, kept across restarts,
//! trimmed by the retention rules.

use crate::auth::Role;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::follow::{self, Followed, Follower};
use crate::ids::RoomId;
use crate::restream::{Requester, egress_error};
use crate::room::{Room, RoomHold, Rooms, Voices};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use podium_egress::{
    Compose, Egress, EgressConfig, EgressManager, EgressSpec, EgressState, FileState, H264Profile,
    Layout, OutputProfile, StopReason,
};
use podium_protocol::RecordingId;
use podium_protocol::recording::{RecordingEnd, RecordingLink, RecordingState, RecordingSummary};
use sha2::Sha256;
use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a file link works.
const LINK_TTL: Duration = Duration::from_secs(3600);
/// How often the retention rules run (besides at start and after each recording).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How often a running recording's record is rewritten (its size and
/// duration survive a crash to within this).
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// How to record: the layout of the teacher's camera and screen.
#[derive(Debug, Default, Clone, Copy)]
pub struct StartRecording {
    pub layout: Layout,
}

impl From<podium_protocol::recording::StartRecording> for StartRecording {
    fn from(wire: podium_protocol::recording::StartRecording) -> Self {
        Self {
            layout: wire.layout,
        }
    }
}

/// A recording's record, and its egress while it runs.
struct Entry {
    summary: RecordingSummary,
    egress: Option<Egress>,
    /// Set before a stop the recording did not ask for itself.
    end: Option<RecordingEnd>,
}

#[derive(Default)]
struct Store {
    entries: HashMap<RecordingId, Entry>,
    /// The recording running in each room.
    running: HashMap<RoomId, RecordingId>,
    /// Rooms being started (counted against the limits).
    starting: Vec<RoomId>,
    /// Per-room `auto` overrides.
    auto: HashMap<RoomId, bool>,
}

pub struct Recordings {
    manager: EgressManager,
    rooms: Arc<Rooms>,
    dir: PathBuf,
    teacher_can_record: bool,
    auto: bool,
    max_duration: Option<Duration>,
    /// How long a recording waits for the teacher's video to come back.
    teacher_grace: Duration,
    max_running: usize,
    retention: Option<Duration>,
    max_total_bytes: u64,
    /// The recorded picture and bitrates.
    output: OutputProfile,
    /// Signs file links; new at each start (links die with the process).
    link_key: [u8; 32],
    store: Arc<Mutex<Store>>,
}

impl Recordings {
    /// Creates the directory and reads the records in it: any still marked
    /// recording were cut short by a crash and become `interrupted`.
    pub fn new(config: &Config, rooms: Arc<Rooms>) -> std::io::Result<Arc<Self>> {
        let section = &config.recording;
        // Owner only, if made here: a class's video is not for every account on the host.
        if !section.dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&section.dir)?;
        }
        let this = Arc::new(Self {
            // No grace: a recording ends with its input (the teacher's next
            // video is a new recording, started by `auto`).
            manager: EgressManager::new(EgressConfig {
                input_grace: Duration::ZERO,
                ..EgressConfig::default()
            }),
            rooms,
            dir: section.dir.clone(),
            teacher_can_record: config.auth.teacher_can_record,
            auto: section.auto,
            max_duration: (section.max_duration_secs > 0)
                .then(|| Duration::from_secs(section.max_duration_secs)),
            teacher_grace: Duration::from_secs(config.egress.teacher_grace_secs),
            max_running: section.max_running,
            retention: (section.retention_days > 0)
                .then(|| Duration::from_secs(section.retention_days * 86_400)),
            max_total_bytes: section.max_total_bytes,
            output: output_profile(&section.resolution),
            link_key: rand::random(),
            store: Arc::default(),
        });
        this.load()?;
        this.apply_retention();
        // Hourly too: a server whose recordings never end still drops expired ones.
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(RETENTION_EVERY);
            hourly.tick().await;
            loop {
                hourly.tick().await;
                match weak.upgrade() {
                    Some(recordings) => recordings.apply_retention(),
                    None => return,
                }
            }
        });
        Ok(this)
    }

    fn load(&self) -> std::io::Result<()> {
        let mut store = self.store.lock();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(mut summary) = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<RecordingSummary>(&bytes).ok())
            else {
                tracing::warn!(path = %path.display(), "unreadable recording record skipped");
                continue;
            };
            if summary.state == RecordingState::Recording {
                summary.state = RecordingState::Interrupted;
                summary.bytes = file_size(&self.file_path(summary.id));
                tracing::warn!(recording = %summary.id, room = %summary.room, "recording cut short by a server stop; kept as interrupted");
                save(&self.dir, &summary);
            }
            store.entries.insert(
                summary.id,
                Entry {
                    summary,
                    egress: None,
                    end: None,
                },
            );
        }
        Ok(())
    }

    /// Where a recording's file is.
    pub fn file_path(&self, id: RecordingId) -> PathBuf {
        self.dir.join(format!("{id}.mp4"))
    }

    /// Refuses roles that may not record in a room.
    pub fn check_role(&self, role: Role) -> Result<()> {
        match role {
            Role::Admin => Ok(()),
            Role::Teacher if self.teacher_can_record => Ok(()),
            Role::Teacher => Err(Error::Forbidden(
                "recording is for admins on this server".into(),
            )),
            Role::Student => Err(Error::Forbidden("students cannot record".into())),
        }
    }

    /// Whether `role` may start and stop recordings (for `Joined.canRecord`).
    pub fn may_record(&self, role: Role) -> bool {
        self.check_role(role).is_ok()
    }

    pub async fn start(
        self: &Arc<Self>,
        room: &Arc<Room>,
        request: StartRecording,
        requester: Requester,
    ) -> Result<RecordingSummary> {
        let sources = room.composed_sources(Voices::WithSpeakers);
        if !follow::has_video(&sources) {
            return Err(Error::Conflict("the teacher is not sending video".into()));
        }
        let _reservation = self.reserve(room.id())?;
        let router = room.home_router_with(&follow::producers(&sources)).await?;
        let id = RecordingId::new();
        let compose = Compose {
            layout: request.layout,
            inputs: follow::compose_inputs(&sources),
        };
        let mut spec =
            EgressSpec::record_composed(room.id().to_string(), compose, self.file_path(id));
        spec.output = Some(self.output.clone());
        let egress = match self.manager.start(&router, spec).await {
            Ok(egress) => egress,
            Err(error) => {
                // A file made before the failure has no record: not kept.
                if !matches!(error, podium_egress::EgressError::File { .. }) {
                    let _ = std::fs::remove_file(self.file_path(id));
                }
                return Err(egress_error(error));
            }
        };
        let summary = RecordingSummary {
            id,
            room: room.id().to_string(),
            state: RecordingState::Recording,
            started_at: unix_millis(SystemTime::now()),
            duration_secs: 0.0,
            bytes: 0,
            end_reason: None,
            error: None,
            layout: request.layout,
        };
        save(&self.dir, &summary);
        {
            let mut store = self.store.lock();
            store.running.insert(room.id().clone(), id);
            store.entries.insert(
                id,
                Entry {
                    summary: summary.clone(),
                    egress: Some(egress.clone()),
                    end: None,
                },
            );
            room.set_recording(true);
        }
        tracing::info!(room = %room.id(), recording = %id, ?requester, layout = ?request.layout, "recording started");
        let follower = Follower::new(
            "recording",
            id,
            Voices::WithSpeakers,
            self.teacher_grace,
            sources,
        );
        tokio::spawn(Arc::clone(self).supervise(id, egress, room.hold(), follower));
        Ok(summary)
    }

    /// Changes a running recording's layout live (no gap in the file).
    pub async fn set_layout(&self, id: RecordingId, layout: Layout) -> Result<RecordingSummary> {
        let egress = {
            let store = self.store.lock();
            let entry = store
                .entries
                .get(&id)
                .ok_or_else(|| Error::not_found("recording", id))?;
            entry
                .egress
                .clone()
                .ok_or_else(|| Error::Conflict("the recording has ended".into()))?
        };
        egress.set_layout(layout).await.map_err(egress_error)?;
        if let Some(entry) = self.store.lock().entries.get_mut(&id) {
            entry.summary.layout = layout;
        }
        tracing::info!(recording = %id, ?layout, "recording layout changed");
        self.get(id)
    }

    /// Stops a recording; stopping one that has ended is fine.
    pub async fn stop(&self, id: RecordingId) -> Result<RecordingSummary> {
        self.end(id, RecordingEnd::Stopped).await;
        self.get(id)
    }

    /// Stops the room's running recording, if any.
    pub async fn stop_room(&self, room: &RoomId) -> Result<()> {
        let id = self.store.lock().running.get(room).copied();
        match id {
            Some(id) => self.stop(id).await.map(|_| ()),
            None => Err(Error::Conflict(format!(
                "room {room} is not being recorded"
            ))),
        }
    }

    async fn end(&self, id: RecordingId, reason: RecordingEnd) {
        let egress = {
            let mut store = self.store.lock();
            let Some(entry) = store.entries.get_mut(&id) else {
                return;
            };
            entry.end.get_or_insert(reason);
            entry.egress.clone()
        };
        if let Some(egress) = egress {
            egress.stop().await;
            // The supervisor writes the final record; wait for it.
            for _ in 0..100 {
                if self.get(id).is_ok_and(|s| s.state.is_final()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    pub fn get(&self, id: RecordingId) -> Result<RecordingSummary> {
        let store = self.store.lock();
        let entry = store
            .entries
            .get(&id)
            .ok_or_else(|| Error::not_found("recording", id))?;
        Ok(live_summary(entry))
    }

    /// Marks why a recording is about to be stopped (the first reason stays).
    fn stop_for(&self, id: RecordingId, end: RecordingEnd) {
        if let Some(entry) = self.store.lock().entries.get_mut(&id) {
            entry.end.get_or_insert(end);
        }
    }

    /// Running recordings first, then the others, newest first; of one room if given.
    pub fn list(&self, room: Option<&RoomId>) -> Vec<RecordingSummary> {
        let store = self.store.lock();
        let mut all: Vec<RecordingSummary> = store
            .entries
            .values()
            .filter(|e| room.is_none_or(|r| e.summary.room == r.as_str()))
            .map(live_summary)
            .collect();
        all.sort_by_key(|s| (s.state.is_final(), std::cmp::Reverse(s.started_at)));
        all
    }

    /// Deletes an ended recording: its file and its record.
    pub fn delete(&self, id: RecordingId) -> Result<()> {
        let mut store = self.store.lock();
        let entry = store
            .entries
            .get(&id)
            .ok_or_else(|| Error::not_found("recording", id))?;
        if !entry.summary.state.is_final() {
            return Err(Error::Conflict(
                "the recording is running: stop it first".into(),
            ));
        }
        self.remove_files(id);
        store.entries.remove(&id);
        tracing::info!(recording = %id, "recording deleted");
        Ok(())
    }

    /// The file of a recording that has some, for download.
    pub fn file(&self, id: RecordingId) -> Result<PathBuf> {
        self.get(id)?;
        let path = self.file_path(id);
        if path.is_file() {
            Ok(path)
        } else {
            Err(Error::not_found("recording file", id))
        }
    }

    /// A link that serves the file without the admin key until it expires.
    pub fn link(&self, id: RecordingId) -> Result<RecordingLink> {
        self.get(id)?;
        let expires_at = unix_millis(SystemTime::now() + LINK_TTL) / 1000;
        Ok(RecordingLink {
            url: format!(
                "/api/recordings/{id}/file?expires={expires_at}&sig={}",
                self.sign(id, expires_at)
            ),
            expires_at,
        })
    }

    /// Checks a file link's signature and expiry.
    pub fn check_link(&self, id: RecordingId, expires_at: u64, sig: &str) -> Result<()> {
        let refused = || Error::Forbidden("this link is not valid (or has expired)".into());
        let sig = B64.decode(sig).map_err(|_| refused())?;
        self.mac(id, expires_at)
            .verify_slice(&sig)
            .map_err(|_| refused())?;
        if unix_millis(SystemTime::now()) / 1000 > expires_at {
            return Err(refused());
        }
        Ok(())
    }

    fn mac(&self, id: RecordingId, expires_at: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.link_key).expect("HMAC takes any key length");
        mac.update(format!("recording-file:{id}:{expires_at}").as_bytes());
        mac
    }

    fn sign(&self, id: RecordingId, expires_at: u64) -> String {
        B64.encode(self.mac(id, expires_at).finalize().into_bytes())
    }

    /// Turns automatic recording of a room on or off (overrides `recording.auto`).
    pub fn set_auto(&self, room: &RoomId, enabled: bool) {
        self.store.lock().auto.insert(room.clone(), enabled);
    }

    /// The teacher of `room` started sending video: record the room if it
    /// is set to record automatically and is not recorded already.
    pub async fn teacher_live(self: &Arc<Self>, room: &Arc<Room>) {
        let wanted = {
            let store = self.store.lock();
            store.auto.get(room.id()).copied().unwrap_or(self.auto)
                && !store.running.contains_key(room.id())
                && !store.starting.contains(room.id())
        };
        if !wanted {
            return;
        }
        match self
            .start(room, StartRecording::default(), Requester::Admin)
            .await
        {
            Ok(summary) => {
                tracing::info!(room = %room.id(), recording = %summary.id, "automatic recording started");
            }
            Err(error) => {
                tracing::warn!(room = %room.id(), %error, "automatic recording not started");
            }
        }
    }

    /// Stops every running recording (server shutdown): each file is finished.
    pub async fn stop_all(&self) {
        let running: Vec<RecordingId> = self.store.lock().running.values().copied().collect();
        // Together: each may take seconds to finish its file.
        futures_util::future::join_all(
            running
                .into_iter()
                .map(|id| self.end(id, RecordingEnd::Shutdown)),
        )
        .await;
    }

    fn reserve(&self, room: &RoomId) -> Result<Reservation> {
        let mut store = self.store.lock();
        if store.running.contains_key(room) || store.starting.contains(room) {
            return Err(Error::Conflict(format!(
                "room {room} is being recorded already"
            )));
        }
        if store.running.len() + store.starting.len() >= self.max_running {
            return Err(Error::LimitReached(format!(
                "this server runs at most {} recordings at once",
                self.max_running
            )));
        }
        store.starting.push(room.clone());
        Ok(Reservation {
            store: Arc::clone(&self.store),
            room: room.clone(),
        })
    }

    /// Follows a recording to its end: feeds it the teacher's camera, screen
    /// and microphone as they come and go (the picture goes on, black while
    /// there is no video), stops it when the teacher has sent no video for
    /// `egress.teacher_grace_secs` or at the maximum duration, keeps its
    /// record up to date on disk, and tells the room when it ends.
    async fn supervise(
        self: Arc<Self>,
        id: RecordingId,
        egress: Egress,
        hold: RoomHold,
        mut follower: Follower,
    ) {
        let room = Arc::clone(hold.room());
        let mut status = egress.subscribe();
        let deadline = self.max_duration.map(|d| tokio::time::Instant::now() + d);
        let mut saved_at = tokio::time::Instant::now();
        let mut poll = tokio::time::interval(follow::POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let max_duration = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let ending = tokio::select! {
                changed = status.changed() => {
                    changed.is_err() || status.borrow().state.is_final()
                }
                () = max_duration => {
                    tracing::info!(recording = %id, "maximum duration reached");
                    self.stop_for(id, RecordingEnd::MaxDuration);
                    true
                }
                _ = poll.tick() => {
                    let gone = follower.tick(&room, &egress).await == Followed::VideoGone;
                    if gone {
                        self.stop_for(id, RecordingEnd::InputEnded);
                    }
                    gone
                }
            };
            if ending {
                egress.stop().await;
                break;
            }
            if saved_at.elapsed() >= SAVE_EVERY {
                saved_at = tokio::time::Instant::now();
                if let Ok(summary) = self.get(id) {
                    save(&self.dir, &summary);
                }
            }
        }
        let final_status = egress.wait().await;
        let status = egress.status();
        let summary = {
            let mut store = self.store.lock();
            store.running.remove(room.id());
            let Some(entry) = store.entries.get_mut(&id) else {
                return;
            };
            let file = status.file.as_ref();
            entry.summary.bytes = file_size(&self.file_path(id));
            if let Some(file) = file {
                entry.summary.duration_secs = file.duration_secs;
            }
            let failed = match (file.map(|f| &f.state), &final_status) {
                (Some(FileState::Failed { error }), _) => Some(error.clone()),
                (_, EgressState::Failed { error }) => Some(error.clone()),
                _ => None,
            };
            match failed {
                Some(error) => {
                    entry.summary.state = RecordingState::Failed;
                    entry.summary.error = Some(error);
                }
                None => {
                    entry.summary.state = RecordingState::Finished;
                    entry.summary.end_reason = Some(entry.end.unwrap_or(match final_status {
                        EgressState::Stopped {
                            reason: StopReason::InputEnded | StopReason::RouterClosed,
                        } => RecordingEnd::InputEnded,
                        _ => RecordingEnd::Stopped,
                    }));
                }
            }
            entry.egress = None;
            let summary = entry.summary.clone();
            // Under the lock: a delete right after a stop cannot lose the
            // race and see the record written back.
            save(&self.dir, &summary);
            // Under the lock too: a recording started right after this one
            // ended must not be announced and then unannounced.
            room.set_recording(store.running.contains_key(room.id()));
            summary
        };
        tracing::info!(
            room = %room.id(),
            recording = %id,
            state = ?summary.state,
            end = ?summary.end_reason,
            bytes = summary.bytes,
            duration_secs = summary.duration_secs,
            "recording ended"
        );
        drop(hold);
        self.rooms.release(room.id());
        self.apply_retention();
    }

    /// Deletes ended recordings past `retention_days`, then the oldest while
    /// they take more than `max_total_bytes`.
    fn apply_retention(&self) {
        let mut store = self.store.lock();
        let mut ended: Vec<(u64, RecordingId, u64)> = store
            .entries
            .values()
            .filter(|e| e.summary.state.is_final())
            .map(|e| (e.summary.started_at, e.summary.id, e.summary.bytes))
            .collect();
        ended.sort_unstable();
        let now = unix_millis(SystemTime::now());
        let mut total: u64 = ended.iter().map(|(_, _, bytes)| bytes).sum();
        let newest = ended.last().map(|(_, id, _)| *id);
        for (started_at, id, bytes) in ended {
            let expired = self
                .retention
                .is_some_and(|keep| now.saturating_sub(started_at) > keep.as_millis() as u64);
            // The newest is never removed for size alone: a class just
            // recorded is not deleted under its teacher's eyes.
            let over =
                self.max_total_bytes > 0 && total > self.max_total_bytes && Some(id) != newest;
            if !expired && !over {
                continue;
            }
            tracing::info!(recording = %id, bytes, expired, over_total = over, "recording removed by the retention rules");
            self.remove_files(id);
            store.entries.remove(&id);
            total -= bytes;
        }
    }

    fn remove_files(&self, id: RecordingId) {
        for path in [self.file_path(id), self.dir.join(format!("{id}.json"))] {
            if let Err(error) = std::fs::remove_file(&path)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), %error, "could not delete a recording file");
            }
        }
    }
}

/// The recorded picture: 720p30 at 2.5 Mbit/s or 1080p30 at 4.5 Mbit/s
/// (validated by the config), main profile, 2 s keyframes, AAC 128 kbit/s.
fn output_profile(resolution: &str) -> OutputProfile {
    let (width, height, video_kbps) = match resolution {
        "1080p" => (1920, 1080, 4500),
        _ => (1280, 720, 2500),
    };
    OutputProfile {
        width,
        height,
        fps: 30,
        video_kbps,
        h264_profile: H264Profile::Main,
        keyframe_interval: Duration::from_secs(2),
        audio_kbps: 128,
    }
}

/// A running recording's figures are its egress's, read now.
fn live_summary(entry: &Entry) -> RecordingSummary {
    let mut summary = entry.summary.clone();
    if let Some(file) = entry.egress.as_ref().and_then(|e| e.status().file) {
        summary.bytes = file.bytes;
        summary.duration_secs = file.duration_secs;
    }
    summary
}

/// A place among the recordings counted against the limits, held while one starts.
struct Reservation {
    store: Arc<Mutex<Store>>,
    room: RoomId,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.store.lock().starting.retain(|r| *r != self.room);
    }
}

/// Writes a recording's record next to its file (atomically: a crash leaves
/// the old one or the new one).
fn save(dir: &Path, summary: &RecordingSummary) {
    let path = dir.join(format!("{}.json", summary.id));
    let temp = dir.join(format!(".{}.json.tmp", summary.id));
    let json = serde_json::to_vec_pretty(summary).expect("a summary serializes");
    // Owner only, like the recording itself.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &json))
        .and_then(|()| std::fs::rename(&temp, &path));
    if let Err(error) = written {
        tracing::error!(path = %path.display(), %error, "could not save a recording's record");
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
