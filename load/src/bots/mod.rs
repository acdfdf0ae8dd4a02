//! The simulated people: students (signaling, then their media handed to a
//! shard) and the teacher (signaling, then the publisher thread).

pub mod params;
pub mod student;
pub mod teacher;

use crate::engine::{BotEvent, BotId, Impairment, Profile, Shard, new_rtc};
use crate::signaling::Signal;
use anyhow::Context;
use params::RemoteTransport;
use podium_protocol::admin::IssuedToken;
use podium_protocol::{Empty, Request};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::config::DtlsCert;
use str0m::ice::IceCreds;
use str0m::{Candidate, Rtc};
use tokio::sync::mpsc::UnboundedSender;

/// What every bot of a run shares.
pub struct Ctx {
    /// `http://127.0.0.1:port`
    pub http: String,
    pub room: String,
    pub cert: DtlsCert,
    pub shards: Vec<Shard>,
    /// How students' WebRTC behaves.
    pub profile: Profile,
    /// The simulcast layer lean students pin (0 = lowest); browser-like
    /// ones leave it to mediasoup.
    pub layer: u8,
    /// The link of a share of the students (percent of them, picked by id).
    pub impairment: Option<Impairment>,
    pub impaired_pct: u32,
    pub client: reqwest::Client,
    pub join_timeout: Duration,
    /// The server's dev secret (`X-Podium-Dev`).
    pub dev_secret: String,
    /// In a Janus run: where the students subscribe (Podium's signaling
    /// above is then unused).
    pub janus: Option<crate::janus::JanusClass>,
    /// A cluster run: every node's base URL (the teacher's first); students
    /// are spread over them by id.
    pub nodes: Vec<String>,
}

impl Ctx {
    /// A join token from the dev-mode endpoint.
    pub async fn token(&self, name: &str, role: &str) -> anyhow::Result<String> {
        let url = format!("{}/api/dev/token", self.http);
        let issued: IssuedToken = self
            .client
            .get(&url)
            .query(&[("room", self.room.as_str()), ("name", name), ("role", role)])
            .header("x-podium-dev", &self.dev_secret)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .context("/api/dev/token (is the server in dev mode?)")?
            .json()
            .await
            .context("/api/dev/token answered without a token")?;
        Ok(issued.token)
    }

    /// The signaling endpoint; the token goes in a header ([`Signal::connect`]).
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.http.replacen("http", "ws", 1))
    }

    /// Where student `bot` connects: its node's signaling endpoint.
    pub fn student_ws_url(&self, bot: u64) -> String {
        match self.nodes.len() {
            0 | 1 => self.ws_url(),
            n => format!(
                "{}/ws",
                self.nodes[(bot as usize) % n].replacen("http", "ws", 1)
            ),
        }
    }

    pub fn shard(&self, bot: u64) -> &Shard {
        &self.shards[(bot as usize) % self.shards.len()]
    }

    /// A new str0m peer. Building one costs ~0.7 ms of CPU (OpenSSL loads
    /// the certificate into a fresh DTLS context): bots do it before their
    /// join is timed, as a browser builds its RTCPeerConnection on its own
    /// machine, not on the server's cores these bots share.
    pub fn new_rtc(&self) -> Rtc {
        new_rtc(&self.cert, Instant::now(), self.profile)
    }

    /// The link `bot` is behind, if it is among the impaired share: spread
    /// evenly over the ids, so any run of students has its share.
    pub fn impairment_for(&self, bot: u64) -> Option<Impairment> {
        let pct = u64::from(self.impaired_pct);
        let impaired = (bot + 1) * pct / 100 != bot * pct / 100;
        self.impairment.filter(|_| impaired)
    }

    /// What a student's timed join came to: its value, or nothing (the bot
    /// taken out of its shard, the failure told to `events`).
    pub fn joined<T>(
        &self,
        bot: BotId,
        started: Instant,
        events: &UnboundedSender<BotEvent>,
        outcome: Result<anyhow::Result<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        let error = match outcome {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => format!("{error:#}"),
            Err(_) => format!("no answer within {:?}", self.join_timeout),
        };
        tracing::debug!(bot, %error, "join failed");
        self.shard(bot).remove(bot);
        let _ = events.send(BotEvent::JoinFailed {
            bot,
            started,
            error,
        });
        None
    }

    /// Connects `rtc` to `transport` as a browser would: ICE controlling
    /// against mediasoup's ICE-lite, DTLS client. `declare` adds what it
    /// sends before DTLS starts. The transport is connected on return.
    pub async fn connect_rtc(
        &self,
        signal: &mut Signal,
        mut rtc: Rtc,
        local: SocketAddr,
        transport: &RemoteTransport,
        declare: impl FnOnce(&mut Rtc),
    ) -> anyhow::Result<Rtc> {
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        rtc.add_remote_candidate(Candidate::host(transport.udp, "udp")?);
        declare(&mut rtc);
        let local_fingerprint = {
            let mut api = rtc.direct_api();
            api.set_ice_controlling(true);
            api.set_remote_ice_credentials(IceCreds {
                ufrag: transport.ufrag.clone(),
                pass: transport.password.clone(),
            });
            api.set_remote_fingerprint(transport.fingerprint.clone());
            let fingerprint = api.local_dtls_fingerprint().clone();
            api.start_dtls(true)?;
            fingerprint
        };
        signal
            .request::<Empty>(Request::ConnectTransport {
                transport_id: transport.id,
                dtls_parameters: params::dtls_parameters(&local_fingerprint)?,
            })
            .await?;
        Ok(rtc)
    }
}

pub type SharedCtx = Arc<Ctx>;
