//! Small builders for the hand-written JSON Schemas of the tools that live
//! beside the outbox's (Gmail, IMAP mail, accounts): every byte of a schema
//! is in each agent's context, so they are compact, and spelled so that
//! clients mapping them onto a one-`type` dialect (Gemini's function
//! declarations) keep them: alternatives with `anyOf`, never a `type` array.

use serde_json::{Value, json};

pub fn s() -> Value {
    json!({ "type": "string" })
}

pub fn strings() -> Value {
    json!({ "type": "array", "items": s() })
}

/// One address or a list (`crate::de::one_or_many`).
pub fn addresses() -> Value {
    json!({ "anyOf": [s(), strings()] })
}

/// `schema` or null (an `Option` the result spells as null).
pub fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// `a`'s properties with `b`'s added.
pub fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// An input: these properties and no others.
pub fn object(props: Value, required: &[&str]) -> Value {
    let mut o = json!({ "type": "object", "properties": props, "additionalProperties": false });
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

/// An output: these properties (more may come), the required ones always there.
pub fn out(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required })
}

pub use crate::util::camel_keys;

/// Renames key `from` of an object to `to`, when present.
pub fn rename(v: &mut Value, from: &str, to: &str) {
    if let Some(map) = v.as_object_mut()
        && let Some(x) = map.remove(from)
    {
        map.insert(to.to_owned(), x);
    }
}
