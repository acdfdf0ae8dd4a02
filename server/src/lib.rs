//! Podium's server: live classes over mediasoup workers.
//!
//! A student joins: the page opens `/ws?token=...` ([`http`]), the token's
//! claims say which room and role ([`auth`]); the connection ([`signaling`])
//! joins the [`room`], which places the peer on the least-loaded worker
//! ([`workers`]) and pipes the teacher's producers to it. Errors are one type
//! ([`error`]) mapped to wire codes.

pub mod app;
pub mod auth;
pub mod cascade;
pub mod cluster;
pub mod codecs;
pub mod config;
pub mod error;
mod follow;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod ratelimit;
pub mod recording;
pub mod restream;
pub mod room;
pub mod signaling;
pub mod state;
pub mod telemetry;
pub mod turn;
pub mod workers;
