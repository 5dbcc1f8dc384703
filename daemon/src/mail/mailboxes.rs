//! The IMAP/SMTP accounts at run time: per account one [`MailClient`]
//! (pooled IMAP sessions) and one [`SmtpTransport`], built on first use from
//! the account's settings and its vault password (or its linked Google
//! account's token), and an IDLE watcher on its INBOX. All of it is dropped
//! when the account is removed or replaced.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::client::MailClient;
use super::idle;
use super::net::Timeouts;
use super::settings::{AuthMethod, Credential, CredentialSource, GoogleToken, MailSettings};
use super::smtp::SmtpTransport;
use super::store::MailStore;
use crate::accounts::service::AccountData;
use crate::accounts::{Account, Accounts, Kind};
use crate::error::{Code, Error, Result};
use crate::events::Bus;
use crate::google::AccessTokens;
use crate::outbox::attachments::AttachmentStore;
use crate::outbox::item::Item;
use crate::outbox::transport::{DeliveryError, Transport};
use crate::sandbox::SandboxMailbox;
use crate::vault::Vault;

/// The vault entry holding an IMAP account's password.
pub fn password_entry(account_id: &str) -> String {
    format!("imap/{account_id}/password")
}

/// An account's password, read from the vault when a connection opens.
struct VaultPassword {
    vault: Vault,
    account: String,
}

#[async_trait::async_trait]
impl CredentialSource for VaultPassword {
    async fn credential(&self) -> Result<Credential> {
        match self.vault.get(&password_entry(&self.account)).await? {
            Some(secret) => Ok(Credential::Password(secret.expose().to_owned())),
            None => Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "no password is stored in the vault for IMAP account {}: add it again with `commsctl accounts add imap`",
                    self.account
                ),
            )
            .with_details(json!({ "account": self.account }))),
        }
    }

    async fn rejected(&self, _: &Credential) {}
}

/// One account's open handles, valid for the settings they were built from.
struct Open {
    settings: serde_json::Value,
    client: Arc<MailClient>,
    smtp: Arc<SmtpTransport>,
}

pub struct Mailboxes {
    accounts: Arc<Accounts>,
    vault: Vault,
    tokens: Arc<dyn AccessTokens>,
    data_dir: PathBuf,
    attachments: AttachmentStore,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
    timeouts: Timeouts,
    open: Mutex<HashMap<String, Arc<Open>>>,
    watchers: Mutex<HashMap<String, CancellationToken>>,
}

impl Mailboxes {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        accounts: Arc<Accounts>,
        vault: Vault,
        tokens: Arc<dyn AccessTokens>,
        data_dir: PathBuf,
        attachments: AttachmentStore,
        bus: Arc<Bus>,
        shutdown: CancellationToken,
    ) -> Mailboxes {
        Mailboxes {
            accounts,
            vault,
            tokens,
            data_dir,
            attachments,
            bus,
            shutdown,
            timeouts: Timeouts::default(),
            open: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
        }
    }

    /// The account `id` names (or the default) if it has a mailbox to read
    /// here, usable now: IMAP accounts and the sandbox. Google accounts get
    /// an error that says what to do instead.
    pub fn account(&self, id: Option<&str>) -> Result<Account> {
        let account = self.accounts.resolve(id)?;
        match account.kind {
            Kind::Imap => {
                if let Some(e) = account.unusable() {
                    return Err(e);
                }
                Ok(account)
            }
            Kind::Google => Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "account {} ({}) is a Google account; this reads IMAP accounts only. Read its mail with the gmail_* tools (Gmail API), or over IMAP through an IMAP account linked to it: `commsctl accounts add imap --email {} --imap-host imap.gmail.com --smtp-host smtp.gmail.com --oauth-account {}`",
                    account.id, account.email, account.email, account.id
                ),
            )
            .with_details(json!({ "field": "account", "account": account.id, "kind": "google" }))),
            Kind::Sandbox => Ok(account),
            Kind::ChatWebhook => Err(crate::chat::errors::not_mail(&account.id)),
            Kind::Twilio => Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "account {} ({}) is a Twilio account: it has text messages, not mail",
                    account.id, account.email
                ),
            )
            .with_details(json!({ "field": "accountId", "account": account.id, "kind": "twilio" }))),
        }
    }

    /// The account's client and transport, built on first use (or again when
    /// its settings changed).
    fn open(&self, account: &Account) -> Result<Arc<Open>> {
        if let Ok(open) = self.open.lock()
            && let Some(o) = open.get(&account.id)
            && o.settings == account.settings
        {
            return Ok(o.clone());
        }
        let settings: MailSettings =
            serde_json::from_value(account.settings.clone()).map_err(|e| {
                Error::new(
                    Code::Internal,
                    format!(
                        "the stored settings of IMAP account {} are unreadable ({e}); add it again",
                        account.id
                    ),
                )
            })?;
        let credentials: Arc<dyn CredentialSource> = match &settings.auth {
            AuthMethod::Password => Arc::new(VaultPassword {
                vault: self.vault.clone(),
                account: account.id.clone(),
            }),
            AuthMethod::Xoauth2 { google_account } => Arc::new(GoogleToken {
                tokens: self.tokens.clone(),
                google_account: google_account.clone(),
            }),
        };
        let client = Arc::new(
            MailClient::new(account.id.clone(), settings, credentials, &self.data_dir)?
                .with_timeouts(self.timeouts),
        );
        let smtp = Arc::new(SmtpTransport::new(client.clone(), self.attachments.clone()));
        let open = Arc::new(Open {
            settings: account.settings.clone(),
            client,
            smtp,
        });
        if let Ok(mut map) = self.open.lock() {
            map.insert(account.id.clone(), open.clone());
        }
        Ok(open)
    }

    /// The mailbox of an account (`None`: the default account): an IMAP
    /// account's client, or the sandbox's Maildir.
    pub fn client(&self, id: Option<&str>) -> Result<Arc<dyn MailStore>> {
        let account = self.account(id)?;
        self.accounts.touch(&account.id);
        if account.kind == Kind::Sandbox {
            return Ok(Arc::new(SandboxMailbox::new(&account.id, &self.data_dir)));
        }
        Ok(self.open(&account)?.client.clone())
    }

    /// Starts watching the account's INBOX (IDLE) unless it is watched already.
    pub fn watch(&self, account: &Account) {
        if account.kind != Kind::Imap || account.unusable().is_some() {
            return;
        }
        let Ok(mut watchers) = self.watchers.lock() else {
            return;
        };
        if watchers.contains_key(&account.id) {
            return;
        }
        let client = match self.open(account) {
            Ok(o) => o.client.clone(),
            Err(e) => {
                tracing::warn!(account = %account.id, error = %e.message, "cannot watch the INBOX");
                return;
            }
        };
        let token = self.shutdown.child_token();
        watchers.insert(account.id.clone(), token.clone());
        tokio::spawn(idle::watch_inbox(client, self.bus.clone(), token));
    }

    /// Watches the INBOX of every usable IMAP account (at start).
    pub fn watch_all(&self) {
        for account in self.accounts.list() {
            self.watch(&account);
        }
    }

    /// Whether the account's INBOX is being watched.
    pub fn watching(&self, id: &str) -> bool {
        self.watchers
            .lock()
            .map(|w| w.contains_key(id))
            .unwrap_or(false)
    }

    fn stop(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
        if let Ok(mut watchers) = self.watchers.lock()
            && let Some(token) = watchers.remove(id)
        {
            token.cancel();
        }
    }
}

impl AccountData for Mailboxes {
    fn forget(&self, account_id: &str) {
        self.stop(account_id);
    }

    fn added(&self, account: &Account) {
        // Settings or the password may have changed: start afresh.
        self.stop(&account.id);
        self.watch(account);
    }
}

/// The outbox transport of every IMAP account: the account's own SMTP transport.
pub struct ImapTransport(pub Arc<Mailboxes>);

#[async_trait::async_trait]
impl Transport for ImapTransport {
    async fn deliver(&self, item: &Item) -> std::result::Result<String, DeliveryError> {
        let transport = self
            .0
            .account(Some(&item.account))
            .and_then(|a| self.0.open(&a))
            .map_err(DeliveryError::before_handover)?
            .smtp
            .clone();
        transport.deliver(item).await
    }
}
