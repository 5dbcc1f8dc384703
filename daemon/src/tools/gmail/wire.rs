//! Today's wire names of the Gmail tools, which `/api/v1/gmail` and
//! `/api/v1/email` share: the tools' arguments (snake_case), the result
//! keys that are not the service's (`next_page_token`,
//! `result_size_estimate`, `next`), and the fields errors name. The
//! service speaks the contract's names (`gmail::types`), so renaming the
//! tool contract is a change here.

use serde::Deserialize;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::Error;
use crate::gmail::Format;
use crate::gmail::types::{
    ArchiveInput, AttachmentInput, BodyChoice, BodyView, CreateDraftInput, DraftContent,
    DraftResult, GetMessageInput, GetMessagesInput, GetThreadInput, MarkInput, ModifyInput,
    ReplyInput, ReplyResult, SearchInput, SearchResult, SendDraftInput, SendResult, Untrusted,
    UpdateDraftInput,
};
use crate::tools::{Outcome, staged_outcome};

// ------------------------------------------------------------------ errors

/// The service's field names → the wire's, for every Gmail tool.
const FIELDS: [(&str, &str); 15] = [
    ("accountId", "account"),
    ("maxResults", "max_results"),
    ("pageToken", "page_token"),
    ("labelIds", "label_ids"),
    ("maxChars", "max_chars"),
    ("draftId", "draft_id"),
    ("bodyText", "text"),
    ("bodyHtml", "html"),
    ("clientRequestId", "client_request_id"),
    ("replyAll", "reply_all"),
    ("attachmentId", "attachment_id"),
    ("replyToMessageId", "message_id"),
    ("messageIds", "ids"),
    ("addLabelIds", "add"),
    ("removeLabelIds", "remove"),
];

/// A service error as `tool`'s caller knows its fields: a message or
/// thread id is `id` in the read tools and `message_id`/`thread_id` elsewhere.
pub fn error(tool: &str, e: Error) -> Error {
    let ids: [(&str, &str); 2] = match tool {
        "gmail_get_message" => [("messageId", "id"), ("threadId", "thread_id")],
        "gmail_get_thread" => [("threadId", "id"), ("messageId", "message_id")],
        _ => [("messageId", "message_id"), ("threadId", "thread_id")],
    };
    let names: Vec<(&str, &str)> = ids.iter().chain(FIELDS.iter()).copied().collect();
    e.renaming_field(&names)
}

// ------------------------------------------------------------------ arguments

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    pub account: String,
    #[serde(default)]
    pub query: String,
    pub max_results: Option<u32>,
    pub page_token: Option<String>,
    #[serde(default)]
    pub label_ids: Vec<String>,
}

impl From<SearchArgs> for SearchInput {
    fn from(a: SearchArgs) -> SearchInput {
        SearchInput {
            account_id: a.account,
            query: a.query,
            max_results: a.max_results,
            page_token: a.page_token,
            label_ids: a.label_ids,
        }
    }
}

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

/// A read's `format`, `body`, `offset` and `max_chars`, checked.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    pub account: String,
    pub id: String,
    pub format: Option<String>,
    pub body: Option<String>,
    pub offset: Option<usize>,
    pub max_chars: Option<usize>,
}

impl GetArgs {
    pub fn message(self) -> Result<GetMessageInput, Error> {
        let (format, view) = view(
            self.format.as_deref(),
            self.body.as_deref(),
            self.offset,
            self.max_chars,
        )?;
        Ok(GetMessageInput {
            account_id: self.account,
            message_id: self.id,
            format,
            view,
        })
    }

    pub fn thread(self) -> Result<GetThreadInput, Error> {
        let (format, view) = view(
            self.format.as_deref(),
            self.body.as_deref(),
            self.offset,
            self.max_chars,
        )?;
        Ok(GetThreadInput {
            account_id: self.account,
            thread_id: self.id,
            format,
            view,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchArgs {
    pub account: String,
    pub ids: Vec<String>,
    pub format: Option<String>,
    pub body: Option<String>,
    pub offset: Option<usize>,
    pub max_chars: Option<usize>,
}

impl TryFrom<BatchArgs> for GetMessagesInput {
    type Error = Error;

    fn try_from(a: BatchArgs) -> Result<GetMessagesInput, Error> {
        let (format, view) = view(
            a.format.as_deref(),
            a.body.as_deref(),
            a.offset,
            a.max_chars,
        )?;
        Ok(GetMessagesInput {
            account_id: a.account,
            message_ids: a.ids,
            format,
            view,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentArgs {
    pub account: String,
    pub message_id: String,
    pub attachment_id: String,
}

impl From<AttachmentArgs> for AttachmentInput {
    fn from(a: AttachmentArgs) -> AttachmentInput {
        AttachmentInput {
            account_id: a.account,
            message_id: a.message_id,
            attachment_id: a.attachment_id,
        }
    }
}

/// The arguments of gmail_create_draft and gmail_update_draft.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftArgs {
    pub account: String,
    pub draft_id: Option<String>,
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
    #[serde(default)]
    pub attachments: Vec<String>,
    pub thread_id: Option<String>,
}

impl DraftArgs {
    fn content(self) -> (String, Option<String>, DraftContent) {
        let content = DraftContent {
            from: self.from,
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            subject: self.subject,
            body_text: self.text,
            body_html: self.html,
            attachments: self.attachments,
            thread_id: self.thread_id,
        };
        (self.account, self.draft_id, content)
    }

    pub fn create(self) -> Result<CreateDraftInput, Error> {
        let (account_id, draft_id, content) = self.content();
        if draft_id.is_some() {
            return Err(Error::invalid(
                "draft_id",
                "gmail_create_draft makes a new draft; use gmail_update_draft",
            ));
        }
        Ok(CreateDraftInput {
            account_id,
            content,
        })
    }

    pub fn update(self) -> UpdateDraftInput {
        let (account_id, draft_id, content) = self.content();
        UpdateDraftInput {
            account_id,
            draft_id: draft_id.unwrap_or_default(),
            content,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendArgs {
    pub account: String,
    pub draft_id: String,
    #[serde(default)]
    pub confirm: bool,
    pub client_request_id: Option<String>,
}

impl From<SendArgs> for SendDraftInput {
    fn from(a: SendArgs) -> SendDraftInput {
        SendDraftInput {
            account_id: a.account,
            draft_id: a.draft_id,
            confirm: a.confirm,
            client_request_id: a.client_request_id,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyArgs {
    pub account: String,
    pub message_id: String,
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
    pub draft_id: Option<String>,
    #[serde(default)]
    pub confirm: bool,
    pub client_request_id: Option<String>,
}

impl From<ReplyArgs> for ReplyInput {
    fn from(a: ReplyArgs) -> ReplyInput {
        ReplyInput {
            account_id: a.account,
            reply_to_message_id: a.message_id,
            reply_all: a.reply_all,
            from: a.from,
            cc: a.cc,
            bcc: a.bcc,
            body_text: a.text,
            body_html: a.html,
            attachments: a.attachments,
            draft_id: a.draft_id,
            confirm: a.confirm,
            client_request_id: a.client_request_id,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyArgs {
    pub account: String,
    pub ids: Vec<String>,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

impl From<ModifyArgs> for ModifyInput {
    fn from(a: ModifyArgs) -> ModifyInput {
        ModifyInput {
            account_id: a.account,
            message_ids: a.ids,
            add_label_ids: a.add,
            remove_label_ids: a.remove,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkArgs {
    pub account: String,
    pub ids: Vec<String>,
    pub read: bool,
}

impl From<MarkArgs> for MarkInput {
    fn from(a: MarkArgs) -> MarkInput {
        MarkInput {
            account_id: a.account,
            message_ids: a.ids,
            read: a.read,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveArgs {
    pub account: String,
    pub ids: Vec<String>,
}

impl From<ArchiveArgs> for ArchiveInput {
    fn from(a: ArchiveArgs) -> ArchiveInput {
        ArchiveInput {
            account_id: a.account,
            message_ids: a.ids,
        }
    }
}

// ------------------------------------------------------------------ results

/// A result as JSON, with the service's names.
pub fn json<T: Serialize>(v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::internal("cannot serialise a Gmail result", e))
}

fn rename_key(v: &mut Value, from: &str, to: &str) {
    if let Some(map) = v.as_object_mut()
        && let Some(x) = map.remove(from)
    {
        map.insert(to.to_owned(), x);
    }
}

/// A search page: `next_page_token` and `result_size_estimate` on the wire.
pub fn search(r: &Untrusted<SearchResult>) -> Result<Value, Error> {
    let mut v = json(r)?;
    rename_key(&mut v, "nextPageToken", "next_page_token");
    rename_key(&mut v, "resultSizeEstimate", "result_size_estimate");
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
