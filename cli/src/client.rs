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

/// Adds who is calling (`x-commsd-user`) to every request; the daemon records
/// CLI actions as `cli:<user>`.
#[derive(Debug, Clone)]
pub struct UserHeader(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl UserHeader {
    pub fn current() -> UserHeader {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| {
                u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    && !u.is_empty()
            })
            .unwrap_or_else(|| format!("uid{}", rustix::process::getuid().as_raw()));
        let value = user
            .parse()
            .unwrap_or_else(|_| tonic::metadata::MetadataValue::from_static("unknown"));
        UserHeader(value)
    }
}

impl tonic::service::Interceptor for UserHeader {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("x-commsd-user", self.0.clone());
        Ok(request)
    }
}

/// A daemon error as the user should read it: its message and stable code,
/// and the candidates when a name in the recipients was ambiguous.
#[derive(Debug)]
pub struct DaemonError {
    pub code: String,
    pub message: String,
    /// The envelope's `details` (`Null` when none).
    pub details: serde_json::Value,
}

impl DaemonError {
    /// From an error envelope (`{code, message, details}`), if it is one.
    pub fn from_envelope(envelope: &serde_json::Value) -> Option<DaemonError> {
        Some(DaemonError {
            code: envelope["code"].as_str()?.to_owned(),
            message: envelope["message"].as_str()?.to_owned(),
            details: envelope["details"].clone(),
        })
    }
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.message, self.code)?;
        // A refused name: every candidate person with their addresses.
        let candidates = crate::render::candidates(&self.details["resolution"]);
        if !candidates.is_empty() {
            write!(f, "\ncandidates:\n{}", candidates.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for DaemonError {}

/// Turns a failed RPC into a [`DaemonError`] (from the envelope in the
/// status details) or a connection error.
pub fn rpc_error(socket: &Socket, status: tonic::Status) -> anyhow::Error {
    if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(status.details())
        && let Some(e) = DaemonError::from_envelope(&envelope)
    {
        return e.into();
    }
    client::classify_status(socket.path(), &status).into()
}

pub type Intercepted =
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, UserHeader>;

/// The Outbox client of a connected daemon, carrying the user header.
pub fn outbox(c: &Connected) -> commsd_proto::v1::outbox_client::OutboxClient<Intercepted> {
    commsd_proto::v1::outbox_client::OutboxClient::with_interceptor(
        c.channel.clone(),
        UserHeader::current(),
    )
}

pub fn audit(c: &Connected) -> commsd_proto::v1::audit_client::AuditClient<Intercepted> {
    commsd_proto::v1::audit_client::AuditClient::with_interceptor(
        c.channel.clone(),
        UserHeader::current(),
    )
}

pub fn dashboard(
    c: &Connected,
) -> commsd_proto::v1::dashboard_client::DashboardClient<Intercepted> {
    commsd_proto::v1::dashboard_client::DashboardClient::with_interceptor(
        c.channel.clone(),
        UserHeader::current(),
    )
}
