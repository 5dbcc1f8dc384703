//! The Gmail service's inputs and outputs. Fields are named as the tool
//! contract will name them (`accountId`, `messageId`, `maxResults`,
//! `pageToken`, `bodyText`, `bodyHtml`, `draftId`, `threadId`,
//! `replyToMessageId`), and so are the fields errors name; the MCP tools
//! and the HTTP routes keep today's wire names in their adapter
//! (`tools/gmail/wire.rs`), so renaming the contract is a change there.

use serde::{Deserialize, Serialize};

use super::Format;
pub use super::render::{AttachmentInfo, BodyChoice, Clip, FullMessage, Message, Summary};
use crate::error::Error;
use crate::outbox::item::Item;

// ------------------------------------------------------------------ inputs

/// `messages.list` with Gmail's query syntax, each hit in brief.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchInput {
    /// The Google account's id or address.
    pub account_id: String,
    #[serde(default)]
    pub query: String,
    /// 1 to 100; 20 by default.
    pub max_results: Option<u32>,
    /// The `nextPageToken` of the previous page.
    pub page_token: Option<String>,
    /// Label ids every hit carries.
    #[serde(default)]
    pub label_ids: Vec<String>,
}

/// How a message's body is returned.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyView {
    #[serde(default)]
    pub body: BodyChoice,
    /// The character the body starts at (a clipped body's `nextOffset`).
    #[serde(default)]
    pub offset: usize,
    /// 100 to 200,000 characters; `[gmail] body_limit_chars` by default.
    pub max_chars: Option<usize>,
}

/// One message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetMessageInput {
    pub account_id: String,
    pub message_id: String,
    /// Full by default.
    pub format: Option<Format>,
    #[serde(flatten)]
    pub view: BodyView,
}

/// Up to 100 messages, each succeeding or failing alone.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetMessagesInput {
    pub account_id: String,
    pub message_ids: Vec<String>,
    /// Metadata by default.
    pub format: Option<Format>,
    #[serde(flatten)]
    pub view: BodyView,
}

/// A thread's messages in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetThreadInput {
    pub account_id: String,
    pub thread_id: String,
    /// Full by default.
    pub format: Option<Format>,
    #[serde(flatten)]
    pub view: BodyView,
}

/// An attachment to save under the data directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentInput {
    pub account_id: String,
    pub message_id: String,
    /// Gmail's attachmentId, or the part id the message lists.
    pub attachment_id: String,
}

/// A draft's content.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DraftContent {
    /// The account's address (default) or a verified send-as alias.
    pub from: Option<String>,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub subject: String,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    /// Absolute paths (callers without `admin`: under `[outbox] attachment_dirs`).
    #[serde(default)]
    pub attachments: Vec<String>,
    /// The Gmail thread the draft joins.
    pub thread_id: Option<String>,
}

/// A new draft.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDraftInput {
    pub account_id: String,
    #[serde(flatten)]
    pub content: DraftContent,
}

/// A draft's content replaced as a whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDraftInput {
    pub account_id: String,
    pub draft_id: String,
    #[serde(flatten)]
    pub content: DraftContent,
}

/// The send gate for a draft.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendDraftInput {
    pub account_id: String,
    pub draft_id: String,
    /// The caller checked the preview: let the send policy decide now.
    #[serde(default)]
    pub confirm: bool,
    /// Repeating it returns the first item instead of a duplicate.
    pub client_request_id: Option<String>,
}

/// A reply in the message's thread, then the send gate.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyInput {
    pub account_id: String,
    pub reply_to_message_id: String,
    /// Also to the original's To and Cc (never to the account itself).
    #[serde(default)]
    pub reply_all: bool,
    pub from: Option<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Reuse this draft instead of making a new one.
    pub draft_id: Option<String>,
    #[serde(default)]
    pub confirm: bool,
    pub client_request_id: Option<String>,
}

/// Label ids added to and removed from 1 to 1000 messages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModifyInput {
    pub account_id: String,
    pub message_ids: Vec<String>,
    #[serde(default)]
    pub add_label_ids: Vec<String>,
    #[serde(default)]
    pub remove_label_ids: Vec<String>,
}

/// Messages marked read or unread.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkInput {
    pub account_id: String,
    pub message_ids: Vec<String>,
    pub read: bool,
}

/// Messages taken out of the inbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchiveInput {
    pub account_id: String,
    pub message_ids: Vec<String>,
}

// ------------------------------------------------------------------ outputs

/// A result holding mail content: marked untrusted, with where it came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Untrusted<T> {
    #[serde(flatten)]
    pub data: T,
    /// Always true.
    pub untrusted: bool,
    /// [`super::render::UNTRUSTED_NOTE`].
    pub note: &'static str,
    /// True when no upstream call was made.
    pub cache_hit: bool,
    pub ttl_remaining_ms: u64,
}

impl<T> Untrusted<T> {
    pub fn new(data: T, cache_hit: bool, ttl_remaining_ms: u64) -> Untrusted<T> {
        Untrusted {
            data,
            untrusted: true,
            note: super::render::UNTRUSTED_NOTE,
            cache_hit,
            ttl_remaining_ms,
        }
    }
}

/// A page of search hits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub messages: Vec<Listed>,
    pub next_page_token: Option<String>,
    pub result_size_estimate: Option<u64>,
}

/// A search hit: the message in brief, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Listed {
    Message(Summary),
    Failed { id: String, error: Error },
}

/// One message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageResult {
    pub message: Message,
}

/// Several messages, in the order asked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub results: Vec<Fetched>,
}

/// One message of a batch: read, or failed alone.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Fetched {
    Message { id: String, message: Box<Message> },
    Failed { id: String, error: Error },
}

/// A thread's messages in order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadResult {
    pub thread_id: Option<String>,
    pub messages: Vec<Message>,
}

/// An attachment saved 0600 under the data directory; never its bytes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedAttachment {
    pub path: String,
    pub filename: String,
    pub size: usize,
    pub mime_type: String,
    pub message_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentResult {
    pub attachment: SavedAttachment,
}

/// A draft made or replaced: nothing is sent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftResult {
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

/// A draft staged in the outbox: the item (its state says what happens next).
#[derive(Debug, Clone)]
pub struct SendResult {
    pub item: Item,
    /// True when the client request id named an item staged before.
    pub existing: bool,
    pub draft_id: String,
    pub thread_id: Option<String>,
    /// Whether the caller confirmed (the policy decided).
    pub confirmed: bool,
}

/// A reply drafted and staged.
#[derive(Debug, Clone)]
pub struct ReplyResult {
    pub sent: SendResult,
    pub in_reply_to: String,
    pub references: Vec<String>,
}

/// Labels changed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Modified {
    pub modified: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}
