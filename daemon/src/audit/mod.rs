//! The audit log: append-only, hash-chained, never holding message bodies.
//!
//! Each row's `hash` is SHA-256 over its own fields and the previous row's
//! hash, so altering, inserting or deleting any row breaks the chain from
//! that row on; `verify` finds the first row where it breaks. Triggers refuse
//! UPDATE and DELETE, so only someone who edits the file around commsd can
//! change history, and `verify` catches that.

pub mod service;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::events::now_unix_ms;
use crate::store::StoreError;

/// The hash that precedes the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, by whom, to what. Never a body, never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub actor: String,
    pub action: String,
    pub item_id: Option<String>,
    pub account: Option<String>,
    pub channel: Option<String>,
    pub recipients: Vec<String>,
    pub content_hash: Option<String>,
    pub decision: Option<String>,
    pub result: Option<String>,
}

/// A stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub item_id: Option<String>,
    pub account: Option<String>,
    pub channel: Option<String>,
    pub recipients: Vec<String>,
    pub content_hash: Option<String>,
    pub decision: Option<String>,
    pub result: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl Event {
    fn expected_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.at_ms,
            self.actor,
            self.action,
            self.item_id,
            self.account,
            self.channel,
            self.recipients,
            self.content_hash,
            self.decision,
            self.result,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Appends `entry` in the caller's transaction and returns the stored row.
pub fn append(conn: &Connection, entry: Entry) -> Result<Event, StoreError> {
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let mut event = Event {
        seq,
        at_ms: now_unix_ms(),
        actor: entry.actor,
        action: entry.action,
        item_id: entry.item_id,
        account: entry.account,
        channel: entry.channel,
        recipients: entry.recipients,
        content_hash: entry.content_hash,
        decision: entry.decision,
        result: entry.result,
        prev_hash,
        hash: String::new(),
    };
    event.hash = event.expected_hash();
    conn.execute(
        "INSERT INTO audit_log (seq, at_ms, actor, action, item_id, account, channel, recipients, \
         content_hash, decision, result, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            event.seq,
            event.at_ms,
            event.actor,
            event.action,
            event.item_id,
            event.account,
            event.channel,
            serde_json::to_string(&event.recipients).unwrap_or_else(|_| "[]".into()),
            event.content_hash,
            event.decision,
            event.result,
            event.prev_hash,
            event.hash,
        ],
    )?;
    Ok(event)
}

/// Which rows to list: newest first.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since_ms: Option<i64>,
    pub before_seq: Option<i64>,
    pub item_id: Option<String>,
    pub limit: usize,
}

const COLUMNS: &str = "seq, at_ms, actor, action, item_id, account, channel, recipients, content_hash, decision, result, prev_hash, hash";

fn row_to_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let recipients: String = r.get(7)?;
    Ok(Event {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        item_id: r.get(4)?,
        account: r.get(5)?,
        channel: r.get(6)?,
        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
        content_hash: r.get(8)?,
        decision: r.get(9)?,
        result: r.get(10)?,
        prev_hash: r.get(11)?,
        hash: r.get(12)?,
    })
}

pub fn list(conn: &Connection, filter: &Filter) -> Result<Vec<Event>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit_log \
         WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR seq < ?2) AND (?3 IS NULL OR item_id = ?3) \
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.since_ms,
            filter.before_seq,
            filter.item_id,
            filter.limit as i64
        ],
        row_to_event,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub rows: u64,
    /// The first row that does not match, and why.
    pub first_bad: Option<BadRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    pub seq: i64,
    pub reason: String,
}

/// Walks every row in order, recomputing each hash.
pub fn verify(conn: &Connection) -> Result<Verification, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut expected_prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let event = row_to_event(row)?;
        count += 1;
        let bad = |reason: String| {
            Ok(Verification {
                rows: count,
                first_bad: Some(BadRow {
                    seq: event.seq,
                    reason,
                }),
            })
        };
        if event.seq != expected_seq {
            return bad(format!(
                "expected row {expected_seq} next, found {}: a row was deleted or inserted",
                event.seq
            ));
        }
        if event.prev_hash != expected_prev {
            return bad("prev_hash does not match the previous row's hash".to_owned());
        }
        if event.hash != event.expected_hash() {
            return bad("the row's content does not match its hash: it was altered".to_owned());
        }
        expected_prev = event.hash;
        expected_seq += 1;
    }
    Ok(Verification {
        rows: count,
        first_bad: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let (store, thread) = crate::store::Store::open(&path).unwrap();
        drop(store);
        thread.join();
        let conn = Connection::open(&path).unwrap();
        std::mem::forget(dir);
        conn
    }

    fn entry(action: &str) -> Entry {
        Entry {
            actor: "cli:test".into(),
            action: action.into(),
            item_id: Some("ob_1".into()),
            recipients: vec!["a@b.c".into()],
            ..Entry::default()
        }
    }

    #[test]
    fn chain_verifies_and_detects_alteration() {
        let conn = db();
        for a in ["staged", "approved", "sent"] {
            append(&conn, entry(a)).unwrap();
        }
        let ok = verify(&conn).unwrap();
        assert_eq!(
            ok,
            Verification {
                rows: 3,
                first_bad: None
            }
        );

        // The triggers refuse edits through SQL...
        assert!(
            conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 2", [])
                .is_err()
        );
        assert!(
            conn.execute("DELETE FROM audit_log WHERE seq = 3", [])
                .is_err()
        );
        // ...so a tamperer drops them first; verify still catches it.
        conn.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 2;").unwrap();
        let bad = verify(&conn).unwrap();
        assert_eq!(bad.first_bad.unwrap().seq, 2);
    }

    #[test]
    fn deleted_row_is_detected() {
        let conn = db();
        for a in ["staged", "approved", "sent"] {
            append(&conn, entry(a)).unwrap();
        }
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2;",
        )
        .unwrap();
        let bad = verify(&conn).unwrap().first_bad.unwrap();
        assert_eq!(bad.seq, 3);
        assert!(bad.reason.contains("deleted"), "{}", bad.reason);
    }

    #[test]
    fn list_is_newest_first_and_filters() {
        let conn = db();
        for a in ["staged", "approved", "sent"] {
            append(&conn, entry(a)).unwrap();
        }
        let all = list(
            &conn,
            &Filter {
                limit: 10,
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 2, 1]);
        let page = list(
            &conn,
            &Filter {
                limit: 10,
                before_seq: Some(3),
                ..Filter::default()
            },
        )
        .unwrap();
        assert_eq!(page.len(), 2);
    }
}
