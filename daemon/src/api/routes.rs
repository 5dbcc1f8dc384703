//! The `/api/v1` routes. Each handler is a thin adapter over the service
//! layer (which checks grants); its `#[utoipa::path]` is the OpenAPI entry.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::{Error, Result, parse_json};
use crate::outbox::model::State as ItemState;
use crate::outbox::request::{ChatStage, EmailStage, SmsStage, list_filter, list_limit};
use crate::outbox::service::{StageRequest, Staged, Target};
use crate::outbox::view::{AuditEventView, ItemView};

/// The error envelope of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `invalid_argument`, `unauthenticated`, `permission_denied`.
    pub code: String,
    pub message: String,
    /// Structured details: `field` for bad input, `grant` for a missing grant, `retry_after_ms`.
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

// ------------------------------------------------------------------ staging

fn staged_response(staged: Staged) -> Response {
    let status = if staged.existing {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    (status, Json(ItemView::from(&staged.item))).into_response()
}

#[utoipa::path(post, path = "/api/v1/email/stage", tag = "outbox", operation_id = "stageEmail",
    request_body = EmailStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST: the first response is returned again", pattern = "^[!-~]{1,255}$")),
    responses((status = 201, description = "Staged; the policy decided its state", body = ItemView),
              (status = 200, description = "Already staged with this clientRequestId", body = ItemView), Errors))]
pub async fn stage_email(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    let request = StageRequest::try_from(parse_json::<EmailStage>(&body)?)?;
    Ok(staged_response(
        state.daemon.outbox.stage(&authed.caller, request).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/sms/stage", tag = "outbox", operation_id = "stageSms",
    request_body = SmsStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 201, description = "Staged", body = ItemView),
              (status = 200, description = "Already staged with this clientRequestId", body = ItemView), Errors))]
pub async fn stage_sms(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    let request = StageRequest::from(parse_json::<SmsStage>(&body)?);
    Ok(staged_response(
        state.daemon.outbox.stage(&authed.caller, request).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/chat/stage", tag = "outbox", operation_id = "stageChat",
    request_body = ChatStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 201, description = "Staged", body = ItemView),
              (status = 200, description = "Already staged with this clientRequestId", body = ItemView), Errors))]
pub async fn stage_chat(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    let request = StageRequest::from(parse_json::<ChatStage>(&body)?);
    Ok(staged_response(
        state.daemon.outbox.stage(&authed.caller, request).await?,
    ))
}

/// The outcome of a send request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub item: ItemView,
    /// True when a human must approve it first (see `reviewUrl`).
    pub pending_approval: bool,
    /// Where a human approves it.
    pub review_url: Option<String>,
}

/// How long a send waits for an item the policy let through to be delivered.
const SEND_WAIT: Duration = Duration::from_secs(10);

#[utoipa::path(post, path = "/api/v1/email/send", tag = "outbox", operation_id = "sendEmail",
    request_body = EmailStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "The policy allowed it and it was sent (or failed: see `item.state`)", body = SendResponse),
              (status = 202, description = "Staged and waiting: for a human's approval (`pending_approval`) or for dispatch", body = SendResponse), Errors))]
pub async fn send_email(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    authed.caller.require(Grant::Send, "send email")?;
    let request = StageRequest::try_from(parse_json::<EmailStage>(&body)?)?;
    send_staged(&state, &authed, request).await
}

#[utoipa::path(post, path = "/api/v1/sms/send", tag = "outbox", operation_id = "sendSms",
    request_body = SmsStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "The policy allowed it and it was sent (or failed: see `item.state`)", body = SendResponse),
              (status = 202, description = "Staged and waiting: for a human's approval (`pending_approval`) or for dispatch", body = SendResponse), Errors))]
pub async fn send_sms(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    authed.caller.require(Grant::Send, "send SMS")?;
    let request = StageRequest::from(parse_json::<SmsStage>(&body)?);
    send_staged(&state, &authed, request).await
}

/// Stages `request`, confirms a draft, and waits a little for the dispatch.
async fn send_staged(state: &ApiState, authed: &Authed, request: StageRequest) -> Result<Response> {
    let outbox = &state.daemon.outbox;
    let mut item = outbox.stage(&authed.caller, request).await?.item;
    if item.state == ItemState::Draft {
        item = outbox.confirm(&authed.caller, &item.id).await?;
    }
    let deadline = tokio::time::Instant::now() + SEND_WAIT;
    while matches!(item.state, ItemState::Approved | ItemState::Sending)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        item = outbox.get(&authed.caller, &item.id).await?;
    }
    let pending = item.state.is_pending();
    let done = matches!(item.state, ItemState::Sent | ItemState::Failed);
    let review_url = pending.then(|| state.daemon.status().review_url(&item.id));
    let status = if done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(SendResponse {
            item: ItemView::from(&item),
            pending_approval: pending,
            review_url,
        }),
    )
        .into_response())
}

// ------------------------------------------------------------------ staged items

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated states (`pending` is `pending_approval`); all when absent.
    #[param(value_type = Option<Vec<StateName>>, style = Form, explode = false)]
    pub state: Option<String>,
    /// All channels when absent.
    #[param(value_type = Option<ChannelName>)]
    pub channel: Option<String>,
    /// An account id or address.
    #[serde(rename = "accountId")]
    #[param(rename = "accountId")]
    pub account_id: Option<String>,
    /// Items per page (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    /// Absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/staged", tag = "outbox", operation_id = "listStaged", params(ListQuery),
    responses((status = 200, description = "A page of items, high priority and oldest first", body = ItemPage), Errors))]
pub async fn list_staged(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    uri: axum::http::Uri,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    authed.caller.require(Grant::Read, "read the outbox")?;
    // Pages are cached by the outbox generation read before the query: any
    // committed change makes every cached page unreachable.
    let generation = state.daemon.outbox.generation();
    let key = uri.query().unwrap_or("").to_owned();
    if let Some(bytes) = state.list_cache().get(generation, &key) {
        return Ok(json_bytes(bytes));
    }
    let states: Vec<String> = q.state.into_iter().collect();
    let filter = list_filter(&states, q.channel.as_deref(), q.account_id.as_deref(), None)?;
    let limit = list_limit(q.limit.as_deref())?;
    let page = state
        .daemon
        .outbox
        .list(&authed.caller, filter, q.cursor.as_deref(), limit)
        .await?;
    let body = ItemPage {
        items: page.items.iter().map(ItemView::from).collect(),
        next_cursor: page.next_cursor,
    };
    let bytes = axum::body::Bytes::from(
        serde_json::to_vec(&body).map_err(|e| Error::internal("cannot serialise a page", e))?,
    );
    state.list_cache().put(generation, key, bytes.clone());
    Ok(json_bytes(bytes))
}

fn json_bytes(bytes: axum::body::Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/staged/{id}", tag = "outbox", operation_id = "getStaged",
    params(("id" = String, Path, description = "Item id", example = "ob_7k2m9x4q1z")),
    responses((status = 200, description = "The item", body = ItemView), Errors))]
pub async fn get_staged(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Json<ItemView>> {
    Ok(Json(ItemView::from(
        &state.daemon.outbox.get(&authed.caller, &id).await?,
    )))
}

fn single(mut results: Vec<crate::outbox::service::BatchResult>) -> Result<Json<ItemView>> {
    match results.pop() {
        Some(r) => Ok(Json(ItemView::from(&r.result?))),
        None => Err(Error::internal("empty batch result", "no result")),
    }
}

#[utoipa::path(post, path = "/api/v1/staged/{id}/approve", tag = "outbox", operation_id = "approveStaged",
    params(("id" = String, Path, description = "Item id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "Approved; it is dispatched after the hold window", body = ItemView), Errors))]
pub async fn approve(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Json<ItemView>> {
    single(
        state
            .daemon
            .outbox
            .approve(&authed.caller, Target::Ids(vec![id]))
            .await?,
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Wrong patient"}))]
pub struct RejectBody {
    /// Why; recorded in the audit log.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/staged/{id}/reject", tag = "outbox", operation_id = "rejectStaged",
    request_body = RejectBody,
    params(("id" = String, Path, description = "Item id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "Rejected; nothing is sent", body = ItemView), Errors))]
pub async fn reject(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ItemView>> {
    let body: RejectBody = parse_json(&body)?;
    single(
        state
            .daemon
            .outbox
            .reject(&authed.caller, Target::Ids(vec![id]), &body.reason)
            .await?,
    )
}

#[utoipa::path(post, path = "/api/v1/staged/{id}/cancel", tag = "outbox", operation_id = "cancelStaged",
    params(("id" = String, Path, description = "Item id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "Cancelled (keys may cancel only their own items)", body = ItemView), Errors))]
pub async fn cancel(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(id): Path<String>,
) -> Result<Json<ItemView>> {
    Ok(Json(ItemView::from(
        &state.daemon.outbox.cancel(&authed.caller, &id).await?,
    )))
}

// ------------------------------------------------------------------ audit

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
#[into_params(rename_all = "camelCase")]
pub struct AuditQuery {
    /// Only events at or after this RFC 3339 time.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-21T09:00:00Z")]
    pub since: Option<String>,
    /// Only events before this sequence number (the previous page's `nextBeforeSeq`).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub before_seq: Option<String>,
    pub item_id: Option<String>,
    /// Events per page (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEventView>,
    pub next_before_seq: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "listAudit", params(AuditQuery),
    responses((status = 200, description = "Audit events, newest first", body = AuditPage), Errors))]
pub async fn audit(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>> {
    let filter = crate::audit::service::filter(
        q.since.as_deref(),
        q.before_seq.as_deref(),
        q.item_id.as_deref(),
        q.limit.as_deref(),
    )?;
    let limit = filter.limit;
    let events = state.daemon.audit.list(&authed.caller, filter).await?;
    let next_before_seq = (events.len() == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage {
        events: events.iter().map(AuditEventView::from).collect(),
        next_before_seq,
    }))
}
