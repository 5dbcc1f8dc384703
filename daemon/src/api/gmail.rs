//! `/api/v1/gmail/...`: Gmail for HTTP clients. Each route turns its path,
//! query and body into the Gmail service's typed input and calls the
//! service (`gmail::GmailService`), as the MCP tools and commsctl do: the
//! same validation, grants (read for reads, draft for drafts and labels,
//! stage for sends), cache and send gate. Results, and the fields errors
//! name, are spelled as the tools spell them (`tools::gmail::wire`);
//! message content in them is marked `untrusted`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::routes::Errors;
use super::{ApiState, Authed};
use crate::error::{Error, Result, parse_json};
use crate::gmail::types::{
    AttachmentInput, DraftContent, GetMessageInput, GetThreadInput, ModifyInput, ReplyInput,
    SearchInput, SendDraftInput, SendResult, UpdateDraftInput,
};
use crate::outbox::model::State as ItemState;
use crate::tools::gmail::wire;

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

/// A number that must fit `T`.
fn fits<T: TryFrom<u64>>(field: &str, v: Option<u64>) -> Result<Option<T>> {
    v.map(|n| T::try_from(n).map_err(|_| Error::invalid(field, "the number is too large")))
        .transpose()
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
    let run = async {
        let max = number("max_results", q.max_results.as_deref())?;
        let input = SearchInput {
            account_id: account,
            query: q.q.unwrap_or_default(),
            max_results: fits("max_results", max)?,
            page_token: q.page_token,
            label_ids: q
                .label_ids
                .map(|l| {
                    l.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        wire::search(&state.daemon.gmail.search(&authed.caller, input).await?)
    };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_search_messages", e))
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

/// How to read: `(format, body view)` from the query.
fn read_view(
    q: &ReadQuery,
) -> Result<(Option<crate::gmail::Format>, crate::gmail::types::BodyView)> {
    let offset = fits("offset", number("offset", q.offset.as_deref())?)?;
    let max_chars = fits("max_chars", number("max_chars", q.max_chars.as_deref())?)?;
    wire::view(q.format.as_deref(), q.body.as_deref(), offset, max_chars)
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
    let run = async {
        let (format, view) = read_view(&q)?;
        let input = GetMessageInput {
            account_id: account,
            message_id: id,
            format,
            view,
        };
        wire::json(
            &state
                .daemon
                .gmail
                .get_message(&authed.caller, input)
                .await?,
        )
    };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_get_message", e))
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
    let run = async {
        let (format, view) = read_view(&q)?;
        let input = GetThreadInput {
            account_id: account,
            thread_id: id,
            format,
            view,
        };
        wire::json(&state.daemon.gmail.get_thread(&authed.caller, input).await?)
    };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_get_thread", e))
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
    let input = AttachmentInput {
        account_id: account,
        message_id: id,
        attachment_id,
    };
    let saved = state.daemon.gmail.save_attachment(&authed.caller, input);
    let run = async { wire::json(&saved.await?) };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_get_attachment", e))
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

impl From<DraftBody> for DraftContent {
    fn from(b: DraftBody) -> DraftContent {
        DraftContent {
            from: b.from,
            to: b.to,
            cc: b.cc,
            bcc: b.bcc,
            subject: b.subject,
            body_text: b.text,
            body_html: b.html,
            attachments: b.attachments,
            thread_id: b.thread_id,
        }
    }
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
    let input = crate::gmail::types::CreateDraftInput {
        account_id: account,
        content: b.into(),
    };
    let run = async {
        wire::draft(
            &state
                .daemon
                .gmail
                .create_draft(&authed.caller, input)
                .await?,
        )
    };
    let v = run
        .await
        .map_err(|e| wire::error("gmail_create_draft", e))?;
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
    let input = UpdateDraftInput {
        account_id: account,
        draft_id,
        content: b.into(),
    };
    let run = async {
        wire::draft(
            &state
                .daemon
                .gmail
                .update_draft(&authed.caller, input)
                .await?,
        )
    };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_update_draft", e))
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
fn gate_response(sent: &SendResult, v: Value) -> Response {
    let waiting = matches!(
        sent.item.state,
        ItemState::Draft | ItemState::PendingApproval
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
    let input = SendDraftInput {
        account_id: account,
        draft_id,
        confirm: b.confirm,
        client_request_id: b.client_request_id,
    };
    let gmail = &state.daemon.gmail;
    let sent = gmail
        .send_draft(&authed.caller, input)
        .await
        .map_err(|e| wire::error("gmail_send_draft", e))?;
    let v = wire::staged(gmail.dashboard_url(), &authed.caller, &sent).structured;
    Ok(gate_response(&sent, v))
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
    let input = ReplyInput {
        account_id: account,
        reply_to_message_id: id,
        reply_all: b.reply_all,
        from: b.from,
        cc: b.cc,
        bcc: b.bcc,
        body_text: b.text,
        body_html: b.html,
        attachments: b.attachments,
        draft_id: b.draft_id,
        confirm: b.confirm,
        client_request_id: b.client_request_id,
    };
    let gmail = &state.daemon.gmail;
    let replied = gmail
        .reply(&authed.caller, input)
        .await
        .map_err(|e| wire::error("gmail_reply_in_thread", e))?;
    let v = wire::reply(gmail.dashboard_url(), &authed.caller, &replied).structured;
    Ok(gate_response(&replied.sent, v))
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
    let input = ModifyInput {
        account_id: account,
        message_ids: b.ids,
        add_label_ids: b.add,
        remove_label_ids: b.remove,
    };
    let run = async {
        wire::json(
            &state
                .daemon
                .gmail
                .modify_labels(&authed.caller, input)
                .await?,
        )
    };
    run.await
        .map(Json)
        .map_err(|e| wire::error("gmail_modify_labels", e))
}
