//! The server launcher and its protocol client; the rest of the shared
//! set-up (certificates, RTP by hand, log capture) is podium-testkit.

pub mod app;
