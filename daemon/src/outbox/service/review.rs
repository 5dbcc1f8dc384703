//! What people and agents decide about a staged item: edit, approve (also a
//! human's approval relayed by an MCP client), reject, cancel, confirm.

use super::{
    MAX_PAGE, Outbox, apply_decision, approve_now, audit_entry, cap_reason, changed_meanwhile,
    state_error,
};
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::outbox::db::{self, ListFilter};
use crate::outbox::item::{self, Item, Rejection};
use crate::outbox::model::{Content, Decision, Priority, State};
use crate::outbox::policy;
use crate::outbox::validate::{self, EmailInput};

/// Changes to a pending item. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EditRequest {
    pub to: Option<Vec<String>>,
    pub cc: Option<Vec<String>>,
    pub bcc: Option<Vec<String>>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// `Some("")` removes the HTML part.
    pub html: Option<String>,
    /// SMS body or chat text.
    pub body: Option<String>,
    pub priority: Option<Priority>,
}
/// Which items an approve or reject applies to.
#[derive(Debug, Clone)]
pub enum Target {
    Ids(Vec<String>),
    /// Every item matching the filter (default: all pending approval).
    Matching(ListFilter),
}

/// The outcome for one item of a batch operation.
#[derive(Debug, Clone)]
pub struct BatchResult {
    pub id: String,
    pub result: Result<Item>,
}

impl Outbox {
    /// Edits a pending or approved item. A change of content drops any
    /// approval and sends the item through the policy again.
    pub async fn edit(&self, caller: &Caller, id: &str, edit: EditRequest) -> Result<Item> {
        let item = self.get(caller, id).await?;
        self.require_owner_or_admin(caller, &item, "edit items staged by others")?;
        if !matches!(
            item.state,
            State::Draft | State::PendingApproval | State::Approved
        ) {
            return Err(state_error(&item, "edited"));
        }
        let content = self.apply_edit(&item, &edit).await?;
        let recipients = content.recipients();
        policy::check_allowlist(&self.policy, content.channel(), &recipients)?;
        let hash = item::content_hash(&item.account, &content);
        let content_changed = hash != item.content_hash;
        let verdict = policy::decide(&self.policy, content.channel(), &item.account, &recipients);
        let caps = self.caps(item.channel, &item.account);
        let hold = self.config.hold_window;
        let actor = caller.actor.clone();
        let expected = item.state;
        let now = now_unix_ms();
        let expiry = self.expiry(now);
        self.write(move |conn, changes| {
            let mut updated = item.clone();
            if let Some(p) = edit.priority {
                updated.priority = p;
            }
            if content_changed {
                updated.summary = item::summary(&content);
                updated.content = content;
                updated.content_hash = hash;
                updated.recipients = recipients;
                updated.decision = verdict.decision;
                updated.rule = verdict.rule;
                updated.approval = None;
                updated.dispatch_after_ms = None;
                updated.hold_reason = None;
                updated.expires_at_ms = expiry;
                let cap_reason = cap_reason(conn, &caps, &updated, now)?;
                apply_decision(&mut updated, now, hold, cap_reason);
            }
            updated.updated_at_ms = now;
            if !db::update_if(conn, &updated, expected)? {
                return Err(changed_meanwhile(&updated.id));
            }
            let note = if content_changed && item.approval.is_some() {
                Some("content changed; the earlier approval no longer applies".to_owned())
            } else {
                None
            };
            changes.record(
                conn,
                Some(expected),
                &updated,
                audit_entry(&actor, "edited", &updated, note),
            )?;
            if content_changed && updated.state == State::Approved {
                changes.record(
                    conn,
                    Some(State::Approved),
                    &updated,
                    audit_entry("policy", "approved", &updated, Some(updated.rule.clone())),
                )?;
            }
            Ok(updated)
        })
        .await
    }

    async fn apply_edit(&self, item: &Item, edit: &EditRequest) -> Result<Content> {
        let limits = self.limits.clone();
        match &item.content {
            Content::Email(e) => {
                if edit.body.is_some() {
                    return Err(Error::invalid(
                        "body",
                        "email has `bodyText` and `bodyHtml`, not `body`",
                    ));
                }
                let html = match &edit.html {
                    Some(h) if h.is_empty() => None,
                    Some(h) => Some(h.clone()),
                    None => e.html.clone(),
                };
                // When only the HTML changes, derive the text again from it.
                let text = match (&edit.text, &edit.html) {
                    (Some(t), _) => Some(t.clone()),
                    (None, Some(_)) if html.is_some() => None,
                    (None, _) => Some(e.text.clone()),
                };
                let input = EmailInput {
                    from: e.from.clone(),
                    to: edit.to.clone().unwrap_or_else(|| e.to.clone()),
                    cc: edit.cc.clone().unwrap_or_else(|| e.cc.clone()),
                    bcc: edit.bcc.clone().unwrap_or_else(|| e.bcc.clone()),
                    subject: edit.subject.clone().unwrap_or_else(|| e.subject.clone()),
                    text,
                    html,
                };
                validate::email(input, e.attachments.clone(), &limits).map(Content::Email)
            }
            Content::Sms(s) => {
                reject_fields(edit, true)?;
                let to = edit
                    .to
                    .as_ref()
                    .and_then(|t| t.first())
                    .cloned()
                    .unwrap_or_else(|| s.to.clone());
                let body = edit.body.clone().unwrap_or_else(|| s.body.clone());
                validate::sms(&to, &body, &limits).map(Content::Sms)
            }
            Content::Chat(c) => {
                reject_fields(edit, false)?;
                let text = edit.body.clone().unwrap_or_else(|| c.text.clone());
                validate::chat(&c.space, &text, c.thread.as_deref(), c.split, &limits).map(
                    |checked| {
                        Content::Chat(crate::outbox::model::ChatContent {
                            space_name: c.space_name.clone(),
                            ..checked
                        })
                    },
                )
            }
        }
    }

    /// Approves items: only humans (the `admin` grant) may. Items in `unknown`
    /// may be approved too: that is a human deciding to send again.
    pub async fn approve(&self, caller: &Caller, target: Target) -> Result<Vec<BatchResult>> {
        caller.require(Grant::Admin, "approve items")?;
        let ids = self.resolve_target(caller, target).await?;
        self.approve_ids(caller.actor.clone(), ids, None).await
    }

    /// Each item's transport before a human's approval: it may refuse an
    /// item (that error is the item's result) or note what it found.
    async fn ask_transports(
        &self,
        ids: Vec<String>,
    ) -> (
        Vec<String>,
        Vec<BatchResult>,
        std::collections::HashMap<String, String>,
    ) {
        let mut keep = Vec::with_capacity(ids.len());
        let mut refused = Vec::new();
        let mut notes = std::collections::HashMap::new();
        for id in ids {
            let item = match self
                .store
                .call({
                    let id = id.clone();
                    move |c| db::get(c, &id)
                })
                .await
            {
                Ok(Some(item)) => item,
                // Missing or unreadable: approve_ids reports it.
                _ => {
                    keep.push(id);
                    continue;
                }
            };
            let transport = self
                .accounts
                .resolve(Some(&item.account))
                .ok()
                .and_then(|account| self.transport(&account, item.channel));
            let Some(transport) = transport else {
                keep.push(id);
                continue;
            };
            match transport.before_approval(&item).await {
                Ok(note) => {
                    if let Some(note) = note {
                        notes.insert(id.clone(), note);
                    }
                    keep.push(id);
                }
                Err(e) => refused.push(BatchResult { id, result: Err(e) }),
            }
        }
        (keep, refused, notes)
    }

    /// The human at an MCP client accepted the client's approval request
    /// (elicitation) for an item that this client's agent staged. Recorded
    /// as `human via elicitation in mcp:<client> (uid 1000)` (or `(key
    /// <name>)`). The agent's own grants need not include `admin`: the
    /// consent is the human's answer in the client, which the MCP frontends
    /// ask for and relay. That answer counts only where the client is the
    /// human's (`Caller::require_consent_relay`: the socket's own user, or a
    /// caller holding `admin`), so a key holder who forges an accept over
    /// HTTP gets `permission_denied` here, whatever the frontend did. The
    /// caller may only pass it on for its own pending items.
    pub async fn approve_by_human(&self, caller: &Caller, id: &str, client: &str) -> Result<Item> {
        caller.require(Grant::Stage, "pass on a human's approval")?;
        caller.require_consent_relay()?;
        let item = self.get(caller, id).await?;
        if item.requester != caller.actor {
            return Err(Error::new(
                Code::PermissionDenied,
                format!(
                    "{} may pass on a human's approval only for items it staged; {} was staged by {}",
                    caller.actor, item.id, item.requester
                ),
            )
            .with_details(serde_json::json!({ "id": item.id, "actor": caller.actor })));
        }
        if !item.state.is_pending() {
            return Err(state_error(&item, "approved"));
        }
        let note = format!(
            "the human accepted the approval request in the MCP client ({}, {})",
            caller.actor, caller.via
        );
        let mut results = self
            .approve_ids(
                format!("human via elicitation in mcp:{client} ({})", caller.via),
                vec![id.to_owned()],
                Some(note),
            )
            .await?;
        match results.pop() {
            Some(r) => r.result,
            None => Err(Error::not_found("item", id)),
        }
    }

    /// Approves `ids` as `actor`: each item's transport first, then the
    /// state checks and the audit of every approval.
    async fn approve_ids(
        &self,
        actor: String,
        ids: Vec<String>,
        note: Option<String>,
    ) -> Result<Vec<BatchResult>> {
        let (ids, mut refused, notes) = self.ask_transports(ids).await;
        let mut results = self.approve_ids_noted(actor, ids, note, notes).await?;
        results.append(&mut refused);
        Ok(results)
    }

    /// Approves `ids`; `notes` are what their transports found, recorded
    /// with each approval.
    async fn approve_ids_noted(
        &self,
        actor: String,
        ids: Vec<String>,
        note: Option<String>,
        notes: std::collections::HashMap<String, String>,
    ) -> Result<Vec<BatchResult>> {
        let hold = self.config.hold_window;
        self.write(move |conn, changes| {
            let now = now_unix_ms();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let result = (|| {
                    let item = db::get(conn, &id)?.ok_or_else(|| Error::not_found("item", &id))?;
                    if !matches!(
                        item.state,
                        State::Draft | State::PendingApproval | State::Unknown
                    ) {
                        return Err(state_error(&item, "approved"));
                    }
                    let mut updated = item.clone();
                    approve_now(&mut updated, &actor, now, hold);
                    if !db::update_if(conn, &updated, item.state)? {
                        return Err(changed_meanwhile(&id));
                    }
                    let note = (item.state == State::Unknown)
                        .then(|| "resend after an unknown outcome".to_owned())
                        .or_else(|| note.clone());
                    let note = match (note, notes.get(&id)) {
                        (Some(n), Some(found)) => Some(format!("{n}; {found}")),
                        (n, found) => n.or_else(|| found.cloned()),
                    };
                    changes.record(
                        conn,
                        Some(item.state),
                        &updated,
                        audit_entry(&actor, "approved", &updated, note),
                    )?;
                    Ok(updated)
                })();
                out.push(BatchResult { id, result });
            }
            Ok(out)
        })
        .await
    }

    /// Rejects pending items with a reason: only humans (the `admin` grant) may.
    pub async fn reject(
        &self,
        caller: &Caller,
        target: Target,
        reason: &str,
    ) -> Result<Vec<BatchResult>> {
        caller.require(Grant::Admin, "reject items")?;
        let reason = reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(Error::invalid(
                "reason",
                "expected a reason of 1 to 1000 characters",
            ));
        }
        let ids = self.resolve_target(caller, target).await?;
        let actor = caller.actor.clone();
        self.write(move |conn, changes| {
            let now = now_unix_ms();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let result = (|| {
                    let item = db::get(conn, &id)?.ok_or_else(|| Error::not_found("item", &id))?;
                    if !item.state.is_pending() {
                        return Err(state_error(&item, "rejected"));
                    }
                    let mut updated = item.clone();
                    updated.state = State::Rejected;
                    updated.rejection = Some(Rejection {
                        by: actor.clone(),
                        at_ms: now,
                        reason: reason.clone(),
                    });
                    updated.updated_at_ms = now;
                    if !db::update_if(conn, &updated, item.state)? {
                        return Err(changed_meanwhile(&id));
                    }
                    changes.record(
                        conn,
                        Some(item.state),
                        &updated,
                        audit_entry(&actor, "rejected", &updated, Some(reason.clone())),
                    )?;
                    Ok(updated)
                })();
                out.push(BatchResult { id, result });
            }
            Ok(out)
        })
        .await
    }

    /// Cancels an item that has not started sending. Agents may cancel only
    /// their own items; humans any.
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<Item> {
        let item = self.get(caller, id).await?;
        self.require_owner_or_admin(caller, &item, "cancel items staged by others")?;
        if !matches!(
            item.state,
            State::Draft | State::PendingApproval | State::Approved | State::Unknown
        ) {
            return Err(state_error(&item, "cancelled"));
        }
        let actor = caller.actor.clone();
        self.write(move |conn, changes| {
            let mut updated = item.clone();
            updated.state = State::Cancelled;
            updated.updated_at_ms = now_unix_ms();
            if !db::update_if(conn, &updated, item.state)? {
                return Err(changed_meanwhile(&updated.id));
            }
            changes.record(
                conn,
                Some(item.state),
                &updated,
                audit_entry(&actor, "cancelled", &updated, None),
            )?;
            Ok(updated)
        })
        .await
    }

    /// The agent's own confirmation after a preview, allowed only where the
    /// policy decided `confirm`. Needs the `send` grant.
    pub async fn confirm(&self, caller: &Caller, id: &str) -> Result<Item> {
        caller.require(Grant::Send, "confirm items for sending")?;
        let item = self.get(caller, id).await?;
        self.require_owner_or_admin(caller, &item, "confirm items staged by others")?;
        if item.decision != Decision::Confirm || item.state != State::Draft {
            if item.state == State::PendingApproval {
                return Err(Error::new(
                    Code::ApprovalRequired,
                    format!(
                        "item {} needs a human's approval ({}): it waits in the dashboard or for `commsctl approve {}`",
                        item.id, item.rule, item.id
                    ),
                )
                .with_details(serde_json::json!({ "id": item.id, "rule": item.rule })));
            }
            return Err(state_error(&item, "confirmed"));
        }
        let actor = caller.actor.clone();
        let hold = self.config.hold_window;
        self.write(move |conn, changes| {
            let now = now_unix_ms();
            let mut updated = item.clone();
            approve_now(&mut updated, &format!("{actor} (confirmed)"), now, hold);
            if !db::update_if(conn, &updated, item.state)? {
                return Err(changed_meanwhile(&updated.id));
            }
            changes.record(
                conn,
                Some(item.state),
                &updated,
                audit_entry(&actor, "confirmed", &updated, Some(updated.rule.clone())),
            )?;
            Ok(updated)
        })
        .await
    }

    fn require_owner_or_admin(&self, caller: &Caller, item: &Item, what: &str) -> Result<()> {
        if item.requester == caller.actor {
            caller.require(Grant::Stage, what)
        } else {
            caller.require(Grant::Admin, what)
        }
    }

    async fn resolve_target(&self, caller: &Caller, target: Target) -> Result<Vec<String>> {
        match target {
            Target::Ids(ids) if ids.is_empty() => {
                Err(Error::invalid("ids", "name at least one item"))
            }
            Target::Ids(ids) => Ok(ids),
            Target::Matching(mut filter) => {
                if filter.states.is_empty() {
                    filter.states = vec![State::PendingApproval];
                }
                let mut ids = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let page = self
                        .list(caller, filter.clone(), cursor.as_deref(), MAX_PAGE)
                        .await?;
                    ids.extend(page.items.into_iter().map(|i| i.id));
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => return Ok(ids),
                    }
                }
            }
        }
    }
}

/// Refuses edit fields the item's channel does not have.
fn reject_fields(edit: &EditRequest, sms: bool) -> Result<()> {
    if edit.subject.is_some() || edit.text.is_some() || edit.html.is_some() {
        return Err(Error::invalid(
            if edit.subject.is_some() {
                "subject"
            } else if edit.text.is_some() {
                "bodyText"
            } else {
                "bodyHtml"
            },
            "only email has a subject, bodyText and bodyHtml; use `body`",
        ));
    }
    if edit.cc.is_some() || edit.bcc.is_some() || (!sms && edit.to.is_some()) {
        return Err(Error::invalid(
            "to",
            "recipients of this item cannot be changed; cancel it and stage a new one",
        ));
    }
    Ok(())
}
