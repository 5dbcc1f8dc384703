//! Google Chat: posting through incoming webhooks (accounts of kind
//! `chat_webhook`) and through the Chat API (Google accounts with the
//! `chat` module), reading spaces and messages, following spaces.
//!
//! - `config`: `[chat]`.
//! - `client`: the Chat API's calls for the shared Google client.
//! - `webhook`: webhook URLs (checked, redacted, in the vault) and posting.
//! - `rate`: 60 writes a minute per space, shared by webhooks and the API.
//! - `errors`: what users hit, as the envelope's codes with what to do.
//! - `transport`: the outbox transports of both account kinds.
//! - `accounts`: adding a webhook account.
//! - `service`, `tools`, `api`: reads and sends for every frontend.
//! - `follow`: polling followed spaces into the database.
//! - `provider`: the registration.

pub mod accounts;
pub mod api;
pub mod client;
pub mod config;
pub mod errors;
pub mod follow;
pub mod inbox_source;
pub mod provider;
pub mod rate;
pub mod service;
pub mod tools;
pub mod transport;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

pub use self::config::ChatConfig;
use crate::accounts::Accounts;
use crate::error::{Error, Result};
use crate::google::{AccessTokens, ApiClients, Call, GoogleClient, RetryPolicy};
use crate::store::Store;
use crate::vault::Vault;

/// Counters for `commsctl status`.
#[derive(Debug, Default)]
pub struct Stats {
    pub webhook_posts: AtomicU64,
    pub api_posts: AtomicU64,
    /// Time sends waited for their space's write window, in milliseconds.
    pub space_wait_ms: AtomicU64,
    /// `spaces.messages.list` requests spent following spaces.
    pub follow_requests: AtomicU64,
    /// New messages stored from followed spaces.
    pub follow_stored: AtomicU64,
}

/// What every Chat path shares: the API clients (one per account, each
/// with its own limiter), the webhook HTTP client, the per-space limits.
pub struct Chat {
    clients: ApiClients,
    per_account: Mutex<HashMap<String, Arc<GoogleClient>>>,
    /// `[chat] create_direct_messages`.
    pub create_direct_messages: bool,
    /// Spaces' display names by (account, space), for previews.
    names: Mutex<HashMap<(String, String), String>>,
    pub limits: rate::SpaceLimits,
    http: reqwest::Client,
    retry: RetryPolicy,
    endpoint: String,
    vault: Vault,
    pub accounts: Arc<Accounts>,
    pub store: Store,
    pub stats: Stats,
}

impl Chat {
    pub fn new(
        endpoint: &str,
        tokens: Arc<dyn AccessTokens>,
        config: &ChatConfig,
        vault: Vault,
        accounts: Arc<Accounts>,
        store: Store,
    ) -> Result<Chat> {
        let retry = RetryPolicy {
            max_attempts: config.max_attempts.max(1),
            base: config.retry_base,
            cap: Duration::from_secs(30),
        };
        let clients = ApiClients::new(
            client::api(endpoint),
            tokens,
            config.calls_per_second,
            retry.clone(),
        )?
        .with_timeout(config.request_timeout)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(config.request_timeout))
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal("cannot build the Chat HTTP client", e))?;
        Ok(Chat {
            clients,
            per_account: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
            create_direct_messages: config.create_direct_messages,
            limits: rate::SpaceLimits::new(config.space_write_limit, config.space_write_window),
            http,
            retry,
            endpoint: endpoint.to_owned(),
            vault,
            accounts,
            store,
            stats: Stats::default(),
        })
    }

    fn client(&self, account_id: &str) -> Arc<GoogleClient> {
        let mut m = self.per_account.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(account_id.to_owned())
            .or_insert_with(|| Arc::new(self.clients.client(account_id)))
            .clone()
    }

    /// One Chat API call for the Google account `account_id` (resolved and
    /// usable), its failure mapped to what the user can do about it.
    pub async fn call(&self, account_id: &str, email: &str, call: &Call) -> Result<Value> {
        errors::workspace_only(account_id, email)?;
        self.client(account_id)
            .call(call)
            .await
            .map_err(|e| errors::map(e, account_id, email))
    }

    /// The webhook URL of a `chat_webhook` account, from the vault.
    /// A space's display name (`spaces.get`), remembered once read; `None`
    /// when Google does not answer it, within a few seconds.
    pub async fn space_name(&self, account_id: &str, email: &str, space: &str) -> Option<String> {
        let key = (account_id.to_owned(), space.to_owned());
        if let Some(name) = self
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some(name.clone());
        }
        let get = client::get_space(space);
        let space_json =
            tokio::time::timeout(Duration::from_secs(5), self.call(account_id, email, &get))
                .await
                .ok()?
                .ok()?;
        let name = match space_json["spaceType"].as_str() {
            Some("DIRECT_MESSAGE") => "Direct message".to_owned(),
            _ => space_json["displayName"].as_str()?.to_owned(),
        };
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, name.clone());
        Some(name)
    }

    pub async fn webhook(&self, account_id: &str) -> Result<webhook::WebhookUrl> {
        let secret = self
            .vault
            .get(&webhook::vault_entry(account_id))
            .await?
            .ok_or_else(|| {
                Error::new(
                    crate::error::Code::FailedPrecondition,
                    format!("webhook account {account_id} has no URL in the vault; add it again (commsctl accounts add chat-webhook)"),
                )
            })?;
        webhook::WebhookUrl::parse(secret.expose(), &self.endpoint)
    }

    /// Remembers a message commsd posted, so following its space does not
    /// report it as new. A failure only costs a duplicate report.
    pub async fn record_posted(&self, name: &str) {
        if name.is_empty() {
            return;
        }
        let name = name.to_owned();
        let done = self
            .store
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO chat_posted (name, posted_at_ms) VALUES (?1, ?2)",
                    rusqlite::params![name, crate::events::now_unix_ms()],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "cannot record a posted Chat message");
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
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
            (
                "chat_webhook_posts".into(),
                s.webhook_posts.load(Ordering::Relaxed),
            ),
            ("chat_api_posts".into(), s.api_posts.load(Ordering::Relaxed)),
            (
                "chat_space_wait_ms".into(),
                s.space_wait_ms.load(Ordering::Relaxed),
            ),
            (
                "chat_follow_requests".into(),
                s.follow_requests.load(Ordering::Relaxed),
            ),
            (
                "chat_follow_stored".into(),
                s.follow_stored.load(Ordering::Relaxed),
            ),
            (
                "chat_api_requests".into(),
                up.requests.load(Ordering::Relaxed),
            ),
            (
                "chat_api_retries".into(),
                up.retries.load(Ordering::Relaxed),
            ),
        ]
    }

    pub fn details(&self) -> Value {
        let c: serde_json::Map<String, Value> = self
            .counters()
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect();
        Value::Object(c)
    }
}
