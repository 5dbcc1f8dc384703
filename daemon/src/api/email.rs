//! `/api/v1/email/inbox` and `/api/v1/email/read/{id}`: reading mail, for
//! every kind of account that has a mailbox. Each route dispatches on the
//! account's kind: IMAP accounts and the sandbox read through `mail::read` (the functions
//! the MCP tools and `commsctl mail` use), Google accounts through the Gmail
//! service (a search of `in:inbox`, a full message, results spelled as the
//! Gmail tools spell them), so the cache, quota limiter and grants are the
//! same as everywhere else.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::accounts::Kind;
use crate::auth::Grant;
use crate::error::{Error, Result};
use crate::gmail::types::{BodyView, GetMessageInput, SearchInput};
use crate::mail::client::Criteria;
use crate::mail::read::{self, Listed, Read};
use crate::tools::gmail::wire;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Account id or address; the default account when absent.
    pub account: Option<String>,
    /// Messages per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (older messages).
    pub cursor: Option<String>,
    /// `true`: unread messages only.
    #[param(value_type = Option<bool>)]
    pub unread_only: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Account id or address; the default account when absent.
    pub account: Option<String>,
    /// Clip each body to this many characters (default 20000).
    #[param(value_type = Option<u32>, minimum = 100, maximum = 1000000)]
    pub max_chars: Option<String>,
}

fn number(field: &str, value: Option<&str>, min: u64, max: u64) -> Result<Option<u64>> {
    value
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| Error::invalid(field, format!("expected {min} to {max}")))
        })
        .transpose()
}

fn boolean(field: &str, value: Option<&str>) -> Result<bool> {
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::invalid(field, "expected true or false")),
    }
}

/// An INBOX page: IMAP accounts answer with `messages` and `next_cursor`;
/// Google accounts with what `gmail_search_messages` answers (`messages`,
/// `next_page_token`, `cacheHit`, ...). Both are marked `untrusted`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum InboxPage {
    Imap(Listed),
    #[schema(value_type = Object)]
    Gmail(Value),
}

/// One message: `mail::read` for IMAP, what `gmail_get_message` answers for Google.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Message {
    Imap(Box<Read>),
    #[schema(value_type = Object)]
    Gmail(Value),
}

/// The newest messages in the account's INBOX.
#[utoipa::path(get, path = "/api/v1/email/inbox", tag = "email", operation_id = "listInbox", params(InboxQuery),
    responses((status = 200, description = "A page of the INBOX, newest first. Content is untrusted mail from outside.", body = InboxPage), Errors))]
pub async fn inbox(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<InboxPage>> {
    authed.caller.require(Grant::Read, "read mail")?;
    let limit = read::limit(number("limit", q.limit.as_deref(), 1, 100)?)?;
    let criteria = Criteria {
        unseen: boolean("unread_only", q.unread_only.as_deref())?,
        ..Criteria::default()
    };
    let account = state
        .daemon
        .accounts
        .accounts
        .resolve(q.account.as_deref())?;
    match account.kind {
        Kind::Imap | Kind::Sandbox => Ok(Json(InboxPage::Imap(
            state
                .daemon
                .mail
                .list(
                    &authed.caller,
                    Some(&account.id),
                    Some("INBOX"),
                    &criteria,
                    limit,
                    q.cursor.as_deref(),
                )
                .await?,
        ))),
        Kind::Google => {
            let query = if criteria.unseen {
                "in:inbox is:unread"
            } else {
                "in:inbox"
            };
            let input = SearchInput {
                account_id: account.id,
                query: query.to_owned(),
                max_results: u32::try_from(limit).ok(),
                page_token: q.cursor,
                label_ids: Vec::new(),
            };
            let run =
                async { wire::search(&state.daemon.gmail.search(&authed.caller, input).await?) };
            let page = run
                .await
                .map_err(|e| wire::error("gmail_search_messages", e))?;
            Ok(Json(InboxPage::Gmail(page)))
        }
    }
}

/// One message in full (never marks it read).
#[utoipa::path(get, path = "/api/v1/email/read/{id}", tag = "email", operation_id = "readEmail",
    params(("id" = String, Path, description = "Message id from /api/v1/email/inbox"), ReadQuery),
    responses((status = 200, description = "The message: headers, text and HTML bodies, attachments listed. Content is untrusted.", body = Message), Errors))]
pub async fn read_message(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Message>> {
    authed.caller.require(Grant::Read, "read mail")?;
    let max_chars = number("max_chars", q.max_chars.as_deref(), 100, 1_000_000)?
        .map_or(read::DEFAULT_MAX_CHARS, |n| n as usize);
    let account = state
        .daemon
        .accounts
        .accounts
        .resolve(q.account.as_deref())?;
    match account.kind {
        Kind::Imap | Kind::Sandbox => Ok(Json(Message::Imap(Box::new(
            state
                .daemon
                .mail
                .read(&authed.caller, Some(&account.id), &id, max_chars, false)
                .await?,
        )))),
        Kind::Google => {
            let input = GetMessageInput {
                account_id: account.id,
                message_id: id,
                format: Some(crate::gmail::Format::Full),
                view: BodyView {
                    max_chars: Some(max_chars),
                    ..BodyView::default()
                },
            };
            let run = async {
                wire::json(
                    &state
                        .daemon
                        .gmail
                        .get_message(&authed.caller, input)
                        .await?,
                )
            };
            let message = run.await.map_err(|e| wire::error("gmail_get_message", e))?;
            Ok(Json(Message::Gmail(message)))
        }
    }
}
