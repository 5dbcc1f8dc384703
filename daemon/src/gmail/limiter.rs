//! A per-account token bucket in Gmail quota units: calls wait here before
//! Google would refuse them (design.md §7).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Google's per-user budget: 15,000 units a minute, i.e. 250 a second.
pub const DEFAULT_UNITS_PER_SECOND: u32 = 250;

/// Google's published per-method quota units
/// (developers.google.com/gmail/api/reference/quota).
pub fn cost(method: &str) -> u32 {
    match method {
        "getProfile" => 1,
        "drafts.create" | "drafts.delete" => 10,
        "drafts.get" | "drafts.list" => 5,
        "drafts.send" => 100,
        "drafts.update" => 15,
        "history.list" => 2,
        "labels.list" | "labels.get" => 1,
        "messages.attachments.get" => 5,
        "messages.batchModify" | "messages.batchDelete" => 50,
        "messages.get" | "messages.list" | "messages.modify" => 5,
        "messages.send" => 100,
        "threads.get" | "threads.list" | "threads.modify" => 10,
        "settings.sendAs.list" | "settings.sendAs.get" => 1,
        _ => 5,
    }
}

/// A token bucket holding at most one second of budget. Waiters are served
/// in arrival order (tokio's mutex is fair), so a large call is not starved
/// by a stream of small ones.
pub struct Limiter {
    rate: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    pub fn new(units_per_second: u32) -> Limiter {
        let rate = f64::from(units_per_second.max(1));
        Limiter {
            rate,
            capacity: rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Waits until `units` may be spent, then spends them. A call costing
    /// more than the capacity waits for a full bucket and leaves it in debt.
    pub async fn acquire(&self, units: u32) -> Duration {
        let units = f64::from(units);
        let mut state = self.state.lock().await;
        let started = Instant::now();
        loop {
            let now = Instant::now();
            let (tokens, last) = *state;
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.capacity);
            let need = units.min(self.capacity);
            if tokens >= need {
                *state = (tokens - units, now);
                return started.elapsed();
            }
            *state = (tokens, now);
            let wait = (need - tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_once_the_second_is_spent() {
        let l = Limiter::new(100);
        assert!(l.acquire(100).await < Duration::from_millis(5));
        // 10 more units at 100 a second: about 100 ms of waiting.
        let waited = l.acquire(10).await;
        assert!(waited >= Duration::from_millis(80), "{waited:?}");
    }

    #[test]
    fn costs_follow_googles_table() {
        assert_eq!(cost("messages.send"), 100);
        assert_eq!(cost("messages.get"), 5);
        assert_eq!(cost("history.list"), 2);
    }
}
