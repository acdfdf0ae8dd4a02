//! A process this tool started (the Podium server, Janus) or was given by
//! pid: whether it still runs, the end of its log, and a stop that asks
//! first (SIGTERM, then SIGKILL after 10 s). Stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// How long a process has to exit after SIGTERM.
const STOP_WITHIN: Duration = Duration::from_secs(10);

pub struct Process {
    child: Option<Child>,
    pub pid: u32,
    /// Where its output goes, if this tool knows.
    pub log: Option<PathBuf>,
}

impl Process {
    /// A child of this tool, writing to `log`.
    pub fn started(child: Child, log: Option<PathBuf>) -> Process {
        Process {
            pid: child.id(),
            child: Some(child),
            log,
        }
    }

    /// A process someone else started: watched through /proc, never stopped.
    pub fn existing(pid: u32) -> Process {
        Process {
            child: None,
            pid,
            log: None,
        }
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => Path::new(&format!("/proc/{}", self.pid)).exists(),
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        let Some(path) = &self.log else {
            return Vec::new();
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// SIGTERM, then SIGKILL after [`STOP_WITHIN`]. Returns how it ended.
    pub fn stop(&mut self) -> String {
        let Some(mut child) = self.child.take() else {
            return "not started by this tool, or stopped before".into();
        };
        if let Ok(Some(status)) = child.try_wait() {
            return format!("had exited: {status}");
        }
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return format!("stopped: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        format!("killed after {} s", STOP_WITHIN.as_secs())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
