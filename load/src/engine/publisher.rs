//! The teacher's media: one thread replaying the pre-encoded clips in real
//! time over its own `Rtc`, Opus every 20 ms and each VP8 simulcast layer at
//! 30 fps. A keyframe request makes that layer skip to its next keyframe.

use super::{Kind, PT_OPUS, PT_VP8, udp};
use crate::media::{Clip, MediaSet, vp8};
use parking_lot::Mutex;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use str0m::media::{MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Event, Input, Output, Rtc};

pub const AUDIO_MID: &str = "a";
pub const VIDEO_MID: &str = "v";

/// The SSRCs the teacher produces with.
#[derive(Debug, Clone)]
pub struct TeacherMedia {
    pub audio_ssrc: u32,
    /// Lowest layer first.
    pub video_ssrcs: Vec<u32>,
}

impl TeacherMedia {
    pub fn new(layers: usize) -> Self {
        Self {
            audio_ssrc: 1111,
            video_ssrcs: (0..layers as u32).map(|i| 2222 + i).collect(),
        }
    }

    /// Declares the send streams on `rtc` (before it is handed to [`Publisher::start`]).
    pub fn declare(&self, rtc: &mut Rtc) {
        let mut api = rtc.direct_api();
        api.declare_media(Mid::from(AUDIO_MID), MediaKind::Audio);
        api.declare_media(Mid::from(VIDEO_MID), MediaKind::Video);
        api.declare_stream_tx(self.audio_ssrc.into(), None, Mid::from(AUDIO_MID), None);
        for (i, ssrc) in self.video_ssrcs.iter().enumerate() {
            let rid = Rid::from(format!("r{i}").as_str());
            api.declare_stream_tx((*ssrc).into(), None, Mid::from(VIDEO_MID), Some(rid));
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PublisherStats {
    pub connected: bool,
    pub packets: u64,
    pub bytes: u64,
    pub keyframe_requests: u64,
    pub frames_skipped: u64,
    /// Datagrams the teacher's socket refused (send buffer full).
    pub send_errors: u64,
}

pub struct Publisher {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<PublisherStats>>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    pub fn start(
        rtc: Rtc,
        socket: UdpSocket,
        remote: SocketAddr,
        media: Arc<MediaSet>,
        ssrcs: TeacherMedia,
    ) -> anyhow::Result<Publisher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(PublisherStats::default()));
        let state = Sender::new(rtc, socket, remote, media, ssrcs, Arc::clone(&stats))?;
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("load-teacher".into())
            .spawn(move || state.run(&flag))?;
        Ok(Publisher {
            stop,
            stats,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> PublisherStats {
        self.stats.lock().clone()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One looping clip on one SSRC.
struct Track {
    kind: Kind,
    ssrc: u32,
    clip: Arc<Clip>,
    /// Frame of the clip sent next.
    cursor: usize,
    /// Frames sent on this track since the start (RTP time = frames × ticks).
    frames: u64,
    seq: u64,
    picture_id: u16,
    keyframe_wanted: bool,
    last_jump: Option<Instant>,
}

impl Track {
    fn new(kind: Kind, ssrc: u32, clip: Clip) -> Self {
        Self {
            kind,
            ssrc,
            clip: Arc::new(clip),
            cursor: 0,
            frames: 0,
            seq: 1000 + u64::from(ssrc % 1000),
            picture_id: (ssrc % 0x7fff) as u16,
            keyframe_wanted: false,
            last_jump: None,
        }
    }

    fn frame_duration(&self) -> Duration {
        Duration::from_secs_f64(
            f64::from(self.clip.ticks_per_frame) / f64::from(self.clip.clock_rate),
        )
    }
}

struct Sender {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    remote: SocketAddr,
    tracks: Vec<Track>,
    stats: Arc<Mutex<PublisherStats>>,
    connected: bool,
    started: Option<Instant>,
}

impl Sender {
    fn new(
        rtc: Rtc,
        socket: UdpSocket,
        remote: SocketAddr,
        media: Arc<MediaSet>,
        ssrcs: TeacherMedia,
        stats: Arc<Mutex<PublisherStats>>,
    ) -> anyhow::Result<Self> {
        let mut tracks = vec![Track::new(
            Kind::Audio,
            ssrcs.audio_ssrc,
            media.audio.clone(),
        )];
        for (ssrc, clip) in ssrcs.video_ssrcs.iter().zip(media.video.iter()) {
            tracks.push(Track::new(Kind::Video, *ssrc, clip.clone()));
        }
        Ok(Self {
            local: socket.local_addr()?,
            rtc,
            socket,
            remote,
            tracks,
            stats,
            connected: false,
            started: None,
        })
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 2048];
        let mut next_timeout = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                if from != self.remote {
                    continue;
                }
                let Ok(contents) = buf[..n].try_into() else {
                    continue;
                };
                let input = Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source: from,
                        destination: self.local,
                        contents,
                    },
                );
                if let Err(error) = self.rtc.handle_input(input) {
                    tracing::debug!(%error, "teacher: str0m refused a datagram");
                }
            }
            let now = Instant::now();
            let mut next_frame = now + Duration::from_millis(20);
            if self.connected {
                next_frame = self.send_due(now);
            }
            if now >= next_timeout {
                let _ = self.rtc.handle_input(Input::Timeout(now));
            }
            next_timeout = self.drain();
            let wake = next_frame.min(next_timeout);
            let wait = wake.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                udp::wait_readable(&self.socket, wait);
            }
        }
    }

    /// Sends every frame that is due; returns when the next one is.
    fn send_due(&mut self, now: Instant) -> Instant {
        let started = *self.started.get_or_insert(now);
        let mut next = now + Duration::from_millis(100);
        for t in 0..self.tracks.len() {
            let duration = self.tracks[t].frame_duration();
            let due = (now.saturating_duration_since(started).as_secs_f64()
                / duration.as_secs_f64()) as u64
                + 1;
            let behind = due.saturating_sub(self.tracks[t].frames);
            if behind > 5 {
                // Starved of CPU: skip ahead rather than burst (RTP time stays wall time).
                let skip = behind - 1;
                let track = &mut self.tracks[t];
                tracing::debug!(
                    ssrc = track.ssrc,
                    behind,
                    "teacher: behind, skipping frames"
                );
                track.frames += skip;
                track.cursor = (track.cursor + skip as usize) % track.clip.frames.len();
                if track.kind == Kind::Video {
                    track.keyframe_wanted = true;
                }
                self.stats.lock().frames_skipped += skip;
            }
            while self.tracks[t].frames < due {
                self.send_frame(t, now);
            }
            let at = started + duration.mul_f64(self.tracks[t].frames as f64);
            next = next.min(at);
        }
        next
    }

    fn send_frame(&mut self, t: usize, now: Instant) {
        let track = &mut self.tracks[t];
        if track.keyframe_wanted && track.kind == Kind::Video {
            track.keyframe_wanted = false;
            track.cursor = track.clip.next_keyframe(track.cursor);
        }
        let frame = &track.clip.frames[track.cursor];
        let time = (track.frames * u64::from(track.clip.ticks_per_frame)) as u32;
        let (pt, video) = match track.kind {
            Kind::Audio => (PT_OPUS, false),
            Kind::Video => (PT_VP8, true),
        };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx(&track.ssrc.into()) else {
            return;
        };
        let mut bytes = 0;
        for (marker, payload) in &frame.packets {
            let payload: Arc<[u8]> = if video {
                Arc::from(vp8::with_picture_id(payload, track.picture_id))
            } else {
                Arc::clone(payload)
            };
            bytes += payload.len() as u64;
            stream.write_rtp(
                RtpWrite::new(pt.into(), SeqNo::from(track.seq), time, now, payload)
                    .marker(*marker),
            );
            track.seq += 1;
        }
        let mut stats = self.stats.lock();
        stats.packets += frame.packets.len() as u64;
        stats.bytes += bytes;
        drop(stats);
        track.picture_id = track.picture_id.wrapping_add(1) & 0x7fff;
        track.frames += 1;
        track.cursor = (track.cursor + 1) % track.clip.frames.len();
    }

    /// Sends what str0m has to send and handles its events; returns its next timeout.
    fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(at)) => return at,
                Ok(Output::Transmit(t)) => {
                    if self.socket.send_to(&t.contents, t.destination).is_err() {
                        self.stats.lock().send_errors += 1;
                    }
                }
                Ok(Output::Event(Event::Connected)) => {
                    tracing::info!("teacher: media connected");
                    self.connected = true;
                    self.stats.lock().connected = true;
                }
                Ok(Output::Event(Event::KeyframeRequest(request))) => {
                    self.stats.lock().keyframe_requests += 1;
                    let layer = request
                        .rid
                        .and_then(|rid| rid.strip_prefix('r')?.parse::<usize>().ok());
                    let now = Instant::now();
                    // Tracks: audio first, then the video layers lowest first.
                    for (i, track) in self.tracks.iter_mut().enumerate().skip(1) {
                        if layer.is_some_and(|l| l + 1 != i) {
                            continue;
                        }
                        if track
                            .last_jump
                            .is_none_or(|at| now - at > Duration::from_millis(300))
                        {
                            track.keyframe_wanted = true;
                            track.last_jump = Some(now);
                        }
                    }
                }
                Ok(Output::Event(_)) => {}
                Err(error) => {
                    tracing::warn!(%error, "teacher: str0m failed");
                    return Instant::now() + Duration::from_millis(100);
                }
            }
        }
    }
}
