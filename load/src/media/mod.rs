//! The teacher's media: real VP8 (three simulcast layers) and Opus, encoded
//! once by GStreamer into RTP streams on disk, then replayed in a loop by the
//! publisher bot. Nothing is encoded while a test runs.

pub mod rtp;
pub mod vp8;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Bumped whenever the encoding recipe changes, so cached files are redone.
const RECIPE: &str = "v2";
/// Ten seconds of media, looped.
const VIDEO_FRAMES: u32 = 300;
const AUDIO_FRAMES: u32 = 500;

/// A simulcast layer: size and target bitrate.
#[derive(Debug, Clone, Copy)]
pub struct Layer {
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
}

pub const LAYERS: [Layer; 3] = [
    Layer {
        width: 320,
        height: 180,
        kbps: 150,
    },
    Layer {
        width: 640,
        height: 360,
        kbps: 500,
    },
    Layer {
        width: 1280,
        height: 720,
        kbps: 1200,
    },
];
pub const OPUS_KBPS: u32 = 32;

/// One encoded frame: its RTP payloads (with marker bits).
#[derive(Debug, Clone)]
pub struct Frame {
    pub packets: Vec<(bool, Arc<[u8]>)>,
    pub keyframe: bool,
}

/// A recorded stream, grouped into frames.
#[derive(Debug, Clone)]
pub struct Clip {
    pub frames: Vec<Frame>,
    /// RTP ticks between frames.
    pub ticks_per_frame: u32,
    pub clock_rate: u32,
    /// Indices of the frames that are keyframes (video).
    pub keyframes: Vec<usize>,
}

impl Clip {
    /// Groups packets by timestamp; `video` marks keyframes from VP8 headers.
    pub fn from_packets(
        packets: &[rtp::Packet],
        clock_rate: u32,
        video: bool,
    ) -> anyhow::Result<Clip> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut timestamps: Vec<u32> = Vec::new();
        for p in packets {
            if timestamps.last() != Some(&p.timestamp) {
                timestamps.push(p.timestamp);
                frames.push(Frame {
                    packets: Vec::new(),
                    keyframe: video && vp8::is_keyframe_start(&p.payload),
                });
            }
            let frame = frames.last_mut().expect("pushed above");
            frame
                .packets
                .push((p.marker, Arc::from(p.payload.as_slice())));
        }
        if frames.len() < 2 {
            bail!("a clip needs at least two frames, got {}", frames.len());
        }
        let mut steps: Vec<u32> = timestamps
            .windows(2)
            .map(|w| w[1].wrapping_sub(w[0]))
            .collect();
        steps.sort_unstable();
        let ticks_per_frame = steps[steps.len() / 2];
        let keyframes: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.keyframe)
            .map(|(i, _)| i)
            .collect();
        if video && keyframes.first() != Some(&0) {
            bail!("a video clip must start with a keyframe");
        }
        Ok(Clip {
            frames,
            ticks_per_frame,
            clock_rate,
            keyframes,
        })
    }

    /// The keyframe at or after `index` (wrapping to the first).
    pub fn next_keyframe(&self, index: usize) -> usize {
        self.keyframes
            .iter()
            .copied()
            .find(|&k| k >= index)
            .or_else(|| self.keyframes.first().copied())
            .unwrap_or(0)
    }

    pub fn bytes(&self) -> usize {
        self.frames
            .iter()
            .flat_map(|f| f.packets.iter())
            .map(|(_, p)| p.len())
            .sum()
    }

    pub fn kbps(&self) -> f64 {
        let secs =
            self.frames.len() as f64 * f64::from(self.ticks_per_frame) / f64::from(self.clock_rate);
        self.bytes() as f64 * 8.0 / secs / 1000.0
    }

    pub fn packets_per_second(&self) -> f64 {
        let packets: usize = self.frames.iter().map(|f| f.packets.len()).sum();
        let secs =
            self.frames.len() as f64 * f64::from(self.ticks_per_frame) / f64::from(self.clock_rate);
        packets as f64 / secs
    }
}

/// The teacher's recorded media.
#[derive(Debug, Clone)]
pub struct MediaSet {
    pub audio: Clip,
    /// Simulcast layers, lowest first.
    pub video: Vec<Clip>,
}

impl MediaSet {
    /// Loads the clips from `dir`, encoding them first with GStreamer if absent.
    pub fn load_or_encode(dir: &Path) -> anyhow::Result<MediaSet> {
        let dir = dir.join(RECIPE);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let audio_path = dir.join("opus.rtp");
        if !audio_path.exists() {
            encode(&audio_path, &audio_pipeline())?;
        }
        let audio = load(&audio_path, 48_000, false)?;
        let mut video = Vec::new();
        for (i, layer) in LAYERS.iter().enumerate() {
            let path = dir.join(format!("vp8-{i}.rtp"));
            if !path.exists() {
                encode(&path, &video_pipeline(layer))?;
            }
            video.push(load(&path, 90_000, true)?);
        }
        Ok(MediaSet { audio, video })
    }
}

fn load(path: &Path, clock_rate: u32, video: bool) -> anyhow::Result<Clip> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let packets =
        rtp::parse_stream(&data).with_context(|| format!("parsing {}", path.display()))?;
    Clip::from_packets(&packets, clock_rate, video)
        .with_context(|| format!("in {}", path.display()))
}

fn video_pipeline(layer: &Layer) -> String {
    // Moving colour bars; vp8enc in real-time mode (as a browser encodes).
    format!(
        "videotestsrc pattern=smpte horizontal-speed=3 num-buffers={VIDEO_FRAMES} \
         ! video/x-raw,width={w},height={h},framerate=30/1 \
         ! vp8enc target-bitrate={bps} end-usage=cbr keyframe-max-dist=60 deadline=1 cpu-used=8 threads=1 \
         ! rtpvp8pay picture-id-mode=15-bit mtu=1200 ! rtpstreampay",
        w = layer.width,
        h = layer.height,
        bps = layer.kbps * 1000
    )
}

fn audio_pipeline() -> String {
    format!(
        "audiotestsrc wave=sine num-buffers={AUDIO_FRAMES} samplesperbuffer=960 \
         ! audio/x-raw,rate=48000,channels=2 ! opusenc bitrate={} bitrate-type=cbr frame-size=20 \
         ! rtpopuspay ! rtpstreampay",
        OPUS_KBPS * 1000
    )
}

/// Runs `gst-launch-1.0 <pipeline> ! filesink` into a temporary file, then renames it.
fn encode(path: &Path, pipeline: &str) -> anyhow::Result<()> {
    let partial: PathBuf = path.with_extension("partial");
    let mut args: Vec<String> = vec!["-q".into()];
    args.extend(pipeline.split_whitespace().map(str::to_owned));
    args.extend([
        "!".into(),
        "filesink".into(),
        format!("location={}", partial.display()),
    ]);
    tracing::info!(file = %path.display(), "encoding media with GStreamer");
    let status = Command::new("gst-launch-1.0")
        .args(&args)
        .status()
        .context("running gst-launch-1.0 (GStreamer tools; scripts/setup installs them)")?;
    if !status.success() {
        bail!("gst-launch-1.0 failed ({status}) for {}", path.display());
    }
    std::fs::rename(&partial, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(ts: u32, marker: bool, payload: &[u8]) -> rtp::Packet {
        rtp::Packet {
            marker,
            payload_type: 96,
            sequence: 0,
            timestamp: ts,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn groups_frames_and_finds_keyframes() {
        let key = [0x10, 0x00, 0, 0];
        let delta = [0x10, 0x01, 0, 0];
        let cont = [0x00, 0xff];
        let packets = vec![
            pkt(1000, false, &key),
            pkt(1000, true, &cont),
            pkt(4000, true, &delta),
            pkt(7000, true, &delta),
            pkt(10_000, false, &key),
            pkt(10_000, true, &cont),
        ];
        let clip = Clip::from_packets(&packets, 90_000, true).unwrap();
        assert_eq!(clip.frames.len(), 4);
        assert_eq!(clip.ticks_per_frame, 3000);
        assert_eq!(clip.keyframes, vec![0, 3]);
        assert_eq!(clip.next_keyframe(1), 3);
        assert_eq!(clip.next_keyframe(3), 3);
        assert_eq!(clip.next_keyframe(4), 0);
        assert_eq!(clip.frames[0].packets.len(), 2);
        assert!(clip.frames[0].packets[1].0);
    }

    #[test]
    fn a_video_clip_starts_with_a_keyframe() {
        let delta = [0x10, 0x01];
        let packets = vec![pkt(0, true, &delta), pkt(3000, true, &delta)];
        assert!(Clip::from_packets(&packets, 90_000, true).is_err());
        assert!(Clip::from_packets(&packets, 90_000, false).is_ok());
    }
}
