//! One RTMP(S) destination as a sink bin hung off the tee:
//! ghost pad (keyframe gate, flow errors swallowed) -> leaky queue -> rtmp2sink.
//! A destination that fails, hangs or is slow never stalls the others.

use crate::destination::RtmpTarget;
use crate::elements::{make, set};
use crate::error::EgressError;
use crate::ids::DestinationId;
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
    fn bin_name(&self) -> String {
        format!("{PREFIX}{}-{}", self.destination, self.generation)
    }

    fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix(PREFIX)?;
        let (id, generation) = rest.rsplit_once('-')?;
        Some(Self {
            destination: id.parse().ok()?,
            generation: generation.parse().ok()?,
        })
    }

    /// The sink bin `object` belongs to, if any.
    pub(crate) fn of(object: &gst::Object) -> Option<Self> {
        let mut current = Some(object.clone());
        while let Some(obj) = current {
            if let Some(name) = Self::parse(&obj.name()) {
                return Some(name);
            }
            current = obj.parent();
        }
        None
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RtmpStats {
    pub out_bytes: u64,
    pub acked_bytes: u64,
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

    /// Adds the bin to the pipeline, starts it and links it to a new tee pad.
    pub(crate) fn attach(
        &self,
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
    ) -> Result<(), EgressError> {
        pipeline.add(&self.bin)?;
        self.bin.sync_state_with_parent()?;
        let tee_pad = tee
            .request_pad_simple("src_%u")
            .ok_or_else(|| EgressError::Pipeline("tee gave no pad".to_owned()))?;
        let sink_pad = self
            .bin
            .static_pad("sink")
            .ok_or_else(|| EgressError::Pipeline("sink bin has no pad".to_owned()))?;
        if let Err(error) = tee_pad.link(&sink_pad) {
            tee.release_request_pad(&tee_pad);
            let _ = self.bin.set_state(gst::State::Null);
            let _ = pipeline.remove(&self.bin);
            return Err(error.into());
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> RtmpStats {
        let stats = self.sink.property::<gst::Structure>("stats");
        RtmpStats {
            out_bytes: stats.get::<u64>("out-bytes-total").unwrap_or(0),
            acked_bytes: stats.get::<u64>("out-bytes-acked").unwrap_or(0),
        }
    }

    /// Unlinks the bin from the tee, then stops and removes it. `graceful`
    /// first sends EOS, so rtmp2sink tells the server the stream ended.
    /// Blocking (rtmp2sink may take a moment to let go of a dead server):
    /// call it off the async executor.
    pub(crate) fn detach_blocking(
        self,
        pipeline: &gst::Pipeline,
        tee: &gst::Element,
        graceful: bool,
    ) {
        if let Some(sink_pad) = self.bin.static_pad("sink") {
            if let Some(tee_pad) = sink_pad.peer() {
                let (done_tx, done_rx) = std::sync::mpsc::channel();
                // Unlink while no buffer is crossing the pad.
                tee_pad.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
                    if let Some(peer) = pad.peer() {
                        let _ = pad.unlink(&peer);
                    }
                    let _ = done_tx.send(());
                    gst::PadProbeReturn::Remove
                });
                if done_rx.recv_timeout(Duration::from_secs(1)).is_err() {
                    let _ = tee_pad.unlink(&sink_pad);
                }
                tee.release_request_pad(&tee_pad);
            }
            if graceful {
                let _ = sink_pad.send_event(gst::event::Eos::new());
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let _ = self.bin.set_state(gst::State::Null);
        let _ = pipeline.remove(&self.bin);
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

    #[test]
    fn sink_names_round_trip() {
        let name = SinkName {
            destination: DestinationId::new(),
            generation: 17,
        };
        assert_eq!(SinkName::parse(&name.bin_name()), Some(name));
        assert_eq!(SinkName::parse("dest-nope-1"), None);
        assert_eq!(SinkName::parse("video-encoder"), None);
    }
}
