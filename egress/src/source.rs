//! RTP in: a mediasoup PlainTransport per stream (rtcp-mux, comedia off)
//! sending a paused consumer's RTP to a udpsrc on 127.0.0.1, and the
//! GStreamer side that receives it (udpsrc -> rtpbin -> depayloader).

use crate::elements::make;
use crate::error::EgressError;
use crate::pipeline::SessionEvent;
use event_listener_primitives::HandlerId;
use gstreamer as gst;
use gstreamer::prelude::*;
use mediasoup::consumer::ConsumerType;
use mediasoup::prelude::*;
use mediasoup::types::rtp_parameters::{
    MimeType, RtpCodecCapabilityFinalized, RtpCodecParametersParametersValue,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// No RTP for this long on a udpsrc: the input is reported stalled.
pub(crate) const INPUT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a consumer sends, as the pipeline needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RtpStream {
    pub kind: MediaKind,
    pub codec: RtpCodec,
    pub payload_type: u8,
    pub clock_rate: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RtpCodec {
    Vp8,
    H264 { profile_level_id: Option<String> },
    Opus,
}

/// Reported by mediasoup callbacks (which must stay tiny: they only post).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputEvent {
    ProducerClosed(MediaKind),
    TransportClosed(MediaKind),
    ProducerPaused(MediaKind),
    ProducerResumed(MediaKind),
}

/// A producer consumed onto its own PlainTransport. Dropping it closes the
/// consumer and the transport in the worker.
pub(crate) struct ConsumedTrack {
    transport: PlainTransport,
    consumer: Consumer,
    pub stream: RtpStream,
    _handlers: Vec<HandlerId>,
}

impl ConsumedTrack {
    /// Creates the transport and a paused consumer of `producer`.
    pub(crate) async fn consume(
        router: &Router,
        producer: ProducerId,
        expected: MediaKind,
        simulcast_layer: Option<u8>,
        events: UnboundedSender<SessionEvent>,
    ) -> Result<Self, EgressError> {
        let mut options = PlainTransportOptions::new(ListenInfo {
            protocol: Protocol::Udp,
            ip: LOCALHOST,
            announced_address: None,
            expose_internal_ip: false,
            port: None,
            port_range: None,
            flags: None,
            send_buffer_size: None,
            recv_buffer_size: None,
        });
        options.rtcp_mux = true;
        options.comedia = false;
        // Nothing sends bandwidth feedback from the pipeline: without this,
        // mediasoup would guess a low bitrate and drop simulcast layers.
        options.enable_bwe = false;
        let transport = router
            .create_plain_transport(options)
            .await
            .map_err(|e| EgressError::Mediasoup(e.to_string()))?;

        let mut consumer_options = ConsumerOptions::new(producer, consume_capabilities(router));
        consumer_options.paused = true;
        consumer_options.enable_rtx = Some(false);
        let consumer = transport
            .consume(consumer_options)
            .await
            .map_err(|error| match error {
                ConsumeError::ProducerNotFound(id) => EgressError::ProducerNotFound(id),
                ConsumeError::FailedRtpCapabilitiesValidation(_)
                | ConsumeError::BadConsumerRtpParameters(_) => {
                    EgressError::UnsupportedCodec(format!("producer {producer}"))
                }
                ConsumeError::Request(e) => {
                    // mediasoup answers "cannot consume" through the request path.
                    EgressError::Mediasoup(e.to_string())
                }
            })?;
        if consumer.kind() != expected {
            return Err(EgressError::WrongKind {
                producer,
                expected,
                actual: consumer.kind(),
            });
        }
        let stream = rtp_stream(&consumer)?;

        // Pin a simulcast/SVC consumer to one layer, so the size does not jump.
        if let Some(encoding) = consumer.rtp_parameters().encodings.first() {
            let spatial = encoding.scalability_mode.spatial_layers().get();
            let temporal = encoding.scalability_mode.temporal_layers().get();
            if matches!(
                consumer.r#type(),
                ConsumerType::Simulcast | ConsumerType::Svc
            ) {
                let top = spatial - 1;
                let layers = ConsumerLayers {
                    spatial_layer: simulcast_layer.map_or(top, |l| l.min(top)),
                    temporal_layer: Some(temporal - 1),
                };
                consumer
                    .set_preferred_layers(layers)
                    .await
                    .map_err(|e| EgressError::Mediasoup(e.to_string()))?;
                tracing::debug!(
                    %producer,
                    spatial = layers.spatial_layer,
                    "simulcast consumer pinned to one layer"
                );
            }
        }

        let kind = expected;
        let mut handlers = Vec::new();
        let tx = events.clone();
        handlers.push(consumer.on_producer_close(move || {
            let _ = tx.send(SessionEvent::Input(InputEvent::ProducerClosed(kind)));
        }));
        let tx = events.clone();
        handlers.push(consumer.on_transport_close(move || {
            let _ = tx.send(SessionEvent::Input(InputEvent::TransportClosed(kind)));
        }));
        let tx = events.clone();
        handlers.push(consumer.on_producer_pause(move || {
            let _ = tx.send(SessionEvent::Input(InputEvent::ProducerPaused(kind)));
        }));
        let tx = events;
        handlers.push(consumer.on_producer_resume(move || {
            let _ = tx.send(SessionEvent::Input(InputEvent::ProducerResumed(kind)));
        }));

        Ok(Self {
            transport,
            consumer,
            stream,
            _handlers: handlers,
        })
    }

    /// Points the transport at the pipeline's udpsrc.
    pub(crate) async fn connect(&self, port: u16) -> Result<(), EgressError> {
        self.transport
            .connect(PlainTransportRemoteParameters {
                ip: Some(LOCALHOST),
                port: Some(port),
                rtcp_port: None,
                srtp_parameters: None,
            })
            .await
            .map_err(|e| EgressError::Mediasoup(e.to_string()))
    }

    pub(crate) async fn resume(&self) -> Result<(), EgressError> {
        self.consumer
            .resume()
            .await
            .map_err(|e| EgressError::Mediasoup(e.to_string()))
    }

    pub(crate) fn consumer(&self) -> &Consumer {
        &self.consumer
    }
}

/// What the pipeline can take: VP8, H.264 and Opus as the router offers
/// them; no RTX (nothing here sends NACKs) and no header extensions.
fn consume_capabilities(router: &Router) -> RtpCapabilities {
    let keep_feedback = |fb: &Vec<RtcpFeedback>| {
        fb.iter()
            .filter(|f| matches!(f, RtcpFeedback::NackPli | RtcpFeedback::CcmFir))
            .copied()
            .collect::<Vec<_>>()
    };
    let codecs = router
        .rtp_capabilities()
        .codecs
        .into_iter()
        .filter_map(|codec| match codec {
            RtpCodecCapabilityFinalized::Video {
                mime_type: mime_type @ (MimeTypeVideo::Vp8 | MimeTypeVideo::H264),
                preferred_payload_type,
                clock_rate,
                parameters,
                rtcp_feedback,
            } => Some(RtpCodecCapability::Video {
                mime_type,
                preferred_payload_type: Some(preferred_payload_type),
                clock_rate,
                parameters,
                rtcp_feedback: keep_feedback(&rtcp_feedback),
            }),
            RtpCodecCapabilityFinalized::Audio {
                mime_type: MimeTypeAudio::Opus,
                preferred_payload_type,
                clock_rate,
                channels,
                parameters,
                ..
            } => Some(RtpCodecCapability::Audio {
                mime_type: MimeTypeAudio::Opus,
                preferred_payload_type: Some(preferred_payload_type),
                clock_rate,
                channels,
                parameters,
                rtcp_feedback: vec![],
            }),
            _ => None,
        })
        .collect();
    RtpCapabilities {
        codecs,
        header_extensions: vec![],
    }
}

fn rtp_stream(consumer: &Consumer) -> Result<RtpStream, EgressError> {
    let params = consumer.rtp_parameters();
    let codec = params
        .codecs
        .iter()
        .find(|c| !c.is_rtx())
        .ok_or_else(|| EgressError::Mediasoup("consumer has no media codec".to_owned()))?;
    let rtp_codec = match codec.mime_type() {
        MimeType::Video(MimeTypeVideo::Vp8) => RtpCodec::Vp8,
        MimeType::Video(MimeTypeVideo::H264) => RtpCodec::H264 {
            profile_level_id: match codec.parameters().get("profile-level-id") {
                Some(RtpCodecParametersParametersValue::String(s)) => Some(s.to_string()),
                _ => None,
            },
        },
        MimeType::Audio(MimeTypeAudio::Opus) => RtpCodec::Opus,
        other => return Err(EgressError::UnsupportedCodec(format!("{other:?}"))),
    };
    Ok(RtpStream {
        kind: consumer.kind(),
        codec: rtp_codec,
        payload_type: codec.payload_type(),
        clock_rate: codec.clock_rate().get(),
    })
}

impl RtpStream {
    fn caps(&self) -> gst::Caps {
        let (media, name) = match self.codec {
            RtpCodec::Vp8 => ("video", "VP8"),
            RtpCodec::H264 { .. } => ("video", "H264"),
            RtpCodec::Opus => ("audio", "OPUS"),
        };
        let mut caps = gst::Caps::builder("application/x-rtp")
            .field("media", media)
            .field("clock-rate", self.clock_rate as i32)
            .field("encoding-name", name)
            .field("payload", i32::from(self.payload_type));
        if matches!(self.codec, RtpCodec::H264 { .. }) {
            caps = caps.field("packetization-mode", "1");
        }
        caps.build()
    }
}

/// The udpsrc of one stream, on 127.0.0.1 and a port the OS picks when the
/// pipeline goes to READY; `packets` counts what arrives.
pub(crate) fn udp_source(
    name: &str,
    stream: &RtpStream,
    packets: Arc<AtomicU64>,
) -> Result<gst::Element, EgressError> {
    let udpsrc = make("udpsrc", name)?;
    udpsrc.set_property("address", "127.0.0.1");
    udpsrc.set_property("port", 0i32);
    udpsrc.set_property("caps", stream.caps());
    // Posts GstUDPSrcTimeout when the producer stops (pause, sender gone).
    udpsrc.set_property("timeout", INPUT_TIMEOUT.as_nanos() as u64);
    udpsrc.set_property("buffer-size", 4 * 1024 * 1024i32);
    let pad = udpsrc
        .static_pad("src")
        .ok_or_else(|| EgressError::Pipeline("udpsrc has no src pad".to_owned()))?;
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        packets.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    Ok(udpsrc)
}

/// The port a udpsrc bound (valid from READY on).
pub(crate) fn bound_port(udpsrc: &gst::Element) -> Result<u16, EgressError> {
    let port = udpsrc.property::<i32>("port");
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| EgressError::Pipeline("udpsrc did not bind a port".to_owned()))
}

/// rtpbin rather than a bare jitterbuffer: with rtcp-mux the sender
/// reports arrive on the RTP port, and rtpbin uses them for lip-sync.
pub(crate) fn rtpbin() -> Result<gst::Element, EgressError> {
    let rtpbin = make("rtpbin", "rtpbin")?;
    rtpbin.set_property("latency", 200u32);
    rtpbin.set_property("do-lost", true);
    Ok(rtpbin)
}

pub(crate) fn depayloader(codec: &RtpCodec) -> Result<gst::Element, EgressError> {
    let (factory, name) = match codec {
        RtpCodec::Vp8 => ("rtpvp8depay", "video-depay"),
        RtpCodec::H264 { .. } => ("rtph264depay", "video-depay"),
        RtpCodec::Opus => ("rtpopusdepay", "audio-depay"),
    };
    let depay = make(factory, name)?;
    // Drop what cannot be decoded until a keyframe, and ask upstream for
    // one (the pipeline turns that request into a mediasoup one).
    for property in ["wait-for-keyframe", "request-keyframe"] {
        if depay.has_property(property) {
            depay.set_property(property, true);
        }
    }
    Ok(depay)
}

/// Links rtpbin's `recv_rtp_src_<session>_<ssrc>_<pt>` pads to the
/// depayloader of their session as they appear. A pad for a session that
/// already has one (a new SSRC) goes to a fakesink: an unlinked pad would
/// stop rtpbin with not-linked.
pub(crate) fn link_rtpbin_outputs(
    rtpbin: &gst::Element,
    pipeline: &gst::Pipeline,
    depays: Vec<(u32, gst::Element)>,
) {
    let pipeline = pipeline.downgrade();
    rtpbin.connect_pad_added(move |_, pad| {
        let name = pad.name();
        let Some(rest) = name.strip_prefix("recv_rtp_src_") else {
            return;
        };
        let session: Option<u32> = rest.split('_').next().and_then(|s| s.parse().ok());
        let sink = depays
            .iter()
            .find(|(s, _)| Some(*s) == session)
            .and_then(|(_, depay)| depay.static_pad("sink"))
            .filter(|sink| !sink.is_linked());
        match sink {
            Some(sink) => {
                if let Err(error) = pad.link(&sink) {
                    tracing::error!(pad = %name, ?error, "cannot link rtpbin output");
                }
            }
            None => {
                tracing::debug!(pad = %name, "extra rtpbin output dropped");
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                if let Ok(fakesink) = gst::ElementFactory::make("fakesink")
                    .property("async", false)
                    .build()
                {
                    let _ = pipeline.add(&fakesink);
                    let _ = fakesink.sync_state_with_parent();
                    if let Some(sink) = fakesink.static_pad("sink") {
                        let _ = pad.link(&sink);
                    }
                }
            }
        }
    });
}
