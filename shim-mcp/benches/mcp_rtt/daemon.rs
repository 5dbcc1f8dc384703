//! The real daemon, as a child process

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{CONFIG, Result, current_thread};

pub(crate) struct DaemonProc {
    child: Child,
    dir: tempfile::TempDir,
    pub(crate) socket: PathBuf,
    pub(crate) shim_env: ShimEnv,
}

/// What comms-mcp needs to reach this daemon: its socket, data directory and
/// config, and never autostart.
#[derive(Debug, Clone)]
pub(crate) struct ShimEnv {
    socket: PathBuf,
    data: PathBuf,
    config: PathBuf,
    pub(crate) extra: Vec<(&'static str, String)>,
}

impl ShimEnv {
    pub(crate) fn command(&self, shim: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(shim);
        cmd.env("COMMSD_SOCKET", &self.socket)
            .env("COMMSD_DATA_DIR", &self.data)
            .env("COMMSD_CONFIG", &self.config)
            .env("COMMSD_AUTOSTART", "0")
            .env("COMMSD_LOG", "warn")
            .stderr(Stdio::inherit());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }
}

impl DaemonProc {
    /// Starts `commsd` on a fresh temp directory and waits until it answers.
    pub(crate) fn start(binary: &Path) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, CONFIG)?;
        let socket = dir.path().join("run").join("commsd.sock");
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let child = Command::new(binary)
            .env("COMMSD_DATA_DIR", dir.path().join("data"))
            .env("COMMSD_SOCKET", &socket)
            .env("COMMSD_CONFIG", &config)
            .env("COMMSD_LOG", "warn")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let shim_env = ShimEnv {
            socket: socket.clone(),
            data: dir.path().join("data"),
            config,
            extra: Vec::new(),
        };
        let mut daemon = DaemonProc {
            child,
            dir,
            socket,
            shim_env,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<()> {
        // Dropped on return: a channel left on an undriven runtime would hold
        // the daemon's graceful shutdown for its drain timeout.
        let rt = current_thread()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rt.block_on(commsd_proto::client::connect(&self.socket)) {
                Ok(_) => return Ok(()),
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
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGTERM through `kill(1)` (the workspace forbids unsafe code), then
    /// waits up to 15 s for the exit.
    pub(crate) fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                return Err(format!("commsd did not exit within 15 s:\n{}", self.stderr()).into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
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
