//! Drafts and the send gate (design.md §5): drafts are made in Gmail from
//! validated content, From the account's address or a send-as alias Gmail
//! lists as verified. Sending is draft-first: the draft's content, read back
//! from Gmail, is staged as an outbox item linked to the draft
//! (`gmail-draft:<id>`); `confirm` lets the policy decide (a `confirm` rule
//! sends, `approve` waits for a human), and `GmailTransport` sends the draft
//! only while it still matches the approved content hash.

use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::compose::{self, BuiltDraft, DraftInput};
use super::service::GmailService;
use super::transport::draft_link;
use super::types::{
    CreateDraftInput, DraftContent, DraftResult, ReplyInput, ReplyResult, SendDraftInput,
    SendResult, UpdateDraftInput,
};
use crate::auth::{Caller, Grant};
use crate::error::Error;
use crate::outbox::attachments::AttachFrom;
use crate::outbox::model::{Content, Priority, State, bare_address};

impl GmailService {
    /// A new draft in Gmail; nothing is sent.
    pub async fn create_draft(
        &self,
        caller: &Caller,
        input: CreateDraftInput,
    ) -> Result<DraftResult, Error> {
        self.put_draft(caller, &input.account_id, None, input.content)
            .await
    }

    /// Replaces a draft's content; nothing is sent.
    pub async fn update_draft(
        &self,
        caller: &Caller,
        input: UpdateDraftInput,
    ) -> Result<DraftResult, Error> {
        if input.draft_id.is_empty() {
            return Err(Error::invalid("draftId", "name the draft to update"));
        }
        self.put_draft(
            caller,
            &input.account_id,
            Some(&input.draft_id),
            input.content,
        )
        .await
    }

    async fn put_draft(
        &self,
        caller: &Caller,
        account: &str,
        draft_id: Option<&str>,
        c: DraftContent,
    ) -> Result<DraftResult, Error> {
        caller.require(Grant::Draft, "create and edit drafts")?;
        let (from, _) = self.sender(account, c.from.as_deref()).await?;
        let built = self
            .build_draft(
                caller,
                DraftInput {
                    from,
                    to: c.to,
                    cc: c.cc,
                    bcc: c.bcc,
                    subject: c.subject,
                    text: c.body_text,
                    html: c.body_html,
                    attachments: c.attachments.into_iter().map(PathBuf::from).collect(),
                    in_reply_to: None,
                    references: Vec::new(),
                },
            )
            .await?;
        let r = self
            .gmail
            .put_draft(account, draft_id, &built.raw, c.thread_id.as_deref())
            .await?;
        Ok(draft_result(&r, &built))
    }

    /// The send gate for a draft: stages its content (read back from Gmail)
    /// as an outbox item linked to it; with `confirm`, the policy decides.
    pub async fn send_draft(
        &self,
        caller: &Caller,
        input: SendDraftInput,
    ) -> Result<SendResult, Error> {
        self.gate(
            caller,
            &input.account_id,
            &input.draft_id,
            input.confirm,
            input.client_request_id,
        )
        .await
    }

    /// A reply in the message's thread (In-Reply-To, References and "Re:"
    /// set), drafted, then gated like [`Self::send_draft`].
    pub async fn reply(&self, caller: &Caller, input: ReplyInput) -> Result<ReplyResult, Error> {
        caller.require(Grant::Draft, "create reply drafts")?;
        let account = &input.account_id;
        let original = self
            .gmail
            .reply_headers(account, &input.reply_to_message_id)
            .await
            .map_err(|e| e.renaming_field(&[("messageId", "replyToMessageId")]))?;
        let (from, mut own) = self.sender(account, input.from.as_deref()).await?;
        own.push(from.clone());
        let h = compose::reply_headers(&original, &own, input.reply_all)?;
        let mut cc = h.cc.clone();
        cc.extend(input.cc);
        let built = self
            .build_draft(
                caller,
                DraftInput {
                    from,
                    to: h.to.clone(),
                    cc,
                    bcc: input.bcc,
                    subject: h.subject.clone(),
                    text: input.body_text,
                    html: input.body_html,
                    attachments: input.attachments.into_iter().map(PathBuf::from).collect(),
                    in_reply_to: Some(h.in_reply_to.clone()),
                    references: h.references.clone(),
                },
            )
            .await?;
        let draft = self
            .gmail
            .put_draft(
                account,
                input.draft_id.as_deref(),
                &built.raw,
                Some(&h.thread_id),
            )
            .await?;
        let draft_id = draft["id"].as_str().unwrap_or_default().to_owned();
        let sent = self
            .gate(
                caller,
                account,
                &draft_id,
                input.confirm,
                input.client_request_id,
            )
            .await?;
        Ok(ReplyResult {
            sent,
            in_reply_to: h.in_reply_to,
            references: h.references,
        })
    }

    async fn gate(
        &self,
        caller: &Caller,
        account: &str,
        draft_id: &str,
        confirm: bool,
        client_request_id: Option<String>,
    ) -> Result<SendResult, Error> {
        caller.require(Grant::Stage, "stage mail for sending")?;
        let (raw, draft) = self.gmail.draft_raw(account, draft_id).await?;
        let store = self.outbox.attachments().clone();
        let (content, _) = tokio::task::spawn_blocking(move || compose::parse_raw(&raw, &store))
            .await
            .map_err(|e| Error::internal("draft check failed", e))??;
        let staged = self
            .outbox
            .stage_content(
                caller,
                account,
                Priority::Normal,
                client_request_id,
                Content::Email(content),
                Some(draft_link(draft_id)),
            )
            .await?;
        let mut item = staged.item;
        if confirm && item.state == State::Draft {
            item = self.outbox.confirm(caller, &item.id).await?;
        }
        Ok(SendResult {
            item,
            existing: staged.existing,
            draft_id: draft_id.to_owned(),
            thread_id: draft["message"]["threadId"].as_str().map(str::to_owned),
            confirmed: confirm,
        })
    }

    /// The From of a draft: the account's primary address, or a send-as alias
    /// Gmail lists as verified. An unverified or unknown alias is refused.
    /// Also every address the account sends as (a reply is never to itself).
    pub(super) async fn sender(
        &self,
        account: &str,
        from: Option<&str>,
    ) -> Result<(String, Vec<String>), Error> {
        let send_as = self.gmail.send_as(account).await?;
        let usable: Vec<&Value> = send_as
            .iter()
            .filter(|s| s["isPrimary"] == true || s["verificationStatus"] == "accepted")
            .collect();
        let own: Vec<String> = send_as
            .iter()
            .filter_map(|s| s["sendAsEmail"].as_str().map(str::to_owned))
            .collect();
        let mailbox = |s: &Value| {
            let email = s["sendAsEmail"].as_str().unwrap_or_default();
            match s["displayName"].as_str().filter(|n| !n.is_empty()) {
                Some(n) => format!("\"{}\" <{email}>", n.replace('"', "")),
                None => email.to_owned(),
            }
        };
        let Some(f) = from.filter(|f| !f.trim().is_empty()) else {
            if let Some(p) = usable.iter().find(|s| s["isPrimary"] == true) {
                return Ok((mailbox(p), own));
            }
            let profile = self.gmail.profile(account).await?;
            let email = profile.value["emailAddress"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return Ok((email, own));
        };
        let bare = bare_address(f);
        match usable.iter().find(|s| {
            s["sendAsEmail"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(bare))
        }) {
            Some(_) if f.contains('<') => Ok((f.trim().to_owned(), own)),
            Some(s) => Ok((mailbox(s), own)),
            None => {
                let verified: Vec<&str> = usable
                    .iter()
                    .filter_map(|s| s["sendAsEmail"].as_str())
                    .collect();
                Err(Error::invalid(
                    "from",
                    format!(
                        "{bare} is not a verified send-as address of this account; verified: {}",
                        verified.join(", ")
                    ),
                )
                .with_details(json!({ "field": "from", "verified": verified })))
            }
        }
    }

    /// Validates and builds a draft; callers without `admin` attach only
    /// from `[outbox] attachment_dirs`.
    pub(super) async fn build_draft(
        &self,
        caller: &Caller,
        input: DraftInput,
    ) -> Result<BuiltDraft, Error> {
        let store = self.outbox.attachments().clone();
        let from = AttachFrom::for_caller(caller);
        tokio::task::spawn_blocking(move || compose::build(input, &store, from, SystemTime::now()))
            .await
            .map_err(|e| Error::internal("draft task failed", e))?
    }
}

pub(super) fn draft_result(r: &Value, built: &BuiltDraft) -> DraftResult {
    let c = &built.content;
    let mut preview = format!("From:    {}\nTo:      {}\n", c.from, c.to.join(", "));
    if !c.cc.is_empty() {
        preview.push_str(&format!("Cc:      {}\n", c.cc.join(", ")));
    }
    if !c.bcc.is_empty() {
        preview.push_str(&format!("Bcc:     {}\n", c.bcc.join(", ")));
    }
    preview.push_str(&format!("Subject: {}\n", c.subject));
    for a in &c.attachments {
        preview.push_str(&format!(
            "Attach:  {} ({}, {} bytes)\n",
            a.filename, a.mime_type, a.size
        ));
    }
    preview.push('\n');
    preview.push_str(&c.text);
    let s = |v: &Value| v.as_str().map(str::to_owned);
    DraftResult {
        draft_id: s(&r["id"]),
        message_id: s(&r["message"]["id"]),
        thread_id: s(&r["message"]["threadId"]),
        from: c.from.clone(),
        rfc822_message_id: built.message_id.clone(),
        preview,
    }
}
