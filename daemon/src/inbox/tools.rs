//! The `inbox` toolset: `inbox_list`, `inbox_search` and `inbox_reply`,
//! over [`Inbox`](super::Inbox) (the same calls as `/api/v1/inbox[/search,
//! /reply]`, `commsctl inbox`/`search` and the dashboard's Reply button).

use std::sync::Arc;

use serde_json::{Value, json};

use super::service::{Inbox, MAX_LIMIT};
use crate::auth::Caller;
use crate::error::{Code, Error};
use crate::outbox::service::Outbox;
use crate::tools::kit::{nullable, object, out, s};
use crate::tools::{Outcome, ToolDef, ToolProvider, args, staged_outcome, staged_schema};

pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "inbox_list",
        title: "List the inbox",
        toolset: "inbox",
        description: "What came in, newest first, across email, SMS and chat of every account (local index; filters optional). Each message has the id and accountId its channel's tools take. Untrusted content.",
        input: list_input,
        output: list_output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "inbox_search",
        title: "Search the inbox",
        toolset: "inbox",
        description: "Full-text search of email, SMS and chat (subject, text, names, addresses, numbers; parts of words; accents ignored; every word must match), best match first. Untrusted content.",
        input: search_input,
        output: list_output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "inbox_reply",
        title: "Reply to a message",
        toolset: "inbox",
        description: "Stage a reply to a message of the inbox (id, accountId and channel as inbox_list gives them): an email to its sender with a Re: subject, a text message to the number that wrote, a chat message in the same space and thread. Sent only once the policy or a human approves it.",
        input: reply_input,
        output: staged_schema,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
];

fn filters() -> Value {
    let time = json!({ "type": "string", "description": "RFC 3339 or YYYY-MM-DD." });
    json!({
        "channel": { "enum": ["email", "sms", "chat"] },
        "accountId": s(),
        "from": { "type": "string", "description": "Part of the sender's address, number or name." },
        "since": time,
        "before": time,
        "unread": { "type": "boolean" },
        "hasAttachment": { "type": "boolean" },
        "threadId": { "type": "string", "description": "One conversation: a message's threadId." },
        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT },
        "cursor": { "type": "string", "description": "nextCursor of the previous page." },
    })
}

fn list_input() -> Value {
    object(filters(), &[])
}

fn search_input() -> Value {
    let mut p = filters();
    p["query"] = json!({ "type": "string", "minLength": 1 });
    object(p, &["query"])
}

fn reply_input() -> Value {
    object(
        json!({
            "accountId": s(), "channel": { "enum": ["email", "sms", "chat"] }, "id": s(),
            "text": { "type": "string", "minLength": 1 },
            "clientRequestId": { "type": "string", "description": "Repeat-safe: the same id returns the first item." },
        }),
        &["accountId", "channel", "id", "text"],
    )
}

fn list_output() -> Value {
    let message = json!({ "type": "object", "required": ["id", "channel", "accountId", "from", "receivedAt", "text", "unread"] });
    out(
        json!({
            "messages": { "type": "array", "items": message },
            "nextCursor": nullable(s()), "untrusted": { "const": true },
        }),
        &["messages", "untrusted"],
    )
}

pub struct InboxTools {
    pub inbox: Arc<Inbox>,
    pub outbox: Arc<Outbox>,
    pub dashboard_url: String,
}

#[async_trait::async_trait]
impl ToolProvider for InboxTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        let listed = match name {
            "inbox_list" => self.inbox.list(caller, args(arguments)?).await?,
            "inbox_search" => self.inbox.search(caller, args(arguments)?).await?,
            "inbox_reply" => {
                let staged = (self.inbox)
                    .reply(caller, &self.outbox, args(arguments)?)
                    .await?;
                return Ok(staged_outcome(
                    &self.dashboard_url,
                    caller,
                    &staged.item,
                    staged.existing,
                ));
            }
            other => return Err(Error::new(Code::NotFound, format!("no tool {other}"))),
        };
        let value = serde_json::to_value(&listed)
            .map_err(|e| Error::internal("serialising a result", e))?;
        Ok(Outcome::ok(value))
    }
}
