//! `POST /api/v1/sandbox/receive`: puts an email, SMS or chat message into
//! the sandbox account's inbox, as `commsctl sandbox receive` does (tests and
//! demos of reading without a real account). Needs `admin`.

use axum::Json;
use axum::body::Bytes;
use std::sync::Arc;

use axum::Extension;
use axum::http::StatusCode;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SandboxInbox;
use crate::api::routes::Errors;
use crate::api::{ApiState, Authed};
use crate::error::{Result, parse_json};
use crate::sandbox::inbox::{Receipt, ReceiveRequest};

/// Delivers a message into the sandbox inbox. email: `from`, `subject`,
/// `body`, optional `to`; sms: `from` (E.164), `body`, optional `to`; chat:
/// `from` (a name), `space`, `body`.
#[utoipa::path(post, path = "/api/v1/sandbox/receive", tag = "sandbox", operation_id = "sandboxReceive",
    request_body = ReceiveRequest,
    responses((status = 201, description = "Received; `id` reads it (for email: the message id of /api/v1/email/read/{id})", body = Receipt), Errors))]
pub async fn receive(
    Extension(inbox): Extension<Arc<SandboxInbox>>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<(StatusCode, Json<Receipt>)> {
    let request = parse_json::<ReceiveRequest>(&body)?;
    let receipt = inbox.receive(&authed.caller, request).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

/// The sandbox's routes, without the inbox: the provider registers them with
/// it (`Registry::api`).
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(receive))
}
