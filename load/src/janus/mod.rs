//! Janus, the peer SFU Podium is measured against (issue 9): the same bots
//! and the same teacher media, on Janus's VideoRoom plugin.
//!
//! - [`netns`]: the network namespace and veth pair a run makes and removes
//!   itself: Janus on the namespace's end, the bots on the host's end.
//! - [`config`]: a configuration folder for one run (only the VideoRoom and
//!   the HTTP transport; Janus's own advice for scale, listed there).
//! - [`process`]: the `janus` process, in the namespace (`ip netns exec`),
//!   tied to the tool, stopped on drop.
//! - [`api`]: the Janus API over HTTP (sessions, handles, long poll,
//!   keepalives, typed errors); [`videoroom`]: the requests a class needs.
//! - [`sdp`]: offer and answer on str0m's SDP API; [`teacher`] publishes the
//!   pre-encoded simulcast and Opus through the usual publisher thread;
//!   [`student`] subscribes and hands its `Rtc` and streams to a shard.
//!
//! A run: [`netns::Netns::create`] → [`config::JanusConfig::new`] on its
//! `ns_ip` → [`process::Janus::launch`] → [`api::Api::new`] on the
//! launched Janus's `base_url` → [`videoroom::create_room`] →
//! [`teacher::JanusTeacher::start`] on `host_ip` → per student
//! [`sdp::student_rtc`] and [`student::join`], each student's media in a
//! shard like a Podium student's. `crate::testbed::Testbed::open_janus`
//! does all of it; `podium-load ramp|smoke --peer janus` runs it.
//!
//! # Addresses
//!
//! Janus 1.1 gathers no ICE candidate on a loopback interface, and this
//! project's rule is that test traffic goes only to loopback or to
//! addresses the test made itself, never to the machine's own interfaces
//! (eth0). So Janus runs in a namespace of the tool's making with a veth
//! pair into it, on a private /30 (`10.254.<k>.0/30`, one free on the
//! host): Janus's HTTP API and ICE on `.2` inside, the bots on `.1`
//! outside. Running it needs root (`ip netns`), here and in CI.
//!
//! # In the ramp
//!
//! The namespace is handed to [`process::Janus::launch`], which owns it:
//! Janus stops, then the namespace goes. The teacher and every shard bind
//! on the host's end (`netns.host_ip`) in place of 127.0.0.1; CPU and
//! memory are sampled on `janus.pid`, which is Janus's own (`ip netns exec`
//! execs it). Socket drops inside the namespace are not visible from the
//! host's `/proc/net/udp`: a Janus step reports none.

pub mod api;
pub mod config;
pub mod netns;
pub mod process;
pub mod sdp;
pub mod student;
pub mod teacher;
pub mod videoroom;

/// The class the students of a Janus run join: the API, the room and the
/// teacher's feed.
pub struct JanusClass {
    pub api: api::Api,
    pub room: u64,
    pub feed: u64,
}
