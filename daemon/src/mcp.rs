//! `/mcp` on the API listener: the MCP server of `commsd-mcp` with the
//! in-process backend, for HTTP clients such as Gemini CLI.
//!
//! Every request passes: the loopback Host check (DNS rebinding), the Origin
//! allowlist (absent or loopback; web pages of other origins are refused),
//! then the bearer API key (`crate::api::keys::Keys::authenticate`). The
//! caller is `key:<name>` with the key's grants, checked by the services as
//! everywhere. Failures leave as the JSON error envelope.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use commsd_mcp::Consent;

use crate::Daemon;
use crate::api::keys::AuthFailure;
use crate::audit;
use crate::error::{Code, Error};
use crate::events::now_unix_ms;
use crate::localguard;
use crate::tools::Tools;
use crate::tools::backend::InProcessBackend;

/// At most one failed-authentication audit row per this many milliseconds:
/// a client hammering /mcp with bad keys must not flood the audit log.
const AUDIT_FAILURES_EVERY_MS: i64 = 60_000;

#[derive(Clone)]
struct McpState {
    daemon: Arc<Daemon>,
    last_failure_audit: Arc<AtomicI64>,
}

/// The `/mcp` routes, to merge into the API listener's router.
pub fn router(
    daemon: Arc<Daemon>,
    tools: Arc<Tools>,
    consent: Arc<Consent>,
    max_body: usize,
) -> Router {
    let backend = Arc::new(InProcessBackend {
        tools,
        bus: daemon.bus.clone(),
        shutdown: daemon.shutdown.clone(),
    });
    let service = commsd_mcp::http::service(backend, consent, daemon.shutdown.clone(), max_body);
    let state = McpState {
        daemon,
        last_failure_audit: Arc::new(AtomicI64::new(0)),
    };
    Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state, guard))
}

async fn guard(State(state): State<McpState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !localguard::host(headers).is_some_and(localguard::host_is_loopback) {
        return Error::new(
            Code::PermissionDenied,
            "the Host header must name this machine (127.0.0.1, localhost or [::1])",
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN)
        && !origin.to_str().is_ok_and(localguard::origin_is_loopback)
    {
        return Error::new(
            Code::PermissionDenied,
            "requests from web pages of other origins are refused",
        )
        .into_response();
    }
    let result = match headers.get(header::AUTHORIZATION) {
        None => Err(AuthFailure::Missing),
        Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => state.daemon.keys.authenticate(token.trim()),
            None => Err(AuthFailure::Malformed),
        },
    };
    match result {
        Ok((caller, key_id)) => {
            state.daemon.keys.touch(&key_id);
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(failure) => {
            let now = now_unix_ms();
            let last = state.last_failure_audit.load(Ordering::Relaxed);
            if now - last >= AUDIT_FAILURES_EVERY_MS
                && state
                    .last_failure_audit
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                let entry = audit::Entry {
                    actor: "http".to_owned(),
                    action: "auth_failed".to_owned(),
                    result: Some(format!(
                        "{} key, {} /mcp",
                        failure.as_str(),
                        request.method()
                    )),
                    ..audit::Entry::default()
                };
                if let Err(e) = state.daemon.outbox.audit_other(entry).await {
                    tracing::error!(error = %e, "could not audit a failed authentication");
                }
            }
            tracing::warn!(reason = failure.as_str(), "refused an /mcp request");
            let mut response = failure.error().into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}
