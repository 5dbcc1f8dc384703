//! `[outbox]` and `[policy]`: the outbox's own config sections.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::outbox::model::{Channel, Decision};
use crate::outbox::policy::check_pattern;

/// `[outbox]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Pending items (draft, pending_approval) older than this expire; "0s" never expires.
    #[serde(deserialize_with = "crate::de::duration")]
    pub pending_ttl: Duration,
    /// Time between approval and dispatch during which a human can still cancel.
    #[serde(deserialize_with = "crate::de::duration")]
    pub hold_window: Duration,
    /// Items dispatched at the same time per account.
    pub concurrency_per_account: usize,
    /// Directories agents (callers without the `admin` grant) may attach
    /// files from. Empty: agents cannot attach files; humans always can.
    pub attachment_dirs: Vec<PathBuf>,
}

impl OutboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, dir) in self.attachment_dirs.iter().enumerate() {
            if !dir.is_absolute() {
                return Err(format!(
                    "key `outbox.attachment_dirs[{i}]`: {} is not an absolute path",
                    dir.display()
                ));
            }
        }
        if self.concurrency_per_account == 0 {
            return Err("key `outbox.concurrency_per_account`: must be at least 1".to_owned());
        }
        Ok(())
    }
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            pending_ttl: Duration::from_secs(72 * 3600),
            hold_window: Duration::ZERO,
            concurrency_per_account: 4,
            attachment_dirs: Vec::new(),
        }
    }
}

/// `[policy]`: the send policy of design.md §5.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The decision when no rule matches.
    pub default: Decision,
    /// Checked in order; the first rule that matches decides.
    pub rules: Vec<Rule>,
    /// Per channel: when set, only matching recipients may be messaged at all.
    pub allowlist: Allowlist,
    /// Sending caps per account and channel.
    pub caps: Vec<Cap>,
}

impl PolicyConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, p) in rule.recipients.iter().enumerate() {
                check_pattern(p)
                    .map_err(|why| format!("key `policy.rules[{i}].recipients[{j}]`: {why}"))?;
            }
        }
        for channel in Channel::ALL {
            for (j, p) in self
                .allowlist
                .for_channel(channel)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                check_pattern(p).map_err(|why| {
                    format!("key `policy.allowlist.{}[{j}]`: {why}", channel.as_str())
                })?;
            }
        }
        for (i, cap) in self.caps.iter().enumerate() {
            if cap.per_hour.is_none() && cap.per_day.is_none() {
                return Err(format!(
                    "key `policy.caps[{i}]`: expected `per_hour`, `per_day` or both"
                ));
            }
        }
        Ok(())
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default: Decision::Approve,
            rules: Vec::new(),
            allowlist: Allowlist::default(),
            caps: Vec::new(),
        }
    }
}

/// `[[policy.rules]]`: matches when every given field matches.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A label shown with every decision this rule makes.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub account: Option<String>,
    /// Recipient patterns; the rule matches only when every recipient matches
    /// one: `*`, `@example.org` (a domain), `jane@example.org`, `+14155550100`,
    /// `+4930*` (a number prefix), `spaces/AAAA`.
    #[serde(default)]
    pub recipients: Vec<String>,
    pub decision: Decision,
}

/// `[policy.allowlist]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    pub email: Option<Vec<String>>,
    pub sms: Option<Vec<String>>,
    pub chat: Option<Vec<String>>,
}

impl Allowlist {
    pub fn for_channel(&self, channel: Channel) -> Option<&[String]> {
        match channel {
            Channel::Email => self.email.as_deref(),
            Channel::Sms => self.sms.as_deref(),
            Channel::Chat => self.chat.as_deref(),
        }
    }
}

/// `[[policy.caps]]`: at most this many dispatches per hour / per day, for
/// each account (or the named one) on the channel (or every channel).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub per_hour: Option<u32>,
    #[serde(default)]
    pub per_day: Option<u32>,
}
