//! Gmail through its REST API (issue [gmail]; design.md §5, §7, §11).
//!
//! Two layers:
//!
//! - [`GmailService`] (`service.rs`, `send.rs`, typed inputs and outputs in
//!   `types.rs`): what every frontend calls. It checks grants, validates,
//!   renders messages for agents, checks the sender (send-as) and owns the
//!   send gate (drafts are staged in the outbox, linked to the draft).
//! - [`Gmail`] (this file; `read.rs`, `write.rs`, `sync.rs`, `stats.rs`):
//!   the account's mailbox at Google. Reads go through a per-account cache
//!   (TTL per kind, tags, coalescing, freshness from `users.history.list`),
//!   every call through the shared Google client (`google::http`: the
//!   account's quota limiter, retries, the batch endpoint) with Gmail's calls
//!   from [`client`]. Nothing is shared between accounts: each has its own
//!   cache, limiter and batches. Access tokens come from [`AccessTokens`].

pub mod api;
pub mod cache;
pub mod client;
pub mod compose;
mod config;
pub mod inbox_source;
mod patch;
pub mod provider;
mod read;
pub mod render;
mod send;
mod service;
mod stats;
mod sync;
pub mod transport;
pub mod types;
pub use self::patch::{DraftPatch, PatchDraftInput};
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use self::cache::{Cache, Counters, Hit};
pub use self::config::GmailConfig;
pub use self::service::GmailService;
use self::sync::History;
use crate::error::Error;
use crate::fsprivate::safe_filename;
use crate::google::{AccessTokens, ApiClients, Call, GoogleClient, RetryPolicy};

/// What is cached, with its TTL.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Search,
    Metadata,
    Body,
    Settings,
}

/// Message formats a read may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Metadata,
    Full,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "metadata" => Some(Format::Metadata),
            "full" => Some(Format::Full),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Metadata => "metadata",
            Format::Full => "full",
        }
    }
}

/// The state of one account: its client (limiter inside), cache, history mark.
struct Account {
    client: GoogleClient,
    cache: Cache,
    history: tokio::sync::Mutex<History>,
}

/// The accounts' mailboxes at Google, behind their caches.
pub struct Gmail {
    clients: ApiClients,
    config: GmailConfig,
    data_dir: PathBuf,
    accounts: Mutex<HashMap<String, Arc<Account>>>,
    counters: Arc<Counters>,
}

/// A read's value and where it came from.
#[derive(Debug, Clone)]
pub struct Read {
    pub value: Value,
    pub cache_hit: bool,
    pub ttl_remaining_ms: u64,
}

impl From<Hit> for Read {
    fn from(h: Hit) -> Read {
        Read {
            value: (*h.value).clone(),
            cache_hit: h.cache_hit,
            ttl_remaining_ms: h.ttl_remaining.as_millis() as u64,
        }
    }
}

impl Gmail {
    /// `base` is `[google.endpoints] gmail`.
    pub fn new(
        base: &str,
        tokens: Arc<dyn AccessTokens>,
        config: GmailConfig,
        data_dir: &Path,
    ) -> Result<Gmail, Error> {
        let clients = ApiClients::new(
            client::api(base),
            tokens,
            config.units_per_second,
            RetryPolicy {
                max_attempts: config.max_attempts,
                base: config.retry_base,
                cap: Duration::from_secs(30),
            },
        )?
        .with_timeout(config.request_timeout)?;
        Ok(Gmail {
            clients,
            config,
            data_dir: data_dir.to_owned(),
            accounts: Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
        })
    }

    pub fn config(&self) -> &GmailConfig {
        &self.config
    }

    fn account(&self, name: &str) -> Result<Arc<Account>, Error> {
        if name.is_empty() {
            return Err(Error::invalid(
                "accountId",
                "name the Google account to use",
            ));
        }
        // Keyed by the stable id, whether the caller named the id or the address.
        let id = self.clients.tokens().account_id(name)?;
        let mut accounts = self.lock();
        Ok(accounts
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Account {
                    client: self.clients.client(&id),
                    cache: Cache::new(self.counters.clone()),
                    history: tokio::sync::Mutex::new(History::default()),
                })
            })
            .clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Account>>> {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ttl(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Search => self.config.search_ttl,
            Kind::Metadata => self.config.metadata_ttl,
            Kind::Body => self.config.body_ttl,
            Kind::Settings => Duration::from_secs(600),
        }
    }

    /// `call`'s answer from the account's cache, fetched on a miss.
    async fn cached(
        &self,
        acct: &Account,
        key: String,
        kind: Kind,
        call: Call,
    ) -> Result<Read, Error> {
        let hit = acct
            .cache
            .get_or_fetch(&key, self.ttl(kind), sync::message_tags, || {
                acct.client.call(&call)
            })
            .await?;
        Ok(hit.into())
    }

    /// Where the attachments of `account_id` are saved.
    fn attachment_dir(&self, account_id: &str) -> PathBuf {
        self.data_dir
            .join("gmail")
            .join("attachments")
            .join(safe_filename(account_id))
    }
}

/// A removed account leaves nothing behind: its cache, limiter and history
/// mark, and the attachments saved for it.
impl crate::accounts::service::AccountData for Gmail {
    fn forget(&self, account_id: &str) {
        self.lock().remove(account_id);
        let dir = self.attachment_dir(account_id);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, account = %account_id, "cannot delete saved Gmail attachments");
        }
    }
}

/// Gmail ids are short and URL-safe; anything else is refused before a call.
/// Errors name fields as the service's types do (`messageId`, `draftId`);
/// adapters rename them for their callers.
fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty()
        || id.len() > 200
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err(Error::invalid(
            field,
            "expected a Gmail id (letters, digits, - and _)",
        ));
    }
    Ok(())
}
