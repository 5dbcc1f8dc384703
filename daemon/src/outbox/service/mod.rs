//! The outbox service: the one implementation behind every frontend's
//! stage, list, get, edit, approve, reject, cancel and confirm.
//!
//! Every state change happens in one store write together with its audit
//! row, so the audit log and the outbox can never disagree; events are
//! published only after the commit.
//!
//! `stage.rs`: staging (validation, policy, caps, idempotent repeats).
//! `review.rs`: what people and agents decide about a staged item: edit,
//! approve (also a human's approval relayed by an MCP client), reject,
//! cancel, confirm. `lifecycle.rs`: what the daemon does: recovery of
//! `sending` items as `unknown`, expiry, the dispatcher's begin and finish.
//! Here: the `Outbox` itself, reads, and the helpers they share.

mod lifecycle;
mod review;
mod stage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::Notify;

use super::attachments::AttachmentStore;
use super::db::{self, Cursor, ListFilter};
use super::item::{Approval, Item};
use super::model::{Channel, Content, Decision, State};
use super::policy;
use super::validate::Limits;
use crate::accounts::Accounts;
use crate::audit;
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::{Bus, Event, now_unix_ms};
use crate::outbox::config::{OutboxConfig, PolicyConfig};
use crate::store::{Store, StoreError};

pub use lifecycle::DeliveryNews;
pub use review::{BatchResult, EditRequest, Target};
pub use stage::{StageContent, StageRequest, Staged};

/// Largest page a list call returns.
pub const MAX_PAGE: usize = 500;

/// A page of items.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
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
    /// The providers' transports, known once they registered: staging and
    /// approval ask them (`Transport::prepare`, `before_approval`).
    transports: std::sync::OnceLock<Arc<super::transport::Transports>>,
    /// Names in recipients → addresses (the contacts provider's).
    resolver: std::sync::OnceLock<Arc<dyn super::resolver::AddressResolver>>,
    /// The secret vault: an item of an account that needs it waits while
    /// it is locked or unusable (`begin_dispatch`).
    vault: std::sync::OnceLock<crate::vault::Vault>,
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
    /// `[outbox] hold_window`.
    hold_window: Duration,
    /// Approved items of this run and when, on the monotonic clock, their
    /// hold ends ([`hold_deadline`]): a wall clock that jumps forward does
    /// not cut a hold window short.
    holds: Mutex<std::collections::HashMap<String, Instant>>,
}

/// When, on the monotonic clock `now`, an item whose hold ends at
/// `dispatch_after_ms` on the wall clock (read as `now_ms`) may go: as far
/// ahead as the wall clock says, but never more than a whole hold window
/// (a clock that went back is `Outbox::rebase_holds`' to fix). Extreme
/// values saturate; an unrepresentable instant leaves the wall clock alone
/// in charge.
pub(crate) fn hold_deadline(
    dispatch_after_ms: i64,
    now_ms: i64,
    window: Duration,
    now: Instant,
) -> Instant {
    let ahead = u64::try_from(dispatch_after_ms.saturating_sub(now_ms)).unwrap_or(0);
    now.checked_add(Duration::from_millis(ahead).min(window))
        .unwrap_or(now)
}

impl Live {
    fn publish(&self, changes: Changes) {
        if !changes.items.is_empty() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        if let Ok(mut holds) = self.holds.lock() {
            let (now_ms, now) = (now_unix_ms(), Instant::now());
            for item in &changes.items {
                match (item.state, item.dispatch_after_ms) {
                    (State::Approved, Some(at)) => {
                        let deadline = hold_deadline(at, now_ms, self.hold_window, now);
                        holds.insert(item.id.clone(), deadline);
                    }
                    _ => {
                        holds.remove(&item.id);
                    }
                }
            }
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

/// "By name: John Doe → john@example.com (saved contact, work account)" for
/// each recipient staging resolved from a name.
fn addressing_lines(out: &mut String, item: &Item) {
    for a in &item.addressing {
        out.push_str(&format!("By name: {}\n", a.description));
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
        let hold_window = config.hold_window;
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
                hold_window,
                holds: Mutex::new(std::collections::HashMap::new()),
            }),
            transports: std::sync::OnceLock::new(),
            resolver: std::sync::OnceLock::new(),
            vault: std::sync::OnceLock::new(),
        })
    }

    /// The registered transports (once, after the providers registered).
    /// The resolver of names in recipients (addressing by name).
    pub fn use_resolver(&self, resolver: Arc<dyn super::resolver::AddressResolver>) {
        let _ = self.resolver.set(resolver);
    }

    pub fn use_transports(&self, transports: Arc<super::transport::Transports>) {
        let _ = self.transports.set(transports);
    }

    /// The secret vault every account but the sandbox sends with.
    pub fn use_vault(&self, vault: crate::vault::Vault) {
        let _ = self.vault.set(vault);
    }

    /// The transport of `channel` items of `account`, once registered.
    fn transport(
        &self,
        account: &crate::accounts::Account,
        channel: Channel,
    ) -> Option<Arc<dyn super::transport::Transport>> {
        self.transports.get()?.route(account, channel)
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

    /// How much longer, on the monotonic clock, the hold of an item
    /// approved in this run lasts (`None`: it may go). The wall clock's
    /// `dispatch_after` says when an item is due; this keeps a wall clock
    /// that jumped forward from sending it before its hold window passed.
    pub(crate) fn held_back(&self, id: &str) -> Option<Duration> {
        let mut holds = self.live.holds.lock().ok()?;
        let left = holds.get(id)?.checked_duration_since(Instant::now());
        if left.is_none_or(|d| d.is_zero()) {
            holds.remove(id);
            return None;
        }
        left
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
                addressing_lines(&mut out, item);
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
                out.push_str(&format!("SMS to:  {}\n", s.to));
                addressing_lines(&mut out, item);
                out.push_str(&crate::twilio::segments::preview_text(&s.body));
                out.push('\n');
                out.push_str(&s.body);
            }
            Content::Chat(c) => {
                match &c.space_name {
                    Some(name) => out.push_str(&format!("Chat to: {name} ({})\n", c.space)),
                    None => out.push_str(&format!("Chat to: {}\n", c.space)),
                }
                if let Some(t) = &c.thread {
                    out.push_str(&format!("Thread:  {t}\n"));
                }
                let parts = c
                    .parts(crate::outbox::validate::Limits::default().max_chat_chars)
                    .len();
                if parts > 1 {
                    out.push_str(&format!(
                        "Posted as {parts} numbered parts, in order, in one thread\n"
                    ));
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

#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod deferred_tests;
