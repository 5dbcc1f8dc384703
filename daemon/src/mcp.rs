//! `/mcp` on the API listener: the MCP server of `commsd-mcp` with the
//! in-process backend, for HTTP clients such as Gemini CLI.
//!
//! The API router mounts it behind the same middleware as `/api/v1`
//! (`crate::api::router`): loopback Host and Origin checks, the bearer API
//! key (failures audited, then throttled), the key's rate limit and the body
//! limit. The caller is `key:<name>` with the key's grants, checked by the
//! services as everywhere.

use std::sync::Arc;

use axum::response::IntoResponse as _;
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

/// What the log line of one `/mcp` request says beside the HTTP fields:
/// the JSON-RPC method, the tool of a `tools/call`, and how it ended.
/// Never arguments or results.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub method: String,
    pub tool: Option<String>,
    /// `ok`, `tool_error:<code>` (an isError result with the envelope's
    /// code), `rpc_error:<code>` (a JSON-RPC error), or `accepted` (a
    /// notification or response, answered 202).
    pub outcome: String,
}

#[derive(serde::Deserialize)]
struct Head {
    method: Option<String>,
    params: Option<HeadParams>,
}

#[derive(serde::Deserialize)]
struct HeadParams {
    name: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Reply {
    result: Option<ReplyResult>,
    error: Option<ReplyError>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyResult {
    is_error: Option<bool>,
    structured_content: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ReplyError {
    code: i64,
}

/// Middleware around the `/mcp` service: reads the JSON-RPC method (and
/// the tool name of a `tools/call`) from the request and the outcome from
/// the JSON answer, and leaves a [`Summary`] in the response's extensions
/// for the API's one log line per request (`api::request_id`). The body
/// was already read whole by the body limit.
pub async fn summarize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let head: Option<Head> = serde_json::from_slice(&bytes).ok();
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let response = next.run(request).await;
    let Some(Head {
        method: Some(method),
        params,
    }) = head
    else {
        return response;
    };
    let tool = (method == "tools/call")
        .then(|| params.and_then(|p| p.name?.as_str().map(str::to_owned)))
        .flatten();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let (mut parts, body) = response.into_parts();
    let (outcome, body) = if parts.status == axum::http::StatusCode::ACCEPTED {
        ("accepted".to_owned(), body)
    } else if is_json {
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => (outcome(&bytes), axum::body::Body::from(bytes)),
            Err(_) => ("unreadable".to_owned(), axum::body::Body::empty()),
        }
    } else {
        (format!("http_{}", parts.status.as_u16()), body)
    };
    parts.extensions.insert(Summary {
        method,
        tool,
        outcome,
    });
    axum::response::Response::from_parts(parts, body)
}

fn outcome(answer: &[u8]) -> String {
    match serde_json::from_slice::<Reply>(answer) {
        Ok(Reply { error: Some(e), .. }) => format!("rpc_error:{}", e.code),
        Ok(Reply {
            result:
                Some(ReplyResult {
                    is_error: Some(true),
                    structured_content,
                }),
            ..
        }) => {
            let code = structured_content
                .as_ref()
                .and_then(|s| s["code"].as_str())
                .filter(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
                .unwrap_or("unknown");
            format!("tool_error:{code}")
        }
        Ok(_) => "ok".to_owned(),
        Err(_) => "unparsed".to_owned(),
    }
}
