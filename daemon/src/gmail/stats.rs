//! Cache and quota counters, for status, the dashboard and
//! `commsd://cache/stats`.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Gmail;

impl Gmail {
    /// Cache and quota counters, for status and `commsd://cache/stats`.
    pub fn stats(&self) -> Value {
        let c = &self.counters;
        let u = self.clients.upstream();
        let accounts = self.lock();
        let entries: usize = accounts.values().map(|a| a.cache.len()).sum();
        let hits = c.hits.load(Ordering::Relaxed);
        let coalesced = c.coalesced.load(Ordering::Relaxed);
        json!({
            "accounts": accounts.len(),
            "entries": entries,
            "hits": hits,
            "misses": c.misses.load(Ordering::Relaxed),
            "coalesced": coalesced,
            "invalidations": c.invalidations.load(Ordering::Relaxed),
            "upstream_requests": u.requests.load(Ordering::Relaxed),
            "upstream_calls": u.calls.load(Ordering::Relaxed),
            "quota_units": u.quota_units.load(Ordering::Relaxed),
            "retries": u.retries.load(Ordering::Relaxed),
            "batches": u.batches.load(Ordering::Relaxed),
            "limiter_wait_ms": u.limiter_wait_ms.load(Ordering::Relaxed),
            "requests_saved": hits + coalesced,
        })
    }

    /// The counters as flat numbers for `commsctl status`.
    pub fn status_counts(&self) -> Vec<(String, u64)> {
        let s = self.stats();
        [
            ("gmail_cache_hits", "hits"),
            ("gmail_cache_misses", "misses"),
            ("gmail_cache_entries", "entries"),
            ("gmail_upstream_requests", "upstream_requests"),
            ("gmail_quota_units", "quota_units"),
            ("gmail_requests_saved", "requests_saved"),
        ]
        .iter()
        .map(|(name, k)| ((*name).to_owned(), s[*k].as_u64().unwrap_or(0)))
        .collect()
    }
}
