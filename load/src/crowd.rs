//! The students of a run: spawning them (all at once or at a rate), telling
//! them to leave, and what each went through (join time, first packets,
//! failures), folded from the events bots send.

use crate::bots::{SharedCtx, student};
use crate::engine::{BotEvent, BotId, Kind};
use crate::stats::{Spread, millis_between};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Barrier, mpsc, oneshot};

#[derive(Debug, Default)]
pub struct Record {
    pub started: Option<Instant>,
    pub signaled: Option<Instant>,
    pub connected: Option<Instant>,
    pub first_audio: Option<Instant>,
    pub first_video: Option<Instant>,
    pub failed: Option<String>,
    pub phases: Option<Vec<(&'static str, f64)>>,
    pub ended: Option<String>,
    exit: Option<oneshot::Sender<student::Exit>>,
}

impl Record {
    /// Joined and not gone.
    pub fn is_live(&self) -> bool {
        self.signaled.is_some() && self.ended.is_none() && self.failed.is_none()
    }

    /// Still on its way in: neither joined nor failed nor gone.
    pub fn is_pending(&self) -> bool {
        self.signaled.is_none() && self.failed.is_none() && self.ended.is_none()
    }

    /// Done joining, one way or the other (media included).
    fn is_settled(&self) -> bool {
        self.failed.is_some()
            || self.ended.is_some()
            || (self.signaled.is_some() && self.first_video.is_some() && self.first_audio.is_some())
    }
}

/// Join figures of a group of students.
#[derive(Debug, Clone, Default)]
pub struct JoinFigures {
    pub join: Spread,
    pub first_video: Spread,
    pub first_audio: Spread,
    pub failures: usize,
    /// Still joining when counted (failures too when `figures` is told so).
    pub pending: usize,
    pub without_media: usize,
    pub errors: Vec<String>,
    /// p95 of each part of the join, by name.
    pub phase_p95_ms: std::collections::BTreeMap<String, f64>,
}

pub struct Crowd {
    ctx: SharedCtx,
    tx: mpsc::UnboundedSender<BotEvent>,
    rx: mpsc::UnboundedReceiver<BotEvent>,
    next: BotId,
    pub records: HashMap<BotId, Record>,
}

impl Crowd {
    pub fn new(
        ctx: SharedCtx,
        tx: mpsc::UnboundedSender<BotEvent>,
        rx: mpsc::UnboundedReceiver<BotEvent>,
    ) -> Self {
        Self {
            ctx,
            tx,
            rx,
            next: 1,
            records: HashMap::new(),
        }
    }

    /// Starts one student now.
    pub fn spawn(&mut self) -> BotId {
        self.start(None)
    }

    fn start(&mut self, gate: Option<Arc<Barrier>>) -> BotId {
        let bot = self.next;
        self.next += 1;
        let (exit, exit_rx) = oneshot::channel();
        self.records.insert(
            bot,
            Record {
                exit: Some(exit),
                ..Default::default()
            },
        );
        if self.ctx.janus.is_some() {
            tokio::spawn(crate::janus::student::run(
                self.ctx.clone(),
                bot,
                gate,
                exit_rx,
                self.tx.clone(),
            ));
        } else {
            tokio::spawn(student::run(
                self.ctx.clone(),
                bot,
                format!("Student {bot}"),
                gate,
                exit_rx,
                self.tx.clone(),
            ));
        }
        bot
    }

    /// Starts `n` students: paced at `per_second`, or, when it is 0, all
    /// prepared first and then released to join at the same instant.
    pub async fn spawn_many(&mut self, n: usize, per_second: f64) -> Vec<BotId> {
        if per_second <= 0.0 {
            let gate = Arc::new(Barrier::new(n + 1));
            let ids = (0..n).map(|_| self.start(Some(gate.clone()))).collect();
            gate.wait().await;
            return ids;
        }
        let mut ids = Vec::with_capacity(n);
        let begin = Instant::now();
        for i in 0..n {
            let at = begin + Duration::from_secs_f64(i as f64 / per_second);
            while Instant::now() < at {
                self.pump();
                tokio::time::sleep_until(at.into()).await;
            }
            ids.push(self.spawn());
        }
        ids
    }

    /// Folds in every event that arrived.
    pub fn pump(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.apply(event);
        }
    }

    fn apply(&mut self, event: BotEvent) {
        let bot = match &event {
            BotEvent::Joined { bot, .. }
            | BotEvent::JoinFailed { bot, .. }
            | BotEvent::Connected { bot, .. }
            | BotEvent::FirstPacket { bot, .. }
            | BotEvent::MediaFailed { bot, .. }
            | BotEvent::Ended { bot, .. } => *bot,
        };
        let Some(record) = self.records.get_mut(&bot) else {
            return;
        };
        match event {
            BotEvent::Joined {
                started,
                signaled,
                phases,
                ..
            } => {
                record.started = Some(started);
                record.signaled = Some(signaled);
                record.phases = Some(phases);
            }
            BotEvent::JoinFailed { started, error, .. } => {
                record.started = Some(started);
                record.failed = Some(error);
            }
            BotEvent::Connected { at, .. } => record.connected = Some(at),
            BotEvent::FirstPacket {
                kind: Kind::Audio,
                at,
                ..
            } => {
                record.first_audio.get_or_insert(at);
            }
            BotEvent::FirstPacket {
                kind: Kind::Video,
                at,
                ..
            } => {
                record.first_video.get_or_insert(at);
            }
            BotEvent::MediaFailed { reason, .. } => {
                record.failed.get_or_insert(format!("media: {reason}"));
            }
            BotEvent::Ended { reason, .. } => {
                record.ended = Some(reason);
            }
        }
    }

    /// Waits until every one of `ids` joined with media, failed, or `within` passes.
    pub async fn settle(&mut self, ids: &[BotId], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            self.pump();
            let pending = ids
                .iter()
                .filter(|id| self.records.get(id).is_some_and(|r| !r.is_settled()))
                .count();
            if pending == 0 || Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                event = self.rx.recv() => if let Some(event) = event { self.apply(event) },
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Keeps folding events in for `duration`.
    pub async fn idle(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            tokio::select! {
                event = self.rx.recv() => if let Some(event) = event { self.apply(event) },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.pump();
    }

    /// Tells a student to go.
    pub fn dismiss(&mut self, bot: BotId, how: student::Exit) {
        if let Some(exit) = self.records.get_mut(&bot).and_then(|r| r.exit.take()) {
            let _ = exit.send(how);
        }
    }

    pub fn live(&self) -> Vec<BotId> {
        let mut ids: Vec<BotId> = self
            .records
            .iter()
            .filter(|(_, r)| r.is_live())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Students still on their way in (spawned, neither joined nor failed).
    pub fn joining(&self) -> usize {
        self.records
            .values()
            .filter(|r| r.signaled.is_none() && r.failed.is_none() && r.ended.is_none())
            .count()
    }

    /// Everyone goes; waits (up to `within`) until they did.
    pub async fn dismiss_all(&mut self, how: student::Exit, within: Duration) {
        let ids: Vec<BotId> = self.records.keys().copied().collect();
        for id in &ids {
            self.dismiss(*id, how);
        }
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            self.pump();
            let waiting = self
                .records
                .values()
                .filter(|r| r.signaled.is_some() && r.ended.is_none() && r.failed.is_none())
                .count();
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Join figures of `ids`. Students still joining count as failures when
    /// `pending_failed` (they had their time), else only as `pending`.
    pub fn figures(&self, ids: &[BotId], pending_failed: bool) -> JoinFigures {
        let mut join = Vec::new();
        let mut video = Vec::new();
        let mut audio = Vec::new();
        let mut out = JoinFigures::default();
        for record in ids.iter().filter_map(|id| self.records.get(id)) {
            if record.is_pending() {
                out.pending += 1;
                if pending_failed {
                    out.failures += 1;
                    let error = "still joining when measured".to_owned();
                    if !out.errors.contains(&error) {
                        out.errors.push(error);
                    }
                }
                continue;
            }
            if let Some(error) = &record.failed {
                out.failures += 1;
                if out.errors.len() < 5 && !out.errors.contains(error) {
                    out.errors.push(error.clone());
                }
                continue;
            }
            let Some(started) = record.started else {
                out.failures += 1;
                continue;
            };
            if let Some(at) = record.signaled {
                join.push(millis_between(started, at));
            }
            match (record.first_video, record.first_audio) {
                (Some(v), Some(a)) => {
                    video.push(millis_between(started, v));
                    audio.push(millis_between(started, a));
                }
                _ => out.without_media += 1,
            }
        }
        let mut phases: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for (name, ms) in ids
            .iter()
            .filter_map(|id| self.records.get(id)?.phases.as_ref())
            .flatten()
        {
            phases.entry(name).or_default().push(*ms);
        }
        for (name, samples) in phases {
            out.phase_p95_ms
                .insert(name.to_owned(), Spread::of(&samples).p95);
        }
        out.join = Spread::of(&join);
        out.first_video = Spread::of(&video);
        out.first_audio = Spread::of(&audio);
        out
    }
}
