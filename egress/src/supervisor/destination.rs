//! RTMP destinations as the supervisor runs them: each connection attempt
//! (host check, sink bin on the tee), going live, the watchdog's verdict, and
//! the retry decision when one fails.

use super::Supervisor;
use super::rate::RateWindow;
use crate::destination::{DestinationSpec, RtmpTarget};
use crate::error::EgressError;
use crate::ids::DestinationId;
use crate::network::{self, Vetting};
use crate::output::Output;
use crate::retry::{self, ErrorClass, RetryDecision, RetryState};
use crate::rtmp::{RtmpSink, SinkName};
use crate::status::{DestinationState, DestinationStats, DestinationStatus, EgressEvent};
use crate::watchdog::{Sample, Verdict, Watchdog};
use rand::Rng;
use std::time::Instant;

pub(super) struct Destination {
    pub(super) id: DestinationId,
    pub(super) target: RtmpTarget,
    pub(super) state: DestinationState,
    pub(super) retry: RetryState,
    pub(super) next_attempt: Option<Instant>,
    pub(super) sink: Option<RtmpSink>,
    /// The host check of the attempt under way, if it has not answered yet.
    pub(super) vetting: Option<u64>,
    pub(super) watchdog: Option<Watchdog>,
    /// Bytes of finished connections, and of the current one.
    pub(super) bytes_before: u64,
    pub(super) bytes_now: u64,
    pub(super) rate: RateWindow,
    pub(super) live_since: Option<Instant>,
    pub(super) connects: u32,
}

impl Destination {
    pub(super) fn new(id: DestinationId, target: RtmpTarget) -> Self {
        Self {
            id,
            target,
            state: DestinationState::Starting,
            retry: RetryState::default(),
            next_attempt: None,
            sink: None,
            vetting: None,
            watchdog: None,
            bytes_before: 0,
            bytes_now: 0,
            rate: RateWindow::default(),
            live_since: None,
            connects: 0,
        }
    }

    pub(super) fn status(&self, now: Instant) -> DestinationStatus {
        let mut state = self.state.clone();
        if let (DestinationState::Reconnecting { retry_in_ms, .. }, Some(at)) =
            (&mut state, self.next_attempt)
        {
            *retry_in_ms = at.saturating_duration_since(now).as_millis() as u64;
        }
        DestinationStatus {
            id: self.id,
            url: self.target.redacted.clone(),
            state,
            stats: DestinationStats {
                bytes_out: self.bytes_before + self.bytes_now,
                bitrate_bps: self.rate.per_second(8.0) as u64,
                uptime_secs: self
                    .live_since
                    .map_or(0.0, |t| now.duration_since(t).as_secs_f64()),
                reconnects: self.connects.saturating_sub(1),
            },
        }
    }
}

/// The answer of a connection attempt's host check.
pub(super) struct Vetted {
    pub(super) destination: DestinationId,
    pub(super) token: u64,
    pub(super) result: Result<Vec<std::net::IpAddr>, Vetting>,
}

impl Supervisor {
    pub(super) fn add_destination(
        &mut self,
        spec: DestinationSpec,
    ) -> Result<DestinationId, EgressError> {
        let target = crate::destination::parse(&spec)
            .map_err(|error| EgressError::InvalidDestination { index: 0, error })?;
        self.scrubber.add(target.secrets.iter().cloned());
        let id = DestinationId::new();
        tracing::info!(destination = %id, url = %target.redacted, "destination added");
        self.destinations.push(Destination::new(id, target));
        let index = self.destinations.len() - 1;
        self.emit_destination(index);
        if self.session.is_some() {
            self.connect(index, Instant::now());
        }
        self.refresh_state();
        Ok(id)
    }

    pub(super) async fn remove_destination(
        &mut self,
        id: DestinationId,
    ) -> Result<(), EgressError> {
        let index = self
            .destinations
            .iter()
            .position(|d| d.id == id)
            .ok_or(EgressError::UnknownDestination(id))?;
        if self.destinations.len() == 1 {
            return Err(EgressError::LastDestination);
        }
        let mut destination = self.destinations.remove(index);
        if let (Some(sink), Some(session)) = (destination.sink.take(), &self.session) {
            let _ = session.pipeline.detach(sink, true).await;
        }
        tracing::info!(destination = %id, url = %destination.target.redacted, "destination removed");
        destination.state = DestinationState::Stopped;
        let _ = self.events.send(EgressEvent::DestinationChanged {
            egress: self.id,
            destination: id,
            url: destination.target.redacted.clone(),
            state: DestinationState::Stopped,
        });
        self.refresh_state();
        Ok(())
    }

    /// Samples a connected destination: live once bytes go out, failed when
    /// the watchdog says so.
    pub(super) fn check_destination(&mut self, index: usize, now: Instant) {
        let input_flowing = self.input_flowing;
        let watchdog_timeout = self.config.watchdog;
        let destination = &mut self.destinations[index];
        let Some(sink) = &destination.sink else {
            return;
        };
        let stats = sink.stats();
        destination.bytes_now = stats.bytes_out;
        destination
            .rate
            .push(now, destination.bytes_before + stats.bytes_out);
        if stats.bytes_out > 0 && destination.state != DestinationState::Live {
            destination.state = DestinationState::Live;
            destination.retry.went_live(now);
            destination.live_since = Some(now);
            tracing::info!(
                destination = %destination.id,
                url = %destination.target.redacted,
                reconnects = destination.connects.saturating_sub(1),
                "destination live"
            );
            self.emit_destination(index);
            self.refresh_state();
        }
        let destination = &mut self.destinations[index];
        let verdict = destination.watchdog.as_mut().map(|dog| {
            dog.observe(Sample {
                now,
                out_bytes: stats.bytes_out,
                acked_bytes: stats.bytes_acked.unwrap_or(0),
                input_flowing,
            })
        });
        if let Some(Verdict::Stalled(reason)) = verdict {
            self.destination_failed(
                index,
                ErrorClass::Transient,
                reason.describe(watchdog_timeout),
            );
        }
    }

    /// Starts a connection attempt: first the host is resolved and checked
    /// against the network policy (again at every attempt: what a name
    /// resolves to may change), off this task; [`Self::on_vetted`] goes on.
    pub(super) fn connect(&mut self, index: usize, _now: Instant) {
        if self.session.is_none() {
            return;
        }
        self.next_vet += 1;
        let token = self.next_vet;
        let destination = &mut self.destinations[index];
        destination.next_attempt = None;
        destination.vetting = Some(token);
        let policy = self.config.network.clone();
        let host = destination.target.host.clone();
        let port = destination.target.port;
        let id = destination.id;
        let reply = self.vetted_tx.clone();
        tokio::spawn(async move {
            let result = policy.vet(&host, port).await;
            let _ = reply.send(Vetted {
                destination: id,
                token,
                result,
            });
        });
    }

    /// The host check of an attempt answered: connect to the addresses it
    /// cleared (pinned for GIO), or fail the attempt.
    pub(super) fn on_vetted(&mut self, vetted: Vetted) {
        let Some(index) = self
            .destinations
            .iter()
            .position(|d| d.id == vetted.destination && d.vetting == Some(vetted.token))
        else {
            return; // removed, or a later attempt superseded it
        };
        self.destinations[index].vetting = None;
        if self.session.is_none() {
            return;
        }
        match vetted.result {
            Ok(addresses) => {
                let host = &self.destinations[index].target.host;
                if network::literal(host).is_none() {
                    crate::pin::pin(host, &addresses);
                }
                self.attach(index, Instant::now());
            }
            Err(Vetting::Refused(reason)) => self.destination_failed(
                index,
                ErrorClass::Refused,
                format!("destination refused: {reason}"),
            ),
            Err(Vetting::Unresolved) => self.destination_failed(
                index,
                ErrorClass::Transient,
                "the ingest host name did not resolve".to_owned(),
            ),
        }
    }

    /// A fresh sink bin on the tee, for a destination whose host was cleared.
    pub(super) fn attach(&mut self, index: usize, now: Instant) {
        let Some(session) = &self.session else {
            return;
        };
        self.generation = self.generation.wrapping_add(1);
        let destination = &mut self.destinations[index];
        let name = SinkName {
            destination: destination.id,
            generation: self.generation,
        };
        let attached = RtmpSink::build(
            name,
            &destination.target,
            self.config.tls,
            self.config.rtmp_timeout,
        )
        .and_then(|sink| session.pipeline.attach(&sink).map(|()| sink));
        match attached {
            Ok(sink) => {
                tracing::debug!(destination = %destination.id, url = %destination.target.redacted, "connecting");
                destination.sink = Some(sink);
                destination.bytes_now = 0;
                destination.connects += 1;
                // The connect limit covers the TCP/TLS/RTMP handshakes, which
                // rtmp2sink times out on its own; this catches the rest.
                let connect_limit = self.config.rtmp_timeout * 3;
                destination.watchdog =
                    Some(Watchdog::new(now, self.config.watchdog, connect_limit));
            }
            Err(error) => {
                let message = self.scrubber.scrub(&error.to_string());
                self.destination_failed(index, ErrorClass::Transient, message);
            }
        }
    }

    /// Applies the retry decision to a destination that just failed.
    pub(super) fn destination_failed(&mut self, index: usize, class: ErrorClass, message: String) {
        let now = Instant::now();
        let random = self.rng.gen_range(-1.0..=1.0);
        let destination = &mut self.destinations[index];
        if let (Some(sink), Some(session)) = (destination.sink.take(), &self.session) {
            // Not awaited here (the supervisor goes on), but before the
            // pipeline stops: see `close_session`.
            self.detaching.retain(|d| !d.is_finished());
            self.detaching.push(session.pipeline.detach(sink, false));
        }
        destination.watchdog = None;
        destination.bytes_before += destination.bytes_now;
        destination.bytes_now = 0;
        destination.live_since = None;
        let (decision, next) =
            retry::decide(&self.config.retry, destination.retry, class, now, random);
        destination.retry = next;
        match decision {
            RetryDecision::Retry { attempt, delay } => {
                tracing::warn!(
                    destination = %destination.id,
                    url = %destination.target.redacted,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    error = %message,
                    "destination down; reconnecting"
                );
                destination.state = DestinationState::Reconnecting {
                    attempt,
                    last_error: message,
                    retry_in_ms: delay.as_millis() as u64,
                };
                destination.next_attempt = Some(now + delay);
            }
            RetryDecision::GiveUp(reason) => {
                tracing::error!(
                    destination = %destination.id,
                    url = %destination.target.redacted,
                    ?reason,
                    error = %message,
                    "destination failed"
                );
                destination.state = DestinationState::Failed {
                    error: reason.describe(&self.config.retry, &message),
                };
                destination.next_attempt = None;
            }
        }
        self.emit_destination(index);
        self.refresh_state();
    }

    pub(super) fn emit_destination(&mut self, index: usize) {
        self.dirty = true;
        let destination = &self.destinations[index];
        let _ = self.events.send(EgressEvent::DestinationChanged {
            egress: self.id,
            destination: destination.id,
            url: destination.target.redacted.clone(),
            state: destination.state.clone(),
        });
    }
}
