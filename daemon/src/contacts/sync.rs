//! Sync of one account's sources into the store. Each page is stored in one
//! transaction with the run's progress (the token it started from and the
//! next page), so a crash mid-sync resumes at the page it stopped before;
//! the sync token is saved only with the last page. A full run (no token)
//! ends by deleting the rows it did not see; an incremental run removes
//! people Google reports with `metadata.deleted`. An expired token (400
//! `EXPIRED_SYNC_TOKEN`) starts exactly one full run, never a loop.
//! The directory (Workspace, optional) never fails the whole sync: a
//! personal account refuses it, and the other sources stand. Each stored
//! page is reported to an optional [`ProgressSink`] (`commsctl contacts
//! sync` shows it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::record::{Fields, Record, Source};
use super::{Contacts, client, db};
use crate::accounts::{Account, Kind};
use crate::error::{Error, Result};
use crate::events::now_unix_ms;

/// What a run of one source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceReport {
    pub requests: u64,
    /// Pages stored.
    pub pages: u32,
    pub stored: u64,
    pub deleted: u64,
    /// The run was a full one (no token, or the token had expired).
    pub full: bool,
    pub resynced: bool,
    /// The run went on from an interrupted one's stored page.
    pub resumed: bool,
}

/// One page of one source stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub account: String,
    pub source: Source,
    /// Pages stored by this run of the source so far (1-based).
    pub page: u32,
    /// People stored and deleted by this run of the source so far.
    pub stored: u64,
    pub deleted: u64,
    /// How many the source holds, when Google says (full listings).
    pub total: Option<u64>,
    pub resumed: bool,
}

/// Where progress goes (`None`: nowhere; the interval's syncs).
pub type ProgressSink = Option<tokio::sync::mpsc::UnboundedSender<Progress>>;

/// The Google accounts that sync contacts: usable, with the `contacts` module.
pub fn syncing(accounts: &[Account]) -> Vec<Account> {
    accounts
        .iter()
        .filter(|a| {
            a.kind == Kind::Google && a.modules.contains(&"contacts") && a.unusable().is_none()
        })
        .cloned()
        .collect()
}

fn expired(e: &Error) -> bool {
    e.details["reason"] == "EXPIRED_SYNC_TOKEN" || e.message.contains("Sync token is expired")
}

/// A 400 for a page token of an interrupted run (pages do not outlive long).
fn bad_request(e: &Error) -> bool {
    e.details["status"] == 400
}

fn list_call(
    source: Source,
    sync: Option<&str>,
    page: Option<&str>,
    size: u32,
) -> crate::google::Call {
    match source {
        Source::Saved => client::connections(sync, page, size),
        Source::Other => client::other_contacts(sync, page, size),
        _ => client::directory(sync, page, size),
    }
}

fn items_key(source: Source) -> &'static str {
    match source {
        Source::Saved => "connections",
        Source::Other => "otherContacts",
        _ => "people",
    }
}

impl Contacts {
    /// Syncs every source of `account`, then its groups, then rebuilds the
    /// book. A directory the account refuses is reported in its source's
    /// entry (`error`), not as the sync's failure.
    pub async fn sync_account(&self, account: &Account, progress: &ProgressSink) -> Result<Value> {
        let turn = self.turn(&account.id);
        let _turn = turn.lock().await;
        let mut sources = vec![Source::Saved, Source::Other];
        if account.modules.contains(&"directory") {
            sources.push(Source::Directory);
        }
        let mut out = serde_json::Map::new();
        for source in sources {
            let r = match self.sync_source(&account.id, source, progress).await {
                Ok(r) => r,
                Err(e) if source == Source::Directory => {
                    tracing::warn!(
                        account = %account.id,
                        code = ?e.code,
                        error = %e.message,
                        "the directory was refused (a personal account has none; a Workspace admin may turn sharing off); saved and other contacts synced"
                    );
                    out.insert(source.as_str().to_owned(), json!({ "error": e }));
                    continue;
                }
                Err(e) => return Err(e),
            };
            out.insert(
                source.as_str().to_owned(),
                json!({ "requests": r.requests, "stored": r.stored, "deleted": r.deleted, "full": r.full, "resynced": r.resynced, "resumed": r.resumed }),
            );
        }
        let requests = self.sync_groups(&account.id).await?;
        out.insert("groups".into(), json!({ "requests": requests }));
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.reload().await?;
        Ok(json!({ "accountId": account.id, "sources": out }))
    }

    /// One source of one account (see the module's comment).
    pub async fn sync_source(
        &self,
        account: &str,
        source: Source,
        progress: &ProgressSink,
    ) -> Result<SourceReport> {
        let acc = account.to_owned();
        let mut st = self.store.call(move |c| db::state(c, &acc, source)).await?;
        let mut report = SourceReport::default();
        let mut resumed = st.running;
        report.resumed = resumed;
        if !st.running {
            st.running = true;
            st.run_token = st.sync_token.clone();
            st.page_token = None;
            if st.run_token.is_none() {
                st.generation += 1;
            }
        }
        let mut restarted = false;
        loop {
            report.full = st.run_token.is_none();
            report.requests += 1;
            let call = list_call(
                source,
                st.run_token.as_deref(),
                st.page_token.as_deref(),
                self.config.page_size,
            );
            let page = match self.call(account, &call).await {
                Ok(p) => p,
                Err(e)
                    if !restarted
                        && ((st.run_token.is_some() && expired(&e))
                            || (resumed && bad_request(&e))) =>
                {
                    // One full run from scratch, never a loop.
                    restarted = true;
                    resumed = false;
                    report.resynced = true;
                    self.stats.full_resyncs.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        account,
                        source = source.as_str(),
                        "contacts sync token expired or page lost; one full resync"
                    );
                    st.run_token = None;
                    st.page_token = None;
                    st.generation += 1;
                    report.resumed = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (stored, deleted, next) = self.store_page(account, source, &page, &mut st).await?;
            report.stored += stored;
            report.deleted += deleted;
            report.pages += 1;
            if let Some(tx) = progress {
                // The receiver may have gone (a client that hung up): the
                // sync goes on regardless.
                let _ = tx.send(Progress {
                    account: account.to_owned(),
                    source,
                    page: report.pages,
                    stored: report.stored,
                    deleted: report.deleted,
                    total: page["totalItems"]
                        .as_u64()
                        .or(page["totalSize"].as_u64())
                        .or(page["totalPeople"].as_u64()),
                    resumed: report.resumed,
                });
            }
            if next.is_none() {
                return Ok(report);
            }
        }
    }

    /// Stores one page and the run's progress in one transaction.
    async fn store_page(
        &self,
        account: &str,
        source: Source,
        page: &Value,
        st: &mut db::SyncState,
    ) -> Result<(u64, u64, Option<String>)> {
        let mut upserts = Vec::new();
        let mut deletions = Vec::new();
        for p in page[items_key(source)].as_array().into_iter().flatten() {
            let Some(rn) = p["resourceName"].as_str() else {
                continue;
            };
            if p["metadata"]["deleted"] == true {
                deletions.push(rn.to_owned());
            } else {
                upserts.push(Record {
                    account_id: account.to_owned(),
                    source,
                    resource_name: rn.to_owned(),
                    etag: p["etag"].as_str().map(str::to_owned),
                    fields: Fields::from_person(p),
                });
            }
        }
        let next = page["nextPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let mut state = st.clone();
        match &next {
            Some(t) => state.page_token = Some(t.clone()),
            None => {
                state.sync_token = page["nextSyncToken"].as_str().map(str::to_owned);
                state.running = false;
                state.page_token = None;
                state.synced_at_ms = Some(now_unix_ms());
            }
        }
        let full_end = next.is_none() && st.run_token.is_none();
        state.run_token = if next.is_none() {
            None
        } else {
            st.run_token.clone()
        };
        let (acc, saved) = (account.to_owned(), state.clone());
        let counts = self
            .store
            .write(move |c| {
                let now = now_unix_ms();
                for r in &upserts {
                    db::upsert(c, r, saved.generation, now)?;
                }
                for rn in &deletions {
                    db::delete(c, &acc, rn)?;
                }
                let mut deleted = deletions.len() as u64;
                if full_end {
                    deleted += db::delete_older(c, &acc, source, saved.generation)? as u64;
                }
                db::save_state(c, &acc, source, &saved)?;
                Ok((upserts.len() as u64, deleted))
            })
            .await?;
        *st = state;
        self.stats
            .people_stored
            .fetch_add(counts.0, Ordering::Relaxed);
        self.stats
            .people_deleted
            .fetch_add(counts.1, Ordering::Relaxed);
        Ok((counts.0, counts.1, next))
    }

    /// Contact groups: one list (a user has few), replacing what was stored.
    async fn sync_groups(&self, account: &str) -> Result<u64> {
        let mut groups = Vec::new();
        let mut page_token: Option<String> = None;
        let mut requests = 0;
        loop {
            requests += 1;
            let page = self
                .call(account, &client::groups(page_token.as_deref()))
                .await?;
            for g in page["contactGroups"].as_array().into_iter().flatten() {
                if let (Some(rn), Some(name)) = (
                    g["resourceName"].as_str(),
                    g["formattedName"].as_str().or(g["name"].as_str()),
                ) {
                    groups.push((rn.to_owned(), name.to_owned()));
                }
            }
            page_token = page["nextPageToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if page_token.is_none() {
                break;
            }
        }
        let acc = account.to_owned();
        self.store
            .write(move |c| db::replace_groups(c, &acc, &groups))
            .await?;
        Ok(requests)
    }

    /// Syncs every syncing account; failures are logged, not fatal.
    pub async fn sync_all(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for account in syncing(&self.accounts.list()) {
            match self.sync_account(&account, &None).await {
                Ok(v) => out.push(v),
                Err(e) => {
                    tracing::warn!(account = %account.id, code = ?e.code, error = %e.message, "contacts sync failed");
                    out.push(json!({ "accountId": account.id, "error": e }));
                }
            }
        }
        out
    }
}

/// At start and every `sync_interval`, until shutdown.
pub fn start(contacts: Arc<Contacts>, shutdown: CancellationToken) {
    let every = contacts.config.sync_interval;
    tokio::spawn(async move {
        contacts.ready().await;
        loop {
            contacts.sync_all().await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every.max(Duration::from_secs(60))) => {}
            }
        }
    });
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
