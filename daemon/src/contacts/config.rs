//! `[contacts]` in the config file.

use std::time::Duration;

use serde::Deserialize;

/// `[contacts]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// How often every Google account with the `contacts` module is synced
    /// (at least 1 minute); also at start and on demand.
    #[serde(deserialize_with = "crate::de::duration")]
    pub sync_interval: Duration,
    /// People per page asked of Google (1 to 1000).
    pub page_size: u32,
    /// Per-account budget of People API calls a second.
    pub calls_per_second: u32,
    /// Attempts per call on 429/5xx (including the first).
    pub max_attempts: u32,
    #[serde(deserialize_with = "crate::de::duration")]
    pub retry_base: Duration,
    /// How long one People call may take before it counts as lost (and is
    /// retried; at least 1 s).
    #[serde(deserialize_with = "crate::de::duration")]
    pub request_timeout: Duration,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig {
            sync_interval: Duration::from_secs(15 * 60),
            page_size: 1000,
            calls_per_second: super::client::PEOPLE.units_per_second,
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl ContactsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.sync_interval < Duration::from_secs(60) {
            return Err("key `contacts.sync_interval`: at least 1m".to_owned());
        }
        if self.request_timeout < Duration::from_secs(1) {
            return Err(
                "key `contacts.request_timeout`: at least 1s (a call needs time to be answered)"
                    .to_owned(),
            );
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err("key `contacts.page_size`: expected 1 to 1000".to_owned());
        }
        Ok(())
    }
}
