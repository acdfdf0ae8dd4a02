//! A GStreamer RTP sender feeding mediasoup PlainTransport producers
//! (comedia): test video (VP8 or H.264) and a sine tone (Opus, declared as
//! [`crate::rtp::opus_send_parameters`]). It also receives mediasoup's RTCP
//! on the same sockets, so keyframe requests (PLI) reach its encoder as they
//! would reach a browser's.

use crate::media::loopback_listen_info;
use crate::rtp::{OPUS_PT, opus_send_parameters};
use gstreamer as gst;
use gstreamer::prelude::*;
use mediasoup::prelude::*;
use std::num::NonZeroU32;

/// The test video a [`Sender`] sends: a moving ball at 30 fps.
#[derive(Debug, Clone, Copy)]
pub enum VideoIn {
    /// VP8, one layer (about 600 kbit/s).
    Vp8 {
        /// Frame width, pixels.
        width: u32,
        /// Frame height, pixels.
        height: u32,
    },
    /// VP8 declared as a 3-layer simulcast producer; only the lowest
    /// layer is sent (as when a browser drops its upper layers).
    Vp8Simulcast {
        /// Frame width of the layer sent, pixels.
        width: u32,
        /// Frame height of the layer sent, pixels.
        height: u32,
    },
    /// Constrained baseline; `gop` frames between keyframes unless asked.
    H264 {
        /// Frame width, pixels.
        width: u32,
        /// Frame height, pixels.
        height: u32,
        /// Frames from one keyframe to the next (x264 `key-int-max`).
        gop: u32,
    },
}

/// A video and an audio producer on comedia PlainTransports, fed by a GStreamer pipeline
/// (in this process, unless [`Sender::producers_only`]); dropping it stops and closes all.
pub struct Sender {
    pipeline: Option<gst::Pipeline>,
    ports: (u16, u16),
    // Held to keep the producers open; dropped to close them.
    _video: Option<Producer>,
    _audio: Option<Producer>,
    video_id: ProducerId,
    audio_id: ProducerId,
    _transports: Vec<PlainTransport>,
}

const VIDEO_SSRC: u32 = 11_111_111;
const AUDIO_SSRC: u32 = 22_222_222;

impl Sender {
    /// Producers on `router`, and the pipeline sending to them.
    pub async fn start(router: &Router, video: VideoIn) -> Self {
        Self::start_with(router, video, true, BALL).await
    }

    /// As [`Sender::start`], with another `videotestsrc` pattern (`red`,
    /// `blue`, ...: tests tell two senders apart by colour in a composed picture).
    pub async fn start_pattern(router: &Router, video: VideoIn, pattern: &str) -> Self {
        Self::start_with(router, video, true, pattern).await
    }

    /// Producers only; the caller runs [`pipeline`] elsewhere. Returns the
    /// producers' transports' ports for it.
    pub async fn producers_only(router: &Router, video: VideoIn) -> (Self, u16, u16) {
        let mut sender = Self::start_with(router, video, false, BALL).await;
        let ports = sender.ports;
        sender.pipeline.take();
        (sender, ports.0, ports.1)
    }

    async fn start_with(router: &Router, video: VideoIn, run: bool, pattern: &str) -> Self {
        gst::init().unwrap();
        let video_transport = comedia_transport(router).await;
        let audio_transport = comedia_transport(router).await;
        let (codec, pt) = match video {
            VideoIn::Vp8 { .. } | VideoIn::Vp8Simulcast { .. } => (MimeTypeVideo::Vp8, 96),
            VideoIn::H264 { .. } => (MimeTypeVideo::H264, 102),
        };
        let layers = match video {
            VideoIn::Vp8Simulcast { .. } => 3,
            _ => 1,
        };
        let mut parameters = RtpCodecParametersParameters::default();
        if codec == MimeTypeVideo::H264 {
            parameters.insert("packetization-mode", 1_u32);
            parameters.insert("profile-level-id", "42e01f");
            parameters.insert("level-asymmetry-allowed", 1_u32);
        }
        let video_producer = video_transport
            .produce(ProducerOptions::new(
                MediaKind::Video,
                RtpParameters {
                    codecs: vec![RtpCodecParameters::Video {
                        mime_type: codec,
                        payload_type: pt,
                        clock_rate: NonZeroU32::new(90000).unwrap(),
                        parameters,
                        rtcp_feedback: vec![RtcpFeedback::NackPli, RtcpFeedback::CcmFir],
                    }],
                    encodings: (0..layers)
                        .map(|i| RtpEncodingParameters {
                            ssrc: Some(VIDEO_SSRC + 2 * i),
                            ..Default::default()
                        })
                        .collect(),
                    rtcp: RtcpParameters {
                        cname: Some("podium-test".into()),
                        reduced_size: true,
                    },
                    ..Default::default()
                },
            ))
            .await
            .expect("video producer");
        let audio_producer = audio_transport
            .produce(ProducerOptions::new(
                MediaKind::Audio,
                opus_send_parameters(AUDIO_SSRC),
            ))
            .await
            .expect("audio producer");

        let ports = (
            video_transport.tuple().local_port(),
            audio_transport.tuple().local_port(),
        );
        let pipeline = run.then(|| {
            let pipeline = pipeline_with(video, pattern, ports.0, ports.1);
            pipeline
                .set_state(gst::State::Playing)
                .expect("sender plays");
            pipeline
        });
        Self {
            pipeline,
            ports,
            video_id: video_producer.id(),
            audio_id: audio_producer.id(),
            _video: Some(video_producer),
            _audio: Some(audio_producer),
            _transports: vec![video_transport, audio_transport],
        }
    }

    /// The video producer's id.
    pub fn video_id(&self) -> ProducerId {
        self.video_id
    }

    /// The audio producer's id.
    pub fn audio_id(&self) -> ProducerId {
        self.audio_id
    }

    /// Closes the video producer (the teacher left).
    pub fn close_video(&mut self) {
        self._video = None;
    }

    /// Closes the audio producer (the microphone went away).
    pub fn close_audio(&mut self) {
        self._audio = None;
    }
}

/// The sender's pipeline, towards mediasoup's ports (`Sender` runs it in
/// this process; the egress benchmark runs it in a child, to keep its CPU
/// apart).
pub fn pipeline(video: VideoIn, video_port: u16, audio_port: u16) -> gst::Pipeline {
    pipeline_with(video, BALL, video_port, audio_port)
}

/// The default test picture: a moving ball.
const BALL: &str = "ball";

/// [`pipeline`] with another `videotestsrc` pattern.
pub fn pipeline_with(
    video: VideoIn,
    pattern: &str,
    video_port: u16,
    audio_port: u16,
) -> gst::Pipeline {
    gst::init().unwrap();
    let encoder = match video {
        VideoIn::Vp8 { width, height } | VideoIn::Vp8Simulcast { width, height } => format!(
            "video/x-raw,width={width},height={height},framerate=30/1 ! \
             vp8enc deadline=1 cpu-used=16 end-usage=cbr target-bitrate=600000 keyframe-max-dist=3000 ! \
             rtpvp8pay pt=96 ssrc={VIDEO_SSRC} picture-id-mode=15-bit mtu=1200"
        ),
        VideoIn::H264 { width, height, gop } => format!(
            "video/x-raw,width={width},height={height},framerate=30/1 ! \
             x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 key-int-max={gop} ! \
             video/x-h264,profile=constrained-baseline ! \
             rtph264pay pt=102 ssrc={VIDEO_SSRC} config-interval=-1 aggregate-mode=zero-latency mtu=1200"
        ),
    };
    let description = format!(
        "rtpbin name=rtpbin \
         videotestsrc is-live=true pattern={pattern} ! {encoder} ! rtpbin.send_rtp_sink_0 \
         rtpbin.send_rtp_src_0 ! funnel name=vfunnel ! udpsink name=vsink host=127.0.0.1 port={video_port} sync=false async=false close-socket=false \
         rtpbin.send_rtcp_src_0 ! vfunnel. \
         udpsrc name=vrtcp address=127.0.0.1 port=0 caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_0 \
         audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audio/x-raw,rate=48000,channels=2 ! \
         opusenc bitrate=64000 ! rtpopuspay pt={OPUS_PT} ssrc={AUDIO_SSRC} ! rtpbin.send_rtp_sink_1 \
         rtpbin.send_rtp_src_1 ! funnel name=afunnel ! udpsink name=asink host=127.0.0.1 port={audio_port} sync=false async=false close-socket=false \
         rtpbin.send_rtcp_src_1 ! afunnel. \
         udpsrc name=artcp address=127.0.0.1 port=0 caps=application/x-rtcp ! rtpbin.recv_rtcp_sink_1"
    );
    let pipeline = gst::parse::launch(&description)
        .expect("sender pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    // Send from the socket that receives RTCP: mediasoup (comedia)
    // answers to the address the RTP came from.
    for (src, sink) in [("vrtcp", "vsink"), ("artcp", "asink")] {
        let src = pipeline.by_name(src).unwrap();
        let sink = pipeline.by_name(sink).unwrap();
        src.set_state(gst::State::Ready).unwrap();
        let socket = src.property_value("used-socket");
        sink.set_property_from_value("socket", &socket);
    }
    pipeline
}

impl Drop for Sender {
    fn drop(&mut self) {
        if let Some(pipeline) = &self.pipeline {
            let _ = pipeline.set_state(gst::State::Null);
        }
    }
}

async fn comedia_transport(router: &Router) -> PlainTransport {
    let mut options = PlainTransportOptions::new(loopback_listen_info());
    options.comedia = true;
    options.rtcp_mux = true;
    router
        .create_plain_transport(options)
        .await
        .expect("plain transport")
}
