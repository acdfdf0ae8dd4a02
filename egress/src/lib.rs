//! # Podium egress: a room's media out of the SFU, encoded once for every output
//!
//! Given a mediasoup [`Router`](mediasoup::prelude::Router) and producer
//! ids, an egress reads either one video producer (VP8 or H.264) and one
//! Opus producer, or a camera and a screen composed into one picture with
//! microphones mixed ([`EgressInput::Composed`], changed live), encodes video
//! once and audio once (H.264 + AAC-LC 48 kHz stereo), and feeds every
//! output from that: RTMP(S) destinations (Amazon IVS, Twitch, YouTube or
//! any RTMP server) and an MP4 file. It knows nothing of rooms, peers or
//! signaling.
//!
//! ## The model, in order
//!
//! 1. **Input** (`source`). For each producer the egress creates a
//!    PlainTransport on 127.0.0.1 (rtcp-mux, comedia off) and a *paused*
//!    consumer; mediasoup sends RTP to a udpsrc of the pipeline, through
//!    rtpbin (which also reads the sender reports for lip-sync). Consumers
//!    resume only once the pipeline plays, then a keyframe is requested:
//!    without one the pipeline emits nothing and says nothing. A simulcast
//!    consumer is pinned to one layer (the top one unless
//!    [`EgressSpec::simulcast_layer`] says otherwise). Composed (`compose`):
//!    each input is its own bin (udpsrc -> rtpbin -> depayload -> decode)
//!    into a `compositor` over a live black background and an `audiomixer`
//!    over live silence, added and removed while the pipeline plays;
//!    where each picture goes is [`Layout`]'s pure placement table.
//! 2. **Video** (`encode`). H.264 whose profile the output accepts passes
//!    through: depayload, parse, mux, no decoder, no encoder; the producer
//!    is asked for a keyframe every `keyframe_interval` (2 s), which is what
//!    makes the GOP. Anything else (VP8, or [`VideoMode::Reencode`]) is
//!    decoded, scaled (letterboxed) to the preset's size, rate-converted and
//!    encoded by x264 in true CBR (HRD + filler) with a fixed 2 s GOP.
//! 3. **Audio.** Opus is decoded and mixed with silence (the audio track
//!    never stops, even with no microphone), then encoded to AAC-LC.
//! 4. **Outputs** (`output`: one trait for every kind: attach to
//!    the encoded streams, detach, stats, and each kind sorts its own
//!    errors). Video and audio are encoded once and split by tees; an RTMP
//!    destination (`rtmp`) takes the FLV stream muxed once for all of them
//!    (a leaky queue -> rtmp2sink, behind a pad that swallows the sink's flow
//!    errors and holds back video until a keyframe); a recording's file
//!    (`file`) takes the elementary streams into a fragmented MP4. An output
//!    that fails, hangs or is slow never stalls the others, and outputs are
//!    added and removed while live.
//! 5. **Supervision** (`supervisor`). One task per egress sorts every bus
//!    error (one error path), reconnects failed destinations with
//!    exponential backoff (a pure, table-tested policy: [`retry::decide`]),
//!    watches each live destination's byte counters for a hung ingest
//!    (rtmp2sink reports nothing for a minute or more when a server stops
//!    reading), and publishes [`EgressStatus`] and [`EgressEvent`]s.
//!
//! ## Where destinations may point
//!
//! Whoever starts an egress picks the host and port the server connects
//! to, so every destination is checked ([`NetworkPolicy`]) before each
//! connection attempt: its port must be allowed (1935 and 443 by default)
//! and its host must resolve to public unicast addresses only (loopback,
//! private, link-local, CGNAT, multicast, documentation and other special
//! ranges, and their IPv4-mapped and NAT64 forms, are refused:
//! [`forbidden_range`]), unless the operator allowlisted it. rtmp2sink is
//! then bound to exactly the addresses checked, through a process-wide GIO
//! resolver that answers only with them (`pin`: it keeps the host name for
//! TLS). A refusal at start or on `add_destination` is
//! [`EgressError::DestinationRefused`]; later, the destination fails for
//! good with the same words.
//!
//! ## What the server calls
//!
//! ```text
//! // Once, from the [egress] config section:
//! let manager = EgressManager::new(EgressConfig {
//!     retry: RetryPolicy {
//!         initial: ms(retry_initial_ms), max: ms(retry_max_ms),
//!         give_up_after: (give_up_after_secs > 0).then(|| secs(give_up_after_secs)),
//!         ..Default::default()
//!     },
//!     watchdog: secs(watchdog_secs),
//!     input_grace: secs(teacher_grace_secs),
//!     network: NetworkPolicy::new(allow_ports, &allow_hosts)?,
//!     ..Default::default()                  // tls: TlsValidation::Full
//! });
//!
//! // POST /admin/egress (admin, or a teacher if config allows): on the router
//! // where the producers live (the room's home router).
//! let spec = EgressSpec::new(room_id, video_producer, Some(audio_producer), destinations);
//! let egress = manager.start(&router, spec).await?;     // EgressError -> 4xx/5xx
//!
//! // Notifications and /metrics:
//! let mut events = egress.events();                      // EgressEvent: serde, camelCase
//! let status = egress.status();                          // EgressStatus: serde, no secrets
//! let mut updates = egress.subscribe();                  // watch: changes + figures every 1 s
//!
//! // Live edits:
//! egress.add_destination(spec).await?;  egress.remove_destination(id).await?;
//! // EgressEvent::InputEnded { kind: Video } -> state waitingForInput; when the
//! // teacher publishes again within input_grace:
//! egress.replace_input(new_video, Some(new_audio)).await?;
//! // GET / DELETE:
//! manager.list();  manager.status(id);  manager.stop(id).await?;  manager.stop_all().await;
//! ```
//!
//! ## Secrets
//!
//! Stream keys are [`StreamKey`]s: `Debug` prints `***`, no `Display`, no
//! `Serialize`. Each destination is parsed once into the pieces given only
//! to rtmp2sink (host, port, application, stream name: no URL for it to
//! parse differently) and a redacted URL (`rtmps://host/app/***`), which is
//! all that logs, errors and status ever show; text from GStreamer is
//! scrubbed of every stream name of the egress, in every spelling it may
//! take there (as written, percent-decoded or -encoded, C-escaped), before
//! it goes anywhere.
//! (GStreamer's own debug log, `GST_DEBUG`, is not ours: at INFO and above
//! for `rtmp2*` it prints stream names; keep it off in production.)

#![warn(missing_docs)]

mod compose;
mod destination;
mod egress;
mod elements;
mod encode;
mod error;
mod file;
mod ids;
mod malloc;
mod manager;
mod network;
mod output;
mod pin;
mod pipeline;
mod profile;
pub mod retry;
mod rtmp;
mod secret;
mod session;
mod source;
mod status;
mod supervisor;
mod watchdog;

pub use compose::{Compose, ComposeInputs, Layout};
pub use destination::{
    DestinationError, DestinationSpec, DestinationSpecExt, Ingest, TWITCH_DEFAULT_INGEST,
    YOUTUBE_RTMPS,
};
pub use egress::{Egress, EgressConfig, EgressInput, EgressSpec};
pub use error::EgressError;
pub use ids::{DestinationId, EgressId};
pub use malloc::limit_malloc_arenas;
pub use manager::{EgressManager, KEEP_ENDED};
pub use network::{Lookup, NetworkPolicy, Refusal, forbidden_range};
pub use profile::{
    H264Profile, InputVideoCodec, OutputProfile, Preset, VideoMode, VideoPath, choose_video_path,
};
pub use retry::{ErrorClass, GiveUpReason, RetryDecision, RetryPolicy, RetryState};
pub use rtmp::TlsValidation;
pub use secret::StreamKey;
pub use status::{
    DestinationState, DestinationStats, DestinationStatus, EgressEvent, EgressState, EgressStats,
    EgressStatus, FileState, FileStatus, InputStatus, StopReason,
};
