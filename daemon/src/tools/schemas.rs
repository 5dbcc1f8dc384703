//! The JSON Schemas of the tools (2020-12). Written by hand and kept short:
//! every byte is in each agent's context. Every field is explicit and
//! described where its name does not say enough.

use serde_json::{Value, json};

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn s() -> Value {
    json!({ "type": "string" })
}

fn account() -> Value {
    string("Account to send from; the default when absent.")
}

fn priority() -> Value {
    json!({ "enum": ["high", "normal", "low"] })
}

fn client_request_id() -> Value {
    string("Repeating it returns the first item, not a duplicate.")
}

pub fn no_arguments() -> Value {
    json!({ "type": "object", "properties": {}, "additionalProperties": false })
}

/// One address or a list: `"a@x.org"` or `["a@x.org", "b@x.org"]`.
fn addresses() -> Value {
    json!({ "anyOf": [s(), { "type": "array", "items": s() }] })
}

/// The fields every stage tool takes beside its content.
fn stage(mut props: Value, required: &[&str]) -> Value {
    props["accountId"] = account();
    props["priority"] = priority();
    props["clientRequestId"] = client_request_id();
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

pub fn email_stage() -> Value {
    stage(
        json!({
            "to": addresses(), "cc": addresses(), "bcc": addresses(), "subject": s(),
            "bodyText": string("Derived from bodyHtml when absent."), "bodyHtml": s(),
            "attachments": { "type": "array", "items": s(),
                             "description": "Absolute paths on the commsd machine." },
        }),
        &["to", "subject"],
    )
}

pub fn sms_send() -> Value {
    stage(
        json!({ "to": string("E.164, e.g. +14155550100."), "body": s() }),
        &["to", "body"],
    )
}

pub fn chat_send_message() -> Value {
    stage(
        json!({ "space": string("spaces/<id>, or users/<email> for the direct message with that person"), "text": s(),
                "thread": string("spaces/<id>/threads/<id>, to reply in a thread."),
                "split": { "type": "boolean", "description": "Longer than 4,096 characters: post it as numbered parts (1/3) ... in one thread (at most 10) instead of refusing it." } }),
        &["space", "text"],
    )
}

pub fn outbox_list() -> Value {
    json!({
        "type": "object",
        "properties": {
            "state": { "type": "array", "items": { "enum": [
                "draft", "pending_approval", "approved", "sending", "sent",
                "rejected", "expired", "failed", "cancelled", "unknown"] } },
            "channel": { "enum": ["email", "sms", "chat"] },
            "accountId": s(),
            "mine": { "type": "boolean", "description": "Only items you staged." },
            "limit": { "type": "integer", "minimum": 1, "maximum": 500 },
            "cursor": s(),
        },
        "additionalProperties": false,
    })
}

pub fn item_id() -> Value {
    json!({
        "type": "object",
        "properties": { "itemId": s() },
        "required": ["itemId"],
        "additionalProperties": false,
    })
}

/// A string or null, spelled with `anyOf` single-type branches: clients that
/// map tool schemas onto a one-`type` dialect (Gemini's function
/// declarations) reject or drop a `type` array.
fn nullable_string() -> Value {
    json!({ "anyOf": [s(), { "type": "null" }] })
}

/// An output object: the required keys and their types (more keys come;
/// the agent reads them from the result).
fn out(props: Value) -> Value {
    let required: Vec<String> = props
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({ "type": "object", "properties": props, "required": required })
}

/// An item in brief (list results and stage results).
fn brief() -> Value {
    out(
        json!({ "id": s(), "state": s(), "channel": s(), "summary": s(),
                "decision": s() }),
    )
}

pub fn staged() -> Value {
    out(json!({
        "item": brief(), "existing": { "type": "boolean" }, "preview": s(), "reviewUrl": s(),
        "next": string("What happens next: read it."),
    }))
}

pub fn item_page() -> Value {
    out(json!({ "items": { "type": "array", "items": brief() }, "nextCursor": nullable_string() }))
}

/// A full item: the view every frontend shows (HTTP API, dashboard, CLI --json).
pub fn item_result() -> Value {
    let o = json!({ "type": "object" });
    out(json!({
        "item": out(json!({ "id": s(), "state": s(), "channel": s(), "content": o, "policy": o })),
    }))
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
