//! `[gmail]` in the config file.

use std::time::Duration;

use serde::Deserialize;

use crate::google::limiter;

/// `[gmail]` in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GmailConfig {
    /// Bodies longer than this many characters are clipped (`truncated: true`, page on with `offset`).
    pub body_limit_chars: usize,
    /// Per-account budget in Gmail quota units per second (Google: 250).
    pub units_per_second: u32,
    /// Attempts per call on 429/5xx (including the first).
    pub max_attempts: u32,
    #[serde(with = "humantime_serde_compat")]
    pub retry_base: Duration,
    /// How long one call may take before it counts as lost (a read is
    /// retried; a send becomes `unknown`).
    #[serde(with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub search_ttl: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub metadata_ttl: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub body_ttl: Duration,
    /// How often a cached read first asks `users.history.list` what changed.
    #[serde(with = "humantime_serde_compat")]
    pub freshness_check: Duration,
}

impl Default for GmailConfig {
    fn default() -> Self {
        GmailConfig {
            body_limit_chars: 20_000,
            units_per_second: limiter::GMAIL.units_per_second,
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            request_timeout: Duration::from_secs(60),
            search_ttl: Duration::from_secs(30),
            metadata_ttl: Duration::from_secs(300),
            body_ttl: Duration::from_secs(180),
            freshness_check: Duration::from_secs(10),
        }
    }
}

impl GmailConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.request_timeout < Duration::from_secs(1) {
            return Err(
                "key `gmail.request_timeout`: at least 1s (a call needs time to be answered)"
                    .to_owned(),
            );
        }
        if self.max_attempts == 0 {
            return Err("key `gmail.max_attempts`: at least 1".to_owned());
        }
        Ok(())
    }
}

/// Durations as humantime strings ("30s", "5m").
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}
