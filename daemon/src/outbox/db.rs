//! SQL for the outbox. Every function runs on the store thread with the
//! connection (inside the caller's transaction for writes).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::item::{COLUMNS, FIXED_COLUMNS, Item, col};
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

/// `id, channel, ...`: every column an item maps, for SELECT.
static SELECT_LIST: LazyLock<String> = LazyLock::new(|| COLUMNS.join(", "));

/// Every column, bound from [`Item::values`] as `?1..?N`.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO outbox_items ({}) VALUES ({})",
        COLUMNS.join(", "),
        marks.join(", ")
    )
});

/// Every column but the fixed ones, bound from [`Item::values`] like
/// [`INSERT`]; the expected state is the parameter after them.
static UPDATE_IF: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| !FIXED_COLUMNS.contains(c))
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect();
    format!(
        "UPDATE outbox_items SET {} WHERE id = ?{} AND state = ?{}",
        sets.join(", "),
        col!("id") + 1,
        COLUMNS.len() + 1
    )
});

pub fn insert(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    conn.prepare_cached(&INSERT)?
        .execute(params_from_iter(item.values().iter()))?;
    Ok(())
}

/// Writes every mutable field of `item`, but only if the stored state is
/// still `expected`: a concurrent change makes this return false.
pub fn update_if(conn: &Connection, item: &Item, expected: State) -> Result<bool, StoreError> {
    let values = item.values();
    let expected = expected.as_str();
    let params = values
        .iter()
        .map(|v| v as &dyn ToSql)
        .chain(std::iter::once(&expected as &dyn ToSql));
    let changed = conn
        .prepare_cached(&UPDATE_IF)?
        .execute(params_from_iter(params))?;
    Ok(changed == 1)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Item>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {columns} FROM outbox_items WHERE id = ?1",
            columns = SELECT_LIST.as_str()
        ))?
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
            "SELECT {columns} FROM outbox_items WHERE requester = ?1 AND client_request_id = ?2",
            columns = SELECT_LIST.as_str()
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
    let mut sql = format!(
        "SELECT {columns} FROM outbox_items WHERE 1 = 1",
        columns = SELECT_LIST.as_str()
    );
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
        "SELECT {columns} FROM outbox_items WHERE state = 'approved' AND coalesce(dispatch_after_ms, 0) <= ?1 \
         ORDER BY priority, created_at_ms, id LIMIT ?2",
        columns = SELECT_LIST.as_str()
    ))?;
    let rows = stmt.query_map(params![now_ms, limit as i64], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Approved items whose hold ends further ahead of `now_ms` than any hold
/// can: past `now_ms + window_ms` without a hold reason (the hold window),
/// past `now_ms + reason_ms` with one (quiet hours). Only a clock that went
/// back makes them.
pub fn held_beyond(
    conn: &Connection,
    now_ms: i64,
    window_ms: i64,
    reason_ms: i64,
) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM outbox_items WHERE state = 'approved' AND dispatch_after_ms IS NOT NULL \
         AND ((hold_reason IS NULL AND dispatch_after_ms > ?1) OR (hold_reason IS NOT NULL AND dispatch_after_ms > ?2))",
        columns = SELECT_LIST.as_str()
    ))?;
    let rows = stmt.query_map(
        params![
            now_ms.saturating_add(window_ms),
            now_ms.saturating_add(reason_ms)
        ],
        Item::from_row,
    )?;
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
        "SELECT {columns} FROM outbox_items WHERE state = ?1",
        columns = SELECT_LIST.as_str()
    ))?;
    let rows = stmt.query_map([state.as_str()], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pending items whose expiry has passed.
pub fn expired(conn: &Connection, now_ms: i64) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM outbox_items WHERE state IN ('draft', 'pending_approval') \
         AND expires_at_ms IS NOT NULL AND expires_at_ms <= ?1",
        columns = SELECT_LIST.as_str()
    ))?;
    let rows = stmt.query_map([now_ms], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pending items that have an expiry (for [`expired`]'s clock guard).
pub fn expiring(conn: &Connection) -> Result<Vec<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {columns} FROM outbox_items WHERE state IN ('draft', 'pending_approval') \
         AND expires_at_ms IS NOT NULL",
        columns = SELECT_LIST.as_str()
    ))?;
    let rows = stmt.query_map([], Item::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::item::{Approval, Delivery, Rejection};
    use crate::outbox::model::{Content, Decision, Priority, SmsContent};
    use crate::store::Store;

    /// An item with a distinct value in every column.
    fn full_item() -> Item {
        Item {
            id: "ob_roundtrip0".to_owned(),
            channel: Channel::Sms,
            account: "sandbox".to_owned(),
            state: State::Approved,
            priority: Priority::High,
            requester: "agent:test".to_owned(),
            client_request_id: Some("req-1".to_owned()),
            content: Content::Sms(SmsContent {
                to: "+14155550100".to_owned(),
                body: "Hello".to_owned(),
            }),
            content_hash: "hash-1".to_owned(),
            recipients: vec!["+14155550100".to_owned()],
            summary: "SMS to +14155550100".to_owned(),
            decision: Decision::Confirm,
            rule: "rule-1".to_owned(),
            hold_reason: Some("held".to_owned()),
            approval: Some(Approval {
                by: "human".to_owned(),
                at_ms: 11,
                content_hash: "hash-approved".to_owned(),
            }),
            rejection: Some(Rejection {
                by: "someone".to_owned(),
                at_ms: 12,
                reason: "because".to_owned(),
            }),
            dispatch_after_ms: Some(13),
            dispatched_at_ms: Some(14),
            delivery: Some(Delivery {
                at_ms: 15,
                detail: "delivered".to_owned(),
            }),
            error: Some("an error".to_owned()),
            created_at_ms: 16,
            updated_at_ms: 17,
            expires_at_ms: Some(18),
            addressing: Vec::new(),
            provider_ref: Some("gmail-draft:r1".to_owned()),
        }
    }

    #[tokio::test]
    async fn every_column_round_trips_and_updates_leave_the_fixed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join("outbox.db")).unwrap();
        let (stored, updated, stale) = store
            .call(|c| {
                let item = full_item();
                insert(c, &item)?;
                let stored = get(c, &item.id)?;
                let mut changed = full_item();
                changed.state = State::Sent;
                changed.priority = Priority::Low;
                changed.hold_reason = None;
                changed.error = Some("another".to_owned());
                changed.updated_at_ms = 99;
                // Fixed columns: an update must not write them.
                changed.account = "other".to_owned();
                changed.provider_ref = None;
                let applied = update_if(c, &changed, State::Approved)?;
                assert!(applied);
                let updated = get(c, &item.id)?;
                // The state is no longer `approved`: a second update is refused.
                let stale = update_if(c, &changed, State::Approved)?;
                Ok((stored, updated, stale))
            })
            .await
            .unwrap();
        assert_eq!(stored, Some(full_item()));
        let mut expected = full_item();
        expected.state = State::Sent;
        expected.priority = Priority::Low;
        expected.hold_reason = None;
        expected.error = Some("another".to_owned());
        expected.updated_at_ms = 99;
        assert_eq!(updated, Some(expected));
        assert!(!stale);
    }
}
