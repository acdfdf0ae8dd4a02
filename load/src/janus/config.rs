//! The configuration of one Janus run, written into a directory of its own:
//! `janus.jcfg` (the core), `janus.plugin.videoroom.jcfg` and
//! `janus.transport.http.jcfg`. Only the VideoRoom plugin and the HTTP
//! transport are loaded; no STUN, no TURN, no admin API, no event handlers.
//!
//! # The settings, and why (option names checked against Janus 1.1.2's
//! `src/janus.c`, `src/ice.c`, `src/transports/janus_http.c` and the sample
//! `janus.jcfg` the Debian package installs in `/etc/janus/`)
//!
//! Janus's own advice for a large run, where it applies here:
//! - `general.event_loops` = the machine's cores: by default every handle
//!   gets its own GLib loop and thread (a thousand students, a thousand
//!   threads); the sample `janus.jcfg` offers a static pool of loops "to cut
//!   the number of threads and reduce context switching", sized "according
//!   to the available resources (e.g. CPUs)".
//! - `general.debug_level` = 3 (warnings): the default 4 logs several lines
//!   per handle at every join; logging is not what is measured.
//! - `general.session_timeout` = 60 s (the default) with the keepalives
//!   `janus.js` sends every 25 s ([`super::api`]); an HTTP long poll also
//!   refreshes the session (`janus_http.c`).
//! - `media.min_nack_queue` = 200 ms (the default, stated explicitly): the
//!   retransmission buffer per stream, no larger than needed on a veth pair.
//! - `media.nack_optimizations` = false (the default; the sample warns it
//!   "can backfire").
//! - `media.twcc_period` = 200 ms (the default): how often Janus sends
//!   transport-wide feedback to the teacher.
//! - `media.no_media_timer` = 1 s and `media.slowlink_threshold` = 0
//!   (defaults): no per-second slowlink events to users.
//! - `nat.ice_lite` = false (full ICE, Janus's default): Janus is the
//!   controlling agent towards the students (it offers to them; `ice.c`:
//!   controlling = the side that did not receive the offer), and the
//!   controlled one towards the teacher, who offers. str0m follows the same
//!   rule on its side, so the roles agree ([`JanusConfig::ice_lite`] turns
//!   Janus into an ICE-lite server like mediasoup, where the bots stay
//!   controlling on both sides).
//! - `nat.ice_enforce_list` = the namespace's end of the run's veth pair,
//!   `nat.ignore_mdns` = true, no STUN or TURN: one host candidate per
//!   PeerConnection, no gathering. Janus never gathers on a loopback
//!   interface (`ice.c` skips `IFF_LOOPBACK`), hence the namespace of
//!   [`super::netns`]; the HTTP transport listens on that address too.
//! - `events.broadcast` = false: no event handlers.
//! - HTTP: on the namespace's address only, `json = "compact"` (no indentation to build per answer) and
//!   `mhd_connection_limit` raised from 1,020: every student holds a long
//!   poll open, as `janus.js` does.
//! - Janus's FAQ ("Too many open files" with many VideoRoom users): the
//!   process's open-file limit is raised to its hard limit at start
//!   ([`super::process`]).
//!
//! The room itself is created over the API ([`super::videoroom::RoomSpec`]).

use anyhow::Context;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The one plugin and the one transport a run loads.
const PLUGIN: &str = "libjanus_videoroom.so";
const TRANSPORT: &str = "libjanus_http.so";

/// What the Debian package ships, for when its folders cannot be listed.
const KNOWN_PLUGINS: [&str; 12] = [
    "libjanus_audiobridge.so",
    "libjanus_duktape.so",
    "libjanus_echotest.so",
    "libjanus_lua.so",
    "libjanus_nosip.so",
    "libjanus_recordplay.so",
    "libjanus_sip.so",
    "libjanus_streaming.so",
    "libjanus_textroom.so",
    "libjanus_videocall.so",
    "libjanus_videoroom.so",
    "libjanus_voicemail.so",
];
const KNOWN_TRANSPORTS: [&str; 6] = [
    "libjanus_http.so",
    "libjanus_mqtt.so",
    "libjanus_nanomsg.so",
    "libjanus_pfunix.so",
    "libjanus_rabbitmq.so",
    "libjanus_websockets.so",
];
const KNOWN_LOGGERS: [&str; 1] = ["libjanus_jsonlog.so"];

/// Where distributions install Janus's modules (`<dir>/plugins`, ...).
const LIB_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/janus",
    "/usr/lib/aarch64-linux-gnu/janus",
    "/usr/lib/janus",
    "/opt/janus/lib/janus",
];

/// One run's settings. [`JanusConfig::new`] gives the ones listed in the
/// module's documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct JanusConfig {
    /// The HTTP API's port on [`JanusConfig::ip`].
    pub http_port: u16,
    /// Janus's ICE/RTP ports (one per PeerConnection).
    pub rtp_ports: (u16, u16),
    /// The namespace's end of the veth pair ([`super::netns::Netns::ns_ip`]):
    /// the HTTP API listens there, and Janus gathers its one host candidate
    /// there.
    pub ip: IpAddr,
    pub event_loops: usize,
    /// 0-7; 3 = warnings.
    pub debug_level: u8,
    pub ice_lite: bool,
    pub session_timeout_s: u32,
    pub min_nack_queue_ms: u32,
    pub twcc_period_ms: u32,
    pub no_media_timer_s: u32,
    pub slowlink_threshold: u32,
    /// libmicrohttpd's connection limit (default 1,020).
    pub http_connection_limit: u32,
}

impl JanusConfig {
    pub fn new(http_port: u16, rtp_ports: (u16, u16), ip: IpAddr) -> Self {
        Self {
            http_port,
            rtp_ports,
            ip,
            event_loops: std::thread::available_parallelism().map_or(2, usize::from),
            debug_level: 3,
            ice_lite: false,
            session_timeout_s: 60,
            min_nack_queue_ms: 200,
            twcc_period_ms: 200,
            no_media_timer_s: 1,
            slowlink_threshold: 0,
            http_connection_limit: 16_384,
        }
    }

    /// The settings as `(name, value)` pairs, for a run's JSON record.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "event_loops": self.event_loops,
            "debug_level": self.debug_level,
            "ice_lite": self.ice_lite,
            "session_timeout_s": self.session_timeout_s,
            "min_nack_queue_ms": self.min_nack_queue_ms,
            "nack_optimizations": false,
            "twcc_period_ms": self.twcc_period_ms,
            "no_media_timer_s": self.no_media_timer_s,
            "slowlink_threshold": self.slowlink_threshold,
            "rtp_port_range": format!("{}-{}", self.rtp_ports.0, self.rtp_ports.1),
            "ip": self.ip.to_string(),
            "http_connection_limit": self.http_connection_limit,
        })
    }

    /// `janus.jcfg`. `modules` lists what is installed, by kind.
    pub fn janus_jcfg(&self, modules: &Modules) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Written by podium-load for one run.");
        let _ = writeln!(s, "general: {{");
        let _ = writeln!(s, "\tdebug_level = {}", self.debug_level);
        let _ = writeln!(s, "\tdebug_timestamps = true");
        let _ = writeln!(s, "\tdebug_colors = false");
        let _ = writeln!(s, "\tsession_timeout = {}", self.session_timeout_s);
        let _ = writeln!(s, "\tevent_loops = {}", self.event_loops.max(1));
        let _ = writeln!(s, "\tserver_name = \"podium-load\"");
        let _ = writeln!(s, "}}");
        let _ = writeln!(s, "media: {{");
        let _ = writeln!(s, "\tipv6 = false");
        let _ = writeln!(s, "\tmin_nack_queue = {}", self.min_nack_queue_ms);
        let _ = writeln!(s, "\tnack_optimizations = false");
        let (lo, hi) = self.rtp_ports;
        let _ = writeln!(s, "\trtp_port_range = \"{lo}-{hi}\"");
        let _ = writeln!(s, "\tno_media_timer = {}", self.no_media_timer_s);
        let _ = writeln!(s, "\tslowlink_threshold = {}", self.slowlink_threshold);
        let _ = writeln!(s, "\ttwcc_period = {}", self.twcc_period_ms);
        let _ = writeln!(s, "}}");
        let _ = writeln!(s, "nat: {{");
        let _ = writeln!(s, "\tnice_debug = false");
        let _ = writeln!(s, "\tfull_trickle = false");
        let _ = writeln!(s, "\tice_lite = {}", self.ice_lite);
        let _ = writeln!(s, "\tice_tcp = false");
        let _ = writeln!(s, "\tignore_mdns = true");
        let _ = writeln!(s, "\tice_enforce_list = \"{}\"", self.ip);
        let _ = writeln!(s, "}}");
        let lists = [
            ("plugins", disable_list(&modules.plugins, Some(PLUGIN))),
            (
                "transports",
                disable_list(&modules.transports, Some(TRANSPORT)),
            ),
            ("loggers", disable_list(&modules.loggers, None)),
        ];
        for (section, disabled) in lists {
            let _ = writeln!(s, "{section}: {{");
            if !disabled.is_empty() {
                let _ = writeln!(s, "\tdisable = \"{disabled}\"");
            }
            let _ = writeln!(s, "}}");
        }
        let _ = writeln!(s, "events: {{");
        let _ = writeln!(s, "\tbroadcast = false");
        let _ = writeln!(s, "}}");
        s
    }

    /// `janus.plugin.videoroom.jcfg`: no static rooms, no admin key.
    pub fn videoroom_jcfg(&self) -> String {
        "# Written by podium-load: rooms are created over the API.\n\
         general: {\n\tevents = false\n}\n"
            .to_owned()
    }

    /// `janus.transport.http.jcfg`: plain HTTP on [`JanusConfig::ip`], no
    /// admin API.
    pub fn http_jcfg(&self) -> String {
        format!(
            "# Written by podium-load for one run.\n\
             general: {{\n\
             \tevents = false\n\
             \tjson = \"compact\"\n\
             \tbase_path = \"/janus\"\n\
             \thttp = true\n\
             \tport = {port}\n\
             \tip = \"{ip}\"\n\
             \thttps = false\n\
             \tmhd_connection_limit = {limit}\n\
             }}\n\
             admin: {{\n\
             \tadmin_http = false\n\
             \tadmin_https = false\n\
             }}\n",
            port = self.http_port,
            ip = self.ip,
            limit = self.http_connection_limit,
        )
    }
}

/// The module files Janus would load, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    pub plugins: Vec<String>,
    pub transports: Vec<String>,
    pub loggers: Vec<String>,
}

impl Modules {
    /// What is installed (the first of [`LIB_DIRS`] that has plugins), or
    /// what Debian ships.
    pub fn installed() -> Self {
        let listed = LIB_DIRS.iter().map(Path::new).find_map(|dir| {
            let plugins = list_so(&dir.join("plugins"))?;
            Some(Modules {
                plugins,
                transports: list_so(&dir.join("transports")).unwrap_or_default(),
                loggers: list_so(&dir.join("loggers")).unwrap_or_default(),
            })
        });
        listed.unwrap_or_else(Self::known)
    }

    /// What the Debian package ships.
    pub fn known() -> Self {
        let own = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
        Modules {
            plugins: own(&KNOWN_PLUGINS),
            transports: own(&KNOWN_TRANSPORTS),
            loggers: own(&KNOWN_LOGGERS),
        }
    }
}

/// The `*.so` files of a folder (Janus loads only names ending in `.so`).
fn list_so(dir: &Path) -> Option<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".so"))
        .collect();
    names.sort();
    (!names.is_empty()).then_some(names)
}

/// A `disable = "..."` value: every module but `keep`.
pub fn disable_list(modules: &[String], keep: Option<&str>) -> String {
    modules
        .iter()
        .filter(|m| Some(m.as_str()) != keep)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// A run's configuration folder; removed when dropped.
#[derive(Debug)]
pub struct ConfigDir {
    pub path: PathBuf,
}

impl ConfigDir {
    /// Writes the three files into a fresh folder under the system's temp dir.
    pub fn create(config: &JanusConfig) -> anyhow::Result<ConfigDir> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        sweep_stale_dirs();
        let path = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("clearing {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        let dir = ConfigDir { path };
        let files = [
            ("janus.jcfg", config.janus_jcfg(&Modules::installed())),
            ("janus.plugin.videoroom.jcfg", config.videoroom_jcfg()),
            ("janus.transport.http.jcfg", config.http_jcfg()),
        ];
        for (name, text) in files {
            let file = dir.path.join(name);
            std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        }
        Ok(dir)
    }

    /// `janus.jcfg` in it.
    pub fn main_file(&self) -> PathBuf {
        self.path.join("janus.jcfg")
    }
}

/// Every run's folder is `<temp>/podium-load-janus-<pid>-<n>`.
const DIR_PREFIX: &str = "podium-load-janus-";

/// Removes the folders of runs killed before they could (their process is
/// gone).
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let owner = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(owner) = owner
            && !Path::new(&format!("/proc/{owner}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JanusConfig {
        let mut c = JanusConfig::new(18088, (31000, 31999), "10.254.7.2".parse().unwrap());
        c.event_loops = 2;
        c
    }

    #[test]
    fn disables_everything_but_the_videoroom_and_http() {
        let text = config().janus_jcfg(&Modules::known());
        let line = |section: &str| {
            let start = text.find(&format!("{section}: {{")).unwrap();
            text[start..].lines().nth(1).unwrap().trim().to_owned()
        };
        let plugins = line("plugins");
        assert!(plugins.starts_with("disable = \""));
        assert!(plugins.contains("libjanus_streaming.so"));
        assert!(!plugins.contains("libjanus_videoroom.so"));
        assert_eq!(plugins.matches(".so").count(), KNOWN_PLUGINS.len() - 1);
        let transports = line("transports");
        assert!(transports.contains("libjanus_websockets.so"));
        assert!(!transports.contains("libjanus_http.so"));
        assert_eq!(line("loggers"), "disable = \"libjanus_jsonlog.so\"");
    }

    #[test]
    fn writes_the_scale_settings() {
        let text = config().janus_jcfg(&Modules::known());
        for expected in [
            "event_loops = 2",
            "debug_level = 3",
            "rtp_port_range = \"31000-31999\"",
            "ice_lite = false",
            "ice_enforce_list = \"10.254.7.2\"",
            "min_nack_queue = 200",
            "twcc_period = 200",
            "no_media_timer = 1",
            "slowlink_threshold = 0",
            "broadcast = false",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
        assert!(!text.contains("stun_server"));
        assert!(!text.contains("turn_server"));
        let http = config().http_jcfg();
        assert!(http.contains("port = 18088"));
        assert!(http.contains("ip = \"10.254.7.2\""));
        assert!(http.contains("https = false"));
        assert!(http.contains("admin_http = false"));
        assert!(!config().videoroom_jcfg().contains("room-"));
        assert!(!config().videoroom_jcfg().contains("admin_key"));
    }

    #[test]
    fn a_config_dir_holds_three_files_and_goes_away() {
        let dir = ConfigDir::create(&config()).unwrap();
        let path = dir.path.clone();
        for name in [
            "janus.jcfg",
            "janus.plugin.videoroom.jcfg",
            "janus.transport.http.jcfg",
        ] {
            assert!(path.join(name).is_file(), "{name}");
        }
        drop(dir);
        assert!(!path.exists());
    }
}
