//! Destinations: where an egress pushes, as the admin gives it (a service
//! preset or a custom URL, plus a stream key), parsed once into the real URL
//! handed to the RTMP client and a redacted form for logs, errors and status.

use crate::secret::{REDACTED, SecretUrl};

/// YouTube's RTMPS ingest.
pub const YOUTUBE_RTMPS: &str = "rtmps://a.rtmps.youtube.com:443/live2";
/// Twitch's global ingest (it routes to the nearest point of presence).
pub const TWITCH_DEFAULT_INGEST: &str = "ingest.global-contribute.live-video.net";

pub use podium_protocol::egress::{DestinationSpec, Ingest};

/// Domains of the services' own ingests: a preset whose host lies outside
/// them is as free a choice as a custom URL (see
/// [`DestinationSpec::is_custom`]).
const IVS_DOMAINS: &[&str] = &["live-video.net"];
const TWITCH_DOMAINS: &[&str] = &["live-video.net", "twitch.tv"];

/// What the egress knows of a [`DestinationSpec`] (the wire type lives in
/// podium-protocol): its redacted URL, and whether the caller chose the host.
pub trait DestinationSpecExt {
    /// Checks the destination and returns its redacted URL, e.g.
    /// `rtmps://a.rtmps.youtube.com:443/live2/***`: what an API may echo.
    fn redacted_url(&self) -> Result<String, DestinationError>;

    /// Whether the caller picks the host: a custom URL, or an IVS or Twitch
    /// preset whose host is not one of the service's own domains. YouTube
    /// and the services' ingests are not.
    fn is_custom(&self) -> bool;
}

impl DestinationSpecExt for DestinationSpec {
    fn redacted_url(&self) -> Result<String, DestinationError> {
        parse(self).map(|target| target.redacted)
    }

    fn is_custom(&self) -> bool {
        let outside = |host: &str, domains: &[&str]| {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            !domains
                .iter()
                .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        };
        match &self.ingest {
            Ingest::Custom { .. } => true,
            Ingest::YouTube => false,
            Ingest::Ivs { ingest_endpoint } => outside(ingest_endpoint, IVS_DOMAINS),
            Ingest::Twitch { ingest } => ingest
                .as_deref()
                .is_some_and(|host| outside(host, TWITCH_DOMAINS)),
        }
    }
}

/// Parses a destination once into what rtmp2sink is given and what others see.
pub(crate) fn parse(spec: &DestinationSpec) -> Result<RtmpTarget, DestinationError> {
    let base = match &spec.ingest {
        Ingest::Ivs { ingest_endpoint } => {
            check_host(ingest_endpoint)?;
            format!("rtmps://{ingest_endpoint}:443/app")
        }
        Ingest::Twitch { ingest } => {
            let host = ingest.as_deref().unwrap_or(TWITCH_DEFAULT_INGEST);
            check_host(host)?;
            format!("rtmps://{host}:443/app")
        }
        Ingest::YouTube => YOUTUBE_RTMPS.to_owned(),
        Ingest::Custom { url } => url.trim().to_owned(),
    };
    let parts = UrlParts::parse(&base)?;
    let (application, stream, redacted) = match &spec.stream_key {
        Some(key) => {
            let key = key.expose();
            check_key(key)?;
            if parts.query.is_some() {
                return Err(DestinationError::QueryWithKey);
            }
            (
                parts.raw_path.clone(),
                key.to_owned(),
                format!("{}/{REDACTED}", parts.origin_and_path()),
            )
        }
        None if matches!(spec.ingest, Ingest::Custom { .. }) => {
            // The last path segment (and any query) is the stream name.
            let (Some((app, stream)), Some((shown_app, _))) =
                (parts.raw_path.rsplit_once('/'), parts.path.rsplit_once('/'))
            else {
                return Err(DestinationError::MissingStreamKey);
            };
            if app.is_empty() || stream.is_empty() {
                return Err(DestinationError::MissingStreamKey);
            }
            let mut stream = stream.to_owned();
            if let Some(query) = &parts.raw_query {
                stream = format!("{stream}?{query}");
            }
            (
                app.to_owned(),
                stream,
                format!("{}/{shown_app}/{REDACTED}", parts.origin()),
            )
        }
        None => return Err(DestinationError::MissingStreamKey),
    };
    let secrets = secret_forms(&stream);
    Ok(RtmpTarget {
        scheme: parts.scheme,
        host: parts.host,
        port: parts.port.unwrap_or(parts.scheme.default_port()),
        application,
        stream: SecretUrl::new(stream),
        redacted,
        secrets,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Rtmp,
    Rtmps,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Rtmp => "rtmp",
            Self::Rtmps => "rtmps",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Rtmp => 1935,
            Self::Rtmps => 443,
        }
    }
}

/// A destination parsed once: what rtmp2sink is given, piece by piece (no
/// URL for it to parse its own way), what logs may show, and the strings to
/// scrub from any foreign text.
#[derive(Clone, Debug)]
pub(crate) struct RtmpTarget {
    pub scheme: Scheme,
    /// A lower-case host name or an IP literal (IPv6 without brackets).
    pub host: String,
    /// Explicit, or the scheme's default.
    pub port: u16,
    /// The path before the stream name, as the caller wrote it.
    pub application: String,
    /// The stream name (the key, with any query of a custom URL): secret.
    pub stream: SecretUrl,
    pub redacted: String,
    pub secrets: Vec<String>,
}

#[cfg(test)]
impl RtmpTarget {
    /// The full URL these pieces make (tests).
    fn url(&self) -> String {
        let host = match self.host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{}]", self.host),
            Err(_) => self.host.clone(),
        };
        format!(
            "{}://{host}:{}/{}/{}",
            self.scheme.as_str(),
            self.port,
            self.application,
            self.stream.expose()
        )
    }
}

/// Every form in which `stream` may show up in a text from GStreamer or an
/// ingest: as given, percent-decoded, percent-encoded (minimally, as a URL
/// parser does, or fully, upper- or lower-case hex), form-encoded, and with
/// C escapes (GLib's `g_strescape`). Its key part alone too, when it has a
/// query. Redaction covers each.
pub(crate) fn secret_forms(stream: &str) -> Vec<String> {
    let mut bases = vec![stream.to_owned(), percent_decode(stream)];
    if let Some((name, query)) = stream.split_once('?') {
        bases.push(name.to_owned());
        bases.push(query.to_owned());
    }
    let mut forms: Vec<String> = Vec::new();
    for base in bases {
        let variants = [
            percent_encode(&base, Encode::Minimal, false),
            percent_encode(&base, Encode::All, false),
            percent_encode(&base, Encode::All, true),
            percent_encode(&base, Encode::All, false).replace("%20", "+"),
            c_escape(&base),
            base,
        ];
        for variant in variants {
            if !forms.contains(&variant) {
                forms.push(variant);
            }
        }
    }
    forms
}

#[derive(Clone, Copy, PartialEq)]
enum Encode {
    /// Controls, space, non-ASCII and the few characters URL parsers escape.
    Minimal,
    /// Everything but RFC 3986's unreserved characters.
    All,
}

fn percent_encode(text: &str, set: Encode, lower: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = match set {
            Encode::Minimal => {
                byte.is_ascii_graphic() && !matches!(byte, b'"' | b'<' | b'>' | b'`' | b'{' | b'}')
            }
            Encode::All => {
                byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
            }
        };
        if keep {
            out.push(byte as char);
        } else if lower {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `g_strescape`: backslash escapes for controls, quotes and backslashes,
/// octal for bytes past ASCII.
fn c_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out
}

/// Why a destination was refused. Never quotes the URL or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// The URL does not parse, or holds control characters.
    #[error("the URL is not valid")]
    InvalidUrl,
    /// The scheme is neither `rtmp` nor `rtmps`.
    #[error("the URL scheme must be rtmp or rtmps")]
    Scheme,
    /// The URL has no host.
    #[error("the URL has no host")]
    MissingHost,
    /// The URL has no application path (`rtmp://host/app`).
    #[error("the URL has no application path (rtmp://host/app)")]
    MissingApp,
    /// The URL carries a user name or password.
    #[error("credentials in the URL are not supported")]
    Credentials,
    /// The URL has a `#fragment`.
    #[error("the URL must not have a fragment")]
    Fragment,
    /// No stream key given, and (for a custom URL) no stream name after the application.
    #[error("a stream key is required")]
    MissingStreamKey,
    /// The key is empty, longer than 512 bytes, or holds whitespace, control characters or `/`.
    #[error("a stream key must be 1 to 512 characters, without spaces or '/'")]
    InvalidStreamKey,
    /// The URL has a query and a separate stream key was given too.
    #[error("a URL with a query cannot take a separate stream key")]
    QueryWithKey,
    /// The host is empty, over 253 bytes, or holds a character other than `[A-Za-z0-9._-]`.
    #[error("the ingest host is not a valid host name")]
    InvalidHost,
}

struct UrlParts {
    scheme: Scheme,
    /// As shown (IPv6 in brackets).
    shown_host: String,
    /// As connected to (lower case; IPv6 without brackets).
    host: String,
    port: Option<u16>,
    /// Percent-encoded as the URL parser normalizes it, without the leading
    /// or trailing '/': for display.
    path: String,
    query: Option<String>,
    /// The path and query exactly as written: what the ingest is sent.
    raw_path: String,
    raw_query: Option<String>,
}

impl UrlParts {
    fn parse(raw: &str) -> Result<Self, DestinationError> {
        if raw.chars().any(char::is_control) {
            return Err(DestinationError::InvalidUrl);
        }
        let url = url::Url::parse(raw).map_err(|_| DestinationError::InvalidUrl)?;
        let scheme = match url.scheme() {
            "rtmp" => Scheme::Rtmp,
            "rtmps" => Scheme::Rtmps,
            _ => return Err(DestinationError::Scheme),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(DestinationError::Fragment);
        }
        // The host the RTMP client gets: an IP literal, or a plain DNS name
        // (an opaque host with escapes or other characters is refused, so
        // no other parser can read it as another host).
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                check_host(name)?;
                name.to_ascii_lowercase()
            }
            _ => return Err(DestinationError::MissingHost),
        };
        let shown_host = url
            .host_str()
            .ok_or(DestinationError::MissingHost)?
            .to_ascii_lowercase();
        let path = url.path().trim_matches('/').to_owned();
        if path.is_empty() {
            return Err(DestinationError::MissingApp);
        }
        // The same path as written: after the authority (which holds no
        // '/'), up to the query.
        let after_scheme = raw
            .split_once("://")
            .map(|(_, rest)| rest)
            .ok_or(DestinationError::InvalidUrl)?;
        let path_and_query = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
        let (raw_path, raw_query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (path_and_query, None),
        };
        let raw_path = raw_path.trim_matches('/').to_owned();
        if raw_path.is_empty() {
            return Err(DestinationError::MissingApp);
        }
        Ok(Self {
            scheme,
            shown_host,
            host,
            port: url.port(),
            path,
            query: url.query().map(str::to_owned),
            raw_path,
            raw_query,
        })
    }

    fn origin(&self) -> String {
        let scheme = self.scheme.as_str();
        match self.port {
            Some(port) => format!("{scheme}://{}:{port}", self.shown_host),
            None => format!("{scheme}://{}", self.shown_host),
        }
    }

    fn origin_and_path(&self) -> String {
        format!("{}/{}", self.origin(), self.path)
    }
}

fn check_host(host: &str) -> Result<(), DestinationError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DestinationError::InvalidHost)
    }
}

fn check_key(key: &str) -> Result<(), DestinationError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != '/');
    if ok {
        Ok(())
    } else {
        Err(DestinationError::InvalidStreamKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::StreamKey;

    trait Parse {
        fn parse(&self) -> Result<RtmpTarget, DestinationError>;
    }

    impl Parse for DestinationSpec {
        fn parse(&self) -> Result<RtmpTarget, DestinationError> {
            super::parse(self)
        }
    }

    fn key(k: &str) -> Option<StreamKey> {
        Some(StreamKey::new(k))
    }

    #[test]
    fn presets_build_their_urls() {
        let cases = [
            (
                Ingest::Ivs {
                    ingest_endpoint: "abc.global-contribute.live-video.net".into(),
                },
                "rtmps://abc.global-contribute.live-video.net:443/app/sk_us-west-2_XYZ",
                "rtmps://abc.global-contribute.live-video.net:443/app/***",
            ),
            (
                Ingest::Twitch { ingest: None },
                "rtmps://ingest.global-contribute.live-video.net:443/app/sk_us-west-2_XYZ",
                "rtmps://ingest.global-contribute.live-video.net:443/app/***",
            ),
            (
                Ingest::YouTube,
                "rtmps://a.rtmps.youtube.com:443/live2/sk_us-west-2_XYZ",
                "rtmps://a.rtmps.youtube.com:443/live2/***",
            ),
            (
                Ingest::Custom {
                    url: "rtmp://127.0.0.1:1935/live/".into(),
                },
                "rtmp://127.0.0.1:1935/live/sk_us-west-2_XYZ",
                "rtmp://127.0.0.1:1935/live/***",
            ),
        ];
        for (ingest, real, redacted) in cases {
            let target = DestinationSpec::new(ingest, key("sk_us-west-2_XYZ"))
                .parse()
                .unwrap();
            assert_eq!(target.url(), real);
            assert_eq!(target.redacted, redacted);
            assert!(target.secrets.iter().any(|s| s == "sk_us-west-2_XYZ"));
        }
    }

    #[test]
    fn custom_url_with_the_key_inside_is_redacted() {
        let spec = DestinationSpec::new(
            Ingest::Custom {
                url: "rtmp://ingest.example.com/live/app2/mykey123?token=abc".into(),
            },
            None,
        );
        let target = spec.parse().unwrap();
        assert_eq!(target.redacted, "rtmp://ingest.example.com/live/app2/***");
        assert!(target.secrets.contains(&"mykey123?token=abc".to_owned()));
        assert!(!format!("{spec:?}").contains("mykey123"));
        assert!(!format!("{spec:?}").contains("token"));
    }

    #[test]
    fn bad_destinations_are_refused_without_echoing_them() {
        let cases: Vec<(DestinationSpec, DestinationError)> = vec![
            (
                DestinationSpec::new(Ingest::YouTube, None),
                DestinationError::MissingStreamKey,
            ),
            (
                DestinationSpec::new(Ingest::YouTube, key("has space")),
                DestinationError::InvalidStreamKey,
            ),
            (
                DestinationSpec::new(Ingest::YouTube, key("a/b")),
                DestinationError::InvalidStreamKey,
            ),
            (
                DestinationSpec::new(
                    Ingest::Custom {
                        url: "http://h/app".into(),
                    },
                    key("k1234"),
                ),
                DestinationError::Scheme,
            ),
            (
                DestinationSpec::new(
                    Ingest::Custom {
                        url: "rtmp://h".into(),
                    },
                    key("k1234"),
                ),
                DestinationError::MissingApp,
            ),
            (
                DestinationSpec::new(
                    Ingest::Custom {
                        url: "rtmp://h/app".into(),
                    },
                    None,
                ),
                DestinationError::MissingStreamKey,
            ),
            (
                DestinationSpec::new(
                    Ingest::Custom {
                        url: "rtmp://user:pw@h/app".into(),
                    },
                    key("k1234"),
                ),
                DestinationError::Credentials,
            ),
            (
                DestinationSpec::new(
                    Ingest::Ivs {
                        ingest_endpoint: "bad host/x".into(),
                    },
                    key("k1234"),
                ),
                DestinationError::InvalidHost,
            ),
            (
                DestinationSpec::new(
                    Ingest::Custom {
                        url: "not a url".into(),
                    },
                    key("k1234"),
                ),
                DestinationError::InvalidUrl,
            ),
        ];
        for (spec, expected) in cases {
            let error = spec.parse().unwrap_err();
            assert_eq!(error, expected, "{spec:?}");
            assert!(!error.to_string().contains("k1234"));
        }
    }

    #[test]
    fn deserializes_from_admin_json() {
        let spec: DestinationSpec = serde_json::from_str(
            r#"{"service":"ivs","ingestEndpoint":"x.global-contribute.live-video.net","streamKey":"sk_1"}"#,
        )
        .unwrap();
        assert_eq!(
            spec.ingest,
            Ingest::Ivs {
                ingest_endpoint: "x.global-contribute.live-video.net".into()
            }
        );
        assert_eq!(spec.stream_key.unwrap().expose(), "sk_1");
        let spec: DestinationSpec =
            serde_json::from_str(r#"{"service":"youtube","streamKey":"abcd-efgh"}"#).unwrap();
        assert_eq!(spec.ingest, Ingest::YouTube);
    }

    #[test]
    fn keys_are_redacted_in_every_form_gstreamer_may_print() {
        use crate::secret::Scrubber;
        // A key inside a custom URL, with spaces and non-ASCII characters:
        // the RTMP client gets it as written; every spelling is scrubbed.
        let spec = DestinationSpec::new(
            Ingest::Custom {
                url: "rtmp://ingest.example.com/live/my sécret kéy?tok=ÿ 1".into(),
            },
            None,
        );
        let target = spec.parse().unwrap();
        assert_eq!(target.stream.expose(), "my sécret kéy?tok=ÿ 1");
        assert_eq!(target.application, "live");
        assert_eq!(target.redacted, "rtmp://ingest.example.com/live/***");
        let scrubber = Scrubber::default();
        scrubber.add(target.secrets.iter().cloned());
        let printed = [
            "my sécret kéy?tok=ÿ 1",
            "my%20s%C3%A9cret%20k%C3%A9y?tok=%C3%BF%201",
            "my%20s%c3%a9cret%20k%c3%a9y%3ftok%3d%c3%bf%201",
            "my%20s%C3%A9cret%20k%C3%A9y%3Ftok%3D%C3%BF%201",
            "my+s%C3%A9cret+k%C3%A9y%3Ftok%3D%C3%BF+1",
            "my s\\303\\251cret k\\303\\251y?tok=\\303\\277 1",
            "my sécret kéy",
            "my%20s%C3%A9cret%20k%C3%A9y",
        ];
        for form in printed {
            let text = format!("Could not publish stream '{form}': NetStream.Publish.BadName");
            let scrubbed = scrubber.scrub(&text);
            assert!(!scrubbed.contains("cret"), "{form:?} -> {scrubbed}");
            assert!(scrubbed.contains("***"), "{scrubbed}");
        }

        // A key typed with escapes is sent as written, and scrubbed both ways.
        let target = DestinationSpec::new(
            Ingest::Custom {
                url: "rtmp://ingest.example.com/live/k%C3%A9y%20one".into(),
            },
            None,
        )
        .parse()
        .unwrap();
        assert_eq!(target.stream.expose(), "k%C3%A9y%20one");
        let scrubber = Scrubber::default();
        scrubber.add(target.secrets.iter().cloned());
        assert_eq!(scrubber.scrub("bad name kéy one"), "bad name ***");
        assert_eq!(scrubber.scrub("bad name k%c3%a9y%20one"), "bad name ***");

        // A separate key with non-ASCII characters, likewise.
        let target = DestinationSpec::new(Ingest::YouTube, key("clé-secrète-42"))
            .parse()
            .unwrap();
        let scrubber = Scrubber::default();
        scrubber.add(target.secrets.iter().cloned());
        for form in [
            "clé-secrète-42",
            "cl%C3%A9-secr%C3%A8te-42",
            "cl%c3%a9-secr%c3%a8te-42",
        ] {
            assert_eq!(scrubber.scrub(form), "***", "{form}");
        }
    }

    #[test]
    fn the_rtmp_client_gets_a_checked_host_and_the_path_as_written() {
        let cases = [
            (
                "rtmp://Ingest.Example.com/live/key1",
                "ingest.example.com",
                1935,
                "live",
                "key1",
            ),
            (
                "rtmps://ingest.example.com/a/b/key1",
                "ingest.example.com",
                443,
                "a/b",
                "key1",
            ),
            (
                "rtmp://[2001:db8::1]:1936/live/k?x=1",
                "2001:db8::1",
                1936,
                "live",
                "k?x=1",
            ),
            (
                "rtmp://127.0.0.1:1935/live/key1",
                "127.0.0.1",
                1935,
                "live",
                "key1",
            ),
        ];
        for (url, host, port, app, stream) in cases {
            let target = DestinationSpec::new(Ingest::Custom { url: url.into() }, None)
                .parse()
                .unwrap();
            assert_eq!(
                (
                    target.host.as_str(),
                    target.port,
                    target.application.as_str()
                ),
                (host, port, app),
                "{url}"
            );
            assert_eq!(target.stream.expose(), stream);
        }
        // Hosts another URL parser could read differently are refused.
        for url in [
            "rtmp://%31%32%37.0.0.1/live/key1",
            "rtmp://ingest.example.com%2F@127.0.0.1/live/key1",
            "rtmp://exa mple.com/live/key1",
            "rtmp://ingést.example.com/live/key1",
            "rtmp://ingest.example.com/live/ke\ty1",
        ] {
            let spec = DestinationSpec::new(Ingest::Custom { url: url.into() }, None);
            assert!(spec.parse().is_err(), "{url} must be refused");
        }
    }

    #[test]
    fn which_destinations_are_custom() {
        let cases = [
            (Ingest::YouTube, false),
            (Ingest::Twitch { ingest: None }, false),
            (
                Ingest::Twitch {
                    ingest: Some("fra05.contribute.live-video.net".into()),
                },
                false,
            ),
            (
                Ingest::Twitch {
                    ingest: Some("live-fra.twitch.tv".into()),
                },
                false,
            ),
            (
                Ingest::Twitch {
                    ingest: Some("10.0.0.1".into()),
                },
                true,
            ),
            (
                Ingest::Ivs {
                    ingest_endpoint: "abc.global-contribute.live-video.net".into(),
                },
                false,
            ),
            (
                Ingest::Ivs {
                    ingest_endpoint: "live-video.net.evil.example".into(),
                },
                true,
            ),
            (
                Ingest::Custom {
                    url: "rtmp://a.rtmp.youtube.com/live2".into(),
                },
                true,
            ),
        ];
        for (ingest, custom) in cases {
            assert_eq!(
                DestinationSpec::new(ingest.clone(), key("k")).is_custom(),
                custom,
                "{ingest:?}"
            );
        }
    }
}
