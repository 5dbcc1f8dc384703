//! Writes per space: Google allows 60 a minute per space, shared by
//! incoming webhooks and the API. [`SpaceLimits`] keeps, per space, the
//! times of the last writes and lets a write through only when fewer than
//! the limit fall within the window, so a burst goes at the fastest pace
//! Google accepts and never earns a 429. A space's writes also queue on
//! one lock, so items reach Google in the order they were dispatched and a
//! thread keeps its order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The per-space write limits.
pub struct SpaceLimits {
    limit: usize,
    window: Duration,
    spaces: Mutex<HashMap<String, Arc<tokio::sync::Mutex<VecDeque<Instant>>>>>,
}

/// A space's turn to write: held while the write goes out.
pub struct Turn {
    guard: tokio::sync::OwnedMutexGuard<VecDeque<Instant>>,
    /// How long the write waited for its turn.
    pub waited: Duration,
}

impl Turn {
    /// The write went out (or may have): it counts against the window.
    pub fn spent(mut self) {
        self.guard.push_back(Instant::now());
    }
}

impl SpaceLimits {
    pub fn new(limit: u32, window: Duration) -> SpaceLimits {
        SpaceLimits {
            limit: limit.max(1) as usize,
            window,
            spaces: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `space` may take one more write.
    pub async fn turn(&self, space: &str) -> Turn {
        let started = Instant::now();
        let lock = {
            let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
            spaces.entry(space.to_owned()).or_default().clone()
        };
        let mut guard = lock.lock_owned().await;
        loop {
            let now = Instant::now();
            while guard
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                guard.pop_front();
            }
            if guard.len() < self.limit {
                return Turn {
                    guard,
                    waited: started.elapsed(),
                };
            }
            let oldest = *guard.front().unwrap_or(&now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_takes_the_window_and_no_more() {
        let limits = SpaceLimits::new(5, Duration::from_millis(200));
        let started = Instant::now();
        for _ in 0..10 {
            limits.turn("spaces/A").await.spent();
        }
        let took = started.elapsed();
        // Five at once, five once the first five leave the window.
        assert!(took >= Duration::from_millis(195), "{took:?}");
        assert!(took < Duration::from_millis(400), "{took:?}");
        // Another space has its own window.
        let other = limits.turn("spaces/B").await;
        assert!(other.waited < Duration::from_millis(20));
    }
}
