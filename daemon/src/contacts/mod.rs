//! Contacts (issue 17): Google contacts synced into the store per account
//! with the `contacts` module (saved contacts, "other contacts", groups,
//! and the Workspace directory with the optional `directory` module), the
//! sandbox's local address book, one merged identity per person, search,
//! resolution that refuses to guess, and writes through the People API.
//!
//! - `config`: `[contacts]`.
//! - `record`: one record of one source, normalised; accent folding.
//! - `book`: the merged people, search.
//! - `resolve`: a name or partial address → resolved | ambiguous | not_found.
//! - `client`: the People API's calls; `db`: the SQL (migration 0009).
//! - `sync`: sync tokens, pages, expiry, deletions, resuming.
//! - `local`: the sandbox's address book.
//! - `service`, `write`, `tools`, `api`: every frontend's reads and writes.
//! - `addressing`: the outbox's resolver (names and `contact:<id>` in `to`).
//! - `provider`: the registration.

pub mod addressing;
pub mod api;
pub mod book;
pub mod client;
pub mod config;
pub mod db;
pub mod local;
pub mod provider;
pub mod record;
pub mod resolve;
pub mod service;
pub mod sync;
pub mod tools;
pub mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

use self::book::Book;
pub use self::config::ContactsConfig;
use crate::accounts::Accounts;
use crate::error::Result;
use crate::google::{AccessTokens, ApiClients, Call, GoogleClient, RetryPolicy};
use crate::store::Store;

/// Counters for `commsctl status`.
#[derive(Debug, Default)]
pub struct Stats {
    pub syncs: AtomicU64,
    pub full_resyncs: AtomicU64,
    pub people_stored: AtomicU64,
    pub people_deleted: AtomicU64,
    pub writes: AtomicU64,
}

/// What every contacts path shares.
pub struct Contacts {
    clients: ApiClients,
    per_account: Mutex<HashMap<String, Arc<GoogleClient>>>,
    /// One sync, and one write, at a time per account (Google: send one
    /// user's mutations one at a time).
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    book: RwLock<Arc<Book>>,
    /// Set once the sandbox's book is written and the book first loaded.
    loaded: tokio::sync::OnceCell<()>,
    pub config: ContactsConfig,
    pub accounts: Arc<Accounts>,
    pub store: Store,
    pub stats: Stats,
}

impl Contacts {
    pub fn new(
        endpoint: &str,
        tokens: Arc<dyn AccessTokens>,
        config: &ContactsConfig,
        accounts: Arc<Accounts>,
        store: Store,
    ) -> Result<Contacts> {
        let retry = RetryPolicy {
            max_attempts: config.max_attempts.max(1),
            base: config.retry_base,
            cap: Duration::from_secs(30),
        };
        let clients = ApiClients::new(
            client::api(endpoint),
            tokens,
            config.calls_per_second,
            retry,
        )?
        .with_timeout(config.request_timeout)?;
        Ok(Contacts {
            clients,
            per_account: Mutex::new(HashMap::new()),
            turns: Mutex::new(HashMap::new()),
            book: RwLock::new(Arc::new(Book::default())),
            loaded: tokio::sync::OnceCell::new(),
            config: config.clone(),
            accounts,
            store,
            stats: Stats::default(),
        })
    }

    /// One People API call for `account_id`.
    pub async fn call(&self, account_id: &str, call: &Call) -> Result<Value> {
        let client = {
            let mut m = self.per_account.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(account_id.to_owned())
                .or_insert_with(|| Arc::new(self.clients.client(account_id)))
                .clone()
        };
        client.call(call).await
    }

    /// The account's turn: syncs and writes of one account run one at a time.
    pub fn turn(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account_id.to_owned())
            .or_default()
            .clone()
    }

    /// Waits for the first load (the sandbox's book written, the store read).
    pub async fn ready(&self) {
        self.loaded
            .get_or_init(|| async {
                if let Err(e) = self.seed_local().await {
                    tracing::warn!(error = %e.message, "cannot write the sandbox's address book");
                }
                if let Err(e) = self.reload().await {
                    tracing::warn!(error = %e.message, "cannot load contacts");
                }
            })
            .await;
    }

    /// The merged book as of the last reload.
    pub fn book(&self) -> Arc<Book> {
        self.book.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rebuilds the merged book from the store.
    pub async fn reload(&self) -> Result<()> {
        let (records, groups) = self.store.call(|c| db::load(c)).await?;
        let book = Arc::new(Book::build(records, groups));
        *self.book.write().unwrap_or_else(|e| e.into_inner()) = book;
        Ok(())
    }

    /// How an account is named to a human: its first label ("work account"),
    /// else its address.
    pub fn account_name(&self, account_id: &str) -> String {
        match self.accounts.resolve(Some(account_id)) {
            Ok(a) if a.id == crate::accounts::SANDBOX => "sandbox account".to_owned(),
            Ok(a) => match a.labels.first() {
                Some(l) => format!("{l} account"),
                None => a.email,
            },
            Err(_) => account_id.to_owned(),
        }
    }

    pub fn forget(&self, account_id: &str) {
        self.per_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_id);
    }

    pub fn counters(&self) -> Vec<(String, u64)> {
        let s = &self.stats;
        let up = self.clients.upstream();
        vec![
            ("contacts_people".into(), self.book().people.len() as u64),
            ("contacts_syncs".into(), s.syncs.load(Ordering::Relaxed)),
            (
                "contacts_full_resyncs".into(),
                s.full_resyncs.load(Ordering::Relaxed),
            ),
            (
                "contacts_people_stored".into(),
                s.people_stored.load(Ordering::Relaxed),
            ),
            (
                "contacts_people_deleted".into(),
                s.people_deleted.load(Ordering::Relaxed),
            ),
            ("contacts_writes".into(), s.writes.load(Ordering::Relaxed)),
            (
                "people_api_requests".into(),
                up.requests.load(Ordering::Relaxed),
            ),
            (
                "people_api_retries".into(),
                up.retries.load(Ordering::Relaxed),
            ),
        ]
    }

    pub fn details(&self) -> Value {
        Value::Object(
            self.counters()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect(),
        )
    }
}
