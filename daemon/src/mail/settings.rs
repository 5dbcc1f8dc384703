//! An IMAP/SMTP account's settings (stored with the account, never holding
//! a secret) and the credential the servers are opened with.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the connections are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Implicit TLS from the first byte (IMAP 993, SMTP 465).
    #[default]
    Tls,
    /// Plain connect, then STARTTLS before anything else (IMAP 143, SMTP 587).
    /// A server that does not offer STARTTLS is refused.
    Starttls,
    /// No TLS at all: passwords and mail cross the network readable. Only
    /// when configured explicitly; the daemon logs a warning on every connect.
    Plain,
}

impl Security {
    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "tls" => Some(Security::Tls),
            "starttls" => Some(Security::Starttls),
            "plain" => Some(Security::Plain),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::Plain => "plain",
        }
    }

    pub fn default_imap_port(self) -> u16 {
        match self {
            Security::Tls => 993,
            Security::Starttls | Security::Plain => 143,
        }
    }

    pub fn default_smtp_port(self) -> u16 {
        match self {
            Security::Tls => 465,
            Security::Starttls | Security::Plain => 587,
        }
    }
}

/// A server to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub host: String,
    pub port: u16,
}

/// How the account signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthMethod {
    /// A password (usually an app password) held in the vault.
    Password,
    /// XOAUTH2 with the access token of a linked Google account.
    Xoauth2 { google_account: String },
}

/// What an IMAP/SMTP account stores (the `settings` JSON of the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The address mail is sent from.
    pub email: String,
    pub imap: Server,
    pub smtp: Server,
    pub security: Security,
    /// The login name; usually the address.
    pub username: String,
    /// A PEM file with the CA that signs the servers' certificates, or with
    /// a server's own self-signed certificate (a self-hosted server). When
    /// set, only its certificates are trusted (`mail::trust`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The SHA-256 fingerprint of the servers' certificate (`AB:CD:...`):
    /// when set, only that certificate is trusted, for its host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_sha256: Option<String>,
    pub auth: AuthMethod,
    /// Append a copy of each sent message to the Sent folder. Unset: yes,
    /// unless the SMTP server is known to do it itself (Gmail, Microsoft 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_sent: Option<bool>,
}

/// SMTP servers that file what they send into the Sent folder themselves,
/// so a copy of ours would be a duplicate.
const SAVES_SENT: &[&str] = &[
    "smtp.gmail.com",
    "smtp.googlemail.com",
    "smtp.office365.com",
    "smtp-mail.outlook.com",
];

impl MailSettings {
    /// Checks every field; the error names the field and what was expected.
    pub fn validate(&self) -> Result<()> {
        let at = self.email.rfind('@');
        if self.email.trim() != self.email
            || at.is_none_or(|i| i == 0 || i + 1 == self.email.len())
            || self
                .email
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid(
                "email",
                "expected an address like name@example.org",
            ));
        }
        check_host("imap_host", &self.imap.host)?;
        check_host("smtp_host", &self.smtp.host)?;
        if self.imap.port == 0 {
            return Err(Error::invalid(
                "imap_port",
                "expected a port from 1 to 65535",
            ));
        }
        if self.smtp.port == 0 {
            return Err(Error::invalid(
                "smtp_port",
                "expected a port from 1 to 65535",
            ));
        }
        if self.username.is_empty() || self.username.chars().any(|c| c.is_control()) {
            return Err(Error::invalid(
                "username",
                "expected a login name without control characters",
            ));
        }
        if self.ca_file.as_ref().is_some_and(|ca| !ca.is_absolute()) {
            return Err(Error::invalid(
                "ca_file",
                "expected an absolute path to a PEM file",
            ));
        }
        if let Some(pin) = &self.pin_sha256 {
            super::trust::parse_pin(pin)?;
            if self.ca_file.is_some() {
                return Err(Error::invalid(
                    "pin_sha256",
                    "give either ca_file or pin_sha256, not both",
                ));
            }
        }
        if matches!(&self.auth, AuthMethod::Xoauth2 { google_account } if google_account.is_empty())
        {
            return Err(Error::invalid(
                "oauth_account",
                "expected the id of a Google account",
            ));
        }
        Ok(())
    }

    /// Whether commsd appends sent messages to the Sent folder.
    pub fn saves_sent_copy(&self) -> bool {
        self.save_sent.unwrap_or_else(|| {
            !SAVES_SENT
                .iter()
                .any(|h| h.eq_ignore_ascii_case(self.smtp.host.trim_end_matches('.')))
        })
    }
}

fn check_host(field: &str, host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "expected a host name or IP address, such as imap.example.org",
        ))
    }
}

/// A secret the servers are opened with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Password(String),
    /// An OAuth 2 access token for XOAUTH2.
    Xoauth2(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(<redacted>)"),
            Credential::Xoauth2(_) => f.write_str("Xoauth2(<redacted>)"),
        }
    }
}

impl Credential {
    pub fn is_oauth(&self) -> bool {
        matches!(self, Credential::Xoauth2(_))
    }
}

/// Where an account's credential comes from: the vault (a password) or the
/// Google accounts module (a fresh access token).
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credential(&self) -> Result<Credential>;
    /// The server refused `credential`: forget it (an access token is
    /// refreshed on the next call).
    async fn rejected(&self, credential: &Credential);
}

/// A credential known up front (the connection test before an account is
/// saved, with the password just typed).
pub struct Fixed(pub Credential);

#[async_trait::async_trait]
impl CredentialSource for Fixed {
    async fn credential(&self) -> Result<Credential> {
        Ok(self.0.clone())
    }
    async fn rejected(&self, _: &Credential) {}
}

/// XOAUTH2 with the access token of a linked Google account.
pub struct GoogleToken {
    pub tokens: std::sync::Arc<dyn crate::google::AccessTokens>,
    pub google_account: String,
}

#[async_trait::async_trait]
impl CredentialSource for GoogleToken {
    async fn credential(&self) -> Result<Credential> {
        self.tokens
            .access_token(&self.google_account, crate::google::Need::MailProtocols)
            .await
            .map(Credential::Xoauth2)
    }
    async fn rejected(&self, credential: &Credential) {
        if let Credential::Xoauth2(token) = credential {
            self.tokens.rejected(&self.google_account, token).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> MailSettings {
        MailSettings {
            email: "me@example.org".into(),
            imap: Server {
                host: "imap.example.org".into(),
                port: 993,
            },
            smtp: Server {
                host: "smtp.example.org".into(),
                port: 465,
            },
            security: Security::Tls,
            username: "me@example.org".into(),
            ca_file: None,
            pin_sha256: None,
            auth: AuthMethod::Password,
            save_sent: None,
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(settings().validate().is_ok());
        let mut s = settings();
        s.email = "nobody".into();
        assert_eq!(s.validate().unwrap_err().details["field"], "email");
        let mut s = settings();
        s.smtp.host = "smtp example".into();
        assert_eq!(s.validate().unwrap_err().details["field"], "smtp_host");
        let mut s = settings();
        s.ca_file = Some("ca.pem".into());
        assert_eq!(s.validate().unwrap_err().details["field"], "ca_file");
        let mut s = settings();
        s.pin_sha256 = Some("12:34".into());
        assert_eq!(s.validate().unwrap_err().details["field"], "pin_sha256");
        s.pin_sha256 = Some("ab".repeat(32));
        assert!(s.validate().is_ok());
        s.ca_file = Some("/etc/ssl/ca.pem".into());
        assert_eq!(s.validate().unwrap_err().details["field"], "pin_sha256");
    }

    #[test]
    fn sent_copy_is_skipped_for_servers_that_file_it_themselves() {
        assert!(settings().saves_sent_copy());
        let mut s = settings();
        s.smtp.host = "SMTP.gmail.com".into();
        assert!(!s.saves_sent_copy());
        s.save_sent = Some(true);
        assert!(s.saves_sent_copy());
    }

    #[test]
    fn settings_round_trip_as_json_without_secrets() {
        let mut s = settings();
        s.auth = AuthMethod::Xoauth2 {
            google_account: "g1".into(),
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["auth"],
            serde_json::json!({"method": "xoauth2", "google_account": "g1"})
        );
        assert_eq!(serde_json::from_value::<MailSettings>(json).unwrap(), s);
        assert_eq!(
            format!("{:?}", Credential::Password("hunter2".into())),
            "Password(<redacted>)"
        );
    }
}
