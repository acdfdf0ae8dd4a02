//! The ffprobe judge: plays an RTMP stream as a player would and describes
//! what came (codecs, size, frame rate, keyframe spacing, bitrate). The
//! invocation is `testkit/ffprobe.json`, shared with the browser suite
//! (client/tests/rtmp.mjs).

use serde::Deserialize;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How ffprobe is run (see the file's `about`).
pub const FFPROBE_JSON: &str = include_str!("../ffprobe.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    args: Vec<String>,
    timeout_slack_seconds: u64,
}

fn invocation() -> Invocation {
    serde_json::from_str(FFPROBE_JSON).expect("testkit/ffprobe.json")
}

/// The arguments for playing `url` for `seconds` of stream time.
pub fn args(url: &str, seconds: u32) -> Vec<String> {
    invocation()
        .args
        .iter()
        .map(|a| {
            a.replace("{seconds}", &seconds.to_string())
                .replace("{url}", url)
        })
        .collect()
}

/// What ffprobe saw of an RTMP stream (see [`parse`]).
#[derive(Debug, Default)]
pub struct Probe {
    /// Video codec name, e.g. `h264`.
    pub video_codec: String,
    /// Video profile as ffprobe names it, e.g. `Main`.
    pub video_profile: String,
    /// Video width, pixels.
    pub width: u64,
    /// Video height, pixels.
    pub height: u64,
    /// Audio codec name, e.g. `aac`.
    pub audio_codec: String,
    /// Audio profile as ffprobe names it, e.g. `LC`.
    pub audio_profile: String,
    /// Audio sample rate, Hz.
    pub sample_rate: u64,
    /// Audio channel count.
    pub channels: u64,
    /// (pts seconds, keyframe, bytes) of each video packet.
    pub video: Vec<(f64, bool, u64)>,
    /// Audio packets received.
    pub audio_packets: usize,
    /// The first and last audio packets' pts, seconds.
    pub audio_span: Option<(f64, f64)>,
    /// Frames the decoder made of the packets (`nb_read_frames`).
    pub video_frames_decoded: u64,
    /// Audio frames the decoder made of the packets (`nb_read_frames`).
    pub audio_frames_decoded: u64,
}

impl Probe {
    /// Seconds from the first video packet's pts to the last's (0 with fewer than two).
    pub fn duration(&self) -> f64 {
        match (self.video.first(), self.video.last()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        }
    }

    /// Video frame rate: packets per second over [`Probe::duration`].
    pub fn fps(&self) -> f64 {
        (self.video.len().saturating_sub(1)) as f64 / self.duration().max(1e-9)
    }

    /// The pts of each video keyframe, seconds.
    pub fn keyframe_times(&self) -> Vec<f64> {
        self.video.iter().filter(|p| p.1).map(|p| p.0).collect()
    }

    /// Seconds between consecutive video keyframes.
    pub fn keyframe_intervals(&self) -> Vec<f64> {
        self.keyframe_times()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect()
    }

    /// Video bitrate, kbit/s: the bytes of every packet after the first over [`Probe::duration`].
    pub fn video_kbps(&self) -> f64 {
        let bytes: u64 = self.video.iter().skip(1).map(|p| p.2).sum();
        bytes as f64 * 8.0 / 1000.0 / self.duration().max(1e-9)
    }

    /// Every figure on one line (printed by [`probe`], quoted by assertions).
    pub fn report(&self) -> String {
        format!(
            "video {} ({}) {}x{} {:.2} fps over {:.1} s, {} packets ({} decoded), {:.0} kbit/s, keyframe intervals {:?}; audio {} ({}) {} Hz {} ch, {} packets ({} decoded)",
            self.video_codec,
            self.video_profile,
            self.width,
            self.height,
            self.fps(),
            self.duration(),
            self.video.len(),
            self.video_frames_decoded,
            self.video_kbps(),
            self.keyframe_intervals()
                .iter()
                .map(|i| (i * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            self.audio_codec,
            self.audio_profile,
            self.sample_rate,
            self.channels,
            self.audio_packets,
            self.audio_frames_decoded
        )
    }

    /// Frames kept coming over a probe of `seconds`: the span of video
    /// timestamps (less the wait for a first keyframe and ffprobe's start)
    /// and a frame rate a player can use. Strict figures are for the tests
    /// to check; this is for "still flowing after X".
    pub fn assert_flowing(&self, seconds: u32) {
        assert!(
            self.duration() >= f64::from(seconds) - 2.5 && self.fps() >= 20.0,
            "frames did not keep coming: {}",
            self.report()
        );
    }
}

/// [`ffprobe`] of a whole file (a recording), on a blocking thread; prints the report.
pub async fn probe_file(path: &std::path::Path) -> Probe {
    const WHOLE: u32 = 24 * 3600;
    let url = path.to_string_lossy().into_owned();
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, WHOLE))
        .await
        .unwrap();
    println!("ffprobe {}: {}", path.display(), probe.report());
    probe
}

/// [`ffprobe`] on a blocking thread; prints the report.
pub async fn probe(url: String, seconds: u32) -> Probe {
    let probe = tokio::task::spawn_blocking(move || ffprobe(&url, seconds))
        .await
        .unwrap();
    println!("ffprobe: {}", probe.report());
    probe
}

/// Plays `url` for `seconds` of stream time and describes what came.
pub fn ffprobe(url: &str, seconds: u32) -> Probe {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Output to a file: a pipe would fill up and block ffprobe.
    let out_path = std::env::temp_dir().join(format!(
        "podium-testkit-ffprobe-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut command = Command::new("ffprobe");
    command
        .args(args(url, seconds))
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(Stdio::piped());
    crate::dies_with_us(&mut command);
    let mut child = command.spawn().expect("ffprobe (apt install ffmpeg)");
    let deadline = Instant::now()
        + Duration::from_secs(u64::from(seconds) + invocation().timeout_slack_seconds);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&out_path);
            panic!("ffprobe did not finish");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = std::fs::read(&out_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    assert!(
        output.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&serde_json::from_slice(&stdout).expect("ffprobe json"))
}

/// ffprobe's JSON (`-show_streams -show_packets -count_frames`) as a
/// [`Probe`].
pub fn parse(json: &Value) -> Probe {
    let mut probe = Probe::default();
    let mut video_index = None;
    let mut audio_index = None;
    for stream in json["streams"].as_array().into_iter().flatten() {
        let text = |k: &str| stream[k].as_str().unwrap_or_default().to_owned();
        let decoded = text("nb_read_frames").parse().unwrap_or(0);
        match stream["codec_type"].as_str() {
            Some("video") => {
                video_index = stream["index"].as_u64();
                probe.video_codec = text("codec_name");
                probe.video_profile = text("profile");
                probe.width = stream["width"].as_u64().unwrap_or(0);
                probe.height = stream["height"].as_u64().unwrap_or(0);
                probe.video_frames_decoded = decoded;
            }
            Some("audio") => {
                audio_index = stream["index"].as_u64();
                probe.audio_codec = text("codec_name");
                probe.audio_profile = text("profile");
                probe.sample_rate = text("sample_rate").parse().unwrap_or(0);
                probe.channels = stream["channels"].as_u64().unwrap_or(0);
                probe.audio_frames_decoded = decoded;
            }
            _ => {}
        }
    }
    for packet in json["packets"].as_array().into_iter().flatten() {
        let index = packet["stream_index"].as_u64();
        if index.is_some() && index == video_index {
            let pts = packet["pts_time"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            let key = packet["flags"]
                .as_str()
                .unwrap_or_default()
                .starts_with('K');
            let size = packet["size"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            probe.video.push((pts, key, size));
        } else if index.is_some() && index == audio_index {
            probe.audio_packets += 1;
            if let Some(pts) = packet["pts_time"].as_str().and_then(|s| s.parse().ok()) {
                let (first, _) = probe.audio_span.unwrap_or((pts, pts));
                probe.audio_span = Some((first, pts));
            }
        }
    }
    probe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_invocation_reads_packets_for_the_asked_time() {
        let args = args("rtmp://127.0.0.1:1/live/k", 7);
        assert_eq!(args.last().unwrap(), "rtmp://127.0.0.1:1/live/k");
        assert!(args.windows(2).any(|w| w == ["-read_intervals", "%+7"]));
        assert!(args.iter().any(|a| a == "-show_packets"));
        assert!(args.iter().any(|a| a == "-count_frames"));
        assert_eq!(invocation().timeout_slack_seconds, 30);
    }

    #[test]
    fn packets_make_the_figures() {
        let json = serde_json::json!({
            "streams": [
                { "index": 0, "codec_type": "video", "codec_name": "h264", "profile": "Main", "width": 1280, "height": 720, "nb_read_frames": "3" },
                { "index": 1, "codec_type": "audio", "codec_name": "aac", "profile": "LC", "sample_rate": "48000", "channels": 2 }
            ],
            "packets": [
                { "stream_index": 0, "pts_time": "0.000", "flags": "K_", "size": "1000" },
                { "stream_index": 1, "pts_time": "0.010", "flags": "K_", "size": "300" },
                { "stream_index": 0, "pts_time": "1.000", "flags": "__", "size": "500" },
                { "stream_index": 0, "pts_time": "2.000", "flags": "K_", "size": "1500" }
            ]
        });
        let probe = parse(&json);
        assert_eq!(
            (probe.width, probe.height, probe.sample_rate),
            (1280, 720, 48000)
        );
        assert_eq!(probe.duration(), 2.0);
        assert_eq!(probe.fps(), 1.0);
        assert_eq!(probe.keyframe_intervals(), [2.0]);
        assert_eq!(probe.video_kbps(), 8.0);
        assert_eq!(probe.audio_packets, 1);
        assert_eq!(
            (probe.video_frames_decoded, probe.audio_frames_decoded),
            (3, 0)
        );
    }
}
