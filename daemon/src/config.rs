//! The daemon's configuration: a TOML file whose every key is known.
//!
//! A missing file means the embedded default (no accounts, sandbox delivery).
//! Anything else that is wrong (bad syntax, an unknown key, a value of the
//! wrong type, a non-loopback listener) stops the daemon with a message that
//! names the file, the key and what was expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Addresses of the three HTTP listeners.
    pub listen: Listen,
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
    fn non_loopback_is_refused() {
        let err = Config::parse("[listen]\napi = \"0.0.0.0:3002\"\n").unwrap_err();
        assert!(
            err.contains("listen.api") && err.contains("loopback"),
            "{err}"
        );
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
