//! The TypeScript the browser client compiles against, generated from the
//! Rust types with ts-rs.

use crate::signaling::RESPONSE_TYPES;
use crate::*;
use ts_rs::{Config, TS};

/// Where the generated file lives, from the repository root.
pub const TYPESCRIPT_PATH: &str = "client/src/generated/protocol.ts";

fn push<T: TS>(out: &mut String, cfg: &Config) {
    if let Some(docs) = T::docs() {
        out.push_str(&docs);
    }
    out.push_str("export ");
    out.push_str(&T::decl(cfg));
    out.push_str("\n\n");
}

/// The whole of `client/src/generated/protocol.ts`.
#[must_use]
pub fn typescript() -> String {
    // u64 figures (bytes, milliseconds) stay far below 2^53: plain numbers.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from the podium-protocol crate (protocol/src) by ts-rs: do not edit.\n\
         // `PODIUM_UPDATE_DOCS=1 cargo test -p podium-protocol` rewrites it.\n\n\
         import type { types } from 'mediasoup-client';\n\n",
    );
    let out_ref = &mut out;
    // Ids
    push::<PeerId>(out_ref, &cfg);
    push::<ProducerId>(out_ref, &cfg);
    push::<ConsumerId>(out_ref, &cfg);
    push::<TransportId>(out_ref, &cfg);
    push::<EgressId>(out_ref, &cfg);
    push::<DestinationId>(out_ref, &cfg);
    push::<RecordingId>(out_ref, &cfg);
    // Errors
    push::<ErrorCode>(out_ref, &cfg);
    push::<ErrorBody>(out_ref, &cfg);
    // Signaling
    push::<Role>(out_ref, &cfg);
    push::<Source>(out_ref, &cfg);
    push::<Direction>(out_ref, &cfg);
    push::<Request>(out_ref, &cfg);
    push::<PeerInfo>(out_ref, &cfg);
    push::<ProducerInfo>(out_ref, &cfg);
    push::<Joined>(out_ref, &cfg);
    push::<IceServer>(out_ref, &cfg);
    push::<IceTransportPolicy>(out_ref, &cfg);
    push::<TransportCreated>(out_ref, &cfg);
    push::<IceRestarted>(out_ref, &cfg);
    push::<Produced>(out_ref, &cfg);
    push::<ConsumerType>(out_ref, &cfg);
    push::<Consumed>(out_ref, &cfg);
    push::<RestreamStarted>(out_ref, &cfg);
    push::<recording::RecordingStarted>(out_ref, &cfg);
    push::<Empty>(out_ref, &cfg);
    push::<ChatFrom>(out_ref, &cfg);
    push::<CloseReason>(out_ref, &cfg);
    push::<Notification>(out_ref, &cfg);
    // Egress
    push::<StreamKey>(out_ref, &cfg);
    push::<Ingest>(out_ref, &cfg);
    push::<DestinationSpec>(out_ref, &cfg);
    push::<VideoMode>(out_ref, &cfg);
    push::<Layout>(out_ref, &cfg);
    push::<InputVideoCodec>(out_ref, &cfg);
    push::<VideoPath>(out_ref, &cfg);
    push::<EgressState>(out_ref, &cfg);
    push::<StopReason>(out_ref, &cfg);
    push::<DestinationState>(out_ref, &cfg);
    push::<FileState>(out_ref, &cfg);
    push::<FileStatus>(out_ref, &cfg);
    push::<DestinationStatus>(out_ref, &cfg);
    push::<DestinationStats>(out_ref, &cfg);
    push::<InputStatus>(out_ref, &cfg);
    push::<EgressStats>(out_ref, &cfg);
    push::<EgressStatus>(out_ref, &cfg);
    // Recordings
    push::<recording::RecordingState>(out_ref, &cfg);
    push::<recording::RecordingEnd>(out_ref, &cfg);
    push::<recording::RecordingSummary>(out_ref, &cfg);
    push::<recording::StartRecording>(out_ref, &cfg);
    push::<recording::RecordingList>(out_ref, &cfg);
    push::<recording::RecordingLink>(out_ref, &cfg);
    push::<recording::AutoRecord>(out_ref, &cfg);
    // Admin HTTP API
    push::<admin::TokenRequest>(out_ref, &cfg);
    push::<admin::IssuedToken>(out_ref, &cfg);
    push::<admin::PeerSummary>(out_ref, &cfg);
    push::<admin::BanSummary>(out_ref, &cfg);
    push::<admin::RestreamInputs>(out_ref, &cfg);
    push::<admin::RoomSummary>(out_ref, &cfg);
    push::<admin::RoomList>(out_ref, &cfg);
    push::<admin::StartRestream>(out_ref, &cfg);
    push::<admin::RestreamList>(out_ref, &cfg);
    push::<admin::SetLayout>(out_ref, &cfg);
    push::<admin::DestinationAdded>(out_ref, &cfg);

    out.push_str("/** Each method and the data of its successful response. */\nexport interface Responses {\n");
    for (method, ty) in RESPONSE_TYPES {
        out.push_str(&format!("  {method}: {ty};\n"));
    }
    out.push_str("}\n");
    out
}
