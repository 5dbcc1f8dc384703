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
