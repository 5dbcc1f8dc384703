//! `GET /api/v1/inbox` and `GET /api/v1/inbox/search?q=`: the unified
//! inbox through [`Inbox`] (as the tools and `commsctl inbox`), in the
//! contract's names.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::reply::ReplyInput;
use super::service::{Inbox, ListInput, Listed, SearchInput};
use crate::api::routes::Errors;
use crate::api::staging::staged_response;
use crate::api::{ApiState, Authed};
use crate::error::{Result, parse_json};
use crate::extract::Query;
use crate::outbox::view::ItemView;

/// The query of `/api/v1/inbox/search`: `q` and the filters of `/api/v1/inbox`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct SearchQuery {
    /// Words, parts of words, addresses or numbers; all must match.
    pub q: String,
    /// `email`, `sms` or `chat`.
    pub channel: Option<String>,
    pub account_id: Option<String>,
    /// Part of the sender's address, number or name.
    pub from: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (UTC).
    pub since: Option<String>,
    pub before: Option<String>,
    pub unread: Option<bool>,
    pub has_attachment: Option<bool>,
    /// One conversation: a message's `threadId`.
    pub thread_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// What came in, newest first, across channels and accounts.
#[utoipa::path(get, path = "/api/v1/inbox", tag = "inbox", operation_id = "listInbox", params(ListInput),
    responses((status = 200, description = "A page of messages, newest first: `messages` (each with `id` and `accountId` as the channel's own routes take them, `channel`, `threadId`, `from`, `to`, `receivedAt`, `subject`, `text` (clipped), `hasAttachments`, `unread`), `nextCursor`, `untrusted: true`.", body = Listed), Errors))]
pub async fn list(
    Extension(inbox): Extension<Arc<Inbox>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<ListInput>,
) -> Result<Json<Listed>> {
    Ok(Json(inbox.list(&authed.caller, q).await?))
}

/// Full-text search of the inbox, best match first, then newest.
#[utoipa::path(get, path = "/api/v1/inbox/search", tag = "inbox", operation_id = "searchInbox", params(SearchQuery),
    responses((status = 200, description = "Matching messages (as `/api/v1/inbox`), `nextCursor`, `untrusted: true`.", body = Listed), Errors))]
pub async fn search(
    Extension(inbox): Extension<Arc<Inbox>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Listed>> {
    let input = SearchInput {
        query: q.q,
        channel: q.channel,
        account_id: q.account_id,
        from: q.from,
        since: q.since,
        before: q.before,
        unread: q.unread,
        has_attachment: q.has_attachment,
        thread_id: q.thread_id,
        limit: q.limit,
        cursor: q.cursor,
    };
    let found = inbox.search(&authed.caller, input).await;
    Ok(Json(
        found.map_err(|e| e.renaming_field(&[("query", "q")]))?,
    ))
}

/// Stages a reply to a message of the inbox (to its sender, in its thread),
/// for the policy and a human like any staged message.
#[utoipa::path(post, path = "/api/v1/inbox/reply", tag = "inbox", operation_id = "replyInbox",
    request_body = ReplyInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 201, description = "The reply, staged; the policy decided its state", body = ItemView),
              (status = 200, description = "Already staged with this clientRequestId", body = ItemView), Errors))]
pub async fn reply(
    State(state): State<ApiState>,
    Extension(inbox): Extension<Arc<Inbox>>,
    Extension(authed): Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    let input = parse_json::<ReplyInput>(&body)?;
    let staged = inbox
        .reply(&authed.caller, &state.daemon.outbox, input)
        .await?;
    Ok(staged_response(staged))
}

/// The routes, without the service (`Registry::api` adds it).
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(search))
        .routes(routes!(reply))
}
