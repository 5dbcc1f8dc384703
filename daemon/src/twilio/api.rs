//! `GET /api/v1/sms/inbox` and `GET /api/v1/sms/threads/{number}`: the
//! SMS of a Twilio account or the sandbox, through `read::SmsRead` (as the
//! tools and `commsctl sms`), in the contract's names.

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::read::{ListInput, Listed, MAX_LIMIT, SmsRead};
use crate::api::routes::Errors;
use crate::api::{ApiState, Authed};
use crate::error::{Error, Result};

/// The query of `/api/v1/sms/inbox`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct InboxQuery {
    /// Account id or address; the default account when absent.
    pub account_id: Option<String>,
    /// Their number (E.164).
    pub number: Option<String>,
    /// A message's `threadId`.
    pub thread_id: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (UTC).
    pub since: Option<String>,
    /// Messages per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page (older messages).
    pub cursor: Option<String>,
}

/// The query of `/api/v1/sms/threads/{number}`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ThreadQuery {
    pub account_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn limit(value: Option<&str>) -> Result<Option<u64>> {
    value
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT as u64).contains(n))
                .ok_or_else(|| Error::invalid("limit", format!("expected 1 to {MAX_LIMIT}")))
        })
        .transpose()
}

/// Received and sent SMS, newest first.
#[utoipa::path(get, path = "/api/v1/sms/inbox", tag = "sms", operation_id = "listSms", params(InboxQuery),
    responses((status = 200, description = "A page of messages, newest first: `accountId`, `messages` (each with `id`, `threadId`, `direction`, `from`, `to`, `body`, `media`, `receivedAt`), `nextCursor`, `untrusted: true`. Content is untrusted.", body = Listed), Errors))]
pub async fn inbox(
    Extension(read): Extension<Arc<SmsRead>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Listed>> {
    let input = ListInput {
        limit: limit(q.limit.as_deref())?,
        account_id: q.account_id,
        number: q.number,
        thread_id: q.thread_id,
        since: q.since,
        cursor: q.cursor,
    };
    Ok(Json(read.list(&authed.caller, input).await?))
}

/// One conversation with a number, newest first.
#[utoipa::path(get, path = "/api/v1/sms/threads/{number}", tag = "sms", operation_id = "getSmsThread",
    params(("number" = String, Path, description = "Their number (E.164), or a message's `threadId`"), ThreadQuery),
    responses((status = 200, description = "The thread: `accountId`, `threadId`, `messages`, `nextCursor`, `untrusted: true`.", body = Listed), Errors))]
pub async fn thread(
    Extension(read): Extension<Arc<SmsRead>>,
    Extension(authed): Extension<Authed>,
    Path(number): Path<String>,
    Query(q): Query<ThreadQuery>,
) -> Result<Json<Listed>> {
    let (number, thread_id) = if number.contains(':') {
        (None, Some(number))
    } else {
        (Some(number), None)
    };
    let input = ListInput {
        limit: limit(q.limit.as_deref())?,
        account_id: q.account_id,
        number,
        thread_id,
        since: None,
        cursor: q.cursor,
    };
    Ok(Json(read.thread(&authed.caller, input).await?))
}

/// The routes, without the service (`Registry::api` adds it).
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(thread))
}
