//! The real daemon, as a child process

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{CONFIG, Result};

pub(crate) struct DaemonProc {
    child: Child,
    pub(crate) socket: PathBuf,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl DaemonProc {
    /// Spawns `commsd` on a fresh temp directory (itself 0700: the daemon
    /// creates the socket directory inside it). Does not wait for readiness.
    pub(crate) fn spawn(extra_env: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, CONFIG)?;
        let socket = dir.path().join("run").join("commsd.sock");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commsd"));
        cmd.env("COMMSD_DATA_DIR", dir.path().join("data"))
            .env("COMMSD_SOCKET", &socket)
            .env("COMMSD_CONFIG", &config)
            .env("COMMSD_LOG", "warn")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        Ok(DaemonProc {
            child,
            socket,
            stderr_path,
            _dir: dir,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Polls connect + Status every 1 ms until it succeeds; returns the time
    /// since `since`.
    ///
    /// Takes the runtime by value and drops it on return: the channel's
    /// background tasks live on it, and a connection left open on a runtime
    /// nobody drives never answers the daemon's GOAWAY, which holds the
    /// daemon's graceful shutdown for its whole drain timeout.
    pub(crate) fn wait_ready(
        &mut self,
        rt: tokio::runtime::Runtime,
        since: Instant,
    ) -> Result<Duration> {
        let deadline = since + Duration::from_secs(20);
        loop {
            match rt.block_on(commsd_proto::client::connect(&self.socket)) {
                Ok(_) => return Ok(since.elapsed()),
                Err(e) => {
                    if let Some(status) = self.child.try_wait()? {
                        return Err(format!(
                            "commsd exited ({status}) before it was ready: {e}\n{}",
                            self.stderr()
                        )
                        .into());
                    }
                    if Instant::now() > deadline {
                        return Err(
                            format!("commsd not ready after 20 s: {e}\n{}", self.stderr()).into(),
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGTERM through `kill(1)` (the workspace forbids unsafe code), then
    /// waits for the exit; returns how long the graceful stop took.
    pub(crate) fn stop(mut self) -> Result<Duration> {
        let t = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed: {status}", self.pid()).into());
        }
        let deadline = t + Duration::from_secs(15);
        loop {
            if let Some(exit) = self.child.try_wait()? {
                if !exit.success() {
                    eprintln!("warning: commsd exited with {exit}: {}", self.stderr());
                }
                return Ok(t.elapsed());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "commsd did not exit within 15 s of SIGTERM:\n{}",
                    self.stderr()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        // Only reached without a clean `stop` (an error path): do not leak it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `/proc/<pid>/status` field, e.g. `VmRSS` (kB) or `Threads`.
pub(crate) fn proc_status_field(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}
