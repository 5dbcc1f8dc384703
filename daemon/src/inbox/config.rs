//! `[inbox]` in the config file: what the unified inbox keeps.

use std::time::Duration;

use serde::Deserialize;

/// `[inbox]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InboxConfig {
    /// Messages of the last this many days are indexed (0: no age limit).
    pub days: u32,
    /// At most this many messages per account (the newest).
    pub per_account: usize,
    /// Texts are stored clipped to this many characters.
    pub max_text_chars: usize,
    /// How often sources without push (Gmail's history) are asked for changes.
    #[serde(deserialize_with = "crate::de::duration")]
    pub poll_interval: Duration,
}

impl Default for InboxConfig {
    fn default() -> Self {
        InboxConfig {
            days: 90,
            per_account: 5_000,
            max_text_chars: 2_000,
            poll_interval: Duration::from_secs(60),
        }
    }
}

impl InboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.per_account == 0 {
            return Err("inbox.per_account: expected at least 1".to_owned());
        }
        if !(100..=100_000).contains(&self.max_text_chars) {
            return Err("inbox.max_text_chars: expected 100 to 100000".to_owned());
        }
        if self.poll_interval < Duration::from_secs(1) {
            return Err("inbox.poll_interval: at least 1s".to_owned());
        }
        Ok(())
    }

    /// The oldest time indexed, as Unix ms, if the window has an age.
    pub fn min_at_ms(&self, now_ms: i64) -> Option<i64> {
        (self.days > 0).then(|| now_ms - i64::from(self.days) * 86_400_000)
    }
}
