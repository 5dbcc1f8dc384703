//! `/api/v1/gmail/...`: Gmail for HTTP clients. Each route builds the
//! arguments of its Gmail tool and runs that tool (`tools::gmail`), so the
//! API, MCP and commsctl share one implementation: the same validation,
//! grants (read for reads, draft for drafts and labels, stage for sends),
//! cache and send gate. Results are the tools' results; message content in
//! them is marked `untrusted`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::error::{Error, Result, parse_json};
use crate::tools::ToolProvider;

/// Runs the Gmail tool `name` with `args` as the key's caller.
async fn run(state: &ApiState, authed: &Authed, name: &str, args: Value) -> Result<Value> {
    let outcome = state.daemon.gmail.call(&authed.caller, name, &args).await?;
    Ok(outcome.structured)
}

/// Query values arrive as strings; numbers are parsed here so that a bad
/// one is refused naming its parameter.
fn number(field: &str, v: Option<&str>) -> Result<Option<u64>> {
    v.map(|s| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| Error::invalid(field, "expected a whole number"))
    })
    .transpose()
}

fn insert(args: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        args.insert(key.to_owned(), v);
    }
}

// ------------------------------------------------------------------ reads

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Gmail search syntax, e.g. `from:jane@example.org is:unread newer_than:7d`.
    pub q: Option<String>,
    /// Messages per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub max_results: Option<String>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
    /// Comma-separated label ids every message must carry, e.g. `INBOX,UNREAD`.
    pub label_ids: Option<String>,
}

/// Searches mail: ids, thread ids, From, To, Subject, Date and snippet per
/// message (fetched in one batch), so no follow-up call is needed to triage.
#[utoipa::path(get, path = "/api/v1/gmail/{account}/messages", tag = "gmail", operation_id = "searchGmail",
    params(("account" = String, Path, description = "Google account id or address"), SearchQuery),
    responses((status = 200, description = "`messages`, `next_page_token`, `result_size_estimate`; `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn search(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>> {
    let mut args = Map::new();
    args.insert("account".into(), json!(account));
    insert(&mut args, "query", q.q.map(Value::from));
    insert(
        &mut args,
        "max_results",
        number("max_results", q.max_results.as_deref())?.map(Value::from),
    );
    insert(&mut args, "page_token", q.page_token.map(Value::from));
    insert(
        &mut args,
        "label_ids",
        q.label_ids.map(|l| {
            json!(
                l.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            )
        }),
    );
    Ok(Json(
        run(
            &state,
            &authed,
            "gmail_search_messages",
            Value::Object(args),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// `full` (default): headers, body and attachments; `metadata`: headers and snippet.
    #[param(value_type = Option<ReadFormat>)]
    pub format: Option<String>,
    /// `auto` (default): the text part, or text converted from HTML when the text part is a stub.
    #[param(value_type = Option<BodyPart>)]
    pub body: Option<String>,
    /// Where a clipped body continues (its `next_offset`).
    #[param(value_type = Option<u64>, minimum = 0)]
    pub offset: Option<String>,
    /// Characters of body to return (default `[gmail] body_limit_chars`).
    #[param(value_type = Option<u32>, minimum = 100, maximum = 200000)]
    pub max_chars: Option<String>,
}

/// How much of a message to read.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ReadFormat {
    Metadata,
    Full,
}

/// Which body to return.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum BodyPart {
    Auto,
    Text,
    Html,
    Both,
}

fn read_args(account: String, id: String, q: ReadQuery) -> Result<Value> {
    let mut args = Map::new();
    args.insert("account".into(), json!(account));
    args.insert("id".into(), json!(id));
    insert(&mut args, "format", q.format.map(Value::from));
    insert(&mut args, "body", q.body.map(Value::from));
    insert(
        &mut args,
        "offset",
        number("offset", q.offset.as_deref())?.map(Value::from),
    );
    insert(
        &mut args,
        "max_chars",
        number("max_chars", q.max_chars.as_deref())?.map(Value::from),
    );
    Ok(Value::Object(args))
}

/// Reads one message. Long bodies are clipped (`truncated: true`, page on with `offset`).
#[utoipa::path(get, path = "/api/v1/gmail/{account}/messages/{id}", tag = "gmail", operation_id = "getGmailMessage",
    params(("account" = String, Path, description = "Google account id or address"),
           ("id" = String, Path, description = "Gmail message id"), ReadQuery),
    responses((status = 200, description = "`message`; `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn message(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Value>> {
    Ok(Json(
        run(
            &state,
            &authed,
            "gmail_get_message",
            read_args(account, id, q)?,
        )
        .await?,
    ))
}

/// Reads a thread's messages in order.
#[utoipa::path(get, path = "/api/v1/gmail/{account}/threads/{id}", tag = "gmail", operation_id = "getGmailThread",
    params(("account" = String, Path, description = "Google account id or address"),
           ("id" = String, Path, description = "Gmail thread id"), ReadQuery),
    responses((status = 200, description = "`threadId`, `messages`; `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn thread(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Value>> {
    Ok(Json(
        run(
            &state,
            &authed,
            "gmail_get_thread",
            read_args(account, id, q)?,
        )
        .await?,
    ))
}

/// Saves an attachment under commsd's data directory (0600) and returns its
/// path, size and type; the content itself never travels in the response.
#[utoipa::path(post, path = "/api/v1/gmail/{account}/messages/{id}/attachments/{attachment_id}", tag = "gmail",
    operation_id = "saveGmailAttachment",
    params(("account" = String, Path, description = "Google account id or address"),
           ("id" = String, Path, description = "Gmail message id"),
           ("attachment_id" = String, Path, description = "From the message's `attachments[].attachmentId`")),
    responses((status = 200, description = "`attachment`: `path`, `size`, `mimeType`, `filename`", body = Object), Errors))]
pub async fn attachment(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, id, attachment_id)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    let args = json!({ "account": account, "message_id": id, "attachment_id": attachment_id });
    Ok(Json(
        run(&state, &authed, "gmail_get_attachment", args).await?,
    ))
}

// ------------------------------------------------------------------ drafts

/// A draft's content. Nothing is sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": ["Jane Roe <jane@example.org>"], "subject": "Your results", "text": "Dear Jane, ..."}))]
pub struct DraftBody {
    /// The account's address (default) or one of its verified send-as aliases.
    pub from: Option<String>,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Absolute paths of files on this machine (keys: only under `[outbox] attachment_dirs`).
    #[serde(default)]
    pub attachments: Vec<String>,
    /// The Gmail thread the draft belongs to.
    pub thread_id: Option<String>,
}

fn draft_args(account: String, draft_id: Option<String>, b: DraftBody) -> Value {
    let mut args = json!({
        "account": account, "to": b.to, "cc": b.cc, "bcc": b.bcc, "subject": b.subject,
        "attachments": b.attachments,
    });
    for (k, v) in [
        ("draft_id", draft_id),
        ("from", b.from),
        ("text", b.text),
        ("html", b.html),
        ("thread_id", b.thread_id),
    ] {
        if let Some(v) = v {
            args[k] = json!(v);
        }
    }
    args
}

/// Creates a Gmail draft (needs `draft`).
#[utoipa::path(post, path = "/api/v1/gmail/{account}/drafts", tag = "gmail", operation_id = "createGmailDraft",
    params(("account" = String, Path, description = "Google account id or address")),
    request_body = DraftBody,
    responses((status = 201, description = "`draftId`, `messageId`, `threadId`, `from`, `preview`", body = Object), Errors))]
pub async fn create_draft(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let b: DraftBody = parse_json(&body)?;
    let v = run(
        &state,
        &authed,
        "gmail_create_draft",
        draft_args(account, None, b),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Replaces a draft's content (needs `draft`).
#[utoipa::path(put, path = "/api/v1/gmail/{account}/drafts/{draft_id}", tag = "gmail", operation_id = "updateGmailDraft",
    params(("account" = String, Path, description = "Google account id or address"),
           ("draft_id" = String, Path, description = "Gmail draft id")),
    request_body = DraftBody,
    responses((status = 200, description = "`draftId`, `messageId`, `threadId`, `from`, `preview`", body = Object), Errors))]
pub async fn update_draft(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, draft_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>> {
    let b: DraftBody = parse_json(&body)?;
    Ok(Json(
        run(
            &state,
            &authed,
            "gmail_update_draft",
            draft_args(account, Some(draft_id), b),
        )
        .await?,
    ))
}

// ------------------------------------------------------------------ the send gate

/// Sending a draft through the outbox.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// Without it, only the preview and an outbox item waiting for confirmation.
    /// With it, the send policy decides (a human may still have to approve).
    #[serde(default)]
    pub confirm: bool,
    /// Repeating it returns the first item instead of a duplicate.
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

/// 202 while the item waits (for the caller's confirmation or a human), 200 otherwise.
fn gate_response(v: Value) -> Response {
    let waiting = matches!(
        v["item"]["state"].as_str(),
        Some("draft" | "pending_approval")
    );
    let status = if waiting {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(v)).into_response()
}

/// Optional JSON body: empty means defaults.
fn optional<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse_json(body)
    }
}

/// Sends a draft through the outbox (needs `stage`): an item linked to the
/// draft, with its rendered preview. Gmail sends it only once the policy or
/// a human allows it, and only while the draft still matches what was approved.
#[utoipa::path(post, path = "/api/v1/gmail/{account}/drafts/{draft_id}/send", tag = "gmail", operation_id = "sendGmailDraft",
    params(("account" = String, Path, description = "Google account id or address"),
           ("draft_id" = String, Path, description = "Gmail draft id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    request_body(content = SendBody, description = "Optional; `{}` by default"),
    responses((status = 202, description = "Waiting for confirmation or a human: `item`, `preview`, `review_url`, `next`, `draftId`", body = Object),
              (status = 200, description = "The policy let it through: `item` (approved, sending or sent)", body = Object), Errors))]
pub async fn send_draft(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, draft_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let b: SendBody = optional(&body)?;
    let mut args = json!({ "account": account, "draft_id": draft_id, "confirm": b.confirm });
    if let Some(id) = b.client_request_id {
        args["client_request_id"] = json!(id);
    }
    Ok(gate_response(
        run(&state, &authed, "gmail_send_draft", args).await?,
    ))
}

/// A reply in the message's thread.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "Dear Jane, Tuesday at 9:00 works. Kind regards", "confirm": true}))]
pub struct ReplyBody {
    /// Also to the original's To and Cc (never to this account itself).
    #[serde(default)]
    pub reply_all: bool,
    pub from: Option<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Reuse this draft instead of making a new one.
    pub draft_id: Option<String>,
    #[serde(default)]
    pub confirm: bool,
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

/// Replies in a thread (needs `draft` and `stage`): In-Reply-To, References
/// and "Re:" set for you, then gated like sending a draft.
#[utoipa::path(post, path = "/api/v1/gmail/{account}/messages/{id}/reply", tag = "gmail", operation_id = "replyGmailMessage",
    params(("account" = String, Path, description = "Google account id or address"),
           ("id" = String, Path, description = "The Gmail message answered"),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    request_body = ReplyBody,
    responses((status = 202, description = "Waiting for confirmation or a human: `item`, `preview`, `draftId`, `inReplyTo`, `references`", body = Object),
              (status = 200, description = "The policy let it through", body = Object), Errors))]
pub async fn reply(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let b: ReplyBody = optional(&body)?;
    let mut args = json!({
        "account": account, "message_id": id, "reply_all": b.reply_all, "cc": b.cc, "bcc": b.bcc,
        "attachments": b.attachments, "confirm": b.confirm,
    });
    for (k, v) in [
        ("from", b.from),
        ("text", b.text),
        ("html", b.html),
        ("draft_id", b.draft_id),
        ("client_request_id", b.client_request_id),
    ] {
        if let Some(v) = v {
            args[k] = json!(v);
        }
    }
    Ok(gate_response(
        run(&state, &authed, "gmail_reply_in_thread", args).await?,
    ))
}

// ------------------------------------------------------------------ labels

/// Label changes on messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ids": ["18c2f0a1b2c3d4e5"], "add": ["Label_12"], "remove": ["UNREAD", "INBOX"]}))]
pub struct ModifyBody {
    /// 1 to 1000 message ids.
    pub ids: Vec<String>,
    /// Label ids to add (`STARRED`, `IMPORTANT`, `UNREAD`, or a user label's id).
    #[serde(default)]
    pub add: Vec<String>,
    /// Label ids to remove (`INBOX` archives, `UNREAD` marks read).
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Adds and removes labels (needs `draft`, and an account signed in at tier 3).
#[utoipa::path(post, path = "/api/v1/gmail/{account}/messages/modify", tag = "gmail", operation_id = "modifyGmailLabels",
    params(("account" = String, Path, description = "Google account id or address")),
    request_body = ModifyBody,
    responses((status = 200, description = "`modified`, `added`, `removed`", body = Object), Errors))]
pub async fn modify(
    State(state): State<ApiState>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let b: ModifyBody = parse_json(&body)?;
    let args = json!({ "account": account, "ids": b.ids, "add": b.add, "remove": b.remove });
    Ok(Json(
        run(&state, &authed, "gmail_modify_labels", args).await?,
    ))
}
