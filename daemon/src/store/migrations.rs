//! Versioned, embedded schema migrations. `PRAGMA user_version` holds the
//! number of migrations applied; each runs in its own transaction.

use rusqlite::Connection;

use super::StoreError;

/// The migrations, in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_daemon_runs.sql"),
    include_str!("migrations/0002_outbox_audit.sql"),
    include_str!("migrations/0003_api_keys.sql"),
    include_str!("migrations/0004_accounts.sql"),
    include_str!("migrations/0005_gmail.sql"),
    include_str!("migrations/0006_chat.sql"),
    include_str!("migrations/0007_sms_send.sql"),
    include_str!("migrations/0008_sms_receive.sql"),
    include_str!("migrations/0009_contacts.sql"),
    include_str!("migrations/0010_inbox.sql"),
    include_str!("migrations/0011_inbox_threads.sql"),
    include_str!("migrations/0012_runs_last_seen.sql"),
];

/// The schema version this build creates and understands.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn apply(conn: &mut Connection, current: i64) -> Result<(), StoreError> {
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        let migrate = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        migrate(conn).map_err(|source| StoreError::Migration { version, source })?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
