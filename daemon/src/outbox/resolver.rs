//! Addressing by name: a stage request's `to` (cc, bcc) may hold a name or
//! `contact:<id>` instead of an address. A provider (contacts) registers the
//! [`AddressResolver`]; the outbox asks it at staging and stores what was
//! asked beside what it resolved to. Ambiguity is the resolver's error,
//! and nothing is stored.

use serde::{Deserialize, Serialize};

use super::model::Channel;
use crate::accounts::Account;
use crate::error::Result;

/// One recipient resolved at staging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Addressed {
    /// The request's field: `to[0]`, `cc[1]`.
    pub field: String,
    /// What the caller wrote: `John Doe`, `contact:p1234...`.
    pub asked: String,
    pub address: String,
    /// "John Doe → john@example.com (saved contact, work account)".
    pub description: String,
}

#[async_trait::async_trait]
pub trait AddressResolver: Send + Sync {
    /// The address `entry` (in `field`) stands for when `account` sends on
    /// `channel`; an error (`invalid_argument` with candidates in its
    /// details) when it does not name exactly one.
    async fn resolve(
        &self,
        account: &Account,
        channel: Channel,
        field: &str,
        entry: &str,
    ) -> Result<Addressed>;
}

/// Whether `entry` is a name or a contact reference rather than an address.
pub fn is_name(channel: Channel, entry: &str) -> bool {
    let e = entry.trim();
    if e.starts_with("contact:") {
        return true;
    }
    match channel {
        Channel::Email => !e.contains('@'),
        Channel::Sms => e.chars().any(char::is_alphabetic),
        Channel::Chat => false,
    }
}
