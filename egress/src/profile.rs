//! What an egress sends: the per-service output profile (resolution, frame
//! rate, bitrates, H.264 profile, GOP), and the choice between H.264
//! passthrough and a re-encode.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The service whose ingest rules the output follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Amazon IVS: baseline profile (real-time stages take no B-frames).
    Ivs,
    /// Twitch: main profile, 3000 kbit/s video, 160 kbit/s audio.
    Twitch,
    /// YouTube: main profile, 4000 kbit/s video, 128 kbit/s audio.
    #[serde(rename = "youtube")]
    YouTube,
    /// Any other RTMP server.
    #[default]
    Custom,
}

impl Preset {
    /// 720p30 everywhere, within the 2.5-4.5 Mbps band the services advise
    /// for it; 2 s keyframes; AAC-LC 48 kHz stereo.
    pub fn output(self) -> OutputProfile {
        let (video_kbps, h264_profile, audio_kbps) = match self {
            Preset::Ivs => (3500, H264Profile::Baseline, 160),
            Preset::Twitch => (3000, H264Profile::Main, 160),
            Preset::YouTube => (4000, H264Profile::Main, 128),
            Preset::Custom => (2500, H264Profile::Main, 128),
        };
        OutputProfile {
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps,
            h264_profile,
            keyframe_interval: Duration::from_secs(2),
            audio_kbps,
        }
    }
}

/// The H.264 profile of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Profile {
    /// Constrained baseline when re-encoding (no B-frames, no CABAC).
    Baseline,
    /// Main profile (no B-frames in a re-encode); passthrough takes main or baseline input.
    Main,
}

/// The output of an egress (shared by all its destinations: one encode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputProfile {
    /// Frame size of a re-encode. Passthrough keeps the producer's size.
    pub width: u32,
    /// Frame height of a re-encode, pixels.
    pub height: u32,
    /// Frame rate of a re-encode, frames per second; with `keyframe_interval`, the GOP length.
    pub fps: u32,
    /// Constant video bitrate of a re-encode, kbit/s.
    pub video_kbps: u32,
    /// The re-encode's profile, and the highest profile passthrough accepts.
    pub h264_profile: H264Profile,
    /// Exact in a re-encode (x264 GOP, scenecut off); in passthrough the
    /// period of the keyframe requests sent to the producer.
    #[serde(with = "millis")]
    pub keyframe_interval: Duration,
    /// AAC-LC bitrate, kbit/s.
    pub audio_kbps: u32,
}

pub use podium_protocol::{InputVideoCodec, VideoMode, VideoPath};

/// Passthrough needs H.264 whose profile the output accepts: constrained
/// baseline fits everything; main fits a main output; anything else, or an
/// unknown profile, is re-encoded.
pub fn choose_video_path(
    input: &InputVideoCodec,
    output: &OutputProfile,
    mode: VideoMode,
) -> VideoPath {
    if mode == VideoMode::Reencode {
        return VideoPath::Reencode;
    }
    let InputVideoCodec::H264 { profile_level_id } = input else {
        return VideoPath::Reencode;
    };
    let Some(profile_idc) = profile_level_id
        .as_deref()
        .filter(|p| p.len() == 6)
        .and_then(|p| u8::from_str_radix(&p[..2], 16).ok())
    else {
        return VideoPath::Reencode;
    };
    let fits = matches!(
        (profile_idc, output.h264_profile),
        (0x42, _) | (0x4d, H264Profile::Main)
    );
    if fits {
        VideoPath::Passthrough
    } else {
        VideoPath::Reencode
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h264(p: &str) -> InputVideoCodec {
        InputVideoCodec::H264 {
            profile_level_id: Some(p.to_owned()),
        }
    }

    #[test]
    fn video_path_table() {
        use VideoPath::*;
        let baseline = Preset::Ivs.output();
        let main = Preset::YouTube.output();
        let cases = [
            (InputVideoCodec::Vp8, &main, VideoMode::Auto, Reencode),
            (h264("42e01f"), &main, VideoMode::Auto, Passthrough),
            (h264("42e01f"), &baseline, VideoMode::Auto, Passthrough),
            (h264("42001f"), &baseline, VideoMode::Auto, Passthrough),
            (h264("4d001f"), &main, VideoMode::Auto, Passthrough),
            (h264("4d001f"), &baseline, VideoMode::Auto, Reencode),
            (h264("640032"), &main, VideoMode::Auto, Reencode),
            (h264("42e01f"), &main, VideoMode::Reencode, Reencode),
            (h264("zz"), &main, VideoMode::Auto, Reencode),
            (
                InputVideoCodec::H264 {
                    profile_level_id: None,
                },
                &main,
                VideoMode::Auto,
                Reencode,
            ),
        ];
        for (input, output, mode, expected) in cases {
            assert_eq!(
                choose_video_path(&input, output, mode),
                expected,
                "{input:?} {:?} {mode:?}",
                output.h264_profile
            );
        }
    }

    #[test]
    fn presets_are_720p30_in_the_advised_band() {
        for preset in [Preset::Ivs, Preset::Twitch, Preset::YouTube, Preset::Custom] {
            let out = preset.output();
            assert_eq!((out.width, out.height, out.fps), (1280, 720, 30));
            assert!((2500..=4500).contains(&out.video_kbps), "{preset:?}");
            assert!((128..=160).contains(&out.audio_kbps));
            assert_eq!(out.keyframe_interval, Duration::from_secs(2));
        }
        assert_eq!(Preset::Ivs.output().h264_profile, H264Profile::Baseline);
    }
}
