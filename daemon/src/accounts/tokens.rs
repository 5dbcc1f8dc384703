//! The token lifecycle: access tokens cached with their expiry, refreshed a
//! few minutes early, one refresh at a time per account (concurrent callers
//! wait for it and share its result); a dead refresh token puts the account
//! in `reauth_required`, an admin block in `domain_blocked`. Scopes are
//! checked before anything is fetched: a call that needs a higher tier fails
//! with `insufficient_scope` and the command that upgrades it, never a
//! silent escalation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::oauth::{OAuthClient, RefreshError, refresh_token_entry};
use super::{Accounts, Kind, State, google};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::google::{AccessTokens, Need};
use crate::vault::Vault;

/// Refresh this long before the access token expires.
pub const REFRESH_EARLY: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Cached {
    token: String,
    expires_at_ms: i64,
}

/// Per account: the cached token behind an async mutex, so only one refresh
/// runs at a time and the others wait for its result.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

impl TokenCache {
    fn slot(&self, account: &str) -> Arc<tokio::sync::Mutex<Option<Cached>>> {
        match self.slots.lock() {
            Ok(mut slots) => slots.entry(account.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Keeps the access token a sign-in just received.
    pub fn seed(&self, account: &str, token: String, expires_at_ms: i64) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(
                account.to_owned(),
                Arc::new(tokio::sync::Mutex::new(Some(Cached {
                    token,
                    expires_at_ms,
                }))),
            );
        }
    }

    /// Drops an account's token (removed, or rejected by Google).
    pub fn forget(&self, account: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(account);
        }
    }
}

/// Access tokens for Google accounts: the [`AccessTokens`] of the providers.
pub struct Tokens {
    pub(crate) oauth: Arc<OAuthClient>,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) vault: Vault,
    pub(crate) cache: Arc<TokenCache>,
    /// Upstream refresh requests made (for status and tests).
    refreshes: std::sync::atomic::AtomicU64,
}

impl Tokens {
    pub fn new(
        oauth: Arc<OAuthClient>,
        accounts: Arc<Accounts>,
        vault: Vault,
        cache: Arc<TokenCache>,
    ) -> Tokens {
        Tokens {
            oauth,
            accounts,
            vault,
            cache,
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `insufficient_scope` for `account` and `need`, naming the command
    /// (and tool arguments) a human runs to grant it. Also what a provider
    /// answers when it checks a module before any call (contacts' writes).
    pub fn insufficient(account: &super::Account, need: Need) -> Error {
        let (tier, module) = google::upgrade_for(need);
        let current = account.tier.unwrap_or(0);
        let mut modules: Vec<String> = account.modules.iter().map(|m| (*m).to_owned()).collect();
        if let Some(m) = module {
            modules.push(m.to_owned());
        }
        let tier = tier.unwrap_or(current).max(current).max(1);
        let mut command = format!(
            "commsctl accounts add google --login-hint {} --tier {tier}",
            account.email
        );
        if !modules.is_empty() {
            command.push_str(&format!(" --with {}", modules.join(",")));
        }
        Error::new(
            Code::InsufficientScope,
            format!(
                "account {} ({}) has not granted what this needs ({}). commsd never asks for more on its own: a human can grant it with `{command}`",
                account.id,
                account.email,
                match module {
                    Some(m) => format!("the {m} module"),
                    None => format!("Gmail tier {tier}; it has tier {current}"),
                }
            ),
        )
        .with_details(json!({
            "account": account.id,
            "email": account.email,
            "tier": current,
            "required_tier": google::upgrade_for(need).0,
            "required_module": module,
            "required_scopes": google::covering(need),
            "command": command,
            "tool": "google_add_account",
            "tool_arguments": { "tier": tier, "with": modules, "login_hint": account.email },
        }))
    }

    async fn refresh(&self, account: &super::Account) -> Result<super::oauth::Tokens> {
        let entry = refresh_token_entry(&account.id);
        let Some(refresh) = self.vault.get(&entry).await? else {
            self.accounts
                .set_state(
                    &account.id,
                    State::ReauthRequired,
                    Some("no refresh token is stored for it".to_owned()),
                )
                .await?;
            return Err(self
                .accounts
                .resolve(Some(&account.id))?
                .unusable()
                .unwrap_or_else(|| Error::new(Code::ReauthRequired, "sign in again")));
        };
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.oauth.refresh(refresh.expose()).await {
            Ok(tokens) => {
                if let Some(new_refresh) = &tokens.refresh_token
                    && new_refresh != refresh.expose()
                {
                    // A server that rotates refresh tokens: keep the new one.
                    self.vault
                        .put(&entry, &crate::vault::Secret::new(new_refresh.clone()))
                        .await?;
                }
                Ok(tokens)
            }
            Err(RefreshError::InvalidGrant(reason)) => {
                self.accounts
                    .set_state(&account.id, State::ReauthRequired, Some(reason))
                    .await?;
                let current = self.accounts.resolve(Some(&account.id))?;
                Err(current
                    .unusable()
                    .unwrap_or_else(|| Error::new(Code::ReauthRequired, "sign in again")))
            }
            Err(RefreshError::DomainBlocked(reason)) => {
                self.accounts
                    .set_state(&account.id, State::DomainBlocked, Some(reason))
                    .await?;
                let current = self.accounts.resolve(Some(&account.id))?;
                Err(current
                    .unusable()
                    .unwrap_or_else(|| Error::new(Code::DomainBlocked, "blocked by the admin")))
            }
            Err(RefreshError::Other(e)) => Err(e),
        }
    }
}

#[async_trait::async_trait]
impl AccessTokens for Tokens {
    async fn access_token(&self, account_id: &str, need: Need) -> Result<String> {
        let account = self.accounts.usable(Some(account_id), Kind::Google)?;
        if !google::covers(&account.scopes, need) {
            return Err(Self::insufficient(&account, need));
        }
        let slot = self.cache.slot(&account.id);
        let mut cached = slot.lock().await;
        let now = now_unix_ms();
        if let Some(c) = cached.as_ref()
            && c.expires_at_ms - REFRESH_EARLY.as_millis() as i64 > now
        {
            self.accounts.touch(&account.id);
            return Ok(c.token.clone());
        }
        let tokens = self.refresh(&account).await?;
        *cached = Some(Cached {
            token: tokens.access_token.clone(),
            expires_at_ms: tokens.expires_at_ms,
        });
        self.accounts.touch(&account.id);
        Ok(tokens.access_token)
    }

    /// A Google account in a usable state: one that needs a new sign-in (or
    /// that its domain blocks) fails here, before any cache is consulted.
    fn account_id(&self, name: &str) -> Result<String> {
        Ok(self.accounts.usable(Some(name), Kind::Google)?.id)
    }

    async fn rejected(&self, account_id: &str, token: &str) {
        let slot = self.cache.slot(account_id);
        let mut cached = slot.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }
}
