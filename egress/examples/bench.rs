//! Egress benchmark (not a test): for passthrough and re-encode, restreams
//! and recordings, prints the time from the start request to the first RTMP
//! bytes on the wire and to "live", the CPU the egress costs, and memory;
//! then the process's memory over repeated start/live/stop cycles.
//!
//! `cargo run -p podium-egress --example bench [--release]`
//! `cargo run -p podium-egress --example bench --release -- --cycles 50`: the memory loop alone
//!
//! Needs nginx + libnginx-mod-rtmp (scripts/setup --test). The RTP sender
//! runs in a child process (this binary with `--sender`) so that the CPU
//! measured here is the egress's (plus mediasoup forwarding to it; the
//! baseline without an egress is measured and subtracted).

#[path = "../tests/e2e/support.rs"]
#[allow(dead_code)] // the tests' helpers: the benchmark needs some of them
mod support;

use podium_egress::{
    Compose, ComposeInputs, Egress, EgressInput, EgressSpec, Layout, Preset, VideoMode, VideoPath,
};
use podium_testkit::ingest::Nginx;
use podium_testkit::media::Media;
use podium_testkit::sender::{Sender, VideoIn};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const MEASURE: Duration = Duration::from_secs(20);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--sender") {
        return run_sender(&args[2..]);
    }
    // As the server does (see podium_egress::limit_malloc_arenas);
    // PODIUM_BENCH_GLIBC_ARENAS=1 keeps glibc's defaults, for comparison.
    if std::env::var_os("PODIUM_BENCH_GLIBC_ARENAS").is_none() {
        podium_egress::limit_malloc_arenas();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).map(String::as_str) == Some("--cycles") {
        let cycles = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(50);
        return runtime.block_on(async {
            tracing_subscriber::fmt().with_env_filter("warn").init();
            let media = Media::start().await;
            let nginx = Nginx::started(false);
            memory_cycles(&media, &nginx, cycles).await;
            if std::env::var_os("GST_TRACERS").is_some() {
                // With GST_TRACERS=leaks: lists the GStreamer objects still alive.
                // SAFETY: no GStreamer object is used after this (the sender is
                // a child process; every egress has stopped).
                unsafe { gstreamer::deinit() };
            }
        });
    }
    runtime.block_on(bench());
}

struct Case {
    name: &'static str,
    video: VideoIn,
    mode: VideoMode,
    expect: VideoPath,
    /// RTMP destinations (the first through the first-bytes proxy).
    rtmp: usize,
    /// Record to a file too.
    file: bool,
    /// Compose `video` (the camera) with a second sender's 720p VP8 (the screen).
    composed: bool,
}

async fn bench() {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let media = Media::start().await;
    let nginx = Nginx::started(false);
    let proxy = FirstByteProxy::start(nginx.rtmp_port).await;
    let cases = [
        Case {
            name: "passthrough (H.264 720p30 in)",
            video: VideoIn::H264 {
                width: 1280,
                height: 720,
                gop: 60,
            },
            mode: VideoMode::Auto,
            expect: VideoPath::Passthrough,
            rtmp: 1,
            file: false,
            composed: false,
        },
        Case {
            name: "re-encode (VP8 640x360 in -> 720p30 x264)",
            video: VideoIn::Vp8 {
                width: 640,
                height: 360,
            },
            mode: VideoMode::Auto,
            expect: VideoPath::Reencode,
            rtmp: 1,
            file: false,
            composed: false,
        },
        Case {
            name: "re-encode (H.264 720p30 in -> 720p30 x264)",
            video: VideoIn::H264 {
                width: 1280,
                height: 720,
                gop: 60,
            },
            mode: VideoMode::Reencode,
            expect: VideoPath::Reencode,
            rtmp: 1,
            file: false,
            composed: false,
        },
        Case {
            name: "record, passthrough (H.264 720p30 in)",
            video: VideoIn::H264 {
                width: 1280,
                height: 720,
                gop: 60,
            },
            mode: VideoMode::Auto,
            expect: VideoPath::Passthrough,
            rtmp: 0,
            file: true,
            composed: false,
        },
        Case {
            name: "record (VP8 640x360 in -> 720p30 x264)",
            video: VideoIn::Vp8 {
                width: 640,
                height: 360,
            },
            mode: VideoMode::Auto,
            expect: VideoPath::Reencode,
            rtmp: 0,
            file: true,
            composed: false,
        },
        Case {
            name: "record + 2 RTMP, one x264 (VP8 in)",
            video: VideoIn::Vp8 {
                width: 640,
                height: 360,
            },
            mode: VideoMode::Auto,
            expect: VideoPath::Reencode,
            rtmp: 2,
            file: true,
            composed: false,
        },
        Case {
            name: "record, composed camera + screen (2 VP8 in)",
            video: VideoIn::Vp8 {
                width: 640,
                height: 360,
            },
            mode: VideoMode::Reencode,
            expect: VideoPath::Reencode,
            rtmp: 0,
            file: true,
            composed: true,
        },
        Case {
            name: "record + 2 RTMP, composed, one x264",
            video: VideoIn::Vp8 {
                width: 640,
                height: 360,
            },
            mode: VideoMode::Reencode,
            expect: VideoPath::Reencode,
            rtmp: 2,
            file: true,
            composed: true,
        },
    ];
    let files = std::env::temp_dir().join(format!("podium-bench-{}", std::process::id()));
    std::fs::create_dir_all(&files).unwrap();
    println!(
        "egress benchmark: {} cores, load average {}",
        num_cpus(),
        load_average()
    );
    let mut rows = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let (sender, video_port, audio_port) =
            Sender::producers_only(&media.router, case.video).await;
        let mut child = spawn_sender(case.video, video_port, audio_port);
        // The screen of a composed case: 720p VP8 from a second child.
        let screen_video = VideoIn::Vp8 {
            width: 1280,
            height: 720,
        };
        let screen = if case.composed {
            let (screen, video_port, audio_port) =
                Sender::producers_only(&media.router, screen_video).await;
            Some((screen, spawn_sender(screen_video, video_port, audio_port)))
        } else {
            None
        };
        tokio::time::sleep(Duration::from_secs(3)).await;
        let baseline = cpu_percent(Duration::from_secs(10)).await;
        let rss_before = rss_kib();

        let destinations = (0..case.rtmp)
            .map(|n| {
                let key = format!("bench{i}-{n}");
                if n == 0 {
                    support::destination(&format!("rtmp://127.0.0.1:{}/live", proxy.port), &key)
                } else {
                    support::destination(&nginx.rtmp_url(), &key)
                }
            })
            .collect();
        let mut spec = EgressSpec::new(
            "bench",
            sender.video_id(),
            Some(sender.audio_id()),
            destinations,
        );
        if case.file {
            spec.file = Some(files.join(format!("bench{i}.mp4")));
        }
        if let Some((screen, _)) = &screen {
            spec.input = EgressInput::Composed(Compose {
                layout: Layout::Auto,
                inputs: ComposeInputs {
                    camera: Some(sender.video_id()),
                    screen: Some(screen.video_id()),
                    audio: vec![sender.audio_id()],
                },
            });
        }
        spec.preset = Preset::Twitch;
        spec.video_mode = case.mode;
        let first_bytes = proxy.arm();
        let t0 = Instant::now();
        let egress = Egress::start(&media.router, spec, support::config())
            .await
            .unwrap();
        let started = t0.elapsed();
        let bytes_at = if case.rtmp > 0 {
            format!(
                "{:>6.0} ms",
                wait_first_bytes(first_bytes)
                    .await
                    .duration_since(t0)
                    .as_secs_f64()
                    * 1000.0
            )
        } else {
            "     - ms".to_owned()
        };
        let status =
            support::wait_for(&egress, Duration::from_secs(20), "live", support::is_live).await;
        let live = t0.elapsed();
        assert_eq!(status.input.unwrap().video_path, case.expect);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu = cpu_percent(MEASURE).await;
        let rss_after = rss_kib();
        let status = egress.status();
        let factories = egress.element_factories().await.unwrap_or_default();
        let encoders = factories.iter().filter(|f| *f == "x264enc").count();
        egress.stop().await;
        let _ = child.kill();
        let _ = child.wait();
        drop(sender);
        if let Some((screen, mut child)) = screen {
            let _ = child.kill();
            let _ = child.wait();
            drop(screen);
        }
        rows.push(format!(
            "{:<44} start() {:>6.0} ms | first RTMP bytes {bytes_at} | live {:>6.0} ms | CPU {:>5.1} % of a core (process {:.1} %, baseline {:.1} %) | RSS +{:>6} KiB (now {} KiB) | out {:.1} fps {} kbit/s | {encoders} x264",
            case.name,
            started.as_secs_f64() * 1000.0,
            live.as_secs_f64() * 1000.0,
            cpu - baseline,
            cpu,
            baseline,
            rss_after.saturating_sub(rss_before),
            rss_after,
            status.stats.fps,
            status.stats.bitrate_bps / 1000,
        ));
        println!("{}", rows.last().unwrap());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = std::fs::remove_dir_all(&files);
    // Memory over repeated start/stop: it should level off, not climb
    // (`--cycles 50` for the long run).
    memory_cycles(&media, &nginx, 6).await;

    println!(
        "\nsummary (CPU measured over {} s, less the no-egress baseline):",
        MEASURE.as_secs()
    );
    for row in rows {
        println!("  {row}");
    }
    println!("peak RSS of the process: {} KiB", hwm_kib());
}

/// Starts, runs (3 s live) and stops an egress `cycles` times; prints the
/// process RSS after each (after `malloc_trim`) and the growth per cycle
/// over the last 30 (least squares), which should be near zero.
async fn memory_cycles(media: &Media, nginx: &Nginx, cycles: usize) {
    let video = VideoIn::Vp8 {
        width: 640,
        height: 360,
    };
    let (sender, video_port, audio_port) = Sender::producers_only(&media.router, video).await;
    let mut child = spawn_sender(video, video_port, audio_port);
    let threads = status_field("Threads:");
    let mut after_trim = Vec::new();
    for i in 0..cycles {
        let spec = EgressSpec::new(
            "bench",
            sender.video_id(),
            Some(sender.audio_id()),
            vec![support::destination(
                &nginx.rtmp_url(),
                &format!("cycle{i}"),
            )],
        );
        let egress = Egress::start(&media.router, spec, support::config())
            .await
            .unwrap();
        support::wait_for(&egress, Duration::from_secs(20), "live", support::is_live).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        egress.stop().await;
        drop(egress);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The pipeline's threads end (and give their stacks back) shortly after.
        for _ in 0..20 {
            if status_field("Threads:") <= threads {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // SAFETY: malloc_trim only returns free heap memory to the OS.
        unsafe {
            libc::malloc_trim(0);
        }
        let rss = rss_kib();
        println!(
            "cycle {:>3}: RSS {rss} KiB, {} threads",
            i + 1,
            status_field("Threads:")
        );
        after_trim.push(rss);
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(sender);
    let tail = &after_trim[after_trim.len().saturating_sub(30)..];
    let (earlier, later) = tail.split_at(tail.len() / 2);
    println!(
        "RSS after malloc_trim over {cycles} start/live/stop cycles: first {} KiB, last {} KiB, \
         highest {} KiB; growth per cycle over the last {}: {:.1} KiB (median of the later half \
         less the earlier half's), {:.1} KiB (least squares)",
        after_trim.first().copied().unwrap_or(0),
        after_trim.last().copied().unwrap_or(0),
        after_trim.iter().max().copied().unwrap_or(0),
        tail.len(),
        (median(later) - median(earlier)) / later.len().max(1) as f64,
        slope(tail)
    );
}

fn median(values: &[u64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    }
}

/// Least-squares slope of `values` against their index.
fn slope(values: &[u64]) -> f64 {
    let n = values.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<u64>() as f64 / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, v) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (*v as f64 - mean_y);
        den += dx * dx;
    }
    num / den
}

/// The child: runs the RTP sender until killed.
fn run_sender(args: &[String]) {
    let video = match args[0].as_str() {
        "vp8" => VideoIn::Vp8 {
            width: args[3].parse().unwrap(),
            height: args[4].parse().unwrap(),
        },
        _ => VideoIn::H264 {
            width: args[3].parse().unwrap(),
            height: args[4].parse().unwrap(),
            gop: args[5].parse().unwrap(),
        },
    };
    let pipeline =
        podium_testkit::sender::pipeline(video, args[1].parse().unwrap(), args[2].parse().unwrap());
    gstreamer::prelude::ElementExt::set_state(&pipeline, gstreamer::State::Playing).unwrap();
    loop {
        std::thread::park();
    }
}

fn spawn_sender(video: VideoIn, video_port: u16, audio_port: u16) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--sender");
    match video {
        VideoIn::Vp8 { width, height } | VideoIn::Vp8Simulcast { width, height } => {
            command.args([
                "vp8",
                &video_port.to_string(),
                &audio_port.to_string(),
                &width.to_string(),
                &height.to_string(),
            ]);
        }
        VideoIn::H264 { width, height, gop } => {
            command.args([
                "h264",
                &video_port.to_string(),
                &audio_port.to_string(),
                &width.to_string(),
                &height.to_string(),
                &gop.to_string(),
            ]);
        }
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the sender dies with us.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().expect("sender child")
}

/// CPU time of this process over `window`, as a percentage of one core.
async fn cpu_percent(window: Duration) -> f64 {
    let before = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    (cpu_seconds() - before) / t0.elapsed().as_secs_f64() * 100.0
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_field("VmRSS:")
}

fn hwm_kib() -> u64 {
    status_field("VmHWM:")
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TCP proxy in front of the ingest that notes when the first byte from
/// the egress arrives (the RTMP handshake's C0/C1).
struct FirstByteProxy {
    port: u16,
    armed: Arc<parking_lot::Mutex<Option<watch::Sender<Option<Instant>>>>>,
}

impl FirstByteProxy {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed: Arc<parking_lot::Mutex<Option<watch::Sender<Option<Instant>>>>> = Arc::default();
        let slot = Arc::clone(&armed);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let notify = slot.lock().take();
                tokio::spawn(relay(client, upstream, notify));
            }
        });
        Self { port, armed }
    }

    /// The next connection reports its first byte on the returned channel.
    fn arm(&self) -> watch::Receiver<Option<Instant>> {
        let (tx, rx) = watch::channel(None);
        *self.armed.lock() = Some(tx);
        rx
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: u16,
    notify: Option<watch::Sender<Option<Instant>>>,
) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let mut first = [0u8; 4096];
    let Ok(n) = client.read(&mut first).await else {
        return;
    };
    if let Some(notify) = notify {
        let _ = notify.send(Some(Instant::now()));
    }
    if n == 0 || server.write_all(&first[..n]).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

async fn wait_first_bytes(mut rx: watch::Receiver<Option<Instant>>) -> Instant {
    loop {
        if let Some(at) = *rx.borrow_and_update() {
            return at;
        }
        rx.changed().await.expect("no connection to the ingest");
    }
}
