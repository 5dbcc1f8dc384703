//! The Gmail service: what the MCP tools, `/api/v1/gmail` (and
//! `/api/v1/email` for Google accounts) and `commsctl gmail` (through the
//! tools) call. Grants are checked here: `read` for reads, `draft` for
//! drafts and labels, `stage` for the send gate. Reads are rendered for
//! agents and marked untrusted. Drafts, the sender check and the send gate
//! are in `send.rs`.

use std::sync::Arc;

use super::render::{self, BodyChoice};
use super::types::{
    ArchiveInput, AttachmentInput, AttachmentResult, BatchResult, BodyView, Fetched,
    GetMessageInput, GetMessagesInput, GetThreadInput, Listed, MarkInput, Message, MessageResult,
    Modified, ModifyInput, SearchInput, SearchResult, ThreadResult, Untrusted,
};
use super::{Format, Gmail};
use crate::auth::{Caller, Grant};
use crate::error::Error;
use crate::outbox::service::Outbox;

pub struct GmailService {
    pub(super) gmail: Arc<Gmail>,
    pub(super) outbox: Arc<Outbox>,
    dashboard_url: String,
}

/// A body view checked: what to render, from where, how much.
#[derive(Debug, Clone, Copy)]
struct View {
    format: Format,
    body: BodyChoice,
    offset: usize,
    limit: usize,
}

impl View {
    fn render(&self, msg: &serde_json::Value) -> Message {
        match self.format {
            Format::Metadata => Message::Summary(render::summary(msg)),
            Format::Full => Message::Full(Box::new(render::full(
                msg,
                self.body,
                self.offset,
                self.limit,
            ))),
        }
    }
}

impl GmailService {
    /// `dashboard_url` is where the items it stages are reviewed.
    pub fn new(gmail: Arc<Gmail>, outbox: Arc<Outbox>, dashboard_url: String) -> GmailService {
        GmailService {
            gmail,
            outbox,
            dashboard_url,
        }
    }

    /// The mailboxes behind the service (counters for status and the dashboard).
    pub fn gmail(&self) -> &Gmail {
        &self.gmail
    }

    pub fn dashboard_url(&self) -> &str {
        &self.dashboard_url
    }

    fn view(&self, format: Option<Format>, default: Format, v: BodyView) -> Result<View, Error> {
        let limit = v.max_chars.unwrap_or(self.gmail.config().body_limit_chars);
        if !(100..=200_000).contains(&limit) {
            return Err(Error::invalid("maxChars", "expected 100 to 200000"));
        }
        Ok(View {
            format: format.unwrap_or(default),
            body: v.body,
            offset: v.offset,
            limit,
        })
    }

    /// Search with Gmail's syntax; every hit in brief (From, To, Subject,
    /// Date, snippet), fetched in one batch.
    pub async fn search(
        &self,
        caller: &Caller,
        input: SearchInput,
    ) -> Result<Untrusted<SearchResult>, Error> {
        caller.require(Grant::Read, "read mail")?;
        let max = input.max_results.unwrap_or(20);
        if !(1..=100).contains(&max) {
            return Err(Error::invalid("maxResults", "expected 1 to 100"));
        }
        let account = &input.account_id;
        let list = self
            .gmail
            .list(
                account,
                &input.query,
                max,
                input.page_token.as_deref(),
                &input.label_ids,
            )
            .await?;
        let ids: Vec<String> = list.value["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        let mut all_cached = list.cache_hit;
        let mut messages = Vec::new();
        if !ids.is_empty() {
            let got = self
                .gmail
                .get_messages(account, &ids, Format::Metadata)
                .await?;
            for (id, r) in ids.iter().zip(got) {
                match r {
                    Ok(r) => {
                        all_cached &= r.cache_hit;
                        messages.push(Listed::Message(render::summary(&r.value)));
                    }
                    Err(error) => messages.push(Listed::Failed {
                        id: id.clone(),
                        error,
                    }),
                }
            }
        }
        let result = SearchResult {
            messages,
            next_page_token: list.value["nextPageToken"].as_str().map(str::to_owned),
            result_size_estimate: list.value["resultSizeEstimate"].as_u64(),
        };
        Ok(Untrusted::new(result, all_cached, list.ttl_remaining_ms))
    }

    /// One message: headers, the body as text (clipped), attachments.
    pub async fn get_message(
        &self,
        caller: &Caller,
        input: GetMessageInput,
    ) -> Result<Untrusted<MessageResult>, Error> {
        caller.require(Grant::Read, "read mail")?;
        let view = self.view(input.format, Format::Full, input.view)?;
        let r = self
            .gmail
            .get_message(&input.account_id, &input.message_id, view.format)
            .await?;
        let message = view.render(&r.value);
        Ok(Untrusted::new(
            MessageResult { message },
            r.cache_hit,
            r.ttl_remaining_ms,
        ))
    }

    /// Up to 100 messages, each its own success or failure.
    pub async fn get_messages(
        &self,
        caller: &Caller,
        input: GetMessagesInput,
    ) -> Result<Untrusted<BatchResult>, Error> {
        caller.require(Grant::Read, "read mail")?;
        if input.message_ids.is_empty() || input.message_ids.len() > 100 {
            return Err(Error::invalid(
                "messageIds",
                "expected 1 to 100 message ids",
            ));
        }
        let view = self.view(input.format, Format::Metadata, input.view)?;
        let got = self
            .gmail
            .get_messages(&input.account_id, &input.message_ids, view.format)
            .await?;
        let mut all_cached = true;
        let mut min_ttl = u64::MAX;
        let mut results = Vec::new();
        for (id, r) in input.message_ids.iter().zip(got) {
            let id = id.clone();
            match r {
                Ok(r) => {
                    all_cached &= r.cache_hit;
                    min_ttl = min_ttl.min(r.ttl_remaining_ms);
                    results.push(Fetched::Message {
                        id,
                        message: Box::new(view.render(&r.value)),
                    });
                }
                Err(error) => {
                    all_cached = false;
                    results.push(Fetched::Failed { id, error });
                }
            }
        }
        let ttl = if min_ttl == u64::MAX { 0 } else { min_ttl };
        Ok(Untrusted::new(BatchResult { results }, all_cached, ttl))
    }

    /// A thread's messages in order, bodies as in [`Self::get_message`].
    pub async fn get_thread(
        &self,
        caller: &Caller,
        input: GetThreadInput,
    ) -> Result<Untrusted<ThreadResult>, Error> {
        caller.require(Grant::Read, "read mail")?;
        let view = self.view(input.format, Format::Full, input.view)?;
        let r = self
            .gmail
            .get_thread(&input.account_id, &input.thread_id, view.format)
            .await?;
        let messages = r.value["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| view.render(m))
            .collect();
        let result = ThreadResult {
            thread_id: r.value["id"].as_str().map(str::to_owned),
            messages,
        };
        Ok(Untrusted::new(result, r.cache_hit, r.ttl_remaining_ms))
    }

    /// Saves an attachment under the data directory (0600); its path, size
    /// and type, never its bytes.
    pub async fn save_attachment(
        &self,
        caller: &Caller,
        input: AttachmentInput,
    ) -> Result<Untrusted<AttachmentResult>, Error> {
        caller.require(Grant::Read, "read mail")?;
        let attachment = self
            .gmail
            .save_attachment(&input.account_id, &input.message_id, &input.attachment_id)
            .await?;
        Ok(Untrusted::new(AttachmentResult { attachment }, false, 0))
    }

    /// Adds and removes label ids (an account at tier 3).
    pub async fn modify_labels(
        &self,
        caller: &Caller,
        input: ModifyInput,
    ) -> Result<Modified, Error> {
        self.modify(
            caller,
            &input.account_id,
            &input.message_ids,
            input.add_label_ids,
            input.remove_label_ids,
        )
        .await
    }

    /// Marks messages read (the UNREAD label removed) or unread.
    pub async fn mark(&self, caller: &Caller, input: MarkInput) -> Result<Modified, Error> {
        let unread = vec!["UNREAD".to_owned()];
        let (add, remove) = if input.read {
            (Vec::new(), unread)
        } else {
            (unread, Vec::new())
        };
        self.modify(caller, &input.account_id, &input.message_ids, add, remove)
            .await
    }

    /// Takes messages out of the inbox (the INBOX label removed).
    pub async fn archive(&self, caller: &Caller, input: ArchiveInput) -> Result<Modified, Error> {
        let remove = vec!["INBOX".to_owned()];
        self.modify(
            caller,
            &input.account_id,
            &input.message_ids,
            Vec::new(),
            remove,
        )
        .await
    }

    async fn modify(
        &self,
        caller: &Caller,
        account: &str,
        ids: &[String],
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<Modified, Error> {
        caller.require(Grant::Draft, "change labels")?;
        self.gmail.modify(account, ids, &add, &remove).await?;
        Ok(Modified {
            modified: ids.len(),
            added: add,
            removed: remove,
        })
    }
}
