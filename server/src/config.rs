//! Typed configuration: config/default.toml (embedded in the binary), then an
//! optional file, then `PODIUM_<SECTION>__<KEY>` environment variables, then
//! validation. Every error names the key at fault.

use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const ENV_PREFIX: &str = "PODIUM_";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub rtc: RtcConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub egress: EgressConfig,
    pub recording: RecordingConfig,
    pub turn: TurnConfig,
    pub cluster: ClusterConfig,
}

/// Several Podium nodes on one Redis (docs/CLUSTER.md). Empty `redis_url`:
/// one node alone, no Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// May hold Redis's password: never shown.
    pub redis_url: Secret,
    /// Signs node-to-node messages; the same on every node.
    pub secret: Secret,
    /// This node's id in the cluster; empty: one made at start.
    pub node_id: String,
    /// Where other nodes reach this one; empty: its listen address.
    pub internal_addr: String,
    /// The peers this node is sized for (its load is peers over this).
    pub capacity: u64,
    /// Seconds between heartbeats; a node silent for three is gone.
    pub heartbeat_secs: u64,
    /// The address media pipes between nodes listen on and are reached at;
    /// empty: the host of `internal_addr` (an IP), else `rtc.listen_ip`.
    pub pipe_ip: String,
    /// Encrypt media piped between nodes (SRTP).
    pub pipe_srtp: bool,
    /// On SIGTERM, how long a node of a cluster drains (no new rooms, its
    /// classes go on) before it stops anyway.
    pub drain_secs: u64,
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.redis_url.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    pub static_dir: PathBuf,
    pub tls_cert: String,
    pub tls_key: String,
    /// The public base URL of the pages (`https://class.example.org`): issued
    /// links use it, never request headers. Empty: the listen address.
    pub public_url: String,
    /// Bearer token for `/metrics`; empty: `/metrics` takes the admin key.
    pub metrics_token: Secret,
    /// Take the client address of a connection from the last `X-Forwarded-For`
    /// hop (set only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtcConfig {
    pub listen_ip: String,
    pub announced_ip: String,
    pub port_min: u16,
    pub port_max: u16,
    pub webrtc_server: bool,
    pub webrtc_server_port: u16,
    pub workers: usize,
    pub udp_send_buffer: u32,
    pub udp_recv_buffer: u32,
    pub initial_outgoing_bitrate: u32,
    pub codecs: Vec<Codec>,
    pub worker_log_level: WorkerLogLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Opus,
    Vp8,
    H264,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerLogLevel {
    Debug,
    Warn,
    Error,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub dev_mode: bool,
    pub dev_secret: Secret,
    pub token_secret: Secret,
    pub admin_key: Secret,
    pub token_ttl_secs: u64,
    pub teacher_can_restream: bool,
    pub teacher_can_record: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub ws_max_message_bytes: usize,
    pub ws_requests_per_second: u32,
    pub ws_request_burst: u32,
    pub peer_queue_len: usize,
    pub max_peers_per_room: usize,
    pub max_chat_bytes: usize,
    pub chat_messages_per_minute: u32,
    pub chat_room_bytes_per_second: u32,
    pub join_timeout_secs: u64,
    pub connections_per_ip: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    pub teacher_grace_secs: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub give_up_after_secs: u64,
    pub give_up_unreached_secs: u64,
    pub watchdog_secs: u64,
    /// Ports destinations may use.
    pub allow_ports: Vec<u16>,
    /// Hosts (names or IP literals, `host:port` to pin a port) that may be
    /// internal addresses: an operator's own ingest.
    pub allow_hosts: Vec<String>,
    pub teacher_custom_urls: bool,
    pub teacher_can_reencode: bool,
    pub max_restreams: usize,
    pub max_restreams_per_room: usize,
    pub max_destinations: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    pub dir: PathBuf,
    pub auto: bool,
    /// `720p` or `1080p` (30 fps).
    pub resolution: String,
    pub max_duration_secs: u64,
    pub max_running: usize,
    pub retention_days: u64,
    pub max_total_bytes: u64,
}

/// TURN servers handed to browsers, with time-limited credentials
/// (coturn's `use-auth-secret`): see `crate::turn`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnConfig {
    pub urls: Vec<String>,
    pub secret: Secret,
    pub ttl_secs: u64,
    pub relay_only: bool,
}

/// A string that never shows in `Debug` output (and so never in logs).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error(
        "environment variable {name} does not name a config key (expected PODIUM_<SECTION>__<KEY>)"
    )]
    EnvKey { name: String },
    #[error("environment variable {name} is not a valid value for its key (value not shown)")]
    EnvValue { name: String },
    #[error("config: {0}")]
    Shape(String),
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl Config {
    /// Embedded defaults, then `file`, then the `PODIUM_*` variables among `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = parse(DEFAULT_TOML, "defaults")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            merge(&mut merged, parse(&text, &path.display().to_string())?);
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if rest == "CONFIG" || rest == "LOG" {
                continue; // the config file's path and the log filter, read elsewhere
            }
            let Some((section, key)) = rest.split_once("__") else {
                return Err(ConfigError::EnvKey { name });
            };
            let table = merged
                .get_mut(&section.to_lowercase())
                .and_then(toml::Value::as_table_mut)
                .ok_or_else(|| ConfigError::EnvKey { name: name.clone() })?;
            let key = key.to_lowercase();
            // A key whose default is a string stays a string (a numeric admin
            // key is still a key, and no parse error ever echoes a secret).
            let value = match table.get(&key) {
                Some(toml::Value::String(_)) => toml::Value::String(value),
                _ => {
                    env_value(&value).ok_or_else(|| ConfigError::EnvValue { name: name.clone() })?
                }
            };
            table.insert(key, value);
        }
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Shape(e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let listen = self.http_listen()?;
        if self.http.tls_cert.is_empty() != self.http.tls_key.is_empty() {
            return Err(invalid(
                "http.tls_cert",
                "tls_cert and tls_key must be given together",
            ));
        }
        self.rtc.listen_ip.parse::<IpAddr>().map_err(|_| {
            invalid(
                "rtc.listen_ip",
                format!("{:?} is not an IP address", self.rtc.listen_ip),
            )
        })?;
        if !self.rtc.announced_ip.is_empty() && self.rtc.announced_ip.parse::<IpAddr>().is_err() {
            return Err(invalid(
                "rtc.announced_ip",
                format!("{:?} is not an IP address", self.rtc.announced_ip),
            ));
        }
        if self.rtc.port_min == 0 || self.rtc.port_min > self.rtc.port_max {
            return Err(invalid(
                "rtc.port_min",
                format!(
                    "port range {}..={} is empty or starts at 0",
                    self.rtc.port_min, self.rtc.port_max
                ),
            ));
        }
        if self.rtc.workers > 64 {
            return Err(invalid("rtc.workers", "at most 64 workers"));
        }
        if !self.rtc.codecs.contains(&Codec::Opus) {
            return Err(invalid(
                "rtc.codecs",
                "opus is required (the classroom's audio)",
            ));
        }
        if !self
            .rtc
            .codecs
            .iter()
            .any(|c| matches!(c, Codec::Vp8 | Codec::H264))
        {
            return Err(invalid(
                "rtc.codecs",
                "at least one video codec (vp8 or h264) is required",
            ));
        }
        if self.auth.dev_mode && !listen.ip().is_loopback() {
            return Err(invalid(
                "auth.dev_mode",
                format!(
                    "dev mode lets anyone mint tokens: only on a loopback address, not {listen}"
                ),
            ));
        }
        if !self.auth.token_secret.is_empty() && self.auth.token_secret.expose().len() < 32 {
            return Err(invalid(
                "auth.token_secret",
                "must be at least 32 characters",
            ));
        }
        if !self.auth.admin_key.is_empty() && self.auth.admin_key.expose().len() < 16 {
            return Err(invalid("auth.admin_key", "must be at least 16 characters"));
        }
        if !self.http.metrics_token.is_empty() && self.http.metrics_token.expose().len() < 16 {
            return Err(invalid(
                "http.metrics_token",
                "must be at least 16 characters",
            ));
        }
        self.public_url()?;
        if self.cluster.enabled() {
            if self.cluster.secret.expose().len() < 16 {
                return Err(invalid(
                    "cluster.secret",
                    "must be at least 16 characters when cluster.redis_url is set",
                ));
            }
            if !self.cluster.pipe_ip.is_empty() && self.cluster.pipe_ip.parse::<IpAddr>().is_err() {
                return Err(invalid(
                    "cluster.pipe_ip",
                    format!("{:?} is not an IP address", self.cluster.pipe_ip),
                ));
            }
            if self.cluster.heartbeat_secs == 0 || self.cluster.capacity == 0 {
                return Err(invalid(
                    "cluster",
                    "heartbeat_secs and capacity must be positive",
                ));
            }
        }
        if self.auth.token_ttl_secs == 0 {
            return Err(invalid("auth.token_ttl_secs", "must be positive"));
        }
        let limits = &self.limits;
        if !(1024..=1 << 20).contains(&limits.ws_max_message_bytes) {
            return Err(invalid(
                "limits.ws_max_message_bytes",
                "must be between 1 KiB and 1 MiB",
            ));
        }
        if limits.ws_requests_per_second == 0
            || limits.ws_request_burst < limits.ws_requests_per_second
        {
            return Err(invalid(
                "limits.ws_request_burst",
                "rate must be positive and the burst at least the rate",
            ));
        }
        if limits.peer_queue_len < 16 {
            return Err(invalid("limits.peer_queue_len", "must be at least 16"));
        }
        if limits.max_peers_per_room == 0 {
            return Err(invalid("limits.max_peers_per_room", "must be positive"));
        }
        if !(1..=limits.ws_max_message_bytes / 2).contains(&limits.max_chat_bytes) {
            return Err(invalid(
                "limits.max_chat_bytes",
                "must be positive and at most half of ws_max_message_bytes",
            ));
        }
        if limits.chat_messages_per_minute == 0 {
            return Err(invalid(
                "limits.chat_messages_per_minute",
                "must be positive",
            ));
        }
        if (limits.chat_room_bytes_per_second as usize) < limits.max_chat_bytes {
            return Err(invalid(
                "limits.chat_room_bytes_per_second",
                "must be at least max_chat_bytes (one message must fit)",
            ));
        }
        if limits.join_timeout_secs == 0 {
            return Err(invalid("limits.join_timeout_secs", "must be positive"));
        }
        if limits.connections_per_ip == 0 {
            return Err(invalid("limits.connections_per_ip", "must be positive"));
        }
        let egress = &self.egress;
        if egress.retry_initial_ms == 0 || egress.retry_max_ms < egress.retry_initial_ms {
            return Err(invalid(
                "egress.retry_max_ms",
                "the first retry delay must be positive and at most the cap",
            ));
        }
        if egress.watchdog_secs == 0 {
            return Err(invalid("egress.watchdog_secs", "must be positive"));
        }
        if egress.allow_ports.is_empty() || egress.allow_ports.contains(&0) {
            return Err(invalid(
                "egress.allow_ports",
                "list at least one port, none of them 0",
            ));
        }
        podium_egress::NetworkPolicy::new(egress.allow_ports.clone(), &egress.allow_hosts)
            .map_err(|message| invalid("egress.allow_hosts", message))?;
        for (key, value) in [
            ("egress.max_restreams", egress.max_restreams),
            (
                "egress.max_restreams_per_room",
                egress.max_restreams_per_room,
            ),
            ("egress.max_destinations", egress.max_destinations),
            ("recording.max_running", self.recording.max_running),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        if !["720p", "1080p"].contains(&self.recording.resolution.as_str()) {
            return Err(invalid(
                "recording.resolution",
                format!("{:?} is not 720p or 1080p", self.recording.resolution),
            ));
        }
        for (key, value, max) in [
            (
                "recording.retention_days",
                self.recording.retention_days,
                36_500,
            ),
            (
                "recording.max_duration_secs",
                self.recording.max_duration_secs,
                7 * 86_400,
            ),
            (
                "egress.teacher_grace_secs",
                egress.teacher_grace_secs,
                86_400,
            ),
        ] {
            if value > max {
                return Err(invalid(key, format!("at most {max}")));
            }
        }
        self.validate_webrtc_server()?;
        self.validate_turn()?;
        Ok(())
    }

    /// `rtc.webrtc_server_port`: worker i takes port + i; those ports must exist.
    fn validate_webrtc_server(&self) -> Result<(), ConfigError> {
        let Some(first) = self.webrtc_server_port(0) else {
            return Ok(());
        };
        let count = self.worker_count();
        let last = u32::from(first) + count as u32 - 1;
        if last > u32::from(u16::MAX) {
            return Err(invalid(
                "rtc.webrtc_server_port",
                format!("{count} workers need ports {first}..={last}, past 65535"),
            ));
        }
        Ok(())
    }

    fn validate_turn(&self) -> Result<(), ConfigError> {
        let turn = &self.turn;
        for url in &turn.urls {
            let scheme_ok = ["turn:", "turns:", "stun:", "stuns:"]
                .iter()
                .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
            if !scheme_ok || url.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "turn.urls",
                    format!("{url:?} is not a turn:, turns: or stun: URL"),
                ));
            }
        }
        let needs_secret = turn.urls.iter().any(|u| u.starts_with("turn"));
        if needs_secret && turn.secret.expose().len() < 16 {
            return Err(invalid(
                "turn.secret",
                "TURN URLs need the TURN server's static-auth-secret (at least 16 characters)",
            ));
        }
        if turn.ttl_secs == 0 {
            return Err(invalid("turn.ttl_secs", "must be positive"));
        }
        if turn.relay_only && !needs_secret {
            return Err(invalid(
                "turn.relay_only",
                "relay only needs at least one turn: or turns: URL",
            ));
        }
        Ok(())
    }

    /// The port of worker `slot`'s WebRTC server; `None`: a free one from
    /// `rtc.port_min..=rtc.port_max` (or no server, `rtc.webrtc_server = false`).
    pub fn webrtc_server_port(&self, slot: usize) -> Option<u16> {
        match self.rtc.webrtc_server_port {
            _ if !self.rtc.webrtc_server => None,
            0 => None,
            port => u16::try_from(usize::from(port) + slot).ok(),
        }
    }

    pub fn http_listen(&self) -> Result<SocketAddr, ConfigError> {
        self.http.listen.parse().map_err(|_| {
            invalid(
                "http.listen",
                format!("{:?} is not an address:port", self.http.listen),
            )
        })
    }

    /// `http.public_url` without a trailing slash, if set; checked at load:
    /// `http(s)://host[:port]`, nothing after the authority.
    pub fn public_url(&self) -> Result<Option<&str>, ConfigError> {
        let url = self.http.public_url.trim_end_matches('/');
        if url.is_empty() {
            return Ok(None);
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(authority)
                if !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']) =>
            {
                Ok(Some(url))
            }
            _ => Err(invalid(
                "http.public_url",
                format!("{url:?} is not http(s)://host[:port]"),
            )),
        }
    }

    pub fn listen_ip(&self) -> IpAddr {
        self.rtc.listen_ip.parse().expect("validated at load")
    }

    /// Where media pipes to other nodes listen (`cluster.pipe_ip`, else the
    /// host of the internal address, else `rtc.listen_ip`).
    pub fn pipe_ip(&self, internal_addr: &str) -> IpAddr {
        if let Ok(ip) = self.cluster.pipe_ip.parse() {
            return ip;
        }
        internal_addr
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .ok()
            .filter(|ip| !ip.is_unspecified())
            .unwrap_or_else(|| self.listen_ip())
    }

    pub fn announced_ip(&self) -> Option<IpAddr> {
        self.rtc.announced_ip.parse().ok()
    }

    pub fn worker_count(&self) -> usize {
        match self.rtc.workers {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        }
    }
}

fn parse(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            origin: origin.to_owned(),
            message: e.message().to_owned(),
        })
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// An environment value of a non-string key as TOML (numbers, booleans,
/// arrays); a bare word stays a string, for enum keys such as log levels.
fn env_value(raw: &str) -> Option<toml::Value> {
    if let Some(value) = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
    {
        return Some(value);
    }
    let word = !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    word.then(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("podium-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("podium.toml");
        std::fs::write(&path, file).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let result = Config::load(Some(&path), env);
        std::fs::remove_dir_all(dir).unwrap();
        result
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let config = Config::load(None, []).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:8080");
        assert!(
            !config.auth.dev_mode,
            "dev mode is opt-in (scripts/run turns it on)"
        );
        assert!(config.auth.admin_key.is_empty());
        assert!(config.worker_count() >= 1);
    }

    #[test]
    fn file_then_env_override_defaults() {
        let config = load(
            "[rtc]\nworkers = 3\nport_min = 41000\n",
            &[
                ("PODIUM_RTC__WORKERS", "5"),
                ("PODIUM_HTTP__LISTEN", "127.0.0.1:9000"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(config.rtc.workers, 5);
        assert_eq!(config.rtc.port_min, 41000);
        assert_eq!(config.http.listen, "127.0.0.1:9000");
    }

    #[test]
    fn bad_values_name_their_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "[rtc]\nport_min = 50000\nport_max = 40000\n",
                &[],
                "rtc.port_min",
            ),
            (
                "[rtc]\nannounced_ip = \"not-an-ip\"\n",
                &[],
                "rtc.announced_ip",
            ),
            ("[rtc]\nlisten_ip = \"1.2.3\"\n", &[], "rtc.listen_ip"),
            ("[http]\nlisten = \"localhost\"\n", &[], "http.listen"),
            (
                "",
                &[
                    ("PODIUM_HTTP__LISTEN", "0.0.0.0:8080"),
                    ("PODIUM_AUTH__DEV_MODE", "true"),
                ],
                "auth.dev_mode",
            ),
            (
                "[auth]\ntoken_secret = \"short\"\n",
                &[],
                "auth.token_secret",
            ),
            ("[auth]\nadmin_key = \"short\"\n", &[], "auth.admin_key"),
            (
                "[http]\npublic_url = \"https://a.example/x\"\n",
                &[],
                "http.public_url",
            ),
            ("[http]\npublic_url = \"ftp://a\"\n", &[], "http.public_url"),
            ("[rtc]\ncodecs = [\"vp8\"]\n", &[], "rtc.codecs"),
            ("[http]\ntls_cert = \"cert.pem\"\n", &[], "http.tls_cert"),
            ("[egress]\nallow_ports = []\n", &[], "egress.allow_ports"),
            ("[egress]\nallow_ports = [0]\n", &[], "egress.allow_ports"),
            (
                "[egress]\nallow_hosts = [\"ingest.internal:x\"]\n",
                &[],
                "egress.allow_hosts",
            ),
            (
                "[egress]\nallow_hosts = [\"a b\"]\n",
                &[],
                "egress.allow_hosts",
            ),
            ("[egress]\nmax_restreams = 0\n", &[], "egress.max_restreams"),
            (
                "[recording]\nresolution = \"4k\"\n",
                &[],
                "recording.resolution",
            ),
            (
                "[egress]\nmax_destinations = 0\n",
                &[],
                "egress.max_destinations",
            ),
        ];
        for (file, env, key) in cases {
            let err = load(file, env).expect_err(file).to_string();
            assert!(err.contains(key), "{file:?}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_types_are_rejected() {
        let err = load("[rtc]\nworkerz = 2\n", &[]).unwrap_err().to_string();
        assert!(err.contains("workerz"), "{err}");
        let err = load("[rtc]\nworkers = \"two\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
        let err = load("[rtc]\ncodecs = [\"av1\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("av1"), "{err}");
        let err = load("", &[("PODIUM_WORKERS", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PODIUM_WORKERS"), "{err}");
    }

    #[test]
    fn environment_strings_stay_strings() {
        // A numeric admin key is a key, not a number; a secret that is not
        // valid TOML is taken as it is.
        let config = load(
            "",
            &[
                ("PODIUM_AUTH__ADMIN_KEY", "12345678901234567890"),
                (
                    "PODIUM_AUTH__TOKEN_SECRET",
                    "0123456789abcdef\"0123456789abcdef =",
                ),
                ("PODIUM_HTTP__PUBLIC_URL", "https://class.example.org/"),
                ("PODIUM_RTC__WORKER_LOG_LEVEL", "debug"),
            ],
        )
        .unwrap();
        assert_eq!(config.auth.admin_key.expose(), "12345678901234567890");
        assert_eq!(
            config.auth.token_secret.expose(),
            "0123456789abcdef\"0123456789abcdef ="
        );
        assert_eq!(
            config.public_url().unwrap(),
            Some("https://class.example.org")
        );
        // A bad value of a typed key names the variable, never the value.
        let err = load("", &[("PODIUM_RTC__WORKERS", "{oops} secret!")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PODIUM_RTC__WORKERS"), "{err}");
        assert!(!err.contains("secret!"), "{err}");
    }

    #[test]
    fn the_readme_documents_every_key() {
        let readme = include_str!("../../README.md");
        let defaults: toml::Table = DEFAULT_TOML.parse().unwrap();
        for (section, table) in &defaults {
            for key in table.as_table().unwrap().keys() {
                let name = format!("`{section}.{key}`");
                assert!(
                    readme.contains(&name),
                    "README's configuration table lacks {name}"
                );
            }
        }
    }

    #[test]
    fn webrtc_server_ports_and_turn_are_checked() {
        let config = load("[rtc]\nworkers = 2\nwebrtc_server_port = 44444\n", &[]).unwrap();
        assert_eq!(config.webrtc_server_port(0), Some(44444));
        assert_eq!(config.webrtc_server_port(1), Some(44445));
        assert_eq!(Config::load(None, []).unwrap().webrtc_server_port(1), None);
        let config = load(
            "[rtc]\nwebrtc_server = false\nwebrtc_server_port = 44444\n",
            &[],
        );
        assert_eq!(config.unwrap().webrtc_server_port(0), None);
        let config = load(
            "[turn]\nurls = [\"turns:turn.example.org:443?transport=tcp\"]\nrelay_only = true\n",
            &[("PODIUM_TURN__SECRET", "0123456789abcdef")],
        )
        .unwrap();
        assert!(config.turn.relay_only);
        type Case<'a> = (&'a str, &'a str);
        let cases: &[Case] = &[
            (
                "[rtc]\nworkers = 2\nwebrtc_server_port = 65535\n",
                "rtc.webrtc_server_port",
            ),
            ("[turn]\nurls = [\"http://x\"]\n", "turn.urls"),
            ("[turn]\nurls = [\"turn:x:3478\"]\n", "turn.secret"),
            ("[turn]\nrelay_only = true\n", "turn.relay_only"),
            ("[turn]\nttl_secs = 0\n", "turn.ttl_secs"),
        ];
        for (file, key) in cases {
            let err = load(file, &[]).expect_err(file).to_string();
            assert!(err.contains(key), "{file:?}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = load(
            "[auth]\ntoken_secret = \"0123456789abcdef0123456789abcdef-secret\"\nadmin_key = \"admin-key-0123456789\"\n",
            &[],
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret\""), "{debug}");
        assert!(!debug.contains("admin-key"), "{debug}");
    }
}
