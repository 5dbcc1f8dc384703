//! A draft changed field by field (`gmail_update_draft`'s `patch`) and a
//! reply checked against the thread it is said to belong to
//! (`gmail_reply_in_thread`'s `threadId`).
//!
//! A patch reads the draft back from Gmail (never cached), keeps every field
//! the patch does not name (recipients, subject, bodies, attachments, the
//! thread and the reply headers) and writes the result over the draft.

use std::path::PathBuf;
use std::time::SystemTime;

use mail_parser::{HeaderValue, MessageParser};
use serde::Deserialize;

use super::compose::{self, DraftInput};
use super::service::GmailService;
use super::types::{DraftResult, ReplyInput, ReplyResult};
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error};
use crate::outbox::attachments::AttachFrom;

/// The fields of a draft to change; absent ones keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DraftPatch {
    pub from: Option<String>,
    #[serde(default, deserialize_with = "some_one_or_many")]
    pub to: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some_one_or_many")]
    pub cc: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some_one_or_many")]
    pub bcc: Option<Vec<String>>,
    pub subject: Option<String>,
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    /// Absolute paths; given, they replace the draft's attachments.
    pub attachments: Option<Vec<String>>,
}

fn some_one_or_many<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Vec<String>>, D::Error> {
    crate::de::one_or_many(de).map(Some)
}

/// A draft and the change to make to it.
#[derive(Debug, Clone, Default)]
pub struct PatchDraftInput {
    pub account_id: String,
    pub draft_id: String,
    pub patch: DraftPatch,
}

/// The Message-IDs of a References header, each in angle brackets.
fn references(raw: &[u8]) -> Vec<String> {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    match msg.references() {
        HeaderValue::Text(t) => vec![format!("<{t}>")],
        HeaderValue::TextList(l) => l.iter().map(|t| format!("<{t}>")).collect(),
        _ => Vec::new(),
    }
}

impl GmailService {
    /// Changes the fields `input.patch` names; the others keep their value.
    /// Nothing is sent.
    pub async fn patch_draft(
        &self,
        caller: &Caller,
        input: PatchDraftInput,
    ) -> Result<DraftResult, Error> {
        caller.require(Grant::Draft, "create and edit drafts")?;
        if input.draft_id.is_empty() {
            return Err(Error::invalid("draftId", "name the draft to update"));
        }
        let account = &input.account_id;
        let (raw, draft) = self.gmail.draft_raw(account, &input.draft_id).await?;
        let thread_id = draft["message"]["threadId"].as_str().map(str::to_owned);
        let store = self.outbox.attachments().clone();
        let (old, in_reply_to) = tokio::task::spawn_blocking(move || {
            let refs = references(&raw);
            compose::parse_raw(&raw, &store).map(|(c, irt)| (c, (irt, refs)))
        })
        .await
        .map_err(|e| Error::internal("draft read failed", e))??;
        let (in_reply_to, references) = in_reply_to;
        let p = input.patch;
        let (from, _) = self
            .sender(account, Some(p.from.as_deref().unwrap_or(&old.from)))
            .await?;
        // A new plain-text body alone replaces the old HTML too (it would
        // say something else); a new HTML body alone derives the text.
        let (text, html) = match (p.body_text, p.body_html) {
            (None, None) => (Some(old.text), old.html),
            (text, html) => (text, html),
        };
        let (kept, attachments) = match p.attachments {
            None => (old.attachments, Vec::new()),
            Some(paths) => (Vec::new(), paths.into_iter().map(PathBuf::from).collect()),
        };
        let built_input = DraftInput {
            from,
            to: p.to.unwrap_or(old.to),
            cc: p.cc.unwrap_or(old.cc),
            bcc: p.bcc.unwrap_or(old.bcc),
            subject: p.subject.unwrap_or(old.subject),
            text,
            html,
            attachments,
            in_reply_to,
            references,
        };
        let store = self.outbox.attachments().clone();
        let attach_from = AttachFrom::for_caller(caller);
        let built = tokio::task::spawn_blocking(move || {
            compose::build_keeping(built_input, kept, &store, attach_from, SystemTime::now())
        })
        .await
        .map_err(|e| Error::internal("draft task failed", e))?
        .map_err(|e| {
            e.renaming_field(&[
                ("bodyText", "patch.bodyText"),
                ("bodyHtml", "patch.bodyHtml"),
            ])
        })?;
        let r = self
            .gmail()
            .put_draft(
                account,
                Some(&input.draft_id),
                &built.raw,
                thread_id.as_deref(),
            )
            .await?;
        Ok(super::send::draft_result(&r, &built))
    }

    /// [`Self::reply`] after checking that the message replied to is in
    /// `thread_id`; the error names `replyToMessageId`.
    pub async fn reply_in_thread(
        &self,
        caller: &Caller,
        thread_id: &str,
        input: ReplyInput,
    ) -> Result<ReplyResult, Error> {
        caller.require(Grant::Draft, "create reply drafts")?;
        if thread_id.is_empty() {
            return Err(Error::invalid("threadId", "name the thread to reply in"));
        }
        let original = self
            .gmail()
            .reply_headers(&input.account_id, &input.reply_to_message_id)
            .await
            .map_err(|e| e.renaming_field(&[("messageId", "replyToMessageId")]))?;
        let actual = original["threadId"].as_str().unwrap_or_default();
        if actual != thread_id {
            return Err(Error::new(
                Code::InvalidArgument,
                format!(
                    "message {} is in thread {actual}, not in thread {thread_id}",
                    input.reply_to_message_id
                ),
            )
            .with_details(serde_json::json!({
                "field": "replyToMessageId",
                "threadId": actual,
            })));
        }
        self.reply(caller, input).await
    }
}
