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

/// Reports a write job's outcome once its batch has committed (or failed to).
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

enum Job {
    /// Runs alone with the connection (reads, or writes that manage their own transaction).
    Call(Box<dyn FnOnce(&mut Connection) + Send>),
    /// Runs inside a shared transaction with other writes (group commit);
    /// returns whether it succeeded and how to report its result.
    Write(WriteJob),
    /// Close now, even if handles remain (they then get `Closed`).
    Close,
}

type WriteJob = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// At most this many writes share one commit.
const MAX_BATCH: usize = 256;

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
    #[error("commit failed: {0}")]
    Commit(String),
    /// A domain error raised inside a write job; the job is rolled back.
    #[error("{0}")]
    Domain(Box<crate::error::Error>),
}

/// SQLite's "database or disk is full".
pub fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
        || e.to_string().contains("database or disk is full")
}

impl StoreError {
    /// The write failed because the data directory's disk is full.
    pub fn disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(e) | StoreError::Migration { source: e, .. } => is_disk_full(e),
            StoreError::Commit(m) => m.contains("database or disk is full"),
            _ => false,
        }
    }
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
        let job = Job::Call(Box::new(move |conn| {
            // The receiver may be gone if the caller was cancelled; nothing to do then.
            let _ = tx.send(f(conn));
        }));
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Asks the thread to checkpoint and close the database now; later calls
    /// on any handle fail with [`StoreError::Closed`]. Used at shutdown so a
    /// stuck client holding a handle cannot keep the database open.
    pub fn close(&self) {
        let _ = self.jobs.send(Job::Close);
    }

    /// Runs `f` inside a transaction and returns once it is durably committed.
    ///
    /// Concurrent writes share one transaction and one fsync (group commit);
    /// each runs in its own savepoint, so a failing write is rolled back
    /// alone. `f` must not begin or end transactions itself.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_then(f, |value| value).await
    }

    /// [`Store::write`], then `after_commit` with its value, on the store
    /// thread, as soon as the commit is durable: whatever must follow a
    /// commit (in-memory counts and caches, events) goes here, because it
    /// then happens even when the caller's future is dropped after the job
    /// was queued (a client that disconnects mid-request). `after_commit`
    /// must be quick and must not block: it delays the next write batch.
    pub async fn write_then<T, U, F, A>(&self, f: F, after_commit: A) -> Result<U, StoreError>
    where
        T: Send + 'static,
        U: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        A: FnOnce(T) -> U + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Job::Write(Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let done: Completion = Box::new(move |commit| {
                let out = match (result, commit) {
                    (Ok(value), Ok(())) => Ok(after_commit(value)),
                    (Ok(_), Err(e)) => Err(StoreError::Commit(e)),
                    (Err(e), _) => Err(e),
                };
                // The caller may be gone; what had to happen has happened.
                let _ = tx.send(out);
            });
            (ok, done)
        }));
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn run(mut conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Close => break,
            Job::Call(f) => f(&mut conn),
            Job::Write(first) => {
                let mut batch = vec![first];
                let mut next_call = None;
                let mut closing = false;
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(Job::Write(w)) => batch.push(w),
                        Ok(Job::Call(c)) => {
                            next_call = Some(c);
                            break;
                        }
                        Ok(Job::Close) => {
                            closing = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                write_batch(&conn, batch);
                if let Some(call) = next_call {
                    call(&mut conn);
                }
                if closing {
                    break;
                }
            }
        }
    }
    // Asked to close, or every handle is gone: checkpoint the WAL and close.
    if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
        tracing::warn!(error = %e, "WAL checkpoint at close failed");
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the database failed");
    }
}

/// One transaction for the whole batch, one savepoint per job.
fn write_batch(conn: &Connection, batch: Vec<WriteJob>) {
    let mut completions = Vec::with_capacity(batch.len());
    let outcome = (|| -> rusqlite::Result<()> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for job in batch {
            conn.execute_batch("SAVEPOINT job")?;
            let (ok, done) = job(conn);
            completions.push(done);
            if !ok {
                conn.execute_batch("ROLLBACK TO job")?;
            }
            conn.execute_batch("RELEASE job")?;
        }
        conn.execute_batch("COMMIT")
    })();
    let outcome = outcome.map_err(|e| {
        tracing::error!(error = %e, "write batch failed; rolling back");
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    });
    for done in completions {
        done(outcome.clone());
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

        // Concurrent writes commit together; a failing one is rolled back alone.
        store
            .call(|c| Ok(c.execute_batch("CREATE TABLE t (x INTEGER UNIQUE)")?))
            .await
            .unwrap();
        let writes = (0..50).map(|i| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        c.execute("INSERT INTO t (x) VALUES (?1)", [i % 40])?;
                        Ok(i)
                    })
                    .await
            }
        });
        let results = futures_join_all(writes).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 40);
        let n: i64 = store
            .call(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 40);
        drop(store);
        thread.join();
        // Reopening an up-to-date database applies nothing and succeeds.
        let (store, thread) = Store::open(&path).unwrap();
        drop(store);
        thread.join();
    }

    async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
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
