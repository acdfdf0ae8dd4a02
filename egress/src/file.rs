//! The file output (a recording): the encoded H.264 and AAC written to a
//! fragmented MP4 that plays at every moment. mp4mux writes the `moov`
//! first, then a fragment (`moof` + `mdat`) every second, so a process
//! killed mid-class leaves a file that plays up to its last fragment; a
//! clean end (EOS) adds the random-access index (`mfra`) for seeking.
//! (Its `first-moov-then-finalise` mode writes fragments that ffmpeg 5.1
//! cannot read back after a kill: not used.)
//!
//! ghost pads (gates, flow errors swallowed) -> leaky queues -> mp4mux -> filesink,
//! in one bin hung off the video and audio tees: a full disk fails this
//! output alone, never the restream beside it.

use crate::elements::{add_chain, make, set};
use crate::error::EgressError;
use gstreamer as gst;
use gstreamer::prelude::*;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Name of the bin; bus messages from inside it are the file output's.
const BIN: &str = "file-output";
/// Fragment length: at most this much (plus the sink's buffer) is lost to a crash.
const FRAGMENT: Duration = Duration::from_secs(1);
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
        let bin = gst::Bin::with_name(BIN);
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

    /// Adds the bin to the pipeline (before it plays) and links it to the tees.
    pub(crate) fn attach(
        &self,
        pipeline: &gst::Pipeline,
        video_tee: &gst::Element,
        audio_tee: &gst::Element,
    ) -> Result<(), EgressError> {
        pipeline.add(&self.bin)?;
        for (tee, kind) in [(video_tee, "video"), (audio_tee, "audio")] {
            let tee_pad = tee
                .request_pad_simple("src_%u")
                .ok_or_else(|| EgressError::Pipeline("tee gave no pad".to_owned()))?;
            let sink_pad = self
                .bin
                .static_pad(kind)
                .ok_or_else(|| EgressError::Pipeline(format!("file bin has no {kind} pad")))?;
            tee_pad.link(&sink_pad)?;
        }
        Ok(())
    }

    /// Whether `object` is part of the file output.
    pub(crate) fn contains(object: &gst::Object) -> bool {
        let mut current = Some(object.clone());
        while let Some(obj) = current {
            if obj.name() == BIN {
                return true;
            }
            current = obj.parent();
        }
        false
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
    /// scale (x264 starts its own at 1000 h), their running times are.
    fn admit(&self, pad: &gst::Pad, buffer: gst::Buffer) -> Vec<gst::Buffer> {
        let time = buffer.pts().and_then(|pts| running_time(pad, pts));
        if self.video {
            if self.progress.started().is_none() {
                if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                    return Vec::new();
                }
                let Some(time) = time else {
                    return Vec::new();
                };
                self.progress.first_pts.store(time, Ordering::Relaxed);
            }
            if let Some(time) = time {
                self.progress.last_pts.store(time, Ordering::Relaxed);
            }
            return vec![buffer];
        }
        let Some(time) = time else {
            return Vec::new();
        };
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
