//! The Gmail tools' wire, which `/api/v1/gmail` and `/api/v1/email` share:
//! the tools' arguments in the contract's names (camelCase, `accountId`,
//! `messageId`, `threadId`, `draftId`, `bodyText`, `maxResults`, ...; `to`,
//! `cc`, `bcc` one address or a list) read into the service's typed inputs
//! (`gmail::types`, which already use those names, as do its errors), and
//! the results, which are the service's plus what to do next.

use serde::Deserialize;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::Error;
use crate::gmail::types::{
    BodyChoice, BodyView, CreateDraftInput, DraftContent, DraftResult, GetMessageInput,
    GetMessagesInput, GetThreadInput, ReplyInput, ReplyResult, SearchResult, SendResult, Untrusted,
};
use crate::gmail::{DraftPatch, Format, PatchDraftInput};
use crate::tools::{Outcome, staged_outcome};

// ------------------------------------------------------------------ errors

/// A service error as the tool's caller knows its fields. The service
/// names fields as the contract does, except in compose, which knows a
/// reply's or patch's bodies by their own names.
pub fn error(tool: &str, e: Error) -> Error {
    match tool {
        "gmail_update_draft" => e.renaming_field(&[
            ("to", "patch.to"),
            ("cc", "patch.cc"),
            ("bcc", "patch.bcc"),
            ("subject", "patch.subject"),
            ("from", "patch.from"),
            ("attachments", "patch.attachments"),
            ("bodyText", "patch.bodyText"),
            ("bodyHtml", "patch.bodyHtml"),
        ]),
        _ => e,
    }
}

// ------------------------------------------------------------------ arguments

/// `format` as the wire spells it.
pub fn format(s: Option<&str>) -> Result<Option<Format>, Error> {
    s.map(|f| Format::parse(f).ok_or_else(|| Error::invalid("format", "expected metadata or full")))
        .transpose()
}

/// `body` as the wire spells it.
pub fn body(s: Option<&str>) -> Result<BodyChoice, Error> {
    match s {
        None => Ok(BodyChoice::Auto),
        Some(c) => BodyChoice::parse(c)
            .ok_or_else(|| Error::invalid("body", "expected auto, text, html or both")),
    }
}

/// A read's `format`, `body`, `offset` and `maxChars`, checked.
pub fn view(
    f: Option<&str>,
    b: Option<&str>,
    offset: Option<usize>,
    max_chars: Option<usize>,
) -> Result<(Option<Format>, BodyView), Error> {
    let format = format(f)?;
    let view = BodyView {
        body: body(b)?,
        offset: offset.unwrap_or(0),
        max_chars,
    };
    Ok((format, view))
}

/// How a read returns bodies: `format`, `body`, `offset`, `maxChars`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ViewArgs {
    pub format: Option<String>,
    pub body: Option<String>,
    pub offset: Option<usize>,
    pub max_chars: Option<usize>,
}

impl ViewArgs {
    fn checked(&self) -> Result<(Option<Format>, BodyView), Error> {
        view(
            self.format.as_deref(),
            self.body.as_deref(),
            self.offset,
            self.max_chars,
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetMessageArgs {
    pub account_id: String,
    pub message_id: String,
    #[serde(flatten)]
    pub view: ViewArgs,
}

impl TryFrom<GetMessageArgs> for GetMessageInput {
    type Error = Error;

    fn try_from(a: GetMessageArgs) -> Result<GetMessageInput, Error> {
        let (format, view) = a.view.checked()?;
        Ok(GetMessageInput {
            account_id: a.account_id,
            message_id: a.message_id,
            format,
            view,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetThreadArgs {
    pub account_id: String,
    pub thread_id: String,
    #[serde(flatten)]
    pub view: ViewArgs,
}

impl TryFrom<GetThreadArgs> for GetThreadInput {
    type Error = Error;

    fn try_from(a: GetThreadArgs) -> Result<GetThreadInput, Error> {
        let (format, view) = a.view.checked()?;
        Ok(GetThreadInput {
            account_id: a.account_id,
            thread_id: a.thread_id,
            format,
            view,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchArgs {
    pub account_id: String,
    pub message_ids: Vec<String>,
    #[serde(flatten)]
    pub view: ViewArgs,
}

impl TryFrom<BatchArgs> for GetMessagesInput {
    type Error = Error;

    fn try_from(a: BatchArgs) -> Result<GetMessagesInput, Error> {
        let (format, view) = a.view.checked()?;
        Ok(GetMessagesInput {
            account_id: a.account_id,
            message_ids: a.message_ids,
            format,
            view,
        })
    }
}

/// gmail_create_draft's arguments.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateDraftArgs {
    pub account_id: String,
    pub from: Option<String>,
    #[serde(deserialize_with = "crate::de::one_or_many")]
    pub to: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<String>,
    pub thread_id: Option<String>,
}

impl From<CreateDraftArgs> for CreateDraftInput {
    fn from(a: CreateDraftArgs) -> CreateDraftInput {
        CreateDraftInput {
            account_id: a.account_id,
            content: DraftContent {
                from: a.from,
                to: a.to,
                cc: a.cc,
                bcc: a.bcc,
                subject: a.subject,
                body_text: a.body_text,
                body_html: a.body_html,
                attachments: a.attachments,
                thread_id: a.thread_id,
            },
        }
    }
}

/// gmail_update_draft's arguments: the fields to change under `patch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateDraftArgs {
    pub account_id: String,
    pub draft_id: String,
    pub patch: DraftPatch,
}

impl From<UpdateDraftArgs> for PatchDraftInput {
    fn from(a: UpdateDraftArgs) -> PatchDraftInput {
        PatchDraftInput {
            account_id: a.account_id,
            draft_id: a.draft_id,
            patch: a.patch,
        }
    }
}

/// gmail_reply_in_thread's arguments: the thread, and the message in it
/// replied to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReplyArgs {
    pub account_id: String,
    pub thread_id: String,
    pub reply_to_message_id: String,
    #[serde(default)]
    pub reply_all: bool,
    pub from: Option<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    pub bcc: Vec<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<String>,
    pub draft_id: Option<String>,
    #[serde(default)]
    pub confirm: bool,
    pub client_request_id: Option<String>,
}

impl ReplyArgs {
    /// The thread named, and the service's input.
    pub fn split(self) -> (String, ReplyInput) {
        let input = ReplyInput {
            account_id: self.account_id,
            reply_to_message_id: self.reply_to_message_id,
            reply_all: self.reply_all,
            from: self.from,
            cc: self.cc,
            bcc: self.bcc,
            body_text: self.body_text,
            body_html: self.body_html,
            attachments: self.attachments,
            draft_id: self.draft_id,
            confirm: self.confirm,
            client_request_id: self.client_request_id,
        };
        (self.thread_id, input)
    }
}

// ------------------------------------------------------------------ results

/// A result as JSON, with the service's names.
pub fn json<T: Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::internal("cannot serialise a Gmail result", e))
}

/// A search page, as the service answers it (`messages`, `nextPageToken`).
pub fn search(r: &Untrusted<SearchResult>) -> Result<Value, Error> {
    json(r)
}

/// One message, its fields at the top (`id`, `threadId`, `snippet`, ...)
/// beside `untrusted`, `note` and the cache's fields.
pub fn message<T: Serialize>(r: &T) -> Result<Value, Error> {
    let mut v = json(r)?;
    if let Some(map) = v.as_object_mut()
        && let Some(Value::Object(message)) = map.remove("message")
    {
        map.extend(message);
    }
    Ok(v)
}

/// A draft made or replaced, with what to do next.
pub fn draft(r: &DraftResult) -> Result<Value, Error> {
    let mut v = json(r)?;
    v["next"] = json!(
        "Nothing is sent. Send it with gmail_send_draft (a human or the send policy decides)."
    );
    Ok(v)
}

/// A staged draft: the outbox's staged result (the item in brief, its
/// preview, what happens next, the approval request when a human must
/// decide) plus the draft, its thread, and whether the caller confirmed.
pub fn staged(dashboard_url: &str, caller: &Caller, r: &SendResult) -> Outcome {
    let mut outcome = staged_outcome(dashboard_url, caller, &r.item, r.existing);
    outcome.structured["draftId"] = json!(r.draft_id);
    outcome.structured["threadId"] = json!(r.thread_id);
    outcome.structured["confirmed"] = json!(r.confirmed);
    outcome.text = outcome.structured.to_string();
    outcome
}

/// A staged reply: [`staged`] plus its In-Reply-To and References.
pub fn reply(dashboard_url: &str, caller: &Caller, r: &ReplyResult) -> Outcome {
    let mut outcome = staged(dashboard_url, caller, &r.sent);
    outcome.structured["inReplyTo"] = json!(r.in_reply_to);
    outcome.structured["references"] = json!(r.references);
    outcome.text = outcome.structured.to_string();
    outcome
}
