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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    pub static_dir: PathBuf,
    pub tls_cert: String,
    pub tls_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtcConfig {
    pub listen_ip: String,
    pub announced_ip: String,
    pub port_min: u16,
    pub port_max: u16,
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
    pub token_secret: Secret,
    pub admin_key: Secret,
    pub token_ttl_secs: u64,
    pub teacher_can_restream: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub ws_max_message_bytes: usize,
    pub ws_requests_per_second: u32,
    pub ws_request_burst: u32,
    pub peer_queue_len: usize,
    pub max_peers_per_room: usize,
    pub max_chat_chars: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    pub teacher_grace_secs: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub give_up_after_secs: u64,
    pub watchdog_secs: u64,
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
            table.insert(key.to_lowercase(), env_value(&value));
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
        if !self.auth.dev_mode {
            if self.auth.token_secret.expose().len() < 32 {
                return Err(invalid(
                    "auth.token_secret",
                    "must be at least 32 characters outside dev mode",
                ));
            }
            if self.auth.admin_key.expose().len() < 16 {
                return Err(invalid(
                    "auth.admin_key",
                    "must be at least 16 characters outside dev mode",
                ));
            }
        } else if !listen.ip().is_loopback() {
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
        if limits.max_peers_per_room == 0 || limits.max_chat_chars == 0 {
            return Err(invalid(
                "limits.max_peers_per_room",
                "limits must be positive",
            ));
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
        Ok(())
    }

    pub fn http_listen(&self) -> Result<SocketAddr, ConfigError> {
        self.http.listen.parse().map_err(|_| {
            invalid(
                "http.listen",
                format!("{:?} is not an address:port", self.http.listen),
            )
        })
    }

    pub fn listen_ip(&self) -> IpAddr {
        self.rtc.listen_ip.parse().expect("validated at load")
    }

    pub fn announced_ip(&self) -> Option<IpAddr> {
        self.rtc.announced_ip.parse().ok()
    }

    pub fn worker_count(&self) -> usize {
        match self.rtc.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
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

/// An environment value as TOML when it parses as a TOML value (numbers,
/// booleans, arrays), else as a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
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
        assert!(config.auth.dev_mode);
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
                &[("PODIUM_HTTP__LISTEN", "0.0.0.0:8080")],
                "auth.dev_mode",
            ),
            ("[auth]\ndev_mode = false\n", &[], "auth.token_secret"),
            ("[rtc]\ncodecs = [\"vp8\"]\n", &[], "rtc.codecs"),
            ("[http]\ntls_cert = \"cert.pem\"\n", &[], "http.tls_cert"),
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
    fn secrets_do_not_show_in_debug_output() {
        let config = load(
            "[auth]\ndev_mode = false\ntoken_secret = \"0123456789abcdef0123456789abcdef-secret\"\nadmin_key = \"admin-key-0123456789\"\n",
            &[],
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("secret\""), "{debug}");
        assert!(!debug.contains("admin-key"), "{debug}");
    }
}
