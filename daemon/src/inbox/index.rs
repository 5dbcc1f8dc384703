//! The index's SQL (migration 0010): plain functions on a connection, run on
//! the store thread by [`super::service::Inbox`] and the sources.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use super::query::{Search, normalise_address};
use super::rank;
use crate::outbox::model::Channel;

/// A message as a source hands it to the index.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub channel: Channel,
    pub account_id: String,
    /// The id the provider's own tools take.
    pub provider_id: String,
    pub thread_id: Option<String>,
    /// `Name <address>`, an address, a number or a chat sender's name.
    pub from: String,
    pub to: Vec<String>,
    pub at_ms: i64,
    pub subject: String,
    /// The text, clipped by the index to `[inbox] max_text_chars`.
    pub text: String,
    pub has_attachments: bool,
    pub unread: bool,
}

/// A message of the index, as every frontend shows it (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxMessage {
    /// The id the channel's own tools take (`email_get_message`'s or
    /// `gmail_get_message`'s `messageId`, `chat_get_message`'s, an SMS's id).
    pub id: String,
    /// `email`, `sms` or `chat`.
    pub channel: String,
    pub account_id: String,
    /// Which source indexed it: `gmail`, `imap`, `sandbox`, `sms`, `chat`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    pub to: Vec<String>,
    /// RFC 3339, UTC.
    pub received_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Clipped; `truncated` says so.
    pub text: String,
    pub truncated: bool,
    pub has_attachments: bool,
    pub unread: bool,
}

/// Filters shared by listing and search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub channel: Option<Channel>,
    pub account_id: Option<String>,
    /// Part of the sender's address, number (digits) or name.
    pub from: Option<String>,
    pub since_ms: Option<i64>,
    pub before_ms: Option<i64>,
    pub unread: Option<bool>,
    pub has_attachment: Option<bool>,
    /// One conversation: the `threadId` the index gives.
    pub thread_id: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upserted {
    pub added: u32,
    pub changed: u32,
}

const COLUMNS: &str = "m.id, m.provider_id, m.channel, m.account_id, m.source, m.thread_id, m.from_addr, m.from_name, m.to_addrs, m.at_ms, m.subject, m.text, m.truncated, m.has_attachments, m.unread";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(i64, InboxMessage)> {
    let to: String = row.get(8)?;
    let at_ms: i64 = row.get(9)?;
    Ok((
        row.get(0)?,
        InboxMessage {
            id: row.get(1)?,
            channel: row.get(2)?,
            account_id: row.get(3)?,
            source: row.get(4)?,
            thread_id: row.get(5)?,
            from: row.get(6)?,
            from_name: row.get(7)?,
            to: serde_json::from_str(&to).unwrap_or_default(),
            received_at: rfc3339(at_ms),
            subject: row.get(10)?,
            text: row.get(11)?,
            truncated: row.get(12)?,
            has_attachments: row.get(13)?,
            unread: row.get(14)?,
        },
    ))
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Clips `text` to `max` characters; true when it did. Runs of whitespace
/// and NULs become one space: SQLite's LIKE reads text only up to a NUL,
/// so a short term after one would never be found.
fn clip(text: &str, max: usize) -> (String, bool) {
    let collapsed: String = text
        .split(|c: char| c.is_whitespace() || c == '\0')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match collapsed.char_indices().nth(max) {
        Some((at, _)) => (collapsed[..at].to_owned(), true),
        None => (collapsed, false),
    }
}

/// What search matches besides subject and text: display names (and chat
/// senders' names), and addresses, numbers also as digits.
fn names_and_addresses(m: &NewMessage) -> (Option<String>, String, String, String) {
    let mut names: Vec<String> = Vec::new();
    let mut addresses: Vec<String> = Vec::new();
    for a in std::iter::once(&m.from).chain(&m.to) {
        let a = a.trim();
        let norm = normalise_address(a);
        if let Some(n) = super::query::display_name(a) {
            names.push(n);
            addresses.push(norm);
        } else if !norm.is_empty() && norm.chars().all(|c| c.is_ascii_digit()) {
            addresses.push(a.to_owned());
            addresses.push(norm);
        } else if a.contains('@') {
            addresses.push(norm);
        } else {
            names.push(a.to_owned());
        }
    }
    names.dedup();
    let no_nul = |s: String| s.replace('\0', " ");
    (
        super::query::display_name(&m.from),
        normalise_address(&m.from),
        no_nul(names.join(" · ")),
        no_nul(addresses.join(" ")),
    )
}

/// Inserts new messages and updates the read state (and content) of known
/// ones; clips texts to `max_text_chars`.
pub fn upsert(
    c: &Connection,
    source: &str,
    messages: &[NewMessage],
    max_text_chars: usize,
    now_ms: i64,
) -> rusqlite::Result<Upserted> {
    let mut done = Upserted::default();
    let mut find = c.prepare_cached(
        "SELECT id, unread, text, subject FROM inbox_messages WHERE account_id = ?1 AND channel = ?2 AND provider_id = ?3",
    )?;
    let mut insert = c.prepare_cached(
        "INSERT INTO inbox_messages (source, channel, account_id, provider_id, thread_id, from_addr, from_name, from_norm, to_addrs, at_ms, subject, text, truncated, names, addresses, has_attachments, unread, indexed_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?;
    for m in messages {
        let (text, truncated) = clip(&m.text, max_text_chars);
        let subject = m.subject.replace('\0', " ");
        let existing: Option<(i64, bool, String, String)> = find
            .query_row(
                params![m.account_id, m.channel.as_str(), m.provider_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        match existing {
            Some((id, unread, old_text, old_subject)) => {
                if unread != m.unread {
                    c.execute(
                        "UPDATE inbox_messages SET unread = ?2 WHERE id = ?1",
                        params![id, m.unread],
                    )?;
                    done.changed += 1;
                } else if old_text != text || old_subject != subject {
                    c.execute(
                        "UPDATE inbox_messages SET text = ?2, subject = ?3, truncated = ?4 WHERE id = ?1",
                        params![id, text, subject, truncated],
                    )?;
                    done.changed += 1;
                }
            }
            None => {
                let (from_name, from_norm, names, addresses) = names_and_addresses(m);
                insert.execute(params![
                    source,
                    m.channel.as_str(),
                    m.account_id,
                    m.provider_id,
                    m.thread_id,
                    m.from,
                    from_name,
                    from_norm,
                    serde_json::to_string(&m.to).unwrap_or_else(|_| "[]".to_owned()),
                    m.at_ms,
                    subject,
                    text,
                    truncated,
                    names,
                    addresses,
                    m.has_attachments,
                    m.unread,
                    now_ms
                ])?;
                done.added += 1;
            }
        }
    }
    Ok(done)
}

/// Sets a known message's read state; 1 when it changed.
pub fn set_unread(
    c: &Connection,
    account_id: &str,
    channel: Channel,
    provider_id: &str,
    unread: bool,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE inbox_messages SET unread = ?4 WHERE account_id = ?1 AND channel = ?2 AND provider_id = ?3 AND unread != ?4",
        params![account_id, channel.as_str(), provider_id, unread],
    )
}

/// Removes messages a source no longer has (deleted, moved out of the inbox).
pub fn remove(
    c: &Connection,
    account_id: &str,
    channel: Channel,
    provider_ids: &[String],
) -> rusqlite::Result<usize> {
    let mut n = 0;
    for id in provider_ids {
        n += c.execute(
            "DELETE FROM inbox_messages WHERE account_id = ?1 AND channel = ?2 AND provider_id = ?3",
            params![account_id, channel.as_str(), id],
        )?;
    }
    Ok(n)
}

/// Drops an account's rows and its sources' places (account removed, or a
/// reindex of it).
pub fn drop_account(c: &Connection, account_id: &str) -> rusqlite::Result<usize> {
    let n = c.execute(
        "DELETE FROM inbox_messages WHERE account_id = ?1",
        [account_id],
    )?;
    c.execute(
        "DELETE FROM inbox_sources WHERE account_id = ?1",
        [account_id],
    )?;
    Ok(n)
}

/// Drops everything (a full reindex).
pub fn drop_all(c: &Connection) -> rusqlite::Result<usize> {
    let n = c.execute("DELETE FROM inbox_messages", [])?;
    c.execute("DELETE FROM inbox_sources", [])?;
    Ok(n)
}

/// Keeps the window: messages since `min_at_ms`, and at most `per_account`
/// of `account` (the newest). The count uses the account's index, so a
/// batch within the limit costs no sort.
pub fn prune(
    c: &Connection,
    account: &str,
    min_at_ms: Option<i64>,
    per_account: usize,
) -> rusqlite::Result<usize> {
    let mut n = 0;
    if let Some(min) = min_at_ms {
        n += c.execute("DELETE FROM inbox_messages WHERE at_ms < ?1", [min])?;
    }
    let count: i64 = c.query_row(
        "SELECT count(*) FROM inbox_messages WHERE account_id = ?1",
        [account],
        |r| r.get(0),
    )?;
    if count as usize > per_account {
        n += c.execute(
            "DELETE FROM inbox_messages WHERE id IN (
                SELECT id FROM inbox_messages WHERE account_id = ?1
                ORDER BY at_ms DESC, id DESC LIMIT -1 OFFSET ?2)",
            params![account, per_account as i64],
        )?;
    }
    Ok(n)
}

/// A source's place for an account.
pub fn cursor(c: &Connection, source: &str, account_id: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT cursor FROM inbox_sources WHERE source = ?1 AND account_id = ?2",
        [source, account_id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// Records a sync: its new place (unchanged when `None`) and its error.
pub fn synced(
    c: &Connection,
    source: &str,
    account_id: &str,
    cursor: Option<&str>,
    error: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO inbox_sources (source, account_id, cursor, last_sync_ms, last_error) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, account_id) DO UPDATE SET cursor = coalesce(excluded.cursor, cursor), last_sync_ms = excluded.last_sync_ms, last_error = excluded.last_error",
        params![source, account_id, cursor, now_ms, error],
    )?;
    Ok(())
}

/// The SQL of `filter`, appended to `sql` with its values.
fn where_filter(filter: &Filter, sql: &mut String, values: &mut Vec<SqlValue>) {
    let mut push = |clause: &str, value: SqlValue| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(ch) = filter.channel {
        push(" AND m.channel = ?", ch.as_str().to_owned().into());
    }
    if let Some(a) = &filter.account_id {
        push(" AND m.account_id = ?", a.clone().into());
    }
    if let Some(from) = &filter.from {
        let norm = super::query::escape_like(&normalise_address(from));
        let name = super::query::escape_like(from.trim());
        push(
            " AND (m.from_norm LIKE '%' || ? || '%' ESCAPE '\\'",
            norm.into(),
        );
        push(
            " OR m.from_name LIKE '%' || ? || '%' ESCAPE '\\')",
            name.into(),
        );
    }
    if let Some(s) = filter.since_ms {
        push(" AND m.at_ms >= ?", s.into());
    }
    if let Some(b) = filter.before_ms {
        push(" AND m.at_ms < ?", b.into());
    }
    if let Some(u) = filter.unread {
        push(" AND m.unread = ?", i64::from(u).into());
    }
    if let Some(h) = filter.has_attachment {
        push(" AND m.has_attachments = ?", i64::from(h).into());
    }
    if let Some(t) = &filter.thread_id {
        push(" AND m.thread_id = ?", t.clone().into());
    }
}

/// One message, by the id its channel's tools take.
pub fn get(
    c: &Connection,
    account_id: &str,
    channel: Channel,
    provider_id: &str,
) -> rusqlite::Result<Option<InboxMessage>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM inbox_messages m WHERE m.account_id = ?1 AND m.channel = ?2 AND m.provider_id = ?3"
    );
    c.query_row(
        &sql,
        params![account_id, channel.as_str(), provider_id],
        |r| from_row(r).map(|(_, m)| m),
    )
    .optional()
}

/// Newest first; `after` is the (time, row) of the last message of the
/// previous page. Returns the rows with their keys.
pub fn list(
    c: &Connection,
    filter: &Filter,
    after: Option<(i64, i64)>,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, InboxMessage)>> {
    let mut sql = format!("SELECT {COLUMNS} FROM inbox_messages m WHERE 1");
    let mut values = Vec::new();
    where_filter(filter, &mut sql, &mut values);
    if let Some((at, id)) = after {
        values.push(at.into());
        values.push(id.into());
        let (a, b) = (values.len() - 1, values.len());
        sql.push_str(&format!(
            " AND (m.at_ms < ?{a} OR (m.at_ms = ?{a} AND m.id < ?{b}))"
        ));
    }
    values.push((limit as i64).into());
    sql.push_str(&format!(
        " ORDER BY m.at_ms DESC, m.id DESC LIMIT ?{}",
        values.len()
    ));
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), from_row)?;
    rows.collect()
}

/// The messages matching `search` and `filter`, most relevant first, then
/// newest; `offset` skips the previous pages. With a full-text part, the
/// most recently indexed matches are ranked ([`super::rank`]); with short
/// terms only, matches are listed newest first.
pub fn search(
    c: &Connection,
    search: &Search,
    filter: &Filter,
    offset: usize,
    limit: usize,
) -> rusqlite::Result<Vec<InboxMessage>> {
    let mut values: Vec<SqlValue> = Vec::new();
    let mut sql = match &search.fts {
        Some(expr) => {
            values.push(expr.clone().into());
            format!(
                "SELECT {COLUMNS}, m.names, m.addresses FROM inbox_fts JOIN inbox_messages m ON m.id = inbox_fts.rowid WHERE inbox_fts MATCH ?1"
            )
        }
        None => format!("SELECT {COLUMNS} FROM inbox_messages m WHERE 1"),
    };
    for term in &search.like {
        values.push(term.clone().into());
        let n = values.len();
        sql.push_str(&format!(
            " AND (m.subject LIKE '%' || ?{n} || '%' ESCAPE '\\' OR m.text LIKE '%' || ?{n} || '%' ESCAPE '\\' OR m.names LIKE '%' || ?{n} || '%' ESCAPE '\\' OR m.addresses LIKE '%' || ?{n} || '%' ESCAPE '\\')"
        ));
    }
    where_filter(filter, &mut sql, &mut values);
    if search.fts.is_none() {
        values.push((limit as i64).into());
        values.push((offset as i64).into());
        let n = values.len();
        sql.push_str(&format!(
            " ORDER BY m.at_ms DESC, m.id DESC LIMIT ?{} OFFSET ?{n}",
            n - 1
        ));
        let mut stmt = c.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(values), from_row)?;
        return rows.map(|r| r.map(|(_, m)| m)).collect();
    }
    // FTS5 streams matches in rowid order without scoring them all.
    let candidates = rank::CANDIDATES.max(offset + limit);
    values.push((candidates as i64).into());
    sql.push_str(&format!(
        " ORDER BY inbox_fts.rowid DESC LIMIT ?{}",
        values.len()
    ));
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), |r| {
        let (key, m) = from_row(r)?;
        let at_ms: i64 = r.get(9)?;
        let names: String = r.get(15)?;
        let addresses: String = r.get(16)?;
        let fields = rank::Fields::new(&m.subject, &names, &addresses, &m.text);
        Ok((rank::score(&search.terms, &fields), at_ms, key, m))
    })?;
    let mut ranked = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    ranked.sort_by_key(|r| std::cmp::Reverse((r.0, r.1, r.2)));
    Ok(ranked
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, _, _, m)| m)
        .collect())
}

/// Index statistics for `commsctl status`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub messages: u64,
    /// The database pages the index's tables and FTS use, in bytes
    /// (without the rest of the database).
    pub bytes: u64,
    pub accounts: Vec<AccountStats>,
    pub sources: Vec<SourceStats>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountStats {
    pub account_id: String,
    pub messages: u64,
    pub unread: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStats {
    pub source: String,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    #[serde(skip)]
    pub last_sync_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub fn stats(c: &Connection) -> rusqlite::Result<Stats> {
    let mut stmt = c.prepare_cached(
        "SELECT account_id, count(*), sum(unread) FROM inbox_messages GROUP BY account_id ORDER BY account_id",
    )?;
    let accounts: Vec<AccountStats> = stmt
        .query_map([], |r| {
            Ok(AccountStats {
                account_id: r.get(0)?,
                messages: r.get::<_, i64>(1)? as u64,
                unread: r.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = c.prepare_cached(
        "SELECT source, account_id, last_sync_ms, last_error FROM inbox_sources ORDER BY source, account_id",
    )?;
    let sources = stmt
        .query_map([], |r| {
            Ok(SourceStats {
                source: r.get(0)?,
                account_id: r.get(1)?,
                last_sync: r.get::<_, Option<i64>>(2)?.map(rfc3339),
                last_sync_ms: r.get(2)?,
                last_error: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    // dbstat is not compiled into every SQLite; estimate from the page
    // count of the index's own tables when it is missing.
    let bytes = c
        .query_row(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'inbox%'",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .ok()
        .flatten()
        .unwrap_or(0) as u64;
    Ok(Stats {
        messages: accounts.iter().map(|a| a.messages).sum(),
        bytes,
        accounts,
        sources,
    })
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
