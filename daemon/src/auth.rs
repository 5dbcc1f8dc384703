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

/// How a caller reached commsd. It decides whether an answer relayed
/// through the caller's MCP client can be a human's consent, and the
/// approval record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The control socket: a process of the daemon's own user (`incoming()`
    /// drops every other uid), e.g. `commsctl`, or `comms-mcp` started over
    /// stdio by the user's MCP client application.
    Socket { uid: u32 },
    /// An HTTP request authenticated with the API key of this name
    /// (`/api/v1`, `/mcp`). Whoever holds the key is the caller.
    Key { name: String },
    /// A logged-in dashboard session.
    Dashboard,
    /// The daemon's own work (expiry, dispatch, recovery).
    Daemon,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Socket { uid } => write!(f, "uid {uid}"),
            Via::Key { name } => write!(f, "key {name}"),
            Via::Dashboard => f.write_str("dashboard"),
            Via::Daemon => f.write_str("daemon"),
        }
    }
}

/// The authenticated caller of a service method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as requester and in the audit log: `cli:alice`, `dashboard`,
    /// `key:gemini-cli`, `mcp:claude-code`, `daemon`.
    pub actor: String,
    pub grants: Grants,
    pub via: Via,
}

impl Caller {
    /// A human at the CLI: a process of the daemon's own user on the socket,
    /// whose peer uid is `uid`.
    pub fn cli(user: &str, uid: u32) -> Caller {
        let user = if user.is_empty() { "unknown" } else { user };
        Caller {
            actor: format!("cli:{user}"),
            grants: Grants::all(),
            via: Via::Socket { uid },
        }
    }

    /// An MCP client's agent through `comms-mcp` on the socket (peer uid
    /// `uid`): `mcp:<client>` with read, draft, stage and send, never admin.
    pub fn mcp(client: &str, uid: u32) -> Caller {
        Caller {
            actor: format!("mcp:{client}"),
            grants: [Grant::Read, Grant::Draft, Grant::Stage, Grant::Send]
                .into_iter()
                .collect(),
            via: Via::Socket { uid },
        }
    }

    /// The holder of the API key `name`, with the key's grants.
    pub fn key(name: &str, grants: Grants) -> Caller {
        Caller {
            actor: format!("key:{name}"),
            grants,
            via: Via::Key {
                name: name.to_owned(),
            },
        }
    }

    /// A human logged in to the dashboard.
    pub fn dashboard() -> Caller {
        Caller {
            actor: "dashboard".to_owned(),
            grants: Grants::all(),
            via: Via::Dashboard,
        }
    }

    /// The daemon itself (expiry, dispatch, recovery).
    pub fn daemon() -> Caller {
        Caller {
            actor: "daemon".to_owned(),
            grants: Grants::all(),
            via: Via::Daemon,
        }
    }

    /// Whether an answer to an approval request shown by this caller's MCP
    /// client (elicitation) may count as a human's approval. The client
    /// belongs to whoever the caller is: it may count only where the caller
    /// could approve anyway, i.e. the socket's own user (comms-mcp over
    /// stdio, where the client application shows the form to the person at
    /// it) or a caller holding `admin`. Over HTTP the client is the key
    /// holder, who can answer `accept` themselves; without `admin` its
    /// answer is worth nothing, so it is never asked.
    pub fn require_consent_relay(&self) -> Result<(), Error> {
        if matches!(self.via, Via::Socket { .. }) || self.has(Grant::Admin) {
            return Ok(());
        }
        Err(Error::new(
            Code::PermissionDenied,
            format!(
                "{} cannot pass on a human's approval: its MCP client answers for the holder of {}, not for a human, and the key lacks the `admin` grant; a human approves in the dashboard",
                self.actor, self.via
            ),
        )
        .with_details(serde_json::json!({ "grant": Grant::Admin.as_str(), "actor": self.actor })))
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
        let caller = Caller::key("bot", g);
        assert!(caller.require(Grant::Stage, "stage").is_ok());
        let err = caller.require(Grant::Admin, "approve items").unwrap_err();
        assert_eq!(err.code, Code::PermissionDenied);
        assert_eq!(
            err.message,
            "key:bot lacks the `admin` grant needed to approve items"
        );
        assert!(Caller::cli("alice", 1000).has(Grant::Admin));
    }

    #[test]
    fn only_the_socket_user_or_admin_may_relay_consent() {
        assert!(
            Caller::mcp("claude-code", 1000)
                .require_consent_relay()
                .is_ok()
        );
        assert!(Caller::cli("alice", 1000).require_consent_relay().is_ok());
        let admin_key = Caller::key("ops", Grants::all());
        assert!(admin_key.require_consent_relay().is_ok());
        let agent_key = Caller::key("gemini", [Grant::Read, Grant::Stage].into_iter().collect());
        let err = agent_key.require_consent_relay().unwrap_err();
        assert_eq!(err.code, Code::PermissionDenied);
        assert!(err.message.contains("key gemini"), "{}", err.message);
        assert_eq!(Caller::mcp("x", 1000).via.to_string(), "uid 1000");
    }
}
