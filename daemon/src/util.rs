//! Small helpers that core modules and adapters share, so that neither
//! reaches into the other for them.

#[cfg(test)]
pub mod fuzz;
pub mod html;

/// Compares without an early exit, so timing reveals nothing about where two
/// secrets (or their hashes) differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Plain text made safe to place in HTML text or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `snake_case` → `camelCase`; other names are left as they are.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for (i, c) in name.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value with every object key in camelCase; values are kept. The
/// contract spells field names so on every wire (error details, settings).
pub fn camel_keys(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (camel(k), camel_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(camel_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("retry_after_ms"), "retryAfterMs");
        assert_eq!(camel("_private"), "_private");
        assert_eq!(camel("alreadyCamel"), "alreadyCamel");
        assert_eq!(
            camel_keys(&serde_json::json!({ "smtp_host": "h", "a": [{ "b_c": "d_e" }] })),
            serde_json::json!({ "smtpHost": "h", "a": [{ "bC": "d_e" }] })
        );
    }

    #[test]
    fn equal_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">&</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"
        );
    }
}
