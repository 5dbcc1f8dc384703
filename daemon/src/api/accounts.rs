//! `/api/v1/accounts` and `/api/v1/google/client`: thin adapters over
//! `accounts::service`, which checks grants.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::accounts::Account;
use crate::accounts::oauth::{ClientStatus, FlowDone, FlowRequest, FlowStarted};
use crate::accounts::service::Removed;
use crate::error::{Error, Result, parse_json};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountsResponse {
    pub accounts: Vec<Account>,
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", operation_id = "listAccounts",
    responses((status = 200, description = "Every account: the sandbox, then Google and IMAP accounts", body = AccountsResponse), Errors))]
pub async fn list(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
) -> Result<Json<AccountsResponse>> {
    Ok(Json(AccountsResponse {
        accounts: state.daemon.accounts.list(&authed.caller)?,
    }))
}

/// A Google sign-in to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"labels": ["work"], "scopesTier": 2, "with": ["contacts"], "loginHint": "me@example.com"}))]
pub struct AddGoogleBody {
    #[serde(default)]
    pub labels: Vec<String>,
    /// 1 read (gmail.readonly), 2 compose and send, 3 modify. Default 1.
    #[schema(minimum = 1, maximum = 3)]
    pub scopes_tier: Option<u8>,
    /// Opt-in modules: `contacts`, `chat`, `mail`.
    #[serde(default)]
    pub with: Vec<String>,
    pub login_hint: Option<String>,
    /// Seconds to wait for the human to sign in (default 300).
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_seconds: Option<u32>,
}

/// Starts a Google sign-in. The human opens `authUrl`; the account appears
/// when they consent (follow it at `/api/v1/accounts/google/flows/{flowId}`).
#[utoipa::path(post, path = "/api/v1/accounts/google", tag = "accounts", operation_id = "addGoogleAccount",
    request_body = AddGoogleBody,
    responses((status = 202, description = "Sign-in started: open authUrl", body = FlowStarted), Errors))]
pub async fn add_google(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    body: Bytes,
) -> Result<(StatusCode, Json<FlowStarted>)> {
    let b: AddGoogleBody = parse_json(&body)?;
    let started = state
        .daemon
        .accounts
        .add_google(
            &authed.caller,
            FlowRequest {
                labels: b.labels,
                tier: b.scopes_tier.unwrap_or(1),
                modules: b.with,
                login_hint: b.login_hint,
                timeout: b.timeout_seconds.map(|s| Duration::from_secs(s.into())),
            },
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// Where a sign-in stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowState {
    /// `pending`, `done` or `failed`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<FlowDone>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::routes::ErrorBody>)]
    pub error: Option<serde_json::Value>,
}

#[utoipa::path(get, path = "/api/v1/accounts/google/flows/{flowId}", tag = "accounts", operation_id = "getGoogleSignIn",
    params(("flowId" = String, Path, description = "From the sign-in's start")),
    responses((status = 200, description = "The sign-in's state", body = FlowState), Errors))]
pub async fn google_flow(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(flow_id): Path<String>,
) -> Result<Json<FlowState>> {
    let outcome = state
        .daemon
        .accounts
        .google_flow(&authed.caller, &flow_id)?;
    Ok(Json(match outcome {
        None => FlowState {
            state: "pending",
            result: None,
            error: None,
        },
        Some(Ok(done)) => FlowState {
            state: "done",
            result: Some(done),
            error: None,
        },
        Some(Err(e)) => FlowState {
            state: "failed",
            result: None,
            error: Some(e.envelope()),
        },
    }))
}

/// Changes to an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"labels": ["work", "clinic"]}))]
pub struct UpdateAccountBody {
    /// Replaces the labels.
    pub labels: Option<Vec<String>>,
    /// `true` makes it the default account (needs `admin`).
    pub default: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/accounts/{accountId}", tag = "accounts", operation_id = "updateAccount",
    params(("accountId" = String, Path, description = "Account id or address")),
    request_body = UpdateAccountBody,
    responses((status = 200, description = "The account after the change", body = Account), Errors))]
pub async fn update(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Json<Account>> {
    let b: UpdateAccountBody = parse_json(&body)?;
    let service = &state.daemon.accounts;
    let mut current = None;
    if let Some(labels) = b.labels {
        current = Some(service.set_labels(&authed.caller, &account, labels).await?);
    }
    match b.default {
        Some(true) => current = Some(service.set_default(&authed.caller, &account).await?),
        Some(false) => {
            return Err(Error::invalid(
                "default",
                "to stop an account being the default, make another one (or `sandbox`) the default",
            ));
        }
        None => {}
    }
    match current {
        Some(a) => Ok(Json(a)),
        None => Err(Error::invalid("body", "give labels and/or default")),
    }
}

#[utoipa::path(delete, path = "/api/v1/accounts/{accountId}", tag = "accounts", operation_id = "removeAccount",
    params(("accountId" = String, Path, description = "Account id or address")),
    responses((status = 200, description = "Removed: token revoked, secrets and cached data deleted", body = Removed), Errors))]
pub async fn remove(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account): Path<String>,
) -> Result<Json<Removed>> {
    Ok(Json(
        state
            .daemon
            .accounts
            .remove(&authed.caller, &account)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/google/client", tag = "accounts", operation_id = "getGoogleClient",
    responses((status = 200, description = "Whether a Google OAuth client is set up (never its secret)", body = ClientStatus), Errors))]
pub async fn google_client(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
) -> Result<Json<ClientStatus>> {
    Ok(Json(
        state.daemon.accounts.client_status(&authed.caller).await?,
    ))
}
