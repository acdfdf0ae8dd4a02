//! A composed recording: the camera (a red picture) alone, then the screen
//! (blue) shared with the camera in a corner, then the camera alone again,
//! all in one file with no gap in its timeline; frames read back with ffmpeg
//! show each picture where the layout puts it.

use crate::support;
use podium_egress::{
    Compose, ComposeInputs, Egress, EgressSpec, EgressState, FileState, Layout, StopReason,
};
use podium_testkit::ffprobe;
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::path::Path;
use std::time::{Duration, Instant};

const WIDTH: usize = 1280;
const HEIGHT: usize = 720;

/// The frame at `seconds` into the file, as RGB.
fn frame_at(path: &Path, seconds: f64) -> Vec<u8> {
    first_frame(&[
        "-ss",
        &format!("{seconds:.3}"),
        "-i",
        path.to_str().unwrap(),
    ])
}

/// The first frame ffmpeg decodes from `input` (its arguments), as RGB.
fn first_frame(input: &[&str]) -> Vec<u8> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(input)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg (apt install ffmpeg)");
    assert!(
        output.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        output.stdout.len(),
        WIDTH * HEIGHT * 3,
        "one 1280x720 frame"
    );
    output.stdout
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Colour {
    Red,
    Blue,
    Black,
    Other,
}

fn colour(frame: &[u8], x: usize, y: usize) -> Colour {
    let at = (y * WIDTH + x) * 3;
    let (r, g, b) = (frame[at], frame[at + 1], frame[at + 2]);
    match (r, g, b) {
        (150.., ..=90, ..=90) => Colour::Red,
        (..=90, ..=90, 150..) => Colour::Blue,
        (..=40, ..=40, ..=40) => Colour::Black,
        _ => Colour::Other,
    }
}

/// (centre of the frame, centre of the camera's corner).
fn picture(path: &Path, seconds: f64) -> (Colour, Colour) {
    corners(&frame_at(path, seconds))
}

/// (centre of the frame, centre of the camera's corner) of `frame`.
fn corners(frame: &[u8]) -> (Colour, Colour) {
    let corner = (
        WIDTH - WIDTH / 40 - WIDTH / 8,
        HEIGHT - WIDTH / 40 - HEIGHT / 8,
    );
    (
        colour(frame, WIDTH / 2, HEIGHT / 2),
        colour(frame, corner.0, corner.1),
    )
}

/// (centre of the left half, centre of the right half).
fn halves(path: &Path, seconds: f64) -> (Colour, Colour) {
    let frame = frame_at(path, seconds);
    (
        colour(&frame, WIDTH / 4, HEIGHT / 2),
        colour(&frame, 3 * WIDTH / 4, HEIGHT / 2),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn camera_then_screen_with_camera_then_side_by_side_in_one_file_and_one_stream() {
    let media = Media::start().await;
    let ingest = Nginx::started(false);
    let key = support::stream_key();
    let camera = Sender::start_pattern(
        &media.router,
        VideoIn::Vp8 {
            width: 640,
            height: 360,
        },
        "red",
    )
    .await;
    let screen = Sender::start_pattern(
        &media.router,
        VideoIn::Vp8 {
            width: 1280,
            height: 720,
        },
        "blue",
    )
    .await;
    let dir =
        std::env::temp_dir().join(format!("podium-compose-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("class.mp4");
    let camera_only = ComposeInputs {
        camera: Some(camera.video_id()),
        screen: None,
        audio: vec![camera.audio_id()],
    };
    let mut spec = EgressSpec::record_composed(
        "room-compose",
        Compose {
            layout: Layout::Auto,
            inputs: camera_only.clone(),
        },
        &path,
    );
    spec.destinations
        .push(support::destination(&ingest.rtmp_url(), &key));
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    support::wait_for(
        &egress,
        Duration::from_secs(10),
        "recording and live",
        |s| s.state == EgressState::Live && support::destination_live(s, 0),
    )
    .await;
    let started = Instant::now();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let shared_at = started.elapsed().as_secs_f64();
    egress
        .set_inputs(ComposeInputs {
            screen: Some(screen.video_id()),
            ..camera_only.clone()
        })
        .await
        .unwrap();
    // What a viewer of the stream sees now (from its next keyframe).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let url = format!("{}/{key}", ingest.rtmp_url());
    let live =
        tokio::task::spawn_blocking(move || first_frame(&["-rw_timeout", "5000000", "-i", &url]));
    let live = tokio::time::timeout(Duration::from_secs(8), live)
        .await
        .expect("a frame from the ingest")
        .unwrap();
    let streamed = corners(&live);
    assert_eq!(
        streamed,
        (Colour::Blue, Colour::Red),
        "the stream shows the screen with the camera in the corner"
    );
    let elapsed = started.elapsed().as_secs_f64() - shared_at;
    tokio::time::sleep(Duration::from_secs_f64((4.0 - elapsed).max(1.5))).await;
    let sided_at = started.elapsed().as_secs_f64();
    egress.set_layout(Layout::SideBySide).await.unwrap();
    assert_eq!(egress.status().layout, Some(Layout::SideBySide));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unshared_at = started.elapsed().as_secs_f64();
    egress.set_inputs(camera_only).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let destination = &egress.status().destinations[0];
    assert_eq!(
        destination.stats.reconnects, 0,
        "one RTMP connection for every switch: {destination:?}"
    );
    egress.stop().await;
    let status = egress.status();
    assert_eq!(
        status.state,
        EgressState::Stopped {
            reason: StopReason::Requested
        }
    );
    assert_eq!(status.file.unwrap().state, FileState::Finished);

    let probe = ffprobe::probe_file(&path).await;
    assert_eq!(probe.video_codec, "h264");
    assert_eq!(probe.audio_codec, "aac");
    assert_eq!((probe.width, probe.height), (1280, 720));
    assert!(probe.duration() >= 11.0, "{}", probe.report());
    // One timeline: no frame more than 100 ms after the one before.
    let gap = probe
        .video
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(0.0, f64::max);
    assert!(gap <= 0.1, "a {gap:.3} s gap in the video timeline");
    let first = probe.video.first().unwrap().0;
    println!(
        "largest gap {gap:.3} s; switched at {shared_at:.2} s, {sided_at:.2} s and {unshared_at:.2} s"
    );

    // What each stretch shows (a second into it, to be past the switch).
    let camera_alone = picture(&path, first + 1.5);
    assert_eq!(
        camera_alone.0,
        Colour::Red,
        "camera full frame: {camera_alone:?}"
    );
    let both = picture(&path, first + shared_at + 1.5);
    assert_eq!(
        both,
        (Colour::Blue, Colour::Red),
        "screen full frame, camera in the corner"
    );
    let side_by_side = halves(&path, first + sided_at + 1.5);
    assert_eq!(
        side_by_side,
        (Colour::Blue, Colour::Red),
        "screen on the left, camera on the right"
    );
    println!(
        "camera alone {camera_alone:?}, both {both:?} (streamed {streamed:?}), side by side {side_by_side:?}"
    );
    let camera_again = picture(&path, first + unshared_at + 1.5);
    assert_eq!(
        camera_again.0,
        Colour::Red,
        "camera full frame again: {camera_again:?}"
    );
    assert_eq!(camera_again.1, Colour::Red);
    std::fs::remove_dir_all(&dir).unwrap();
}
