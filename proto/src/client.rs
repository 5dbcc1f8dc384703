//! Connecting to the daemon over its Unix socket.
//!
//! Every client goes through [`connect`]: it opens the channel, performs the
//! version handshake (a `Status` call) and turns every failure into a
//! [`ConnectError`] whose message says what happened and what to do.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::v1::control_client::ControlClient;
use crate::v1::{StatusRequest, StatusResponse};
use crate::{PROTOCOL_VERSION, VERSION};

/// Why a client could not reach a usable daemon. Each message ends with a hint.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "commsd is not running at {}: start it with `commsctl daemon start` (or `systemctl --user start commsd`), or point COMMSD_SOCKET / --socket at the right socket",
        socket.display()
    )]
    NotRunning { socket: PathBuf },

    #[error(
        "permission denied connecting to {}: the socket or its directory belongs to another user; run as the user that runs commsd, or set COMMSD_SOCKET to your own daemon's socket",
        socket.display()
    )]
    PermissionDenied { socket: PathBuf },

    #[error(
        "protocol version mismatch: this client ({client_version}) speaks protocol {client_protocol}, but the daemon at {} is commsd {daemon_version} speaking protocol {daemon_protocol}; run binaries from the same install, e.g. `commsctl daemon restart` after an upgrade",
        socket.display()
    )]
    VersionMismatch {
        socket: PathBuf,
        client_version: String,
        client_protocol: u32,
        daemon_version: String,
        daemon_protocol: u32,
    },

    #[error(
        "the process at {} did not answer the commsd handshake ({detail}); it may be another program or a much older commsd",
        socket.display()
    )]
    NotCommsd { socket: PathBuf, detail: String },

    #[error(
        "the daemon at {} runs as another user (uid {owner}; this is uid {me}), and commsd refuses connections from other users: run this as the user that runs commsd, or set COMMSD_SOCKET / --socket to your own daemon's socket",
        socket.display()
    )]
    OtherUser {
        socket: PathBuf,
        owner: u32,
        me: u32,
    },

    #[error(
        "commsd at {} closed the connection without answering: the daemon refuses connections from other users, so this probably runs as another user than commsd (run it as the user that runs commsd); if not, the daemon stopped meanwhile, see `commsctl status`",
        socket.display()
    )]
    Dropped { socket: PathBuf },

    #[error("cannot connect to commsd at {}: {source}", socket.display())]
    Io { socket: PathBuf, source: io::Error },
}

impl ConnectError {
    /// True when the daemon is simply absent, so that starting it may help.
    pub fn is_not_running(&self) -> bool {
        matches!(self, ConnectError::NotRunning { .. })
    }

    /// Classifies an I/O error from connecting to `socket`.
    pub fn from_io(socket: &Path, error: io::Error) -> Self {
        let socket = socket.to_owned();
        match error.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ConnectError::NotRunning { socket }
            }
            io::ErrorKind::PermissionDenied => ConnectError::PermissionDenied { socket },
            // The daemon accepted and closed at once: what it does to a
            // peer of another uid (or it went away mid-call).
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => ConnectError::Dropped { socket },
            _ => ConnectError::Io {
                socket,
                source: error,
            },
        }
    }
}

/// A channel to a daemon that passed the handshake, with its status at that moment.
#[derive(Debug, Clone)]
pub struct Connected {
    pub channel: Channel,
    pub daemon: StatusResponse,
}

/// Opens a channel on the Unix socket at `socket` without the handshake.
///
/// The connector is re-run by tonic on reconnect, so a channel survives a
/// daemon restart on the same path.
pub async fn channel(socket: &Path) -> Result<Channel, ConnectError> {
    refuse_other_users_socket(socket)?;
    let path = socket.to_owned();
    // The authority is never resolved: the connector below ignores the URI.
    let endpoint = Endpoint::from_static("http://commsd.sock")
        .connect_timeout(Duration::from_secs(2))
        .http2_keep_alive_interval(Duration::from_secs(30));
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|e| classify_transport(socket, &e))
}

/// The daemon creates its socket as its own user and drops every peer of
/// another uid, so a socket owned by someone else can only end in a dropped
/// connection: say so before trying. (Root can open anyone's socket; others
/// cannot even reach it and get `PermissionDenied`.) A socket that cannot be
/// inspected is left to the connect, which classifies the failure.
fn refuse_other_users_socket(socket: &Path) -> Result<(), ConnectError> {
    use std::os::unix::fs::MetadataExt as _;
    let me = rustix::process::geteuid().as_raw();
    match std::fs::metadata(socket) {
        Ok(meta) if meta.uid() != me => Err(ConnectError::OtherUser {
            socket: socket.to_owned(),
            owner: meta.uid(),
            me,
        }),
        _ => Ok(()),
    }
}

/// Connects and performs the version handshake.
pub async fn connect(socket: &Path) -> Result<Connected, ConnectError> {
    let channel = channel(socket).await?;
    let daemon = handshake(socket, channel.clone()).await?;
    Ok(Connected { channel, daemon })
}

/// Calls `Status` and checks that the daemon speaks our protocol.
pub async fn handshake(socket: &Path, channel: Channel) -> Result<StatusResponse, ConnectError> {
    let request = StatusRequest {
        client_protocol: PROTOCOL_VERSION,
        client_version: VERSION.to_owned(),
    };
    let status = match ControlClient::new(channel).status(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Err(classify_status(socket, &status)),
    };
    if status.protocol != PROTOCOL_VERSION {
        return Err(ConnectError::VersionMismatch {
            socket: socket.to_owned(),
            client_version: VERSION.to_owned(),
            client_protocol: PROTOCOL_VERSION,
            daemon_version: status.version,
            daemon_protocol: status.protocol,
        });
    }
    Ok(status)
}

/// Maps a failed RPC on an established channel: a transport failure means the
/// daemon went away, anything else means it is not a commsd we understand.
pub fn classify_status(socket: &Path, status: &tonic::Status) -> ConnectError {
    if let Some(io) = find_io_error(status) {
        return ConnectError::from_io(socket, io.kind().into());
    }
    match status.code() {
        tonic::Code::Unavailable => ConnectError::NotRunning {
            socket: socket.to_owned(),
        },
        // hyper cancels a call whose connection closed before the answer.
        tonic::Code::Cancelled => ConnectError::Dropped {
            socket: socket.to_owned(),
        },
        _ => ConnectError::NotCommsd {
            socket: socket.to_owned(),
            detail: format!("{:?}: {}", status.code(), status.message()),
        },
    }
}

fn classify_transport(socket: &Path, error: &tonic::transport::Error) -> ConnectError {
    match find_io_error(error) {
        Some(io) => ConnectError::from_io(socket, io::Error::new(io.kind(), io.to_string())),
        None => ConnectError::Io {
            socket: socket.to_owned(),
            source: io::Error::other(error.to_string()),
        },
    }
}

/// Walks an error's source chain for the underlying `io::Error`.
fn find_io_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_is_not_running_with_hint() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("none.sock");
        let err = connect(&socket).await.unwrap_err();
        assert!(err.is_not_running(), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("commsctl daemon start"), "{msg}");
        assert!(msg.contains(&socket.display().to_string()), "{msg}");
    }

    #[tokio::test]
    async fn stale_socket_file_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        assert!(socket.exists());
        let err = connect(&socket).await.unwrap_err();
        assert!(err.is_not_running(), "{err:?}");
    }

    /// What the daemon does to a peer of another uid: accept, then close.
    /// Whichever way the close reaches the client (reset, broken pipe, a
    /// cancelled call), it is a `Dropped` error naming the likely cause.
    #[tokio::test]
    async fn a_dropped_connection_is_reported_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("drops.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        for _ in 0..50 {
            let err = connect(&socket).await.unwrap_err();
            assert!(matches!(err, ConnectError::Dropped { .. }), "{err:?}");
            assert!(err.to_string().contains("another user"), "{err}");
        }
        server.abort();
    }

    #[tokio::test]
    async fn another_users_socket_is_named_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, owner) = if rustix::process::geteuid().is_root() {
            let socket = dir.path().join("theirs.sock");
            drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
            std::os::unix::fs::chown(&socket, Some(65534), Some(65534)).unwrap();
            (socket, 65534)
        } else {
            // Unprivileged we cannot give a file away; `/` is root's.
            (PathBuf::from("/"), 0)
        };
        let err = connect(&socket).await.unwrap_err();
        assert!(
            matches!(err, ConnectError::OtherUser { owner: o, .. } if o == owner),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("uid {owner}")), "{msg}");
        assert!(
            msg.contains("run this as the user that runs commsd"),
            "{msg}"
        );
    }

    #[test]
    fn permission_denied_is_classified() {
        let err = ConnectError::from_io(
            Path::new("/x.sock"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(err, ConnectError::PermissionDenied { .. }));
        assert!(err.to_string().contains("another user"));
    }
}
