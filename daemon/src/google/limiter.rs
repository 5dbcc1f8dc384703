//! Quota: a token bucket per account and API, in the API's quota units,
//! with a per-API table of what each method costs. Calls wait here before
//! Google would refuse them (design.md §7).

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// What one API's methods cost, in its quota units, and its per-user budget.
#[derive(Debug)]
pub struct CostTable {
    /// Units a second each account may spend, unless configured otherwise.
    pub units_per_second: u32,
    /// `(method, units)`; the method as a [`super::http::Call`] names it.
    pub costs: &'static [(&'static str, u32)],
    /// The cost of a method the table does not list.
    pub default: u32,
}

impl CostTable {
    pub fn cost(&self, method: &str) -> u32 {
        self.costs
            .iter()
            .find(|(m, _)| *m == method)
            .map_or(self.default, |(_, units)| *units)
    }
}

/// Gmail: Google's per-user budget of 15,000 units a minute (250 a second)
/// and its published per-method units
/// (developers.google.com/gmail/api/reference/quota).
pub const GMAIL: CostTable = CostTable {
    units_per_second: 250,
    costs: &[
        ("getProfile", 1),
        ("drafts.create", 10),
        ("drafts.delete", 10),
        ("drafts.get", 5),
        ("drafts.list", 5),
        ("drafts.send", 100),
        ("drafts.update", 15),
        ("history.list", 2),
        ("labels.list", 1),
        ("labels.get", 1),
        ("messages.attachments.get", 5),
        ("messages.batchModify", 50),
        ("messages.batchDelete", 50),
        ("messages.get", 5),
        ("messages.list", 5),
        ("messages.modify", 5),
        ("messages.send", 100),
        ("threads.get", 10),
        ("threads.list", 10),
        ("threads.modify", 10),
        ("settings.sendAs.list", 1),
        ("settings.sendAs.get", 1),
    ],
    default: 5,
};

/// Chat: every method costs one call; Google's per-user limits are in
/// requests a minute (3,000 reads, 600 writes), so 10 a second keeps well
/// inside them. Writes per space have their own limit (`chat::rate`).
pub const CHAT: CostTable = CostTable {
    units_per_second: 10,
    costs: &[],
    default: 1,
};

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
    fn gmail_costs_follow_googles_table() {
        assert_eq!(GMAIL.cost("messages.send"), 100);
        assert_eq!(GMAIL.cost("messages.get"), 5);
        assert_eq!(GMAIL.cost("history.list"), 2);
        assert_eq!(GMAIL.cost("getProfile"), 1);
        assert_eq!(GMAIL.cost("a method Google adds later"), 5);
        assert_eq!(GMAIL.units_per_second, 250);
    }
}
