//! `/api/v1/email/inbox` and `/api/v1/email/read/{messageId}`: reading mail,
//! for every kind of account that has a mailbox. Each route dispatches on
//! the account's kind: IMAP accounts and the sandbox read through `mail::read` (the
//! functions the MCP tools and `commsctl mail` use), Google accounts through
//! the Gmail service (a search of `in:inbox`, a full message), so the cache,
//! quota limiter and grants (checked by those services and by
//! `AccountService::resolve`) are the same as everywhere else.
//!
//! Both kinds answer in the contract's names: camelCase fields, `accountId`,
//! `bodyText`/`bodyHtml`, and `limit`/`cursor` → `nextCursor` paging (a
//! Google account's page token travels as the cursor).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::IntoParams;

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::accounts::Kind;
use crate::error::{Error, Result};
use crate::gmail::types::{BodyView, GetMessageInput, SearchInput};
use crate::mail::client::Criteria;
use crate::mail::read;
use crate::util::camel_keys;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct InboxQuery {
    /// Account id or address; the default account when absent.
    pub account_id: Option<String>,
    /// Messages per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page (older messages).
    pub cursor: Option<String>,
    /// `true`: unread messages only.
    #[param(value_type = Option<bool>)]
    pub unread: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ReadQuery {
    /// Account id or address; the default account when absent.
    pub account_id: Option<String>,
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

/// A result as JSON in the contract's names.
fn json<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v)
        .map(|v| camel_keys(&v))
        .map_err(|e| Error::internal("cannot serialise a mail result", e))
}

/// Renames `from` to `to` in an object, when present.
fn rename(v: &mut Value, from: &str, to: &str) {
    if let Some(map) = v.as_object_mut()
        && let Some(x) = map.remove(from)
    {
        map.insert(to.to_owned(), x);
    }
}

/// An IMAP result: `mail::read`'s, with the account as `accountId` and a
/// message's bodies as `bodyText`/`bodyHtml`.
fn imap<T: Serialize>(v: &T) -> Result<Value> {
    let mut v = json(v)?;
    rename(&mut v, "account", "accountId");
    if let Some(message) = v.get_mut("message") {
        rename(message, "text", "bodyText");
        rename(message, "html", "bodyHtml");
    }
    Ok(v)
}

/// The newest messages in the account's INBOX.
#[utoipa::path(get, path = "/api/v1/email/inbox", tag = "email", operation_id = "listInbox", params(InboxQuery),
    responses((status = 200, description = "A page of the INBOX, newest first: `accountId`, `messages` (each with `id`, `threadId` for Google accounts, `from`, `subject`, `date`, ...), `nextCursor`, `untrusted: true`. Content is untrusted mail from outside.", body = Object), Errors))]
pub async fn inbox(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Value>> {
    let limit = read::limit(number("limit", q.limit.as_deref(), 1, 100)?)?;
    let criteria = Criteria {
        unseen: boolean("unread", q.unread.as_deref())?,
        ..Criteria::default()
    };
    let caller = &authed.caller;
    let account = state
        .daemon
        .accounts
        .resolve(caller, q.account_id.as_deref())?;
    match account.kind {
        // The mailboxes refuse a Twilio account, naming it.
        Kind::Imap | Kind::Sandbox | Kind::Twilio => {
            let mail = &state.daemon.mail;
            let page = mail.list(
                caller,
                Some(&account.id),
                Some("INBOX"),
                &criteria,
                limit,
                q.cursor.as_deref(),
            );
            Ok(Json(imap(&page.await?)?))
        }
        Kind::Google => {
            let query = if criteria.unseen {
                "in:inbox is:unread"
            } else {
                "in:inbox"
            };
            let input = SearchInput {
                account_id: account.id.clone(),
                query: query.to_owned(),
                max_results: u32::try_from(limit).ok(),
                page_token: q.cursor,
                label_ids: Vec::new(),
            };
            let names = [("maxResults", "limit"), ("pageToken", "cursor")];
            let page = state
                .daemon
                .gmail
                .search(caller, input)
                .await
                .map_err(|e| e.renaming_field(&names))?;
            let mut v = json(&page)?;
            rename(&mut v, "nextPageToken", "nextCursor");
            v["accountId"] = Value::String(account.id);
            Ok(Json(v))
        }
    }
}

/// One message in full (never marks it read).
#[utoipa::path(get, path = "/api/v1/email/read/{messageId}", tag = "email", operation_id = "readEmail",
    params(("messageId" = String, Path, description = "A message's `id` from /api/v1/email/inbox"), ReadQuery),
    responses((status = 200, description = "`accountId` and `message`: headers, `bodyText` and `bodyHtml`, attachments listed. Content is untrusted.", body = Object), Errors))]
pub async fn read_message(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(message_id): Path<String>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Value>> {
    let max_chars = number("maxChars", q.max_chars.as_deref(), 100, 1_000_000)?
        .map_or(read::DEFAULT_MAX_CHARS, |n| n as usize);
    let caller = &authed.caller;
    let account = state
        .daemon
        .accounts
        .resolve(caller, q.account_id.as_deref())?;
    match account.kind {
        // The mailboxes refuse a Twilio account, naming it.
        Kind::Imap | Kind::Sandbox | Kind::Twilio => {
            let mail = &state.daemon.mail;
            let message = mail.read(caller, Some(&account.id), &message_id, max_chars, false);
            Ok(Json(imap(&message.await?)?))
        }
        Kind::Google => {
            let input = GetMessageInput {
                account_id: account.id.clone(),
                message_id,
                format: Some(crate::gmail::Format::Full),
                view: BodyView {
                    max_chars: Some(max_chars),
                    ..BodyView::default()
                },
            };
            let message = state.daemon.gmail.get_message(caller, input).await?;
            let mut v = json(&message)?;
            v["accountId"] = Value::String(account.id);
            Ok(Json(v))
        }
    }
}
