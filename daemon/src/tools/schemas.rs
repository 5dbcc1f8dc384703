//! The JSON Schemas of the tools (2020-12). Written by hand and kept short:
//! every byte is in each agent's context. Every field is explicit and
//! described where its name does not say enough.

use serde_json::{Value, json};

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn account() -> Value {
    string("Account id to send from (see commsd://accounts); the default account when absent.")
}

fn priority() -> Value {
    json!({ "type": "string", "enum": ["high", "normal", "low"], "default": "normal" })
}

fn client_request_id() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 200,
            "description": "Your id for this request: repeating it returns the first item instead of a duplicate." })
}

pub fn no_arguments() -> Value {
    json!({ "type": "object", "properties": {}, "additionalProperties": false })
}

/// One address or a list: `"a@x.org"` or `["a@x.org", "b@x.org"]`.
fn addresses(description: &str) -> Value {
    json!({ "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
            "description": description })
}

pub fn email_stage() -> Value {
    json!({
        "type": "object",
        "properties": {
            "accountId": account(),
            "to": addresses("Recipient(s), e.g. \"Jane Roe <jane@example.org>\"."),
            "cc": addresses("Copy recipients."),
            "bcc": addresses("Hidden recipients."),
            "subject": { "type": "string", "maxLength": 998 },
            "bodyText": string("Plain-text body; derived from bodyHtml when absent."),
            "bodyHtml": string("HTML body (optional)."),
            "attachments": { "type": "array", "items": { "type": "string" },
                             "description": "Absolute paths of files on the commsd machine, copied when staged." },
            "priority": priority(),
            "clientRequestId": client_request_id(),
        },
        "required": ["to", "subject"],
        "additionalProperties": false,
    })
}

pub fn sms_send() -> Value {
    json!({
        "type": "object",
        "properties": {
            "accountId": account(),
            "to": string("E.164 number, e.g. +14155550100."),
            "body": { "type": "string", "minLength": 1, "maxLength": 1600 },
            "priority": priority(),
            "clientRequestId": client_request_id(),
        },
        "required": ["to", "body"],
        "additionalProperties": false,
    })
}

pub fn chat_send_message() -> Value {
    json!({
        "type": "object",
        "properties": {
            "accountId": account(),
            "space": string("spaces/<id>, e.g. spaces/AAAA1234."),
            "text": { "type": "string", "minLength": 1, "maxLength": 4096 },
            "thread": string("spaces/<id>/threads/<id> of the same space, to reply in a thread."),
            "priority": priority(),
            "clientRequestId": client_request_id(),
        },
        "required": ["space", "text"],
        "additionalProperties": false,
    })
}

pub fn outbox_list() -> Value {
    json!({
        "type": "object",
        "properties": {
            "state": { "type": "array", "items": { "type": "string", "enum": [
                "draft", "pending_approval", "approved", "sending", "sent",
                "rejected", "expired", "failed", "cancelled", "unknown"] },
                "description": "Only these states; all when absent." },
            "channel": { "type": "string", "enum": ["email", "sms", "chat"] },
            "accountId": { "type": "string" },
            "mine": { "type": "boolean", "description": "Only items you staged." },
            "limit": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 },
            "cursor": string("nextCursor of the previous page."),
        },
        "additionalProperties": false,
    })
}

pub fn item_id() -> Value {
    json!({
        "type": "object",
        "properties": { "itemId": string("Item id, ob_ and 10 characters.") },
        "required": ["itemId"],
        "additionalProperties": false,
    })
}

/// A string or null, spelled with `anyOf` single-type branches: clients that
/// map tool schemas onto a one-`type` dialect (Gemini's function
/// declarations) reject or drop a `type` array.
fn nullable_string() -> Value {
    json!({ "anyOf": [{ "type": "string" }, { "type": "null" }] })
}

/// An item in brief (list results and stage results).
fn brief() -> Value {
    let s = json!({ "type": "string" });
    json!({
        "type": "object",
        "properties": {
            "id": s, "state": s, "channel": s, "accountId": s,
            "recipients": { "type": "array", "items": s },
            "summary": s, "priority": s, "requester": s,
            "decision": { "type": "string", "description": "approve (a human decides), confirm or auto." },
            "rule": s, "createdAt": s, "expiresAt": nullable_string(),
        },
        "required": ["id", "state", "channel", "accountId", "recipients", "summary", "decision"],
    })
}

pub fn staged() -> Value {
    json!({
        "type": "object",
        "properties": {
            "item": brief(),
            "existing": { "type": "boolean", "description": "True when clientRequestId matched an earlier item." },
            "preview": string("What will be sent, rendered as text."),
            "reviewUrl": string("Where a human reviews it (dashboard)."),
            "next": string("What happens next, and what you may do."),
        },
        "required": ["item", "existing", "preview", "reviewUrl", "next"],
    })
}

pub fn item_page() -> Value {
    json!({
        "type": "object",
        "properties": {
            "items": { "type": "array", "items": brief() },
            "nextCursor": nullable_string(),
        },
        "required": ["items", "nextCursor"],
    })
}

/// A full item: the view every frontend shows (HTTP API, dashboard, CLI --json).
pub fn item_result() -> Value {
    let s = json!({ "type": "string" });
    let o = json!({ "type": "object" });
    let maybe_o = json!({ "anyOf": [{ "type": "object" }, { "type": "null" }] });
    json!({
        "type": "object",
        "properties": {
            "item": {
                "type": "object",
                "properties": {
                    "id": s, "channel": s, "accountId": s, "state": s, "priority": s,
                    "requester": s, "recipients": { "type": "array", "items": s },
                    "summary": s, "content": o, "contentHash": s, "policy": o,
                    "approval": maybe_o, "rejection": maybe_o, "delivery": maybe_o,
                    "createdAt": s, "updatedAt": s, "error": nullable_string(),
                },
                "required": ["id", "channel", "accountId", "state", "requester", "content", "policy"],
            },
        },
        "required": ["item"],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::outbox::request::{ChatStage, EmailStage, SmsStage};

    fn names(schema: &Value) -> BTreeSet<String> {
        schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    }

    fn type_names<T: utoipa::PartialSchema>() -> BTreeSet<String> {
        names(&serde_json::to_value(T::schema()).unwrap())
    }

    /// The stage tools take the same fields as the REST bodies, because both
    /// deserialise into the same types; the hand-written tool schemas must
    /// say so (email's `body`, a REST alias of `bodyText`, stays out of the
    /// tool's schema to keep the listing lean).
    #[test]
    fn stage_tool_schemas_match_the_request_types() {
        let mut email = type_names::<EmailStage>();
        email.remove("body");
        assert_eq!(names(&email_stage()), email);
        assert_eq!(names(&sms_send()), type_names::<SmsStage>());
        assert_eq!(names(&chat_send_message()), type_names::<ChatStage>());
    }
}
