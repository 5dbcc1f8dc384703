//! The contract between `commsd` and its thin clients (`commsctl`, `comms-mcp`).
//!
//! - [`v1`]: the generated gRPC types and stubs of package `commsd.v1`.
//! - [`paths`]: the one place that resolves the socket, data and config paths.
//! - [`client`]: the Unix-socket connector with classified connection errors
//!   and the protocol-version handshake.

pub mod paths;

#[cfg(feature = "client")]
pub mod autostart;
#[cfg(feature = "client")]
pub mod client;

/// Generated from `proto/commsd/v1/*.proto`.
#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod v1 {
    tonic::include_proto!("commsd.v1");
}

/// The product version every binary of this build carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Wire protocol version. Bumped on any incompatible change to `commsd.v1`;
/// a client and a daemon with different values refuse to talk.
pub const PROTOCOL_VERSION: u32 = 1;
