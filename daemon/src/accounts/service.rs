//! What every frontend (gRPC, HTTP, MCP) calls to manage accounts: one
//! place for grants, validation and the order of side effects.

use std::sync::Arc;

use serde::Serialize;

use super::oauth::{ClientStatus, FlowDone, FlowRequest, FlowStarted, Flows, OAuthClient};
use super::tokens::{TokenCache, Tokens};
use super::{Account, Accounts, Kind};
use crate::auth::{Caller, Grant};
use crate::error::Result;
use crate::google::Endpoints;
use crate::vault::Vault;

/// Something that keeps per-account data (a provider's cache) and must
/// drop it when the account is removed.
pub trait AccountData: Send + Sync {
    fn forget(&self, account_id: &str);
    /// An account was added or replaced (new settings or secret).
    fn added(&self, _account: &Account) {}
}

/// What removing an account did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub account: Account,
    /// The refresh token was revoked at the authorization server.
    pub revoked: bool,
    /// Why it could not be revoked (the account is removed anyway; revoke
    /// commsd's access at https://myaccount.google.com/permissions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_error: Option<String>,
}

pub struct AccountService {
    pub accounts: Arc<Accounts>,
    pub oauth: Arc<OAuthClient>,
    pub flows: Arc<Flows>,
    pub tokens: Arc<Tokens>,
    pub vault: Vault,
    /// `[twilio] api_base`: where Twilio credentials are checked.
    pub twilio_api_base: String,
    /// `[twilio] request_timeout`.
    pub twilio_timeout: std::time::Duration,
    data: std::sync::RwLock<Vec<Arc<dyn AccountData>>>,
}

impl AccountService {
    pub fn new(
        accounts: Arc<Accounts>,
        endpoints: Endpoints,
        vault: Vault,
    ) -> Result<AccountService> {
        let oauth = Arc::new(OAuthClient::new(endpoints, vault.clone())?);
        let cache = Arc::new(TokenCache::default());
        let tokens = Arc::new(Tokens::new(
            oauth.clone(),
            accounts.clone(),
            vault.clone(),
            cache.clone(),
        ));
        let flows = Arc::new(Flows::new(
            oauth.clone(),
            accounts.clone(),
            vault.clone(),
            cache,
        ));
        Ok(AccountService {
            accounts,
            oauth,
            flows,
            tokens,
            vault,
            twilio_api_base: crate::twilio::config::DEFAULT_API_BASE.to_owned(),
            twilio_timeout: crate::twilio::config::TwilioConfig::default().request_timeout,
            data: std::sync::RwLock::new(Vec::new()),
        })
    }

    /// Twilio credentials are checked at `api_base` (`[twilio] api_base`),
    /// each call given `timeout` (`request_timeout`).
    pub fn with_twilio_api(
        mut self,
        api_base: &str,
        timeout: std::time::Duration,
    ) -> AccountService {
        api_base.clone_into(&mut self.twilio_api_base);
        self.twilio_timeout = timeout;
        self
    }

    /// Registers a provider's per-account data to drop on removal.
    pub fn on_remove(&self, data: Arc<dyn AccountData>) {
        if let Ok(mut d) = self.data.write() {
            d.push(data);
        }
    }

    /// Tells every registered provider that `account` was added or replaced.
    pub fn notify_added(&self, account: &Account) {
        if let Ok(data) = self.data.read() {
            for d in data.iter() {
                d.added(account);
            }
        }
    }

    /// Adds an IMAP/SMTP account after testing both servers (see
    /// `mail::add`). Needs `admin`: it stores a secret and can send.
    pub async fn add_imap(
        &self,
        caller: &Caller,
        request: crate::mail::add::AddImap,
    ) -> Result<crate::mail::add::Added> {
        crate::mail::add::add_imap(self, caller, request).await
    }

    /// Adds a Twilio account after Twilio accepted its credentials (see
    /// `twilio::accounts`). Needs `admin`: it stores a secret and can send.
    pub async fn add_twilio(
        &self,
        caller: &Caller,
        request: crate::twilio::accounts::AddTwilio,
    ) -> Result<crate::twilio::accounts::Added> {
        crate::twilio::accounts::add(self, caller, request).await
    }

    /// Accounts a human must act on (a new sign-in, a Workspace admin), with
    /// the reason and what to do, for `commsctl status` and the dashboard.
    pub fn warnings(&self) -> Vec<String> {
        self.accounts.attention()
    }

    pub fn list(&self, caller: &Caller) -> Result<Vec<Account>> {
        caller.require(Grant::Read, "list accounts")?;
        Ok(self.accounts.list())
    }

    /// Starts a Google sign-in. Any caller that may read may start one: the
    /// account appears only when a human signs in and consents in the browser.
    pub async fn add_google(&self, caller: &Caller, request: FlowRequest) -> Result<FlowStarted> {
        caller.require(Grant::Read, "start a Google sign-in")?;
        self.flows.start(&caller.actor, request).await
    }

    pub async fn complete_google(
        &self,
        caller: &Caller,
        flow_id: &str,
        pasted: &str,
    ) -> Result<FlowDone> {
        caller.require(Grant::Admin, "complete a Google sign-in by hand")?;
        self.flows.complete_manual(flow_id, pasted).await
    }

    /// Where a sign-in stands (`None` while it runs). Needs `read`, as starting one.
    pub fn google_flow(&self, caller: &Caller, flow_id: &str) -> Result<super::oauth::Outcome> {
        caller.require(Grant::Read, "follow a Google sign-in")?;
        self.flows.outcome(flow_id)
    }

    /// Resolves an account named by id or unique address (the default when
    /// `None`) for a caller that may read.
    pub fn resolve(&self, caller: &Caller, account: Option<&str>) -> Result<Account> {
        caller.require(Grant::Read, "read accounts")?;
        self.accounts.resolve(account)
    }

    pub async fn wait_google(&self, flow_id: &str) -> Result<FlowDone> {
        self.flows.wait(flow_id).await
    }

    /// Labels are metadata an agent may keep tidy: the `draft` grant suffices.
    pub async fn set_labels(
        &self,
        caller: &Caller,
        id: &str,
        labels: Vec<String>,
    ) -> Result<Account> {
        caller.require(Grant::Draft, "change account labels")?;
        self.accounts.set_labels(&caller.actor, id, labels).await
    }

    /// Which account is used when none is named decides where messages go:
    /// a human's choice (`admin`).
    pub async fn set_default(&self, caller: &Caller, id: &str) -> Result<Account> {
        caller.require(Grant::Admin, "change the default account")?;
        self.accounts.set_default(&caller.actor, id).await
    }

    /// Removes an account: revokes its token, deletes its vault entries and
    /// every cached item, then its row. Needs `admin`.
    pub async fn remove(&self, caller: &Caller, id: &str) -> Result<Removed> {
        caller.require(Grant::Admin, "remove accounts")?;
        let account = self.accounts.resolve(Some(id))?;
        let mut revoked = false;
        let mut revoke_error = None;
        if account.kind == Kind::Google {
            let entry = super::oauth::refresh_token_entry(&account.id);
            match self.vault.get(&entry).await? {
                Some(refresh) => match self.oauth.revoke(refresh.expose()).await {
                    Ok(()) => revoked = true,
                    Err(e) => revoke_error = Some(e.message),
                },
                None => revoke_error = Some("no refresh token was stored".to_owned()),
            }
            self.vault.delete(&entry).await?;
            self.tokens.cache.forget(&account.id);
        }
        for secret in secret_entries(&account) {
            self.vault.delete(&secret).await?;
        }
        if let Ok(data) = self.data.read() {
            for d in data.iter() {
                d.forget(&account.id);
            }
        }
        let account = self.accounts.delete(&caller.actor, &account.id).await?;
        Ok(Removed {
            account,
            revoked,
            revoke_error,
        })
    }

    pub async fn client_status(&self, caller: &Caller) -> Result<ClientStatus> {
        caller.require(Grant::Read, "read the OAuth client")?;
        Ok(self.oauth.status().await)
    }

    pub async fn import_client(&self, caller: &Caller, json: &str) -> Result<ClientStatus> {
        caller.require(Grant::Admin, "set the OAuth client")?;
        self.oauth.import_client(json).await
    }

    pub async fn set_client(
        &self,
        caller: &Caller,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ClientStatus> {
        caller.require(Grant::Admin, "set the OAuth client")?;
        self.oauth.set_client(client_id, client_secret).await
    }
}

/// Vault entries other than the refresh token that belong to an account.
fn secret_entries(account: &Account) -> Vec<String> {
    match account.kind {
        Kind::Imap => vec![format!("imap/{}/password", account.id)],
        Kind::ChatWebhook => vec![crate::chat::webhook::vault_entry(&account.id)],
        Kind::Twilio => vec![crate::twilio::accounts::secret_entry(&account.id)],
        _ => Vec::new(),
    }
}
