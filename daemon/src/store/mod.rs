//! SQLite storage: one connection owned by a dedicated thread.
//!
//! Async code never touches SQLite directly: it sends a closure to the store
//! thread with [`Store::call`] and awaits the answer, so database work never
//! blocks the runtime's worker threads. One writer also means SQLite's own
//! locking never sees contention from inside the daemon.

mod migrations;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

pub use migrations::LATEST_VERSION;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "database {} was written by a newer commsd (schema version {found}; this commsd knows up to {known}); \
         it was left untouched: run the newer commsd, or point COMMSD_DATA_DIR at another directory",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database migration to schema version {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database thread has stopped")]
    Closed,
}

/// Handle to the store thread. Cheap to clone; the thread ends when the last
/// handle is dropped or [`Store::close`] is called.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

/// Joins the store thread; returned by [`Store::open`] so shutdown can wait
/// for the connection to be closed (WAL checkpointed) before the process exits.
pub struct StoreThread(JoinHandle<()>);

impl StoreThread {
    /// Waits until every handle is dropped and the connection is closed.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("database thread panicked");
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, applies pending
    /// migrations and starts the store thread. Blocking: call it before
    /// serving or from `spawn_blocking`.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let conn = open_connection(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("commsd-store".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Open {
                path: path.to_owned(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok((Store { jobs }, StoreThread(handle)))
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // The receiver may be gone if the caller was cancelled; nothing to do then.
            let _ = tx.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    for job in jobs {
        job(&mut conn);
    }
    // Every sender is gone: checkpoint the WAL and close cleanly.
    if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
        tracing::warn!(error = %e, "WAL checkpoint at close failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the database failed");
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_err)?;

    // Refuse a newer schema before anything writes to the file (even
    // switching the journal mode is a write).
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err)?;
    if found > LATEST_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            known: LATEST_VERSION,
        });
    }

    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(open_err)?;
    // FULL: a committed transaction survives power loss, not just a crash.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    migrations::apply(&mut conn, found)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_migrates_and_serves_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (store, thread) = Store::open(&path).unwrap();
        let (version, mode): (i64, String) = store
            .call(|c| {
                let v = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let m = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                Ok((v, m))
            })
            .await
            .unwrap();
        assert_eq!(version, LATEST_VERSION);
        assert_eq!(mode, "wal");
        drop(store);
        thread.join();
        // Reopening an up-to-date database applies nothing and succeeds.
        let (store, thread) = Store::open(&path).unwrap();
        drop(store);
        thread.join();
    }

    #[test]
    fn newer_database_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", LATEST_VERSION + 1)
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let Err(err) = Store::open(&path) else {
            panic!("a newer database must be refused");
        };
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
        assert!(err.to_string().contains("newer commsd"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!dir.path().join("t.db-wal").exists());
    }
}
