//! `/mcp` on the API listener: the MCP server of `commsd-mcp` with the
//! in-process backend, for HTTP clients such as Gemini CLI.
//!
//! The API router mounts it behind the same middleware as `/api/v1`
//! (`crate::api::router`): loopback Host and Origin checks, the bearer API
//! key (failures audited, then throttled), the key's rate limit and the body
//! limit. The caller is `key:<name>` with the key's grants, checked by the
//! services as everywhere.

use std::sync::Arc;

use commsd_mcp::Consent;

use crate::Daemon;
use crate::tools::Tools;
use crate::tools::backend::InProcessBackend;

/// The MCP service to mount at `/mcp`.
pub fn service(
    daemon: &Daemon,
    tools: Arc<Tools>,
    consent: Arc<Consent>,
    max_body: usize,
) -> commsd_mcp::http::Service {
    let backend = Arc::new(InProcessBackend {
        tools,
        bus: daemon.bus.clone(),
        shutdown: daemon.shutdown.clone(),
    });
    commsd_mcp::http::service(backend, consent, daemon.shutdown.clone(), max_body)
}
