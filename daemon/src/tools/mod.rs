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
mod schemas;

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{Error, parse_json};
use crate::outbox::item::Item;
use crate::outbox::model::{Content, State};
use crate::outbox::request::{
    ChatStage, EmailStage, ListFilter, SmsStage, list_filter, list_limit,
};
use crate::outbox::service::{Outbox, StageRequest};
use crate::outbox::view::ItemView;

/// Every toolset of design.md §11, in its order. Names a config may use,
/// including those whose tools later work adds.
pub const TOOLSETS: [&str; 9] = [
    "accounts",
    "gmail_read",
    "gmail_compose",
    "gmail_modify",
    "email",
    "outbox",
    "chat",
    "sms",
    "contacts",
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
/// How many messages per account `commsd://mail/inbox` holds; more through
/// `email_list_messages`.
const MAIL_INBOX_LIMIT: u64 = 10;

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
    /// The tool as MCP lists it, plus the `toolset` it belongs to.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "toolset": self.toolset,
            "description": self.description,
            "inputSchema": (self.input)(),
            "outputSchema": (self.output)(),
            // No `annotations.title`: it would repeat `title`, which MCP
            // clients prefer anyway.
            "annotations": {
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "idempotentHint": self.idempotent,
                "openWorldHint": self.open_world,
            },
        })
    }
}

/// The outbox's own tools (and the account listing), in listing order.
pub const CORE: &[ToolDef] = &[
    ToolDef {
        name: "email_stage",
        title: "Stage an email",
        toolset: "email",
        description: "Stage an email in the commsd outbox. Nothing is sent now: the send policy decides, and usually a human must approve it (in their MCP client when it can ask, else in the dashboard). Returns the item with its state and a preview. Repeat-safe with client_request_id.",
        input: schemas::email_stage,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "outbox_list",
        title: "List outbox items",
        toolset: "outbox",
        description: "List outbox items in queue order (priority, then oldest), newest state first. Filter by state, channel, account or only your own items; page with cursor.",
        input: schemas::outbox_list,
        output: schemas::item_page,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "outbox_get",
        title: "Get an outbox item",
        toolset: "outbox",
        description: "Get one outbox item with its full content, policy decision, approval and delivery outcome.",
        input: schemas::item_id,
        output: schemas::item_result,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "outbox_cancel",
        title: "Cancel an outbox item",
        toolset: "outbox",
        description: "Cancel an item you staged that has not started sending (draft, pending_approval, approved during its hold window). Cannot be undone. Approving is not a tool: only a human approves.",
        input: schemas::item_id,
        output: schemas::item_result,
        read_only: false,
        destructive: true,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "chat_send_message",
        title: "Stage a Google Chat message",
        toolset: "chat",
        description: "Stage a Google Chat message to a space (optionally a thread) in the commsd outbox. Nothing is sent now: it leaves only when the send policy or a human allows it. Returns the item with its state.",
        input: schemas::chat_send_message,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "sms_send",
        title: "Stage an SMS",
        toolset: "sms",
        description: "Stage an SMS (E.164 number) in the commsd outbox. Nothing is sent now: it leaves only when the send policy or a human allows it. Returns the item with its state.",
        input: schemas::sms_send,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
];

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

    /// Reads one of the resources of design.md §11.
    pub async fn read_resource(&self, caller: &Caller, uri: &str) -> Result<Value, Error> {
        match uri {
            RESOURCE_ACCOUNTS => {
                caller.require(crate::auth::Grant::Read, "read accounts")?;
                Ok(json!({ "accounts": self.outbox.accounts().list() }))
            }
            RESOURCE_OUTBOX_PENDING => {
                let filter = ListFilter {
                    states: vec![State::Draft, State::PendingApproval],
                    ..ListFilter::default()
                };
                let page = self.outbox.list(caller, filter, None, 100).await?;
                Ok(json!({
                    "items": page.items.iter().map(brief).collect::<Vec<_>>(),
                    "truncated": page.next_cursor.is_some(),
                    "review_url": format!("{}/review", self.dashboard_url),
                }))
            }
            RESOURCE_CACHE_STATS => {
                caller.require(crate::auth::Grant::Read, "read cache statistics")?;
                let providers: serde_json::Map<String, Value> = self
                    .providers
                    .iter()
                    .filter_map(|p| p.cache_stats())
                    .map(|(name, stats)| (name.to_owned(), stats))
                    .collect();
                Ok(json!({
                    "providers": providers,
                    "outbox": self.outbox.counts(),
                }))
            }
            RESOURCE_MAIL_INBOX => {
                caller.require(crate::auth::Grant::Read, "read mail")?;
                let mut accounts = Vec::new();
                for account in self.outbox.accounts().list() {
                    if !matches!(
                        account.kind,
                        crate::accounts::Kind::Imap | crate::accounts::Kind::Sandbox
                    ) {
                        continue;
                    }
                    let args = json!({ "account": account.id, "folder": "INBOX", "limit": MAIL_INBOX_LIMIT });
                    let inbox = match self.invoke(caller, "email_list_messages", args).await {
                        Ok(outcome) if !outcome.is_error => outcome.structured,
                        // One account's server being down does not hide the others.
                        Ok(outcome) => {
                            json!({ "account": account.id, "error": outcome.structured["error"] })
                        }
                        Err(UnknownTool(name)) => {
                            return Err(Error::internal(
                                "mail resource",
                                format!("{name} is not in the catalog"),
                            ));
                        }
                    };
                    accounts.push(inbox);
                }
                Ok(json!({
                    "accounts": accounts,
                    "per_account": MAIL_INBOX_LIMIT,
                    "more": "email_list_messages with a cursor pages on; Gmail accounts: gmail_search_messages",
                    "untrusted": true,
                }))
            }
            other => Err(Error::new(
                crate::error::Code::NotFound,
                format!("resource {other} does not exist"),
            )
            .with_details(json!({ "uri": other }))),
        }
    }
}

/// The outbox's tools: staging, listing, reading and cancelling items.
struct CoreTools {
    outbox: Arc<Outbox>,
    dashboard_url: String,
}

#[async_trait::async_trait]
impl ToolProvider for CoreTools {
    fn tools(&self) -> &'static [ToolDef] {
        CORE
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        match name {
            "email_stage" => self.stage(caller, email_request(arguments)).await,
            "sms_send" => self.stage(caller, sms_request(arguments)).await,
            "chat_send_message" => self.stage(caller, chat_request(arguments)).await,
            "outbox_list" => self.outbox_list(caller, arguments).await,
            "outbox_get" => self.outbox_get(caller, arguments).await,
            "outbox_cancel" => self.outbox_cancel(caller, arguments).await,
            other => Err(Error::new(
                crate::error::Code::NotFound,
                format!("tool {other} is not an outbox tool"),
            )),
        }
    }
}

impl CoreTools {
    async fn stage(
        &self,
        caller: &Caller,
        request: Result<StageRequest, Error>,
    ) -> Result<Outcome, Error> {
        let staged = self.outbox.stage(caller, request?).await?;
        Ok(staged_outcome(
            &self.dashboard_url,
            caller,
            &staged.item,
            staged.existing,
        ))
    }

    async fn outbox_list(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: ListArgs = args(arguments)?;
        let requester = a.mine.unwrap_or(false).then(|| caller.actor.clone());
        let filter = list_filter(
            &a.state,
            a.channel.as_deref(),
            a.account_id.as_deref(),
            requester,
        )?;
        let limit = list_limit(a.limit.map(|l| l.to_string()).as_deref())?;
        let page = self
            .outbox
            .list(caller, filter, a.cursor.as_deref(), limit)
            .await?;
        Ok(Outcome::ok(json!({
            "items": page.items.iter().map(brief).collect::<Vec<_>>(),
            "nextCursor": page.next_cursor,
        })))
    }

    async fn outbox_get(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: IdArgs = args(arguments)?;
        let item = self.outbox.get(caller, &a.item_id).await?;
        Ok(Outcome::ok(json!({ "item": ItemView::from(&item) })))
    }

    async fn outbox_cancel(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: IdArgs = args(arguments)?;
        let item = self.outbox.cancel(caller, &a.item_id).await?;
        Ok(Outcome::ok(json!({ "item": ItemView::from(&item) })))
    }
}

/// The result of a tool that staged `item` for `caller`: the item in brief,
/// its preview and what happens next, with the approval request when it
/// waits for a human (so MCP clients that can ask, ask). There is no
/// approval request when the caller's client cannot speak for a human
/// (`Caller::require_consent_relay`): then nobody is asked, and `next` says
/// that the item waits for a human in the dashboard, and why. Shared by
/// every staging tool.
pub fn staged_outcome(
    dashboard_url: &str,
    caller: &Caller,
    item: &Item,
    existing: bool,
) -> Outcome {
    let mut structured = staged_json(dashboard_url, item, existing);
    let mut approval = None;
    if item.state == State::PendingApproval {
        match caller.require_consent_relay() {
            Ok(()) => {
                approval = Some(PendingApproval {
                    item_id: item.id.clone(),
                    summary: approval_summary(item),
                    review_url: review_url(dashboard_url, &item.id),
                });
            }
            Err(_) => {
                structured["next"] = json!(format!(
                    "Waiting for a human's approval ({}) in the dashboard ({}) or with `commsctl approve {}`; nothing is sent before that. Your client was not asked to approve it: over HTTP it answers for the holder of {}, not for a human, and {} lacks the `admin` grant. Do not stage it again.",
                    item.rule,
                    review_url(dashboard_url, &item.id),
                    item.id,
                    caller.via,
                    caller.actor
                ));
            }
        }
    }
    let mut outcome = Outcome::ok(structured);
    outcome.approval = approval;
    outcome
}

fn review_url(dashboard_url: &str, id: &str) -> String {
    format!("{dashboard_url}/review/{id}")
}

/// The output of the stage tools: the item in brief, its preview and
/// what happens next.
fn staged_json(dashboard_url: &str, item: &Item, existing: bool) -> Value {
    let next = match item.state {
        State::PendingApproval => format!(
            "Waiting for a human's approval ({}). It stays pending until a human approves it in the dashboard ({}) or with `commsctl approve {}`; nothing is sent before that. Do not stage it again.",
            item.rule,
            review_url(dashboard_url, &item.id),
            item.id
        ),
        State::Draft => format!(
            "A draft: the policy ({}) lets you confirm it after checking the preview; a human may also approve it.",
            item.rule
        ),
        State::Approved => match &item.approval {
            Some(a) => format!(
                "Approved by {}; it is sent after the hold window unless someone cancels it.",
                a.by
            ),
            None => "Approved; it is sent after the hold window.".to_owned(),
        },
        other => format!("The item is {}.", other.as_str()),
    };
    json!({
        "item": brief(item),
        "existing": existing,
        "preview": Outbox::preview_text(item),
        "reviewUrl": review_url(dashboard_url, &item.id),
        "next": next,
    })
}

/// An item in brief: what an agent needs to follow it up.
pub fn brief(item: &Item) -> Value {
    json!({
        "id": item.id,
        "state": item.state.as_str(),
        "channel": item.channel.as_str(),
        "accountId": item.account,
        "recipients": item.recipients,
        "summary": item.summary,
        "priority": item.priority.as_str(),
        "requester": item.requester,
        "decision": item.decision.as_str(),
        "rule": item.rule,
        "createdAt": crate::outbox::item::rfc3339(item.created_at_ms),
        "expiresAt": item.expires_at_ms.map(crate::outbox::item::rfc3339),
    })
}

/// What the approval form shows: recipients, subject and the first lines.
fn approval_summary(item: &Item) -> String {
    const LINES: usize = 6;
    let first_lines = |text: &str| {
        let mut out: Vec<&str> = text.lines().take(LINES).collect();
        if text.lines().count() > LINES {
            out.push("…");
        }
        out.join("\n")
    };
    match &item.content {
        Content::Email(e) => {
            let mut s = format!(
                "Send this email from {}?\nTo: {}\n",
                e.from,
                e.to.join(", ")
            );
            if !e.cc.is_empty() {
                s.push_str(&format!("Cc: {}\n", e.cc.join(", ")));
            }
            if !e.bcc.is_empty() {
                s.push_str(&format!("Bcc: {}\n", e.bcc.join(", ")));
            }
            s.push_str(&format!("Subject: {}\n", e.subject));
            if !e.attachments.is_empty() {
                s.push_str(&format!("Attachments: {}\n", e.attachments.len()));
            }
            s.push('\n');
            s.push_str(&first_lines(&e.text));
            s
        }
        Content::Sms(m) => format!("Send this SMS to {}?\n\n{}", m.to, first_lines(&m.body)),
        Content::Chat(c) => format!(
            "Post this Google Chat message to {}?\n\n{}",
            c.space,
            first_lines(&c.text)
        ),
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

fn email_request(arguments: &Value) -> Result<StageRequest, Error> {
    args::<EmailStage>(arguments)?.try_into()
}

fn sms_request(arguments: &Value) -> Result<StageRequest, Error> {
    Ok(args::<SmsStage>(arguments)?.into())
}

fn chat_request(arguments: &Value) -> Result<StageRequest, Error> {
    Ok(args::<ChatStage>(arguments)?.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListArgs {
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    state: Vec<String>,
    channel: Option<String>,
    account_id: Option<String>,
    mine: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdArgs {
    item_id: String,
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

    #[test]
    fn arguments_errors_name_the_field() {
        let e = email_request(&json!({ "to": 7 })).unwrap_err();
        assert_eq!(e.code, crate::error::Code::InvalidArgument);
        assert_eq!(e.details["field"], "to", "{e:?}");
        let e = email_request(&json!({ "to": [], "bogus": 1 })).unwrap_err();
        assert!(e.message.contains("bogus"), "{e:?}");
        let e = args::<IdArgs>(&json!([1])).err().unwrap();
        assert_eq!(e.details["field"], "arguments");
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
