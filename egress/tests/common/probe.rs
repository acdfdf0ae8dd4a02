//! ffprobe against the local ingest: codecs, size, frame rate, keyframe
//! spacing and bitrate of what an RTMP player receives.

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Default)]
pub struct Probe {
    pub video_codec: String,
    pub video_profile: String,
    pub width: u64,
    pub height: u64,
    pub audio_codec: String,
    pub audio_profile: String,
    pub sample_rate: u64,
    pub channels: u64,
    /// (pts seconds, keyframe, bytes) of each video packet.
    pub video: Vec<(f64, bool, u64)>,
    pub audio_packets: usize,
}

impl Probe {
    pub fn duration(&self) -> f64 {
        match (self.video.first(), self.video.last()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0.0,
        }
    }

    pub fn fps(&self) -> f64 {
        (self.video.len().saturating_sub(1)) as f64 / self.duration().max(1e-9)
    }

    pub fn keyframe_times(&self) -> Vec<f64> {
        self.video.iter().filter(|p| p.1).map(|p| p.0).collect()
    }

    pub fn keyframe_intervals(&self) -> Vec<f64> {
        self.keyframe_times()
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect()
    }

    pub fn video_kbps(&self) -> f64 {
        let bytes: u64 = self.video.iter().skip(1).map(|p| p.2).sum();
        bytes as f64 * 8.0 / 1000.0 / self.duration().max(1e-9)
    }

    pub fn report(&self) -> String {
        format!(
            "video {} ({}) {}x{} {:.2} fps over {:.1} s, {} packets, {:.0} kbit/s, keyframe intervals {:?}; audio {} ({}) {} Hz {} ch, {} packets",
            self.video_codec,
            self.video_profile,
            self.width,
            self.height,
            self.fps(),
            self.duration(),
            self.video.len(),
            self.video_kbps(),
            self.keyframe_intervals()
                .iter()
                .map(|i| (i * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            self.audio_codec,
            self.audio_profile,
            self.sample_rate,
            self.channels,
            self.audio_packets
        )
    }
}

/// Plays `url` for `seconds` of stream time and describes what came.
pub fn ffprobe(url: &str, seconds: u32) -> Probe {
    // Output to a file: a pipe would fill up and block ffprobe.
    let out_path = std::env::temp_dir().join(format!(
        "podium-egress-ffprobe-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut command = Command::new("ffprobe");
    command
        .args(["-v", "error", "-rw_timeout", "15000000"])
        .args(["-read_intervals", &format!("%+{seconds}")])
        .args(["-show_streams", "-show_packets", "-of", "json"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(Stdio::piped());
    // SAFETY: see ingest.rs; ffprobe must not outlive the test.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("ffprobe (apt install ffmpeg)");
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds) + 30);
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
    let json: Value = serde_json::from_slice(&stdout).expect("ffprobe json");
    let mut probe = Probe::default();
    let mut video_index = None;
    let mut audio_index = None;
    for stream in json["streams"].as_array().into_iter().flatten() {
        let text = |k: &str| stream[k].as_str().unwrap_or_default().to_owned();
        match stream["codec_type"].as_str() {
            Some("video") => {
                video_index = stream["index"].as_u64();
                probe.video_codec = text("codec_name");
                probe.video_profile = text("profile");
                probe.width = stream["width"].as_u64().unwrap_or(0);
                probe.height = stream["height"].as_u64().unwrap_or(0);
            }
            Some("audio") => {
                audio_index = stream["index"].as_u64();
                probe.audio_codec = text("codec_name");
                probe.audio_profile = text("profile");
                probe.sample_rate = text("sample_rate").parse().unwrap_or(0);
                probe.channels = stream["channels"].as_u64().unwrap_or(0);
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
        }
    }
    probe
}
