//! The outbox service: the one implementation behind every frontend's
//! stage, list, get, edit, approve, reject, cancel and confirm.
//!
//! Every state change happens in one store write together with its audit
//! row, so the audit log and the outbox can never disagree; events are
//! published only after the commit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::Notify;

use super::attachments::{AttachFrom, AttachmentStore};
use super::db::{self, Cursor, ListFilter};
use super::item::{self, Approval, Item, Rejection};
use super::model::{Channel, Content, Decision, Priority, State};
use super::policy;
use super::transport::DeliveryError;
use super::validate::{self, EmailInput, Limits};
use crate::accounts::Accounts;
use crate::audit;
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::{Bus, Event, now_unix_ms};
use crate::outbox::config::{OutboxConfig, PolicyConfig};
use crate::store::{Store, StoreError};

/// Largest page a list call returns.
pub const MAX_PAGE: usize = 500;

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

/// A page of items.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
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

pub struct Outbox {
    store: Store,
    accounts: Arc<Accounts>,
    attachments: AttachmentStore,
    limits: Limits,
    config: OutboxConfig,
    policy: PolicyConfig,
    /// Wakes the dispatcher when an item becomes approved.
    pub(crate) wake: Arc<Notify>,
    /// What follows every commit, shared with the store thread.
    live: Arc<Live>,
}

/// The in-memory state that follows the database: updated and announced on
/// the store thread right after each commit (`Store::write_then`), so that a
/// caller that goes away mid-request cannot leave it behind the database.
struct Live {
    bus: Arc<Bus>,
    wake: Arc<Notify>,
    /// Items per state, kept in step with every write (for status without a query).
    tally: Mutex<BTreeMap<String, u64>>,
    /// Bumped on every committed change, before its events go out: a reader
    /// that saw generation N before reading has data at least as new as N.
    generation: std::sync::atomic::AtomicU64,
}

impl Live {
    fn publish(&self, changes: Changes) {
        if !changes.items.is_empty() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        if let Ok(mut tally) = self.tally.lock() {
            for (old, new) in &changes.transitions {
                if let Some(old) = old
                    && let Some(n) = tally.get_mut(old.as_str())
                {
                    *n = n.saturating_sub(1);
                }
                *tally.entry(new.as_str().to_owned()).or_default() += 1;
            }
        }
        let mut wake = false;
        for item in &changes.items {
            wake |= item.state == State::Approved;
            self.bus.publish(Event::OutboxChanged {
                id: item.id.clone(),
                state: item.state,
                channel: item.channel,
                account: item.account.clone(),
                priority: item.priority,
            });
        }
        for event in changes.audit {
            self.bus.publish(Event::AuditAppended {
                seq: event.seq,
                action: event.action,
                item_id: event.item_id,
            });
        }
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Changes made by one write, published after the commit.
#[derive(Default)]
struct Changes {
    items: Vec<Item>,
    audit: Vec<audit::Event>,
    /// (old state, new state) for the tally; old is None for new items.
    transitions: Vec<(Option<State>, State)>,
}

impl Changes {
    fn record(
        &mut self,
        conn: &Connection,
        old: Option<State>,
        item: &Item,
        entry: audit::Entry,
    ) -> std::result::Result<(), StoreError> {
        self.audit.push(audit::append(conn, entry)?);
        if old != Some(item.state) {
            self.transitions.push((old, item.state));
        }
        self.items.retain(|i| i.id != item.id);
        self.items.push(item.clone());
        Ok(())
    }
}

/// An audit entry describing `item`, by `actor`.
pub fn audit_entry(actor: &str, action: &str, item: &Item, result: Option<String>) -> audit::Entry {
    audit::Entry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        item_id: Some(item.id.clone()),
        account: Some(item.account.clone()),
        channel: Some(item.channel.as_str().to_owned()),
        recipients: item.recipients.clone(),
        content_hash: Some(item.content_hash.clone()),
        decision: Some(item.decision.as_str().to_owned()),
        result,
    }
}

/// A new, unguessable item id: `ob_` and 10 base32 characters (50 bits).
pub fn new_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: fall back on time and a counter (still unique).
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = (now_unix_ms() as u64) ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(40);
        bytes = n.to_le_bytes();
    }
    let mut n = u64::from_le_bytes(bytes);
    let mut id = String::from("ob_");
    for _ in 0..10 {
        id.push(ALPHABET[(n & 31) as usize] as char);
        n >>= 5;
    }
    id
}

impl Outbox {
    pub async fn new(
        store: Store,
        bus: Arc<Bus>,
        accounts: Arc<Accounts>,
        data_dir: PathBuf,
        config: OutboxConfig,
        policy: PolicyConfig,
    ) -> Result<Outbox> {
        let tally = store.call(|c| db::count_by_state(c)).await?;
        let wake = Arc::new(Notify::new());
        Ok(Outbox {
            store,
            accounts,
            // Agents attach only from [outbox] attachment_dirs, resolved once, here.
            attachments: AttachmentStore::new(data_dir.join("attachments"))
                .with_agent_dirs(&config.attachment_dirs),
            limits: Limits::default(),
            config,
            policy,
            wake: wake.clone(),
            live: Arc::new(Live {
                bus,
                wake,
                tally: Mutex::new(tally),
                generation: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    pub fn attachments(&self) -> &AttachmentStore {
        &self.attachments
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Items per state, without touching the database.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.live
            .tally
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default()
    }

    /// Changes whenever any item changes; caches of listings key on it.
    pub fn generation(&self) -> u64 {
        self.live
            .generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs `f` in one durable write; what it changed is counted and
    /// published right after the commit, on the store thread, whether or not
    /// the caller is still waiting.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Changes) -> Result<T> + Send + 'static,
    {
        let live = self.live.clone();
        self.store
            .write_then(
                move |conn| {
                    let mut changes = Changes::default();
                    // A domain error rolls the job back like a database error.
                    match f(conn, &mut changes) {
                        Ok(v) => Ok((v, changes)),
                        Err(e) => Err(StoreError::Domain(Box::new(e))),
                    }
                },
                move |(value, changes)| {
                    live.publish(changes);
                    value
                },
            )
            .await
            .map_err(store_to_error)
    }

    // ---------------------------------------------------------------- stage

    /// Validates, decides by policy and stores a new item (or returns the
    /// existing one for a repeated client request id).
    pub async fn stage(&self, caller: &Caller, request: StageRequest) -> Result<Staged> {
        caller.require(Grant::Stage, "stage items in the outbox")?;
        if let Some(id) = &request.client_request_id
            && (id.is_empty() || id.len() > 200 || id.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                "client_request_id",
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
        let content = self
            .validate(
                request.content,
                &account.email,
                AttachFrom::for_caller(caller),
            )
            .await?;
        self.stage_content(
            caller,
            &account.id,
            request.priority,
            request.client_request_id,
            content,
            None,
        )
        .await
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
        };
        let caps = self.caps(item.channel, &item.account);
        let hold = self.config.hold_window;
        let actor = caller.actor.clone();
        self.write(move |conn, changes| {
            if let Some(link) = &provider_ref
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
                    .with_details(serde_json::json!({ "field": "client_request_id", "item_id": existing.id })));
                }
                return Ok(Staged { item: existing, existing: true });
            }
            let cap_reason = cap_reason(conn, &caps, &item, now)?;
            apply_decision(&mut item, now, hold, cap_reason);
            db::insert(conn, &item)?;
            if let Some(link) = &provider_ref {
                db::set_provider_ref(conn, &item.id, link)?;
            }
            changes.record(conn, None, &item, audit_entry(&actor, "staged", &item, Some(format!("{} by {}", item.decision.as_str(), item.rule))))?;
            if item.state == State::Approved {
                changes.record(conn, Some(State::Approved), &item, audit_entry("policy", "approved", &item, Some(item.rule.clone())))?;
            }
            Ok(Staged { item, existing: false })
        })
        .await
    }

    fn expiry(&self, now: i64) -> Option<i64> {
        (!self.config.pending_ttl.is_zero())
            .then(|| now + self.config.pending_ttl.as_millis() as i64)
    }

    fn caps(&self, channel: Channel, account: &str) -> Vec<(usize, u32, Duration, &'static str)> {
        let mut out = Vec::new();
        for (i, cap) in policy::caps_for(&self.policy, channel, account) {
            if let Some(n) = cap.per_hour {
                out.push((i, n, Duration::from_secs(3600), "hourly"));
            }
            if let Some(n) = cap.per_day {
                out.push((i, n, Duration::from_secs(86_400), "daily"));
            }
        }
        out
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
            } => validate::chat(&space, &text, thread.as_deref(), &limits).map(Content::Chat),
        }
    }

    // ---------------------------------------------------------------- read

    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Item> {
        caller.require(Grant::Read, "read the outbox")?;
        let id = id.to_owned();
        self.store
            .call(move |c| db::get(c, &id).map(|item| (item, id)))
            .await
            .map_err(store_to_error)
            .and_then(|(item, id)| item.ok_or_else(|| Error::not_found("item", &id)))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        filter: ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        caller.require(Grant::Read, "read the outbox")?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid("limit", format!("expected 1 to {MAX_PAGE}")));
        }
        let cursor = cursor
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?;
        let mut items = self
            .store
            .call(move |c| db::list(c, &filter, cursor.as_ref(), limit + 1))
            .await?;
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            items
                .last()
                .map(|i| Cursor::after(i).encode())
                .unwrap_or_default()
        });
        Ok(Page { items, next_cursor })
    }

    /// A human-readable rendering of what will be sent.
    pub fn preview_text(item: &Item) -> String {
        let mut out = String::new();
        match &item.content {
            Content::Email(e) => {
                out.push_str(&format!("From:    {}\n", e.from));
                out.push_str(&format!("To:      {}\n", e.to.join(", ")));
                if !e.cc.is_empty() {
                    out.push_str(&format!("Cc:      {}\n", e.cc.join(", ")));
                }
                if !e.bcc.is_empty() {
                    out.push_str(&format!(
                        "Bcc:     {} (hidden from other recipients)\n",
                        e.bcc.join(", ")
                    ));
                }
                out.push_str(&format!("Subject: {}\n", e.subject));
                for a in &e.attachments {
                    out.push_str(&format!(
                        "Attach:  {} ({}, {} bytes)\n",
                        a.filename, a.mime_type, a.size
                    ));
                }
                if e.html.is_some() {
                    out.push_str("Format:  HTML with a plain-text alternative (text shown)\n");
                }
                out.push('\n');
                out.push_str(&e.text);
            }
            Content::Sms(s) => {
                out.push_str(&format!("SMS to:  {}\n\n{}", s.to, s.body));
            }
            Content::Chat(c) => {
                out.push_str(&format!("Chat to: {}\n", c.space));
                if let Some(t) = &c.thread {
                    out.push_str(&format!("Thread:  {t}\n"));
                }
                out.push('\n');
                out.push_str(&c.text);
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    // ---------------------------------------------------------------- change

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
                        "email has `text` and `html`, not `body`",
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
                validate::chat(&c.space, &text, c.thread.as_deref(), &limits).map(Content::Chat)
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

    /// Approves `ids` as `actor`: the state checks and the audit of every approval.
    async fn approve_ids(
        &self,
        actor: String,
        ids: Vec<String>,
        note: Option<String>,
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

    // ---------------------------------------------------------------- daemon

    /// At start-up: an item found in `sending` crashed mid-send. It becomes
    /// `unknown` for a human to resolve and is never resent automatically.
    pub async fn recover(&self) -> Result<usize> {
        self.write(|conn, changes| {
            let stuck = db::in_state(conn, State::Sending)?;
            let now = now_unix_ms();
            for item in &stuck {
                let mut updated = item.clone();
                updated.state = State::Unknown;
                updated.error = Some(
                    "commsd stopped while sending; it may or may not have been delivered"
                        .to_owned(),
                );
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Sending)?;
                changes.record(
                    conn,
                    Some(State::Sending),
                    &updated,
                    audit_entry("daemon", "marked_unknown", &updated, updated.error.clone()),
                )?;
            }
            Ok(stuck.len())
        })
        .await
    }

    /// Expires pending items past their expiry.
    pub async fn expire_due(&self) -> Result<usize> {
        self.write(|conn, changes| {
            let now = now_unix_ms();
            let due = db::expired(conn, now)?;
            for item in &due {
                let mut updated = item.clone();
                updated.state = State::Expired;
                updated.updated_at_ms = now;
                if db::update_if(conn, &updated, item.state)? {
                    changes.record(
                        conn,
                        Some(item.state),
                        &updated,
                        audit_entry("daemon", "expired", &updated, None),
                    )?;
                }
            }
            Ok(due.len())
        })
        .await
    }

    /// Marks `item` as sending after re-checking its approval and caps.
    /// Returns the item to deliver, or None when it must not be sent now.
    pub(crate) async fn begin_dispatch(&self, item: Item) -> Result<Option<Item>> {
        let caps = self.caps(item.channel, &item.account);
        self.write(move |conn, changes| {
            let Some(current) = db::get(conn, &item.id)? else {
                return Ok(None);
            };
            if current.state != State::Approved {
                return Ok(None);
            }
            let now = now_unix_ms();
            // The approval binds to the exact content: recompute and compare.
            let actual = item::content_hash(&current.account, &current.content);
            let approved = current.approval.as_ref().map(|a| a.content_hash.clone());
            if approved.as_deref() != Some(actual.as_str()) || actual != current.content_hash {
                let mut updated = current.clone();
                updated.state = State::PendingApproval;
                updated.approval = None;
                updated.content_hash = actual;
                updated.hold_reason = Some("the content differs from what was approved".to_owned());
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Approved)?;
                changes.record(
                    conn,
                    Some(State::Approved),
                    &updated,
                    audit_entry(
                        "daemon",
                        "approval_invalidated",
                        &updated,
                        updated.hold_reason.clone(),
                    ),
                )?;
                return Ok(None);
            }
            if let Some(reason) = cap_reason(conn, &caps, &current, now)? {
                if current.hold_reason.as_deref() != Some(reason.as_str()) {
                    let mut updated = current.clone();
                    updated.hold_reason = Some(reason);
                    updated.updated_at_ms = now;
                    db::update_if(conn, &updated, State::Approved)?;
                    changes.items.push(updated);
                }
                return Ok(None);
            }
            let mut sending = current.clone();
            sending.state = State::Sending;
            sending.hold_reason = None;
            sending.dispatched_at_ms = Some(now);
            sending.updated_at_ms = now;
            if !db::update_if(conn, &sending, State::Approved)? {
                return Ok(None);
            }
            changes.record(
                conn,
                Some(State::Approved),
                &sending,
                audit_entry("daemon", "sending", &sending, None),
            )?;
            Ok(Some(sending))
        })
        .await
    }

    /// Records the transport's outcome.
    pub(crate) async fn finish_dispatch(
        &self,
        item: Item,
        outcome: std::result::Result<String, DeliveryError>,
    ) -> Result<Item> {
        self.write(move |conn, changes| {
            let now = now_unix_ms();
            let mut done = item.clone();
            done.updated_at_ms = now;
            let (action, result) = match outcome {
                Ok(detail) => {
                    done.state = State::Sent;
                    done.delivery = Some(item::Delivery {
                        at_ms: now,
                        detail: detail.clone(),
                    });
                    ("sent", detail)
                }
                Err(DeliveryError::Failed(error)) => {
                    done.state = State::Failed;
                    done.error = Some(error.clone());
                    ("failed", error)
                }
                Err(DeliveryError::Unknown(error)) => {
                    done.state = State::Unknown;
                    done.error = Some(error.clone());
                    ("marked_unknown", error)
                }
            };
            if !db::update_if(conn, &done, State::Sending)? {
                return Err(changed_meanwhile(&done.id));
            }
            changes.record(
                conn,
                Some(State::Sending),
                &done,
                audit_entry("daemon", action, &done, Some(result)),
            )?;
            Ok(done)
        })
        .await
    }

    /// The earliest dispatch time of an approved item still on hold.
    pub(crate) async fn next_due(&self) -> Result<Option<i64>> {
        Ok(self.store.call(|c| db::next_due_ms(c)).await?)
    }

    pub(crate) async fn due(&self, limit: usize) -> Result<Vec<Item>> {
        Ok(self
            .store
            .call(move |c| db::due(c, now_unix_ms(), limit))
            .await?)
    }

    /// Appends an audit row that is not about an item (logins, key changes).
    pub async fn audit_other(&self, entry: audit::Entry) -> Result<audit::Event> {
        self.write(move |conn, changes| {
            let event = audit::append(conn, entry)?;
            changes.audit.push(event.clone());
            Ok(event)
        })
        .await
    }
}

/// Sets the state the policy decision calls for; a reached cap holds the
/// item for a human whatever the decision.
/// The account an item is staged on (resolved by the caller).
struct AccountRef {
    id: String,
}

/// What a stage request says besides its content.
struct StageMeta {
    priority: Priority,
    client_request_id: Option<String>,
}

fn apply_decision(item: &mut Item, now: i64, hold: Duration, cap_reason: Option<String>) {
    if let Some(reason) = cap_reason {
        item.state = State::PendingApproval;
        item.hold_reason = Some(reason);
        return;
    }
    match item.decision {
        Decision::Approve => item.state = State::PendingApproval,
        Decision::Confirm => item.state = State::Draft,
        Decision::Auto => {
            let rule = format!("policy:{}", item.rule);
            approve_now(item, &rule, now, hold);
        }
    }
}

fn approve_now(item: &mut Item, by: &str, now: i64, hold: Duration) {
    item.state = State::Approved;
    item.approval = Some(Approval {
        by: by.to_owned(),
        at_ms: now,
        content_hash: item.content_hash.clone(),
    });
    item.dispatch_after_ms = Some(now + hold.as_millis() as i64);
    item.hold_reason = None;
    item.error = None;
    item.updated_at_ms = now;
}

/// Why `item` must wait because of a cap, if it must.
fn cap_reason(
    conn: &Connection,
    caps: &[(usize, u32, Duration, &'static str)],
    item: &Item,
    now: i64,
) -> std::result::Result<Option<String>, StoreError> {
    for (index, limit, window, label) in caps {
        let since = now - window.as_millis() as i64;
        let used = db::dispatched_since(conn, &item.account, item.channel, since)?;
        if used >= u64::from(*limit) {
            return Ok(Some(format!(
                "{label} cap of {limit} {} for account {} reached (policy.caps[{index}]); it waits until the window frees up",
                item.channel.as_str(),
                item.account
            )));
        }
    }
    Ok(None)
}

/// Refuses edit fields the item's channel does not have.
fn reject_fields(edit: &EditRequest, sms: bool) -> Result<()> {
    if edit.subject.is_some() || edit.text.is_some() || edit.html.is_some() {
        return Err(Error::invalid(
            if edit.subject.is_some() {
                "subject"
            } else if edit.text.is_some() {
                "text"
            } else {
                "html"
            },
            "only email has a subject, text and html; use `body`",
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

fn state_error(item: &Item, verb: &str) -> Error {
    Error::new(
        Code::FailedPrecondition,
        format!(
            "item {} is {} and cannot be {verb}",
            item.id,
            item.state.as_str()
        ),
    )
    .with_details(serde_json::json!({ "id": item.id, "state": item.state.as_str() }))
}

fn changed_meanwhile(id: &str) -> Error {
    Error::new(
        Code::FailedPrecondition,
        format!("item {id} changed meanwhile; fetch it and try again"),
    )
    .with_details(serde_json::json!({ "id": id }))
}

fn store_to_error(e: StoreError) -> Error {
    match e {
        StoreError::Domain(e) => *e,
        other => Error::from(other),
    }
}
