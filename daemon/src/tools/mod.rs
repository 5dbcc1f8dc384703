//! The MCP tool catalog (design.md §11) and the tools themselves.
//!
//! Defined once, here: names, titles, descriptions written for an agent,
//! JSON Schemas (2020-12, MCP's default dialect, so no `$schema` key),
//! output schemas, annotations and toolsets. Both MCP frontends relay it
//! unchanged: comms-mcp through the `Tools` gRPC service, `/mcp` through the
//! in-process backend. Every tool calls the same service functions as the
//! HTTP API and the CLI; nothing here decides policy or state.
//!
//! Each feature brings its tools as a [`ToolProvider`] in a file of its own
//! (its `ToolDef`s and its `call`); [`Tools`] lists and dispatches across the
//! providers it is given. The MCP crate does not change.

pub mod accounts;
pub mod backend;
pub mod email;
pub mod gmail;
pub mod kit;
pub mod outbox;
mod resources;
mod schemas;

use std::sync::Arc;

use serde_json::{Value, json};

pub use self::outbox::{CORE, brief, staged_outcome};
use self::outbox::{CoreTools, staged_json};
pub use self::schemas::staged as staged_schema;
use crate::auth::Caller;
use crate::error::{Error, parse_json};
use crate::outbox::service::Outbox;

/// Every toolset of design.md §11, in its order. Names a config may use,
/// including those whose tools later work adds.
pub const TOOLSETS: [&str; 10] = [
    "accounts",
    "gmail_read",
    "gmail_compose",
    "gmail_modify",
    "email",
    "outbox",
    "chat",
    "sms",
    "contacts",
    "inbox",
];

/// What MCP clients see without an `[mcp] toolsets` key: reading and
/// composing mail and the outbox. Chat, SMS, label changes and contacts are
/// opt-in, so that an agent's context holds only what most agents use.
pub const DEFAULT_TOOLSETS: [&str; 5] =
    ["accounts", "gmail_read", "gmail_compose", "email", "outbox"];

/// The MCP resources of design.md §11.
pub const RESOURCE_ACCOUNTS: &str = "commsd://accounts";
pub const RESOURCE_OUTBOX_PENDING: &str = "commsd://outbox/pending";
pub const RESOURCE_CACHE_STATS: &str = "commsd://cache/stats";
/// The newest messages in the INBOX of each IMAP account; updated when IDLE
/// sees new mail there.
pub const RESOURCE_MAIL_INBOX: &str = "commsd://mail/inbox";
/// The newest text messages of each Twilio account and the sandbox;
/// updated when one is received (webhook, polling, the sandbox).
pub const RESOURCE_SMS_INBOX: &str = "commsd://sms/inbox";

/// The newest messages of the unified inbox, every channel and account;
/// updated when the index changes (`InboxChanged`).
pub const RESOURCE_INBOX: &str = "commsd://inbox";

/// One tool of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct ToolDef {
    pub name: &'static str,
    pub title: &'static str,
    pub toolset: &'static str,
    pub description: &'static str,
    pub input: fn() -> Value,
    pub output: fn() -> Value,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Reaches beyond commsd (mail servers, other people), now or after approval.
    pub open_world: bool,
}

impl ToolDef {
    /// The tool as MCP lists it. `toolset` stays in the catalog: it decides
    /// what is enabled, and no client reads it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": (self.input)(),
            "outputSchema": (self.output)(),
            "annotations": self.annotations(),
        })
    }

    /// The hints that differ from MCP's defaults for an absent hint
    /// (readOnlyHint false, destructiveHint true, idempotentHint false,
    /// openWorldHint true); destructive and idempotent mean something only
    /// for a tool that writes. No `title`: it would repeat the tool's.
    pub fn annotations(&self) -> Value {
        let mut hints = serde_json::Map::new();
        if self.read_only {
            hints.insert("readOnlyHint".to_owned(), Value::Bool(true));
        } else {
            if !self.destructive {
                hints.insert("destructiveHint".to_owned(), Value::Bool(false));
            }
            if self.idempotent {
                hints.insert("idempotentHint".to_owned(), Value::Bool(true));
            }
        }
        if !self.open_world {
            hints.insert("openWorldHint".to_owned(), Value::Bool(false));
        }
        Value::Object(hints)
    }
}

/// The result of a tool that ran (successfully or not).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The structured result, or the error envelope when `is_error`.
    pub structured: Value,
    /// The same, serialised, for clients that read only text.
    pub text: String,
    pub is_error: bool,
    /// Set when the call staged an item that waits for a human.
    pub approval: Option<PendingApproval>,
}

/// An item a human must approve, as the MCP client shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub item_id: String,
    pub summary: String,
    pub review_url: String,
}

/// Calling a tool that is not listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown tool {0:?}")]
pub struct UnknownTool(pub String);

impl Outcome {
    pub fn ok(structured: Value) -> Outcome {
        Outcome {
            text: structured.to_string(),
            structured,
            is_error: false,
            approval: None,
        }
    }

    /// A failed tool: isError with the error envelope.
    pub fn from_error(e: &Error) -> Outcome {
        let structured = e.envelope();
        Outcome {
            text: structured.to_string(),
            structured,
            is_error: true,
            approval: None,
        }
    }
}

/// A group of tools: its definitions and how to run them. Each feature
/// (Gmail, IMAP mail, accounts, ...) implements one in its own file.
#[async_trait::async_trait]
pub trait ToolProvider: Send + Sync {
    /// Its tools, in listing order.
    fn tools(&self) -> &'static [ToolDef];
    /// Runs one of [`Self::tools`] as `caller`. A failure is an `Err` with
    /// the error envelope; it becomes an isError result.
    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error>;
    /// Cache and quota counters for `commsd://cache/stats`, keyed by
    /// provider name, for providers that cache or spend a quota.
    fn cache_stats(&self) -> Option<(&'static str, Value)> {
        None
    }
}

/// The catalog with the enabled toolsets, over the service layer.
pub struct Tools {
    outbox: Arc<Outbox>,
    providers: Vec<Arc<dyn ToolProvider>>,
    /// Enabled tools with the index of their provider, in listing order.
    enabled: Vec<(&'static ToolDef, usize)>,
    dashboard_url: String,
}

impl Tools {
    /// The core tools plus `providers`. `toolsets` (`None`: the
    /// [`DEFAULT_TOOLSETS`]) are checked at start-up by [`check_toolsets`];
    /// unknown names enable nothing.
    pub fn new(
        outbox: Arc<Outbox>,
        providers: Vec<Arc<dyn ToolProvider>>,
        toolsets: Option<&[String]>,
        dashboard_url: String,
    ) -> Tools {
        let defaults: Vec<String> = DEFAULT_TOOLSETS.iter().map(|s| (*s).to_owned()).collect();
        let toolsets = toolsets.unwrap_or(&defaults);
        let mut all: Vec<Arc<dyn ToolProvider>> = vec![Arc::new(CoreTools {
            outbox: outbox.clone(),
            dashboard_url: dashboard_url.clone(),
        })];
        all.extend(providers);
        let mut enabled: Vec<(&'static ToolDef, usize)> = Vec::new();
        for (i, provider) in all.iter().enumerate() {
            for def in provider.tools() {
                if toolsets.iter().any(|s| s == def.toolset)
                    && !enabled.iter().any(|(d, _)| d.name == def.name)
                {
                    enabled.push((def, i));
                }
            }
        }
        // Listing order is the catalog's (design.md §11): by toolset.
        enabled.sort_by_key(|(d, _)| TOOLSETS.iter().position(|t| *t == d.toolset));
        Tools {
            outbox,
            providers: all,
            enabled,
            dashboard_url,
        }
    }

    /// The enabled tools as MCP lists them (each with its `toolset`).
    pub fn list(&self) -> Vec<Value> {
        self.enabled.iter().map(|(t, _)| t.to_json()).collect()
    }

    /// Every tool of every provider, enabled or not.
    pub fn catalog(&self) -> Vec<&'static ToolDef> {
        self.providers.iter().flat_map(|p| p.tools()).collect()
    }

    /// Runs an enabled tool as `caller`. Failures of the tool are outcomes
    /// with `is_error` and the error envelope; only an unknown (or disabled)
    /// tool is an error here.
    pub async fn call(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Value,
    ) -> Result<Outcome, UnknownTool> {
        let Some((def, provider)) = self.enabled.iter().find(|(t, _)| t.name == name) else {
            return Err(UnknownTool(name.to_owned()));
        };
        let result = self.providers[*provider]
            .call(caller, def.name, &arguments)
            .await;
        Ok(result.unwrap_or_else(|e| Outcome::from_error(&e)))
    }

    /// Runs any tool of the catalog, enabled or not, as `caller` (commsctl:
    /// the human at the CLI, whose commands reuse the tools).
    pub async fn invoke(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Value,
    ) -> Result<Outcome, UnknownTool> {
        let Some(provider) = self
            .providers
            .iter()
            .find(|p| p.tools().iter().any(|t| t.name == name))
        else {
            return Err(UnknownTool(name.to_owned()));
        };
        let result = provider.call(caller, name, &arguments).await;
        Ok(result.unwrap_or_else(|e| Outcome::from_error(&e)))
    }

    /// The human at the MCP client `client` accepted the approval request
    /// for `item_id`: approve it and return the stage tool's result again,
    /// now showing the approved item.
    pub async fn approve_by_human(
        &self,
        caller: &Caller,
        client: &str,
        item_id: &str,
    ) -> Result<Outcome, Error> {
        let item = self
            .outbox
            .approve_by_human(caller, item_id, client)
            .await?;
        Ok(Outcome::ok(staged_json(&self.dashboard_url, &item, false)))
    }
}

/// Parses tool arguments; the error names the offending field.
pub fn args<T: serde::de::DeserializeOwned>(arguments: &Value) -> Result<T, Error> {
    let value = if arguments.is_null() {
        json!({})
    } else {
        arguments.clone()
    };
    if !value.is_object() {
        return Err(Error::invalid("arguments", "expected a JSON object"));
    }
    parse_json(value.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_are_unique_valid_and_in_known_toolsets() {
        let mut names = std::collections::BTreeSet::new();
        for t in CORE {
            assert!(names.insert(t.name), "duplicate {}", t.name);
            assert!(
                t.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{}",
                t.name
            );
            assert!(TOOLSETS.contains(&t.toolset), "{}", t.toolset);
            assert!(!(t.read_only && t.destructive), "{}", t.name);
            let json = t.to_json();
            assert_eq!(json["inputSchema"]["type"], "object", "{}", t.name);
            assert_eq!(json["outputSchema"]["type"], "object", "{}", t.name);
        }
        for d in DEFAULT_TOOLSETS {
            assert!(TOOLSETS.contains(&d));
        }
    }
}

#[cfg(test)]
mod config_tests {
    #[test]
    fn toolsets_are_checked_against_the_catalog() {
        super::check_toolsets(None).unwrap();
        let ok = ["outbox".to_owned(), "gmail_read".to_owned()];
        super::check_toolsets(Some(&ok)).unwrap();
        let bad = ["outbox".to_owned(), "gmial_read".to_owned()];
        let err = super::check_toolsets(Some(&bad)).unwrap_err();
        assert!(
            err.contains("mcp.toolsets[1]") && err.contains("gmial_read"),
            "{err}"
        );
    }
}

/// Checks `[mcp] toolsets` against the catalog; the error names the key.
/// `None` (the key absent) means [`DEFAULT_TOOLSETS`].
pub fn check_toolsets(toolsets: Option<&[String]>) -> Result<(), String> {
    for (i, name) in toolsets.unwrap_or_default().iter().enumerate() {
        if !TOOLSETS.contains(&name.as_str()) {
            return Err(format!(
                "key `mcp.toolsets[{i}]`: unknown toolset {name:?}; known: {}",
                TOOLSETS.join(", ")
            ));
        }
    }
    Ok(())
}
