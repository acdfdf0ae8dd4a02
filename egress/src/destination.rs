//! Destinations: where an egress pushes, as the admin gives it (a service
//! preset or a custom URL, plus a stream key), parsed once into the real URL
//! handed to the RTMP client and a redacted form for logs, errors and status.

use crate::secret::{REDACTED, SecretUrl, StreamKey};
use serde::Deserialize;
use std::fmt;

/// YouTube's RTMPS ingest.
pub const YOUTUBE_RTMPS: &str = "rtmps://a.rtmps.youtube.com:443/live2";
/// Twitch's global ingest (it routes to the nearest point of presence).
pub const TWITCH_DEFAULT_INGEST: &str = "ingest.global-contribute.live-video.net";

/// The service a destination belongs to, which fixes its base URL.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "service",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum Ingest {
    /// Amazon IVS: `rtmps://<ingest_endpoint>:443/app/<key>`. The endpoint is
    /// the channel's "ingest server" host, e.g. `a1b2c3.global-contribute.live-video.net`.
    Ivs { ingest_endpoint: String },
    /// Twitch: `rtmps://<ingest>:443/app/<key>`; `ingest` defaults to
    /// [`TWITCH_DEFAULT_INGEST`].
    Twitch {
        #[serde(default)]
        ingest: Option<String>,
    },
    /// YouTube Live: [`YOUTUBE_RTMPS`]`/<key>`.
    #[serde(rename = "youtube")]
    YouTube,
    /// Any `rtmp://` or `rtmps://` URL: `scheme://host[:port]/app`, with the
    /// key given apart, or `scheme://host[:port]/app/<key>` with none.
    Custom { url: String },
}

impl fmt::Debug for Ingest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ivs { ingest_endpoint } => f
                .debug_struct("Ivs")
                .field("ingest_endpoint", ingest_endpoint)
                .finish(),
            Self::Twitch { ingest } => f.debug_struct("Twitch").field("ingest", ingest).finish(),
            Self::YouTube => f.write_str("YouTube"),
            // A custom URL may carry its key: show only what redaction keeps.
            Self::Custom { url } => {
                let shown = redact_custom(url).unwrap_or_else(|_| "<invalid url>".to_owned());
                f.debug_struct("Custom").field("url", &shown).finish()
            }
        }
    }
}

/// One destination as the caller gives it. Deserializes from
/// `{"service": "youtube", "streamKey": "..."}`, `{"service": "ivs",
/// "ingestEndpoint": "...", "streamKey": "..."}`, `{"service": "custom",
/// "url": "rtmp://host/app", "streamKey": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationSpec {
    #[serde(flatten)]
    pub ingest: Ingest,
    /// Required for the presets; optional for a custom URL that ends with it.
    #[serde(default)]
    pub stream_key: Option<StreamKey>,
}

impl DestinationSpec {
    pub fn new(ingest: Ingest, stream_key: impl Into<Option<StreamKey>>) -> Self {
        Self {
            ingest,
            stream_key: stream_key.into(),
        }
    }

    /// Checks the destination and returns its redacted URL, e.g.
    /// `rtmps://a.rtmps.youtube.com:443/live2/***`: what an API may echo.
    pub fn redacted_url(&self) -> Result<String, DestinationError> {
        self.parse().map(|target| target.redacted)
    }

    pub(crate) fn parse(&self) -> Result<RtmpTarget, DestinationError> {
        let base = match &self.ingest {
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
        match &self.stream_key {
            Some(key) => {
                let key = key.expose();
                check_key(key)?;
                if parts.query.is_some() {
                    return Err(DestinationError::QueryWithKey);
                }
                let real = format!("{}/{}", parts.origin_and_path(), key);
                Ok(RtmpTarget {
                    redacted: format!("{}/{REDACTED}", parts.origin_and_path()),
                    secrets: vec![real.clone(), key.to_owned()],
                    url: SecretUrl::new(real),
                })
            }
            None if matches!(self.ingest, Ingest::Custom { .. }) => {
                // The last path segment (and any query) is the stream name.
                let Some((app, stream)) = parts.path.rsplit_once('/') else {
                    return Err(DestinationError::MissingStreamKey);
                };
                if app.is_empty() || stream.is_empty() {
                    return Err(DestinationError::MissingStreamKey);
                }
                let mut secret = stream.to_owned();
                if let Some(query) = &parts.query {
                    secret = format!("{secret}?{query}");
                }
                Ok(RtmpTarget {
                    redacted: format!("{}/{app}/{REDACTED}", parts.origin()),
                    secrets: vec![base.clone(), secret],
                    url: SecretUrl::new(base),
                })
            }
            None => Err(DestinationError::MissingStreamKey),
        }
    }
}

fn redact_custom(url: &str) -> Result<String, DestinationError> {
    DestinationSpec::new(
        Ingest::Custom {
            url: url.to_owned(),
        },
        None,
    )
    .redacted_url()
}

/// A destination parsed once: the URL for rtmp2sink, what logs may show,
/// and the strings to scrub from any foreign text.
#[derive(Clone, Debug)]
pub(crate) struct RtmpTarget {
    pub url: SecretUrl,
    pub redacted: String,
    pub secrets: Vec<String>,
}

/// Why a destination was refused. Never quotes the URL or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("the URL is not valid")]
    InvalidUrl,
    #[error("the URL scheme must be rtmp or rtmps")]
    Scheme,
    #[error("the URL has no host")]
    MissingHost,
    #[error("the URL has no application path (rtmp://host/app)")]
    MissingApp,
    #[error("credentials in the URL are not supported")]
    Credentials,
    #[error("the URL must not have a fragment")]
    Fragment,
    #[error("a stream key is required")]
    MissingStreamKey,
    #[error("a stream key must be 1 to 512 characters, without spaces or '/'")]
    InvalidStreamKey,
    #[error("a URL with a query cannot take a separate stream key")]
    QueryWithKey,
    #[error("the ingest host is not a valid host name")]
    InvalidHost,
}

struct UrlParts {
    scheme: String,
    host: String,
    port: Option<u16>,
    /// Without the leading or trailing '/'.
    path: String,
    query: Option<String>,
}

impl UrlParts {
    fn parse(raw: &str) -> Result<Self, DestinationError> {
        let url = url::Url::parse(raw).map_err(|_| DestinationError::InvalidUrl)?;
        let scheme = url.scheme().to_owned();
        if scheme != "rtmp" && scheme != "rtmps" {
            return Err(DestinationError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(DestinationError::Fragment);
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(DestinationError::MissingHost)?
            .to_owned();
        let path = url.path().trim_matches('/').to_owned();
        if path.is_empty() {
            return Err(DestinationError::MissingApp);
        }
        Ok(Self {
            scheme,
            host,
            port: url.port(),
            path,
            query: url.query().map(str::to_owned),
        })
    }

    fn origin(&self) -> String {
        match self.port {
            Some(port) => format!("{}://{}:{port}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
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
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
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
            assert_eq!(target.url.expose(), real);
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
}
