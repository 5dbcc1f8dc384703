//! The SQL of migration 0009: records, groups and each source's sync state.
//! Runs on the store thread only.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::record::{Fields, Record, Source};
use crate::store::StoreError;

/// A source's sync state (`contact_sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// Saved only from the last page of a run.
    pub sync_token: Option<String>,
    pub generation: i64,
    /// A run in progress: the token it started from (`None`: full) and its
    /// next page.
    pub running: bool,
    pub run_token: Option<String>,
    pub page_token: Option<String>,
    pub synced_at_ms: Option<i64>,
}

pub fn state(c: &Connection, account: &str, source: Source) -> Result<SyncState, StoreError> {
    Ok(c.query_row(
        "SELECT sync_token, generation, running, run_token, page_token, synced_at_ms FROM contact_sync WHERE account_id = ?1 AND source = ?2",
        params![account, source.as_str()],
        |r| {
            Ok(SyncState {
                sync_token: r.get(0)?,
                generation: r.get(1)?,
                running: r.get::<_, i64>(2)? != 0,
                run_token: r.get(3)?,
                page_token: r.get(4)?,
                synced_at_ms: r.get(5)?,
            })
        },
    )
    .optional()?
    .unwrap_or_default())
}

pub fn save_state(
    c: &Connection,
    account: &str,
    source: Source,
    s: &SyncState,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO contact_sync (account_id, source, sync_token, generation, running, run_token, page_token, synced_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (account_id, source) DO UPDATE SET sync_token = ?3, generation = ?4, running = ?5,
           run_token = ?6, page_token = ?7, synced_at_ms = ?8",
        params![account, source.as_str(), s.sync_token, s.generation, s.running as i64, s.run_token, s.page_token, s.synced_at_ms],
    )?;
    Ok(())
}

pub fn upsert(c: &Connection, r: &Record, generation: i64, now_ms: i64) -> Result<(), StoreError> {
    let data = serde_json::to_string(&r.fields).unwrap_or_default();
    c.execute(
        "INSERT INTO contact_records (account_id, source, resource_name, etag, data, sync_gen, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (account_id, resource_name) DO UPDATE SET source = ?2, etag = ?4, data = ?5,
           sync_gen = ?6, updated_at_ms = ?7",
        params![r.account_id, r.source.as_str(), r.resource_name, r.etag, data, generation, now_ms],
    )?;
    Ok(())
}

pub fn delete(c: &Connection, account: &str, resource_name: &str) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM contact_records WHERE account_id = ?1 AND resource_name = ?2",
        params![account, resource_name],
    )?;
    Ok(())
}

/// After a full sync: rows of the source that the run did not see.
pub fn delete_older(
    c: &Connection,
    account: &str,
    source: Source,
    generation: i64,
) -> Result<usize, StoreError> {
    Ok(c.execute(
        "DELETE FROM contact_records WHERE account_id = ?1 AND source = ?2 AND sync_gen < ?3",
        params![account, source.as_str(), generation],
    )?)
}

pub fn replace_groups(
    c: &Connection,
    account: &str,
    groups: &[(String, String)],
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM contact_groups WHERE account_id = ?1",
        params![account],
    )?;
    for (rn, name) in groups {
        c.execute(
            "INSERT OR REPLACE INTO contact_groups (account_id, resource_name, name) VALUES (?1, ?2, ?3)",
            params![account, rn, name],
        )?;
    }
    Ok(())
}

/// Everything of an account, dropped when the account is removed.
pub fn forget(c: &Connection, account: &str) -> Result<(), StoreError> {
    for table in ["contact_records", "contact_groups", "contact_sync"] {
        c.execute(
            &format!("DELETE FROM {table} WHERE account_id = ?1"),
            params![account],
        )?;
    }
    Ok(())
}

pub type Groups = HashMap<(String, String), String>;

/// Every record and group, to build the book from.
pub fn load(c: &Connection) -> Result<(Vec<Record>, Groups), StoreError> {
    let mut stmt =
        c.prepare("SELECT account_id, source, resource_name, etag, data FROM contact_records")?;
    let records = stmt
        .query_map([], |r| {
            let source: String = r.get(1)?;
            let data: String = r.get(4)?;
            Ok(Record {
                account_id: r.get(0)?,
                source: Source::parse(&source).unwrap_or(Source::Other),
                resource_name: r.get(2)?,
                etag: r.get(3)?,
                fields: serde_json::from_str::<Fields>(&data).unwrap_or_default(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = c.prepare("SELECT account_id, resource_name, name FROM contact_groups")?;
    let groups = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?
        .collect::<Result<Groups, _>>()?;
    Ok((records, groups))
}
