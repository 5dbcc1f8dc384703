//! Fuzz tier of the configuration parser (README, Fuzzing): TOML-ish text
//! and arbitrary values at every known key never panic, and every refusal
//! names the offending key (or, for a syntax error, the line).

use proptest::prelude::*;

use super::*;
use crate::util::fuzz;

/// Every key of the file, as `section.key`.
const KEYS: &[&str] = &[
    "listen.dashboard",
    "listen.api",
    "listen.webhooks",
    "http.header_read_timeout",
    "http.max_connections",
    "outbox.pending_ttl",
    "outbox.hold_window",
    "outbox.concurrency_per_account",
    "outbox.attachment_dirs",
    "policy.default",
    "policy.rules",
    "policy.allowlist",
    "policy.caps",
    "sandbox.from",
    "api.requests_per_minute",
    "api.max_body_bytes",
    "mcp.toolsets",
    "google.endpoints",
    "gmail.body_limit_chars",
    "gmail.units_per_second",
    "gmail.max_attempts",
    "gmail.retry_base",
    "gmail.request_timeout",
    "gmail.search_ttl",
    "gmail.metadata_ttl",
    "gmail.body_ttl",
    "gmail.freshness_check",
    "chat.follow",
    "chat.poll_interval",
    "chat.space_write_limit",
    "chat.space_write_window",
    "chat.calls_per_second",
    "chat.max_attempts",
    "chat.retry_base",
    "chat.request_timeout",
    "chat.create_direct_messages",
    "vault.backend",
    "vault.file",
    "twilio.api_base",
    "twilio.public_url",
    "twilio.trusted_proxies",
    "twilio.poll_interval",
    "twilio.price_per_segment",
    "twilio.media_max_bytes",
    "twilio.request_timeout",
    "contacts.sync_interval",
    "contacts.page_size",
    "contacts.calls_per_second",
    "contacts.max_attempts",
    "contacts.retry_base",
    "contacts.request_timeout",
    "sms.quiet_hours",
    "sms.time_zone",
    "sms.replace_smart_quotes",
];

/// Strings that are nearly right for some key: durations, addresses,
/// URLs, paths, ranges, enum names, and odd text.
fn near_miss() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,20}(ms|s|m|h|d|w|y|)",
        "-?[0-9]{0,3}[a-z ]{0,4}",
        "(127\\.0\\.0\\.1|\\[::1\\]|0\\.0\\.0\\.0|localhost|::1):[0-9]{0,6}",
        "(https?|ftp)://[a-z.:0-9@\\[\\]]{0,20}(/[a-z?#=]{0,8})?",
        "/?[a-z./]{0,12}",
        "[0-9./:a-f]{0,20}",
        "(auto|keyring|file|approve|auto|deny|email|sms|chat|outbox|[a-z]{1,8})",
        "[0-9]{1,2}:[0-9]{1,2}-[0-9]{1,2}:[0-9]{1,2}",
        "[A-Za-z_/+]{0,20}",
        "[a-zA-Z ]{0,8}<[a-z@.]{0,12}>",
        any::<String>(),
    ]
}

fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        near_miss().prop_map(toml::Value::String),
        any::<i64>().prop_map(toml::Value::Integer),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(65536),
            Just(u32::MAX as i64 + 1)
        ]
        .prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    "(name|channel|account|recipients|decision|per_hour|per_day|email|sms|chat|auth|token|gmail)",
                    "[a-z_]{1,10}",
                ],
                inner,
                0..4,
            )
            .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A document that sets `key` (`section.key`) to `value`.
fn document(key: &str, value: toml::Value) -> String {
    let (section, name) = key.split_once('.').unwrap();
    let mut inner = toml::Table::new();
    inner.insert(name.to_owned(), value);
    let mut outer = toml::Table::new();
    outer.insert(section.to_owned(), toml::Value::Table(inner));
    toml::to_string(&outer).unwrap()
}

/// Whether an error message points at a key or a line.
fn names_a_key_or_line(message: &str) -> bool {
    message.contains("key `") || message.contains("line ")
}

/// Lines of TOML-ish text: section headers, known and unknown keys, and
/// broken syntax.
fn tomlish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        proptest::sample::select(KEYS).prop_map(|k| format!("[{}]", k.split('.').next().unwrap())),
        "\\[\\[?[a-z._]{0,12}\\]?\\]?",
        (proptest::sample::select(KEYS), "[ ]?=?[ ]?", "(\"[^\"\n]{0,12}\"?|[0-9.e+-]{1,8}|true|\\[[0-9, \"a-z]{0,10}\\]?|\\{[a-z =\",]{0,12}\\}?|'''?[a-z]{0,4})")
            .prop_map(|(k, eq, v)| format!("{} {eq} {v}", k.split('.').nth(1).unwrap())),
        "[a-z_.\"]{0,10} ?= ?[^\n]{0,12}",
        "#[^\n]{0,10}",
        any::<String>(),
    ];
    proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(fuzz::cases())]

    /// Arbitrary text: no panic, and a refusal points at a key or a line.
    #[test]
    fn fuzz_config_text_is_refused_with_a_key_or_line(text in tomlish()) {
        if let Err(message) = Config::parse(&text) {
            prop_assert!(names_a_key_or_line(&message), "{message}\n--- for ---\n{text}");
        }
    }

    /// Any value at a known key: a refusal names that key.
    #[test]
    fn fuzz_config_values_at_known_keys_name_the_key(
        key in proptest::sample::select(KEYS),
        value in toml_value(),
    ) {
        let text = document(key, value);
        if let Err(message) = Config::parse(&text) {
            prop_assert!(
                message.contains(&format!("key `{key}")),
                "{message}\n--- for ---\n{text}"
            );
        }
    }
}
