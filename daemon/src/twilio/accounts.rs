//! Twilio accounts: what is stored (settings without secrets; the auth
//! token or API key secret in the vault), adding one after Twilio accepted
//! the credentials, and the look-ups the transport and the webhooks use.
//!
//! One Twilio Account SID belongs to at most one commsd account, so a
//! webhook's `AccountSid` names exactly one account ([`by_account_sid`]).

use serde::{Deserialize, Serialize};

use super::client::{Auth, TwilioClient, is_sid};
use crate::accounts::service::AccountService;
use crate::accounts::{Account, Accounts, Kind, NewAccount, validate_labels};
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::vault::{Secret, Vault};

/// A Twilio account's `settings` JSON (camelCase on the wire, as every
/// account's settings). Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioSettings {
    pub account_sid: String,
    /// With an API key, the vault holds its secret instead of the auth token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sid: Option<String>,
    /// The number messages are sent from (E.164), when no Messaging Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The Messaging Service messages are sent through (preferred: it
    /// carries the US A2P 10DLC registration and picks the number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
}

impl TwilioSettings {
    /// The settings of a Twilio account.
    pub fn of(account: &Account) -> Result<TwilioSettings> {
        if account.kind != Kind::Twilio {
            return Err(Error::invalid(
                "accountId",
                format!(
                    "account {} is a {} account, not a Twilio account",
                    account.id,
                    account.kind.as_str()
                ),
            ));
        }
        serde_json::from_value(account.settings.clone()).map_err(|e| {
            Error::internal(
                &format!(
                    "the settings of Twilio account {} are unreadable",
                    account.id
                ),
                e,
            )
        })
    }

    /// Who the messages come from, as the account's address: the Messaging
    /// Service when there is one, else the number.
    pub fn sender(&self) -> &str {
        self.messaging_service_sid
            .as_deref()
            .or(self.from.as_deref())
            .unwrap_or_default()
    }
}

/// The vault entry of an account's auth token or API key secret.
pub fn secret_entry(account_id: &str) -> String {
    format!("twilio/{account_id}/secret")
}

/// The auth token of a Twilio account, which signs its webhooks. `None`
/// when the account was added with an API key (its secret signs nothing)
/// or no secret is stored.
pub async fn auth_token(vault: &Vault, account: &Account) -> Result<Option<Secret>> {
    let settings = TwilioSettings::of(account)?;
    if settings.api_key_sid.is_some() {
        return Ok(None);
    }
    vault.get(&secret_entry(&account.id)).await
}

/// The commsd account of a Twilio Account SID, if any.
pub fn by_account_sid(accounts: &Accounts, sid: &str) -> Option<Account> {
    accounts.list().into_iter().find(|a| {
        a.kind == Kind::Twilio
            && TwilioSettings::of(a).is_ok_and(|s| s.account_sid.eq_ignore_ascii_case(sid))
    })
}

/// The REST client of a stored account (its secret read from the vault).
pub async fn client(
    vault: &Vault,
    api_base: &str,
    timeout: std::time::Duration,
    account: &Account,
) -> Result<(TwilioClient, TwilioSettings)> {
    let settings = TwilioSettings::of(account)?;
    let secret = vault.get(&secret_entry(&account.id)).await?.ok_or_else(|| {
        Error::new(
            crate::error::Code::FailedPrecondition,
            format!(
                "no Twilio secret is stored for account {}; add it again with `commsctl accounts add twilio`",
                account.id
            ),
        )
    })?;
    let auth = Auth::new(
        &settings.account_sid,
        settings.api_key_sid.as_deref(),
        secret,
    )?;
    Ok((
        TwilioClient::new(api_base, auth)?.with_timeout(timeout)?,
        settings,
    ))
}

/// What a human gives to add a Twilio account.
#[derive(Debug, Clone)]
pub struct AddTwilio {
    pub account_sid: String,
    pub api_key_sid: Option<String>,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub labels: Vec<String>,
    /// The auth token, or the API key's secret with `api_key_sid`.
    pub secret: Secret,
}

/// A saved account and what Twilio said of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Added {
    pub account: Account,
    /// The account existed (same sender): its settings and secret were replaced.
    pub existed: bool,
    /// The account's name at Twilio.
    pub friendly_name: String,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The settings `request` describes, checked field by field (no call).
pub fn settings(request: &AddTwilio) -> Result<TwilioSettings> {
    let from = non_empty(request.from.clone())
        .map(|f| crate::outbox::validate::e164("from", &f))
        .transpose()?;
    let service = non_empty(request.messaging_service_sid.clone());
    if let Some(mg) = &service
        && !is_sid("MG", mg)
    {
        return Err(Error::invalid(
            "messagingServiceSid",
            "a Messaging Service SID is MG followed by 32 hexadecimal digits (Messaging > Services in the Twilio console)",
        ));
    }
    if from.is_none() && service.is_none() {
        return Err(Error::invalid(
            "from",
            "an SMS account needs a sender: a From number (+1...) or, preferably, a Messaging Service (MG...)",
        ));
    }
    Ok(TwilioSettings {
        account_sid: request.account_sid.trim().to_owned(),
        api_key_sid: non_empty(request.api_key_sid.clone()),
        from,
        messaging_service_sid: service,
    })
}

/// Checks the fields, then the credentials at Twilio (and the From number
/// on the account), then stores the secret and the account.
pub async fn add(service: &AccountService, caller: &Caller, request: AddTwilio) -> Result<Added> {
    caller.require(Grant::Admin, "add a Twilio account")?;
    validate_labels(&request.labels)?;
    let settings = settings(&request)?;
    let auth = Auth::new(
        &settings.account_sid,
        settings.api_key_sid.as_deref(),
        request.secret.clone(),
    )?;
    let address = settings.sender().to_owned();
    let existing = service.accounts.id_for(Kind::Twilio, &address);
    if let Some(other) = by_account_sid(&service.accounts, &settings.account_sid)
        && Some(&other.id) != existing.as_ref()
    {
        return Err(Error::invalid(
            "accountSid",
            format!(
                "Twilio account {} is already commsd account {} ({}); one Twilio account is one commsd account: remove it first (`commsctl accounts remove {}`)",
                settings.account_sid, other.id, other.email, other.id
            ),
        ));
    }
    let client =
        TwilioClient::new(&service.twilio_api_base, auth)?.with_timeout(service.twilio_timeout)?;
    let info = client.fetch_account().await?;
    if let Some(from) = &settings.from {
        client.check_from(from).await?;
    }
    let id = existing
        .clone()
        .unwrap_or_else(crate::accounts::Accounts::new_id);
    let entry = secret_entry(&id);
    service.vault.put(&entry, &request.secret).await?;
    let settings_json = serde_json::to_value(&settings)
        .map_err(|e| Error::internal("serialising the settings", e))?;
    let upserted = service
        .accounts
        .upsert(
            &caller.actor,
            NewAccount {
                id: id.clone(),
                kind: Kind::Twilio,
                email: address,
                labels: request.labels,
                scopes: Vec::new(),
                settings: settings_json,
            },
        )
        .await;
    let (account, existed) = match upserted {
        Ok(done) => done,
        Err(e) => {
            if existing.is_none() {
                // No secret left behind for an account that does not exist.
                let _ = service.vault.delete(&entry).await;
            }
            return Err(e);
        }
    };
    tracing::info!(account = %account.id, twilio = %settings.account_sid, "Twilio account saved");
    service.notify_added(&account);
    Ok(Added {
        account,
        existed,
        friendly_name: info.friendly_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MG: &str = "MG0123456789abcdef0123456789abcdef";

    fn request() -> AddTwilio {
        AddTwilio {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            from: Some("+1 415 555 0100".into()),
            api_key_sid: None,
            messaging_service_sid: None,
            labels: Vec::new(),
            secret: Secret::new("token"),
        }
    }

    #[test]
    fn a_sender_is_required_and_checked() {
        let s = settings(&request()).unwrap();
        assert_eq!(s.from.as_deref(), Some("+14155550100"));
        assert_eq!(s.sender(), "+14155550100");
        let field = |r: AddTwilio| settings(&r).unwrap_err().details["field"].clone();
        let mut r = request();
        r.from = None;
        assert_eq!(field(r), "from");
        let mut r = request();
        r.from = Some("4155550100".into());
        assert_eq!(field(r), "from");
        let mut r = request();
        r.messaging_service_sid = Some("MGnope".into());
        assert_eq!(field(r), "messagingServiceSid");
        let mut r = request();
        r.from = None;
        r.messaging_service_sid = Some(MG.into());
        let s = settings(&r).unwrap();
        assert_eq!(s.sender(), MG);
    }

    #[test]
    fn settings_are_stored_snake_case_without_secrets() {
        let s = settings(&request()).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "account_sid": "AC0123456789abcdef0123456789abcdef", "from": "+14155550100" })
        );
        assert_eq!(crate::util::camel_keys(&v)["accountSid"], s.account_sid);
    }
}
