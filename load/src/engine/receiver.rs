//! One student's media connection inside a shard: its `Rtc`, the streams it
//! expects (by SSRC), and what it counted on them. A browser-like student
//! also counts what was repaired (RTX), the NACKs and PLIs it sent, and the
//! simulcast layer it gets (from the size its keyframes announce); it asks
//! for a keyframe when a video packet is lost for good, as a browser's
//! decoder does. Behind an impairment, its datagrams pass its links.

use super::impair::{Impairment, Link};
use super::{BotEvent, BotId, Kind, MID_PROBATOR, Profile, SSRC_PROBATOR, StreamSpec};
use crate::media::vp8;
use crate::stats::{BotCounters, StreamStats};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::mpsc::UnboundedSender;

/// A video packet still missing this long after a later one came is lost for
/// good (NACK had its chance): the frame cannot be decoded.
const GIVE_UP: Duration = Duration::from_millis(500);
/// At most one keyframe request per this long, as browsers pace theirs.
const PLI_GAP: Duration = Duration::from_secs(1);

struct RxStream {
    ssrc: u32,
    rtx: Option<u32>,
    /// Whether the highest packet so far ended a frame (RTP marker).
    last_marker: bool,
    kind: Kind,
    clock_rate: u32,
    stats: StreamStats,
}

/// The simulcast layer a student gets, from its keyframes' height (the
/// teacher's layers are 180p, 360p and 720p).
pub fn layer_of(height: u16) -> u8 {
    match height {
        0..=240 => 0,
        241..=480 => 1,
        _ => 2,
    }
}

/// What a student receives now, beside its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct View {
    /// The layer of its last keyframe.
    pub layer: Option<u8>,
    /// When it first got the top layer, and when it got media.
    pub top_layer_at: Option<Instant>,
    pub connected_at: Option<Instant>,
    pub impaired: bool,
    /// When its layer last changed.
    pub layer_since: Option<Instant>,
}

/// A datagram a link holds back, to send or to deliver at its time.
pub struct Held {
    pub at: Instant,
    pub data: Vec<u8>,
    /// `Some`: to send there; `None`: received.
    pub to: Option<SocketAddr>,
}

pub struct Receiver {
    pub id: BotId,
    pub remote: SocketAddr,
    rtc: Rtc,
    profile: Profile,
    streams: Vec<RxStream>,
    datagrams: u64,
    udp_bytes: u64,
    /// RTX packets received (each repairs a loss).
    rtx: u64,
    /// Sequence numbers mediasoup skipped at layer switches.
    switch_skips: u64,
    /// NACKs and PLIs sent, by mid (str0m's cumulative figures).
    feedback: HashMap<Mid, (u64, u64)>,
    /// Video packets missing (extended sequence number, noticed at).
    holes: VecDeque<(u64, Instant)>,
    last_pli: Option<Instant>,
    view: View,
    /// The link from the SFU, and to it.
    pub downlink: Option<Link>,
    uplink: Option<Link>,
    /// What the uplink holds back, for the shard to send in time.
    pub outbox: Vec<Held>,
    connected: bool,
    got_first: [bool; 2],
    pub dead: bool,
    /// When str0m wants its next timeout.
    pub wanted: Instant,
    /// The earliest entry this receiver has in the shard's timer heap.
    pub scheduled: Option<Instant>,
}

impl Receiver {
    pub fn new(
        id: BotId,
        remote: SocketAddr,
        mut rtc: Rtc,
        profile: Profile,
        impairment: Option<Impairment>,
        now: Instant,
    ) -> Self {
        if profile == Profile::Browser {
            let mut api = rtc.direct_api();
            api.enable_twcc_feedback();
            // As mediasoup-client does: receive the estimate's probation
            // packets, so that they get transport-wide feedback.
            let probator = Mid::from(MID_PROBATOR);
            api.declare_media(probator, MediaKind::Video);
            api.expect_stream_rx(SSRC_PROBATOR.into(), None, probator, None)
                .suppress_nack(true);
        }
        Self {
            id,
            remote,
            rtc,
            profile,
            streams: Vec::new(),
            datagrams: 0,
            udp_bytes: 0,
            rtx: 0,
            switch_skips: 0,
            feedback: HashMap::new(),
            holes: VecDeque::new(),
            last_pli: None,
            view: View {
                impaired: impairment.is_some(),
                ..View::default()
            },
            downlink: impairment.map(|i| Link::new(i, id.wrapping_mul(2))),
            uplink: impairment.map(|i| Link::new(i, id.wrapping_mul(2) + 1)),
            outbox: Vec::new(),
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
        // An `Rtc` set up over SDP (Janus) has its media already.
        if self.rtc.media(mid).is_none() {
            self.rtc.direct_api().declare_media(mid, kind);
        }
        let mut api = self.rtc.direct_api();
        match self.profile {
            // Lost packets are NACKed and come back as RTX.
            Profile::Browser => {
                api.expect_stream_rx(spec.ssrc.into(), spec.rtx_ssrc.map(Into::into), mid, None);
            }
            // Loss is what we measure: no NACKs, so nothing is repaired.
            Profile::Lean => {
                api.expect_stream_rx(spec.ssrc.into(), None, mid, None)
                    .suppress_nack(true);
            }
        }
        self.streams.push(RxStream {
            ssrc: spec.ssrc,
            last_marker: true,
            rtx: spec.rtx_ssrc.filter(|_| self.profile == Profile::Browser),
            kind: spec.kind,
            clock_rate: spec.clock_rate,
            stats: StreamStats::default(),
        });
    }

    /// Feeds one datagram from the SFU.
    pub fn receive(&mut self, now: Instant, local: SocketAddr, data: &[u8]) {
        self.datagrams += 1;
        self.udp_bytes += data.len() as u64;
        // SRTP leaves the RTP header in the clear: an RTX packet shows by its SSRC.
        if let Some(ssrc) = rtp_ssrc(data)
            && self.streams.iter().any(|s| s.rtx == Some(ssrc))
        {
            self.rtx += 1;
        }
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
                Output::Transmit(t) => match &mut self.uplink {
                    Some(link) => {
                        if let Some(at) = link.pass(Instant::now(), t.contents.len()) {
                            self.outbox.push(Held {
                                at,
                                data: t.contents.to_vec(),
                                to: Some(t.destination),
                            });
                        }
                    }
                    // A full send buffer drops the datagram, as the network would.
                    None => {
                        let _ = socket.send_to(&t.contents, t.destination);
                    }
                },
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
                let seq = *packet.seq_no;
                let gap = if stream.stats.started() && seq > stream.stats.highest() {
                    seq - stream.stats.highest() - 1
                } else {
                    0
                };
                // mediasoup skips one sequence number when it switches a
                // simulcast consumer to another layer after a packet that
                // did not end a frame (mediasoup PR 823): the number right
                // before the new layer's keyframe has no packet behind it.
                let mut skipped = 0;
                if gap > 0
                    && stream.kind == Kind::Video
                    && self.profile == Profile::Browser
                    && !stream.last_marker
                    && let Some((_, height)) = vp8::keyframe_size(&packet.payload)
                    && self.view.layer.is_some_and(|l| l != layer_of(height))
                {
                    stream.stats.skip(1);
                    skipped = 1;
                }
                if !stream.stats.started() || seq > stream.stats.highest() {
                    stream.last_marker = packet.header.marker;
                }
                self.switch_skips += skipped;
                stream.stats.on_packet(
                    seq,
                    packet.header.timestamp,
                    arrival,
                    stream.clock_rate,
                    packet.payload.len(),
                );
                let kind = stream.kind;
                if kind == Kind::Video && self.profile == Profile::Browser {
                    let missing = seq - gap..seq - skipped;
                    self.watch_video(seq, missing, packet.timestamp, &packet.payload);
                }
                let slot = kind as usize;
                if !self.got_first[slot] {
                    self.got_first[slot] = true;
                    let _ = events.send(BotEvent::FirstPacket {
                        bot: self.id,
                        kind,
                        at: packet.timestamp,
                    });
                }
            }
            Event::MediaIngressStats(stats) => {
                self.feedback.insert(stats.mid, (stats.nacks, stats.plis));
            }
            Event::Connected => {
                self.connected = true;
                self.view.connected_at = Some(Instant::now());
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

    /// A browser-like student's video: which layer it gets, and a keyframe
    /// request when a packet is lost for good (NACK did not bring it back).
    fn watch_video(&mut self, seq: u64, missing: Range<u64>, now: Instant, payload: &[u8]) {
        if let Some((_, height)) = vp8::keyframe_size(payload) {
            let layer = layer_of(height);
            if self.view.layer != Some(layer) {
                self.view.layer = Some(layer);
                self.view.layer_since = Some(now);
            }
            if layer == 2 && self.view.top_layer_at.is_none() {
                self.view.top_layer_at = Some(now);
            }
        }
        if !missing.is_empty() {
            for hole in missing.end.saturating_sub(64).max(missing.start)..missing.end {
                self.holes.push_back((hole, now));
            }
            while self.holes.len() > 256 {
                self.holes.pop_front();
            }
        } else if let Some(at) = self.holes.iter().position(|(s, _)| *s == seq) {
            self.holes.remove(at); // repaired
        }
        let lost_for_good = self
            .holes
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= GIVE_UP);
        if lost_for_good {
            self.holes.clear();
            if self
                .last_pli
                .is_none_or(|t| now.saturating_duration_since(t) >= PLI_GAP)
            {
                self.last_pli = Some(now);
                let video = self.streams.iter().find(|s| s.kind == Kind::Video);
                if let Some(ssrc) = video.map(|s| s.ssrc)
                    && let Some(rx) = self.rtc.direct_api().stream_rx(&ssrc.into())
                {
                    rx.request_keyframe(KeyframeRequestKind::Pli);
                }
            }
        }
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// Lifts or puts back the cap of an impaired student's links.
    pub fn set_capped(&mut self, capped: bool) {
        for link in [&mut self.downlink, &mut self.uplink].into_iter().flatten() {
            link.set_capped(capped);
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
            rtx: self.rtx,
            switch_skips: self.switch_skips,
            nacks: self.feedback.values().map(|f| f.0).sum(),
            plis: self.feedback.values().map(|f| f.1).sum(),
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

/// The SSRC of an RTP datagram (SRTP or not; RTCP, STUN and DTLS are not RTP).
fn rtp_ssrc(data: &[u8]) -> Option<u32> {
    let first = *data.first()?;
    let second = *data.get(1)?;
    // Version 2; payload types 64-95 with the marker bit are RTCP (RFC 5761).
    if first >> 6 != 2 || (192..=223).contains(&second) || data.len() < 12 {
        return None;
    }
    Some(u32::from_be_bytes([data[8], data[9], data[10], data[11]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_rtp_ssrcs() {
        let mut rtp = vec![0x80, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0x30, 0x39];
        assert_eq!(rtp_ssrc(&rtp), Some(12345));
        rtp[1] = 0x80 | 101; // marker bit
        assert_eq!(rtp_ssrc(&rtp), Some(12345));
        let rtcp = [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(rtp_ssrc(&rtcp), None);
        assert_eq!(rtp_ssrc(&[0x16, 0xfe, 0xfd]), None); // DTLS
        assert_eq!(rtp_ssrc(&rtp[..8]), None);
    }

    #[test]
    fn layers_by_height() {
        assert_eq!([180, 360, 720].map(layer_of), [0, 1, 2]);
    }
}
