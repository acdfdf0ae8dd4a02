//! Composing: the teacher's camera and screen in one picture (`compositor`
//! over a live black background) and their microphones mixed (`audiomixer`
//! over live silence), with inputs that come and go while the encoder and
//! the outputs run on: the picture and the sound never stop, so a file has
//! no gap and a restream no reconnect when the teacher starts or stops
//! sharing their screen, or drops and comes back.
//!
//! Each input is a bin of its own (udpsrc -> rtpbin -> depayloader ->
//! decoder -> queue) fed by its own PlainTransport consumer, added to the
//! playing pipeline and linked to a request pad of the compositor or the
//! mixer; removing it stops the bin and releases the pad. Where each picture
//! goes is [`placements`], a pure function of the layout and of which
//! inputs there are.

use crate::elements::{add_chain, caps_filter, make};
use crate::error::EgressError;
use crate::pipeline::{Counters, SessionEvent, forward_keyframe_requests};
use crate::profile::OutputProfile;
use crate::source::{self, ConsumedTrack, InputEvent, RtpCodec};
use gstreamer as gst;
use gstreamer::prelude::*;
use mediasoup::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;

pub use podium_protocol::Layout;

/// Name of the compositor element.
pub(crate) const COMPOSITOR: &str = "video-compositor";
/// How long the compositor and the mixer wait for a late input's data
/// (an input's jitter buffer holds 200 ms) before going on without it.
const AGGREGATOR_LATENCY: gst::ClockTime = gst::ClockTime::from_mseconds(300);

/// What a composed egress reads: at most one camera and one screen, and any
/// number of microphones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeInputs {
    /// The teacher's camera.
    pub camera: Option<ProducerId>,
    /// The teacher's screen share.
    pub screen: Option<ProducerId>,
    /// Microphones, mixed.
    pub audio: Vec<ProducerId>,
}

/// A composed egress: its layout and its first inputs ([`crate::Egress::set_inputs`] changes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compose {
    /// Where the camera and the screen go.
    pub layout: Layout,
    /// What to read at start.
    pub inputs: ComposeInputs,
}

/// One picture's place in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub zorder: u32,
}

/// Where the camera and the screen go in a `width` x `height` frame (`None`:
/// not shown). A fixed layout whose input is missing shows the other one
/// full frame: a recording never shows black while the teacher sends video.
pub(crate) fn placements(
    layout: Layout,
    camera: bool,
    screen: bool,
    width: u32,
    height: u32,
) -> (Option<Placement>, Option<Placement>) {
    let (w, h) = (width as i32, height as i32);
    let full = |zorder| Placement {
        x: 0,
        y: 0,
        width: w,
        height: h,
        zorder,
    };
    match (layout, camera, screen) {
        (_, false, false) => (None, None),
        (_, true, false) | (Layout::Camera, true, true) => (Some(full(1)), None),
        (_, false, true) | (Layout::Screen, true, true) => (None, Some(full(1))),
        (Layout::SideBySide, true, true) => (
            Some(Placement {
                x: w / 2,
                y: 0,
                width: w / 2,
                height: h,
                zorder: 1,
            }),
            Some(Placement {
                x: 0,
                y: 0,
                width: w / 2,
                height: h,
                zorder: 1,
            }),
        ),
        (Layout::ScreenWithCamera | Layout::Auto, true, true) => {
            // A quarter of each side, a fortieth of the width from the corner.
            let (pw, ph, margin) = (w / 4, h / 4, w / 40);
            (
                Some(Placement {
                    x: w - pw - margin,
                    y: h - ph - margin,
                    width: pw,
                    height: ph,
                    zorder: 2,
                }),
                Some(full(1)),
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Camera,
    Screen,
    Audio,
}

struct Input {
    producer: ProducerId,
    role: Role,
    track: ConsumedTrack,
    bin: gst::Bin,
    /// The compositor's or the mixer's pad it feeds.
    pad: gst::Pad,
    forward: tokio::task::JoinHandle<()>,
}

/// The composing stage of a playing pipeline, and its inputs.
pub(crate) struct Composer {
    pipeline: gst::Pipeline,
    compositor: gst::Element,
    mixer: gst::Element,
    layout: Layout,
    width: u32,
    height: u32,
    inputs: Vec<Input>,
    counters: Arc<Counters>,
    events: mpsc::UnboundedSender<SessionEvent>,
    next: u32,
}

impl Composer {
    /// Live black background -> compositor -> the frame the encoder takes
    /// (`video-compose-caps`, linked by the caller). Before the pipeline plays.
    pub(crate) fn build(
        pipeline: &gst::Pipeline,
        output: &OutputProfile,
        layout: Layout,
        counters: Arc<Counters>,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Result<(Self, gst::Element), EgressError> {
        let frame = format!(
            "video/x-raw,width={},height={},framerate={}/1,pixel-aspect-ratio=1/1",
            output.width, output.height, output.fps
        );
        let background = make("videotestsrc", "video-background")?;
        background.set_property_from_str("pattern", "black");
        background.set_property("is-live", true);
        let background_caps = caps_filter("video-background-caps", &frame)?;
        let compositor = make("compositor", COMPOSITOR)?;
        compositor.set_property_from_str("background", "black");
        compositor.set_property("latency", AGGREGATOR_LATENCY.nseconds());
        let convert = make("videoconvert", "video-compose-convert")?;
        let caps = caps_filter(
            "video-compose-caps",
            &format!(
                "video/x-raw,format=I420,width={},height={},framerate={}/1,pixel-aspect-ratio=1/1",
                output.width, output.height, output.fps
            ),
        )?;
        add_chain(pipeline, &[&background, &background_caps])?;
        add_chain(pipeline, &[&compositor, &convert, &caps])?;
        let pad = compositor
            .request_pad_simple("sink_%u")
            .ok_or_else(|| EgressError::Pipeline("compositor gave no pad".to_owned()))?;
        pad.set_property("zorder", 0u32);
        background_caps
            .static_pad("src")
            .ok_or_else(|| EgressError::Pipeline("capsfilter has no src pad".to_owned()))?
            .link(&pad)?;
        let mixer = pipeline
            .by_name("audio-mixer")
            .ok_or_else(|| EgressError::Pipeline("no audio mixer".to_owned()))?;
        mixer.set_property("latency", AGGREGATOR_LATENCY.nseconds());
        Ok((
            Self {
                pipeline: pipeline.clone(),
                compositor,
                mixer,
                layout,
                width: output.width,
                height: output.height,
                inputs: Vec::new(),
                counters,
                events,
                next: 0,
            },
            caps,
        ))
    }

    /// Makes the inputs `wanted`: removes the others, adds the missing ones
    /// (all on `router`), and places the pictures. On an error the inputs
    /// added so far stay.
    pub(crate) async fn set(
        &mut self,
        router: &Router,
        wanted: &ComposeInputs,
    ) -> Result<(), EgressError> {
        let roles: Vec<(ProducerId, Role)> = wanted
            .camera
            .map(|p| (p, Role::Camera))
            .into_iter()
            .chain(wanted.screen.map(|p| (p, Role::Screen)))
            .chain(wanted.audio.iter().map(|p| (*p, Role::Audio)))
            .collect();
        let gone: Vec<ProducerId> = self
            .inputs
            .iter()
            .filter(|i| !roles.contains(&(i.producer, i.role)))
            .map(|i| i.producer)
            .collect();
        for producer in gone {
            self.remove(producer);
        }
        let mut result = Ok(());
        for (producer, role) in roles {
            if self.inputs.iter().any(|i| i.producer == producer) {
                continue;
            }
            if let Err(error) = self.add(router, producer, role).await {
                result = Err(error);
                break;
            }
        }
        self.place();
        let _ = self.pipeline.recalculate_latency();
        result
    }

    /// Drops an input (its producer closed); the picture goes on without it.
    pub(crate) fn remove(&mut self, producer: ProducerId) {
        let Some(index) = self.inputs.iter().position(|i| i.producer == producer) else {
            return;
        };
        let input = self.inputs.remove(index);
        tracing::info!(%producer, role = ?input.role, "composed input removed");
        // Stopped first: its streaming thread leaves the aggregator's pad,
        // which can then go.
        let _ = input.bin.set_state(gst::State::Null);
        if let Some(src) = input.bin.static_pad("src")
            && let Some(peer) = src.peer()
        {
            let _ = src.unlink(&peer);
        }
        let aggregator = match input.role {
            Role::Audio => &self.mixer,
            Role::Camera | Role::Screen => &self.compositor,
        };
        aggregator.release_request_pad(&input.pad);
        let _ = self.pipeline.remove(&input.bin);
        input.forward.abort();
        self.place();
    }

    /// Drops every input (before the end of the stream: an input whose
    /// rtpbin never saw a packet would hold its end back).
    pub(crate) fn remove_all(&mut self) {
        let producers: Vec<ProducerId> = self.inputs.iter().map(|i| i.producer).collect();
        for producer in producers {
            self.remove(producer);
        }
    }

    /// Asks every video input for a keyframe.
    pub(crate) fn request_key_frames(&self) {
        for input in self.inputs.iter().filter(|i| i.role != Role::Audio) {
            let consumer = input.track.consumer().clone();
            tokio::spawn(async move {
                let _ = consumer.request_key_frame().await;
            });
        }
    }

    /// The camera's codec, else the screen's (for status).
    pub(crate) fn video_codec(&self) -> Option<RtpCodec> {
        [Role::Camera, Role::Screen].iter().find_map(|role| {
            self.inputs
                .iter()
                .find(|i| i.role == *role)
                .map(|i| i.track.stream.codec.clone())
        })
    }

    pub(crate) fn has_audio(&self) -> bool {
        self.inputs.iter().any(|i| i.role == Role::Audio)
    }

    async fn add(
        &mut self,
        router: &Router,
        producer: ProducerId,
        role: Role,
    ) -> Result<(), EgressError> {
        let kind = match role {
            Role::Audio => MediaKind::Audio,
            Role::Camera | Role::Screen => MediaKind::Video,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let track = ConsumedTrack::consume(router, producer, kind, None, tx).await?;
        // A closed producer is one input gone, not the egress's input lost.
        let events = self.events.clone();
        let forward = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if let SessionEvent::Input(
                    InputEvent::ProducerClosed(_) | InputEvent::TransportClosed(_),
                ) = event
                {
                    let _ = events.send(SessionEvent::ComposedInputClosed(producer));
                }
            }
        });
        self.next += 1;
        let built = self.input_bin(&track, role);
        let (bin, udpsrc) = match built {
            Ok(parts) => parts,
            Err(error) => {
                forward.abort();
                return Err(error);
            }
        };
        let aggregator = match role {
            Role::Audio => &self.mixer,
            Role::Camera | Role::Screen => &self.compositor,
        };
        self.pipeline.add(&bin)?;
        let pad = aggregator
            .request_pad_simple("sink_%u")
            .ok_or_else(|| EgressError::Pipeline("no aggregator pad".to_owned()))?;
        if role != Role::Audio {
            // Hidden until placed.
            pad.set_property("alpha", 0.0f64);
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
        }
        bin.static_pad("src")
            .ok_or_else(|| EgressError::Pipeline("input bin has no src pad".to_owned()))?
            .link(&pad)?;
        bin.sync_state_with_parent()?;
        let port = source::bound_port(&udpsrc)?;
        track.connect(port).await?;
        track.resume().await?;
        if role != Role::Audio {
            let _ = track.consumer().request_key_frame().await;
        }
        tracing::info!(%producer, ?role, "composed input added");
        self.inputs.push(Input {
            producer,
            role,
            track,
            bin,
            pad,
            forward,
        });
        Ok(())
    }

    /// udpsrc -> rtpbin -> depayloader -> decoder -> queue, behind a ghost src pad.
    fn input_bin(
        &self,
        track: &ConsumedTrack,
        role: Role,
    ) -> Result<(gst::Bin, gst::Element), EgressError> {
        let bin = gst::Bin::with_name(&format!("input-{}", self.next));
        let packets = match role {
            Role::Audio => Arc::clone(&self.counters.audio_packets),
            Role::Camera | Role::Screen => Arc::clone(&self.counters.video_packets),
        };
        let udpsrc = source::udp_source("input-udpsrc", &track.stream, packets)?;
        let rtpbin = source::rtpbin()?;
        bin.add_many([&udpsrc, &rtpbin])?;
        let sink = rtpbin
            .request_pad_simple("recv_rtp_sink_0")
            .ok_or_else(|| EgressError::Pipeline("rtpbin gave no pad".to_owned()))?;
        udpsrc
            .static_pad("src")
            .ok_or_else(|| EgressError::Pipeline("udpsrc has no src pad".to_owned()))?
            .link(&sink)?;
        let depay = source::depayloader(&track.stream.codec)?;
        let mut chain = vec![depay.clone()];
        match (&track.stream.codec, role) {
            (RtpCodec::Opus, Role::Audio) => {
                let decoder = make("opusdec", "decoder")?;
                decoder.set_property("plc", true);
                decoder.set_property("use-inband-fec", true);
                chain.extend([
                    decoder,
                    make("audioconvert", "convert")?,
                    make("audioresample", "resample")?,
                    caps_filter("caps", "audio/x-raw,rate=48000,channels=2")?,
                ]);
            }
            (RtpCodec::Vp8, Role::Camera | Role::Screen) => {
                chain.extend([make("vp8dec", "decoder")?, make("videoconvert", "convert")?]);
            }
            (RtpCodec::H264 { .. }, Role::Camera | Role::Screen) => {
                chain.extend([
                    make("avdec_h264", "decoder")?,
                    make("videoconvert", "convert")?,
                ]);
            }
            (codec, role) => {
                return Err(EgressError::UnsupportedCodec(format!(
                    "{codec:?} as the {role:?} input"
                )));
            }
        }
        let queue = make("queue", "queue")?;
        chain.push(queue.clone());
        add_chain(&bin, &chain.iter().collect::<Vec<_>>())?;
        if role != Role::Audio {
            forward_keyframe_requests(&depay, self.events.clone());
        }
        let depay_sink = depay
            .static_pad("sink")
            .ok_or_else(|| EgressError::Pipeline("depayloader has no sink pad".to_owned()))?;
        rtpbin.connect_pad_added(move |_, pad| {
            if pad.name().starts_with("recv_rtp_src_0_") && !depay_sink.is_linked() {
                let _ = pad.link(&depay_sink);
            }
        });
        let target = queue
            .static_pad("src")
            .ok_or_else(|| EgressError::Pipeline("queue has no src pad".to_owned()))?;
        let ghost = gst::GhostPad::builder_with_target(&target)?
            .name("src")
            .build();
        bin.add_pad(&ghost)?;
        Ok((bin, udpsrc))
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Places the pictures by `layout` from now on (on the next frame).
    pub(crate) fn set_layout(&mut self, layout: Layout) {
        if layout != self.layout {
            tracing::info!(from = ?self.layout, to = ?layout, "layout changed");
            self.layout = layout;
            self.place();
        }
    }

    /// Places (or hides) each picture as the layout says for the inputs there are.
    fn place(&self) {
        let find = |role| self.inputs.iter().find(|i| i.role == role);
        let (camera, screen) = (find(Role::Camera), find(Role::Screen));
        let (camera_at, screen_at) = placements(
            self.layout,
            camera.is_some(),
            screen.is_some(),
            self.width,
            self.height,
        );
        for (input, at) in [(camera, camera_at), (screen, screen_at)] {
            let Some(input) = input else {
                continue;
            };
            match at {
                Some(at) => {
                    input.pad.set_property("xpos", at.x);
                    input.pad.set_property("ypos", at.y);
                    input.pad.set_property("width", at.width);
                    input.pad.set_property("height", at.height);
                    input.pad.set_property("zorder", at.zorder);
                    input.pad.set_property("alpha", 1.0f64);
                }
                None => input.pad.set_property("alpha", 0.0f64),
            }
        }
    }
}

impl Drop for Composer {
    fn drop(&mut self) {
        for input in &self.inputs {
            input.forward.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: i32, y: i32, width: i32, height: i32, zorder: u32) -> Option<Placement> {
        Some(Placement {
            x,
            y,
            width,
            height,
            zorder,
        })
    }

    #[test]
    fn placement_table() {
        use Layout::*;
        let full = at(0, 0, 1280, 720, 1);
        let corner = at(1280 - 320 - 32, 720 - 180 - 32, 320, 180, 2);
        let cases = [
            // layout, camera, screen -> camera, screen
            (Auto, false, false, None, None),
            (Auto, true, false, full, None),
            (Auto, false, true, None, full),
            (Auto, true, true, corner, full),
            (ScreenWithCamera, true, true, corner, full),
            (ScreenWithCamera, true, false, full, None),
            (Camera, true, true, full, None),
            (Camera, false, true, None, full),
            (Screen, true, true, None, full),
            (Screen, true, false, full, None),
            (
                SideBySide,
                true,
                true,
                at(640, 0, 640, 720, 1),
                at(0, 0, 640, 720, 1),
            ),
            (SideBySide, false, true, None, full),
        ];
        for (layout, camera, screen, camera_at, screen_at) in cases {
            assert_eq!(
                placements(layout, camera, screen, 1280, 720),
                (camera_at, screen_at),
                "{layout:?} camera={camera} screen={screen}"
            );
        }
    }
}
