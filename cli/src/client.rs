//! Reaching the daemon: socket resolution, the handshake, and autostart.

use std::path::{Path, PathBuf};

use commsd_proto::client::{self, ConnectError, Connected};
use commsd_proto::paths;

/// The socket this invocation talks to: --socket, else $COMMSD_SOCKET (both
/// filled in by clap), else the default of design.md §3.
#[derive(Debug, Clone)]
pub struct Socket {
    path: PathBuf,
}

impl Socket {
    pub fn resolve(flag: Option<PathBuf>) -> Socket {
        Socket {
            path: flag.unwrap_or_else(|| paths::socket_path().path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Connects without starting anything (`status`, `daemon stop`).
pub async fn connect(socket: &Socket) -> Result<Connected, ConnectError> {
    client::connect(socket.path()).await
}

/// Connects, starting the daemon first when it is not running, unless
/// COMMSD_AUTOSTART=0. For every command that needs the daemon.
pub async fn connect_or_start(socket: &Socket) -> anyhow::Result<Connected> {
    match connect(socket).await {
        Ok(c) => Ok(c),
        Err(e) if e.is_not_running() && autostart_enabled() => {
            crate::cmd::daemon::start(socket, true).await?;
            Ok(connect(socket).await?)
        }
        Err(e) => Err(e.into()),
    }
}

fn autostart_enabled() -> bool {
    std::env::var_os("COMMSD_AUTOSTART").is_none_or(|v| v != "0")
}
