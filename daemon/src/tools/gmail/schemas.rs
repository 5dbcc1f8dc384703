//! The Gmail tools' catalog entries: names, descriptions, JSON Schemas
//! (written by hand and kept short: every byte is in each agent's context)
//! and annotations.

use serde_json::{Value, json};

use crate::tools::ToolDef;

fn s() -> Value {
    json!({ "type": "string" })
}

fn account() -> Value {
    json!({ "type": "string", "description": "Google account id or address." })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn ids() -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 })
}

fn body_props() -> Value {
    json!({
        "body": { "enum": ["auto", "text", "html", "both"] },
        "offset": { "type": "integer", "minimum": 0 },
        "max_chars": { "type": "integer", "minimum": 100 },
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn format_prop() -> Value {
    json!({ "enum": ["metadata", "full"] })
}

fn in_search() -> Value {
    object(
        json!({ "account": account(), "query": { "type": "string", "description": "Gmail search syntax." },
                "max_results": { "type": "integer", "minimum": 1, "maximum": 100 },
                "page_token": s(), "label_ids": strings() }),
        &["account"],
    )
}

fn in_get_message() -> Value {
    object(
        merge(
            json!({ "account": account(), "id": s(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "id"],
    )
}

fn in_get_batch() -> Value {
    object(
        merge(
            json!({ "account": account(), "ids": ids(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "ids"],
    )
}

fn in_get_thread() -> Value {
    object(
        merge(
            json!({ "account": account(), "id": s(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "id"],
    )
}

fn in_attachment() -> Value {
    object(
        json!({ "account": account(), "message_id": s(), "attachment_id": s() }),
        &["account", "message_id", "attachment_id"],
    )
}

fn draft_props() -> Value {
    json!({
        "account": account(), "from": s(), "to": strings(), "cc": strings(), "bcc": strings(),
        "subject": s(), "text": s(), "html": s(),
        "attachments": { "type": "array", "items": { "type": "string" }, "description": "Absolute file paths." },
        "thread_id": s(),
    })
}

fn in_create_draft() -> Value {
    object(draft_props(), &["account", "to", "subject"])
}

fn in_update_draft() -> Value {
    object(
        merge(draft_props(), json!({ "draft_id": s() })),
        &["account", "draft_id", "to", "subject"],
    )
}

fn gate_props() -> Value {
    json!({ "confirm": { "type": "boolean" }, "client_request_id": s() })
}

fn in_send_draft() -> Value {
    object(
        merge(
            json!({ "account": account(), "draft_id": s() }),
            gate_props(),
        ),
        &["account", "draft_id"],
    )
}

fn in_reply() -> Value {
    object(
        merge(
            json!({ "account": account(), "message_id": s(), "reply_all": { "type": "boolean" }, "from": s(),
                    "cc": strings(), "bcc": strings(), "text": s(), "html": s(), "attachments": strings(), "draft_id": s() }),
            gate_props(),
        ),
        &["account", "message_id"],
    )
}

fn in_modify() -> Value {
    object(
        json!({ "account": account(), "ids": ids(), "add": strings(), "remove": strings() }),
        &["account", "ids"],
    )
}

fn in_mark() -> Value {
    object(
        json!({ "account": account(), "ids": ids(), "read": { "type": "boolean" } }),
        &["account", "ids", "read"],
    )
}

fn in_archive() -> Value {
    object(
        json!({ "account": account(), "ids": ids() }),
        &["account", "ids"],
    )
}

fn out(required: &[&str]) -> Value {
    json!({ "type": "object", "required": required })
}

fn out_read() -> Value {
    out(&["untrusted", "cacheHit"])
}

fn out_draft() -> Value {
    out(&["draftId", "preview"])
}

fn out_staged() -> Value {
    out(&["item", "preview", "draftId"])
}

fn out_modified() -> Value {
    out(&["modified"])
}

#[allow(clippy::too_many_arguments)]
const fn def(
    name: &'static str,
    title: &'static str,
    toolset: &'static str,
    description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
) -> ToolDef {
    ToolDef {
        name,
        title,
        toolset,
        description,
        input,
        output,
        read_only,
        destructive,
        idempotent,
        open_world,
    }
}

pub const TOOLS: &[ToolDef] = &[
    def(
        "gmail_search_messages",
        "Search Gmail",
        "gmail_read",
        "Search mail (Gmail query syntax). Returns ids, thread ids, From, To, Subject, Date and snippet per message. Page with next_page_token.",
        in_search,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_message",
        "Read a Gmail message",
        "gmail_read",
        "Read a message: headers, body as text (HTML converted when the text part is a stub; body: both gives both), attachments. Long bodies: truncated: true, page on with offset.",
        in_get_message,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_messages_batch",
        "Read several Gmail messages",
        "gmail_read",
        "Read up to 100 messages in one call (metadata by default). Each result succeeds or fails alone.",
        in_get_batch,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_thread",
        "Read a Gmail thread",
        "gmail_read",
        "Read a thread's messages in order, bodies as in gmail_get_message.",
        in_get_thread,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_attachment",
        "Save a Gmail attachment",
        "gmail_read",
        "Save an attachment under commsd's data directory; returns path, size and type.",
        in_attachment,
        out_read,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_create_draft",
        "Create a Gmail draft",
        "gmail_compose",
        "Create a Gmail draft; nothing is sent. from: the account's address or a verified send-as alias.",
        in_create_draft,
        out_draft,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_update_draft",
        "Update a Gmail draft",
        "gmail_compose",
        "Replace a draft's content. Nothing is sent.",
        in_update_draft,
        out_draft,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_send_draft",
        "Send a Gmail draft (gated)",
        "gmail_compose",
        "Send a draft via the outbox. Without confirm: returns the preview, sends nothing. confirm: true after checking it: the send policy decides (may wait for a human).",
        in_send_draft,
        out_staged,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_reply_in_thread",
        "Reply in a Gmail thread (gated)",
        "gmail_compose",
        "Reply in the message's thread (threading headers and Re: set for you), gated like gmail_send_draft.",
        in_reply,
        out_staged,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_modify_labels",
        "Change Gmail labels",
        "gmail_modify",
        "Add and remove label ids on messages.",
        in_modify,
        out_modified,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_mark_read_unread",
        "Mark Gmail messages read or unread",
        "gmail_modify",
        "Mark messages read (read: true) or unread (read: false).",
        in_mark,
        out_modified,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_archive",
        "Archive Gmail messages",
        "gmail_modify",
        "Archive messages (remove from the inbox).",
        in_archive,
        out_modified,
        false,
        false,
        true,
        true,
    ),
];
