//! A local nginx-rtmp ingest, started by the test on free ports: its own
//! prefix directory and nginx.conf, run in the foreground as a child that
//! dies with the test process. Optional TLS in front (stream module,
//! self-signed certificate from openssl) for RTMPS.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct Nginx {
    child: Option<Child>,
    dir: PathBuf,
    pub rtmp_port: u16,
    pub rtmps_port: Option<u16>,
    stopped: bool,
}

/// A name only the tests' resolver knows (it maps it to 127.0.0.1): the
/// TLS ingest's certificate names it, so RTMPS to it proves the connection
/// went to the pinned address with the host name as TLS identity.
pub const PINNED_NAME: &str = "ingest.podium.test";

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// Prepares an ingest on fresh ports without starting it.
    pub fn new(tls: bool) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "podium-egress-nginx-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let rtmp_port = free_port();
        let rtmps_port = tls.then(free_port);
        let mut stream = String::new();
        if let Some(port) = rtmps_port {
            let status = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", "/CN=localhost"])
                .args([
                    "-addext",
                    &format!("subjectAltName=DNS:localhost,DNS:{PINNED_NAME},IP:127.0.0.1"),
                ])
                .arg("-keyout")
                .arg(dir.join("key.pem"))
                .arg("-out")
                .arg(dir.join("cert.pem"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success(), "openssl failed");
            stream = format!(
                "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
                 stream {{ server {{ listen 127.0.0.1:{port} ssl; \
                 ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem; \
                 proxy_pass 127.0.0.1:{rtmp_port}; }} }}\n",
                d = dir.display()
            );
        }
        let (load_stream, stream_block) = match stream.split_once('\n') {
            Some((load, block)) => (format!("{load}\n"), block.to_owned()),
            None => (String::new(), String::new()),
        };
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\n\
             pid {d}/nginx.pid;\nerror_log {d}/logs/error.log info;\n\
             load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n{load_stream}\
             events {{ worker_connections 128; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{rtmp_port}; chunk_size 4096; ack_window 131072;\n\
               application live {{ live on; record off; }} }} }}\n{stream_block}",
            d = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        Self {
            child: None,
            dir,
            rtmp_port,
            rtmps_port,
            stopped: false,
        }
    }

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
            .arg(self.dir.join("logs/error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it makes the kernel kill nginx
        // if the test process dies without running our Drop.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
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

    pub fn thaw(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGCONT);
            self.stopped = false;
        }
    }

    pub fn rtmp_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.rtmp_port)
    }

    pub fn rtmps_url(&self) -> String {
        format!(
            "rtmps://127.0.0.1:{}/live",
            self.rtmps_port.expect("TLS ingest")
        )
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
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
