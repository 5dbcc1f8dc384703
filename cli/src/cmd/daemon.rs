//! `commsctl daemon start|stop|restart`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use commsd_proto::client::ConnectError;
use commsd_proto::v1::{ShutdownRequest, control_client::ControlClient};

use crate::client::{self, Socket};
use crate::output;

/// How long `start` waits for a new daemon to answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `stop` waits for the daemon to finish in-flight work and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// Start, stop or restart the daemon in the background.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start commsd in the background and wait until it answers.
    ///
    /// Does nothing when it already runs. Logs go to commsd.log in the data
    /// directory. Two concurrent starts give one daemon.
    #[command(
        after_help = "Examples:\n  commsctl daemon start\n  COMMSD_LOG=debug commsctl daemon start"
    )]
    Start,
    /// Ask commsd to shut down gracefully and wait until it has exited.
    Stop,
    /// Stop (if running), then start.
    Restart,
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Start => start(socket, false).await,
        Command::Stop => stop(socket).await,
        Command::Restart => {
            stop(socket).await?;
            start(socket, false).await
        }
    }
}

/// Starts the daemon unless one answers on `socket`; `quiet` for autostart.
pub async fn start(socket: &Socket, quiet: bool) -> anyhow::Result<()> {
    let dir = socket
        .path()
        .parent()
        .context("the socket path has no directory")?;
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create socket directory {}", dir.display()))?;
    }
    // Serialise concurrent starts: the second waits here, then finds the first's daemon.
    let lock_path = dir.join("commsctl-start.lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await?
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;

    match client::connect(socket).await {
        Ok(c) => {
            if !quiet {
                output::text(&format!(
                    "commsd is already running (pid {}) on {}\n",
                    c.daemon.pid,
                    socket.path().display()
                ))?;
            }
            return Ok(());
        }
        Err(e) if e.is_not_running() => {}
        Err(e) => return Err(e.into()),
    }

    let log_path = log_path()?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .with_context(|| format!("cannot open log file {}", log_path.display()))?;
    let log_start = log.seek(SeekFrom::End(0))?;
    let binary = daemon_binary();
    let mut child = Process::new(&binary)
        .env("COMMSD_SOCKET", socket.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.try_clone()?)
        // Its own process group: Ctrl-C in this terminal must not reach it.
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {} (set COMMSD_BIN to the commsd binary)",
                binary.display()
            )
        })?;

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(exit) = child.try_wait()? {
            bail!(
                "commsd exited during start-up ({exit}); its log {} says:\n{}",
                log_path.display(),
                log_tail(&log_path, log_start)
            );
        }
        match client::connect(socket).await {
            Ok(c) => {
                if !quiet {
                    output::text(&format!(
                        "commsd started (pid {}) on {}\n  logs: {}\n",
                        c.daemon.pid,
                        socket.path().display(),
                        log_path.display()
                    ))?;
                } else {
                    eprintln!("commsctl: started commsd (pid {})", c.daemon.pid);
                }
                drop(lock);
                return Ok(());
            }
            Err(e) if e.is_not_running() && Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "commsd did not answer within {START_TIMEOUT:?}; see {}",
                    log_path.display()
                )));
            }
        }
    }
}

async fn stop(socket: &Socket) -> anyhow::Result<()> {
    let connected = match client::connect(socket).await {
        Ok(c) => c,
        Err(ConnectError::NotRunning { .. }) => {
            return output::text(&format!(
                "commsd is not running at {}\n",
                socket.path().display()
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let pid = connected.daemon.pid;
    ControlClient::new(connected.channel)
        .shutdown(ShutdownRequest {
            reason: format!("commsctl daemon stop (pid {})", std::process::id()),
        })
        .await?;
    // The daemon holds `<socket>.lock` until its process exits: once we can
    // take it, the daemon is gone (database closed, socket removed).
    let mut lock_path = socket.path().as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while !lock_is_free(&lock_path) {
        if Instant::now() >= deadline {
            bail!("commsd (pid {pid}) did not exit within {STOP_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
    output::text(&format!("commsd stopped (pid {pid})\n"))
}

fn lock_is_free(path: &Path) -> bool {
    match OpenOptions::new().write(true).open(path) {
        Ok(f) => f.try_lock().is_ok(),
        Err(_) => true,
    }
}

/// The commsd binary: $COMMSD_BIN, else beside this commsctl, else from PATH.
fn daemon_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COMMSD_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("commsd")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("commsd"))
}

fn log_path() -> anyhow::Result<PathBuf> {
    let data = commsd_proto::paths::data_dir()
        .context("cannot find the data directory: set COMMSD_DATA_DIR or HOME")?
        .path;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    Ok(data.join("commsd.log"))
}

/// What the daemon wrote to its log since `from`, at most the last 20 lines.
fn log_tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
