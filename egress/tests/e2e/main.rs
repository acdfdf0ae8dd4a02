//! The egress crate's integration tests, one binary: a real mediasoup worker
//! and producer (podium-testkit's sender), GStreamer, and for the end-to-end
//! ones a local nginx-rtmp (TLS in front for RTMPS) judged by ffprobe.
//!
//! `start` and the first two `network_policy` tests need no ingest and run
//! with every `cargo test`; the others are `#[ignore]`d and run by
//! `egress/run-e2e.sh` (one at a time: each runs a live encode).

mod support;

mod compose;
mod dropping_ingest;
mod hung_ingest;
mod ingest_restart;
mod network_policy;
mod passthrough;
mod recording;
mod reencode_rtmp;
mod rtmps;
mod start;
mod two_destinations;
