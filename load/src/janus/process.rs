//! A Janus process for one run: started inside the run's network namespace
//! ([`super::netns`], `ip netns exec <ns> janus ...`) on the configuration
//! [`super::config`] writes, tied to the thread that started it
//! (PR_SET_PDEATHSIG: `ip netns exec` execs Janus in the same process, so
//! the signal set before `ip` starts holds for Janus), ready once
//! `GET /janus/info` answers, stopped (SIGTERM, then SIGKILL) when dropped,
//! and its namespace removed after. Its pid is Janus's, for CPU and memory
//! sampling (`crate::procfs`).

use super::config::{ConfigDir, JanusConfig};
use super::netns::Netns;
use crate::child::Process;
use anyhow::{Context, bail};
use std::fs::File;
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct Janus {
    process: Process,
    pub pid: u32,
    /// `http://<namespace's address>:<port>/janus`
    pub base_url: String,
    pub config: JanusConfig,
    pub log: PathBuf,
    /// What `GET /janus/info` answered.
    pub info: serde_json::Value,
    _dir: ConfigDir,
    /// Where it runs; the bots bind on [`Netns::host_ip`]. Dropped last,
    /// once Janus has stopped.
    pub netns: Netns,
}

impl Janus {
    /// Starts `binary` (`janus` on the PATH, say) inside `netns` and waits
    /// for its API; `config.ip` must be `netns.ns_ip`. Call it from the
    /// thread that lives as long as the run (the main one): Janus gets
    /// SIGTERM when that thread ends.
    pub async fn launch(
        binary: &Path,
        config: JanusConfig,
        netns: Netns,
        log: &Path,
    ) -> anyhow::Result<Janus> {
        if config.ip != IpAddr::V4(netns.ns_ip) {
            bail!(
                "janus would listen on {} but its namespace {} has {}",
                config.ip,
                netns.name,
                netns.ns_ip
            );
        }
        let dir = ConfigDir::create(&config)?;
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = netns.command(binary);
        command
            // -F: the folder of the plugins' and transports' files; -C: the core's.
            .arg("-F")
            .arg(&dir.path)
            .arg("-C")
            .arg(dir.main_file())
            // No colours in the log file.
            .arg("-o")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: prctl and setrlimit are async-signal-safe. Janus gets
        // SIGTERM if the thread that started it dies, and may open as many
        // files as the hard limit allows (Janus's FAQ: "Too many open files"
        // with many VideoRoom users).
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                }
                Ok(())
            });
        }
        let child = command.spawn().with_context(|| {
            format!(
                "starting {} in namespace {} (Debian package janus; scripts/setup --test \
                 installs it)",
                binary.display(),
                netns.name
            )
        })?;
        let process = Process::started(child, Some(log.to_owned()));
        let pid = process.pid;
        let mut janus = Janus {
            process,
            pid,
            base_url: format!("http://{}:{}/janus", config.ip, config.http_port),
            config,
            log: log.to_owned(),
            info: serde_json::Value::Null,
            _dir: dir,
            netns,
        };
        tracing::info!(
            pid,
            netns = %janus.netns.name,
            url = %janus.base_url,
            "janus starting"
        );
        janus.info = janus.wait_ready(Duration::from_secs(20)).await?;
        // `ip` has exec'd Janus by now: the pid to sample and to signal is
        // Janus's own.
        let expected: String = binary
            .file_name()
            .map(|n| n.to_string_lossy().chars().take(15).collect())
            .unwrap_or_default();
        let comm = janus.comm();
        if comm != expected {
            tracing::warn!(pid, %comm, %expected, "the child is not the janus binary");
        }
        Ok(janus)
    }

    /// The child's process name (`/proc/<pid>/comm`): `janus` once `ip`
    /// has exec'd it.
    pub fn comm(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/comm", self.pid))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }

    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<serde_json::Value> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()?;
        let url = format!("{}/info", self.base_url);
        let deadline = Instant::now() + within;
        loop {
            if !self.is_running() {
                bail!(
                    "janus exited at start; see {}:\n{}",
                    self.log.display(),
                    self.log_tail(20).join("\n")
                );
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
                && let Ok(info) = response.json::<serde_json::Value>().await
                && info["janus"] == "server_info"
            {
                return Ok(info);
            }
            if Instant::now() > deadline {
                bail!("janus did not answer {url} within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        self.process.log_tail(lines)
    }

    /// SIGTERM (Janus closes its sessions and exits), then SIGKILL after
    /// 10 s. Returns how it ended.
    pub fn stop(&mut self) -> String {
        self.process.stop()
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        self.stop();
    }
}
