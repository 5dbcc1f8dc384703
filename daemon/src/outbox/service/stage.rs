//! Staging: validation, the policy decision, caps and idempotent repeats.

use std::path::PathBuf;

use super::{Outbox, apply_decision, audit_entry, cap_reason, new_id};
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::outbox::attachments::AttachFrom;
use crate::outbox::db;
use crate::outbox::item::{self, Item};
use crate::outbox::model::{Channel, Content, Priority, State};
use crate::outbox::policy;
use crate::outbox::resolver::{Addressed, is_name};
use crate::outbox::validate::{self, EmailInput};

/// What to send, as a caller gives it (validated by [`Outbox::stage`]).
#[derive(Debug, Clone)]
pub enum StageContent {
    Email {
        to: Vec<String>,
        cc: Vec<String>,
        bcc: Vec<String>,
        subject: String,
        text: Option<String>,
        html: Option<String>,
        /// Absolute paths, copied into the data directory at staging time.
        attachments: Vec<PathBuf>,
    },
    Sms {
        to: String,
        body: String,
    },
    Chat {
        space: String,
        text: String,
        thread: Option<String>,
        /// Post a longer text as numbered parts.
        split: bool,
    },
}

#[derive(Debug, Clone)]
pub struct StageRequest {
    pub account: Option<String>,
    pub priority: Priority,
    /// Repeating a stage with the same id (from the same requester) returns
    /// the first item instead of a duplicate.
    pub client_request_id: Option<String>,
    pub content: StageContent,
}

/// The result of staging: the item, and whether it already existed.
#[derive(Debug, Clone)]
pub struct Staged {
    pub item: Item,
    pub existing: bool,
}

impl Outbox {
    /// Validates, decides by policy and stores a new item (or returns the
    /// existing one for a repeated client request id).
    pub async fn stage(&self, caller: &Caller, request: StageRequest) -> Result<Staged> {
        caller.require(Grant::Stage, "stage items in the outbox")?;
        if let Some(id) = &request.client_request_id
            && (id.is_empty() || id.len() > 200 || id.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "clientRequestId",
                "expected 1 to 200 printable characters",
            ));
        }
        let account = self.accounts.resolve(request.account.as_deref())?;
        let channel = match &request.content {
            StageContent::Email { .. } => Channel::Email,
            StageContent::Sms { .. } => Channel::Sms,
            StageContent::Chat { .. } => Channel::Chat,
        };
        if !account.channels.contains(&channel.as_str()) {
            return Err(Error::invalid(
                "account",
                format!(
                    "account {} ({}) cannot send {} messages; accounts that can: {}",
                    account.id,
                    account.kind.as_str(),
                    channel.as_str(),
                    self.accounts
                        .list()
                        .iter()
                        .filter(|a| a.channels.contains(&channel.as_str()))
                        .map(|a| a.id.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(e) = account.unusable() {
            return Err(e);
        }
        let (content, addressing) = self.address(&account, channel, request.content).await?;
        let content = self
            .validate(content, &account.email, AttachFrom::for_caller(caller))
            .await?;
        // The provider may adjust or refuse it (an SMS to a number that opted out).
        let content = match self.transport(&account, channel) {
            Some(transport) => transport.prepare(&account, content).await?,
            None => content,
        };
        let meta = (request.priority, request.client_request_id);
        self.stage_addressed(caller, &account.id, meta, content, None, addressing)
            .await
    }

    /// Replaces names and `contact:<id>` among the recipients by the
    /// addresses the registered resolver finds (none registered: unchanged,
    /// so validation names the field).
    async fn address(
        &self,
        account: &crate::accounts::Account,
        channel: Channel,
        content: StageContent,
    ) -> Result<(StageContent, Vec<Addressed>)> {
        let Some(resolver) = self.resolver.get() else {
            return Ok((content, Vec::new()));
        };
        let mut addressed = Vec::new();
        let content = match content {
            StageContent::Email {
                to,
                cc,
                bcc,
                subject,
                text,
                html,
                attachments,
            } => {
                let mut lists = [("to", to), ("cc", cc), ("bcc", bcc)];
                for (name, list) in &mut lists {
                    for (i, entry) in list.iter_mut().enumerate() {
                        if is_name(channel, entry) {
                            let a = resolver
                                .resolve(account, channel, &format!("{name}[{i}]"), entry)
                                .await?;
                            entry.clone_from(&a.address);
                            addressed.push(a);
                        }
                    }
                }
                let [(_, to), (_, cc), (_, bcc)] = lists;
                StageContent::Email {
                    to,
                    cc,
                    bcc,
                    subject,
                    text,
                    html,
                    attachments,
                }
            }
            StageContent::Sms { to, body } if is_name(channel, &to) => {
                let a = resolver.resolve(account, channel, "to", &to).await?;
                let to = a.address.clone();
                addressed.push(a);
                StageContent::Sms { to, body }
            }
            other => other,
        };
        Ok((content, addressed))
    }

    /// Stages content that a provider already validated (a Gmail draft read
    /// back from Gmail), on `account_id`, linked to the provider's object
    /// (`provider_ref`, e.g. `gmail-draft:<id>`): the item and its link commit
    /// together. A live item (draft, pending, approved) with the same link
    /// and content hash is returned instead of a duplicate.
    pub async fn stage_content(
        &self,
        caller: &Caller,
        account_id: &str,
        priority: Priority,
        client_request_id: Option<String>,
        content: Content,
        provider_ref: Option<String>,
    ) -> Result<Staged> {
        let meta = (priority, client_request_id);
        self.stage_addressed(caller, account_id, meta, content, provider_ref, Vec::new())
            .await
    }

    /// [`Outbox::stage_content`] with the recipients resolved from names.
    async fn stage_addressed(
        &self,
        caller: &Caller,
        account_id: &str,
        (priority, client_request_id): (Priority, Option<String>),
        content: Content,
        provider_ref: Option<String>,
        addressing: Vec<Addressed>,
    ) -> Result<Staged> {
        caller.require(Grant::Stage, "stage items in the outbox")?;
        let account = AccountRef {
            id: account_id.to_owned(),
        };
        let request = StageMeta {
            priority,
            client_request_id,
        };
        let recipients = content.recipients();
        policy::check_allowlist(&self.policy, content.channel(), &recipients)?;
        let verdict = policy::decide(&self.policy, content.channel(), &account.id, &recipients);

        let now = now_unix_ms();
        let hash = item::content_hash(&account.id, &content);
        let mut item = Item {
            id: new_id(),
            channel: content.channel(),
            account: account.id.clone(),
            state: State::PendingApproval,
            priority: request.priority,
            requester: caller.actor.clone(),
            client_request_id: request.client_request_id,
            summary: item::summary(&content),
            content,
            content_hash: hash,
            recipients,
            decision: verdict.decision,
            rule: verdict.rule,
            hold_reason: None,
            approval: None,
            rejection: None,
            dispatch_after_ms: None,
            dispatched_at_ms: None,
            delivery: None,
            error: None,
            created_at_ms: now,
            updated_at_ms: now,
            expires_at_ms: self.expiry(now),
            provider_ref,
            addressing,
        };
        let caps = self.caps(item.channel, &item.account);
        let hold = self.config.hold_window;
        let actor = caller.actor.clone();
        self.write(move |conn, changes| {
            if let Some(link) = &item.provider_ref
                && let Some(existing) = db::find_by_provider_ref(conn, link, &item.content_hash)?
            {
                return Ok(Staged { item: existing, existing: true });
            }
            if let Some(crid) = &item.client_request_id
                && let Some(existing) = db::find_by_request(conn, &item.requester, crid)?
            {
                if existing.content_hash != item.content_hash || existing.account != item.account {
                    return Err(Error::new(
                        Code::Conflict,
                        format!(
                            "client_request_id {crid:?} was already used for item {} with different content",
                            existing.id
                        ),
                    )
                    .with_details(serde_json::json!({ "field": "clientRequestId", "item_id": existing.id })));
                }
                return Ok(Staged { item: existing, existing: true });
            }
            let cap_reason = cap_reason(conn, &caps, &item, now)?;
            apply_decision(&mut item, now, hold, cap_reason);
            db::insert(conn, &item)?;
            let mut note = format!("{} by {}", item.decision.as_str(), item.rule);
            for a in &item.addressing {
                note.push_str(&format!("; {}: {}", a.field, a.description));
            }
            changes.record(conn, None, &item, audit_entry(&actor, "staged", &item, Some(note)))?;
            if item.state == State::Approved {
                changes.record(conn, Some(State::Approved), &item, audit_entry("policy", "approved", &item, Some(item.rule.clone())))?;
            }
            Ok(Staged { item, existing: false })
        })
        .await
    }
    async fn validate(
        &self,
        content: StageContent,
        from: &str,
        attach_from: AttachFrom,
    ) -> Result<Content> {
        let limits = self.limits.clone();
        match content {
            StageContent::Email {
                to,
                cc,
                bcc,
                subject,
                text,
                html,
                attachments,
            } => {
                let store = self.attachments.clone();
                let from = from.to_owned();
                tokio::task::spawn_blocking(move || {
                    if attachments.len() > limits.max_attachments {
                        return Err(Error::invalid(
                            "attachments",
                            format!("at most {} attachments are allowed", limits.max_attachments),
                        ));
                    }
                    // Check the cheap fields first so a bad address never copies files.
                    validate::mailboxes("to", &to)?;
                    validate::mailboxes("cc", &cc)?;
                    validate::mailboxes("bcc", &bcc)?;
                    validate::subject("subject", &subject, &limits)?;
                    let stored = attachments
                        .iter()
                        .enumerate()
                        .map(|(i, path)| {
                            store.import(&format!("attachments[{i}]"), path, attach_from, &limits)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let input = EmailInput {
                        from,
                        to,
                        cc,
                        bcc,
                        subject,
                        text,
                        html,
                    };
                    validate::email(input, stored, &limits).map(Content::Email)
                })
                .await
                .map_err(|e| Error::internal("validation task failed", e))?
            }
            StageContent::Sms { to, body } => validate::sms(&to, &body, &limits).map(Content::Sms),
            StageContent::Chat {
                space,
                text,
                thread,
                split,
            } => {
                validate::chat(&space, &text, thread.as_deref(), split, &limits).map(Content::Chat)
            }
        }
    }
}

/// The account an item is staged on (resolved by the caller).
struct AccountRef {
    id: String,
}

/// What a stage request says besides its content.
struct StageMeta {
    priority: Priority,
    client_request_id: Option<String>,
}
