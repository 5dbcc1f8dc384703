//! The read cache of one account (design.md §7): entries keyed by method and
//! normalised parameters, with a TTL per kind and tags (`message:<id>`,
//! `thread:<id>`, `search`) that writes invalidate. Concurrent identical
//! reads share one upstream call. Each account has its own `Cache`, so no
//! entry is ever shared between accounts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::OnceCell;

use crate::error::Error;

/// A cached (or just fetched) value.
#[derive(Debug, Clone)]
pub struct Hit {
    pub value: Arc<Value>,
    /// True when no upstream call was made for this caller.
    pub cache_hit: bool,
    pub ttl_remaining: Duration,
}

type Slot = Arc<OnceCell<Result<(Arc<Value>, Instant), Error>>>;

struct Entry {
    slot: Slot,
    tags: Vec<String>,
}

/// Counters, shared by every account's cache of one `Gmail`.
#[derive(Debug, Default)]
pub struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Callers that waited on another caller's identical in-flight request.
    pub coalesced: AtomicU64,
    pub invalidations: AtomicU64,
}

pub struct Cache {
    entries: Mutex<HashMap<String, Entry>>,
    counters: Arc<Counters>,
}

impl Cache {
    pub fn new(counters: Arc<Counters>) -> Cache {
        Cache {
            entries: Mutex::new(HashMap::new()),
            counters,
        }
    }

    /// The value for `key`: cached while fresh, else fetched once however
    /// many callers ask at the same time. `tags` may depend on the value
    /// (a message's thread), so they are computed after the fetch.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        tags: impl Fn(&Value) -> Vec<String>,
        fetch: F,
    ) -> Result<Hit, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Value, Error>>,
    {
        let (slot, fresh_slot) = {
            let mut entries = self.lock();
            let now = Instant::now();
            let usable = entries.get(key).is_some_and(|e| match e.slot.get() {
                None => true,
                Some(Ok((_, expires))) => *expires > now,
                Some(Err(_)) => false,
            });
            if usable {
                (entries[key].slot.clone(), false)
            } else {
                let slot: Slot = Arc::new(OnceCell::new());
                entries.insert(
                    key.to_owned(),
                    Entry {
                        slot: slot.clone(),
                        tags: Vec::new(),
                    },
                );
                (slot, true)
            }
        };
        let was_ready = slot.initialized();
        let mut ran = false;
        let result = slot
            .get_or_init(|| async {
                ran = true;
                fetch().await.map(|v| (Arc::new(v), Instant::now() + ttl))
            })
            .await
            .clone();
        if ran {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            let mut entries = self.lock();
            let ours = entries
                .get(key)
                .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot));
            match &result {
                // Tag the entry, unless a write invalidated it meanwhile (then
                // the value reaches only the callers already waiting).
                Ok((value, _)) if ours => {
                    if let Some(e) = entries.get_mut(key) {
                        e.tags = tags(value);
                    }
                }
                Err(_) if ours => {
                    entries.remove(key);
                }
                _ => {}
            }
        } else if was_ready && !fresh_slot {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        let (value, expires) = result?;
        Ok(Hit {
            value,
            cache_hit: !ran,
            ttl_remaining: expires.saturating_duration_since(Instant::now()),
        })
    }

    /// Stores a value fetched elsewhere (a batch) under `key`.
    pub fn put(&self, key: &str, ttl: Duration, tags: Vec<String>, value: Value) {
        let slot: Slot = Arc::new(OnceCell::new());
        let _ = slot.set(Ok((Arc::new(value), Instant::now() + ttl)));
        self.lock().insert(key.to_owned(), Entry { slot, tags });
    }

    /// The fresh value under `key`, without fetching (counted as a hit).
    pub fn peek(&self, key: &str) -> Option<Hit> {
        let entries = self.lock();
        let e = entries.get(key)?;
        match e.slot.get() {
            Some(Ok((value, expires))) if *expires > Instant::now() => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(Hit {
                    value: value.clone(),
                    cache_hit: true,
                    ttl_remaining: expires.saturating_duration_since(Instant::now()),
                })
            }
            _ => None,
        }
    }

    /// Drops every entry carrying any of `tags`, and entries still in flight
    /// (their tags are not known yet, so they may hold what changed).
    pub fn invalidate(&self, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, e| e.slot.initialized() && !e.tags.iter().any(|t| tags.contains(t)));
        let dropped = (before - entries.len()) as u64;
        self.counters
            .invalidations
            .fetch_add(dropped, Ordering::Relaxed);
    }

    /// Drops everything (history too old to say what changed).
    pub fn clear(&self) {
        let mut entries = self.lock();
        let n = entries.len() as u64;
        entries.clear();
        self.counters.invalidations.fetch_add(n, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn identical_concurrent_reads_fetch_once_and_writes_invalidate() {
        let counters = Arc::new(Counters::default());
        let cache = Arc::new(Cache::new(counters.clone()));
        let fetches = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(
                        "k",
                        Duration::from_secs(60),
                        |_| vec!["message:1".into()],
                        || async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(json!({"id": "1"}))
                        },
                    )
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().value["id"], "1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(cache.peek("k").is_some());
        cache.invalidate(&["message:1".to_owned()]);
        assert!(cache.peek("k").is_none());
    }
}
