//! The bots' side of Janus's offer/answer, on str0m's SDP API (RTP mode).
//!
//! - The teacher offers: one Opus and one VP8 m-line, the video with
//!   `layers` simulcast rids `r0`, `r1`, `r2` (lowest first, as the
//!   mediasoup teacher declares them; Janus is told `rid_order: "lmh"`). str0m
//!   picks an SSRC per rid when it applies Janus's answer; they are read back
//!   with `direct_api().stream_tx_by_mid(mid, Some(rid))` and handed to the
//!   publisher thread as a [`TeacherMedia`], which writes the pre-encoded RTP
//!   per layer exactly as it does for mediasoup. str0m puts the `mid` and
//!   `rid` header extensions on each layer's packets until Janus's receiver
//!   reports acknowledge the SSRC: that is how Janus, which learns rid-based
//!   simulcast SSRCs from packets, maps them.
//! - A student answers Janus's offer with the receive capabilities of a
//!   browser: Opus, VP8 with NACK, PLI, FIR, transport-cc and RTX (str0m
//!   keeps what Janus offers of those), str0m's standard header extensions.
//!   The SSRCs Janus sends on, and the RTX SSRCs, are read from the offer
//!   (`a=ssrc`, `a=ssrc-group:FID`) as [`StreamSpec`]s for a shard.
//!
//! Janus gives its one host candidate in its SDP (half-trickle) and reads
//! the bots' from theirs: no trickle either way.

use crate::engine::{Kind, PT_OPUS, PT_VP8, StreamSpec, TeacherMedia};
use anyhow::{Context, bail};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::rtp::ExtensionMap;
use str0m::{Candidate, Rtc, RtcConfig};

/// The `msid` stream id the teacher announces.
const TEACHER_STREAM: &str = "podium-load-teacher";
/// A student's own payload types (its answer uses those Janus offers).
const PT_STUDENT_OPUS: u8 = 111;
const PT_STUDENT_VP8: u8 = 96;
const PT_STUDENT_VP8_RTX: u8 = 97;

/// The teacher's `Rtc`: RTP mode, Opus and VP8 on the payload types the
/// publisher thread writes ([`PT_OPUS`], [`PT_VP8`]), no RTX (as the
/// mediasoup teacher), str0m's standard header extensions (`mid` and `rid`
/// among them), no statistics events.
pub fn teacher_rtc(cert: &DtlsCert, now: Instant) -> Rtc {
    sdp_rtc(cert, now, (PT_OPUS, PT_VP8, None), None)
}

/// A student's `Rtc`: RTP mode, Opus and VP8 with RTX, NACK, PLI, FIR and
/// transport-cc (str0m's defaults for a video codec), str0m's standard
/// header extensions, statistics every second (the NACKs and PLIs it sent).
pub fn student_rtc(cert: &DtlsCert, now: Instant) -> Rtc {
    sdp_rtc(
        cert,
        now,
        (PT_STUDENT_OPUS, PT_STUDENT_VP8, Some(PT_STUDENT_VP8_RTX)),
        Some(Duration::from_secs(1)),
    )
}

/// An `Rtc` for offer/answer in RTP mode: Opus and VP8 on `(opus, vp8,
/// vp8's rtx)`, str0m's standard header extensions.
fn sdp_rtc(
    cert: &DtlsCert,
    now: Instant,
    (opus, vp8, rtx): (u8, u8, Option<u8>),
    stats: Option<Duration>,
) -> Rtc {
    let mut config = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .set_extension_map(ExtensionMap::standard())
        .set_stats_interval(stats)
        .set_dtls_cert(cert.clone());
    let codecs = config.codec_config();
    codecs.add_config(
        opus.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams::default(),
    );
    codecs.add_config(
        vp8.into(),
        rtx.map(Into::into),
        Codec::Vp8,
        Frequency::NINETY_KHZ,
        None,
        FormatParams::default(),
    );
    config.build(now)
}

/// The teacher's offer, waiting for Janus's answer.
pub struct TeacherOffer {
    pub sdp: String,
    pending: SdpPendingOffer,
    audio: Mid,
    video: Mid,
    layers: usize,
}

/// The simulcast rid of layer `index` (0 = lowest).
pub fn rid(index: usize) -> Rid {
    Rid::from(format!("r{index}").as_str())
}

/// Adds the teacher's host candidate and media to `rtc` and makes the offer.
pub fn teacher_offer(
    rtc: &mut Rtc,
    local: SocketAddr,
    layers: usize,
) -> anyhow::Result<TeacherOffer> {
    let layers = layers.clamp(1, 3);
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let mut api = rtc.sdp_api();
    let audio = api.add_media(
        MediaKind::Audio,
        Direction::SendOnly,
        Some(TEACHER_STREAM.into()),
        Some("mic".into()),
        None,
    );
    let simulcast = (layers > 1).then(|| Simulcast {
        send: (0..layers).map(|i| SimulcastLayer::new(&rid(i))).collect(),
        recv: Vec::new(),
    });
    let video = api.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        Some(TEACHER_STREAM.into()),
        Some("camera".into()),
        simulcast,
    );
    let (offer, pending) = api.apply().context("str0m made no offer")?;
    Ok(TeacherOffer {
        sdp: offer.to_sdp_string(),
        pending,
        audio,
        video,
        layers,
    })
}

/// Applies Janus's answer: returns the SSRCs str0m picked (audio, then the
/// video layers lowest first) and Janus's address for the teacher.
pub fn teacher_accept(
    rtc: &mut Rtc,
    offer: TeacherOffer,
    answer_sdp: &str,
) -> anyhow::Result<(TeacherMedia, SocketAddr)> {
    let remote = host_candidate(answer_sdp).context("Janus's answer has no UDP host candidate")?;
    let answer = SdpAnswer::from_sdp_string(answer_sdp).context("parsing Janus's answer")?;
    rtc.sdp_api()
        .accept_answer(offer.pending, answer)
        .context("str0m refused Janus's answer")?;
    let mut api = rtc.direct_api();
    let audio_ssrc = *api
        .stream_tx_by_mid(offer.audio, None)
        .context("no audio stream after the answer")?
        .ssrc();
    let mut video_ssrcs = Vec::with_capacity(offer.layers);
    for layer in 0..offer.layers {
        let rid = (offer.layers > 1).then(|| rid(layer));
        let stream = api
            .stream_tx_by_mid(offer.video, rid)
            .with_context(|| format!("no video stream for layer {layer} after the answer"))?;
        video_ssrcs.push(*stream.ssrc());
    }
    Ok((
        TeacherMedia {
            audio_ssrc,
            video_ssrcs,
        },
        remote,
    ))
}

/// A student's answer to Janus's offer.
#[derive(Debug, Clone)]
pub struct StudentAnswer {
    pub sdp: String,
    /// What Janus sends on, per m-line.
    pub streams: Vec<StreamSpec>,
    /// Janus's address for this student.
    pub remote: SocketAddr,
}

/// Adds the student's host candidate to `rtc` and answers Janus's offer.
pub fn student_answer(
    rtc: &mut Rtc,
    local: SocketAddr,
    offer_sdp: &str,
) -> anyhow::Result<StudentAnswer> {
    let streams = offered_streams(offer_sdp)?;
    let remote = host_candidate(offer_sdp).context("Janus's offer has no UDP host candidate")?;
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let offer = SdpOffer::from_sdp_string(offer_sdp).context("parsing Janus's offer")?;
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .context("str0m refused Janus's offer")?;
    Ok(StudentAnswer {
        sdp: answer.to_sdp_string(),
        streams,
        remote,
    })
}

/// The first UDP host candidate (component 1) of an SDP.
pub fn host_candidate(sdp: &str) -> Option<SocketAddr> {
    sdp.lines().find_map(|line| {
        let value = line.trim().strip_prefix("a=candidate:")?;
        // foundation component transport priority address port "typ" type
        let fields: Vec<&str> = value.split_whitespace().collect();
        let (component, transport, ip, port) = (
            fields.get(1)?,
            fields.get(2)?,
            fields.get(4)?,
            fields.get(5)?,
        );
        let typ = fields.get(7)?;
        if *component != "1" || !transport.eq_ignore_ascii_case("udp") || *typ != "host" {
            return None;
        }
        Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
    })
}

/// One m-section, as far as [`offered_streams`] reads it.
#[derive(Default)]
struct Section {
    kind: Option<Kind>,
    port: u16,
    formats: Vec<u8>,
    mid: Option<String>,
    sends: bool,
    clock_rates: HashMap<u8, u32>,
    ssrcs: Vec<u32>,
    fid: Option<(u32, u32)>,
}

impl Section {
    fn spec(self) -> Option<StreamSpec> {
        let kind = self.kind?;
        if self.port == 0 || !self.sends {
            return None;
        }
        let (ssrc, rtx_ssrc) = match self.fid {
            Some((main, rtx)) => (main, Some(rtx)),
            None => (*self.ssrcs.first()?, None),
        };
        let clock_rate = self
            .formats
            .first()
            .and_then(|pt| self.clock_rates.get(pt).copied())
            .unwrap_or(match kind {
                Kind::Audio => 48_000,
                Kind::Video => 90_000,
            });
        Some(StreamSpec {
            mid: self.mid?,
            ssrc,
            rtx_ssrc,
            kind,
            clock_rate,
        })
    }
}

/// The streams an offer sends: per audio or video m-line that sends, its
/// mid, main SSRC, RTX SSRC (`a=ssrc-group:FID`) and clock rate.
pub fn offered_streams(sdp: &str) -> anyhow::Result<Vec<StreamSpec>> {
    let mut sections: Vec<Section> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut fields = m.split_whitespace();
            let kind = match fields.next() {
                Some("audio") => Some(Kind::Audio),
                Some("video") => Some(Kind::Video),
                _ => None,
            };
            let port = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let formats = fields.skip(1).filter_map(|f| f.parse().ok()).collect();
            sections.push(Section {
                kind,
                port,
                formats,
                ..Section::default()
            });
            continue;
        }
        let Some(section) = sections.last_mut() else {
            continue; // session level
        };
        let Some(attribute) = line.strip_prefix("a=") else {
            continue;
        };
        if let Some(mid) = attribute.strip_prefix("mid:") {
            section.mid = Some(mid.to_owned());
        } else if attribute == "sendonly" || attribute == "sendrecv" {
            section.sends = true;
        } else if let Some(map) = attribute.strip_prefix("rtpmap:") {
            // rtpmap:<pt> <name>/<clock rate>[/<channels>]
            let mut parts = map.split_whitespace();
            let pt = parts.next().and_then(|p| p.parse().ok());
            let rate = parts
                .next()
                .and_then(|codec| codec.split('/').nth(1))
                .and_then(|r| r.parse().ok());
            if let (Some(pt), Some(rate)) = (pt, rate) {
                section.clock_rates.insert(pt, rate);
            }
        } else if let Some(group) = attribute.strip_prefix("ssrc-group:FID ") {
            let ssrcs: Vec<u32> = group
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect();
            if let [main, rtx] = ssrcs[..] {
                section.fid = Some((main, rtx));
            }
        } else if let Some(ssrc) = attribute.strip_prefix("ssrc:")
            && let Some(ssrc) = ssrc.split_whitespace().next().and_then(|s| s.parse().ok())
            && !section.ssrcs.contains(&ssrc)
        {
            section.ssrcs.push(ssrc);
        }
    }
    let streams: Vec<StreamSpec> = sections.into_iter().filter_map(Section::spec).collect();
    if streams.is_empty() {
        bail!("the offer sends no audio or video with an SSRC");
    }
    Ok(streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::certificate;

    /// A subscriber offer from Janus 1.1.2's VideoRoom (the smoke test, debug level 5).
    const JANUS_OFFER: &str = "v=0\r\n\
o=- 1796029746758802 1 IN IP4 10.254.7.2\r\n\
s=VideoRoom 8512830571017650\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 1A:6D:B8:17:F5:06:BC:0E:D2:06:E1:6B:DB:A9:30:AA:87:72:80:25:A3:D1:FD:69:E2:55:B3:32:FF:97:C0:05\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS *\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 10.254.7.2\r\n\
a=sendonly\r\n\
a=mid:0\r\n\
a=rtcp-mux\r\n\
a=ice-ufrag:UsC7\r\n\
a=ice-pwd:6W8rgAoM8iblgSsRst8GpY\r\n\
a=ice-options:trickle\r\n\
a=setup:actpass\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtcp-fb:111 transport-cc\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=msid:janus janus0\r\n\
a=ssrc:1234069147 cname:janus\r\n\
a=candidate:1 1 udp 2015363327 10.254.7.2 30496 typ host\r\n\
a=end-of-candidates\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
c=IN IP4 10.254.7.2\r\n\
a=sendonly\r\n\
a=mid:1\r\n\
a=rtcp-mux\r\n\
a=ice-ufrag:UsC7\r\n\
a=ice-pwd:6W8rgAoM8iblgSsRst8GpY\r\n\
a=ice-options:trickle\r\n\
a=setup:actpass\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:96 ccm fir\r\n\
a=rtcp-fb:96 nack\r\n\
a=rtcp-fb:96 nack pli\r\n\
a=rtcp-fb:96 goog-remb\r\n\
a=rtcp-fb:96 transport-cc\r\n\
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
a=extmap:13 urn:3gpp:video-orientation\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=ssrc-group:FID 207503873 885621729\r\n\
a=msid:janus janus1\r\n\
a=ssrc:207503873 cname:janus\r\n\
a=ssrc:885621729 cname:janus\r\n\
a=candidate:1 1 udp 2015363327 10.254.7.2 30496 typ host\r\n\
a=end-of-candidates\r\n";

    #[test]
    fn reads_what_janus_sends_on() {
        let streams = offered_streams(JANUS_OFFER).unwrap();
        assert_eq!(
            streams,
            vec![
                StreamSpec {
                    mid: "0".into(),
                    ssrc: 1_234_069_147,
                    rtx_ssrc: None,
                    kind: Kind::Audio,
                    clock_rate: 48_000,
                },
                StreamSpec {
                    mid: "1".into(),
                    ssrc: 207_503_873,
                    rtx_ssrc: Some(885_621_729),
                    kind: Kind::Video,
                    clock_rate: 90_000,
                },
            ]
        );
        assert_eq!(
            host_candidate(JANUS_OFFER),
            Some("10.254.7.2:30496".parse().unwrap())
        );
        assert!(
            offered_streams("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n").is_err()
        );
        assert_eq!(
            host_candidate("a=candidate:1 1 tcp 1 10.0.0.1 9 typ host\r\n"),
            None
        );
    }

    #[test]
    fn a_student_answers_with_nack_and_rtx() {
        str0m::crypto::from_feature_flags().install_process_default();
        let cert = certificate().unwrap();
        let mut rtc = student_rtc(&cert, Instant::now());
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let answer = student_answer(&mut rtc, local, JANUS_OFFER).unwrap();
        assert_eq!(answer.remote, "10.254.7.2:30496".parse().unwrap());
        assert_eq!(answer.streams.len(), 2);
        let sdp = &answer.sdp;
        assert!(sdp.contains("a=recvonly"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:96 VP8/90000"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:97 rtx/90000"), "{sdp}");
        assert!(sdp.contains("a=rtcp-fb:96 nack pli"), "{sdp}");
        assert!(sdp.contains("a=rtcp-fb:96 transport-cc"), "{sdp}");
        assert!(!sdp.contains("a=setup:actpass"), "{sdp}");
        assert!(sdp.contains("127.0.0.1 40000 typ host"), "{sdp}");
    }

    #[test]
    fn the_teacher_offers_three_layers_lowest_first() {
        str0m::crypto::from_feature_flags().install_process_default();
        let cert = certificate().unwrap();
        let mut rtc = teacher_rtc(&cert, Instant::now());
        let offer = teacher_offer(&mut rtc, "127.0.0.1:40001".parse().unwrap(), 3).unwrap();
        let sdp = &offer.sdp;
        assert!(sdp.contains("a=simulcast:send r0;r1;r2"), "{sdp}");
        for r in ["r0", "r1", "r2"] {
            assert!(sdp.contains(&format!("a=rid:{r} send")), "{sdp}");
        }
        assert!(
            sdp.contains(&format!("a=rtpmap:{PT_OPUS} opus/48000/2")),
            "{sdp}"
        );
        assert!(
            sdp.contains(&format!("a=rtpmap:{PT_VP8} VP8/90000")),
            "{sdp}"
        );
        assert!(
            sdp.contains("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
            "{sdp}"
        );
        assert!(sdp.contains("a=sendonly"), "{sdp}");
        assert!(sdp.contains("127.0.0.1 40001 typ host"), "{sdp}");
    }
}
