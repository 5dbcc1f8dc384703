//! commsd's one MCP implementation (design.md §2), on the official Rust SDK
//! (rmcp), over a [`Backend`].
//!
//! - [`server::McpServer`]: the `ServerHandler` for both protocol eras.
//! - [`grpc::GrpcBackend`]: comms-mcp's backend, the daemon's `Tools` and
//!   `Events` services over its Unix socket.
//! - [`http`] (feature `http`, daemon only): the streamable HTTP service the
//!   daemon mounts at `/mcp` with its in-process backend.
//! - [`logging`]: `COMMSD_LOG` for `commsd` and `comms-mcp` alike, with
//!   third-party protocol tracing (secrets, message bodies) capped at `warn`.
//!
//! The tool catalog lives in the daemon; nothing here knows a tool by name.

pub mod backend;
pub mod consent;
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
pub mod logging;
pub mod prompts;
pub mod server;

pub use backend::{
    Backend, BackendError, BackendEvent, Client, ClientName, PendingApproval, ResourceText,
    ToolOutcome, ToolSpec,
};
pub use consent::Consent;
pub use server::McpServer;
