//! The staged items: list, read, approve, reject and cancel
//! (`/api/v1/staged...`), thin over the outbox service.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::{Error, Result, parse_json};
use crate::outbox::request::{list_filter, list_limit};
use crate::outbox::service::Target;
use crate::outbox::view::ItemView;

use super::routes::{ChannelName, Errors, StateName};

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
