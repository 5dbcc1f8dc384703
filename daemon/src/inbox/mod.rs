//! The unified inbox: one local index of what came in by email, SMS and
//! chat, fed by the providers' message sources, searched with SQLite FTS5.
//!
//! - `index.rs`: the SQL (migration 0010): upsert, window, list, search,
//!   statistics. `query.rs`: user input → a safe FTS5 expression.
//!   `rank.rs`: relevance of the most recent matches, then recency.
//! - [`MessageSource`]: what a provider registers (`Registry::message_source`)
//!   to feed the index: the accounts it covers, the events that mean news,
//!   and `sync` of one account into a [`Sink`]. Sources live with their
//!   providers (`gmail/inbox_source.rs`, `mail/inbox_source.rs`,
//!   `sandbox/inbox_source.rs`, `twilio/inbox_source.rs`,
//!   `chat/inbox_source.rs`).
//! - `service.rs`: [`Inbox`], the reading service every frontend calls
//!   (grants, filters, cursors, `untrusted`), and the runner that syncs
//!   sources at start, on their events and every `[inbox] poll_interval`.
//! - `reply.rs`: a reply to an indexed message, staged in the outbox like
//!   any other message (to the sender, `Re:` subject, same chat thread).
//! - `tools.rs` (`inbox_list`, `inbox_search`, `inbox_reply`), `api.rs`
//!   (`/api/v1/inbox`, `/api/v1/inbox/reply`),
//!   `provider.rs` (registration, status, the account-data hook).
//!
//! Nothing here leaves the machine, and no message text is ever logged.

pub mod api;
pub mod config;
pub mod index;
pub mod mailstore;
pub mod provider;
pub mod query;
pub mod rank;
pub mod reply;
pub mod service;
pub mod tools;

use std::collections::HashSet;
use std::sync::Arc;

pub use self::config::InboxConfig;
pub use self::index::{InboxMessage, NewMessage, Upserted};
pub use self::service::Inbox;
use crate::error::{Error, Result};
use crate::events::{Bus, Event, now_unix_ms};
use crate::outbox::model::Channel;
use crate::store::Store;

/// A provider's feed into the index.
#[async_trait::async_trait]
pub trait MessageSource: Send + Sync {
    /// `gmail`, `imap`, `sandbox`, `sms`, `chat`: the `source` of its rows.
    fn name(&self) -> &'static str;
    /// The accounts it indexes now.
    fn accounts(&self) -> Vec<String>;
    /// The account `event` says has news for this source, if any.
    fn wakes(&self, event: &Event) -> Option<String>;
    /// Whether it must be asked every `[inbox] poll_interval` (no push).
    fn polls(&self) -> bool {
        false
    }
    /// Brings the index up to date for `account` (new messages, read
    /// states), from the source's place kept in the sink.
    async fn sync(&self, account: &str, sink: &Sink) -> Result<()>;
}

/// What one sync found for an account.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// New messages (and known ones whose content changed).
    pub messages: Vec<NewMessage>,
    /// Known messages' read state: (channel, provider id, unread).
    pub read_states: Vec<(Channel, String, bool)>,
    /// Messages the source no longer has (deleted, moved out of the inbox).
    pub gone: Vec<(Channel, String)>,
    /// The source's new place (`None`: unchanged).
    pub cursor: Option<String>,
}

/// Where a source writes, one per source name.
#[derive(Clone)]
pub struct Sink {
    pub source: &'static str,
    pub(crate) store: Store,
    bus: Arc<Bus>,
    config: Arc<InboxConfig>,
}

impl Sink {
    pub fn new(
        source: &'static str,
        store: Store,
        bus: Arc<Bus>,
        config: Arc<InboxConfig>,
    ) -> Sink {
        Sink {
            source,
            store,
            bus,
            config,
        }
    }

    pub fn config(&self) -> &InboxConfig {
        &self.config
    }

    /// The oldest time the window keeps.
    pub fn min_at_ms(&self) -> Option<i64> {
        self.config.min_at_ms(now_unix_ms())
    }

    /// The source's place for `account` (what `put` saved last).
    pub async fn cursor(&self, account: &str) -> Result<Option<String>> {
        let (source, account) = (self.source, account.to_owned());
        Ok(self
            .store
            .call(move |c| Ok(index::cursor(c, source, &account)?))
            .await?)
    }

    /// The provider ids of `account`'s indexed messages of `channel`.
    pub async fn known(&self, account: &str, channel: Channel) -> Result<HashSet<String>> {
        let (source, account) = (self.source, account.to_owned());
        Ok(self
            .store
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT provider_id FROM inbox_messages WHERE source = ?1 AND account_id = ?2 AND channel = ?3",
                )?;
                let ids = stmt
                    .query_map(rusqlite::params![source, account, channel.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<HashSet<String>>>()?;
                Ok(ids)
            })
            .await?)
    }

    /// Stores a batch of `account` and keeps the window, in one
    /// transaction; then publishes `InboxChanged` when something changed.
    pub async fn put(&self, account: &str, batch: Batch) -> Result<Upserted> {
        let (source, config, bus) = (self.source, self.config.clone(), self.bus.clone());
        let account = account.to_owned();
        let now = now_unix_ms();
        let min = self.min_at_ms();
        let owned = account.clone();
        let done = self
            .store
            .write_then(
                move |c| {
                    let mut done =
                        index::upsert(c, source, &batch.messages, config.max_text_chars, now)?;
                    for (channel, id, unread) in &batch.read_states {
                        done.changed += index::set_unread(c, &owned, *channel, id, *unread)? as u32;
                    }
                    for (channel, id) in &batch.gone {
                        done.changed +=
                            index::remove(c, &owned, *channel, std::slice::from_ref(id))? as u32;
                    }
                    index::synced(c, source, &owned, batch.cursor.as_deref(), None, now)?;
                    index::prune(c, &owned, min, config.per_account)?;
                    Ok(done)
                },
                move |done: Upserted| {
                    if done.added + done.changed > 0 {
                        bus.publish(Event::InboxChanged {
                            account,
                            source: source.to_owned(),
                            added: done.added,
                            changed: done.changed,
                        });
                    }
                    done
                },
            )
            .await?;
        Ok(done)
    }

    /// Records that a sync of `account` failed (shown by `commsctl status`).
    pub async fn failed(&self, account: &str, error: &Error) -> Result<()> {
        let (source, account) = (self.source, account.to_owned());
        let message = format!("{}: {}", error.code.as_str(), error.message);
        self.store
            .write(move |c| {
                Ok(index::synced(
                    c,
                    source,
                    &account,
                    None,
                    Some(&message),
                    now_unix_ms(),
                )?)
            })
            .await?;
        Ok(())
    }

    /// Forgets the place of `account`, so the next sync starts over.
    pub async fn reset(&self, account: &str) -> Result<()> {
        let (source, account) = (self.source, account.to_owned());
        self.store
            .write(move |c| {
                c.execute(
                    "UPDATE inbox_sources SET cursor = NULL WHERE source = ?1 AND account_id = ?2",
                    [source, account.as_str()],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}
