//! Fuzz tier of the HTTP API (README, Fuzzing): arbitrary JSON bodies on
//! every POST, PUT and PATCH route of the OpenAPI document, and arbitrary
//! query strings and path segments on every GET route, sent to one real
//! daemon per property. None may answer 5xx or drop the connection, and the
//! daemon logs no panic.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG};

/// Cases per property in the normal test tier: one request each, so that a
/// property stays well under 20 s in a debug build.
const DEFAULT_CASES: u32 = 300;

/// `COMMSD_FUZZ_CASES` overrides the count, as for the unit-level properties.
fn config() -> Config {
    let cases = std::env::var("COMMSD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// GET routes that stream (and so never end): not fuzzed here.
const STREAMING: &[&str] = &["/api/v1/events"];

struct Target {
    env: Env,
    _daemon: Daemon,
    url: String,
    key: String,
    http: Client,
    /// (method, path template) of every documented operation.
    routes: Vec<(String, String)>,
    /// Every property name of the document's schemas, and the query
    /// parameter names: the keys of the generated objects.
    names: Vec<String>,
}

impl Target {
    fn start() -> Target {
        let env = Env::new();
        std::fs::write(
            &env.config,
            format!("{PORT_ZERO_CONFIG}[api]\nrequests_per_minute = 100000000\n"),
        )
        .unwrap();
        // An unlocked vault: a locked one answers 503 vault_unavailable by
        // design, which would hide what lies behind it.
        let mut cmd = env.commsd();
        cmd.env("COMMSD_VAULT_PASSPHRASE", "fuzz tier passphrase");
        let daemon = env.spawn_logged(cmd, "warn");
        let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
        let run = env.commsctl(&[
            "keys",
            "create",
            "fuzz",
            "--grants",
            "read,draft,stage,send,admin",
            "--json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let created: Value = serde_json::from_str(&run.stdout).unwrap();
        let key = created["token"].as_str().unwrap().to_owned();
        let http = Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let doc: Value = http
            .get(format!("{url}/api/v1/openapi.json"))
            .bearer_auth(&key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let mut routes = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                routes.push((method.clone(), path.clone()));
            }
        }
        let mut names = Vec::new();
        collect_names(&doc, &mut names);
        names.sort();
        names.dedup();
        Target {
            env,
            _daemon: daemon,
            url,
            key,
            http,
            routes,
            names,
        }
    }

    fn routes(&self, methods: &[&str]) -> Vec<(String, String)> {
        self.routes
            .iter()
            .filter(|(m, p)| methods.contains(&m.as_str()) && !STREAMING.contains(&p.as_str()))
            .cloned()
            .collect()
    }

    /// Sends one request; a dropped connection or a 5xx fails the case.
    fn check(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<(), TestCaseError> {
        let url = format!("{}{path}", self.url);
        let request = match method {
            "get" => self.http.get(&url),
            "put" => self.http.put(&url),
            "patch" => self.http.patch(&url),
            "delete" => self.http.delete(&url),
            _ => self.http.post(&url),
        };
        let request = match body {
            Some(bytes) => request
                .header("content-type", "application/json")
                .body(bytes),
            None => request,
        };
        let response = request
            .bearer_auth(&self.key)
            .send()
            .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        prop_assert!(
            !status.is_server_error(),
            "{method} {path} answered {status}: {text}"
        );
        Ok(())
    }

    /// No panic in the daemon's log, and it still answers.
    fn assert_healthy(&self) {
        let log = std::fs::read_to_string(self.env.log_path()).unwrap_or_default();
        assert!(!log.contains("panicked"), "the daemon panicked:\n{log}");
        let status = self
            .http
            .get(format!("{}/api/v1/status", self.url))
            .bearer_auth(&self.key)
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
}

/// Every `properties` key and every parameter name in the document.
fn collect_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                out.extend(props.keys().cloned());
            }
            if let (Some(Value::String(name)), Some(Value::String(_))) =
                (map.get("name"), map.get("in"))
            {
                out.push(name.clone());
            }
            map.values().for_each(|v| collect_names(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_names(v, out)),
        _ => {}
    }
}

/// Strings that matter to the API: ids, addresses, numbers, dates, paths,
/// and anything at all.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _.:@/+<>\"\\\\%&?#=-]{0,20}",
        1 => "(ob_[0-9a-z]{0,12}|sandbox|nobody@example.org|\\+1415555[0-9]{4}|spaces/[A-Za-z]{1,8}|/tmp/[a-z]{0,8}|2026-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z)",
        1 => "(read|draft|stage|send|admin|email|sms|chat|approve|auto|deny|pending|sent|[a-z]{1,8})",
        1 => any::<String>(),
        1 => "[a-z ]{3000,5000}",
    ]
}

fn json(names: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![Just(0i64), Just(-1), Just(1), Just(i64::from(u32::MAX) + 1)]
            .prop_map(Value::from),
        odd_string().prop_map(Value::String),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(names),
        1 => odd_string(),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A path with its `{parameters}` replaced by real-looking ids or odd
/// segments (percent-encoded).
fn fill(template: &str, segments: &[String]) -> String {
    let mut out = String::new();
    let mut i = 0;
    for part in template.split('/') {
        if part.starts_with('{') {
            let segment = segments.get(i).map_or("x", String::as_str);
            i += 1;
            out.push_str(
                &url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>(),
            );
        } else {
            out.push_str(part);
        }
        out.push('/');
    }
    out.pop();
    out
}

fn segments() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![
            3 => "(sandbox|ob_0000000000|m123|t123|r123|att0|no-such-flow|nobody@example.org|\\+14155550100)",
            1 => odd_string(),
        ],
        4,
    )
}

#[test]
fn fuzz_api_json_bodies_never_answer_5xx() {
    let t = Target::start();
    let routes = t.routes(&["post", "put", "patch"]);
    assert!(routes.len() >= 15, "{routes:?}");
    let body = prop_oneof![
        8 => json(t.names.clone()).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => any::<Vec<u8>>(),
        1 => "[\\[\\]{}\",:0-9a-z.eE+-]{0,30}".prop_map(String::into_bytes),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(
        &(proptest::sample::select(routes), segments(), body),
        |((method, template), segments, body)| {
            t.check(&method, &fill(&template, &segments), Some(body))
        },
    );
    t.assert_healthy();
    result.unwrap();
}

#[test]
fn fuzz_api_query_strings_never_answer_5xx() {
    let t = Target::start();
    let routes = t.routes(&["get"]);
    assert!(routes.len() >= 15, "{routes:?}");
    let pair = (
        prop_oneof![proptest::sample::select(t.names.clone()), odd_string()],
        odd_string(),
    );
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(
        &(
            proptest::sample::select(routes),
            segments(),
            proptest::collection::vec(pair, 0..5),
        ),
        |((method, template), segments, query)| {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish();
            t.check(
                &method,
                &format!("{}?{query}", fill(&template, &segments)),
                None,
            )
        },
    );
    t.assert_healthy();
    result.unwrap();
}
