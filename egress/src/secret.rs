//! Secrets (stream keys, URLs that embed them) and the scrubber that keeps
//! them out of every string this crate builds from foreign text.

use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;

pub use podium_protocol::StreamKey;

/// A secret handed to the RTMP client: the stream name (the key, with any
/// query of a custom URL).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretUrl(String);

impl SecretUrl {
    pub(crate) fn new(url: String) -> Self {
        Self(url)
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretUrl(***)")
    }
}

pub(crate) const REDACTED: &str = "***";

/// Every secret of one egress, replaced by `***` in any text that came from
/// GStreamer or a server (error messages, debug strings): rtmp2sink may echo
/// the stream name in its errors.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Scrubber {
    pub(crate) fn add(&self, secrets: impl IntoIterator<Item = String>) {
        let mut list = self.secrets.write();
        for secret in secrets {
            // Very short strings would shred ordinary words; keys are long.
            if secret.len() >= 4 && !list.contains(&secret) {
                list.push(secret);
            }
        }
        // Longest first, so a URL is replaced whole before the key inside it.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        let list = self.secrets.read();
        let mut out = text.to_owned();
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let key = StreamKey::new("live_123_secret");
        assert_eq!(format!("{key:?}"), "StreamKey(***)");
        let url = SecretUrl::new("rtmp://h/app/live_123_secret".into());
        assert!(!format!("{url:?}").contains("secret"));
    }

    #[test]
    fn scrubber_replaces_urls_and_keys() {
        let scrubber = Scrubber::default();
        scrubber.add(["abcd1234".to_owned(), "rtmp://h/app/abcd1234".to_owned()]);
        assert_eq!(
            scrubber.scrub("publish rtmp://h/app/abcd1234 failed: stream abcd1234"),
            "publish *** failed: stream ***"
        );
        // Too short to scrub safely: ignored.
        scrubber.add(["ab".to_owned()]);
        assert_eq!(scrubber.scrub("about"), "about");
    }
}
