//! `/api/v1/audit`: the audit trail, thin over `audit::AuditLog`.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiState, Authed};
use crate::error::Result;
use crate::outbox::view::AuditEventView;

use super::routes::Errors;

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
