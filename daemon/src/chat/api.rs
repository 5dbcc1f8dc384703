//! `/api/v1/chat/...`: Chat for HTTP clients, over the same service as the
//! tools (`GET /chat/spaces`, `GET /chat/messages`), and `POST /chat/send`,
//! which stages like `/chat/stage` and, when the policy lets it through,
//! waits for the delivery (as `/email/send` does).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::{Extension, Json};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{ChatService, MessagesInput, SpacesInput};
use crate::api::routes::Errors;
use crate::api::staging::SendResponse;
use crate::api::{ApiState, Authed};
use crate::auth::Grant;
use crate::error::{Result, parse_json};
use crate::outbox::request::ChatStage;
use crate::outbox::service::StageRequest;

/// The routes; the service reaches them as an `Extension`.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(spaces))
        .routes(routes!(messages))
        .routes(routes!(send))
}

/// Spaces and direct messages of a Google account with the chat module.
#[utoipa::path(get, path = "/api/v1/chat/spaces", tag = "chat", operation_id = "listChatSpaces",
    params(SpacesInput),
    responses((status = 200, description = "`spaces` (`name`, `displayName`, `spaceType`), `nextCursor`", body = Object), Errors))]
pub async fn spaces(
    Extension(chat): Extension<Arc<ChatService>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<SpacesInput>,
) -> Result<Json<Value>> {
    Ok(Json(chat.spaces(&authed.caller, q).await?))
}

/// A space's messages, oldest first; text marked untrusted.
#[utoipa::path(get, path = "/api/v1/chat/messages", tag = "chat", operation_id = "listChatMessages",
    params(MessagesInput),
    responses((status = 200, description = "`messages` (`id`, `threadId`, `sender`, `createTime`, `text`), `nextCursor`, `untrusted`", body = Object), Errors))]
pub async fn messages(
    Extension(chat): Extension<Arc<ChatService>>,
    Extension(authed): Extension<Authed>,
    Query(q): Query<MessagesInput>,
) -> Result<Json<Value>> {
    Ok(Json(chat.messages(&authed.caller, q).await?))
}

/// Stages a chat message and, when the policy lets it go, waits for it.
#[utoipa::path(post, path = "/api/v1/chat/send", tag = "outbox", operation_id = "sendChat",
    request_body = ChatStage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    responses((status = 200, description = "Sent (or failed: see `item.state`)", body = SendResponse),
              (status = 202, description = "Staged and waiting for a human's approval or for dispatch", body = SendResponse), Errors))]
pub async fn send(
    State(state): State<ApiState>,
    Extension(authed): Extension<Authed>,
    body: Bytes,
) -> Result<Response> {
    authed.caller.require(Grant::Send, "send chat messages")?;
    let request = StageRequest::from(parse_json::<ChatStage>(&body)?);
    crate::api::staging::send_staged(&state, &authed, request).await
}
