//! The polling fallback (`[twilio] poll_interval`, off by default) for
//! users who cannot expose a webhook: every interval, for every Twilio
//! account, the recent messages are listed
//! (`GET /2010-04-01/Accounts/{Sid}/Messages.json`, `To` = the account's
//! number when it sends from one, `DateSent>` = the GMT day the window
//! starts) and the inbound ones stored through the inbound store, as the
//! webhook does: once per MessageSid, their keywords (STOP, START, HELP) to
//! the opt-out register.
//!
//! Windows overlap (Twilio's dates have day precision): a message listed by
//! the last poll is skipped without touching the store, and the store
//! de-duplicates the rest (e.g. after a restart) by MessageSid. A message's keyword is
//! recorded when it is first stored, oldest first, so a STOP then START
//! pair ends opted in.
//!
//! Bodies are untrusted and never logged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::accounts::{self, TwilioSettings};
use super::client::{ListQuery, Message};
use super::inbound::{Direction, Inbound, NewMessage, Source, Stored};
use super::keywords;
use super::webhook::KeywordSink;
use crate::accounts::{Account, Accounts, Kind};
use crate::error::Result;
use crate::vault::Vault;

/// How far back the first poll after a start looks: what arrived while
/// commsd was not running.
const FIRST_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Pages followed per account and poll, of this many messages.
const PAGE_SIZE: u32 = 100;
const MAX_PAGES: u32 = 10;

/// Poll counters, for status.
#[derive(Debug, Default)]
pub struct PollCounts {
    /// List requests answered (one per account and poll).
    pub requests: AtomicU64,
    /// Inbound messages stored for the first time by a poll.
    pub stored: AtomicU64,
    /// Account polls that failed (logged, retried next interval).
    pub errors: AtomicU64,
}

/// The poller.
pub struct Poller {
    pub accounts: Arc<Accounts>,
    pub vault: Vault,
    pub api_base: String,
    /// `[twilio] request_timeout`.
    pub timeout: std::time::Duration,
    pub inbound: Arc<Inbound>,
    pub keywords: Arc<dyn KeywordSink>,
    pub counts: PollCounts,
    /// Per account: the MessageSids the last poll listed, and when it started.
    last: tokio::sync::Mutex<HashMap<String, (HashSet<String>, jiff::Timestamp)>>,
}

impl Poller {
    pub fn new(
        accounts: Arc<Accounts>,
        vault: Vault,
        api_base: String,
        timeout: std::time::Duration,
        inbound: Arc<Inbound>,
        keywords: Arc<dyn KeywordSink>,
    ) -> Poller {
        Poller {
            accounts,
            vault,
            api_base,
            timeout,
            inbound,
            keywords,
            counts: PollCounts::default(),
            last: tokio::sync::Mutex::default(),
        }
    }

    /// Polls now, then every `interval`, until `shutdown`.
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.poll_all() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// One poll of every Twilio account; failures are logged and counted.
    pub async fn poll_all(&self) {
        let twilio = self
            .accounts
            .list()
            .into_iter()
            .filter(|a| a.kind == Kind::Twilio);
        for account in twilio {
            match self.poll(&account).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(account = %account.id, messages = n, "stored inbound SMS found by polling")
                }
                Err(e) => {
                    self.counts.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(account = %account.id, error = %e, "polling Twilio for inbound SMS failed; retried next interval");
                }
            }
        }
    }

    /// Lists one account's recent messages and stores the new inbound
    /// ones. Returns how many were stored now.
    async fn poll(&self, account: &Account) -> Result<usize> {
        let started = jiff::Timestamp::now();
        let (client, settings) =
            accounts::client(&self.vault, &self.api_base, self.timeout, account).await?;
        let mut last = self.last.lock().await;
        let (seen, since) = match last.get(&account.id) {
            Some((seen, at)) => (seen.clone(), *at),
            None => (
                HashSet::new(),
                started
                    .checked_sub(jiff::SignedDuration::try_from(FIRST_LOOKBACK).unwrap_or_default())
                    .unwrap_or(started),
            ),
        };
        let query = ListQuery {
            to: to_filter(&settings),
            from: None,
            sent_after: Some(since.to_zoned(jiff::tz::TimeZone::UTC).date()),
            sent_before: None,
            page_size: PAGE_SIZE,
            max_pages: MAX_PAGES,
        };
        let listed = client.list_messages(&query).await?;
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        // The next window starts where this one did: what this poll listed
        // is all the next one can list again.
        let listed_now: HashSet<String> = listed.iter().map(|m| m.sid.clone()).collect();
        let mut inbound: Vec<(i64, NewMessage)> = listed
            .into_iter()
            .filter(|m| !seen.contains(&m.sid))
            .filter_map(|m| new_message(&account.id, m))
            .collect();
        // Oldest first: keywords apply in the order they were sent.
        inbound.sort_by_key(|(at, _)| *at);
        let mut stored_now = 0;
        for (_, message) in inbound {
            let keyword = message.keyword;
            let sender = message
                .messaging_service_sid
                .clone()
                .unwrap_or_else(|| message.our_number.clone());
            let their = message.their_number.clone();
            if self.inbound.store(message).await? == Stored::New {
                stored_now += 1;
                self.counts.stored.fetch_add(1, Ordering::Relaxed);
                if let Some(keyword) = keyword {
                    self.keywords
                        .record_keyword(&account.id, &sender, &their, keyword, None)
                        .await?;
                }
            }
        }
        last.insert(account.id.clone(), (listed_now, started));
        Ok(stored_now)
    }
}

/// `To` = the account's number when it sends from one; a Messaging
/// Service picks among several numbers, so all messages are listed and
/// the inbound ones kept.
fn to_filter(settings: &TwilioSettings) -> Option<String> {
    match (&settings.messaging_service_sid, &settings.from) {
        (None, Some(from)) => Some(from.clone()),
        _ => None,
    }
}

/// The message to store of a listed one, with when it was sent (Unix ms),
/// if it is a well-formed inbound message.
fn new_message(account_id: &str, m: Message) -> Option<(i64, NewMessage)> {
    if m.direction.as_deref() != Some("inbound") {
        return None;
    }
    if !(super::client::is_sid("SM", &m.sid) || super::client::is_sid("MM", &m.sid)) {
        return None;
    }
    let from = m.from.filter(|f| !f.trim().is_empty())?;
    if m.to.trim().is_empty() {
        return None;
    }
    let at = m
        .date_sent
        .as_deref()
        .or(m.date_created.as_deref())
        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
        .map_or_else(crate::events::now_unix_ms, |z| {
            z.timestamp().as_millisecond()
        });
    let body = m.body.unwrap_or_default();
    Some((
        at,
        NewMessage {
            message_sid: m.sid,
            account_id: account_id.to_owned(),
            direction: Direction::Inbound,
            our_number: m.to,
            their_number: from,
            keyword: keywords::classify(&body, None),
            body,
            messaging_service_sid: m.messaging_service_sid,
            media: Vec::new(),
            source: Source::Poll,
            received_at_ms: at,
        },
    ))
}
