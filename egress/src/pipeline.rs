//! Joins the parts: RTP sources (or the composer) -> encode -> the encoded
//! streams (video and audio tees, and the FLV muxed once from them) -> the
//! outputs ([`crate::output`]), and the single error path: every bus message
//! is sorted here into a [`SessionEvent`] (an output's trouble, sorted by
//! its kind, or something fatal).

use crate::compose::{Composer, Layout};
use crate::elements::{make, set};
use crate::encode;
use crate::error::EgressError;
use crate::file::FileSink;
use crate::output::{EncodedStreams, Output, OutputName};
use crate::profile::{OutputProfile, VideoPath};
use crate::retry::ErrorClass;
use crate::rtmp::SinkName;
use crate::secret::Scrubber;
use crate::source::{self, InputEvent, RtpStream};
use gstreamer as gst;
use gstreamer::prelude::*;
use mediasoup::prelude::MediaKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::UnboundedSender;

/// Everything the supervisor hears from one session (pipeline + consumers).
#[derive(Debug)]
pub(crate) enum SessionEvent {
    Input(InputEvent),
    /// An element of a destination's sink bin failed.
    DestinationError {
        sink: SinkName,
        class: ErrorClass,
        message: String,
    },
    /// Anything else failed: the pipeline cannot go on.
    Fatal(String),
    /// The file output failed (disk full, directory gone).
    FileError(String),
    /// A udpsrc saw no RTP for [`source::INPUT_TIMEOUT`].
    InputTimeout(MediaKind),
    /// A composed input's producer closed.
    ComposedInputClosed(mediasoup::prelude::ProducerId),
    /// A depayloader lost data and needs a keyframe.
    KeyframeWanted,
    Eos,
    Latency,
}

/// Counted in pad probes, read by the supervisor's tick.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub muxed_bytes: AtomicU64,
    pub video_frames: AtomicU64,
    pub video_packets: Arc<AtomicU64>,
    pub audio_packets: Arc<AtomicU64>,
}

/// What feeds the encoder.
pub(crate) enum PlanInput<'a> {
    /// One video and maybe one audio producer, passed through or re-encoded.
    Producers {
        video: &'a RtpStream,
        audio: Option<&'a RtpStream>,
        path: VideoPath,
    },
    /// Inputs composed into one picture, added once the pipeline plays.
    Composed(Layout),
}

pub(crate) struct PipelinePlan<'a> {
    pub input: PlanInput<'a>,
    pub output: &'a OutputProfile,
    /// Where to record, if anywhere.
    pub file: Option<&'a std::path::Path>,
}

pub(crate) struct MediaPipeline {
    pipeline: gst::Pipeline,
    streams: EncodedStreams,
    /// The producers' sockets (none when composed: each input has its own).
    video_src: Option<gst::Element>,
    audio_src: Option<gst::Element>,
    pub counters: Arc<Counters>,
    /// The file output, if recording.
    pub file: Option<FileSink>,
}

impl MediaPipeline {
    /// The pipeline, and its composing stage when the plan composes.
    pub(crate) fn build(
        plan: &PipelinePlan<'_>,
        events: UnboundedSender<SessionEvent>,
        scrubber: Scrubber,
    ) -> Result<(Self, Option<Composer>), EgressError> {
        let pipeline = gst::Pipeline::with_name("egress");
        let counters = Arc::new(Counters::default());

        let (video_src, audio_src, video_last, audio_last, composer) = match plan.input {
            PlanInput::Producers { video, audio, path } => {
                let rtpbin = source::rtpbin()?;
                pipeline.add(&rtpbin)?;
                let video_src =
                    source::udp_source("video-udpsrc", video, counters.video_packets.clone())?;
                pipeline.add(&video_src)?;
                link_to_request(&video_src, &rtpbin, "recv_rtp_sink_0")?;
                let audio_src = match audio {
                    Some(audio) => {
                        let src = source::udp_source(
                            "audio-udpsrc",
                            audio,
                            counters.audio_packets.clone(),
                        )?;
                        pipeline.add(&src)?;
                        link_to_request(&src, &rtpbin, "recv_rtp_sink_1")?;
                        Some(src)
                    }
                    None => None,
                };
                let video_chain = encode::video(&pipeline, &video.codec, path, plan.output)?;
                let (audio_depay, audio_last) =
                    encode::audio(&pipeline, audio.is_some(), plan.output)?;
                let mut depays = vec![(0, video_chain.first.clone())];
                if let Some(depay) = audio_depay {
                    depays.push((1, depay));
                }
                source::link_rtpbin_outputs(&rtpbin, &pipeline, depays);
                forward_keyframe_requests(&video_chain.first, events.clone());
                (
                    Some(video_src),
                    audio_src,
                    video_chain.last,
                    audio_last,
                    None,
                )
            }
            PlanInput::Composed(layout) => {
                let (_, audio_last) = encode::audio(&pipeline, false, plan.output)?;
                let (composer, frame) = Composer::build(
                    &pipeline,
                    plan.output,
                    layout,
                    Arc::clone(&counters),
                    events.clone(),
                )?;
                let video_last = encode::composed_video(&pipeline, &frame, plan.output)?;
                (None, None, video_last, audio_last, Some(composer))
            }
        };

        // Encoded once; each output takes its copy from these tees.
        let video_tee = make("tee", "video-tee")?;
        let audio_tee = make("tee", "audio-tee")?;
        for tee in [&video_tee, &audio_tee] {
            tee.set_property("allow-not-linked", true);
        }
        pipeline.add_many([&video_tee, &audio_tee])?;
        video_last.link(&video_tee)?;
        audio_last.link(&audio_tee)?;

        let mux = make("flvmux", "mux")?;
        mux.set_property("streamable", true);
        set(
            &mux,
            "latency",
            &(100 * gst::ClockTime::MSECOND.nseconds()).to_string(),
        );
        let flv_tee = make("tee", "tee")?;
        // Also when every destination is down: the muxer keeps running.
        flv_tee.set_property("allow-not-linked", true);
        pipeline.add_many([&mux, &flv_tee])?;
        mux.link(&flv_tee)?;
        link_tee_to_request(&video_tee, &mux, "video")?;
        link_tee_to_request(&audio_tee, &mux, "audio")?;
        let streams = EncodedStreams {
            pipeline: pipeline.clone(),
            video: video_tee,
            audio: audio_tee,
            flv: flv_tee,
        };
        let file = match plan.file {
            Some(path) => {
                let file = FileSink::build(path)?;
                file.attach(&streams)?;
                Some(file)
            }
            None => None,
        };

        count_bytes(&streams.flv, &counters);
        count_frames(&video_last, &counters);
        watch_bus(&pipeline, events, scrubber);
        Ok((
            Self {
                pipeline,
                streams,
                video_src,
                audio_src,
                counters,
                file,
            },
            composer,
        ))
    }

    /// Goes to READY, which binds the udpsrc sockets; returns their ports
    /// (none when composed).
    pub(crate) fn bind(&self) -> Result<(Option<u16>, Option<u16>), EgressError> {
        self.pipeline.set_state(gst::State::Ready)?;
        let video = self
            .video_src
            .as_ref()
            .map(source::bound_port)
            .transpose()?;
        let audio = self
            .audio_src
            .as_ref()
            .map(source::bound_port)
            .transpose()?;
        Ok((video, audio))
    }

    pub(crate) fn play(&self) -> Result<(), EgressError> {
        self.pipeline.set_state(gst::State::Playing)?;
        Ok(())
    }

    /// Adds an output while the pipeline plays.
    pub(crate) fn attach(&self, output: &impl Output) -> Result<(), EgressError> {
        output.attach(&self.streams)
    }

    /// Detaches an output on a blocking thread.
    pub(crate) fn detach(
        &self,
        output: impl Output,
        graceful: bool,
    ) -> tokio::task::JoinHandle<()> {
        let streams = self.streams.clone();
        tokio::task::spawn_blocking(move || output.detach_blocking(&streams, graceful))
    }

    /// Sends EOS from the sources: the muxer finishes, rtmp2sinks send
    /// their closing commands; the bus then reports [`SessionEvent::Eos`].
    /// From a blocking thread, not waited for: a source whose streaming
    /// thread is blocked downstream holds the lock the event needs, and the
    /// send holds the pipeline's state lock meanwhile; that must not stall
    /// the executor. (`Session::close` sends it only once the muxer has
    /// produced output, and bounds the stop that follows.)
    pub(crate) fn send_eos(&self) {
        let pipeline = self.pipeline.clone();
        tokio::task::spawn_blocking(move || pipeline.send_event(gst::event::Eos::new()));
    }

    pub(crate) fn recalculate_latency(&self) {
        let _ = self.pipeline.recalculate_latency();
    }

    /// Stops the pipeline (blocking: call off the executor).
    pub(crate) fn stop_blocking(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }

    /// Factory names of every element, for diagnostics and tests.
    pub(crate) fn element_factories(&self) -> Vec<String> {
        self.pipeline
            .iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.factory().map(|f| f.name().to_string()))
            .collect()
    }
}

impl Drop for MediaPipeline {
    fn drop(&mut self) {
        // Normally already NULL; a pipeline dropped elsewhere must not leak
        // its sockets and threads.
        if self.pipeline.current_state() != gst::State::Null {
            let _ = self.pipeline.set_state(gst::State::Null);
        }
    }
}

fn link_to_request(
    src: &gst::Element,
    sink: &gst::Element,
    template: &str,
) -> Result<(), EgressError> {
    let src_pad = src
        .static_pad("src")
        .ok_or_else(|| EgressError::Pipeline(format!("{} has no src pad", src.name())))?;
    let sink_pad = sink
        .request_pad_simple(template)
        .ok_or_else(|| EgressError::Pipeline(format!("{} gave no {template} pad", sink.name())))?;
    src_pad.link(&sink_pad)?;
    Ok(())
}

fn link_tee_to_request(
    tee: &gst::Element,
    sink: &gst::Element,
    template: &str,
) -> Result<(), EgressError> {
    let src_pad = tee
        .request_pad_simple("src_%u")
        .ok_or_else(|| EgressError::Pipeline(format!("{} gave no src pad", tee.name())))?;
    let sink_pad = sink
        .request_pad_simple(template)
        .ok_or_else(|| EgressError::Pipeline(format!("{} gave no {template} pad", sink.name())))?;
    src_pad.link(&sink_pad)?;
    Ok(())
}

fn count_bytes(tee: &gst::Element, counters: &Arc<Counters>) {
    let Some(pad) = tee.static_pad("sink") else {
        return;
    };
    let counters = Arc::clone(counters);
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let size = match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => buffer.size(),
                Some(gst::PadProbeData::BufferList(list)) => list.calculate_size(),
                _ => 0,
            };
            counters
                .muxed_bytes
                .fetch_add(size as u64, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        },
    );
}

fn count_frames(video_queue: &gst::Element, counters: &Arc<Counters>) {
    let Some(pad) = video_queue.static_pad("src") else {
        return;
    };
    let counters = Arc::clone(counters);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        counters.video_frames.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
}

/// A depayloader asks upstream for a keyframe with a force-key-unit event;
/// upstream is rtpbin, which has no way back to the producer. Turn it into
/// a mediasoup request as well.
pub(crate) fn forward_keyframe_requests(
    depay: &gst::Element,
    events: UnboundedSender<SessionEvent>,
) {
    let Some(pad) = depay.static_pad("sink") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data {
            let is_key_unit = event.type_() == gst::EventType::CustomUpstream
                && event
                    .structure()
                    .is_some_and(|s| s.name() == "GstForceKeyUnit");
            if is_key_unit {
                // The event goes on to rtpbin, which has no RTCP way out: harmless.
                let _ = events.send(SessionEvent::KeyframeWanted);
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// The one error path: a sync handler sorts each message where it is posted
/// and only forwards a small event; the supervisor decides.
fn watch_bus(pipeline: &gst::Pipeline, events: UnboundedSender<SessionEvent>, scrubber: Scrubber) {
    let Some(bus) = pipeline.bus() else {
        return;
    };
    bus.set_sync_handler(move |_, message| {
        use gst::MessageView;
        let event = match message.view() {
            MessageView::Error(error) => {
                let details = error.debug().map(|d| d.to_string()).unwrap_or_default();
                let from = message
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                tracing::debug!(
                    element = %from,
                    error = %scrubber.scrub(&error.error().to_string()),
                    details = %scrubber.scrub(&details),
                    "pipeline error"
                );
                let text = scrubber.scrub(&match debug_detail(&details) {
                    Some(detail) => format!("{} ({detail})", error.error()),
                    None => error.error().to_string(),
                });
                match message.src().and_then(OutputName::of) {
                    Some(output) => Some(output.error_event(&error.error(), text)),
                    None => Some(SessionEvent::Fatal(format!("{from}: {text}"))),
                }
            }
            MessageView::Warning(warning) => {
                let from = message
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                tracing::warn!(
                    element = %from,
                    warning = %scrubber.scrub(&warning.error().to_string()),
                    "pipeline warning"
                );
                None
            }
            MessageView::Element(element) => {
                let timed_out = element
                    .structure()
                    .is_some_and(|s| s.name() == "GstUDPSrcTimeout");
                match message.src().map(gstreamer::prelude::GstObjectExt::name) {
                    Some(name) if timed_out && name == "video-udpsrc" => {
                        Some(SessionEvent::InputTimeout(MediaKind::Video))
                    }
                    Some(name) if timed_out && name == "audio-udpsrc" => {
                        Some(SessionEvent::InputTimeout(MediaKind::Audio))
                    }
                    _ => None,
                }
            }
            MessageView::Eos(_) => Some(SessionEvent::Eos),
            MessageView::Latency(_) => Some(SessionEvent::Latency),
            _ => None,
        };
        if let Some(event) = event {
            let _ = events.send(event);
        }
        gst::BusSyncReply::Drop
    });
}

/// The useful part of a GStreamer debug string, without the source
/// location and element path that usually open it.
fn debug_detail(debug: &str) -> Option<&str> {
    let detail = match debug.split_once(":\n") {
        Some((_, rest)) => rest,
        None if debug.starts_with("../") || debug.contains("): /Gst") => return None,
        None => debug,
    };
    let detail = detail.trim();
    (!detail.is_empty()).then_some(detail)
}

#[cfg(test)]
mod tests {
    use super::debug_detail;

    #[test]
    fn debug_details_lose_their_location() {
        let tls = "../gst/rtmp2/gstrtmp2sink.c(1117): send_connect_error (): \
                   /GstPipeline:egress/GstBin:dest-x-1/GstRtmp2Sink:rtmp2sink:\ndomain g-tls-error-quark, code 2";
        assert_eq!(debug_detail(tls), Some("domain g-tls-error-quark, code 2"));
        let refused = "../gst/rtmp2/gstrtmp2sink.c(1114): send_connect_error (): /GstPipeline:egress/GstBin:dest-x-1/GstRtmp2Sink:rtmp2sink";
        assert_eq!(debug_detail(refused), None);
        assert_eq!(debug_detail("plain words"), Some("plain words"));
        assert_eq!(debug_detail(""), None);
    }
}
