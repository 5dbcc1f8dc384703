//! Keeping an account's cache true: what Gmail says changed elsewhere
//! (`users.history.list`), and what our own writes changed. Entries are
//! tagged `message:<id>`, `thread:<id>`, `draft:<id>` and `search`.

use std::time::Instant;

use serde_json::Value;

use super::{Account, Format, Gmail, client};
use crate::error::{Code, Error};

/// Where the account's history was last read.
#[derive(Default)]
pub(super) struct History {
    last_id: Option<u64>,
    checked: Option<Instant>,
}

impl Gmail {
    /// Asks `users.history.list` what changed since the last look (at most
    /// every `freshness_check`) and drops the cache entries it touched.
    pub(super) async fn fresh(&self, acct: &Account) -> Result<(), Error> {
        let mut h = acct.history.lock().await;
        let due = h
            .checked
            .is_none_or(|c| c.elapsed() >= self.config.freshness_check);
        if !due {
            return Ok(());
        }
        let Some(start) = h.last_id else {
            // First read of this account: a baseline to compare with later.
            let p = acct.client.call(&client::profile()).await?;
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
            let r = match acct
                .client
                .call(&client::history(start, page.as_deref()))
                .await
            {
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

    /// After one of our writes: drop what it changed, and every search.
    pub(super) fn wrote(&self, acct: &Account, mut tags: Vec<String>) {
        tags.push("search".into());
        acct.cache.invalidate(&tags);
    }

    /// Adds the thread tags of cached messages among `tags`.
    pub(super) fn with_threads(&self, acct: &Account, mut tags: Vec<String>) -> Vec<String> {
        let ids: Vec<String> = tags
            .iter()
            .filter_map(|t| t.strip_prefix("message:").map(str::to_owned))
            .collect();
        for id in ids {
            for f in [Format::Metadata, Format::Full] {
                if let Some(hit) = acct.cache.peek(&message_key(&id, f))
                    && let Some(t) = hit.value["threadId"].as_str()
                {
                    tags.push(format!("thread:{t}"));
                }
            }
        }
        tags
    }
}

/// The cache key of a message read in `format`.
pub(super) fn message_key(id: &str, format: Format) -> String {
    match format {
        Format::Metadata => format!(
            "messages.get|{id}|metadata|{}",
            super::render::TRIAGE_HEADERS.join(",")
        ),
        Format::Full => format!("messages.get|{id}|full"),
    }
}

/// Tags of a send's answer: the draft and the thread.
pub(super) fn sent_tags(r: &Result<Value, Error>, draft_id: &str) -> Vec<String> {
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
pub(super) fn message_tags(v: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    if let Some(id) = v["id"].as_str() {
        tags.push(format!("message:{id}"));
    }
    if let Some(t) = v["threadId"].as_str() {
        tags.push(format!("thread:{t}"));
    }
    tags
}

/// Tags of a thread answer: the thread and its messages.
pub(super) fn thread_tags(v: &Value) -> Vec<String> {
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
