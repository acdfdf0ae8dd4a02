//! The elementary streams for FLV: H.264 (passed through or re-encoded) and
//! AAC-LC 48 kHz stereo (always encoded from Opus, or silence).

use crate::elements::{add_chain, caps_filter, make, set};
use crate::error::EgressError;
use crate::profile::{H264Profile, OutputProfile, VideoPath};
use crate::source::{RtpCodec, depayloader};
use gstreamer as gst;
use gstreamer::prelude::*;

/// A linked run of elements already in the pipeline.
pub(crate) struct Chain {
    pub first: gst::Element,
    pub last: gst::Element,
}

/// Name of the x264enc element, present only in a re-encode.
pub(crate) const VIDEO_ENCODER: &str = "video-encoder";

/// Depayloader to H.264 AVC access units, ready for flvmux.
pub(crate) fn video(
    pipeline: &gst::Pipeline,
    codec: &RtpCodec,
    path: VideoPath,
    out: &OutputProfile,
) -> Result<Chain, EgressError> {
    let depay = depayloader(codec)?;
    let parse = make("h264parse", "video-parse")?;
    let avc = caps_filter("video-avc", "video/x-h264,stream-format=avc,alignment=au")?;
    let queue = make("queue", "video-mux-queue")?;
    let mut chain = vec![depay.clone()];
    if path == VideoPath::Reencode {
        let decoder = match codec {
            RtpCodec::Vp8 => make("vp8dec", "video-decoder")?,
            RtpCodec::H264 { .. } => make("avdec_h264", "video-decoder")?,
            RtpCodec::Opus => return Err(EgressError::UnsupportedCodec("Opus as video".into())),
        };
        let convert = make("videoconvert", "video-convert")?;
        let scale = make("videoscale", "video-scale")?;
        // Letterbox rather than stretch when the input is not 16:9.
        scale.set_property("add-borders", true);
        let rate = make("videorate", "video-rate")?;
        rate.set_property("skip-to-first", true);
        let raw = caps_filter(
            "video-raw",
            &format!(
                "video/x-raw,format=I420,width={},height={},framerate={}/1,pixel-aspect-ratio=1/1",
                out.width, out.height, out.fps
            ),
        )?;
        let encoder = x264(out)?;
        let profile = match out.h264_profile {
            H264Profile::Baseline => "constrained-baseline",
            H264Profile::Main => "main",
        };
        let h264 = caps_filter("video-profile", &format!("video/x-h264,profile={profile}"))?;
        chain.extend([decoder, convert, scale, rate, raw, encoder, h264]);
    }
    chain.extend([parse, avc, queue.clone()]);
    add_chain(pipeline, &chain.iter().collect::<Vec<_>>())?;
    Ok(Chain {
        first: depay,
        last: queue,
    })
}

/// The composed picture (raw frames from `from`) encoded once: x264 ->
/// H.264 AVC access units -> the queue the outputs' tee takes.
pub(crate) fn composed_video(
    pipeline: &gst::Pipeline,
    from: &gst::Element,
    out: &OutputProfile,
) -> Result<gst::Element, EgressError> {
    let encoder = x264(out)?;
    let profile = match out.h264_profile {
        H264Profile::Baseline => "constrained-baseline",
        H264Profile::Main => "main",
    };
    let h264 = caps_filter("video-profile", &format!("video/x-h264,profile={profile}"))?;
    let parse = make("h264parse", "video-parse")?;
    let avc = caps_filter("video-avc", "video/x-h264,stream-format=avc,alignment=au")?;
    let queue = make("queue", "video-mux-queue")?;
    add_chain(pipeline, &[&encoder, &h264, &parse, &avc, &queue])?;
    from.link(&encoder)?;
    Ok(queue)
}

/// x264 set for ingests: `pass=cbr` alone undershoots badly on easy
/// content, so HRD CBR with filler; a fixed GOP with scenecut off.
fn x264(out: &OutputProfile) -> Result<gst::Element, EgressError> {
    let encoder = make("x264enc", VIDEO_ENCODER)?;
    let gop = (out.fps as f64 * out.keyframe_interval.as_secs_f64())
        .round()
        .max(1.0) as u32;
    set(&encoder, "pass", "cbr");
    set(&encoder, "speed-preset", "veryfast");
    set(&encoder, "tune", "zerolatency");
    encoder.set_property("bitrate", out.video_kbps);
    encoder.set_property("key-int-max", gop);
    encoder.set_property("bframes", 0u32);
    encoder.set_property("vbv-buf-capacity", 1000u32);
    encoder.set_property(
        "option-string",
        "nal-hrd=cbr:filler=1:scenecut=0:force-cfr=1",
    );
    Ok(encoder)
}

/// Opus (or nothing) to AAC-LC. Silence is mixed in so the audio track
/// never stops (a muted or absent microphone, a paused producer): ingests
/// dislike an FLV whose audio pauses.
pub(crate) fn audio(
    pipeline: &gst::Pipeline,
    opus: bool,
    out: &OutputProfile,
) -> Result<(Option<gst::Element>, gst::Element), EgressError> {
    let mixer = make("audiomixer", "audio-mixer")?;
    let mixed = caps_filter(
        "audio-mixed",
        "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2",
    )?;
    let convert = make("audioconvert", "audio-encoder-convert")?;
    let encoder = aac_encoder(out)?;
    let parse = make("aacparse", "audio-parse")?;
    let queue = make("queue", "audio-mux-queue")?;
    add_chain(
        pipeline,
        &[&mixer, &mixed, &convert, &encoder, &parse, &queue],
    )?;

    let silence = make("audiotestsrc", "audio-silence")?;
    set(&silence, "wave", "silence");
    silence.set_property("is-live", true);
    silence.set_property("samplesperbuffer", 960i32);
    let silence_caps = caps_filter("audio-silence-caps", "audio/x-raw,rate=48000,channels=2")?;
    add_chain(pipeline, &[&silence, &silence_caps])?;
    silence_caps.link(&mixer)?;

    let depay = if opus {
        let depay = depayloader(&RtpCodec::Opus)?;
        let decoder = make("opusdec", "audio-decoder")?;
        decoder.set_property("plc", true);
        decoder.set_property("use-inband-fec", true);
        let convert = make("audioconvert", "audio-convert")?;
        let resample = make("audioresample", "audio-resample")?;
        let caps = caps_filter("audio-raw", "audio/x-raw,rate=48000,channels=2")?;
        add_chain(pipeline, &[&depay, &decoder, &convert, &resample, &caps])?;
        caps.link(&mixer)?;
        Some(depay)
    } else {
        None
    };
    Ok((depay, queue))
}

fn aac_encoder(out: &OutputProfile) -> Result<gst::Element, EgressError> {
    let bitrate = (out.audio_kbps * 1000).to_string();
    match make("avenc_aac", "audio-encoder") {
        Ok(encoder) => {
            set(&encoder, "bitrate", &bitrate);
            Ok(encoder)
        }
        Err(_) => {
            let encoder = make("voaacenc", "audio-encoder")?;
            set(&encoder, "bitrate", &bitrate);
            Ok(encoder)
        }
    }
}
