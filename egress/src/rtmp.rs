//! One RTMP(S) destination's connection attempt as an [`Output`]: a sink bin
//! on the FLV stream: ghost pad (keyframe gate, flow errors swallowed) ->
//! leaky queue -> rtmp2sink. A destination that fails, hangs or is slow
//! never stalls the others.

use crate::destination::RtmpTarget;
use crate::elements::{make, set};
use crate::error::EgressError;
use crate::ids::DestinationId;
use crate::output::{EncodedStreams, Output, OutputStats, attach_bin, unlink_bin};
use crate::retry::ErrorClass;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How an RTMPS ingest's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsValidation {
    /// Full validation against the system CAs (production).
    #[default]
    Full,
    /// Accept a certificate from an unknown CA (self-signed test ingests);
    /// host name, dates and the rest are still checked.
    AllowUnknownCa,
}

/// Identifies a sink bin in bus messages: the destination and which of its
/// connection attempts, so a late error from a bin being torn down is not
/// taken for one of its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SinkName {
    pub destination: DestinationId,
    pub generation: u32,
}

const PREFIX: &str = "dest-";

impl SinkName {
    pub(crate) fn bin_name(&self) -> String {
        format!("{PREFIX}{}-{}", self.destination, self.generation)
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix(PREFIX)?;
        let (id, generation) = rest.rsplit_once('-')?;
        Some(Self {
            destination: id.parse().ok()?,
            generation: generation.parse().ok()?,
        })
    }
}

/// A refusal by the server (bad app or key) or a certificate it cannot
/// prove is not fixed by retrying; network trouble is.
pub(crate) fn classify(error: &gst::glib::Error, text: &str) -> ErrorClass {
    if error.matches(gst::ResourceError::NotAuthorized) || text.contains("g-tls-error-quark") {
        ErrorClass::Rejected
    } else {
        ErrorClass::Transient
    }
}

pub(crate) struct RtmpSink {
    pub name: SinkName,
    bin: gst::Bin,
    sink: gst::Element,
}

impl RtmpSink {
    pub(crate) fn build(
        name: SinkName,
        target: &RtmpTarget,
        tls: TlsValidation,
        timeout: Duration,
    ) -> Result<Self, EgressError> {
        let bin = gst::Bin::with_name(&name.bin_name());
        let queue = make("queue", "queue")?;
        // Leaky: a stalled ingest loses its own data instead of blocking the tee.
        set(&queue, "leaky", "downstream");
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-bytes", 0u32);
        queue.set_property("max-size-time", 4 * gst::ClockTime::SECOND.nseconds());
        let sink = make("rtmp2sink", "rtmp2sink")?;
        // The pieces, not a URL: rtmp2sink connects to exactly the host
        // that was checked (and pinned: see `crate::pin`) and publishes the
        // stream name as given, with no URL parser of its own in between.
        set(&sink, "scheme", target.scheme.as_str());
        sink.set_property("host", target.host.as_str());
        sink.set_property("port", i32::from(target.port));
        sink.set_property("application", target.application.as_str());
        sink.set_property("stream", target.stream.expose());
        sink.set_property("async-connect", true);
        // Live input: render on arrival, and never hold the pipeline's state.
        sink.set_property("sync", false);
        sink.set_property("async", false);
        sink.set_property("timeout", timeout.as_secs().max(1) as u32);
        let flags = match tls {
            TlsValidation::Full => "validate-all",
            TlsValidation::AllowUnknownCa => "0x7e",
        };
        set(&sink, "tls-validation-flags", flags);
        bin.add_many([&queue, &sink])?;
        queue.link(&sink)?;

        let target_pad = queue
            .static_pad("sink")
            .ok_or_else(|| EgressError::Pipeline("queue has no sink pad".to_owned()))?;
        let gate = Arc::new(AtomicBool::new(false));
        let list_gate = Arc::clone(&gate);
        let ghost = gst::GhostPad::builder_with_target(&target_pad)?
            .name("sink")
            .chain_function(move |pad, parent, buffer| {
                if admit(&gate, &buffer) {
                    // A failing sink returns an error here; its bus message
                    // is what counts. Passing it up would stop the tee.
                    let _ = gst::ProxyPad::chain_default(pad, parent, buffer);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .chain_list_function(move |pad, parent, list| {
                for buffer in list.iter_owned() {
                    if admit(&list_gate, &buffer) {
                        let _ = gst::ProxyPad::chain_default(pad, parent, buffer);
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build();
        bin.add_pad(&ghost)?;
        Ok(Self { name, bin, sink })
    }
}

impl Output for RtmpSink {
    fn attach(&self, streams: &EncodedStreams) -> Result<(), EgressError> {
        attach_bin(streams, &self.bin, &[(&streams.flv, "sink")])
    }

    /// `graceful` sends EOS, so rtmp2sink tells the server the stream
    /// ended. rtmp2sink may take a moment to let go of a dead server.
    fn detach_blocking(self, streams: &EncodedStreams, graceful: bool) {
        unlink_bin(&self.bin, &[(&streams.flv, "sink")]);
        if graceful && let Some(sink_pad) = self.bin.static_pad("sink") {
            let _ = sink_pad.send_event(gst::event::Eos::new());
            std::thread::sleep(Duration::from_millis(300));
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = streams.pipeline.remove(&self.bin);
    }

    fn stats(&self) -> OutputStats {
        let stats = self.sink.property::<gst::Structure>("stats");
        OutputStats {
            bytes_out: stats.get::<u64>("out-bytes-total").unwrap_or(0),
            bytes_acked: Some(stats.get::<u64>("out-bytes-acked").unwrap_or(0)),
        }
    }
}

/// Until the first video keyframe, video delta frames are dropped, so a
/// connection made mid-GOP starts on a picture the ingest can decode.
fn admit(gate: &AtomicBool, buffer: &gst::Buffer) -> bool {
    if gate.load(Ordering::Relaxed) || buffer.flags().contains(gst::BufferFlags::HEADER) {
        return true;
    }
    let Ok(map) = buffer.map_readable() else {
        return true;
    };
    match flv_tag(&map) {
        FlvTag::VideoKeyframe => {
            gate.store(true, Ordering::Relaxed);
            true
        }
        FlvTag::VideoDelta => false,
        FlvTag::Other => true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlvTag {
    VideoKeyframe,
    VideoDelta,
    Other,
}

/// Classifies one FLV tag as flvmux pushes it (11-byte header, then for
/// video a frame-type/codec byte: 0x1_ keyframe, 0x2_ inter frame).
fn flv_tag(data: &[u8]) -> FlvTag {
    const VIDEO: u8 = 9;
    if data.len() < 12 || data[0] & 0x1f != VIDEO {
        return FlvTag::Other;
    }
    match data[11] >> 4 {
        1 => FlvTag::VideoKeyframe,
        2 | 3 => FlvTag::VideoDelta,
        _ => FlvTag::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: u8, first_data_byte: u8) -> Vec<u8> {
        let mut data = vec![kind, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, first_data_byte];
        data.extend([1, 0, 0, 0]);
        data
    }

    #[test]
    fn flv_tags() {
        assert_eq!(flv_tag(&tag(9, 0x17)), FlvTag::VideoKeyframe);
        assert_eq!(flv_tag(&tag(9, 0x27)), FlvTag::VideoDelta);
        assert_eq!(flv_tag(&tag(8, 0xaf)), FlvTag::Other);
        assert_eq!(flv_tag(&tag(18, 0x02)), FlvTag::Other);
        assert_eq!(flv_tag(b"FLV\x01\x05\0\0\0\x09"), FlvTag::Other);
        assert_eq!(flv_tag(&[]), FlvTag::Other);
    }
}
