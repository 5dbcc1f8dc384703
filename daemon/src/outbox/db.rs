//! SQL for the outbox. Every function runs on the store thread with the
//! connection (inside the caller's transaction for writes).

use std::collections::BTreeMap;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::item::{COLUMNS, Item};
use super::model::{Channel, State};
use crate::error::Error;
use crate::store::StoreError;

/// Which items to list, in queue order (priority, then oldest first).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Empty means every state.
    pub states: Vec<State>,
    pub channel: Option<Channel>,
    pub account: Option<String>,
    pub requester: Option<String>,
}

/// Keyset position after the last item of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub priority: i64,
    pub created_at_ms: i64,
    pub id: String,
}

impl Cursor {
    pub fn after(item: &Item) -> Cursor {
        Cursor {
            priority: item.priority.rank(),
            created_at_ms: item.created_at_ms,
            id: item.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.priority, self.created_at_ms, self.id)
    }

    pub fn decode(s: &str) -> Result<Cursor, Error> {
        let bad = || Error::invalid("cursor", "not a cursor returned by a previous page");
        let mut parts = s.splitn(3, '.');
        let priority = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let created_at_ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let id = parts.next().filter(|id| !id.is_empty()).ok_or_else(bad)?;
        Ok(Cursor {
            priority,
            created_at_ms,
            id: id.to_owned(),
        })
    }
}

pub fn insert(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "INSERT INTO outbox_items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
         ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)"
    ))?
    .execute(params![
        item.id,
        item.channel.as_str(),
        item.account,
        item.state.as_str(),
        item.priority.rank(),
        item.requester,
        item.client_request_id,
        json(&item.content),
        item.content_hash,
        json(&item.recipients),
        item.summary,
        item.decision.as_str(),
        item.rule,
        item.hold_reason,
        item.approval.as_ref().map(|a| &a.content_hash),
        item.approval.as_ref().map(|a| &a.by),
        item.approval.as_ref().map(|a| a.at_ms),
        item.rejection.as_ref().map(|r| &r.by),
        item.rejection.as_ref().map(|r| r.at_ms),
        item.rejection.as_ref().map(|r| &r.reason),
        item.dispatch_after_ms,
        item.dispatched_at_ms,
        item.delivery.as_ref().map(|d| d.at_ms),
        item.delivery.as_ref().map(|d| &d.detail),
        item.error,
        item.created_at_ms,
        item.updated_at_ms,
        item.expires_at_ms,
    ])?;
    Ok(())
}

/// Writes every mutable field of `item`, but only if the stored state is
/// still `expected`: a concurrent change makes this return false.
pub fn update_if(conn: &Connection, item: &Item, expected: State) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox_items SET state = ?2, priority = ?3, content = ?4, content_hash = ?5, \
             recipients = ?6, summary = ?7, decision = ?8, rule = ?9, hold_reason = ?10, \
             approved_hash = ?11, approved_by = ?12, approved_at_ms = ?13, rejected_by = ?14, \
             rejected_at_ms = ?15, reject_reason = ?16, dispatch_after_ms = ?17, dispatched_at_ms = ?18, \
             delivered_at_ms = ?19, delivery_detail = ?20, error = ?21, updated_at_ms = ?22, \
             expires_at_ms = ?23 \
             WHERE id = ?1 AND state = ?24",
        )?
        .execute(params![
            item.id,
            item.state.as_str(),
            item.priority.rank(),
            json(&item.content),
            item.content_hash,
            json(&item.recipients),
            item.summary,
            item.decision.as_str(),
            item.rule,
            item.hold_reason,
            item.approval.as_ref().map(|a| &a.content_hash),
            item.approval.as_ref().map(|a| &a.by),
            item.approval.as_ref().map(|a| a.at_ms),
            item.rejection.as_ref().map(|r| &r.by),
            item.rejection.as_ref().map(|r| r.at_ms),
            item.rejection.as_ref().map(|r| &r.reason),
            item.dispatch_after_ms,
            item.dispatched_at_ms,
            item.delivery.as_ref().map(|d| d.at_ms),
            item.delivery.as_ref().map(|d| &d.detail),
            item.error,
            item.updated_at_ms,
            item.expires_at_ms,
            expected.as_str(),
        ])?;
    Ok(changed == 1)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Item>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox_items WHERE id = ?1"))?
        .query_row([id], Item::from_row)
        .optional()?)
}

pub fn find_by_request(
    conn: &Connection,
    requester: &str,
    client_request_id: &str,
) -> Result<Option<Item>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox_items WHERE requester = ?1 AND client_request_id = ?2"
        ))?
        .query_row([requester, client_request_id], Item::from_row)
        .optional()?)
}

/// One page in queue order, starting after `cursor`.
pub fn list(
    conn: &Connection,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM outbox_items WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if !filter.states.is_empty() {
        let marks = vec!["?"; filter.states.len()].join(", ");
        sql.push_str(&format!(" AND state IN ({marks})"));
        args.extend(
            filter
                .states
                .iter()
                .map(|s| Box::new(s.as_str()) as Box<dyn ToSql>),
        );
    }
    if let Some(channel) = filter.channel {
        sql.push_str(" AND channel = ?");
        args.push(Box::new(channel.as_str()));
    }
    if let Some(account) = &filter.account {
        sql.push_str(" AND account = ?");
        args.push(Box::new(account.clone()));
    }
    if let Some(requester) = &filter.requester {
        sql.push_str(" AND requester = ?");
        args.push(Box::new(requester.clone()));
    }
    if let Some(c) = cursor {
        sql.push_str(" AND (priority, created_at_ms, id) > (?, ?, ?)");
        args.push(Box::new(c.priority));
        args.push(Box::new(c.created_at_ms));
        args.push(Box::new(c.id.clone()));
    }
    sql.push_str(" ORDER BY priority, created_at_ms, id LIMIT ?");
    args.push(Box::new(limit as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count_by_state(conn: &Connection) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT state, count(*) FROM outbox_items GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut counts: BTreeMap<String, u64> = State::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for row in rows {
        let (state, n) = row?;
        counts.insert(state, n.max(0) as u64);
    }
    Ok(counts)
}

/// Approved items whose hold window has passed, in dispatch order.
pub fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox_items WHERE state = 'approved' AND coalesce(dispatch_after_ms, 0) <= ?1 \
         ORDER BY priority, created_at_ms, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now_ms, limit as i64], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The earliest future dispatch time among approved items, if any.
pub fn next_due_ms(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(dispatch_after_ms) FROM outbox_items WHERE state = 'approved'")?
        .query_row([], |r| r.get(0))?)
}

/// Items dispatched (marked sending) on `account` and `channel` since `since_ms`.
pub fn dispatched_since(
    conn: &Connection,
    account: &str,
    channel: Channel,
    since_ms: i64,
) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM outbox_items WHERE account = ?1 AND channel = ?2 AND dispatched_at_ms >= ?3",
        )?
        .query_row(params![account, channel.as_str(), since_ms], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Items in `state`.
pub fn in_state(conn: &Connection, state: State) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox_items WHERE state = ?1"
    ))?;
    let rows = stmt.query_map([state.as_str()], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pending items whose expiry has passed.
pub fn expired(conn: &Connection, now_ms: i64) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox_items WHERE state IN ('draft', 'pending_approval') \
         AND expires_at_ms IS NOT NULL AND expires_at_ms <= ?1"
    ))?;
    let rows = stmt.query_map([now_ms], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Links an item to a provider's object (`gmail-draft:<id>`).
pub fn set_provider_ref(conn: &Connection, id: &str, link: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox_items SET provider_ref = ?1 WHERE id = ?2",
        rusqlite::params![link, id],
    )?;
    Ok(())
}

/// The provider object an item is linked to, if any.
pub fn provider_ref(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT provider_ref FROM outbox_items WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// A live item (draft, pending approval, approved) linked to `link` with this content hash.
pub fn find_by_provider_ref(
    conn: &Connection,
    link: &str,
    hash: &str,
) -> Result<Option<Item>, StoreError> {
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM outbox_items WHERE provider_ref = ?1 AND content_hash = ?2 \
             AND state IN ('draft', 'pending_approval', 'approved') ORDER BY created_at_ms DESC LIMIT 1",
            rusqlite::params![link, hash],
            |r| r.get(0),
        )
        .optional()?;
    match id {
        Some(id) => get(conn, &id),
        None => Ok(None),
    }
}
