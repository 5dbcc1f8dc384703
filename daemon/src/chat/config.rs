//! `[chat]` in the config file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// `[chat]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Spaces to follow, per Google account (id or address):
    /// `[chat.follow]` `"ada@practice.example" = ["spaces/AAAA"]`.
    pub follow: BTreeMap<String, Vec<String>>,
    /// How often each followed space is asked for new messages (at least 15 s).
    #[serde(deserialize_with = "crate::de::duration")]
    pub poll_interval: Duration,
    /// Writes per space in each `space_write_window`, shared by webhook and
    /// API sends (Google: 60 a minute).
    pub space_write_limit: u32,
    #[serde(deserialize_with = "crate::de::duration")]
    pub space_write_window: Duration,
    /// Per-account budget of Chat API calls a second.
    pub calls_per_second: u32,
    /// Attempts per call on 429/5xx (including the first).
    pub max_attempts: u32,
    #[serde(deserialize_with = "crate::de::duration")]
    pub retry_base: Duration,
    /// How long one call (API or webhook) may take before it counts as
    /// lost: a read is retried, a send becomes `unknown` (at least 1 s).
    #[serde(deserialize_with = "crate::de::duration")]
    pub request_timeout: Duration,
    /// A message to `users/<email>` with no direct message yet opens one
    /// (`spaces.setup`, module `chat-dm`) once approved; off by default,
    /// when such a message is refused at staging.
    pub create_direct_messages: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            follow: BTreeMap::new(),
            poll_interval: Duration::from_secs(60),
            space_write_limit: 60,
            space_write_window: Duration::from_secs(60),
            calls_per_second: crate::google::limiter::CHAT.units_per_second,
            max_attempts: 5,
            retry_base: Duration::from_millis(250),
            request_timeout: Duration::from_secs(60),
            create_direct_messages: false,
        }
    }
}

impl ChatConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.poll_interval < Duration::from_secs(15) {
            return Err("key `chat.poll_interval`: at least 15s (Google's per-space read quota is shared with everyone in the project)".to_owned());
        }
        if self.request_timeout < Duration::from_secs(1) {
            return Err(
                "key `chat.request_timeout`: at least 1s (a call needs time to be answered)"
                    .to_owned(),
            );
        }
        if self.space_write_limit == 0 {
            return Err("key `chat.space_write_limit`: expected more than zero".to_owned());
        }
        if self.space_write_window.is_zero() {
            return Err("key `chat.space_write_window`: expected more than zero".to_owned());
        }
        for (account, spaces) in &self.follow {
            for (i, space) in spaces.iter().enumerate() {
                crate::outbox::validate::chat_space(&format!("chat.follow.{account}[{i}]"), space)
                    .map_err(|e| format!("key `chat.follow.{account:?}[{i}]`: {}", e.message))?;
            }
        }
        Ok(())
    }
}
