//! The file output (a recording): the encoded H.264 and AAC written to a
//! fragmented MP4 that plays at every moment. mp4mux writes the `moov`
//! first, then a fragment (`moof` + `mdat`) every second, so a process
//! killed mid-class leaves a file that plays up to its last fragment; a
//! clean end (EOS) adds the random-access index (`mfra`) for seeking.
//! (Its `first-moov-then-finalise` mode writes fragments that ffmpeg 5.1
//! cannot read back after a kill: not used.)
//!
//! ghost pads (gates, flow errors swallowed) -> leaky queues -> mp4mux -> filesink,
//! in one bin, an [`Output`] on the elementary video and audio streams: a
//! full disk fails this output alone, never the restream beside it.

use crate::elements::{add_chain, make, set};
use crate::error::EgressError;
use crate::output::{EncodedStreams, Output, OutputName, OutputStats, attach_bin, unlink_bin};
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Fragment length: at most this much (plus the sink's buffer) is lost to a crash.
const FRAGMENT: Duration = Duration::from_secs(1);
/// How long a file detached while the pipeline plays may take to write its
/// last fragment and index.
const FINISH_WAIT: Duration = Duration::from_secs(5);
/// A disk this slow loses data rather than stall the restream beside it.
const QUEUE_TIME: Duration = Duration::from_secs(10);
const NONE: u64 = u64::MAX;

/// Running times of the video written: where the file starts (audio waits
/// for it) and the duration in status.
#[derive(Debug)]
pub(crate) struct FileProgress {
    first_pts: AtomicU64,
    last_pts: AtomicU64,
}

impl Default for FileProgress {
    fn default() -> Self {
        Self {
            first_pts: AtomicU64::new(NONE),
            last_pts: AtomicU64::new(NONE),
        }
    }
}

impl FileProgress {
    /// First to last video frame admitted.
    pub(crate) fn duration(&self) -> Duration {
        let first = self.first_pts.load(Ordering::Relaxed);
        let last = self.last_pts.load(Ordering::Relaxed);
        if first == NONE || last == NONE {
            return Duration::ZERO;
        }
        Duration::from_nanos(last.saturating_sub(first))
    }

    fn started(&self) -> Option<u64> {
        let first = self.first_pts.load(Ordering::Relaxed);
        (first != NONE).then_some(first)
    }
}

/// The file output's bin.
pub(crate) struct FileSink {
    bin: gst::Bin,
    pub path: PathBuf,
    pub progress: Arc<FileProgress>,
}

impl FileSink {
    /// Creates the file (it must not exist: nothing is overwritten; readable
    /// by the owner only) and the bin.
    pub(crate) fn build(path: &Path) -> Result<Self, EgressError> {
        // Owner only: a class's video is not for every account on the host.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|error| EgressError::File {
                path: path.to_path_buf(),
                error: error.to_string(),
            })?;
        let bin = gst::Bin::with_name(&OutputName::File.bin_name());
        let mux = make("mp4mux", "file-mux")?;
        mux.set_property("fragment-duration", FRAGMENT.as_millis() as u32);
        set(&mux, "fragment-mode", "dash-or-mss");
        let sink = make("filesink", "file-sink")?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        // Live input: write on arrival, never hold the pipeline's state.
        sink.set_property("sync", false);
        sink.set_property("async", false);
        add_chain(&bin, &[&mux, &sink])?;

        let progress = Arc::new(FileProgress::default());
        for kind in ["video", "audio"] {
            let queue = make("queue", &format!("file-{kind}-queue"))?;
            set(&queue, "leaky", "downstream");
            queue.set_property("max-size-buffers", 0u32);
            queue.set_property("max-size-bytes", 0u32);
            queue.set_property("max-size-time", QUEUE_TIME.as_nanos() as u64);
            bin.add(&queue)?;
            let mux_pad = mux
                .request_pad_simple(&format!("{kind}_%u"))
                .ok_or_else(|| EgressError::Pipeline(format!("mp4mux gave no {kind} pad")))?;
            queue
                .static_pad("src")
                .ok_or_else(|| EgressError::Pipeline("queue has no src pad".to_owned()))?
                .link(&mux_pad)?;
            let target = queue
                .static_pad("sink")
                .ok_or_else(|| EgressError::Pipeline("queue has no sink pad".to_owned()))?;
            let gate = Gate::new(kind == "video", Arc::clone(&progress));
            let list_gate = gate.clone();
            let ghost = gst::GhostPad::builder_with_target(&target)?
                .name(kind)
                .chain_function(move |pad, parent, buffer| gate.pass(pad, parent, buffer))
                .chain_list_function(move |pad, parent, list| {
                    for buffer in list.iter_owned() {
                        let _ = list_gate.pass(pad, parent, buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build();
            bin.add_pad(&ghost)?;
        }
        Ok(Self {
            bin,
            path: path.to_path_buf(),
            progress,
        })
    }
}

impl Output for FileSink {
    /// Before the pipeline plays, or while it does: the file starts on the
    /// next keyframe either way.
    fn attach(&self, streams: &EncodedStreams) -> Result<(), EgressError> {
        attach_bin(streams, &self.bin, &self.links(streams))
    }

    /// `graceful` ends both tracks, so mp4mux writes its last fragment and
    /// the index, and waits (a bounded time) for that to reach the disk.
    fn detach_blocking(self, streams: &EncodedStreams, graceful: bool) {
        unlink_bin(&self.bin, &self.links(streams));
        if graceful {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let written = self
                .bin
                .by_name("file-sink")
                .and_then(|sink| sink.static_pad("sink"));
            if let Some(pad) = &written {
                pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                    if let Some(gst::PadProbeData::Event(event)) = &info.data
                        && event.type_() == gst::EventType::Eos
                    {
                        let _ = done_tx.send(());
                        return gst::PadProbeReturn::Remove;
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            for kind in ["video", "audio"] {
                if let Some(pad) = self.bin.static_pad(kind) {
                    let _ = pad.send_event(gst::event::Eos::new());
                }
            }
            if written.is_some() && done_rx.recv_timeout(FINISH_WAIT).is_err() {
                tracing::warn!(path = %self.path.display(), "the file was not finished in time");
            }
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = streams.pipeline.remove(&self.bin);
    }

    fn stats(&self) -> OutputStats {
        OutputStats {
            bytes_out: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            bytes_acked: None,
        }
    }
}

impl FileSink {
    /// Its pads and the tees they take from.
    fn links<'a>(&self, streams: &'a EncodedStreams) -> [(&'a gst::Element, &'a str); 2] {
        [(&streams.video, "video"), (&streams.audio, "audio")]
    }
}

/// Starts the file on a keyframe, and audio with it: video before the first
/// keyframe could not be decoded, and audio before the first picture would
/// open the file on a black screen (and put the tracks' starts apart).
/// Audio arrives ahead of the video it goes with (the video encoder takes
/// longer), so it is held, not dropped, until the first picture is in.
#[derive(Clone)]
struct Gate {
    video: bool,
    progress: Arc<FileProgress>,
    held: Arc<Mutex<VecDeque<(u64, gst::Buffer)>>>,
}

/// Audio held at most this long while waiting for the first picture.
const HOLD: Duration = Duration::from_secs(2);

impl Gate {
    fn new(video: bool, progress: Arc<FileProgress>) -> Self {
        Self {
            video,
            progress,
            held: Arc::default(),
        }
    }

    /// Pushes what the gate lets through now: the buffer, or nothing, or
    /// (for audio, when the first picture is in) the held audio first.
    fn pass(
        &self,
        pad: &gst::GhostPad,
        parent: Option<&gst::Object>,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        for buffer in self.admit(pad.upcast_ref(), buffer) {
            // A failing sink (a full disk) returns an error here; its bus
            // message is what counts. Passing it up would stop the tee,
            // and the restream with it.
            let _ = gst::ProxyPad::chain_default(pad, parent, buffer);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Compares running times: the encoders' timestamps are not on one
    /// scale (x264 starts its own at 1000 h), their running times are. A
    /// buffer without one cannot be placed in the file: mp4mux would fail
    /// the recording on it ("Buffer has no PTS"). h264parse sends such a
    /// buffer now and then: a header with a DTS and no PTS.
    fn admit(&self, pad: &gst::Pad, buffer: gst::Buffer) -> Vec<gst::Buffer> {
        let Some(time) = buffer.pts().and_then(|pts| running_time(pad, pts)) else {
            return Vec::new();
        };
        if self.video {
            if self.progress.started().is_none() {
                if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                    return Vec::new();
                }
                self.progress.first_pts.store(time, Ordering::Relaxed);
            }
            self.progress.last_pts.store(time, Ordering::Relaxed);
            return vec![buffer];
        }
        let mut held = self.held.lock();
        match self.progress.started() {
            None => {
                held.push_back((time, buffer));
                while held
                    .front()
                    .is_some_and(|(t, _)| time.saturating_sub(*t) > HOLD.as_nanos() as u64)
                {
                    held.pop_front();
                }
                Vec::new()
            }
            Some(first) => {
                held.push_back((time, buffer));
                held.drain(..)
                    .filter(|(t, _)| *t >= first)
                    .map(|(_, b)| b)
                    .collect()
            }
        }
    }
}

fn running_time(pad: &gst::Pad, pts: gst::ClockTime) -> Option<u64> {
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(pts).map(gst::ClockTime::nseconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;

    /// Encoded streams from test sources, playing.
    fn playing_streams() -> EncodedStreams {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(
            "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 \
             ! x264enc tune=zerolatency key-int-max=15 ! h264parse ! tee name=video allow-not-linked=true \
             audiotestsrc is-live=true ! audioconvert ! audioresample ! avenc_aac ! aacparse \
             ! tee name=audio allow-not-linked=true \
             tee name=flv allow-not-linked=true",
        )
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let streams = EncodedStreams {
            video: pipeline.by_name("video").unwrap(),
            audio: pipeline.by_name("audio").unwrap(),
            flv: pipeline.by_name("flv").unwrap(),
            pipeline,
        };
        streams.pipeline.set_state(gst::State::Playing).unwrap();
        streams
    }

    /// A buffer h264parse sends now and then: a header with a DTS and no
    /// PTS. Once the file has started, it must not reach mp4mux: it fails
    /// the whole recording there ("Buffer has no PTS").
    #[test]
    fn video_without_a_timestamp_is_kept_out_of_the_file() {
        gst::init().unwrap();
        let pad = gst::Pad::builder(gst::PadDirection::Sink).build();
        pad.set_active(true).unwrap();
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        segment.set_start(gst::ClockTime::from_seconds(3600));
        pad.store_sticky_event(&gst::event::Segment::new(&segment))
            .unwrap();
        let frame = |pts: Option<u64>, dts: u64, delta: bool| {
            let mut buffer = gst::Buffer::with_size(64).unwrap();
            let b = buffer.get_mut().unwrap();
            b.set_pts(pts.map(gst::ClockTime::from_mseconds));
            b.set_dts(gst::ClockTime::from_mseconds(dts));
            if delta {
                b.set_flags(gst::BufferFlags::DELTA_UNIT | gst::BufferFlags::HEADER);
            }
            buffer
        };
        let gate = Gate::new(true, Arc::default());
        assert_eq!(
            gate.admit(&pad, frame(Some(3_600_000), 3_600_000, false))
                .len(),
            1
        );
        assert!(gate.admit(&pad, frame(None, 3_600_033, true)).is_empty());
        assert_eq!(
            gate.admit(&pad, frame(Some(3_600_033), 3_600_033, true))
                .len(),
            1
        );
        assert_eq!(gate.progress.duration(), Duration::from_millis(33));
    }

    /// A file attached to a playing pipeline and detached gracefully is
    /// finished: fragments, then the index (`mfra`) a clean end adds; the
    /// pipeline goes on without it.
    #[test]
    fn a_file_attached_and_detached_while_playing_is_finished() {
        let streams = playing_streams();
        let dir = std::env::temp_dir().join(format!("podium-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("detached.mp4");
        let _ = std::fs::remove_file(&path);
        std::thread::sleep(Duration::from_millis(500));
        let file = FileSink::build(&path).unwrap();
        file.attach(&streams).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        assert!(file.progress.duration() >= Duration::from_secs(2));
        assert!(file.stats().bytes_out > 0);
        file.detach_blocking(&streams, true);
        assert!(
            streams
                .pipeline
                .by_name(&OutputName::File.bin_name())
                .is_none()
        );
        assert_eq!(streams.pipeline.current_state(), gst::State::Playing);
        let bytes = std::fs::read(&path).unwrap();
        let has = |tag: &[u8]| bytes.windows(4).any(|w| w == tag);
        assert!(has(b"moov") && has(b"moof"), "a fragmented MP4");
        assert!(has(b"mfra"), "finished with its index");
        streams.pipeline.set_state(gst::State::Null).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
