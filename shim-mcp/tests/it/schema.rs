//! A small JSON Schema checker for the subset the catalog uses (type,
//! properties, required, items, enum), so tests can check structuredContent
//! against outputSchema. The Python SDK client checks it independently.

use serde_json::Value;

/// Every violation of `schema` by `value`, as `path: problem`.
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "$", &mut out);
    out
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        _ => false,
    }
}

fn check(schema: &Value, v: &Value, path: &str, out: &mut Vec<String>) {
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => {
            out.push(format!("{path}: expected {t}, got {v}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| t.as_str().is_some_and(|t| type_ok(t, v))) => {
            out.push(format!("{path}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(v)
    {
        out.push(format!("{path}: {v} is not one of {options:?}"));
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), v.as_object()) {
        for req in schema["required"].as_array().into_iter().flatten() {
            let req = req.as_str().unwrap_or_default();
            if !obj.contains_key(req) {
                out.push(format!("{path}: missing required {req}"));
            }
        }
        for (k, sub) in props {
            if let Some(value) = obj.get(k) {
                check(sub, value, &format!("{path}.{k}"), out);
            }
        }
        if schema["additionalProperties"] == Value::Bool(false) {
            for k in obj.keys().filter(|k| !props.contains_key(*k)) {
                out.push(format!("{path}: unexpected property {k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(items, item, &format!("{path}[{i}]"), out);
        }
    }
}

#[test]
fn the_checker_finds_violations() {
    let schema = serde_json::json!({ "type": "object", "properties": {
        "a": { "type": "string" }, "b": { "type": "array", "items": { "type": "integer" } } },
        "required": ["a"], "additionalProperties": false });
    assert!(violations(&schema, &serde_json::json!({ "a": "x", "b": [1] })).is_empty());
    let v = violations(&schema, &serde_json::json!({ "b": ["x"], "c": 1 }));
    assert_eq!(v.len(), 3, "{v:?}");
}
