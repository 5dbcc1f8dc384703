//! `/api/v1/gmail/{accountId}/...`: Gmail for HTTP clients. Each route
//! turns its path, query and body into the Gmail service's typed input and
//! calls the service (`gmail::GmailService`), as the MCP tools and commsctl
//! do: the same validation, grants (read for reads, draft for drafts and
//! labels, stage for sends), cache and send gate. Bodies, queries and
//! results use the contract's names (camelCase, `bodyText`, `maxResults`,
//! `nextPageToken`, ...), which are the service's own, so the fields errors
//! name are the ones the caller sent; message content is marked `untrusted`.

use axum::Json;
use axum::body::Bytes;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::GmailService;
use crate::api::routes::Errors;
use crate::api::{ApiState, Authed};
use crate::error::{Error, Result, parse_json};
use crate::gmail::types::{
    AttachmentInput, BodyChoice, BodyView, CreateDraftInput, DraftContent, DraftResult,
    GetMessageInput, GetThreadInput, ModifyInput, ReplyInput, ReplyResult, SearchInput,
    SendDraftInput, SendResult, UpdateDraftInput,
};
use crate::outbox::model::State as ItemState;
use crate::outbox::service::Outbox;
use crate::outbox::view::ItemView;

/// Query values arrive as strings; numbers are parsed here so that a bad
/// one is refused naming its parameter.
fn number<T: TryFrom<u64>>(field: &str, v: Option<&str>) -> Result<Option<T>> {
    v.map(|s| {
        let n = s
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::invalid(field, "expected a whole number"))?;
        T::try_from(n).map_err(|_| Error::invalid(field, "the number is too large"))
    })
    .transpose()
}

/// Any serialisable result as JSON.
fn json<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal("cannot serialise a Gmail result", e))
}

// ------------------------------------------------------------------ reads

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct SearchQuery {
    /// Gmail search syntax, e.g. `from:jane@example.org is:unread newer_than:7d`.
    pub query: Option<String>,
    /// Messages per page (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub max_results: Option<String>,
    /// `nextPageToken` of the previous page.
    pub page_token: Option<String>,
    /// Comma-separated label ids every message must carry, e.g. `INBOX,UNREAD`.
    pub label_ids: Option<String>,
}

/// Searches mail: ids, thread ids, From, To, Subject, Date and snippet per
/// message (fetched in one batch), so no follow-up call is needed to triage.
#[utoipa::path(get, path = "/api/v1/gmail/{accountId}/messages", tag = "gmail", operation_id = "searchGmail",
    params(("accountId" = String, Path, description = "Google account id or address"), SearchQuery),
    responses((status = 200, description = "`messages` (`id`, `threadId`, `snippet`, ...), `nextPageToken`, `resultSizeEstimate`; `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn search(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account_id): Path<String>,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Value>> {
    let input = SearchInput {
        account_id,
        query: q.query.unwrap_or_default(),
        max_results: number("maxResults", q.max_results.as_deref())?,
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
    let page = gmail.search(&authed.caller, input).await?;
    Ok(Json(json(&page)?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ReadQuery {
    /// `full` (default): headers, body and attachments; `metadata`: headers and snippet.
    #[param(value_type = Option<ReadFormat>)]
    pub format: Option<String>,
    /// `auto` (default): the text part, or text converted from HTML when the text part is a stub.
    #[param(value_type = Option<BodyPart>)]
    pub body: Option<String>,
    /// Where a clipped body continues (its `nextOffset`).
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
fn read_view(q: &ReadQuery) -> Result<(Option<crate::gmail::Format>, BodyView)> {
    let format = q
        .format
        .as_deref()
        .map(|f| {
            crate::gmail::Format::parse(f)
                .ok_or_else(|| Error::invalid("format", "expected metadata or full"))
        })
        .transpose()?;
    let body = match q.body.as_deref() {
        None => BodyChoice::Auto,
        Some(b) => BodyChoice::parse(b)
            .ok_or_else(|| Error::invalid("body", "expected auto, text, html or both"))?,
    };
    let view = BodyView {
        body,
        offset: number("offset", q.offset.as_deref())?.unwrap_or(0),
        max_chars: number("maxChars", q.max_chars.as_deref())?,
    };
    Ok((format, view))
}

/// Reads one message. Long bodies are clipped (`truncated: true`, page on with `offset`).
#[utoipa::path(get, path = "/api/v1/gmail/{accountId}/messages/{messageId}", tag = "gmail", operation_id = "getGmailMessage",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("messageId" = String, Path, description = "Gmail message id"), ReadQuery),
    responses((status = 200, description = "`message` (`id`, `threadId`, `headers`, `bodyText`, `bodyHtml`, `labelIds`, ...); `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn message(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, message_id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Value>> {
    let (format, view) = read_view(&q)?;
    let input = GetMessageInput {
        account_id,
        message_id,
        format,
        view,
    };
    let message = gmail.get_message(&authed.caller, input).await?;
    Ok(Json(json(&message)?))
}

/// Reads a thread's messages in order.
#[utoipa::path(get, path = "/api/v1/gmail/{accountId}/threads/{threadId}", tag = "gmail", operation_id = "getGmailThread",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("threadId" = String, Path, description = "Gmail thread id"), ReadQuery),
    responses((status = 200, description = "`threadId`, `messages`; `untrusted`, `cacheHit`, `ttlRemainingMs`", body = Object), Errors))]
pub async fn thread(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, thread_id)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
) -> Result<Json<Value>> {
    let (format, view) = read_view(&q)?;
    let input = GetThreadInput {
        account_id,
        thread_id,
        format,
        view,
    };
    let thread = gmail.get_thread(&authed.caller, input).await?;
    Ok(Json(json(&thread)?))
}

/// Saves an attachment under commsd's data directory (0600) and returns its
/// path, size and type; the content itself never travels in the response.
#[utoipa::path(post, path = "/api/v1/gmail/{accountId}/messages/{messageId}/attachments/{attachmentId}", tag = "gmail",
    operation_id = "saveGmailAttachment",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("messageId" = String, Path, description = "Gmail message id"),
           ("attachmentId" = String, Path, description = "From the message's `attachments[].attachmentId`")),
    responses((status = 200, description = "`attachment`: `path`, `size`, `mimeType`, `filename`, `messageId`", body = Object), Errors))]
pub async fn attachment(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, message_id, attachment_id)): Path<(String, String, String)>,
) -> Result<Json<Value>> {
    let input = AttachmentInput {
        account_id,
        message_id,
        attachment_id,
    };
    let saved = gmail.save_attachment(&authed.caller, input);
    Ok(Json(json(&saved.await?)?))
}

// ------------------------------------------------------------------ drafts

/// A draft's content. Nothing is sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"to": "Jane Roe <jane@example.org>", "subject": "Your results", "bodyText": "Dear Jane, ..."}))]
pub struct DraftBody {
    /// The account's address (default) or one of its verified send-as aliases.
    pub from: Option<String>,
    #[serde(deserialize_with = "crate::de::one_or_many")]
    #[schema(value_type = crate::de::Addresses)]
    pub to: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    #[schema(value_type = Option<crate::de::Addresses>)]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    #[schema(value_type = Option<crate::de::Addresses>)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
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
            body_text: b.body_text,
            body_html: b.body_html,
            attachments: b.attachments,
            thread_id: b.thread_id,
        }
    }
}

/// A draft made or replaced; nothing is sent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DraftView {
    pub draft_id: Option<String>,
    pub message_id: Option<String>,
    pub thread_id: Option<String>,
    /// The From the draft carries.
    pub from: String,
    /// Its RFC 5322 Message-ID.
    pub rfc822_message_id: String,
    /// Headers and text as a human checks them.
    pub preview: String,
}

impl From<DraftResult> for DraftView {
    fn from(d: DraftResult) -> DraftView {
        DraftView {
            draft_id: d.draft_id,
            message_id: d.message_id,
            thread_id: d.thread_id,
            from: d.from,
            rfc822_message_id: d.rfc822_message_id,
            preview: d.preview,
        }
    }
}

/// Creates a Gmail draft (needs `draft`).
#[utoipa::path(post, path = "/api/v1/gmail/{accountId}/drafts", tag = "gmail", operation_id = "createGmailDraft",
    params(("accountId" = String, Path, description = "Google account id or address")),
    request_body = DraftBody,
    responses((status = 201, description = "The draft; nothing is sent (send it with `/drafts/{draftId}/send`)", body = DraftView), Errors))]
pub async fn create_draft(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let b: DraftBody = parse_json(&body)?;
    let input = CreateDraftInput {
        account_id,
        content: b.into(),
    };
    let draft = gmail.create_draft(&authed.caller, input);
    let view = DraftView::from(draft.await?);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Replaces a draft's content as a whole (needs `draft`).
#[utoipa::path(put, path = "/api/v1/gmail/{accountId}/drafts/{draftId}", tag = "gmail", operation_id = "updateGmailDraft",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("draftId" = String, Path, description = "Gmail draft id")),
    request_body = DraftBody,
    responses((status = 200, description = "The draft after the change; nothing is sent", body = DraftView), Errors))]
pub async fn update_draft(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, draft_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<DraftView>> {
    let b: DraftBody = parse_json(&body)?;
    let input = UpdateDraftInput {
        account_id,
        draft_id,
        content: b.into(),
    };
    let draft = gmail.update_draft(&authed.caller, input);
    Ok(Json(DraftView::from(draft.await?)))
}

// ------------------------------------------------------------------ the send gate

/// Sending a draft through the outbox.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendBody {
    /// Without it, only the preview and an outbox item waiting for confirmation.
    /// With it, the send policy decides (a human may still have to approve).
    #[serde(default)]
    pub confirm: bool,
    /// Repeating it returns the first item instead of a duplicate.
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

/// A draft (or reply) staged in the outbox: the item, whether it was staged
/// before, its preview and where a human reviews it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StagedDraft {
    pub item: ItemView,
    /// True when `clientRequestId` named an item staged before.
    pub existing: bool,
    /// What will be sent, as a human checks it.
    pub preview: String,
    /// The dashboard page where a human approves or rejects it.
    pub review_url: String,
    pub draft_id: String,
    pub thread_id: Option<String>,
    /// Whether the caller confirmed (then the send policy decided).
    pub confirmed: bool,
    /// Replies: the answered message's Message-ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Replies: the thread's References.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<String>>,
}

impl StagedDraft {
    fn new(dashboard_url: &str, sent: &SendResult) -> StagedDraft {
        StagedDraft {
            item: ItemView::from(&sent.item),
            existing: sent.existing,
            preview: Outbox::preview_text(&sent.item),
            review_url: format!("{dashboard_url}/review/{}", sent.item.id),
            draft_id: sent.draft_id.clone(),
            thread_id: sent.thread_id.clone(),
            confirmed: sent.confirmed,
            in_reply_to: None,
            references: None,
        }
    }

    fn reply(dashboard_url: &str, replied: &ReplyResult) -> StagedDraft {
        StagedDraft {
            in_reply_to: Some(replied.in_reply_to.clone()),
            references: Some(replied.references.clone()),
            ..StagedDraft::new(dashboard_url, &replied.sent)
        }
    }

    /// 202 while the item waits (for the caller's confirmation or a human), 200 otherwise.
    fn into_response(self, state: ItemState) -> Response {
        let waiting = matches!(state, ItemState::Draft | ItemState::PendingApproval);
        let status = if waiting {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        };
        (status, Json(self)).into_response()
    }
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
#[utoipa::path(post, path = "/api/v1/gmail/{accountId}/drafts/{draftId}/send", tag = "gmail", operation_id = "sendGmailDraft",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("draftId" = String, Path, description = "Gmail draft id"),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    request_body(content = SendBody, description = "Optional; `{}` by default"),
    responses((status = 202, description = "Waiting for confirmation or a human (see `reviewUrl`)", body = StagedDraft),
              (status = 200, description = "The policy let it through: `item` is approved, sending or sent", body = StagedDraft), Errors))]
pub async fn send_draft(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, draft_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let b: SendBody = optional(&body)?;
    let input = SendDraftInput {
        account_id,
        draft_id,
        confirm: b.confirm,
        client_request_id: b.client_request_id,
    };
    let sent = gmail.send_draft(&authed.caller, input).await?;
    Ok(StagedDraft::new(gmail.dashboard_url(), &sent).into_response(sent.item.state))
}

/// A reply in the message's thread.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"bodyText": "Dear Jane, Tuesday at 9:00 works. Kind regards", "confirm": true}))]
pub struct ReplyBody {
    /// Also to the original's To and Cc (never to this account itself).
    #[serde(default)]
    pub reply_all: bool,
    pub from: Option<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    #[schema(value_type = Option<crate::de::Addresses>)]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    #[schema(value_type = Option<crate::de::Addresses>)]
    pub bcc: Vec<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
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
#[utoipa::path(post, path = "/api/v1/gmail/{accountId}/messages/{messageId}/reply", tag = "gmail", operation_id = "replyGmailMessage",
    params(("accountId" = String, Path, description = "Google account id or address"),
           ("messageId" = String, Path, description = "The Gmail message answered"),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe POST", pattern = "^[!-~]{1,255}$")),
    request_body = ReplyBody,
    responses((status = 202, description = "Waiting for confirmation or a human (see `reviewUrl`)", body = StagedDraft),
              (status = 200, description = "The policy let it through", body = StagedDraft), Errors))]
pub async fn reply(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path((account_id, message_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    let b: ReplyBody = optional(&body)?;
    let input = ReplyInput {
        account_id,
        reply_to_message_id: message_id,
        reply_all: b.reply_all,
        from: b.from,
        cc: b.cc,
        bcc: b.bcc,
        body_text: b.body_text,
        body_html: b.body_html,
        attachments: b.attachments,
        draft_id: b.draft_id,
        confirm: b.confirm,
        client_request_id: b.client_request_id,
    };
    let replied = gmail
        .reply(&authed.caller, input)
        .await
        .map_err(|e| e.renaming_field(&[("replyToMessageId", "messageId")]))?;
    let state = replied.sent.item.state;
    Ok(StagedDraft::reply(gmail.dashboard_url(), &replied).into_response(state))
}

// ------------------------------------------------------------------ labels

/// Label changes on messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"messageIds": ["18c2f0a1b2c3d4e5"], "addLabelIds": ["Label_12"], "removeLabelIds": ["UNREAD", "INBOX"]}))]
pub struct ModifyBody {
    /// 1 to 1000 message ids.
    pub message_ids: Vec<String>,
    /// Label ids to add (`STARRED`, `IMPORTANT`, `UNREAD`, or a user label's id).
    #[serde(default)]
    pub add_label_ids: Vec<String>,
    /// Label ids to remove (`INBOX` archives, `UNREAD` marks read).
    #[serde(default)]
    pub remove_label_ids: Vec<String>,
}

/// Adds and removes labels (needs `draft`, and an account signed in at tier 3).
#[utoipa::path(post, path = "/api/v1/gmail/{accountId}/messages/modify", tag = "gmail", operation_id = "modifyGmailLabels",
    params(("accountId" = String, Path, description = "Google account id or address")),
    request_body = ModifyBody,
    responses((status = 200, description = "`modified`, `added`, `removed`", body = Object), Errors))]
pub async fn modify(
    Extension(gmail): Extension<Arc<GmailService>>,
    axum::Extension(authed): axum::Extension<Authed>,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>> {
    let b: ModifyBody = parse_json(&body)?;
    let input = ModifyInput {
        account_id,
        message_ids: b.message_ids,
        add_label_ids: b.add_label_ids,
        remove_label_ids: b.remove_label_ids,
    };
    let modified = gmail.modify_labels(&authed.caller, input);
    Ok(Json(json(&modified.await?)?))
}

/// Schemas named only by parameters, which the router does not collect.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(ReadFormat, BodyPart)))]
struct GmailDoc;

/// The Gmail routes, without their service: the provider registers them with
/// its `GmailService` (`Registry::api`); the OpenAPI document is built from
/// the same list.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(<GmailDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(search))
        .routes(routes!(message))
        .routes(routes!(thread))
        .routes(routes!(attachment))
        .routes(routes!(create_draft))
        .routes(routes!(update_draft))
        .routes(routes!(send_draft))
        .routes(routes!(reply))
        .routes(routes!(modify))
}
