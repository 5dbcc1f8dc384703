//! What every `/api/v1` route shares: the error envelope and its schema,
//! the value sets the document names, and `/api/v1/status`. The features'
//! routes are in `staging.rs`, `staged.rs`, `audit.rs`, `accounts.rs`,
//! `email.rs` and the providers' folders; each handler is a thin adapter
//! over the service layer (which checks grants), and its `#[utoipa::path]`
//! is the OpenAPI entry.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoResponses, ToSchema};

use super::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::Result;

/// The error envelope of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `invalid_argument`, `unauthenticated`, `permission_denied`.
    pub code: String,
    pub message: String,
    /// Structured details: `field` for bad input, `grant` for a missing grant, `retryAfterMs`.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// The failures every route can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// A field is missing or malformed; `details.field` names it. Nothing was stored.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No, a malformed, an unknown, a revoked or an expired API key.
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// The key lacks a grant, the recipient is not allowed, or Host/Origin is not loopback.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such item or account.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The item's state does not allow this, or an idempotency key was reused differently.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The request body or a field is too large.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Too many requests for this key; see Retry-After.
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// The request headers are too large.
    #[response(status = 431)]
    HeadersTooLarge(ErrorBody),
    /// Something broke inside commsd; the log has the details (by request id).
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The provider (Google, a mail server) refused the request for a reason of its own.
    #[response(status = 502)]
    BadGateway(ErrorBody),
    /// The provider cannot be reached, or the secret vault is locked or unusable.
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// The data directory's disk is full (`storage_full`): nothing was stored.
    #[response(status = 507)]
    InsufficientStorage(ErrorBody),
}

// ------------------------------------------------------------------ value sets

// Documentation-only enums: the handlers parse these values themselves (with
// errors that name the field); these give the document the same value sets,
// so clients and fuzzers know them.

/// An item state; `pending` is short for `pending_approval`.
#[derive(ToSchema)]
#[schema(as = StateFilter, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum StateName {
    Pending,
    Draft,
    PendingApproval,
    Approved,
    Sending,
    Sent,
    Rejected,
    Expired,
    Failed,
    Cancelled,
    Unknown,
}

/// A channel.
#[derive(ToSchema)]
#[schema(as = Channel, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ChannelName {
    Email,
    Sms,
    Chat,
}

// ------------------------------------------------------------------ status, accounts

/// The daemon's status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub version: String,
    pub protocol: u32,
    pub pid: u32,
    pub uptime_seconds: u64,
    pub dashboard_url: String,
    pub api_url: String,
    pub webhook_url: String,
    /// Items per state.
    #[schema(value_type = Object)]
    pub outbox: Value,
    /// Things a human should act on, e.g. API keys about to expire.
    pub warnings: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "daemon", operation_id = "getStatus",
    responses((status = 200, description = "The daemon's status", body = StatusView), Errors))]
pub async fn status(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
) -> Result<Json<StatusView>> {
    authed
        .caller
        .require(Grant::Read, "read the daemon's status")?;
    let s = state.daemon.status();
    Ok(Json(StatusView {
        version: s.version.to_owned(),
        protocol: s.protocol,
        pid: s.pid,
        uptime_seconds: s.uptime.as_secs(),
        dashboard_url: s.dashboard_url,
        api_url: s.api_url,
        webhook_url: s.webhook_url,
        outbox: serde_json::to_value(s.outbox).unwrap_or_default(),
        warnings: s.warnings,
    }))
}
