//! Received SMS: the `sms_messages` and `sms_media` tables (migration 0006).
//!
//! A message is committed (one `Store::write`, `synchronous=FULL`) before
//! the webhook that brought it is answered, so a 200 means it is on disk.
//! Twilio's `MessageSid` is unique: a redelivered webhook, or a poll whose
//! window overlaps the last, stores the message once and publishes nothing
//! the second time. A thread is (account, our number, their number).
//!
//! Bodies are untrusted text from strangers: stored and returned, never
//! logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::keywords::Keyword;
use crate::error::{Error, Result};
use crate::events::{Bus, Event};
use crate::outbox::model::Channel;
use crate::store::{Store, StoreError};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    fn parse(s: &str) -> Direction {
        if s == "outbound" {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }
}

/// How a message reached commsd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Webhook,
    Poll,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Poll => "poll",
        }
    }
}

/// A media file Twilio announced (`MediaUrl<i>`, `MediaContentType<i>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    pub url: String,
    pub content_type: Option<String>,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub message_sid: String,
    pub account_id: String,
    pub direction: Direction,
    pub our_number: String,
    pub their_number: String,
    pub body: String,
    pub messaging_service_sid: Option<String>,
    pub keyword: Option<Keyword>,
    pub media: Vec<MediaRef>,
    pub source: Source,
    pub received_at_ms: i64,
}

/// What storing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now; the event was published.
    New,
    /// A message with this MessageSid was already stored; nothing changed.
    Duplicate,
}

/// A media file of a message, as readers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaView {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `pending`, `saved`, `too_large` or `failed`.
    pub state: String,
    /// Where it was saved (0600), once `saved`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A stored message, as readers see it (the tools, REST, the dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsMessage {
    /// Twilio's MessageSid (the sandbox: its record id).
    pub id: String,
    pub account_id: String,
    /// `<our number>:<their number>`.
    pub thread_id: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    /// Untrusted text.
    pub body: String,
    /// `optOut`, `optIn` or `help` when the body (or Twilio's OptOutType)
    /// is one of those keywords.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaView>,
    /// RFC 3339, UTC.
    pub received_at: String,
}

/// A thread's latest state, for thread lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThreadSummary {
    pub thread_id: String,
    pub account_id: String,
    pub our_number: String,
    pub their_number: String,
    pub messages: u64,
    pub last: SmsMessage,
}

/// `<our number>:<their number>`.
pub fn thread_id(our: &str, their: &str) -> String {
    format!("{our}:{their}")
}

/// The two sides of a thread id: numbers, short codes or sender names
/// (one line, no `:`), as Twilio gives them.
pub fn parse_thread_id(id: &str) -> Result<(String, String)> {
    let side = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 64 && !s.chars().any(char::is_control)).then(|| s.to_owned())
    };
    id.split_once(':')
        .and_then(|(our, their)| Some((side(our)?, side(their)?)))
        .filter(|(_, their)| !their.contains(':'))
        .ok_or_else(|| {
            Error::invalid(
                "threadId",
                "expected <our number>:<their number>, as a message's threadId",
            )
        })
}

/// Which messages to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub account_id: String,
    /// Their number (either direction).
    pub their_number: Option<String>,
    /// Our number (set by a thread id).
    pub our_number: Option<String>,
    /// Received at or after (Unix ms).
    pub since_ms: Option<i64>,
    pub limit: usize,
    /// The `nextCursor` of a previous page.
    pub cursor: Option<String>,
}

/// A page of messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<SmsMessage>,
    pub next_cursor: Option<String>,
}

/// Received since start.
#[derive(Debug, Default)]
pub struct Counts {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
}

/// The received-SMS store.
pub struct Inbound {
    store: Store,
    bus: Arc<Bus>,
    counts: Arc<Counts>,
}

const COLUMNS: &str = "seq, message_sid, account_id, direction, our_number, their_number, body, keyword, received_at_ms";

impl Inbound {
    pub fn new(store: Store, bus: Arc<Bus>) -> Inbound {
        Inbound {
            store,
            bus,
            counts: Arc::default(),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Stores `message` durably; publishes `MessageReceived` once it is
    /// committed, unless it was a duplicate.
    pub async fn store(&self, message: NewMessage) -> Result<Stored> {
        let bus = self.bus.clone();
        let counts = self.counts.clone();
        let (account, id) = (message.account_id.clone(), message.message_sid.clone());
        let stored = self
            .store
            .write_then(
                move |conn| insert(conn, &message),
                move |stored| {
                    match stored {
                        Stored::New => {
                            counts.stored.fetch_add(1, Ordering::Relaxed);
                            bus.publish(Event::MessageReceived {
                                channel: Channel::Sms,
                                account,
                                id,
                            });
                        }
                        Stored::Duplicate => {
                            counts.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    stored
                },
            )
            .await?;
        Ok(stored)
    }

    /// Messages matching `query`, newest first.
    pub async fn list(&self, query: Query) -> Result<Page> {
        let before = match query.cursor.as_deref() {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::invalid("cursor", "expected the nextCursor of a previous page")
            })?),
        };
        let page = self
            .store
            .call(move |conn| select(conn, &query, before))
            .await?;
        Ok(page)
    }

    /// One message by its MessageSid, if stored for `account_id`.
    pub async fn get(&self, account_id: &str, message_sid: &str) -> Result<Option<SmsMessage>> {
        let (account, sid) = (account_id.to_owned(), message_sid.to_owned());
        let found = self
            .store
            .call(move |conn| {
                let row = conn
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM sms_messages WHERE account_id = ?1 AND message_sid = ?2"
                        ),
                        params![account, sid],
                        Row::read,
                    )
                    .optional()?;
                row.map(|r| with_media(conn, vec![r]).map(|mut v| v.remove(0)))
                    .transpose()
            })
            .await?;
        Ok(found)
    }

    /// The threads of `account_id` (all accounts: `None`), most recent first.
    pub async fn threads(
        &self,
        account_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<ThreadSummary>> {
        let threads = self
            .store
            .call(move |conn| select_threads(conn, account_id.as_deref(), limit))
            .await?;
        Ok(threads)
    }

    /// Media not yet downloaded (a restart retries them), of one message
    /// or of all.
    pub async fn pending_media(&self, message_sid: Option<String>) -> Result<Vec<PendingMedia>> {
        let pending = self
            .store
            .call(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT m.message_sid, m.idx, s.account_id, m.url, m.content_type
                     FROM sms_media m JOIN sms_messages s USING (message_sid)
                     WHERE m.state = 'pending' AND (?1 IS NULL OR m.message_sid = ?1)
                     ORDER BY s.seq, m.idx",
                )?;
                let rows = stmt.query_map([message_sid], |r| {
                    Ok(PendingMedia {
                        message_sid: r.get(0)?,
                        index: r.get(1)?,
                        account_id: r.get(2)?,
                        url: r.get(3)?,
                        content_type: r.get(4)?,
                    })
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        Ok(pending)
    }

    /// Records what became of a media file.
    pub async fn media_done(
        &self,
        message_sid: &str,
        index: u32,
        outcome: MediaOutcome,
    ) -> Result<()> {
        let sid = message_sid.to_owned();
        self.store
            .write(move |conn| {
                let (state, content_type, path, size, error) = match outcome {
                    MediaOutcome::Saved {
                        content_type,
                        path,
                        size,
                    } => ("saved", content_type, Some(path), Some(size as i64), None),
                    MediaOutcome::TooLarge { error } => {
                        ("too_large", None, None, None, Some(error))
                    }
                    MediaOutcome::Failed { error } => ("failed", None, None, None, Some(error)),
                };
                conn.execute(
                    "UPDATE sms_media SET state = ?3, content_type = COALESCE(?4, content_type),
                     path = ?5, size = ?6, error = ?7 WHERE message_sid = ?1 AND idx = ?2",
                    params![sid, index, state, content_type, path, size, error],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Drops every message of a removed account (its media files are
    /// removed by the caller).
    pub async fn forget(&self, account_id: &str) -> Result<usize> {
        let account = account_id.to_owned();
        let n = self
            .store
            .write(move |conn| {
                Ok(conn.execute("DELETE FROM sms_messages WHERE account_id = ?1", [account])?)
            })
            .await?;
        Ok(n)
    }
}

/// A media file waiting for its download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMedia {
    pub message_sid: String,
    pub index: u32,
    pub account_id: String,
    pub url: String,
    pub content_type: Option<String>,
}

/// What became of a media download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    Saved {
        content_type: Option<String>,
        path: String,
        size: u64,
    },
    TooLarge {
        error: String,
    },
    Failed {
        error: String,
    },
}

fn insert(conn: &Connection, m: &NewMessage) -> std::result::Result<Stored, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO sms_messages (message_sid, account_id, direction, our_number, their_number,
         body, messaging_service_sid, keyword, source, received_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (message_sid) DO NOTHING",
        params![
            m.message_sid,
            m.account_id,
            m.direction.as_str(),
            m.our_number,
            m.their_number,
            m.body,
            m.messaging_service_sid,
            m.keyword.map(keyword_str),
            m.source.as_str(),
            m.received_at_ms,
        ],
    )?;
    if inserted == 0 {
        return Ok(Stored::Duplicate);
    }
    for (i, media) in m.media.iter().enumerate() {
        conn.execute(
            "INSERT INTO sms_media (message_sid, idx, url, content_type, state)
             VALUES (?1, ?2, ?3, ?4, 'pending')",
            params![m.message_sid, i as i64, media.url, media.content_type],
        )?;
    }
    Ok(Stored::New)
}

pub fn keyword_str(k: Keyword) -> &'static str {
    match k {
        Keyword::OptOut => "optOut",
        Keyword::OptIn => "optIn",
        Keyword::Help => "help",
    }
}

/// A row of `sms_messages` (COLUMNS order).
struct Row {
    seq: i64,
    message: SmsMessage,
}

impl Row {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let direction = Direction::parse(&r.get::<_, String>(3)?);
        let our: String = r.get(4)?;
        let their: String = r.get(5)?;
        let ms: i64 = r.get(8)?;
        let (from, to) = match direction {
            Direction::Inbound => (their.clone(), our.clone()),
            Direction::Outbound => (our.clone(), their.clone()),
        };
        Ok(Row {
            seq: r.get(0)?,
            message: SmsMessage {
                id: r.get(1)?,
                account_id: r.get(2)?,
                thread_id: thread_id(&our, &their),
                direction,
                from,
                to,
                body: r.get(6)?,
                keyword: r.get(7)?,
                media: Vec::new(),
                received_at: rfc3339(ms),
            },
        })
    }
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn select(
    conn: &Connection,
    q: &Query,
    before: Option<i64>,
) -> std::result::Result<Page, StoreError> {
    let limit = q.limit.max(1);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sms_messages
         WHERE account_id = ?1 AND (?2 IS NULL OR their_number = ?2)
           AND (?3 IS NULL OR our_number = ?3) AND (?4 IS NULL OR received_at_ms >= ?4)
           AND (?5 IS NULL OR seq < ?5)
         ORDER BY seq DESC LIMIT ?6"
    ))?;
    let mut rows = stmt
        .query_map(
            params![
                q.account_id,
                q.their_number,
                q.our_number,
                q.since_ms,
                before,
                (limit + 1) as i64
            ],
            Row::read,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Page {
        messages: with_media(conn, rows)?,
        next_cursor,
    })
}

fn with_media(
    conn: &Connection,
    rows: Vec<Row>,
) -> std::result::Result<Vec<SmsMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, content_type, state, path, size, error FROM sms_media
         WHERE message_sid = ?1 ORDER BY idx",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for Row { mut message, .. } in rows {
        message.media = stmt
            .query_map([&message.id], |r| {
                Ok(MediaView {
                    index: r.get(0)?,
                    content_type: r.get(1)?,
                    state: r.get(2)?,
                    path: r.get(3)?,
                    size: r.get::<_, Option<i64>>(4)?.map(|n| n as u64),
                    error: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(message);
    }
    Ok(out)
}

fn select_threads(
    conn: &Connection,
    account: Option<&str>,
    limit: usize,
) -> std::result::Result<Vec<ThreadSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, our_number, their_number, COUNT(*), MAX(seq) FROM sms_messages
         WHERE (?1 IS NULL OR account_id = ?1)
         GROUP BY account_id, our_number, their_number ORDER BY MAX(seq) DESC LIMIT ?2",
    )?;
    let groups = stmt
        .query_map(params![account, limit.max(1) as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut last = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sms_messages WHERE seq = ?1"
    ))?;
    let mut out = Vec::with_capacity(groups.len());
    for (account_id, our, their, count, seq) in groups {
        let row = last.query_row([seq], Row::read)?;
        let message = with_media(conn, vec![row])?.remove(0);
        out.push(ThreadSummary {
            thread_id: thread_id(&our, &their),
            account_id,
            our_number: our,
            their_number: their,
            messages: count as u64,
            last: message,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(sid: &str, their: &str, body: &str, at: i64) -> NewMessage {
        NewMessage {
            message_sid: sid.into(),
            account_id: "tw1".into(),
            direction: Direction::Inbound,
            our_number: "+15550001111".into(),
            their_number: their.into(),
            body: body.into(),
            messaging_service_sid: None,
            keyword: None,
            media: Vec::new(),
            source: Source::Webhook,
            received_at_ms: at,
        }
    }

    async fn open() -> (tempfile::TempDir, Store, Inbound, Arc<Bus>) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join("db")).unwrap();
        let bus = Arc::new(Bus::default());
        let inbound = Inbound::new(store.clone(), bus.clone());
        (dir, store, inbound, bus)
    }

    #[tokio::test]
    async fn duplicates_are_stored_once_and_announced_once() {
        let (_dir, _store, inbound, bus) = open().await;
        let mut events = bus.subscribe();
        let mut m = message("SM1", "+15552223333", "hello", 1_000);
        m.media = vec![MediaRef {
            url: "https://api.example/m/1".into(),
            content_type: Some("image/jpeg".into()),
        }];
        assert_eq!(inbound.store(m.clone()).await.unwrap(), Stored::New);
        m.body = "changed".into();
        assert_eq!(inbound.store(m).await.unwrap(), Stored::Duplicate);
        let e = events.try_recv().unwrap();
        assert_eq!(
            e.event,
            Event::MessageReceived {
                channel: Channel::Sms,
                account: "tw1".into(),
                id: "SM1".into()
            }
        );
        assert!(events.try_recv().is_err());
        let got = inbound.get("tw1", "SM1").await.unwrap().unwrap();
        assert_eq!(got.body, "hello");
        assert_eq!(got.media.len(), 1);
        assert_eq!(got.media[0].state, "pending");
        assert!(inbound.get("other", "SM1").await.unwrap().is_none());
        assert_eq!(inbound.counts().duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(inbound.pending_media(None).await.unwrap().len(), 1);
        inbound
            .media_done(
                "SM1",
                0,
                MediaOutcome::Saved {
                    content_type: Some("image/png".into()),
                    path: "/x/0.png".into(),
                    size: 3,
                },
            )
            .await
            .unwrap();
        assert!(inbound.pending_media(None).await.unwrap().is_empty());
        let got = inbound.get("tw1", "SM1").await.unwrap().unwrap();
        assert_eq!(got.media[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(got.media[0].size, Some(3));
    }

    #[tokio::test]
    async fn threads_pages_and_filters() {
        let (_dir, _store, inbound, _bus) = open().await;
        for i in 0..5 {
            let their = if i % 2 == 0 {
                "+15552223333"
            } else {
                "+15554445555"
            };
            inbound
                .store(message(
                    &format!("SM{i}"),
                    their,
                    &format!("m{i}"),
                    1_000 + i,
                ))
                .await
                .unwrap();
        }
        let q = |their: Option<&str>, limit, cursor: Option<String>| Query {
            account_id: "tw1".into(),
            their_number: their.map(str::to_owned),
            limit,
            cursor,
            ..Query::default()
        };
        let first = inbound.list(q(None, 2, None)).await.unwrap();
        let ids: Vec<_> = first.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["SM4", "SM3"]);
        let second = inbound.list(q(None, 2, first.next_cursor)).await.unwrap();
        let ids: Vec<_> = second.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["SM2", "SM1"]);
        let third = inbound.list(q(None, 2, second.next_cursor)).await.unwrap();
        assert_eq!(third.messages.len(), 1);
        assert!(third.next_cursor.is_none());
        let one = inbound
            .list(q(Some("+15552223333"), 10, None))
            .await
            .unwrap();
        assert_eq!(one.messages.len(), 3);
        assert_eq!(one.messages[0].thread_id, "+15550001111:+15552223333");
        assert_eq!(one.messages[0].from, "+15552223333");
        let since = inbound
            .list(Query {
                since_ms: Some(1_003),
                ..q(None, 10, None)
            })
            .await
            .unwrap();
        assert_eq!(since.messages.len(), 2);
        let threads = inbound.threads(Some("tw1".into()), 10).await.unwrap();
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].their_number, "+15552223333");
        assert_eq!(
            (threads[0].messages, threads[0].last.id.as_str()),
            (3, "SM4")
        );
        assert_eq!(
            inbound
                .list(q(None, 2, Some("x".into())))
                .await
                .unwrap_err()
                .details["field"],
            "cursor"
        );
        assert_eq!(inbound.forget("tw1").await.unwrap(), 5);
        assert!(inbound.threads(None, 10).await.unwrap().is_empty());
    }

    #[test]
    fn thread_ids_round_trip() {
        let id = thread_id("+15550001111", "+15552223333");
        assert_eq!(
            parse_thread_id(&id).unwrap(),
            ("+15550001111".to_owned(), "+15552223333".to_owned())
        );
        assert_eq!(
            parse_thread_id("nope").unwrap_err().details["field"],
            "threadId"
        );
    }
}
