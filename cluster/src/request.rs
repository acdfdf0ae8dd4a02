//! Node-to-node HTTP requests (the internal API a room's home answers its
//! edges on), signed like bus messages: HMAC-SHA256 under the cluster secret
//! over the method, the path, the sending node, the time and the body. A
//! request with a wrong signature, dated more than [`MAX_AGE`] away from
//! the receiver's clock, or seen before (a [`ReplayGuard`]) is refused.

use crate::ClusterError;
use crate::bus::MAX_AGE;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

/// The sending node's id.
pub const NODE_HEADER: &str = "x-podium-node";
/// Unix milliseconds when it was sent.
pub const TIME_HEADER: &str = "x-podium-time";
/// Base64 HMAC-SHA256 of the request (see [`sign_request`]).
pub const SIGNATURE_HEADER: &str = "x-podium-signature";

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path and query, as sent.
    pub path: &'a str,
    /// The sending node's id.
    pub node: &'a str,
    /// Unix milliseconds when it was sent.
    pub time_ms: u64,
    pub body: &'a [u8],
}

fn mac(secret: &str, parts: &RequestParts<'_>) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    let time = parts.time_ms.to_string();
    for part in [parts.method, parts.path, parts.node, &time] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.update(parts.body);
    mac
}

/// The signature header's value for a request.
pub fn sign_request(secret: &str, parts: &RequestParts<'_>) -> String {
    STANDARD.encode(mac(secret, parts).finalize().into_bytes())
}

/// Checks a received request's signature, and its date against `now_ms`.
pub fn verify_request(
    secret: &str,
    parts: &RequestParts<'_>,
    signature: &str,
    now_ms: u64,
) -> Result<(), ClusterError> {
    let sig = STANDARD
        .decode(signature)
        .map_err(|_| ClusterError::Refused("signature is not base64".into()))?;
    mac(secret, parts)
        .verify_slice(&sig)
        .map_err(|_| ClusterError::Refused("wrong signature (another cluster secret?)".into()))?;
    let skew = now_ms.abs_diff(parts.time_ms);
    if skew > MAX_AGE.as_millis() as u64 {
        return Err(ClusterError::Refused(format!(
            "sent by {} {skew} ms away from this node's clock",
            parts.node
        )));
    }
    Ok(())
}

/// The signatures of the requests a node took while their dates are still
/// within the window [`verify_request`] takes (30 s either way): the same
/// request sent again (captured on the internal network and replayed) is
/// refused. Nodes sign each request afresh with a date of its own, retries
/// included, so no request of theirs is taken twice.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    signatures: HashSet<String>,
    /// (when the date check starts refusing it, signature), oldest first.
    expiries: VecDeque<(u64, String)>,
}

impl ReplayGuard {
    /// Takes the `signature` of a verified request dated `time_ms`, once.
    pub fn first_use(
        &self,
        signature: &str,
        time_ms: u64,
        now_ms: u64,
    ) -> Result<(), ClusterError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((until, _)) = seen.expiries.front()
            && *until < now_ms
        {
            let (_, old) = seen.expiries.pop_front().expect("a front");
            seen.signatures.remove(&old);
        }
        if !seen.signatures.insert(signature.to_owned()) {
            return Err(ClusterError::Refused(
                "a request seen before (replayed)".into(),
            ));
        }
        let until = time_ms + MAX_AGE.as_millis() as u64;
        seen.expiries.push_back((until, signature.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sixteen chars at least";

    fn parts<'a>(
        method: &'a str,
        path: &'a str,
        node: &'a str,
        time_ms: u64,
        body: &'a [u8],
    ) -> RequestParts<'a> {
        RequestParts {
            method,
            path,
            node,
            time_ms,
            body,
        }
    }

    #[test]
    fn a_signed_request_passes_and_any_change_is_refused() {
        let sig = sign_request(SECRET, &parts("POST", "/internal/x", "a", 1_000, b"{}"));
        let check = |p: RequestParts<'_>, secret| verify_request(secret, &p, &sig, 2_000);
        check(parts("POST", "/internal/x", "a", 1_000, b"{}"), SECRET).unwrap();
        assert!(check(parts("DELETE", "/internal/x", "a", 1_000, b"{}"), SECRET).is_err());
        assert!(check(parts("POST", "/internal/y", "a", 1_000, b"{}"), SECRET).is_err());
        assert!(check(parts("POST", "/internal/x", "b", 1_000, b"{}"), SECRET).is_err());
        assert!(check(parts("POST", "/internal/x", "a", 1_001, b"{}"), SECRET).is_err());
        assert!(check(parts("POST", "/internal/x", "a", 1_000, b"{ }"), SECRET).is_err());
        let other = "another secret, also long";
        assert!(check(parts("POST", "/internal/x", "a", 1_000, b"{}"), other).is_err());
    }

    #[test]
    fn an_old_or_future_dated_request_is_refused() {
        let at = 100_000_000;
        let p = parts("GET", "/p", "a", at, b"");
        let sig = sign_request(SECRET, &p);
        let max = MAX_AGE.as_millis() as u64;
        assert!(verify_request(SECRET, &p, &sig, at + max).is_ok());
        assert!(verify_request(SECRET, &p, &sig, at + max + 1).is_err());
        assert!(verify_request(SECRET, &p, &sig, at - max - 1).is_err());
    }

    #[test]
    fn a_request_is_taken_once_while_its_date_is_valid() {
        let guard = ReplayGuard::default();
        let max = MAX_AGE.as_millis() as u64;
        let at = 100_000_000;
        guard.first_use("one", at, at).unwrap();
        guard.first_use("two", at, at + 5).unwrap();
        assert!(guard.first_use("one", at, at + 10).is_err());
        assert!(guard.first_use("two", at, at + max).is_err());
        // Past its date's window the date check refuses it; the guard forgets it.
        guard
            .first_use("three", at + max + 1, at + max + 1)
            .unwrap();
        let seen = guard.seen.lock().unwrap();
        assert_eq!(seen.expiries.len(), 1);
        assert_eq!(seen.signatures.len(), 1);
    }
}
