//! The daemon's configuration: a TOML file whose every key is known.
//!
//! A missing file means the embedded default (no accounts, sandbox delivery).
//! Anything else that is wrong (bad syntax, an unknown key, a value of the
//! wrong type, a non-loopback listener) stops the daemon with a message that
//! names the file, the key and what was expected.

use std::path::{Path, PathBuf};

use serde::Deserialize;

// The sections, each owned (and checked) by its feature; this file only
// assembles them. Re-exported so that `config::X` names every section.
pub use crate::google::GoogleConfig;
pub use crate::http::{HttpConfig, Listen};
pub use crate::outbox::config::{Allowlist, Cap, OutboxConfig, PolicyConfig, Rule};
pub use crate::sandbox::SandboxConfig;
pub use crate::vault::VaultConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses of the three HTTP listeners.
    pub listen: Listen,
    /// Limits of the HTTP listeners (slow clients, connections).
    pub http: HttpConfig,
    /// Expiry, hold window and dispatch concurrency of the outbox.
    pub outbox: OutboxConfig,
    /// Who must consent to what: rules, allowlists, caps.
    pub policy: PolicyConfig,
    /// The embedded sandbox account.
    pub sandbox: SandboxConfig,
    /// The HTTP API on the api listener.
    pub api: ApiConfig,
    /// The MCP frontends (comms-mcp and /mcp).
    pub mcp: McpConfig,
    /// Google accounts: endpoints (design.md §12).
    pub google: GoogleConfig,
    /// Gmail: body clipping, rate limit, retries, cache TTLs.
    pub gmail: crate::gmail::GmailConfig,
    /// `[chat]`: Google Chat (followed spaces, write rates).
    pub chat: crate::chat::ChatConfig,
    pub contacts: crate::contacts::ContactsConfig,
    /// Where secrets are kept: the OS keyring or an encrypted file.
    pub vault: VaultConfig,
    /// Twilio: API base, public URL of the webhooks, prices.
    pub twilio: crate::twilio::TwilioConfig,
    /// SMS: quiet hours, smart quotes.
    pub sms: crate::twilio::config::SmsConfig,
    /// `[inbox]`: the unified inbox's window.
    pub inbox: crate::inbox::InboxConfig,
}

// The adapters' sections are plain data kept here: core modules import no adapter.

/// `[api]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests per minute per API key; a burst of a tenth of it is allowed.
    pub requests_per_minute: u32,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
}

impl ApiConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.requests_per_minute == 0 {
            return Err("key `api.requests_per_minute`: must be at least 1".to_owned());
        }
        if self.max_body_bytes < 1024 {
            return Err("key `api.max_body_bytes`: must be at least 1024".to_owned());
        }
        Ok(())
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            requests_per_minute: 1200,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[mcp]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Which groups of tools MCP clients see (design.md §11), so that an
    /// agent's context holds only what it uses. Absent: the catalog's
    /// default toolsets. The catalog checks the names (`tools::check_toolsets`).
    pub toolsets: Option<Vec<String>>,
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// The file at this path was read.
    File(PathBuf),
    /// No file exists at this path: the embedded default is in force.
    Default(PathBuf),
    /// Neither `$COMMSD_CONFIG`, `$XDG_CONFIG_HOME` nor `$HOME` is set.
    Embedded,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads the config from `path`; a missing file gives the defaults.
    pub fn load(path: Option<&Path>) -> Result<(Config, Origin), ConfigError> {
        let Some(path) = path else {
            return Ok((Config::default(), Origin::Embedded));
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Config::default(), Origin::Default(path.to_owned())));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok((config, Origin::File(path.to_owned())))
    }

    /// Parses and validates config text; the error names the key and what is expected.
    pub fn parse(text: &str) -> Result<Config, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.to_string())?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            if key.is_empty() || key == "." {
                inner
            } else {
                format!("key `{key}`: {inner}")
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        // Each section checks itself and names its keys.
        self.listen.validate()?;
        self.http.validate()?;
        self.outbox.validate()?;
        self.policy.validate()?;
        self.sandbox.validate()?;
        self.chat.validate()?;
        self.gmail.validate()?;
        self.inbox.validate()?;
        self.contacts.validate()?;
        self.api.validate()?;
        self.vault.validate()?;
        self.twilio.validate()?;
        self.sms.validate()?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "config_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outbox::model::Decision;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn listeners_accept_port_zero_and_ipv6_loopback() {
        let c =
            Config::parse("[listen]\napi = \"127.0.0.1:0\"\ndashboard = \"[::1]:4001\"\n").unwrap();
        assert_eq!(c.listen.api.port(), 0);
        assert_eq!(c.listen.dashboard, "[::1]:4001".parse().unwrap());
        assert_eq!(c.listen.webhooks, Listen::default().webhooks);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[listen]\napi = \"127.0.0.1:1\"\nsmtp = 1\n").unwrap_err();
        assert!(err.contains("smtp"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn wrong_type_names_key_and_expectation() {
        let err = Config::parse("[listen]\napi = 3002\n").unwrap_err();
        assert!(err.contains("listen.api"), "{err}");
        assert!(err.contains("socket address"), "{err}");
    }

    #[test]
    fn mcp_toolsets_are_read_as_given() {
        assert_eq!(Config::default().mcp.toolsets, None);
        let c = Config::parse("[mcp]\ntoolsets = [\"outbox\", \"sms\"]\n").unwrap();
        assert_eq!(c.mcp.toolsets.unwrap(), ["outbox", "sms"]);
        let err = Config::parse("[mcp]\ntools = []\n").unwrap_err();
        assert!(err.contains("tools"), "{err}");
    }

    #[test]
    fn non_loopback_is_refused() {
        let err = Config::parse("[listen]\napi = \"0.0.0.0:3002\"\n").unwrap_err();
        assert!(
            err.contains("listen.api") && err.contains("loopback"),
            "{err}"
        );
    }

    #[test]
    fn policy_and_outbox_sections() {
        let c = Config::parse(
            r#"
            [outbox]
            pending_ttl = "7d"
            hold_window = "30s"

            [policy]
            default = "approve"
            allowlist = { sms = ["+1415*"] }

            [[policy.rules]]
            name = "internal"
            channel = "email"
            recipients = ["@practice.example"]
            decision = "auto"

            [[policy.caps]]
            channel = "sms"
            per_hour = 10
            "#,
        )
        .unwrap();
        assert_eq!(c.outbox.pending_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.outbox.hold_window, Duration::from_secs(30));
        assert_eq!(c.policy.rules[0].decision, Decision::Auto);
        assert_eq!(c.policy.caps[0].per_hour, Some(10));
    }

    #[test]
    fn bad_policy_values_name_the_key() {
        let err = Config::parse("[[policy.rules]]\ndecision = \"yolo\"\n").unwrap_err();
        assert!(
            err.contains("policy.rules[0].decision") && err.contains("approve"),
            "{err}"
        );
        let err = Config::parse("[outbox]\nhold_window = \"soon\"\n").unwrap_err();
        assert!(
            err.contains("outbox.hold_window") && err.contains("15m"),
            "{err}"
        );
        let err = Config::parse(
            "[[policy.rules]]\nrecipients = [\"example.org\"]\ndecision = \"auto\"\n",
        )
        .unwrap_err();
        assert!(err.contains("policy.rules[0].recipients[0]"), "{err}");
        let err = Config::parse("[[policy.caps]]\nchannel = \"sms\"\n").unwrap_err();
        assert!(err.contains("policy.caps[0]"), "{err}");
    }

    #[test]
    fn vault_section() {
        use crate::vault::BackendChoice;
        assert_eq!(Config::default().vault.backend, BackendChoice::Auto);
        let c = Config::parse("[vault]\nbackend = \"file\"\nfile = \"/srv/commsd/vault.enc\"\n")
            .unwrap();
        assert_eq!(c.vault.backend, BackendChoice::File);
        assert_eq!(c.vault.file, Some(PathBuf::from("/srv/commsd/vault.enc")));
        let err = Config::parse("[vault]\nbackend = \"keychain\"\n").unwrap_err();
        assert!(
            err.contains("vault.backend") && err.contains("keyring"),
            "{err}"
        );
        let err = Config::parse("[vault]\nfile = \"vault.enc\"\n").unwrap_err();
        assert!(err.contains("vault.file"), "{err}");
        let err = Config::parse("[vault]\npassphrase = \"x\"\n").unwrap_err();
        assert!(err.contains("passphrase"), "{err}");
    }

    #[test]
    fn missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let (c, origin) = Config::load(Some(&path)).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(origin, Origin::Default(path));
    }
}
