//! Starting the daemon in the background: shared by `commsctl daemon start`
//! (and its autostart) and `comms-mcp`, which must not depend on commsctl.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{self, ConnectError};

/// How long a start waits for the new daemon to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(10);

/// What a start found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A daemon already answered (perhaps started by a concurrent start).
    AlreadyRunning { pid: u32 },
    /// This call started it.
    Started { pid: u32, log: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(
        "cannot run {} (set COMMSD_BIN to the commsd binary): {source}",
        binary.display()
    )]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("commsd exited during start-up ({status}); its log {} says:\n{tail}", log.display())]
    Exited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("commsd did not answer within {:?}; see {}: {source}", START_TIMEOUT, log.display())]
    Timeout { log: PathBuf, source: ConnectError },
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Starts the daemon on `socket` unless one answers there. Concurrent starts
/// (several shims, a shim and commsctl) are serialised by a lock file beside
/// the socket, so they give one daemon. Its stderr goes to `commsd.log` in
/// the data directory.
pub async fn start(socket: &Path) -> Result<Started, StartError> {
    let dir = socket.parent().ok_or_else(|| StartError::Io {
        what: "the socket path has no directory".to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(format!(
                "cannot create socket directory {}",
                dir.display()
            )))?;
    }
    let lock_path = dir.join("commsctl-start.lock");
    let lock =
        File::create(&lock_path).map_err(io(format!("cannot create {}", lock_path.display())))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| StartError::Io {
            what: "the lock task failed".to_owned(),
            source: std::io::Error::other(e),
        })?
        .map_err(io(format!("cannot lock {}", lock_path.display())))?;

    match client::connect(socket).await {
        Ok(c) => return Ok(Started::AlreadyRunning { pid: c.daemon.pid }),
        Err(e) if e.is_not_running() => {}
        Err(e) => return Err(e.into()),
    }

    let log_path = log_path()?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log_path)
        .map_err(io(format!("cannot open log file {}", log_path.display())))?;
    let log_start = log
        .seek(SeekFrom::End(0))
        .map_err(io(format!("cannot seek {}", log_path.display())))?;
    let binary = daemon_binary();
    let stderr = log
        .try_clone()
        .map_err(io(format!("cannot reopen {}", log_path.display())))?;
    let mut child = Command::new(&binary)
        .env("COMMSD_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        // Its own process group: Ctrl-C in the caller's terminal must not reach it.
        .process_group(0)
        .spawn()
        .map_err(|source| StartError::Spawn {
            binary: binary.clone(),
            source,
        })?;

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().map_err(io("cannot wait for commsd"))? {
            return Err(StartError::Exited {
                status: status.to_string(),
                tail: log_tail(&log_path, log_start),
                log: log_path,
            });
        }
        match client::connect(socket).await {
            Ok(c) => {
                drop(lock);
                return Ok(Started::Started {
                    pid: c.daemon.pid,
                    log: log_path,
                });
            }
            Err(e) if e.is_not_running() && Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            Err(source) => {
                return Err(StartError::Timeout {
                    log: log_path,
                    source,
                });
            }
        }
    }
}

/// The commsd binary: $COMMSD_BIN, else beside the running executable, else from PATH.
pub fn daemon_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("COMMSD_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("commsd")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("commsd"))
}

fn log_path() -> Result<PathBuf, StartError> {
    let data = crate::paths::data_dir()
        .ok_or_else(|| StartError::Io {
            what: "cannot find the data directory: set COMMSD_DATA_DIR or HOME".to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?
        .path;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&data)
        .map_err(io(format!(
            "cannot create data directory {}",
            data.display()
        )))?;
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
