//! The HTTP API on the api listener: `/api/v1` for Gemini CLI, scripts and
//! any HTTP client.
//!
//! Every request passes, in order: a request id; the loopback Host and Origin
//! checks (DNS rebinding, cross-site pages); a header size limit; bearer-key
//! authentication (failures audited, then throttled); the key's rate limit;
//! the body size limit; and, for POSTs with `Idempotency-Key`, the replay of
//! a first response. Grants are checked by the services, not here. Failures
//! of every kind leave as the JSON error envelope.

pub mod accounts;
mod audit;
pub mod email;
mod events;
mod idempotency;
pub mod keys;
mod limits;
pub mod routes;
mod staged;
pub(crate) mod staging;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Daemon;

use crate::auth::Caller;
use crate::error::{Code, Error};
use crate::localguard;
use keys::{AuthFailure, Keys};
use limits::{FailureThrottle, RateLimiter, Verdict};

/// Largest total size of the request headers.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The authenticated key of a request.
#[derive(Debug, Clone)]
pub struct Authed {
    pub caller: Caller,
    pub key_id: String,
}

#[derive(Clone)]
pub struct ApiState {
    pub daemon: Arc<Daemon>,
    inner: Arc<Inner>,
}

struct Inner {
    list_cache: ListCache,
    keys: Arc<Keys>,
    limiter: RateLimiter,
    throttle: FailureThrottle,
    idempotency: idempotency::InFlight,
    max_body: usize,
    openapi: String,
}

impl ApiState {
    pub(crate) fn list_cache(&self) -> &ListCache {
        &self.inner.list_cache
    }
}

/// The last few serialised pages of `GET /staged`, by outbox generation and
/// query string. Agents and dashboards poll the same page again and again;
/// between changes it is served without touching the database.
#[derive(Default)]
pub(crate) struct ListCache(
    std::sync::Mutex<std::collections::VecDeque<(u64, String, axum::body::Bytes)>>,
);

impl ListCache {
    const ENTRIES: usize = 16;

    pub(crate) fn get(&self, generation: u64, query: &str) -> Option<axum::body::Bytes> {
        let entries = self.0.lock().ok()?;
        entries
            .iter()
            .find(|(g, q, _)| *g == generation && q == query)
            .map(|(_, _, b)| b.clone())
    }

    pub(crate) fn put(&self, generation: u64, query: String, bytes: axum::body::Bytes) {
        if let Ok(mut entries) = self.0.lock() {
            // A slow reader of an older generation must not evict newer pages.
            if entries.iter().any(|(g, _, _)| *g > generation) {
                return;
            }
            entries.retain(|(g, _, _)| *g == generation);
            if entries.len() >= Self::ENTRIES {
                entries.pop_front();
            }
            entries.push_back((generation, query, bytes));
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "commsd API", description = "Stage email, SMS and chat messages for human approval, and read the outbox and audit log. Every route needs `Authorization: Bearer cmsd_...` (create a key with `commsctl keys create`)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    // Schemas named only by responses (`routes::Errors`, an IntoResponses)
    // or by parameters are not collected by the router: registered here so
    // every `$ref` resolves.
    components(schemas(routes::ErrorBody, routes::StateName, routes::ChannelName)),
    tags((name = "outbox", description = "Staging and review"), (name = "audit", description = "The audit trail"),
         (name = "accounts"), (name = "email", description = "Reading mail (IMAP accounts, the sandbox, Google)"), (name = "gmail", description = "Gmail: search, read, drafts, gated sends, labels"),
         (name = "sandbox", description = "The sandbox account's inbox"), (name = "daemon"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cmsd_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The routes and their OpenAPI document, generated from the same code:
/// the core's routes and those the providers registered (`Registry::api`).
pub fn openapi_router(
    providers: OpenApiRouter<ApiState>,
) -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::status))
        .routes(routes!(accounts::list))
        .routes(routes!(accounts::add_google))
        .routes(routes!(accounts::google_flow))
        .routes(routes!(accounts::update, accounts::remove))
        .routes(routes!(accounts::google_client))
        .routes(routes!(email::inbox))
        .routes(routes!(email::read_message))
        .routes(routes!(staging::stage_email))
        .routes(routes!(staging::send_email))
        .routes(routes!(staging::stage_sms))
        .routes(routes!(staging::send_sms))
        .routes(routes!(staging::stage_chat))
        .routes(routes!(staged::list_staged))
        .routes(routes!(staged::get_staged))
        .routes(routes!(staged::approve))
        .routes(routes!(staged::reject))
        .routes(routes!(staged::cancel))
        .routes(routes!(audit::audit))
        .routes(routes!(events::events))
        .routes(routes!(openapi_json))
        .merge(providers)
        .split_for_parts()
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "daemon", operation_id = "getOpenApi",
    responses((status = 200, description = "This document", body = Object), routes::Errors))]
async fn openapi_json(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.inner.openapi.clone(),
    )
        .into_response()
}

/// The API listener's router: `/api/v1` and the MCP service at `/mcp`, both
/// behind the same request id, loopback checks, key authentication, rate
/// limit and body limit.
pub fn router(
    daemon: Arc<Daemon>,
    keys: Arc<Keys>,
    requests_per_minute: u32,
    max_body: usize,
    mcp: commsd_mcp::http::Service,
    providers: OpenApiRouter<ApiState>,
) -> Router {
    let (routes, mut doc) = openapi_router(providers);
    doc.info.version = commsd_proto::VERSION.to_owned();
    let state = ApiState {
        daemon,
        inner: Arc::new(Inner {
            list_cache: ListCache::default(),
            keys,
            limiter: RateLimiter::new(requests_per_minute),
            throttle: FailureThrottle::new(30, Duration::from_secs(60)),
            idempotency: idempotency::InFlight::default(),
            max_body,
            openapi: doc.to_json().unwrap_or_default(),
        }),
    };
    routes
        .merge(
            Router::new()
                .route_service("/mcp", mcp)
                .layer(middleware::from_fn(crate::mcp::summarize)),
        )
        .fallback(|| async {
            Error::new(Code::NotFound, "no such route; see /api/v1/openapi.json")
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(guard))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Gives every request an id (the client's `X-Request-Id` when sane), logs
/// one line per request (never bodies), and turns any non-JSON error
/// (unknown method, framework rejections) into the envelope.
async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| crate::outbox::service::new_id().replacen("ob_", "req_", 1));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(RequestId(id.clone()));
    let started = Instant::now();
    let mut response = next.run(request).await;
    // MCP answers in JSON-RPC, its own format: leave its errors alone.
    let is_mcp = path == "/mcp";
    if !is_mcp && (response.status().is_client_error() || response.status().is_server_error()) {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !is_json {
            let allow = response.headers().get(header::ALLOW).cloned();
            response = framework_error(response.status());
            if let Some(allow) = allow {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
    }
    let actor = response
        .extensions()
        .get::<Caller>()
        .map(|c| c.actor.clone())
        .unwrap_or_default();
    // /mcp: the JSON-RPC method, the tool and the outcome (crate::mcp::summarize).
    let rpc = response.extensions().get::<crate::mcp::Summary>();
    tracing::info!(request_id = %id, %method, %path, status = response.status().as_u16(), actor,
        rpc_method = rpc.map(|r| r.method.as_str()), tool = rpc.and_then(|r| r.tool.as_deref()),
        outcome = rpc.map(|r| r.outcome.as_str()),
        elapsed_ms = started.elapsed().as_millis() as u64, "api request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The envelope for a response the framework made. 405 keeps its status (a
/// client must learn that the method, not the request, is wrong; the caller
/// keeps the `Allow` header); the others take their code's status.
fn framework_error(status: StatusCode) -> Response {
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::InvalidArgument,
            "this method is not allowed on this route",
        ),
        StatusCode::NOT_FOUND => (Code::NotFound, "no such route; see /api/v1/openapi.json"),
        StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (Code::InvalidArgument, "send a JSON body"),
        s if s.is_server_error() => (
            Code::Internal,
            "internal error; see the commsd log for this request id",
        ),
        _ => (Code::InvalidArgument, "the request is malformed"),
    };
    let e =
        Error::new(code, message).with_details(serde_json::json!({ "status": status.as_u16() }));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        with_status(status, e)
    } else {
        e.into_response()
    }
}

/// Error responses that keep a status the envelope's code would not give.
fn with_status(status: StatusCode, error: Error) -> Response {
    (status, Json(error.envelope())).into_response()
}

/// Loopback Host (DNS rebinding), Origin absent or loopback, no CORS, bounded headers.
async fn guard(request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !localguard::host(headers).is_some_and(localguard::host_is_loopback) {
        return Error::new(
            Code::PermissionDenied,
            "the Host header must name this machine (127.0.0.1, localhost or [::1])",
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let loopback = origin.to_str().is_ok_and(localguard::origin_is_loopback);
        if !loopback {
            return Error::new(
                Code::PermissionDenied,
                "requests from web pages of other origins are refused",
            )
            .into_response();
        }
    }
    let size: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return with_status(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::new(
                Code::PayloadTooLarge,
                format!("request headers exceed {MAX_HEADER_BYTES} bytes"),
            ),
        );
    }
    if request.method() == Method::OPTIONS {
        return with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            Error::new(
                Code::InvalidArgument,
                "CORS is not supported: this API is not for web pages",
            ),
        );
    }
    next.run(request).await
}

async fn authenticate(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let header = request.headers().get(header::AUTHORIZATION);
    let result = match header {
        None => Err(AuthFailure::Missing),
        Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => state.inner.keys.authenticate(token.trim()),
            None => Err(AuthFailure::Malformed),
        },
    };
    let (caller, key_id) = match result {
        Ok(ok) => ok,
        Err(failure) => {
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default();
            let what = format!(
                "{} {}, request {request_id}",
                request.method(),
                request.uri().path()
            );
            return auth_failed(&state, what, failure).await;
        }
    };
    if let Err(wait) = state.inner.limiter.check(&key_id) {
        return rate_limited(wait, "too many requests for this API key");
    }
    state.inner.keys.touch(&key_id);
    // The MCP service reads the caller from the request's extensions.
    request.extensions_mut().insert(caller.clone());
    request.extensions_mut().insert(Authed {
        caller: caller.clone(),
        key_id,
    });
    let mut response = next.run(request).await;
    response.extensions_mut().insert(caller);
    response
}

async fn auth_failed(state: &ApiState, what: String, failure: AuthFailure) -> Response {
    let entry = |action: &str| crate::audit::Entry {
        actor: "http".to_owned(),
        action: action.to_owned(),
        result: Some(format!("{} key, {what}", failure.as_str())),
        ..crate::audit::Entry::default()
    };
    match state.inner.throttle.record() {
        Verdict::Report => {
            if let Err(e) = state.daemon.outbox.audit_other(entry("auth_failed")).await {
                tracing::error!(error = %e, "could not audit a failed authentication");
            }
            let mut response = failure.error().into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Verdict::StartThrottling(wait) => {
            if let Err(e) = state
                .daemon
                .outbox
                .audit_other(entry("auth_throttled"))
                .await
            {
                tracing::error!(error = %e, "could not audit throttling");
            }
            rate_limited(wait, "too many failed authentications")
        }
        Verdict::Throttle(wait) => rate_limited(wait, "too many failed authentications"),
    }
}

fn rate_limited(wait: Duration, why: &str) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = Error::new(Code::RateLimited, format!("{why}; retry after {secs} s"))
        .with_details(serde_json::json!({ "retry_after_ms": wait.as_millis() as u64 }))
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Reads the whole body up to the limit, so handlers see bytes and oversize
/// bodies get the envelope with 413.
async fn body_limit(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let limit = state.inner.max_body;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        Error::new(
            Code::PayloadTooLarge,
            format!("the request body exceeds {limit} bytes"),
        )
        .with_details(serde_json::json!({ "field": "body", "limit": limit }))
    };
    if declared.is_some_and(|n| n > limit) {
        return too_large().into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return too_large().into_response(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// Schemas named only by responses or parameters are not collected by
    /// the router; an unregistered one leaves a `$ref` that clients (and
    /// schemathesis) cannot resolve, so those responses go unchecked.
    #[test]
    fn every_reference_in_the_document_resolves() {
        let providers = crate::gmail::api::routes().merge(crate::sandbox::api::routes());
        let (_, doc) = super::openapi_router(providers);
        let doc = serde_json::to_value(&doc).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.iter().any(|r| r.ends_with("/ErrorBody")));
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(schemas.contains_key(name), "{r} does not resolve");
        }
    }
}
