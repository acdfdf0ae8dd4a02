//! Outputs: where an egress's encoded streams go. The pipeline encodes video
//! once and audio once ([`EncodedStreams`]); each output kind is a bin that
//! takes a branch of them through the one [`Output`] trait:
//!
//! - an RTMP(S) destination (`crate::rtmp`) takes the FLV stream, muxed once
//!   for every destination;
//! - the MP4 file of a recording (`crate::file`) takes the elementary H.264
//!   and AAC streams.
//!
//! Outputs attach and detach while the pipeline plays; one that fails, hangs
//! or is slow never stalls the others (each sits behind a leaky queue and a
//! pad that swallows its flow errors). Which output an error belongs to is
//! read from its bin's name ([`OutputName`]), so the bus handler needs no
//! registry; each kind sorts its own errors ([`OutputName::error_event`]).

use crate::error::EgressError;
use crate::pipeline::SessionEvent;
use crate::rtmp::{self, SinkName};
use gstreamer as gst;
use gstreamer::prelude::*;
use std::time::Duration;

/// The encoded streams, as tees an output takes a branch of.
#[derive(Clone)]
pub(crate) struct EncodedStreams {
    pub pipeline: gst::Pipeline,
    /// H.264, encoded (or passed through) once.
    pub video: gst::Element,
    /// AAC, encoded once.
    pub audio: gst::Element,
    /// FLV muxed once from both, for every RTMP output.
    pub flv: gst::Element,
}

/// One output of an egress: a bin in its pipeline, named by its
/// [`OutputName`] (which its errors carry back).
pub(crate) trait Output: Send + 'static {
    /// Adds its bin to the pipeline, starts it and links it to the streams
    /// it takes. On error nothing is left in the pipeline.
    fn attach(&self, streams: &EncodedStreams) -> Result<(), EgressError>;

    /// Unlinks it from the streams (between two buffers), then, if
    /// `graceful`, lets it finish (EOS: an ingest hears the stream end, a
    /// file gets its index), and removes it. Blocking: call it off the async
    /// executor ([`crate::pipeline::MediaPipeline::detach`] does).
    fn detach_blocking(self, streams: &EncodedStreams, graceful: bool);

    /// What it has sent so far.
    fn stats(&self) -> OutputStats;
}

/// What an output has sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OutputStats {
    /// Bytes written to the network or the disk.
    pub bytes_out: u64,
    /// Bytes the receiver confirmed (RTMP acknowledgements), where it does.
    pub bytes_acked: Option<u64>,
}

/// Which output a bin is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputName {
    /// An RTMP destination's connection attempt.
    Destination(SinkName),
    /// The recording's file.
    File,
}

/// The file output's bin name (one file per egress).
const FILE_BIN: &str = "file-output";

impl OutputName {
    pub(crate) fn bin_name(&self) -> String {
        match self {
            Self::Destination(sink) => sink.bin_name(),
            Self::File => FILE_BIN.to_owned(),
        }
    }

    fn parse(name: &str) -> Option<Self> {
        if name == FILE_BIN {
            return Some(Self::File);
        }
        SinkName::parse(name).map(Self::Destination)
    }

    /// The output `object` belongs to, if any.
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

    /// What an error of this output means to the supervisor: a destination
    /// sorts it for its retry policy (`rtmp::classify`); the file has no
    /// second chance (a full disk stays full), so any error ends it alone.
    pub(crate) fn error_event(&self, error: &gst::glib::Error, text: String) -> SessionEvent {
        match self {
            Self::Destination(sink) => SessionEvent::DestinationError {
                sink: *sink,
                class: rtmp::classify(error, &text),
                message: text,
            },
            Self::File => SessionEvent::FileError(text),
        }
    }
}

/// An output's bin pads and the tees they take from, e.g. `[(&streams.flv, "sink")]`.
pub(crate) type Links<'a> = [(&'a gst::Element, &'a str)];

/// Adds `bin` to the pipeline, starts it and links each of its `links`
/// pads from its tee. On error nothing of it is left in the pipeline.
pub(crate) fn attach_bin(
    streams: &EncodedStreams,
    bin: &gst::Bin,
    links: &Links,
) -> Result<(), EgressError> {
    streams.pipeline.add(bin)?;
    let linked = bin
        .sync_state_with_parent()
        .map_err(EgressError::from)
        .and_then(|()| {
            for (tee, name) in links {
                let sink_pad = bin.static_pad(name).ok_or_else(|| {
                    EgressError::Pipeline(format!("{} has no {name} pad", bin.name()))
                })?;
                link_from_tee(tee, &sink_pad)?;
            }
            Ok(())
        });
    if linked.is_err() {
        unlink_bin(bin, links);
        let _ = bin.set_state(gst::State::Null);
        let _ = streams.pipeline.remove(bin);
    }
    linked
}

/// Unlinks each of `bin`'s `links` pads from its tee (between two buffers).
pub(crate) fn unlink_bin(bin: &gst::Bin, links: &Links) {
    for (tee, name) in links {
        if let Some(tee_pad) = bin.static_pad(name).and_then(|p| p.peer()) {
            unlink_from_tee(tee, &tee_pad);
        }
    }
}

/// Unlinks `tee_pad` from its peer between two buffers (an idle probe; a
/// pad that stays busy for a second is unlinked anyway) and gives it back
/// to the tee.
fn unlink_from_tee(tee: &gst::Element, tee_pad: &gst::Pad) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    tee_pad.add_probe(gst::PadProbeType::IDLE, move |pad, _| {
        if let Some(peer) = pad.peer() {
            let _ = pad.unlink(&peer);
        }
        let _ = done_tx.send(());
        gst::PadProbeReturn::Remove
    });
    if done_rx.recv_timeout(Duration::from_secs(1)).is_err()
        && let Some(peer) = tee_pad.peer()
    {
        let _ = tee_pad.unlink(&peer);
    }
    tee.release_request_pad(tee_pad);
}

/// Links a new pad of `tee` to `sink_pad`; the tee's pad is given back if
/// the link fails.
fn link_from_tee(tee: &gst::Element, sink_pad: &gst::Pad) -> Result<(), EgressError> {
    let tee_pad = tee
        .request_pad_simple("src_%u")
        .ok_or_else(|| EgressError::Pipeline(format!("{} gave no pad", tee.name())))?;
    if let Err(error) = tee_pad.link(sink_pad) {
        tee.release_request_pad(&tee_pad);
        return Err(error.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DestinationId;

    #[test]
    fn names_round_trip() {
        let sink = SinkName {
            destination: DestinationId::new(),
            generation: 17,
        };
        for name in [OutputName::Destination(sink), OutputName::File] {
            assert_eq!(OutputName::parse(&name.bin_name()), Some(name));
        }
        assert_eq!(OutputName::parse("dest-nope-1"), None);
        assert_eq!(OutputName::parse("video-encoder"), None);
        assert_eq!(OutputName::parse("file-mux"), None);
    }
}
