//! Google: the endpoints (design.md §12), the scope tiers and the access
//! tokens that every Google provider (Gmail, People, Chat) calls with, and
//! the HTTP plumbing they share.
//!
//! Providers never see refresh tokens or the vault: they ask an
//! [`AccessTokens`] for a token that covers what they are about to do, and
//! report a token Google rejected so that the next call refreshes.
//!
//! - [`http`]: [`ApiClients`] (one API: its [`http::Api`] description, the
//!   connection pool, tokens, retry policy, counters) hands out a
//!   [`GoogleClient`] per account; [`Call`]s are idempotent or
//!   [`http::Repeat::Once`].
//! - [`batch`]: the multipart batch endpoint over the same client.
//! - [`limiter`]: the per-account token bucket and the per-API cost tables.
//! - [`error`]: Google's answers as typed errors; [`outcome_unknown`].

pub mod batch;
pub mod error;
pub mod http;
pub mod limiter;

use serde::Deserialize;

pub use self::error::outcome_unknown;
pub use self::http::{ApiClients, Call, GoogleClient, RetryPolicy, Upstream, encode};

use crate::error::Error;

/// `[google.endpoints]`: Google's production endpoints by default; tests and
/// enterprise proxies point them elsewhere.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Endpoints {
    pub auth: String,
    pub token: String,
    pub revoke: String,
    pub userinfo: String,
    pub gmail: String,
    pub people: String,
    pub chat: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            auth: "https://accounts.google.com/o/oauth2/v2/auth".to_owned(),
            token: "https://oauth2.googleapis.com/token".to_owned(),
            revoke: "https://oauth2.googleapis.com/revoke".to_owned(),
            userinfo: "https://openidconnect.googleapis.com/v1/userinfo".to_owned(),
            gmail: "https://gmail.googleapis.com/".to_owned(),
            people: "https://people.googleapis.com/".to_owned(),
            chat: "https://chat.googleapis.com/".to_owned(),
        }
    }
}

/// What a call needs the account's grant to cover. The accounts module maps
/// each to the Google scope strings of its tier or module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Tier 1: read mail (gmail.readonly or any higher Gmail scope).
    GmailRead,
    /// Tier 2: create and update drafts (gmail.compose).
    GmailCompose,
    /// Tier 2: send (gmail.send or gmail.compose).
    GmailSend,
    /// Tier 3: change labels, archive, mark read (gmail.modify).
    GmailModify,
    /// Module `contacts`: saved contacts and groups (`contacts`).
    Contacts,
    /// Module `contacts`: "other contacts" (`contacts.other.readonly`).
    ContactsOther,
    /// Module `directory`: the Workspace directory (`directory.readonly`).
    Directory,
    /// Module `chat`: post messages (`chat.messages.create`).
    Chat,
    /// Module `chat`: read messages (`chat.messages.readonly`).
    ChatRead,
    /// Module `chat`: list spaces (`chat.spaces.readonly`).
    ChatSpaces,
    /// Module `chat-dm`: open a direct message (`chat.spaces.create`).
    ChatCreateSpace,
    /// IMAP and SMTP with XOAUTH2 ([mail]): `https://mail.google.com/`.
    MailProtocols,
}

/// Access tokens for Google accounts, owned by the accounts module.
#[async_trait::async_trait]
pub trait AccessTokens: Send + Sync {
    /// A currently valid access token for `account_id` whose scopes cover
    /// `need`. Errors are typed: `account_not_found`, `insufficient_scope`
    /// (with the upgrade command in details), `reauth_required`,
    /// `domain_blocked`, `oauth_not_configured`, `upstream_unavailable`.
    async fn access_token(&self, account_id: &str, need: Need) -> Result<String, Error>;

    /// Google answered 401 to `token`: forget it, so the next call refreshes.
    async fn rejected(&self, account_id: &str, token: &str);

    /// The stable id of the account `name` names (its id or its address), so
    /// that per-account state is keyed once; an error when the account is
    /// not a usable Google account (`reauth_required`, `domain_blocked`,
    /// `account_not_found`). By default `name` itself.
    fn account_id(&self, name: &str) -> Result<String, Error> {
        Ok(name.to_owned())
    }
}

/// `[google]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    /// `[google.endpoints]`: where OAuth and the Google APIs are reached.
    pub endpoints: Endpoints,
}
