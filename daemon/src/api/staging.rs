//! Staging: `/api/v1/{email,sms,chat}/stage` and `/api/v1/email/send`,
//! thin over `Outbox::stage` (which checks grants and validates).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::{Result, parse_json};
use crate::outbox::model::State as ItemState;
use crate::outbox::request::{ChatStage, EmailStage, SmsStage};
use crate::outbox::service::{StageRequest, Staged};
use crate::outbox::view::ItemView;

use super::routes::Errors;

pub(crate) fn staged_response(staged: Staged) -> Response {
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
              (status = 202, description = "Staged and waiting: for a human's approval (`pendingApproval`) or for dispatch", body = SendResponse), Errors))]
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
              (status = 202, description = "Staged and waiting: for a human's approval (`pendingApproval`) or for dispatch", body = SendResponse), Errors))]
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
pub(crate) async fn send_staged(
    state: &ApiState,
    authed: &Authed,
    request: StageRequest,
) -> Result<Response> {
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
