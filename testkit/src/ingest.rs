//! A local nginx-rtmp ingest, started by the test on free ports from the
//! one config template (`testkit/nginx-rtmp.conf`, which the browser suite
//! renders too): its own prefix directory, run in the foreground as a child
//! that dies with the test process. Optional TLS in front (stream module,
//! certificate from [`crate::cert`]) for RTMPS.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The config template (see its header for the placeholders).
pub const NGINX_RTMP_CONF: &str = include_str!("../nginx-rtmp.conf");

/// A name only the tests' resolver knows (it maps it to 127.0.0.1): the
/// TLS ingest's certificate names it, so RTMPS to it proves the connection
/// went to the pinned address with the host name as TLS identity.
pub const PINNED_NAME: &str = "ingest.podium.test";

/// A port nothing listens on right now (TCP, 127.0.0.1).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The template with its placeholders filled and its comments dropped; the
/// TLS lines kept only with `rtmps_port`.
pub fn render_conf(dir: &Path, rtmp_port: u16, rtmps_port: Option<u16>) -> String {
    let mut conf = String::new();
    for line in NGINX_RTMP_CONF.lines() {
        let line = match (line.strip_prefix("#tls "), rtmps_port) {
            (Some(tls_line), Some(_)) => tls_line,
            (Some(_), None) => continue,
            (None, _) if line.trim_start().starts_with('#') => continue,
            (None, _) => line,
        };
        conf.push_str(line);
        conf.push('\n');
    }
    let conf = conf
        .replace("@DIR@", &dir.display().to_string())
        .replace("@RTMP_PORT@", &rtmp_port.to_string());
    match rtmps_port {
        Some(port) => conf.replace("@RTMPS_PORT@", &port.to_string()),
        None => conf,
    }
}

/// A local nginx-rtmp ingest (RTMPS in front with `tls`) in its own temporary directory;
/// killed, and the directory removed, on drop.
pub struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    /// The RTMP port on 127.0.0.1.
    pub rtmp_port: u16,
    /// The RTMPS (TLS) port on 127.0.0.1; `None` without `tls`.
    pub rtmps_port: Option<u16>,
    stopped: bool,
}

impl Nginx {
    /// Prepares an ingest on fresh ports without starting it.
    pub fn new(tls: bool) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "podium-testkit-nginx-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let rtmp_port = free_port();
        let rtmps_port = tls.then(free_port);
        if tls {
            let (cert, key) =
                crate::cert::self_signed_for("localhost", &["localhost", PINNED_NAME, "127.0.0.1"]);
            crate::cert::write_pem(&cert, &key, &dir);
        }
        std::fs::write(
            dir.join("nginx.conf"),
            render_conf(&dir, rtmp_port, rtmps_port),
        )
        .unwrap();
        Self {
            child: None,
            dir,
            rtmp_port,
            rtmps_port,
            stopped: false,
        }
    }

    /// [`Nginx::new`] then [`Nginx::start`]: a running ingest.
    pub fn started(tls: bool) -> Self {
        let mut nginx = Self::new(tls);
        nginx.start();
        nginx
    }

    /// Runs nginx (on the same ports as before) and waits until it listens.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "nginx already running");
        let mut command = Command::new("nginx");
        command
            .arg("-p")
            .arg(&self.dir)
            .arg("-c")
            .arg(self.dir.join("nginx.conf"))
            .arg("-e")
            .arg(self.dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        crate::dies_with_us(&mut command);
        self.child = Some(
            command
                .spawn()
                .expect("nginx (apt install nginx libnginx-mod-rtmp)"),
        );
        self.stopped = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports = [Some(self.rtmp_port), self.rtmps_port];
        for port in ports.into_iter().flatten() {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "nginx did not listen on {port}: {}",
                    self.error_log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// SIGKILL: the server vanishes, connections reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                signal(&child, libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server hangs with its connections open.
    pub fn freeze(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGSTOP);
            self.stopped = true;
        }
    }

    /// SIGCONT: a frozen server resumes.
    pub fn thaw(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGCONT);
            self.stopped = false;
        }
    }

    /// The RTMP application URL, `rtmp://127.0.0.1:<port>/live` (the stream name goes after it).
    pub fn rtmp_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.rtmp_port)
    }

    /// An application that accepts a stream and drops it about a second
    /// later, every time (a stream key the ingest does not want):
    /// `rtmp://127.0.0.1:<port>/dropping`.
    pub fn dropping_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/dropping", self.rtmp_port)
    }

    /// The RTMPS application URL, `rtmps://127.0.0.1:<port>/live`; panics without `tls`.
    pub fn rtmps_url(&self) -> String {
        format!(
            "rtmps://127.0.0.1:{}/live",
            self.rtmps_port.expect("TLS ingest")
        )
    }

    /// nginx's error log so far (empty if there is none yet).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_renders_with_and_without_tls() {
        let dir = Path::new("/tmp/x");
        let plain = render_conf(dir, 1935, None);
        assert!(plain.contains("listen 127.0.0.1:1935;"));
        assert!(plain.contains("pid /tmp/x/nginx.pid;"));
        assert!(!plain.contains("stream"));
        assert!(!plain.contains('@'), "{plain}");
        let tls = render_conf(dir, 1935, Some(1936));
        assert!(tls.contains("load_module /usr/lib/nginx/modules/ngx_stream_module.so;"));
        assert!(tls.contains("listen 127.0.0.1:1936 ssl;"));
        assert!(tls.contains("proxy_pass 127.0.0.1:1935;"));
        assert!(!tls.contains("#tls") && !tls.contains('@'), "{tls}");
    }
}
