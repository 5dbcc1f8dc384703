//! Who is calling, and what they may do.
//!
//! Grants are enforced in the service layer, so the same rules hold for
//! gRPC, HTTP, MCP and anything later. Humans at the CLI or the dashboard
//! hold every grant; API keys hold the grants they were created with.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error};

/// A power a caller may hold (design.md §4, API keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Read accounts, the outbox, the audit log, and (later) mail.
    Read,
    /// Create and edit drafts.
    Draft,
    /// Stage items in the outbox.
    Stage,
    /// Confirm items whose policy lets the agent confirm; send where policy allows.
    Send,
    /// Approve and reject: the human's power. No key gets it by default.
    Admin,
}

impl Grant {
    pub const ALL: [Grant; 5] = [
        Grant::Read,
        Grant::Draft,
        Grant::Stage,
        Grant::Send,
        Grant::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Read => "read",
            Grant::Draft => "draft",
            Grant::Stage => "stage",
            Grant::Send => "send",
            Grant::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants(u8);

impl Grants {
    pub fn all() -> Grants {
        Grants::from_iter(Grant::ALL)
    }

    pub fn contains(self, g: Grant) -> bool {
        self.0 & g.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Grant> {
        Grant::ALL.into_iter().filter(move |g| self.contains(*g))
    }
}

impl FromIterator<Grant> for Grants {
    fn from_iter<I: IntoIterator<Item = Grant>>(iter: I) -> Self {
        Grants(iter.into_iter().fold(0, |acc, g| acc | g.bit()))
    }
}

impl fmt::Display for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Grant::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// The authenticated caller of a service method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as requester and in the audit log: `cli:alice`, `dashboard`,
    /// `key:gemini-cli`, `mcp:claude-code`, `daemon`.
    pub actor: String,
    pub grants: Grants,
}

impl Caller {
    /// A human at the CLI (same uid as the daemon, checked on the socket).
    pub fn cli(user: &str) -> Caller {
        let user = if user.is_empty() { "unknown" } else { user };
        Caller {
            actor: format!("cli:{user}"),
            grants: Grants::all(),
        }
    }

    /// A human logged in to the dashboard.
    pub fn dashboard() -> Caller {
        Caller {
            actor: "dashboard".to_owned(),
            grants: Grants::all(),
        }
    }

    /// The daemon itself (expiry, dispatch, recovery).
    pub fn daemon() -> Caller {
        Caller {
            actor: "daemon".to_owned(),
            grants: Grants::all(),
        }
    }

    pub fn has(&self, grant: Grant) -> bool {
        self.grants.contains(grant)
    }

    /// `permission_denied` naming the missing grant and what it is needed for.
    pub fn require(&self, grant: Grant, for_what: &str) -> Result<(), Error> {
        if self.has(grant) {
            return Ok(());
        }
        Err(Error::new(
            Code::PermissionDenied,
            format!(
                "{} lacks the `{}` grant needed to {for_what}",
                self.actor,
                grant.as_str()
            ),
        )
        .with_details(serde_json::json!({ "grant": grant.as_str(), "actor": self.actor })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_roundtrip_and_require() {
        let g: Grants = [Grant::Read, Grant::Stage].into_iter().collect();
        assert_eq!(g.to_string(), "read,stage");
        let caller = Caller {
            actor: "key:bot".into(),
            grants: g,
        };
        assert!(caller.require(Grant::Stage, "stage").is_ok());
        let err = caller.require(Grant::Admin, "approve items").unwrap_err();
        assert_eq!(err.code, Code::PermissionDenied);
        assert_eq!(
            err.message,
            "key:bot lacks the `admin` grant needed to approve items"
        );
        assert!(Caller::cli("alice").has(Grant::Admin));
    }
}
