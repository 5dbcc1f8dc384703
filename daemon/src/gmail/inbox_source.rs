//! Gmail's feed into the unified inbox. The first sync of an account takes
//! the profile's `historyId`, then lists `in:inbox` within the window
//! (`newer_than:<days>d`, at most `per_account` messages) and reads each new
//! one; later syncs read `users.history.list` from the saved `historyId`:
//! added messages in INBOX are read, `UNREAD` label changes set the read
//! state, deletions and INBOX removals drop rows. A `historyId` Gmail no
//! longer knows (404) costs one bounded resync of the window, never a loop.
//! Calls bypass the read cache (the index is the cache) and spend the
//! account's own quota through its limiter.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::render::{self, BodyChoice};
use super::{Format, Gmail, client};
use crate::accounts::{Accounts, Kind};
use crate::error::{Code, Result};
use crate::events::Event;
use crate::inbox::{Batch, MessageSource, NewMessage, Sink};
use crate::outbox::model::Channel;

/// History pages read in one sync before it settles for a resync.
const MAX_HISTORY_PAGES: usize = 20;

pub struct GmailSource {
    pub gmail: Arc<Gmail>,
    pub accounts: Arc<Accounts>,
}

#[async_trait::async_trait]
impl MessageSource for GmailSource {
    fn name(&self) -> &'static str {
        "gmail"
    }

    /// Google accounts that granted Gmail reading and are usable.
    fn accounts(&self) -> Vec<String> {
        self.accounts
            .list()
            .into_iter()
            .filter(|a| {
                a.kind == Kind::Google && a.tier.unwrap_or(0) >= 1 && a.unusable().is_none()
            })
            .map(|a| a.id)
            .collect()
    }

    fn wakes(&self, _event: &Event) -> Option<String> {
        None
    }

    fn polls(&self) -> bool {
        true
    }

    async fn sync(&self, account: &str, sink: &Sink) -> Result<()> {
        let start = sink
            .cursor(account)
            .await?
            .and_then(|c| c.parse::<u64>().ok());
        match start {
            None => self.full(account, sink).await,
            Some(start) => match self.history(account, start, sink).await {
                Err(e) if e.code == Code::NotFound => {
                    tracing::info!(
                        account,
                        "gmail history expired; resyncing the inbox window once"
                    );
                    self.full(account, sink).await
                }
                other => other,
            },
        }
    }
}

impl GmailSource {
    async fn call(&self, account: &str, call: crate::google::Call) -> Result<Value> {
        let acct = self.gmail.account(account)?;
        acct.client.call(&call).await
    }

    /// The window, from scratch; the place is the profile's historyId taken
    /// before listing, so nothing that arrives meanwhile is missed.
    async fn full(&self, account: &str, sink: &Sink) -> Result<()> {
        let profile = self.call(account, client::profile()).await?;
        let history_id = profile["historyId"].as_str().map(str::to_owned);
        let days = sink.config().days;
        let q = if days > 0 {
            format!("in:inbox newer_than:{days}d")
        } else {
            "in:inbox".to_owned()
        };
        let max = sink.config().per_account;
        let known = sink.known(account, Channel::Email).await?;
        let mut ids = Vec::new();
        let mut listed = HashSet::new();
        let mut page: Option<String> = None;
        loop {
            let want = (max - listed.len()).min(500) as u32;
            let r = self
                .call(account, client::list(&q, want, page.as_deref(), &[]))
                .await?;
            for m in r["messages"].as_array().into_iter().flatten() {
                if let Some(id) = m["id"].as_str() {
                    listed.insert(id.to_owned());
                    if !known.contains(id) {
                        ids.push(id.to_owned());
                    }
                }
            }
            page = r["nextPageToken"].as_str().map(str::to_owned);
            if page.is_none() || listed.len() >= max {
                break;
            }
        }
        let mut batch = self.read(account, &ids, sink).await?;
        batch.gone = known
            .into_iter()
            .filter(|id| !listed.contains(id))
            .map(|id| (Channel::Email, id))
            .collect();
        batch.cursor = history_id;
        sink.put(account, batch).await?;
        Ok(())
    }

    /// What changed since `start`.
    async fn history(&self, account: &str, start: u64, sink: &Sink) -> Result<()> {
        let mut added: Vec<String> = Vec::new();
        let mut batch = Batch::default();
        let mut latest = start;
        let mut page: Option<String> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let r = self
                .call(account, client::history(start, page.as_deref()))
                .await?;
            for rec in r["history"].as_array().into_iter().flatten() {
                for a in rec["messagesAdded"].as_array().into_iter().flatten() {
                    if let Some(id) = a["message"]["id"].as_str() {
                        added.push(id.to_owned());
                    }
                }
                for d in rec["messagesDeleted"].as_array().into_iter().flatten() {
                    if let Some(id) = d["message"]["id"].as_str() {
                        batch.gone.push((Channel::Email, id.to_owned()));
                    }
                }
                for (key, on) in [("labelsAdded", true), ("labelsRemoved", false)] {
                    for l in rec[key].as_array().into_iter().flatten() {
                        let Some(id) = l["message"]["id"].as_str() else {
                            continue;
                        };
                        let labels: Vec<&str> = l["labelIds"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        if labels.contains(&"UNREAD") {
                            batch.read_states.push((Channel::Email, id.to_owned(), on));
                        }
                        if labels.contains(&"INBOX") {
                            if on {
                                added.push(id.to_owned());
                            } else {
                                batch.gone.push((Channel::Email, id.to_owned()));
                            }
                        }
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
            // Too much happened for the history to be worth reading: resync.
            return self.full(account, sink).await;
        }
        let gone: HashSet<&str> = batch.gone.iter().map(|(_, id)| id.as_str()).collect();
        let known = sink.known(account, Channel::Email).await?;
        let mut seen = HashSet::new();
        let new: Vec<String> = added
            .into_iter()
            .filter(|id| {
                !gone.contains(id.as_str()) && !known.contains(id) && seen.insert(id.clone())
            })
            .collect();
        let read = self.read(account, &new, sink).await?;
        batch.messages = read.messages;
        batch.cursor = Some(latest.to_string());
        sink.put(account, batch).await?;
        Ok(())
    }

    /// Reads `ids` in full; those no longer in INBOX (or gone) are skipped.
    async fn read(&self, account: &str, ids: &[String], sink: &Sink) -> Result<Batch> {
        let max_chars = sink.config().max_text_chars;
        let mut batch = Batch::default();
        for id in ids {
            let msg = match self.call(account, client::message(id, Format::Full)).await {
                Ok(m) => m,
                Err(e) if e.code == Code::NotFound => continue,
                Err(e) => return Err(e),
            };
            let full = render::full(&msg, BodyChoice::Auto, 0, max_chars);
            let s = &full.summary;
            if !s
                .label_ids
                .as_ref()
                .is_some_and(|l| l.iter().any(|x| x == "INBOX"))
            {
                continue;
            }
            let header = |n: &str| s.headers.get(n).cloned().unwrap_or_default();
            let to: Vec<String> = header("To")
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            batch.messages.push(NewMessage {
                channel: Channel::Email,
                account_id: account.to_owned(),
                provider_id: id.clone(),
                thread_id: s.thread_id.clone(),
                from: header("From"),
                to,
                at_ms: s
                    .internal_date
                    .as_deref()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0),
                subject: header("Subject"),
                text: full.body_text.clone(),
                has_attachments: !full.attachments.is_empty(),
                unread: s.unread,
            });
        }
        Ok(batch)
    }
}
