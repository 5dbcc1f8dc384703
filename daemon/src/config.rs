//! The daemon's configuration: a TOML file whose every key is known.
//!
//! A missing file means the embedded default (no accounts, sandbox delivery).
//! Anything else that is wrong (bad syntax, an unknown key, a value of the
//! wrong type, a non-loopback listener) stops the daemon with a message that
//! names the file, the key and what was expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::outbox::model::{Channel, Decision};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses of the three HTTP listeners.
    pub listen: Listen,
    /// Limits of the HTTP listeners (slow clients, connections).
    pub http: crate::http::HttpConfig,
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
    /// Where secrets are kept: the OS keyring or an encrypted file.
    pub vault: VaultConfig,
}

/// `[vault]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// `auto` (the OS keyring when it answers, else the encrypted file),
    /// `keyring` or `file`. Chooses the backend of a new vault; once secrets
    /// are stored, `commsctl vault migrate` moves them.
    pub backend: crate::vault::BackendChoice,
    /// The encrypted file [default: `<data dir>/vault.enc`]; an absolute path.
    pub file: Option<PathBuf>,
}

/// `[google]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GoogleConfig {
    /// `[google.endpoints]`: where OAuth and the Google APIs are reached.
    pub endpoints: crate::google::Endpoints,
}

/// `[mcp]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Which groups of tools MCP clients see (design.md §11), so that an
    /// agent's context holds only what it uses. Names: see `tools::TOOLSETS`.
    pub toolsets: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            toolsets: crate::tools::DEFAULT_TOOLSETS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// `[api]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Requests per minute per API key; a burst of a tenth of it is allowed.
    pub requests_per_minute: u32,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            requests_per_minute: 1200,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[outbox]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Pending items (draft, pending_approval) older than this expire; "0s" never expires.
    #[serde(deserialize_with = "duration")]
    pub pending_ttl: Duration,
    /// Time between approval and dispatch during which a human can still cancel.
    #[serde(deserialize_with = "duration")]
    pub hold_window: Duration,
    /// Items dispatched at the same time per account.
    pub concurrency_per_account: usize,
    /// Directories agents (callers without the `admin` grant) may attach
    /// files from. Empty: agents cannot attach files; humans always can.
    pub attachment_dirs: Vec<PathBuf>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            pending_ttl: Duration::from_secs(72 * 3600),
            hold_window: Duration::ZERO,
            concurrency_per_account: 4,
            attachment_dirs: Vec::new(),
        }
    }
}

/// `[sandbox]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// The From of sandbox email.
    pub from: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            from: "commsd sandbox <sandbox@commsd.invalid>".to_owned(),
        }
    }
}

/// `[policy]`: the send policy of design.md §5.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The decision when no rule matches.
    pub default: Decision,
    /// Checked in order; the first rule that matches decides.
    pub rules: Vec<Rule>,
    /// Per channel: when set, only matching recipients may be messaged at all.
    pub allowlist: Allowlist,
    /// Sending caps per account and channel.
    pub caps: Vec<Cap>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            default: Decision::Approve,
            rules: Vec::new(),
            allowlist: Allowlist::default(),
            caps: Vec::new(),
        }
    }
}

/// `[[policy.rules]]`: matches when every given field matches.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A label shown with every decision this rule makes.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub account: Option<String>,
    /// Recipient patterns; the rule matches only when every recipient matches
    /// one: `*`, `@example.org` (a domain), `jane@example.org`, `+14155550100`,
    /// `+4930*` (a number prefix), `spaces/AAAA`.
    #[serde(default)]
    pub recipients: Vec<String>,
    pub decision: Decision,
}

/// `[policy.allowlist]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    pub email: Option<Vec<String>>,
    pub sms: Option<Vec<String>>,
    pub chat: Option<Vec<String>>,
}

impl Allowlist {
    pub fn for_channel(&self, channel: Channel) -> Option<&[String]> {
        match channel {
            Channel::Email => self.email.as_deref(),
            Channel::Sms => self.sms.as_deref(),
            Channel::Chat => self.chat.as_deref(),
        }
    }
}

/// `[[policy.caps]]`: at most this many dispatches per hour / per day, for
/// each account (or the named one) on the channel (or every channel).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub per_hour: Option<u32>,
    #[serde(default)]
    pub per_day: Option<u32>,
}

/// Parses "90s", "15m", "72h", "7d", "0s".
pub(crate) fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?} ({e}); expected a duration such as \"90s\", \"15m\", \"72h\" or \"7d\""
        ))
    })
}

/// `[listen]`: where the HTTP listeners bind. Loopback only; port 0 picks a free port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The review dashboard (`/review`).
    pub dashboard: SocketAddr,
    /// The REST API (`/api/v1`) and MCP over HTTP (`/mcp`).
    pub api: SocketAddr,
    /// Provider webhooks (`/webhooks/...`), the one port a user may expose through a tunnel.
    pub webhooks: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            dashboard: SocketAddr::from(([127, 0, 0, 1], 3001)),
            api: SocketAddr::from(([127, 0, 0, 1], 3002)),
            webhooks: SocketAddr::from(([127, 0, 0, 1], 3003)),
        }
    }
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
        self.http.validate().map_err(|e| format!("key `{e}"))?;
        if self.api.requests_per_minute == 0 {
            return Err("key `api.requests_per_minute`: must be at least 1".to_owned());
        }
        if self.api.max_body_bytes < 1024 {
            return Err("key `api.max_body_bytes`: must be at least 1024".to_owned());
        }
        for (i, name) in self.mcp.toolsets.iter().enumerate() {
            if !crate::tools::TOOLSETS.contains(&name.as_str()) {
                return Err(format!(
                    "key `mcp.toolsets[{i}]`: unknown toolset {name:?}; known: {}",
                    crate::tools::TOOLSETS.join(", ")
                ));
            }
        }
        for (i, dir) in self.outbox.attachment_dirs.iter().enumerate() {
            if !dir.is_absolute() {
                return Err(format!(
                    "key `outbox.attachment_dirs[{i}]`: {} is not an absolute path",
                    dir.display()
                ));
            }
        }
        if let Some(file) = &self.vault.file
            && !file.is_absolute()
        {
            return Err(format!(
                "key `vault.file`: {} is not an absolute path",
                file.display()
            ));
        }
        if self.outbox.concurrency_per_account == 0 {
            return Err("key `outbox.concurrency_per_account`: must be at least 1".to_owned());
        }
        self.sandbox.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            format!(
                "key `sandbox.from`: {e}; expected a mailbox such as \"Praxis <praxis@example.org>\""
            )
        })?;
        for (i, rule) in self.policy.rules.iter().enumerate() {
            for (j, p) in rule.recipients.iter().enumerate() {
                crate::outbox::policy::check_pattern(p)
                    .map_err(|why| format!("key `policy.rules[{i}].recipients[{j}]`: {why}"))?;
            }
        }
        for channel in Channel::ALL {
            for (j, p) in self
                .policy
                .allowlist
                .for_channel(channel)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                crate::outbox::policy::check_pattern(p).map_err(|why| {
                    format!("key `policy.allowlist.{}[{j}]`: {why}", channel.as_str())
                })?;
            }
        }
        for (i, cap) in self.policy.caps.iter().enumerate() {
            if cap.per_hour.is_none() && cap.per_day.is_none() {
                return Err(format!(
                    "key `policy.caps[{i}]`: expected `per_hour`, `per_day` or both"
                ));
            }
        }
        for (key, addr) in [
            ("listen.dashboard", self.listen.dashboard),
            ("listen.api", self.listen.api),
            ("listen.webhooks", self.listen.webhooks),
        ] {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "key `{key}`: {addr} is not a loopback address; expected 127.0.0.1 or [::1] \
                     with any port (commsd never listens beyond this machine: expose the \
                     webhook port through a tunnel instead)"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn mcp_toolsets_default_and_are_checked_against_the_catalog() {
        assert_eq!(
            Config::default().mcp.toolsets,
            crate::tools::DEFAULT_TOOLSETS.map(String::from)
        );
        let c = Config::parse("[mcp]\ntoolsets = [\"outbox\", \"sms\"]\n").unwrap();
        assert_eq!(c.mcp.toolsets, ["outbox", "sms"]);
        let err = Config::parse("[mcp]\ntoolsets = [\"outbox\", \"gmial_read\"]\n").unwrap_err();
        assert!(
            err.contains("mcp.toolsets[1]") && err.contains("gmial_read"),
            "{err}"
        );
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
