//! The streamable HTTP transport for `/mcp` (feature `http`, daemon only).
//!
//! Stateless JSON: no sessions (`legacy_session_mode(false)`) and plain JSON
//! responses where possible (`json_response(true)`), the configuration Gemini
//! CLI needs (it fails on the SSE priming event of session mode). The daemon
//! wraps this service in its own authentication and loopback guards; the
//! Host and Origin allowlists here are a second, independent check.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::{Consent, McpServer};

/// The concrete `/mcp` service type, for the daemon to name.
pub type Service = StreamableHttpService<McpServer, NeverSessionManager>;

/// The `/mcp` service. `backend` is built per request by the caller of
/// [`McpServer::new`] through the factory; `shutdown` ends open streams.
pub fn service(
    backend: Arc<dyn crate::Backend>,
    consent: Arc<Consent>,
    shutdown: CancellationToken,
    max_body_bytes: usize,
) -> StreamableHttpService<McpServer, NeverSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
        .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"])
        .enforce_origin_validation()
        .with_max_request_body_bytes(max_body_bytes)
        .with_cancellation_token(shutdown);
    StreamableHttpService::new(
        move || Ok(McpServer::new(backend.clone(), consent.clone()).stateless_http()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}
