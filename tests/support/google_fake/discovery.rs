//! A Google discovery document, indexed for checking requests: each
//! method's HTTP method and path template (`{name}` is one path segment,
//! `{+name}` may span several, as RFC 6570 reserved expansion), path and
//! query parameters with their types, enums and repetition, request and
//! response bodies against the document's schemas, and the OAuth scopes
//! of which a token needs one. Nothing here is specific to one API.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

/// One piece of a path template.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    /// `{name}` (no `/` in the value) or `{+name}` (any characters).
    Param {
        name: String,
        reserved: bool,
    },
}

pub struct MethodDef {
    /// e.g. `gmail.users.messages.get`.
    pub id: String,
    pub http: String,
    template: Vec<Piece>,
    params: Map<String, Value>,
    pub request: Option<String>,
    pub response: Option<String>,
    /// OAuth scopes of which a token needs one (the document's `scopes`).
    pub scopes: Vec<String>,
}

/// The discovery document, indexed.
pub struct Contract {
    /// The API's name (`gmail`), as violations name it.
    pub name: String,
    /// The batch endpoint's paths: the document's `batchPath` and the
    /// API-specific `batch/<name>/<version>` Google also serves.
    batch_paths: Vec<String>,
    methods: Vec<MethodDef>,
    global: Map<String, Value>,
    schemas: Map<String, Value>,
}

fn parse_template(path: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Literal(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .expect("} in template");
        let inner = &rest[open + 1..close];
        let (reserved, name) = match inner.strip_prefix('+') {
            Some(n) => (true, n),
            None => (false, inner),
        };
        out.push(Piece::Param {
            name: name.to_owned(),
            reserved,
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest.to_owned()));
    }
    out
}

/// Matches `path` against `pieces`, collecting parameters (backtracking
/// over where each parameter ends; every value is at least one character).
fn match_template(pieces: &[Piece], path: &str, params: &mut HashMap<String, String>) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return path.is_empty();
    };
    match first {
        Piece::Literal(l) => path
            .strip_prefix(l.as_str())
            .is_some_and(|p| match_template(rest, p, params)),
        Piece::Param { name, reserved } => {
            let limit = if *reserved {
                path.len()
            } else {
                path.find('/').unwrap_or(path.len())
            };
            for end in (1..=limit).rev() {
                if !path.is_char_boundary(end) {
                    continue;
                }
                if match_template(rest, &path[end..], params) {
                    params.insert(name.clone(), percent_decode(&path[..end]));
                    return true;
                }
            }
            false
        }
    }
}

impl Contract {
    /// Indexes the discovery document `text`.
    pub fn parse(text: &str) -> Contract {
        let doc: Value = serde_json::from_str(text).expect("the discovery document parses");
        let mut methods = Vec::new();
        fn walk(r: &Value, out: &mut Vec<MethodDef>) {
            if let Some(ms) = r.get("methods").and_then(Value::as_object) {
                for m in ms.values() {
                    let path = m["path"].as_str().unwrap_or_default();
                    out.push(MethodDef {
                        id: m["id"].as_str().unwrap_or_default().to_owned(),
                        http: m["httpMethod"].as_str().unwrap_or_default().to_owned(),
                        template: parse_template(path),
                        params: m
                            .get("parameters")
                            .and_then(Value::as_object)
                            .cloned()
                            .unwrap_or_default(),
                        request: m["request"]["$ref"].as_str().map(str::to_owned),
                        response: m["response"]["$ref"].as_str().map(str::to_owned),
                        scopes: m["scopes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_owned))
                            .collect(),
                    });
                }
            }
            if let Some(rs) = r.get("resources").and_then(Value::as_object) {
                for r in rs.values() {
                    walk(r, out);
                }
            }
        }
        walk(&doc, &mut methods);
        // Literal paths before templated ones, as Google routes them.
        methods.sort_by_key(|m| {
            m.template
                .iter()
                .filter(|p| matches!(p, Piece::Param { .. }))
                .count()
        });
        Contract {
            name: doc["name"].as_str().unwrap_or("google").to_owned(),
            batch_paths: vec![
                doc["batchPath"].as_str().unwrap_or("batch").to_owned(),
                format!(
                    "batch/{}/{}",
                    doc["name"].as_str().unwrap_or_default(),
                    doc["version"].as_str().unwrap_or_default()
                ),
            ],
            methods,
            global: doc["parameters"].as_object().cloned().unwrap_or_default(),
            schemas: doc["schemas"].as_object().cloned().unwrap_or_default(),
        }
    }

    /// Whether `path` (after the API's mount) is a batch endpoint.
    pub fn is_batch(&self, path: &str) -> bool {
        self.batch_paths.iter().any(|b| b == path)
    }

    /// The method for `http` `path` (no leading slash) and its path parameters.
    pub fn find(&self, http: &str, path: &str) -> Option<(&MethodDef, HashMap<String, String>)> {
        self.methods
            .iter()
            .filter(|m| m.http == http)
            .find_map(|m| {
                let mut params = HashMap::new();
                let matched = match_template(&m.template, path, &mut params)
                    && params.iter().all(|(k, v)| {
                        m.params[k]["pattern"]
                            .as_str()
                            .is_none_or(|p| pattern_matches(p, v))
                    });
                matched.then_some((m, params))
            })
    }

    pub fn check_query(&self, m: &MethodDef, query: &[(String, String)], v: &mut Vec<String>) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, val) in query {
            let def = m.params.get(k).or_else(|| self.global.get(k));
            let Some(def) = def else {
                v.push(format!("{}: unknown query parameter {k:?}", m.id));
                continue;
            };
            if def["location"] == "path" {
                v.push(format!("{}: path parameter {k:?} given in the query", m.id));
            }
            if def["deprecated"] == true {
                v.push(format!("{}: query parameter {k:?} is deprecated", m.id));
            }
            *seen.entry(k.as_str()).or_default() += 1;
            if seen[k.as_str()] > 1 && def["repeated"] != true {
                v.push(format!("{}: query parameter {k:?} is not repeated", m.id));
            }
            check_scalar(&format!("{}: query {k}", m.id), def, val, v);
        }
        for (k, def) in &m.params {
            if def["location"] == "query"
                && def["required"] == true
                && !seen.contains_key(k.as_str())
            {
                v.push(format!("{}: required query parameter {k:?} missing", m.id));
            }
        }
    }

    /// Checks `value` against `schema` (a `$ref` or an inline schema).
    pub fn check_value(&self, at: &str, schema: &Value, value: &Value, v: &mut Vec<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match self.schemas.get(r) {
                Some(s) => self.check_value(at, s, value, v),
                None => v.push(format!("{at}: unknown schema {r}")),
            }
            return;
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => {
                let Some(obj) = value.as_object() else {
                    v.push(format!("{at}: expected an object, got {value}"));
                    return;
                };
                let props = schema.get("properties").and_then(Value::as_object);
                for (k, val) in obj {
                    match (
                        props.and_then(|p| p.get(k)),
                        schema.get("additionalProperties"),
                    ) {
                        (Some(s), _) => self.check_value(&format!("{at}.{k}"), s, val, v),
                        (None, Some(s)) => self.check_value(&format!("{at}.{k}"), s, val, v),
                        (None, None) => v.push(format!("{at}: unknown key {k:?}")),
                    }
                }
            }
            Some("array") => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(&format!("{at}[{i}]"), &schema["items"], item, v);
                    }
                }
                None => v.push(format!("{at}: expected an array, got {value}")),
            },
            Some("string") => match value.as_str() {
                Some(s) => check_scalar(at, schema, s, v),
                None => v.push(format!("{at}: expected a string, got {value}")),
            },
            Some("integer") => {
                if !(value.is_i64() || value.is_u64()) {
                    v.push(format!("{at}: expected an integer, got {value}"));
                }
            }
            Some("number") => {
                if !value.is_number() {
                    v.push(format!("{at}: expected a number, got {value}"));
                }
            }
            Some("boolean") => {
                if !value.is_boolean() {
                    v.push(format!("{at}: expected a boolean, got {value}"));
                }
            }
            _ => {}
        }
    }

    /// A reference to the document's schema `name`.
    pub fn schema(&self, name: &str) -> Value {
        json!({ "$ref": name })
    }
}

/// A path parameter against its `pattern` as Google's documents write
/// them (`^spaces/[^/]+/messages/[^/]+$`: literals and `[^/]+`), which is
/// how Google tells `v1/{+name}` of one resource from another's. Patterns
/// with other regex syntax are not checked.
fn pattern_matches(pattern: &str, value: &str) -> bool {
    let Some(body) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        return true;
    };
    let parts: Vec<&str> = body.split("[^/]+").collect();
    if parts
        .iter()
        .any(|p| p.contains(['[', '(', '*', '+', '?', '\\', '|']))
    {
        return true;
    }
    fn go(parts: &[&str], value: &str) -> bool {
        let Some((first, rest)) = parts.split_first() else {
            return value.is_empty();
        };
        let Some(after) = value.strip_prefix(first) else {
            return false;
        };
        if rest.is_empty() {
            return after.is_empty();
        }
        // One `[^/]+`: at least one character up to a `/`.
        let limit = after.find('/').unwrap_or(after.len());
        (1..=limit).rev().any(|end| go(rest, &after[end..]))
    }
    go(&parts, value)
}

/// A string value (query parameter or JSON string) against its type, format and enum.
fn check_scalar(at: &str, def: &Value, val: &str, v: &mut Vec<String>) {
    match def["type"].as_str() {
        Some("integer") => {
            if val.parse::<i64>().is_err() {
                v.push(format!("{at}: expected an integer, got {val:?}"));
            }
        }
        Some("boolean") => {
            if val != "true" && val != "false" {
                v.push(format!("{at}: expected true or false, got {val:?}"));
            }
        }
        _ => {}
    }
    match def["format"].as_str() {
        Some("int64") | Some("uint64") | Some("int32") | Some("uint32") => {
            if val.parse::<i128>().is_err() {
                v.push(format!(
                    "{at}: expected a decimal integer string, got {val:?}"
                ));
            }
        }
        Some("byte") => {
            if decode_b64(val).is_none() {
                v.push(format!("{at}: expected base64 (format byte)"));
            }
        }
        _ => {}
    }
    if let Some(values) = def["enum"].as_array()
        && !values.iter().any(|e| e == val)
    {
        v.push(format!(
            "{at}: {val:?} is not one of {}",
            Value::Array(values.clone())
        ));
    }
}

pub fn decode_b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE
        .decode(s)
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(n) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(n);
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}
