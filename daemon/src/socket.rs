//! The daemon's Unix socket: a private directory, a lock that makes a second
//! daemon on the same socket refuse to start, stale-file replacement, and a
//! peer-uid check on every connection.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio_stream::{Stream, StreamExt, wrappers::UnixListenerStream};

use crate::fsprivate::{TooOpen, ensure_private_dir};
use crate::lockfile::{LockError, LockFile, try_lock};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("commsd is already running (pid {}) on socket {}", pid.map_or("unknown".to_owned(), |p| p.to_string()), socket.display())]
    AlreadyRunning { pid: Option<u32>, socket: PathBuf },
    #[error("{0}")]
    Unusable(String),
}

/// A socket path we hold the lock for, not yet bound.
pub struct Claimed {
    path: PathBuf,
    lock: LockFile,
}

/// The bound socket, its lock, and the path to remove on shutdown.
pub struct BoundSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
    _lock: LockFile,
}

/// The socket file and its lock, kept until shutdown.
pub struct SocketFile {
    path: PathBuf,
    _lock: LockFile,
}

impl BoundSocket {
    /// Splits the listener (for the server) from the file and lock (for shutdown).
    pub fn into_parts(self) -> (UnixListener, SocketFile) {
        (
            self.listener,
            SocketFile {
                path: self.path,
                _lock: self._lock,
            },
        )
    }
}

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file, then the lock file (releasing the lock): a
    /// clean stop leaves neither behind.
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, socket = %self.path.display(), "could not remove socket");
        }
        self._lock.remove();
    }
}

/// Prepares the directory and takes the lock: after this succeeds no other
/// daemon can start on `path`. Binding comes later, once start-up is sure to succeed.
pub fn claim(path: &Path) -> Result<Claimed, SocketError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| {
            SocketError::Unusable(format!("socket path {} has no directory", path.display()))
        })?;
    ensure_private_dir(dir, "socket directory", TooOpen::Refuse).map_err(SocketError::Unusable)?;

    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = match try_lock(Path::new(&lock_path)) {
        Ok(lock) => lock,
        Err(LockError::Held { pid }) => {
            return Err(SocketError::AlreadyRunning {
                pid,
                socket: path.to_owned(),
            });
        }
        Err(LockError::Io(e)) => {
            return Err(SocketError::Unusable(format!(
                "cannot create lock file {}: {e}",
                Path::new(&lock_path).display()
            )));
        }
    };

    Ok(Claimed {
        path: path.to_owned(),
        lock,
    })
}

impl Claimed {
    /// Replaces a stale socket file, binds and sets the socket to 0600.
    pub fn bind(self) -> Result<BoundSocket, SocketError> {
        let Claimed { path, lock } = self;
        bind_locked(&path, lock)
    }
}

fn bind_locked(path: &Path, lock: LockFile) -> Result<BoundSocket, SocketError> {
    // We hold the lock, so a socket file still here was left by a daemon that
    // died. Make sure nothing answers on it before replacing it.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(SocketError::Unusable(format!(
                "{} exists and is not a socket; remove it or choose another path with COMMSD_SOCKET",
                path.display()
            )));
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(SocketError::AlreadyRunning {
                    pid: None,
                    socket: path.to_owned(),
                });
            }
            Err(_) => {
                tracing::info!(socket = %path.display(), "replacing stale socket file");
                std::fs::remove_file(path).map_err(|e| {
                    SocketError::Unusable(format!(
                        "cannot remove stale socket {}: {e}",
                        path.display()
                    ))
                })?;
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(SocketError::Unusable(format!(
                "cannot inspect {}: {e}",
                path.display()
            )));
        }
    }

    let listener = UnixListener::bind(path).map_err(|e| {
        SocketError::Unusable(format!("cannot bind socket {}: {e}", path.display()))
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        SocketError::Unusable(format!("cannot set 0600 on {}: {e}", path.display()))
    })?;
    Ok(BoundSocket {
        listener,
        path: path.to_owned(),
        _lock: lock,
    })
}

/// Accepted connections whose peer runs as `uid`; others are dropped and logged.
/// Accept errors (e.g. out of file descriptors) are logged and retried rather
/// than ending the server.
pub fn incoming(
    listener: UnixListener,
    uid: u32,
) -> impl Stream<Item = Result<UnixStream, io::Error>> {
    UnixListenerStream::new(listener)
        .then(|conn| async move {
            if conn.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            conn
        })
        .filter_map(move |conn| match conn {
            Ok(stream) => match stream.peer_cred() {
                Ok(cred) if cred.uid() == uid => Some(Ok(stream)),
                Ok(cred) => {
                    tracing::warn!(peer_uid = cred.uid(), peer_pid = ?cred.pid(), "refused connection from another user");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused connection without peer credentials");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "accept on the control socket failed");
                None
            }
        })
}
