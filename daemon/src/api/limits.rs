//! Request rate limits: a token bucket per API key, and a throttle on failed
//! authentication.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket per key: `per_minute` sustained, a tenth of it as burst.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        let per_second = f64::from(per_minute.max(1)) / 60.0;
        RateLimiter {
            per_second,
            burst: (f64::from(per_minute) / 10.0).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`; otherwise says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.per_second))
        }
    }
}

/// Counts failed authentications in a sliding minute. Past the threshold,
/// failures get 429 instead of 401 and are no longer audited one by one.
pub struct FailureThrottle {
    limit: usize,
    window: Duration,
    failures: Mutex<VecDeque<Instant>>,
}

/// What to do with one failed authentication.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer 401 and audit it.
    Report,
    /// The first one over the limit: answer 429 and audit that throttling began.
    StartThrottling(Duration),
    /// Answer 429 quietly.
    Throttle(Duration),
}

impl FailureThrottle {
    pub fn new(limit: usize, window: Duration) -> FailureThrottle {
        FailureThrottle {
            limit,
            window,
            failures: Mutex::new(VecDeque::new()),
        }
    }

    pub fn record(&self) -> Verdict {
        let now = Instant::now();
        let Ok(mut failures) = self.failures.lock() else {
            return Verdict::Report;
        };
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            failures.pop_front();
        }
        failures.push_back(now);
        let retry = failures.front().map_or(self.window, |first| {
            self.window.saturating_sub(now.duration_since(*first))
        });
        match failures.len() {
            n if n <= self.limit => Verdict::Report,
            n if n == self.limit + 1 => Verdict::StartThrottling(retry),
            _ => Verdict::Throttle(retry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(60); // 1/s, burst 6
        for _ in 0..6 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limiter.check("b").is_ok(), "keys are independent");
    }

    #[test]
    fn failures_are_reported_then_throttled() {
        let throttle = FailureThrottle::new(2, Duration::from_secs(60));
        assert_eq!(throttle.record(), Verdict::Report);
        assert_eq!(throttle.record(), Verdict::Report);
        assert!(matches!(throttle.record(), Verdict::StartThrottling(_)));
        assert!(matches!(throttle.record(), Verdict::Throttle(_)));
    }
}
