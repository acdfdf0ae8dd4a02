//! Every log line of the test process, for the "no secret in any log"
//! checks: a tracing subscriber whose writer keeps all it is given.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Every tracing line of the test process so far.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

struct CaptureWriter {
    buffer: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        if self.echo {
            std::io::stderr().write_all(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber as the process's global one, with
/// `filter` (an `EnvFilter` directive, e.g. `"trace"`), on the first call;
/// later calls return the same capture (their arguments are ignored: one
/// subscriber per test binary). With `echo` the lines also go to stderr.
pub fn capture(filter: &str, echo: bool) -> &'static LogCapture {
    static CAPTURE: OnceLock<LogCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || CaptureWriter {
                buffer: Arc::clone(&writer),
                echo,
            })
            .init();
        LogCapture { buffer }
    })
}

impl LogCapture {
    /// Everything captured so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    /// Fails if `secret` appears in any log line so far, or if nothing was
    /// logged at all (the check would prove nothing).
    pub fn assert_absent(&self, secret: &str) {
        let text = self.text();
        let hits: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "stream key found in logs: {hits:#?}");
        assert!(
            !text.is_empty(),
            "no log captured: the check would prove nothing"
        );
    }
}
