//! Adding an IMAP/SMTP account: every field checked (the error names it),
//! both servers tested with the credential, and only then the password
//! stored in the vault and the account (settings without secrets) saved.

use std::path::PathBuf;

use serde::Serialize;

use super::check::{self, Report};
use super::mailboxes::password_entry;
use super::net::Timeouts;
use super::settings::{AuthMethod, Credential, MailSettings, Security, Server};
use crate::accounts::service::AccountService;
use crate::accounts::{Account, Kind, NewAccount, validate_labels};
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::google::{AccessTokens, Need};
use crate::vault::Secret;

/// What a human gives to add an account.
#[derive(Debug, Clone, Default)]
pub struct AddImap {
    pub email: String,
    pub imap_host: String,
    /// `None`: the default for `security` (993 or 143).
    pub imap_port: Option<u32>,
    pub smtp_host: String,
    /// `None`: the default for `security` (465 or 587).
    pub smtp_port: Option<u32>,
    /// `tls` (default), `starttls` or `plain`.
    pub security: Option<String>,
    /// Default: the address.
    pub username: Option<String>,
    /// An absolute path to a PEM file: CA certificates, or the servers' own
    /// self-signed certificate.
    pub ca_file: Option<String>,
    /// The SHA-256 fingerprint of the servers' certificate (hex, colons
    /// optional): only that certificate is trusted.
    pub pin_sha256: Option<String>,
    /// The id (or address) of a Google account whose token signs in (XOAUTH2).
    pub oauth_account: Option<String>,
    pub labels: Vec<String>,
    /// The (app) password; none with `oauth_account`.
    pub password: Option<Secret>,
}

/// A saved account and what its connection test found.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub account: Account,
    /// The account existed (same address): its settings and password were replaced.
    pub existed: bool,
    pub test: Report,
}

fn port(field: &str, value: Option<u32>, default: u16) -> Result<u16> {
    match value {
        None => Ok(default),
        Some(p) => u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::invalid(field, "expected a port from 1 to 65535")),
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The settings `request` describes, checked field by field.
pub fn settings(request: &AddImap, google_account: Option<String>) -> Result<MailSettings> {
    let security = match non_empty(request.security.clone()) {
        None => Security::Tls,
        Some(s) => Security::parse(&s).ok_or_else(|| {
            Error::invalid(
                "security",
                format!("{s:?}: expected tls (implicit TLS, ports 993/465) or starttls (143/587); plain only for servers without TLS"),
            )
        })?,
    };
    let email = request.email.trim().to_owned();
    let settings = MailSettings {
        imap: Server {
            host: request.imap_host.trim().to_owned(),
            port: port("imap_port", request.imap_port, security.default_imap_port())?,
        },
        smtp: Server {
            host: request.smtp_host.trim().to_owned(),
            port: port("smtp_port", request.smtp_port, security.default_smtp_port())?,
        },
        security,
        username: non_empty(request.username.clone()).unwrap_or_else(|| email.clone()),
        email,
        ca_file: non_empty(request.ca_file.clone()).map(PathBuf::from),
        pin_sha256: non_empty(request.pin_sha256.clone())
            .map(|pin| super::trust::normalize_pin(&pin))
            .transpose()?,
        auth: match google_account {
            Some(g) => AuthMethod::Xoauth2 { google_account: g },
            None => AuthMethod::Password,
        },
        save_sent: None,
    };
    settings.validate()?;
    if let Some(ca) = &settings.ca_file {
        // Readable PEM with a certificate, or the error names ca_file.
        super::trust::ca_certificates(ca)?;
    }
    Ok(settings)
}

/// Checks, tests both servers, then stores the secret and the account.
pub async fn add_imap(
    service: &AccountService,
    caller: &Caller,
    request: AddImap,
) -> Result<Added> {
    caller.require(Grant::Admin, "add an IMAP account")?;
    validate_labels(&request.labels)?;
    let google = match non_empty(request.oauth_account.clone()) {
        Some(name) => Some(service.accounts.usable(Some(&name), Kind::Google).map_err(
            |mut e| {
                if let Some(d) = e.details.as_object_mut() {
                    d.insert("field".to_owned(), "oauth_account".into());
                }
                e
            },
        )?),
        None => None,
    };
    let settings = settings(&request, google.as_ref().map(|g| g.id.clone()))?;
    let password = request.password.clone().filter(|p| !p.is_empty());
    let credential = match (&google, &password) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "password",
                "not used with oauth_account: the linked Google account's token signs in",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                "password",
                "expected the account's password (an app password for providers with two-factor sign-in)",
            ));
        }
        (None, Some(p)) => Credential::Password(p.expose().to_owned()),
        (Some(g), None) => Credential::Xoauth2(
            service
                .tokens
                .access_token(&g.id, Need::MailProtocols)
                .await?,
        ),
    };
    let report = check::test(&settings, &credential, Timeouts::default()).await?;
    let existing = service.accounts.id_for(Kind::Imap, &settings.email);
    let id = existing
        .clone()
        .unwrap_or_else(crate::accounts::Accounts::new_id);
    let entry = password_entry(&id);
    match &password {
        Some(p) => service.vault.put(&entry, p).await?,
        None => service.vault.delete(&entry).await?,
    }
    let settings_json = serde_json::to_value(&settings)
        .map_err(|e| Error::internal("serialising the settings", e))?;
    let upserted = service
        .accounts
        .upsert(
            &caller.actor,
            NewAccount {
                id: id.clone(),
                kind: Kind::Imap,
                email: settings.email.clone(),
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
                // Do not leave a secret behind for an account that does not exist.
                let _ = service.vault.delete(&entry).await;
            }
            return Err(e);
        }
    };
    tracing::info!(account = %account.id, imap = %settings.imap.host, smtp = %settings.smtp.host, "IMAP account saved");
    service.notify_added(&account);
    Ok(Added {
        account,
        existed,
        test: report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AddImap {
        AddImap {
            email: "me@example.org".into(),
            imap_host: "imap.example.org".into(),
            smtp_host: "smtp.example.org".into(),
            ..AddImap::default()
        }
    }

    #[test]
    fn defaults_follow_the_security_setting() {
        let s = settings(&request(), None).unwrap();
        assert_eq!((s.imap.port, s.smtp.port), (993, 465));
        assert_eq!(s.username, "me@example.org");
        assert_eq!(s.auth, AuthMethod::Password);
        let mut r = request();
        r.security = Some("starttls".into());
        let s = settings(&r, Some("g1".into())).unwrap();
        assert_eq!((s.imap.port, s.smtp.port), (143, 587));
        assert_eq!(
            s.auth,
            AuthMethod::Xoauth2 {
                google_account: "g1".into()
            }
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let field = |r: AddImap| {
            settings(&r, None).unwrap_err().details["field"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let mut r = request();
        r.security = Some("ssl".into());
        assert_eq!(field(r), "security");
        let mut r = request();
        r.imap_port = Some(70_000);
        assert_eq!(field(r), "imap_port");
        let mut r = request();
        r.smtp_port = Some(0);
        assert_eq!(field(r), "smtp_port");
        let mut r = request();
        r.imap_host = String::new();
        assert_eq!(field(r), "imap_host");
        let mut r = request();
        r.email = "me".into();
        assert_eq!(field(r), "email");
        let mut r = request();
        r.ca_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(field(r), "ca_file");
        let mut r = request();
        r.pin_sha256 = Some("not hex".into());
        assert_eq!(field(r), "pin_sha256");
    }

    #[test]
    fn a_pin_is_stored_as_openssl_prints_it() {
        let mut r = request();
        r.pin_sha256 = Some(format!(" {} ", "ab".repeat(32)));
        let s = settings(&r, None).unwrap();
        assert_eq!(s.pin_sha256, Some(vec!["AB"; 32].join(":")));
    }
}
