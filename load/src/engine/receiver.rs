//! One student's media connection inside a shard: its `Rtc`, the streams it
//! expects (by SSRC), and what it counted on them.

use super::{BotEvent, BotId, Kind, StreamSpec};
use crate::stats::{BotCounters, StreamStats};
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc::UnboundedSender;

struct RxStream {
    ssrc: u32,
    kind: Kind,
    clock_rate: u32,
    stats: StreamStats,
}

pub struct Receiver {
    pub id: BotId,
    pub remote: SocketAddr,
    rtc: Rtc,
    streams: Vec<RxStream>,
    datagrams: u64,
    udp_bytes: u64,
    connected: bool,
    got_first: [bool; 2],
    pub dead: bool,
    /// When str0m wants its next timeout.
    pub wanted: Instant,
    /// The earliest entry this receiver has in the shard's timer heap.
    pub scheduled: Option<Instant>,
}

impl Receiver {
    pub fn new(id: BotId, remote: SocketAddr, rtc: Rtc, now: Instant) -> Self {
        Self {
            id,
            remote,
            rtc,
            streams: Vec::new(),
            datagrams: 0,
            udp_bytes: 0,
            connected: false,
            got_first: [false; 2],
            dead: false,
            wanted: now,
            scheduled: None,
        }
    }

    /// Declares the media and the SSRC a consumer sends on.
    pub fn add_stream(&mut self, spec: &StreamSpec) {
        if self.streams.iter().any(|s| s.ssrc == spec.ssrc) {
            return;
        }
        let mid = Mid::from(spec.mid.as_str());
        let kind = match spec.kind {
            Kind::Audio => MediaKind::Audio,
            Kind::Video => MediaKind::Video,
        };
        let mut api = self.rtc.direct_api();
        api.declare_media(mid, kind);
        // Loss is what we measure: no NACKs, so nothing is repaired.
        api.expect_stream_rx(spec.ssrc.into(), None, mid, None)
            .suppress_nack(true);
        self.streams.push(RxStream {
            ssrc: spec.ssrc,
            kind: spec.kind,
            clock_rate: spec.clock_rate,
            stats: StreamStats::default(),
        });
    }

    /// Feeds one datagram from the SFU.
    pub fn receive(&mut self, now: Instant, local: SocketAddr, data: &[u8]) {
        self.datagrams += 1;
        self.udp_bytes += data.len() as u64;
        let Ok(contents) = data.try_into() else {
            return; // not STUN, DTLS, RTP or RTCP
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: self.remote,
                destination: local,
                contents,
            },
        );
        if let Err(error) = self.rtc.handle_input(input) {
            tracing::debug!(bot = self.id, %error, "str0m refused a datagram");
        }
    }

    pub fn timeout(&mut self, now: Instant) {
        if let Err(error) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(bot = self.id, %error, "str0m timeout failed");
        }
    }

    /// Runs str0m until it wants a timeout: sends what it transmits, counts
    /// what it received. Returns the time of the next timeout.
    pub fn drive(
        &mut self,
        socket: &UdpSocket,
        epoch: Instant,
        events: &UnboundedSender<BotEvent>,
    ) -> Instant {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(error) => {
                    self.fail(events, format!("str0m: {error}"));
                    return Instant::now() + std::time::Duration::from_secs(3600);
                }
            };
            match output {
                Output::Timeout(at) => {
                    self.wanted = at;
                    return at;
                }
                Output::Transmit(t) => {
                    // A full send buffer drops the datagram, as the network would.
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Output::Event(event) => self.on_event(event, epoch, events),
            }
        }
    }

    fn on_event(&mut self, event: Event, epoch: Instant, events: &UnboundedSender<BotEvent>) {
        match event {
            Event::RtpPacket(packet) => {
                let ssrc = *packet.header.ssrc;
                let Some(stream) = self.streams.iter_mut().find(|s| s.ssrc == ssrc) else {
                    return;
                };
                let arrival = packet
                    .timestamp
                    .saturating_duration_since(epoch)
                    .as_secs_f64();
                stream.stats.on_packet(
                    *packet.seq_no,
                    packet.header.timestamp,
                    arrival,
                    stream.clock_rate,
                    packet.payload.len(),
                );
                let slot = stream.kind as usize;
                if !self.got_first[slot] {
                    self.got_first[slot] = true;
                    let _ = events.send(BotEvent::FirstPacket {
                        bot: self.id,
                        kind: stream.kind,
                        at: packet.timestamp,
                    });
                }
            }
            Event::Connected => {
                self.connected = true;
                let _ = events.send(BotEvent::Connected {
                    bot: self.id,
                    at: Instant::now(),
                });
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(events, "ICE disconnected".into());
            }
            _ => {}
        }
    }

    fn fail(&mut self, events: &UnboundedSender<BotEvent>, reason: String) {
        if !self.dead {
            self.dead = true;
            let _ = events.send(BotEvent::MediaFailed {
                bot: self.id,
                reason,
            });
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected && !self.dead
    }

    pub fn counters(&self) -> BotCounters {
        let mut c = BotCounters {
            datagrams: self.datagrams,
            udp_bytes: self.udp_bytes,
            ..Default::default()
        };
        for s in &self.streams {
            match s.kind {
                Kind::Audio => c.audio.add(&s.stats.counters()),
                Kind::Video => c.video.add(&s.stats.counters()),
            }
        }
        c
    }
}
