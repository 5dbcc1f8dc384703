//! Gmail through its REST API (issue [gmail]; design.md §5, §7, §11).
//!
//! [`Gmail`] is the one service every frontend uses: reads go through a
//! per-account cache (TTL per kind, tags, coalescing, freshness from
//! `users.history.list`), every call through the account's quota-unit rate
//! limiter and retry policy ([`client`]), several reads through the batch
//! endpoint. Nothing is shared between accounts: each has its own cache,
//! limiter and batches. Access tokens come from [`AccessTokens`].

pub mod cache;
pub mod client;
pub mod compose;
pub mod limiter;
pub mod render;
pub mod provider;
pub mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use self::cache::{Cache, Counters, Hit};
use self::client::{Call, Client, RetryPolicy, Upstream, encode};
use self::limiter::Limiter;
use crate::error::{Code, Error};
use crate::fsprivate::{safe_filename, write_private_file};
use crate::google::{AccessTokens, Need};

/// `[gmail]` in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GmailConfig {
    /// Bodies longer than this many characters are clipped (`truncated: true`, page on with `offset`).
    pub body_limit_chars: usize,
    /// Per-account budget in Gmail quota units per second (Google: 250).
    pub units_per_second: u32,
    /// Attempts per call on 429/5xx (including the first).
    pub max_attempts: u32,
    #[serde(with = "humantime_serde_compat")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub search_ttl: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub metadata_ttl: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub body_ttl: Duration,
    /// How often a cached read first asks `users.history.list` what changed.
    #[serde(with = "humantime_serde_compat")]
    pub freshness_check: Duration,
}

impl Default for GmailConfig {
    fn default() -> Self {
        GmailConfig {
            body_limit_chars: 20_000,
            units_per_second: limiter::DEFAULT_UNITS_PER_SECOND,
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            search_ttl: Duration::from_secs(30),
            metadata_ttl: Duration::from_secs(300),
            body_ttl: Duration::from_secs(180),
            freshness_check: Duration::from_secs(10),
        }
    }
}

/// Durations as humantime strings ("30s", "5m").
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// What is cached, with its TTL.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Search,
    Metadata,
    Body,
    Settings,
}

/// Message formats a read may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    fn as_str(self) -> &'static str {
        match self {
            Format::Metadata => "metadata",
            Format::Full => "full",
        }
    }
}

/// The state of one account: its client (limiter inside), cache, history mark.
struct Account {
    client: Client,
    cache: Cache,
    history: tokio::sync::Mutex<History>,
}

#[derive(Default)]
struct History {
    last_id: Option<u64>,
    checked: Option<Instant>,
}

/// The Gmail service.
pub struct Gmail {
    http: reqwest::Client,
    base: String,
    tokens: Arc<dyn AccessTokens>,
    config: GmailConfig,
    data_dir: PathBuf,
    accounts: Mutex<HashMap<String, Arc<Account>>>,
    counters: Arc<Counters>,
    upstream: Arc<Upstream>,
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
    /// `base` is `[google.endpoints] gmail` (ends with `/`).
    pub fn new(
        base: &str,
        tokens: Arc<dyn AccessTokens>,
        config: GmailConfig,
        data_dir: &Path,
    ) -> Result<Gmail, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| Error::internal("cannot build the Gmail HTTP client", e))?;
        let base = if base.ends_with('/') {
            base.to_owned()
        } else {
            format!("{base}/")
        };
        Ok(Gmail {
            http,
            base,
            tokens,
            config,
            data_dir: data_dir.to_owned(),
            accounts: Mutex::new(HashMap::new()),
            counters: Arc::new(Counters::default()),
            upstream: Arc::new(Upstream::default()),
        })
    }

    pub fn config(&self) -> &GmailConfig {
        &self.config
    }

    fn account(&self, name: &str) -> Result<Arc<Account>, Error> {
        if name.is_empty() {
            return Err(Error::invalid("account", "name the Google account to use"));
        }
        // Keyed by the stable id, whether the caller named the id or the address.
        let id = self.tokens.account_id(name)?;
        let id = id.as_str();
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(accounts
            .entry(id.to_owned())
            .or_insert_with(|| {
                Arc::new(Account {
                    client: Client {
                        http: self.http.clone(),
                        base: self.base.clone(),
                        tokens: self.tokens.clone(),
                        account: id.to_owned(),
                        limiter: Limiter::new(self.config.units_per_second),
                        retry: RetryPolicy {
                            max_attempts: self.config.max_attempts.max(1),
                            base: self.config.retry_base,
                            cap: Duration::from_secs(30),
                        },
                        upstream: self.upstream.clone(),
                    },
                    cache: Cache::new(self.counters.clone()),
                    history: tokio::sync::Mutex::new(History::default()),
                })
            })
            .clone())
    }

    fn ttl(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Search => self.config.search_ttl,
            Kind::Metadata => self.config.metadata_ttl,
            Kind::Body => self.config.body_ttl,
            Kind::Settings => Duration::from_secs(600),
        }
    }

    /// Asks `users.history.list` what changed since the last look (at most
    /// every `freshness_check`) and drops the cache entries it touched.
    async fn fresh(&self, acct: &Account) -> Result<(), Error> {
        let mut h = acct.history.lock().await;
        let due = h
            .checked
            .is_none_or(|c| c.elapsed() >= self.config.freshness_check);
        if !due {
            return Ok(());
        }
        let Some(start) = h.last_id else {
            // First read of this account: a baseline to compare with later.
            let p = acct
                .client
                .call(&Call::get("getProfile", "profile".into(), Need::GmailRead))
                .await?;
            h.last_id = p["historyId"].as_str().and_then(|s| s.parse().ok());
            h.checked = Some(Instant::now());
            return Ok(());
        };
        if acct.cache.is_empty() {
            h.checked = Some(Instant::now());
            return Ok(());
        }
        let mut page: Option<String> = None;
        let mut tags: Vec<String> = Vec::new();
        let mut latest = start;
        for _ in 0..5 {
            let mut call = Call::get("history.list", "history".into(), Need::GmailRead)
                .query("startHistoryId", start.to_string())
                .query("maxResults", "500");
            if let Some(p) = &page {
                call = call.query("pageToken", p.clone());
            }
            let r = match acct.client.call(&call).await {
                Ok(r) => r,
                Err(e) if e.code == Code::NotFound => {
                    // Too old for Gmail to say what changed: start over.
                    acct.cache.clear();
                    h.last_id = None;
                    h.checked = None;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            for rec in r["history"].as_array().into_iter().flatten() {
                for m in rec["messages"].as_array().into_iter().flatten() {
                    if let Some(id) = m["id"].as_str() {
                        tags.push(format!("message:{id}"));
                    }
                    if let Some(t) = m["threadId"].as_str() {
                        tags.push(format!("thread:{t}"));
                    }
                }
            }
            if let Some(id) = r["historyId"].as_str().and_then(|s| s.parse().ok()) {
                latest = latest.max(id);
            }
            page = r["nextPageToken"].as_str().map(str::to_owned);
            if page.is_none() {
                break;
            }
        }
        if page.is_some() {
            acct.cache.clear();
        } else if !tags.is_empty() {
            tags.push("search".into());
            acct.cache.invalidate(&tags);
        }
        h.last_id = Some(latest);
        h.checked = Some(Instant::now());
        Ok(())
    }

    /// After one of our writes: drop what it changed.
    fn wrote(&self, acct: &Account, tags: Vec<String>) {
        let mut tags = tags;
        tags.push("search".into());
        acct.cache.invalidate(&tags);
    }

    async fn cached(
        &self,
        acct: &Account,
        key: String,
        kind: Kind,
        call: Call,
    ) -> Result<Read, Error> {
        let hit = acct
            .cache
            .get_or_fetch(&key, self.ttl(kind), message_tags, || {
                acct.client.call(&call)
            })
            .await?;
        Ok(hit.into())
    }

    // ------------------------------------------------------------ reads

    /// The account's profile (address, totals); cached.
    pub async fn profile(&self, account: &str) -> Result<Read, Error> {
        let acct = self.account(account)?;
        self.cached(
            &acct,
            "profile".into(),
            Kind::Settings,
            Call::get("getProfile", "profile".into(), Need::GmailRead),
        )
        .await
    }

    /// `settings.sendAs.list`; cached.
    pub async fn send_as(&self, account: &str) -> Result<Vec<Value>, Error> {
        let acct = self.account(account)?;
        let r = self
            .cached(
                &acct,
                "sendAs".into(),
                Kind::Settings,
                Call::get(
                    "settings.sendAs.list",
                    "settings/sendAs".into(),
                    Need::GmailRead,
                ),
            )
            .await?;
        Ok(r.value["sendAs"].as_array().cloned().unwrap_or_default())
    }

    /// `messages.list` with Gmail's query syntax; cached for `search_ttl`.
    pub async fn list(
        &self,
        account: &str,
        q: &str,
        max: u32,
        page_token: Option<&str>,
        label_ids: &[String],
    ) -> Result<Read, Error> {
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let mut call = Call::get("messages.list", "messages".into(), Need::GmailRead)
            .query("maxResults", max.to_string());
        if !q.trim().is_empty() {
            call = call.query("q", q.trim());
        }
        if let Some(p) = page_token.filter(|p| !p.is_empty()) {
            call = call.query("pageToken", p);
        }
        let mut labels = label_ids.to_vec();
        labels.sort();
        for l in &labels {
            call = call.query("labelIds", l.clone());
        }
        let key = format!(
            "messages.list|q={}|max={max}|page={}|labels={}",
            normalize_query(q),
            page_token.unwrap_or(""),
            labels.join(",")
        );
        let hit = acct
            .cache
            .get_or_fetch(
                &key,
                self.ttl(Kind::Search),
                |_| vec!["search".to_owned()],
                || acct.client.call(&call),
            )
            .await?;
        Ok(hit.into())
    }

    fn message_key(id: &str, format: Format) -> String {
        match format {
            Format::Metadata => format!(
                "messages.get|{id}|metadata|{}",
                render::TRIAGE_HEADERS.join(",")
            ),
            Format::Full => format!("messages.get|{id}|full"),
        }
    }

    fn message_call(id: &str, format: Format) -> Call {
        let mut c = Call::get(
            "messages.get",
            format!("messages/{}", encode(id)),
            Need::GmailRead,
        )
        .query("format", format.as_str());
        if format == Format::Metadata {
            for h in render::TRIAGE_HEADERS {
                c = c.query("metadataHeaders", h);
            }
        }
        c
    }

    /// One message. A cached full message also answers a metadata read.
    pub async fn get_message(
        &self,
        account: &str,
        id: &str,
        format: Format,
    ) -> Result<Read, Error> {
        check_id("id", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        if format == Format::Metadata
            && let Some(hit) = acct.cache.peek(&Self::message_key(id, Format::Full))
        {
            return Ok(hit.into());
        }
        let kind = if format == Format::Full {
            Kind::Body
        } else {
            Kind::Metadata
        };
        self.cached(
            &acct,
            Self::message_key(id, format),
            kind,
            Self::message_call(id, format),
        )
        .await
    }

    /// Several messages: cached ones from the cache, the rest in batches of
    /// up to 50. Results in the order of `ids`, each its own success or error.
    pub async fn get_messages(
        &self,
        account: &str,
        ids: &[String],
        format: Format,
    ) -> Result<Vec<Result<Read, Error>>, Error> {
        for (i, id) in ids.iter().enumerate() {
            check_id(&format!("ids[{i}]"), id)?;
        }
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let mut out: Vec<Option<Result<Read, Error>>> = vec![None; ids.len()];
        let mut missing: Vec<usize> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let full = (format == Format::Metadata)
                .then(|| acct.cache.peek(&Self::message_key(id, Format::Full)))
                .flatten();
            match full.or_else(|| acct.cache.peek(&Self::message_key(id, format))) {
                Some(hit) => out[i] = Some(Ok(hit.into())),
                None => missing.push(i),
            }
        }
        // Identical ids fetched once.
        let mut unique: Vec<String> = Vec::new();
        for &i in &missing {
            if !unique.contains(&ids[i]) {
                unique.push(ids[i].clone());
            }
        }
        if !unique.is_empty() {
            let calls: Vec<Call> = unique
                .iter()
                .map(|id| Self::message_call(id, format))
                .collect();
            let results = acct.client.batch(&calls).await;
            let kind = if format == Format::Full {
                Kind::Body
            } else {
                Kind::Metadata
            };
            let ttl = self.ttl(kind);
            let mut by_id: HashMap<String, Result<Read, Error>> = HashMap::new();
            for (id, r) in unique.iter().zip(results) {
                let r = r.map(|v| {
                    acct.cache.put(
                        &Self::message_key(id, format),
                        ttl,
                        message_tags(&v),
                        v.clone(),
                    );
                    Read {
                        value: v,
                        cache_hit: false,
                        ttl_remaining_ms: ttl.as_millis() as u64,
                    }
                });
                by_id.insert(id.clone(), r);
            }
            for &i in &missing {
                out[i] = by_id.get(&ids[i]).cloned();
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::internal("batch", "a message got no result"))))
            .collect())
    }

    /// A thread with its messages (metadata or full).
    pub async fn get_thread(&self, account: &str, id: &str, format: Format) -> Result<Read, Error> {
        check_id("id", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let mut call = Call::get(
            "threads.get",
            format!("threads/{}", encode(id)),
            Need::GmailRead,
        )
        .query("format", format.as_str());
        if format == Format::Metadata {
            for h in render::TRIAGE_HEADERS {
                call = call.query("metadataHeaders", h);
            }
        }
        let key = format!("threads.get|{id}|{}", format.as_str());
        let kind = if format == Format::Full {
            Kind::Body
        } else {
            Kind::Metadata
        };
        let hit = acct
            .cache
            .get_or_fetch(&key, self.ttl(kind), thread_tags, || {
                acct.client.call(&call)
            })
            .await?;
        Ok(hit.into())
    }

    /// Headers needed to reply to message `id` (References, Reply-To, ...).
    pub async fn reply_headers(&self, account: &str, id: &str) -> Result<Value, Error> {
        check_id("message_id", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        // A cached full message has every header; else one metadata call.
        if let Some(hit) = acct.cache.peek(&Self::message_key(id, Format::Full)) {
            return Ok((*hit.value).clone());
        }
        let mut call = Call::get(
            "messages.get",
            format!("messages/{}", encode(id)),
            Need::GmailRead,
        )
        .query("format", "metadata");
        for h in compose::REPLY_HEADERS {
            call = call.query("metadataHeaders", h);
        }
        let key = format!(
            "messages.get|{id}|metadata|{}",
            compose::REPLY_HEADERS.join(",")
        );
        Ok(self.cached(&acct, key, Kind::Metadata, call).await?.value)
    }

    /// Downloads an attachment into `<data dir>/gmail/attachments/...` (0600
    /// in 0700 directories) and describes it. Never returns the bytes.
    pub async fn save_attachment(
        &self,
        account: &str,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<Value, Error> {
        check_id("message_id", message_id)?;
        if attachment_id.is_empty() {
            return Err(Error::invalid(
                "attachment_id",
                "expected the attachmentId from gmail_get_message",
            ));
        }
        let msg = self
            .get_message(account, message_id, Format::Full)
            .await?
            .value;
        let listed = render::attachments(&msg);
        let meta = listed
            .iter()
            .find(|a| a["attachmentId"] == attachment_id || a["partId"] == attachment_id)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    Code::NotFound,
                    format!("message {message_id} has no attachment {attachment_id}"),
                )
                .with_details(json!({ "field": "attachment_id", "attachments": listed }))
            })?;
        let real_id = meta["attachmentId"]
            .as_str()
            .unwrap_or(attachment_id)
            .to_owned();
        let acct = self.account(account)?;
        let call = Call::get(
            "messages.attachments.get",
            format!(
                "messages/{}/attachments/{}",
                encode(message_id),
                encode(&real_id)
            ),
            Need::GmailRead,
        );
        let r = acct.client.call(&call).await?;
        let bytes = r["data"]
            .as_str()
            .and_then(render::decode_data)
            .ok_or_else(|| {
                Error::new(
                    Code::UpstreamError,
                    "Gmail returned an attachment without data",
                )
            })?;
        let filename = safe_filename(meta["filename"].as_str().unwrap_or("attachment"));
        let dir = self
            .data_dir
            .join("gmail")
            .join("attachments")
            .join(safe_filename(&acct.client.account))
            .join(safe_filename(message_id));
        let len = bytes.len();
        let name = filename.clone();
        let path = tokio::task::spawn_blocking(move || write_private_file(&dir, &name, &bytes))
            .await
            .map_err(|e| Error::internal("attachment task failed", e))?
            .map_err(|e| Error::internal("cannot save the attachment", e))?;
        Ok(json!({
            "path": path.display().to_string(),
            "filename": filename,
            "size": len,
            "mimeType": meta["mimeType"],
            "messageId": message_id,
        }))
    }

    // ------------------------------------------------------------ writes

    /// Adds and removes labels on messages (one call, or batchModify for several).
    pub async fn modify(
        &self,
        account: &str,
        ids: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), Error> {
        if ids.is_empty() {
            return Err(Error::invalid("ids", "give at least one message id"));
        }
        if ids.len() > 1000 {
            return Err(Error::invalid("ids", "at most 1000 messages at once"));
        }
        for (i, id) in ids.iter().enumerate() {
            check_id(&format!("ids[{i}]"), id)?;
        }
        if add.is_empty() && remove.is_empty() {
            return Err(Error::invalid("add", "give labels to add or to remove"));
        }
        let acct = self.account(account)?;
        let mut body = json!({});
        if !add.is_empty() {
            body["addLabelIds"] = json!(add);
        }
        if !remove.is_empty() {
            body["removeLabelIds"] = json!(remove);
        }
        let mut tags: Vec<String> = ids.iter().map(|id| format!("message:{id}")).collect();
        if ids.len() == 1 {
            let r = acct
                .client
                .call(&Call::post(
                    "messages.modify",
                    format!("messages/{}/modify", encode(&ids[0])),
                    body,
                    Need::GmailModify,
                ))
                .await;
            // Invalidate even on failure: the change may have happened.
            if let Ok(v) = &r
                && let Some(t) = v["threadId"].as_str()
            {
                tags.push(format!("thread:{t}"));
            }
            self.wrote(&acct, self.with_threads(&acct, tags));
            r?;
        } else {
            body["ids"] = json!(ids);
            let r = acct
                .client
                .call(&Call::post(
                    "messages.batchModify",
                    "messages/batchModify".into(),
                    body,
                    Need::GmailModify,
                ))
                .await;
            self.wrote(&acct, self.with_threads(&acct, tags));
            r?;
        }
        Ok(())
    }

    /// Adds the thread tags of cached messages among `tags`.
    fn with_threads(&self, acct: &Account, mut tags: Vec<String>) -> Vec<String> {
        let ids: Vec<String> = tags
            .iter()
            .filter_map(|t| t.strip_prefix("message:").map(str::to_owned))
            .collect();
        for id in ids {
            for f in [Format::Metadata, Format::Full] {
                if let Some(hit) = acct.cache.peek(&Self::message_key(&id, f))
                    && let Some(t) = hit.value["threadId"].as_str()
                {
                    tags.push(format!("thread:{t}"));
                }
            }
        }
        tags
    }

    /// Creates (`draft_id` None) or replaces a draft from a raw RFC 822 message.
    pub async fn put_draft(
        &self,
        account: &str,
        draft_id: Option<&str>,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<Value, Error> {
        use base64::Engine as _;
        let acct = self.account(account)?;
        let mut message = json!({ "raw": base64::engine::general_purpose::URL_SAFE.encode(raw) });
        if let Some(t) = thread_id.filter(|t| !t.is_empty()) {
            message["threadId"] = json!(t);
        }
        let r = match draft_id {
            None => {
                acct.client
                    .call(&Call::post(
                        "drafts.create",
                        "drafts".into(),
                        json!({ "message": message }),
                        Need::GmailCompose,
                    ))
                    .await
            }
            Some(id) => {
                check_id("draft_id", id)?;
                let mut call = Call::post(
                    "drafts.update",
                    format!("drafts/{}", encode(id)),
                    json!({ "id": id, "message": message }),
                    Need::GmailCompose,
                );
                call.http = reqwest::Method::PUT;
                acct.client.call(&call).await
            }
        }?;
        let mut tags = vec![format!("draft:{}", r["id"].as_str().unwrap_or_default())];
        if let Some(t) = r["message"]["threadId"].as_str() {
            tags.push(format!("thread:{t}"));
        }
        self.wrote(&acct, tags);
        Ok(r)
    }

    /// A draft with its raw message, never cached (the send gate compares it).
    pub async fn draft_raw(
        &self,
        account: &str,
        draft_id: &str,
    ) -> Result<(Vec<u8>, Value), Error> {
        check_id("draft_id", draft_id)?;
        let acct = self.account(account)?;
        let r = acct
            .client
            .call(
                &Call::get(
                    "drafts.get",
                    format!("drafts/{}", encode(draft_id)),
                    Need::GmailCompose,
                )
                .query("format", "raw"),
            )
            .await?;
        let raw = r["message"]["raw"]
            .as_str()
            .and_then(render::decode_data)
            .ok_or_else(|| {
                Error::new(
                    Code::UpstreamError,
                    "Gmail returned a draft without its raw message",
                )
            })?;
        Ok((raw, r))
    }

    /// Sends a draft (`drafts.send`): Gmail's message id and thread id.
    pub async fn send_draft(&self, account: &str, draft_id: &str) -> Result<Value, Error> {
        check_id("draft_id", draft_id)?;
        let acct = self.account(account)?;
        let r = acct
            .client
            .call(
                &Call::post(
                    "drafts.send",
                    "drafts/send".into(),
                    json!({ "id": draft_id }),
                    Need::GmailSend,
                )
                .once(),
            )
            .await;
        self.wrote(&acct, sent_tags(&r, draft_id));
        r
    }

    /// Sends a raw message (`messages.send`).
    pub async fn send_raw(
        &self,
        account: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<Value, Error> {
        use base64::Engine as _;
        let acct = self.account(account)?;
        let mut body = json!({ "raw": base64::engine::general_purpose::URL_SAFE.encode(raw) });
        if let Some(t) = thread_id.filter(|t| !t.is_empty()) {
            body["threadId"] = json!(t);
        }
        let r = acct
            .client
            .call(
                &Call::post(
                    "messages.send",
                    "messages/send".into(),
                    body,
                    Need::GmailSend,
                )
                .once(),
            )
            .await;
        self.wrote(&acct, sent_tags(&r, ""));
        r
    }

    // ------------------------------------------------------------ stats

    /// Cache and quota counters, for status and `commsd://cache/stats`.
    pub fn stats(&self) -> Value {
        let c = &self.counters;
        let u = &self.upstream;
        let accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries: usize = accounts.values().map(|a| a.cache.len()).sum();
        let hits = c.hits.load(Ordering::Relaxed);
        let coalesced = c.coalesced.load(Ordering::Relaxed);
        json!({
            "accounts": accounts.len(),
            "entries": entries,
            "hits": hits,
            "misses": c.misses.load(Ordering::Relaxed),
            "coalesced": coalesced,
            "invalidations": c.invalidations.load(Ordering::Relaxed),
            "upstream_requests": u.requests.load(Ordering::Relaxed),
            "upstream_calls": u.calls.load(Ordering::Relaxed),
            "quota_units": u.quota_units.load(Ordering::Relaxed),
            "retries": u.retries.load(Ordering::Relaxed),
            "batches": u.batches.load(Ordering::Relaxed),
            "limiter_wait_ms": u.limiter_wait_ms.load(Ordering::Relaxed),
            "requests_saved": hits + coalesced,
        })
    }

    /// The counters as flat numbers for `commsctl status`.
    pub fn status_counts(&self) -> Vec<(String, u64)> {
        let s = self.stats();
        [
            ("gmail_cache_hits", "hits"),
            ("gmail_cache_misses", "misses"),
            ("gmail_cache_entries", "entries"),
            ("gmail_upstream_requests", "upstream_requests"),
            ("gmail_quota_units", "quota_units"),
            ("gmail_requests_saved", "requests_saved"),
        ]
        .iter()
        .map(|(name, k)| ((*name).to_owned(), s[*k].as_u64().unwrap_or(0)))
        .collect()
    }
}

/// A removed account leaves nothing behind: its cache, limiter and history
/// mark, and the attachments saved for it.
impl crate::accounts::service::AccountData for Gmail {
    fn forget(&self, account_id: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(account_id);
        let dir = self
            .data_dir
            .join("gmail")
            .join("attachments")
            .join(safe_filename(account_id));
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, account = %account_id, "cannot delete saved Gmail attachments");
        }
    }
}

fn sent_tags(r: &Result<Value, Error>, draft_id: &str) -> Vec<String> {
    let mut tags = Vec::new();
    if !draft_id.is_empty() {
        tags.push(format!("draft:{draft_id}"));
    }
    if let Ok(v) = r
        && let Some(t) = v["threadId"].as_str()
    {
        tags.push(format!("thread:{t}"));
    }
    tags
}

/// Tags of a message answer: the message and its thread.
fn message_tags(v: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(id) = v["id"].as_str() {
        tags.push(format!("message:{id}"));
    }
    if let Some(t) = v["threadId"].as_str() {
        tags.push(format!("thread:{t}"));
    }
    tags
}

fn thread_tags(v: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(id) = v["id"].as_str() {
        tags.push(format!("thread:{id}"));
    }
    for m in v["messages"].as_array().into_iter().flatten() {
        if let Some(id) = m["id"].as_str() {
            tags.push(format!("message:{id}"));
        }
    }
    tags
}

/// Whitespace runs collapsed: `from:a  is:unread` and `from:a is:unread` share an entry.
fn normalize_query(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Gmail ids are short and URL-safe; anything else is refused before a call.
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
