//! End to end against a real Janus (Debian package `janus`): the generated
//! configuration, the teacher's pre-encoded simulcast and Opus through the
//! publisher thread, three str0m students on a minimal receive loop. Each
//! must get audio and video for 5 s without loss; then one moves to layer
//! 0 and one to layer 2, and their video rates must order as the layers do
//! (which checks the rid order Janus was told).
//!
//! `cargo test -p podium-load janus::smoke -- --ignored --nocapture`
//!
//! Janus runs in a network namespace the test makes ([`super::netns`]; needs
//! root), the bots on the host's end of its veth pair; afterwards no
//! namespace, veth or `janus` process is left. Janus's log goes to
//! `target/loadtest-logs/janus-smoke.log`. Knobs: `JANUS_DEBUG_LEVEL` (0-7,
//! to read Janus's SDP and ICE), `JANUS_ICE_LITE=1` (Janus as an ICE-lite
//! server).

use super::api::Api;
use super::config::JanusConfig;
use super::netns::Netns;
use super::process::Janus;
use super::student::{self, Joined, StudentMedia};
use super::teacher::JanusTeacher;
use super::{sdp, videoroom};
use crate::engine::{Kind, certificate, udp};
use crate::media::MediaSet;
use crate::procfs;
use crate::stats::{Counters, StreamStats};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output, Rtc};

const STUDENTS: usize = 3;
const WINDOW: Duration = Duration::from_secs(5);
/// Inside Janus's own namespace: no other process there to collide with.
const RTP_PORTS: (u16, u16) = (30_000, 30_999);
const HTTP_PORT: u16 = 8088;

/// What one student received so far.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    connected_after: Option<Duration>,
    audio: Counters,
    video: Counters,
    /// RTX packets (repairs).
    rtx: u64,
    /// RTP on an SSRC the offer did not announce.
    unknown: u64,
    failed: bool,
}

/// A student's media side, as a shard would hold it.
struct Bot {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    remote: SocketAddr,
    kinds: HashMap<u32, (Kind, u32)>,
    rtx: Vec<u32>,
    stats: [StreamStats; 2],
    added: Instant,
    seen: Seen,
}

impl Bot {
    fn new(socket: UdpSocket, media: StudentMedia) -> Bot {
        let local = socket.local_addr().expect("a bound socket");
        Bot {
            kinds: media
                .streams
                .iter()
                .map(|s| (s.ssrc, (s.kind, s.clock_rate)))
                .collect(),
            rtx: media.streams.iter().filter_map(|s| s.rtx_ssrc).collect(),
            rtc: media.rtc,
            socket,
            local,
            remote: media.remote,
            stats: [StreamStats::default(), StreamStats::default()],
            added: Instant::now(),
            seen: Seen::default(),
        }
    }

    /// Feeds what arrived, then the clock; str0m's output is drained after
    /// each input (it keeps one received packet at a time).
    fn turn(&mut self, buf: &mut [u8], epoch: Instant) {
        while let Ok((n, from)) = self.socket.recv_from(buf) {
            if from != self.remote {
                continue;
            }
            if n >= 12 && buf[0] >> 6 == 2 && !(192..=223).contains(&buf[1]) {
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                if self.rtx.contains(&ssrc) {
                    self.seen.rtx += 1;
                }
            }
            let Ok(contents) = buf[..n].try_into() else {
                continue;
            };
            let input = Input::Receive(
                Instant::now(),
                Receive {
                    proto: Protocol::Udp,
                    source: from,
                    destination: self.local,
                    contents,
                },
            );
            if self.rtc.handle_input(input).is_ok() {
                self.drain(epoch);
            }
        }
        if self
            .rtc
            .handle_input(Input::Timeout(Instant::now()))
            .is_ok()
        {
            self.drain(epoch);
        }
        self.seen.audio = self.stats[Kind::Audio as usize].counters();
        self.seen.video = self.stats[Kind::Video as usize].counters();
    }

    fn drain(&mut self, epoch: Instant) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(_)) => return,
                Ok(Output::Transmit(t)) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    self.seen.connected_after = Some(self.added.elapsed());
                }
                Ok(Output::Event(Event::RtpPacket(packet))) => {
                    let ssrc = *packet.header.ssrc;
                    let Some(&(kind, clock_rate)) = self.kinds.get(&ssrc) else {
                        self.seen.unknown += 1;
                        continue;
                    };
                    let arrival = packet
                        .timestamp
                        .saturating_duration_since(epoch)
                        .as_secs_f64();
                    self.stats[kind as usize].on_packet(
                        *packet.seq_no,
                        packet.header.timestamp,
                        arrival,
                        clock_rate,
                        packet.payload.len(),
                    );
                }
                Ok(Output::Event(_)) => {}
                Err(_) => {
                    self.seen.failed = true;
                    return;
                }
            }
        }
    }
}

/// The students' receive loop: one thread, every student's socket.
fn receive_loop(
    arrivals: std::sync::mpsc::Receiver<(usize, UdpSocket, StudentMedia)>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
) {
    let epoch = Instant::now();
    let mut bots: Vec<(usize, Bot)> = Vec::new();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        while let Ok((index, socket, media)) = arrivals.try_recv() {
            bots.push((index, Bot::new(socket, media)));
        }
        for (index, bot) in &mut bots {
            bot.turn(&mut buf, epoch);
            seen.lock()[*index] = bot.seen;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kbps(counters: &Counters, over: Duration) -> f64 {
    counters.payload_bytes as f64 * 8.0 / over.as_secs_f64() / 1000.0
}

fn since(now: &[Seen], then: &[Seen]) -> Vec<(Counters, Counters, u64)> {
    now.iter()
        .zip(then)
        .map(|(n, t)| {
            (
                n.audio.since(&t.audio),
                n.video.since(&t.video),
                n.rtx - t.rtx,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts Janus (Debian package janus): cargo test -p podium-load janus::smoke -- --ignored --nocapture"]
async fn three_students_get_the_teacher_through_janus() {
    str0m::crypto::from_feature_flags().install_process_default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let media = Arc::new(
        MediaSet::load_or_encode(&root.join("target/loadtest-media")).expect("teacher media"),
    );

    // Janus in a namespace of its own (it gathers nothing on loopback), the
    // bots on the host's end of the veth pair: no other address is used.
    let netns = Netns::create().expect("a network namespace for Janus (root?)");
    let (netns_name, host_if) = (netns.name.clone(), netns.host_if.clone());
    let bot_ip = IpAddr::V4(netns.host_ip);
    let mut config = JanusConfig::new(HTTP_PORT, RTP_PORTS, IpAddr::V4(netns.ns_ip));
    config.event_loops = 2;
    config.ice_lite = std::env::var("JANUS_ICE_LITE").is_ok_and(|v| v == "1");
    if let Ok(level) = std::env::var("JANUS_DEBUG_LEVEL") {
        config.debug_level = level.parse().expect("JANUS_DEBUG_LEVEL: 0-7");
    }
    let log = root.join("target/loadtest-logs/janus-smoke.log");
    let janus = Janus::launch(&Janus::default_binary(), config, netns, &log)
        .await
        .expect("janus starts");
    println!(
        "janus {} (pid {}, {:?}) in {} on {} (ICE lite {}, {} event loops), bots on {} {bot_ip}, \
         log {}",
        janus.info["version_string"],
        janus.pid,
        janus.comm(),
        janus.netns.name,
        janus.base_url,
        janus.info["ice-lite"],
        janus.info["static-event-loops"],
        janus.netns.host_if,
        log.display()
    );
    // `ip netns exec` exec'd Janus: the child is Janus, the one in the namespace.
    assert_eq!(janus.comm(), "janus");
    assert_eq!(janus.netns.pids(), vec![janus.pid]);
    let cpu_start = procfs::process_cpu_seconds(janus.pid).unwrap_or(0.0);

    let api = Api::new(&janus.base_url).unwrap();
    let room = videoroom::create_room(&api, &videoroom::RoomSpec::default())
        .await
        .expect("room");
    let cert = certificate().unwrap();
    let teacher = JanusTeacher::start(&api, &cert, bot_ip, room, Arc::clone(&media), 3)
        .await
        .expect("teacher publishes");
    println!("room {room}: teacher feed {}", teacher.feed);
    // Let the layers reach Janus before anyone subscribes.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let seen = Arc::new(Mutex::new(vec![Seen::default(); STUDENTS]));
    let stop = Arc::new(AtomicBool::new(false));
    let (arrive, arrivals) = std::sync::mpsc::channel();
    let receiver = {
        let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || receive_loop(arrivals, seen, stop))
    };
    let mut students: Vec<Joined> = Vec::new();
    for index in 0..STUDENTS {
        let socket = udp::bind(bot_ip, 1 << 20).unwrap();
        let local = socket.local_addr().unwrap();
        let rtc = sdp::student_rtc(&cert, Instant::now());
        let arrive = arrive.clone();
        let joined = student::join(&api, rtc, local, room, teacher.feed, Some(1), |media| {
            println!(
                "student {index}: Janus at {}, streams {:?}",
                media.remote, media.streams
            );
            let _ = arrive.send((index, socket, media));
        })
        .await
        .expect("student joins");
        println!(
            "student {index}: join {:?} ms ({:?})",
            joined.phases_ms.map(|ms| (ms * 10.0).round() / 10.0),
            student::JOIN_PHASES
        );
        students.push(joined);
    }

    // Wait for every student's media, then measure a window.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen
        .lock()
        .iter()
        .any(|s| s.audio.received == 0 || s.video.received == 0)
    {
        assert!(
            Instant::now() < deadline,
            "no media within 10 s: {:?}\nteacher {:?}\njanus log:\n{}",
            seen.lock(),
            teacher.stats(),
            janus.log_tail(30).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, s) in seen.lock().iter().enumerate() {
        println!("student {i}: connected after {:?}", s.connected_after);
    }
    let before = seen.lock().clone();
    let cpu_before = procfs::process_cpu_seconds(janus.pid).unwrap_or(0.0);
    let sent_before = teacher.stats();
    tokio::time::sleep(WINDOW).await;
    let after = seen.lock().clone();
    let cpu_after = procfs::process_cpu_seconds(janus.pid).unwrap_or(0.0);
    let sent_after = teacher.stats();
    println!(
        "teacher sent {} packets in the window ({} frames skipped in all)",
        sent_after.packets - sent_before.packets,
        sent_after.frames_skipped
    );
    for (i, (audio, video, rtx)) in since(&after, &before).iter().enumerate() {
        println!(
            "student {i}, {:?}: audio {} packets ({:.0} kbit/s, loss {:.2} %), \
             video {} packets ({:.0} kbit/s, loss {:.2} %), RTX {rtx}, unknown SSRC {}",
            WINDOW,
            audio.received,
            kbps(audio, WINDOW),
            audio.loss_pct(),
            video.received,
            kbps(video, WINDOW),
            video.loss_pct(),
            after[i].unknown,
        );
        assert!(audio.received >= 200, "student {i}: audio {audio:?}");
        assert!(video.received >= 100, "student {i}: video {video:?}");
    }
    for (i, (audio, video, _)) in since(&after, &before).iter().enumerate() {
        assert!(
            audio.loss_pct() < 1.0 && video.loss_pct() < 1.0,
            "student {i}: loss"
        );
        assert!(!after[i].failed);
    }
    println!(
        "janus: {:.1} % of a core over the window, RSS {:.1} MB; teacher {:?}",
        (cpu_after - cpu_before) * 100.0 / WINDOW.as_secs_f64(),
        procfs::rss_mb(janus.pid).unwrap_or(0.0),
        teacher.stats()
    );

    // Layers: student 0 to the lowest, student 2 to the highest.
    students[0]
        .set_layer(0)
        .await
        .expect("configure substream 0");
    students[2]
        .set_layer(2)
        .await
        .expect("configure substream 2");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = seen.lock().clone();
    let over = Duration::from_secs(3);
    tokio::time::sleep(over).await;
    let after = seen.lock().clone();
    let rates: Vec<f64> = since(&after, &before)
        .iter()
        .map(|(_, video, _)| kbps(video, over))
        .collect();
    println!(
        "video kbit/s on substreams 0, 1, 2: {:.0}, {:.0}, {:.0}",
        rates[0], rates[1], rates[2]
    );
    assert!(
        rates[0] < rates[1] && rates[1] < rates[2],
        "layers out of order: {rates:?}"
    );

    for s in students {
        s.leave().await.expect("leave");
    }
    println!("teacher: {}", teacher.stop().await);
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    let mut janus = janus;
    let pid = janus.pid;
    println!(
        "janus used {:.2} s of CPU in all; {}",
        procfs::process_cpu_seconds(pid).unwrap_or(0.0) - cpu_start,
        janus.stop()
    );
    drop(janus);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!list.contains(&netns_name), "{netns_name} left: {list}");
    let link = std::process::Command::new("ip")
        .args(["link", "show", &host_if])
        .output()
        .unwrap();
    assert!(!link.status.success(), "{host_if} left behind");
    println!("namespace {netns_name} and veth {host_if} removed");
}
