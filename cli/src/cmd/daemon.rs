//! `commsctl daemon start|stop|restart`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use commsd_proto::autostart::{self, Started};
use commsd_proto::client::ConnectError;
use commsd_proto::v1::{ShutdownRequest, control_client::ControlClient};

use crate::client::{self, Socket};
use crate::output;

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
/// The work is `commsd_proto::autostart::start`, shared with comms-mcp.
pub async fn start(socket: &Socket, quiet: bool) -> anyhow::Result<()> {
    match autostart::start(socket.path()).await? {
        Started::AlreadyRunning { pid } => {
            if !quiet {
                output::text(&format!(
                    "commsd is already running (pid {pid}) on {}\n",
                    socket.path().display()
                ))?;
            }
        }
        Started::Started { pid, log } => {
            if !quiet {
                output::text(&format!(
                    "commsd started (pid {pid}) on {}\n  logs: {}\n",
                    socket.path().display(),
                    log.display()
                ))?;
            } else {
                eprintln!("commsctl: started commsd (pid {pid})");
            }
        }
    }
    Ok(())
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
