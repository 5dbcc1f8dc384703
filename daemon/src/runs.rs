//! The `daemon_runs` table: one row per start, closed on clean shutdown.

use rusqlite::{Connection, params};

use crate::events::now_unix_ms;
use crate::store::StoreError;

/// What the history of runs says at start-up.
#[derive(Debug, Clone, Copy)]
pub struct RunHistory {
    /// This run's row id.
    pub run_id: i64,
    /// Starts recorded, this one included.
    pub starts: u64,
    /// Earlier runs that never recorded a clean stop.
    pub unclean_stops: u64,
    /// The pid of the most recent earlier run that stopped uncleanly.
    pub last_unclean_pid: Option<u32>,
    /// The last time (wall clock, Unix ms) the previous run was seen alive:
    /// its clean stop, else its last heartbeat, else its start.
    pub previous_seen_ms: Option<i64>,
}

/// How often a running daemon records that it is alive (`last_seen_ms`).
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn record_start(
    conn: &mut Connection,
    pid: u32,
    version: &str,
) -> Result<RunHistory, StoreError> {
    let tx = conn.transaction()?;
    let last_unclean_pid: Option<u32> = tx
        .query_row(
            "SELECT pid FROM daemon_runs WHERE stopped_at_ms IS NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let previous_seen_ms: Option<i64> = tx
        .query_row(
            "SELECT coalesce(stopped_at_ms, last_seen_ms, started_at_ms) FROM daemon_runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    tx.execute(
        "INSERT INTO daemon_runs (pid, version, started_at_ms) VALUES (?1, ?2, ?3)",
        params![pid, version, now_unix_ms()],
    )?;
    let run_id = tx.last_insert_rowid();
    let (starts, unclean_stops): (i64, i64) = tx.query_row(
        "SELECT count(*), count(*) FILTER (WHERE stopped_at_ms IS NULL AND id <> ?1) FROM daemon_runs",
        [run_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    tx.commit()?;
    Ok(RunHistory {
        run_id,
        starts: starts.max(0) as u64,
        unclean_stops: unclean_stops.max(0) as u64,
        last_unclean_pid,
        previous_seen_ms,
    })
}

/// Records that run `run_id` is alive at `now_ms`.
pub fn record_seen(conn: &Connection, run_id: i64, now_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE daemon_runs SET last_seen_ms = ?1 WHERE id = ?2",
        params![now_ms, run_id],
    )?;
    Ok(())
}

pub fn record_stop(conn: &mut Connection, run_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE daemon_runs SET stopped_at_ms = ?1 WHERE id = ?2",
        params![now_unix_ms(), run_id],
    )?;
    Ok(())
}

/// Records every [`HEARTBEAT`] that this run is alive, until `shutdown`:
/// after a crash, the next start knows when the outbox was last watched
/// (`Outbox::resume_holds`).
pub async fn heartbeat(
    store: crate::store::Store,
    run_id: i64,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_unix_ms();
        if let Err(e) = store.call(move |c| record_seen(c, run_id, now)).await {
            tracing::debug!(error = %e, "cannot record the heartbeat");
        }
    }
}
