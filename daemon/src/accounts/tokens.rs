//! The token lifecycle: access tokens cached with their expiry, refreshed a
//! few minutes early, one refresh at a time per account (concurrent callers
//! wait for it and share its result); a dead refresh token puts the account
//! in `reauth_required`, an admin block in `domain_blocked`. Scopes are
//! checked before anything is fetched: a call that needs a higher tier fails
//! with `insufficient_scope` and the command that upgrades it, never a
//! silent escalation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::oauth::{OAuthClient, RefreshError, refresh_token_entry};
use super::{Accounts, Kind, State, google};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::google::{AccessTokens, Need};
use crate::vault::Vault;

/// Refresh this long before the access token expires.
pub const REFRESH_EARLY: Duration = Duration::from_secs(300);

/// The longest a cached access token is used without a refresh, whatever
/// the server said (Google's last an hour).
const MAX_FRESH: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
struct Cached {
    token: String,
    /// On the monotonic clock: after this the token is refreshed first.
    fresh_until: Instant,
}

impl Cached {
    fn new(token: String, expires_at_ms: i64) -> Cached {
        Cached {
            token,
            fresh_until: fresh_until(expires_at_ms, now_unix_ms(), Instant::now()),
        }
    }
}

/// When, on the monotonic clock `now`, a token that expires at
/// `expires_at_ms` on the wall clock (read as `now_ms`) is refreshed:
/// [`REFRESH_EARLY`] before, at most [`MAX_FRESH`] ahead. The wall clock is
/// read once, when the token arrives, so a clock that jumps later neither
/// keeps an expired token (jumping back) nor refreshes at every call
/// (jumping forward); a token Google refuses anyway is refreshed on its 401.
fn fresh_until(expires_at_ms: i64, now_ms: i64, now: Instant) -> Instant {
    let early = i64::try_from(REFRESH_EARLY.as_millis()).unwrap_or(i64::MAX);
    let left = expires_at_ms.saturating_sub(now_ms).saturating_sub(early);
    let left = Duration::from_millis(u64::try_from(left).unwrap_or(0)).min(MAX_FRESH);
    now.checked_add(left).unwrap_or(now)
}

/// The cached token if it is still fresh at `now`.
fn fresh(cached: Option<&Cached>, now: Instant) -> Option<&str> {
    cached
        .filter(|c| c.fresh_until > now)
        .map(|c| c.token.as_str())
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
                Arc::new(tokio::sync::Mutex::new(Some(Cached::new(
                    token,
                    expires_at_ms,
                )))),
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
        if let Some(token) = fresh(cached.as_ref(), Instant::now()) {
            let token = token.to_owned();
            self.accounts.touch(&account.id);
            return Ok(token);
        }
        let tokens = self.refresh(&account).await?;
        *cached = Some(Cached::new(
            tokens.access_token.clone(),
            tokens.expires_at_ms,
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn fault_clock_jumps_do_not_change_when_a_cached_token_is_refreshed() {
        let t = 1_800_000_000_000;
        let now = Instant::now();
        // A one-hour token is used for 55 minutes on the monotonic clock,
        // whatever the wall clock does after it arrived.
        let c = Cached {
            token: "ya29.token".to_owned(),
            fresh_until: fresh_until(t + HOUR_MS, t, now),
        };
        assert_eq!(c.fresh_until, now + Duration::from_secs(55 * 60));
        assert_eq!(
            fresh(Some(&c), now + Duration::from_secs(54 * 60)),
            Some("ya29.token")
        );
        assert_eq!(fresh(Some(&c), now + Duration::from_secs(56 * 60)), None);
        // A token that arrives already expired by the wall clock (the clock
        // jumped forward before it came) is refreshed at the next call; one
        // that claims a year (or a clock that went back) is kept a day at
        // most.
        assert_eq!(fresh_until(t - HOUR_MS, t, now), now);
        assert_eq!(fresh_until(t + 365 * 24 * HOUR_MS, t, now), now + MAX_FRESH);
        // Extreme values never panic.
        for (at, wall) in [(i64::MAX, i64::MIN), (i64::MIN, i64::MAX), (0, 0)] {
            assert!(fresh_until(at, wall, now) <= now + MAX_FRESH);
        }
        assert_eq!(fresh(None, now), None);
    }
}
