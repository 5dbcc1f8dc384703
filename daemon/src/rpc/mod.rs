//! gRPC services on the Unix socket: thin adapters over the service layer.
//! Proto types stop here; `convert.rs` maps them to and from domain types.

pub mod accounts;
pub mod audit;
pub mod contacts;
pub mod control;
pub mod convert;
pub mod dashboard;
pub mod inbox;
pub mod keys;
pub mod outbox;
pub mod sandbox;
pub mod sms;
pub mod tools;
pub mod vault;

use crate::auth::Caller;

/// Metadata key with the CLI user's name, recorded as `cli:<user>`.
pub const USER_HEADER: &str = "x-commsd-user";

/// Everyone on the socket runs as the daemon's own uid (checked on accept),
/// so a gRPC caller is the human at this machine.
pub fn caller<T>(request: &tonic::Request<T>) -> Caller {
    let user = request
        .metadata()
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|u| {
            u.len() <= 64
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or("unknown");
    Caller::cli(user, peer_uid(request))
}

/// The uid of the process at the other end of the socket, from the peer
/// credentials tonic records for each Unix connection. `socket::incoming`
/// admits only the daemon's own uid, so that is the answer when the
/// credentials are missing (they never are on Linux or macOS).
pub fn peer_uid<T>(request: &tonic::Request<T>) -> u32 {
    request
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|info| info.peer_cred)
        .map(|cred| cred.uid())
        .unwrap_or_else(|| rustix::process::getuid().as_raw())
}
