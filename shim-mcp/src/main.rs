//! `comms-mcp`: the MCP server for stdio clients (Claude Code, ...), relaying
//! to the commsd daemon over its Unix socket.
//!
//! stdout carries nothing but JSON-RPC; logs go to stderr (`COMMSD_LOG`,
//! through [`commsd_mcp::logging`]).
//! It exits when stdin closes. When the daemon is not running it starts it
//! (unless `COMMSD_AUTOSTART=0`); otherwise tools answer with isError and
//! the hint, and the shim reconnects when the daemon is back.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use commsd_mcp::grpc::{Autostart, GrpcBackend};
use commsd_mcp::{Consent, McpServer};
use rmcp::ServiceExt as _;

fn main() -> ExitCode {
    // MCP clients keep this stderr as the server's log: rmcp's protocol
    // tracing (tools/call arguments, message bodies) never reaches it.
    commsd_mcp::logging::init_stderr("comms-mcp", "warn", true, false);
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--version" || a == "-V")
    {
        eprintln!("comms-mcp {}", commsd_proto::VERSION);
        return ExitCode::SUCCESS;
    }
    // One thread: the fastest client side for gRPC on a Unix socket, and the
    // smallest footprint for a process every agent session starts.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("comms-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve());
    // Tasks still following the daemon's events must not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve() -> ExitCode {
    let socket = commsd_proto::paths::socket_path().path;
    let backend = Arc::new(GrpcBackend::new(socket, Autostart::from_env()));
    let consent = match Consent::new() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("comms-mcp: cannot create the approval signing key: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = McpServer::new(backend, consent);
    let running = match server.serve(rmcp::transport::io::stdio_pipes()).await {
        Ok(r) => r,
        // The client closed stdin before its first request (a probe, a
        // client that gave up): nothing failed, so no error in its log.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(context)) => {
            tracing::info!(%context, "stdin closed before the MCP session started; exiting");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            tracing::error!(error = %e, "the MCP session did not start");
            return ExitCode::FAILURE;
        }
    };
    match running.waiting().await {
        Ok(reason) => {
            tracing::info!(?reason, "stdin closed; exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "the MCP session failed");
            ExitCode::FAILURE
        }
    }
}
