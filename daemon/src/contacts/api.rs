//! `/api/v1/contacts`: contacts for HTTP clients over the same service as
//! the tools: `GET /contacts` (list, by group, or `?q=` search), `POST
//! /contacts` (create), `PUT`/`DELETE /contacts/{id}`, `GET
//! /contacts/resolve?q=&channel=`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{ContactsService, ListInput, ResolveInput};
use super::write::{ContactPatch, CreateInput, DeleteInput, UpdateInput};
use crate::api::routes::Errors;
use crate::api::{ApiState, Authed};
use crate::error::{Result, parse_json};

/// The routes; the service reaches them as an `Extension`.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
        .routes(routes!(resolve))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AccountQuery {
    /// The account whose saved contact is meant, when the person has several.
    pub account_id: Option<String>,
}

/// People (of a group, an account), or a search with `q`.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", operation_id = "listContacts",
    params(ListInput),
    responses((status = 200, description = "`people` (`id`, `name`, `emails`, `phones`, `groups`, `sources`), `groups`, `nextCursor`", body = Object), Errors))]
pub async fn list(
    Extension(contacts): Extension<Arc<ContactsService>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<ListInput>,
) -> Result<Json<Value>> {
    Ok(Json(contacts.list(&authed.caller, q).await?))
}

/// Creates a contact (needs `draft`): `{ accountId?, name?, nicknames?, emails?, phones?, organization?, groups? }`.
#[utoipa::path(post, path = "/api/v1/contacts", tag = "contacts", operation_id = "createContact",
    request_body(content = Object, description = "`accountId?`, `name?`, `nicknames?`, `emails?`, `phones?` (strings or `{ value, type?, primary? }`), `organization?`, `groups?`"),
    responses((status = 201, description = "The person", body = Object), Errors))]
pub async fn create(
    Extension(contacts): Extension<Arc<ContactsService>>,
    Extension(authed): Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    let input: CreateInput = parse_json(&body)?;
    let v = contacts.create(&authed.caller, input).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Changes the fields given (needs `draft`); the others keep their value.
#[utoipa::path(put, path = "/api/v1/contacts/{id}", tag = "contacts", operation_id = "updateContact",
    params(("id" = String, Path, description = "The person's id"), AccountQuery),
    request_body(content = Object, description = "`name?`, `nicknames?`, `emails?`, `phones?`, `organization?`, `groups?`"),
    responses((status = 200, description = "The person", body = Object), Errors))]
pub async fn update(
    Extension(contacts): Extension<Arc<ContactsService>>,
    Extension(authed): Extension<Authed>,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
    body: Bytes,
) -> Result<Json<Value>> {
    let patch: ContactPatch = parse_json(&body)?;
    let input = UpdateInput {
        person_id: id,
        account_id: q.account_id,
        patch,
    };
    Ok(Json(contacts.update(&authed.caller, input).await?))
}

/// Deletes a saved contact (needs `draft`).
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", tag = "contacts", operation_id = "deleteContact",
    params(("id" = String, Path, description = "The person's id"), AccountQuery),
    responses((status = 200, description = "`deleted`, `personId`, `accountId`", body = Object), Errors))]
pub async fn delete(
    Extension(contacts): Extension<Arc<ContactsService>>,
    Extension(authed): Extension<Authed>,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> Result<Json<Value>> {
    let input = DeleteInput {
        person_id: id,
        account_id: q.account_id,
    };
    Ok(Json(contacts.delete(&authed.caller, input).await?))
}

/// A name or partial address → `resolved`, `ambiguous` (with candidates) or `not_found`.
#[utoipa::path(get, path = "/api/v1/contacts/resolve", tag = "contacts", operation_id = "resolveContact",
    params(ResolveInput),
    responses((status = 200, description = "`status`, `query`, `channel`, and `personId`, `address`, `description` or `candidates`", body = Object), Errors))]
pub async fn resolve(
    Extension(contacts): Extension<Arc<ContactsService>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<ResolveInput>,
) -> Result<Json<Value>> {
    Ok(Json(contacts.resolve(&authed.caller, q).await?))
}
