//! The file output (a recording), judged by ffprobe: H.264 + AAC in MP4 with
//! the wall time's duration, tracks that start together and 2 s keyframes;
//! a recorder killed with SIGKILL leaves a file that plays to within 2 s of
//! the kill; one encode feeds a file and two RTMP ingests; a full disk ends
//! the recording and keeps what was written.

use crate::support;
use podium_egress::{
    Egress, EgressError, EgressSpec, EgressState, EgressStatus, FileState, StopReason,
};
use podium_testkit::ffprobe::{self, Probe};
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VIDEO: VideoIn = VideoIn::Vp8 {
    width: 640,
    height: 360,
};

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "podium-recording-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_writing(status: &EgressStatus) -> bool {
    status
        .file
        .as_ref()
        .is_some_and(|f| f.state == FileState::Writing && f.duration_secs > 0.0)
}

/// What every recording must be: H.264 + AAC whose tracks start within
/// 100 ms of each other, every frame decodable, keyframes every 2 s.
fn assert_recording(probe: &Probe) {
    assert_eq!(probe.video_codec, "h264", "{}", probe.report());
    assert_eq!(probe.audio_codec, "aac", "{}", probe.report());
    assert_eq!((probe.width, probe.height), (1280, 720));
    assert!(probe.fps() > 25.0, "{}", probe.report());
    assert_eq!(
        probe.video_frames_decoded,
        probe.video.len() as u64,
        "every video frame decodes"
    );
    let first_video = probe.video.first().unwrap().0;
    let (first_audio, last_audio) = probe.audio_span.expect("audio packets");
    assert!(
        (first_video - first_audio).abs() <= 0.1,
        "tracks start {first_video:.3} s (video) and {first_audio:.3} s (audio)"
    );
    assert!(
        (last_audio - first_audio) >= probe.duration() - 0.5,
        "audio covers the video: {first_audio:.3}..{last_audio:.3} s for {:.3} s of video",
        probe.duration()
    );
    let intervals = probe.keyframe_intervals();
    assert!(!intervals.is_empty(), "{}", probe.report());
    for interval in intervals {
        assert!(
            (interval - 2.0).abs() < 0.1,
            "keyframe interval {interval}: {}",
            probe.report()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn a_recording_is_an_mp4_of_the_wall_time() {
    let media = Media::start().await;
    let sender = Sender::start(&media.router, VIDEO).await;
    let dir = scratch_dir("wall");
    let path = dir.join("class.mp4");
    let spec = EgressSpec::record(
        "room-rec",
        sender.video_id(),
        Some(sender.audio_id()),
        &path,
    );
    let egress = Egress::start(&media.router, spec.clone(), support::config())
        .await
        .unwrap();
    let status = support::wait_for(&egress, Duration::from_secs(10), "recording", |s| {
        file_writing(s) && s.state == EgressState::Live
    })
    .await;
    let started = Instant::now() - Duration::from_secs_f64(status.file.unwrap().duration_secs);

    // Nothing is overwritten: a second recording to the same file is refused.
    match Egress::start(&media.router, spec, support::config()).await {
        Err(EgressError::File { path: refused, .. }) => assert_eq!(refused, path),
        other => panic!("a second recording to the same file: {other:?}"),
    }

    tokio::time::sleep(Duration::from_secs(15).saturating_sub(started.elapsed())).await;
    egress.stop().await;
    let wall = started.elapsed().as_secs_f64();
    let status = egress.status();
    assert_eq!(
        status.state,
        EgressState::Stopped {
            reason: StopReason::Requested
        }
    );
    let file = status.file.expect("file status");
    assert_eq!(file.state, FileState::Finished);
    assert_eq!(file.bytes, std::fs::metadata(&path).unwrap().len());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the file is the owner's only: {mode:o}");
    }

    let probe = ffprobe::probe_file(&path).await;
    assert_recording(&probe);
    assert!(
        (probe.duration() - wall).abs() <= 1.0,
        "{:.2} s recorded for {wall:.2} s of wall time",
        probe.duration()
    );
    assert!((file.duration_secs - probe.duration()).abs() <= 0.5);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs as the recorder when this variable names a file, else as the test.
const CHILD_FILE: &str = "PODIUM_RECORDER_CHILD_FILE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn a_killed_recorder_leaves_a_file_that_plays() {
    if let Some(path) = std::env::var_os(CHILD_FILE) {
        record_until_killed(Path::new(&path)).await;
    }
    let dir = scratch_dir("kill");
    let path = dir.join("class.mp4");
    // This same test, as the recorder, in a process of its own.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "recording::a_killed_recorder_leaves_a_file_that_plays",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_FILE, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The child prints "recording" once the first frame is in the file.
    let started = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("recording"))
    });
    let started_at = match tokio::time::timeout(Duration::from_secs(30), started).await {
        Ok(Ok(true)) => Instant::now(),
        other => {
            let _ = child.kill();
            panic!("the recorder did not start: {other:?}");
        }
    };
    tokio::time::sleep(Duration::from_secs(8)).await;
    child.kill().unwrap(); // SIGKILL
    let recorded_for = started_at.elapsed().as_secs_f64();
    let _ = child.wait();

    let probe = ffprobe::probe_file(&path).await;
    assert_recording(&probe);
    assert!(
        probe.duration() >= recorded_for - 2.0,
        "{:.2} s in the file, killed after {recorded_for:.2} s",
        probe.duration()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn record_until_killed(path: &Path) -> ! {
    let media = Media::start().await;
    let sender = Sender::start(&media.router, VIDEO).await;
    let spec = EgressSpec::record(
        "room-kill",
        sender.video_id(),
        Some(sender.audio_id()),
        path,
    );
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    support::wait_for(&egress, Duration::from_secs(10), "recording", file_writing).await;
    println!("recording {}", path.display());
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn one_encode_feeds_a_file_and_two_ingests() {
    let logs = support::logs();
    let media = Media::start().await;
    let nginx = Nginx::started(false);
    let sender = Sender::start(&media.router, VIDEO).await;
    let dir = scratch_dir("three");
    let path = dir.join("class.mp4");
    let (key_a, key_b) = (support::stream_key(), support::stream_key());
    let mut spec = EgressSpec::new(
        "room-three",
        sender.video_id(),
        Some(sender.audio_id()),
        vec![
            support::destination(&nginx.rtmp_url(), &key_a),
            support::destination(&nginx.rtmp_url(), &key_b),
        ],
    );
    spec.file = Some(path.clone());
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    support::wait_for(&egress, Duration::from_secs(15), "all live", |s| {
        support::destination_live(s, 0) && support::destination_live(s, 1) && file_writing(s)
    })
    .await;
    let writing_since = std::time::Instant::now();

    let factories = egress.element_factories().await.unwrap();
    let count = |name: &str| factories.iter().filter(|f| *f == name).count();
    assert_eq!(count("x264enc"), 1, "one video encoder: {factories:?}");
    assert_eq!(
        count("avenc_aac") + count("voaacenc"),
        1,
        "one audio encoder"
    );
    assert_eq!(count("mp4mux"), 1);
    assert_eq!(count("rtmp2sink"), 2);

    let (a, b) = tokio::join!(
        ffprobe::probe(format!("{}/{key_a}", nginx.rtmp_url()), 5),
        ffprobe::probe(format!("{}/{key_b}", nginx.rtmp_url()), 5),
    );
    a.assert_flowing(5);
    b.assert_flowing(5);
    let written = writing_since.elapsed().as_secs_f64();
    egress.stop().await;
    let probe = ffprobe::probe_file(&path).await;
    assert_recording(&probe);
    // The file holds at least the time it was seen writing (the ingests were probed meanwhile),
    // less one keyframe interval of slack for where its first fragment began.
    assert!(
        probe.duration() >= written - 1.0,
        "{written:.1} s of writing: {}",
        probe.report()
    );
    logs.assert_absent(&key_a);
    logs.assert_absent(&key_b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A tmpfs of 1 MiB, unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount() -> Self {
        let dir = scratch_dir("full");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "podium-test-full"])
            .arg(&dir)
            .status()
            .expect("mount (the disk-full test needs root)");
        assert!(status.success(), "mount a 1 MiB tmpfs (needs root)");
        Self { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a pipeline still closing may hold the file open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "end to end: egress/run-e2e.sh"]
async fn a_full_disk_ends_the_recording_and_keeps_what_was_written() {
    let media = Media::start().await;
    let sender = Sender::start(&media.router, VIDEO).await;

    // A directory that does not exist: refused at start, nothing created.
    let missing = std::env::temp_dir().join(format!("podium-missing-{}", uuid::Uuid::new_v4()));
    let spec = EgressSpec::record("room-full", sender.video_id(), None, missing.join("x.mp4"));
    match Egress::start(&media.router, spec, support::config()).await {
        Err(error @ EgressError::File { .. }) => {
            assert!(error.to_string().contains("No such file"), "{error}");
        }
        other => panic!("recording into a missing directory: {other:?}"),
    }
    assert!(!missing.exists());

    let disk = SmallDisk::mount();
    let path = disk.dir.join("class.mp4");
    let spec = EgressSpec::record(
        "room-full",
        sender.video_id(),
        Some(sender.audio_id()),
        &path,
    );
    let egress = Egress::start(&media.router, spec, support::config())
        .await
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(30), egress.wait())
        .await
        .expect("the recording ends when the disk is full");
    let status = egress.status();
    println!("{state:?}; file {:?}", status.file);
    match &state {
        EgressState::Failed { error } => {
            assert!(error.starts_with("recording failed: "), "{error}");
            assert!(error.contains("space"), "{error}");
        }
        other => panic!("expected failed, got {other:?}"),
    }
    let file = status.file.unwrap();
    assert!(
        matches!(&file.state, FileState::Failed { error } if error.contains("space")),
        "{file:?}"
    );
    assert!(file.bytes > 500_000, "{file:?}");
    // What was written is kept, and plays.
    let probe = ffprobe::probe_file(&path).await;
    assert_eq!(probe.video_codec, "h264");
    assert!(probe.duration() >= 1.0, "{}", probe.report());
    drop(disk);
}
