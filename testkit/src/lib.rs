//! Podium's shared test set-up, once for every crate's tests (a
//! dev-dependency of podium-server and podium-egress; it depends on
//! neither):
//!
//! - [`media`]: a mediasoup worker and router with the codecs Podium routes,
//!   and the loopback `ListenInfo`;
//! - [`rtp`]: plain RTP by hand (Opus parameters, packets) for tests that
//!   talk to the worker without a browser;
//! - [`sender`]: a GStreamer RTP sender feeding PlainTransport producers;
//! - [`ingest`]: a local nginx-rtmp (TLS in front for RTMPS) from the one
//!   config template, `testkit/nginx-rtmp.conf`;
//! - [`ffprobe`]: the judge of what an RTMP player receives, run as
//!   `testkit/ffprobe.json` says;
//! - [`cert`]: self-signed certificates (TLS, DTLS, the RTMPS ingest);
//! - [`logs`]: every log line of the test process, to prove no secret is in
//!   any of them.
//!
//! Every nginx and ffprobe started here dies with the test process
//! (PR_SET_PDEATHSIG), even if it is killed.

#![warn(missing_docs)]

pub mod cert;
pub mod ffprobe;
pub mod ingest;
pub mod logs;
pub mod media;
pub mod redis;
pub mod rtp;
pub mod sender;

pub use ingest::free_port;
pub use media::loopback_listen_info;

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the kernel kill `command`'s process when the test process dies,
/// even without running any Drop.
pub(crate) fn dies_with_us(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
