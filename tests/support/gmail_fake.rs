//! A Gmail API fake for tests and benches: an axum server on 127.0.0.1:0
//! that checks EVERY request against Google's discovery document
//! (`daemon/tests/fixtures/google/gmail.v1.json`: HTTP method and path
//! template, path and query parameters with their types, enums and
//! repetition, the request body against its schema) and records each
//! mismatch as a violation (answered 400). Tests end with
//! [`GmailFake::assert_no_violations`]. Responses are checked against the
//! document's response schemas too, so the fake cannot drift from Google's
//! shapes either.
//!
//! Semantics: the parts of Gmail commsd uses (profile, messages, threads,
//! drafts, labels, history, send-as, the batch endpoint), one mailbox per
//! access token, Google's per-method quota costs, and injected faults.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::collapsible_match
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde_json::{Map, Value, json};

const DISCOVERY: &str = include_str!("../../daemon/tests/fixtures/google/gmail.v1.json");

/// Google's published per-method quota units (developers.google.com/gmail/api/reference/quota).
pub fn quota_cost(method_id: &str) -> u64 {
    match method_id.trim_start_matches("gmail.users.") {
        "getProfile" => 1,
        "drafts.create" | "drafts.delete" => 10,
        "drafts.get" | "drafts.list" => 5,
        "drafts.send" => 100,
        "drafts.update" => 15,
        "history.list" => 2,
        "labels.list" | "labels.get" => 1,
        "labels.create" | "labels.delete" | "labels.update" | "labels.patch" => 5,
        "messages.attachments.get" => 5,
        "messages.batchDelete" | "messages.batchModify" => 50,
        "messages.delete" => 10,
        "messages.get" | "messages.list" | "messages.modify" => 5,
        "messages.trash" | "messages.untrash" => 5,
        "messages.import" | "messages.insert" => 25,
        "messages.send" => 100,
        "threads.get" | "threads.list" | "threads.modify" | "threads.delete" => 10,
        "threads.trash" | "threads.untrash" => 10,
        "settings.sendAs.list" | "settings.sendAs.get" => 1,
        _ => 1,
    }
}

// ------------------------------------------------------------------ contract

struct MethodDef {
    id: String,
    http: String,
    /// Path segments of the template; `{name}` segments are parameters.
    segments: Vec<String>,
    params: Map<String, Value>,
    request: Option<String>,
    response: Option<String>,
    /// OAuth scopes of which a token needs one (the document's `scopes`).
    scopes: Vec<String>,
}

/// The discovery document, indexed for request matching.
pub struct Contract {
    methods: Vec<MethodDef>,
    global: Map<String, Value>,
    schemas: Map<String, Value>,
}

impl Contract {
    pub fn load() -> Contract {
        let doc: Value = serde_json::from_str(DISCOVERY).expect("gmail.v1.json parses");
        let mut methods = Vec::new();
        fn walk(r: &Value, out: &mut Vec<MethodDef>) {
            if let Some(ms) = r.get("methods").and_then(Value::as_object) {
                for m in ms.values() {
                    let path = m["path"].as_str().unwrap_or_default();
                    out.push(MethodDef {
                        id: m["id"].as_str().unwrap_or_default().to_owned(),
                        http: m["httpMethod"].as_str().unwrap_or_default().to_owned(),
                        segments: path.split('/').map(str::to_owned).collect(),
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
        Contract {
            methods,
            global: doc["parameters"].as_object().cloned().unwrap_or_default(),
            schemas: doc["schemas"].as_object().cloned().unwrap_or_default(),
        }
    }

    /// The method for `http` `path` (no leading slash) and its path parameters.
    fn find(&self, http: &str, path: &str) -> Option<(&MethodDef, HashMap<String, String>)> {
        let segs: Vec<&str> = path.split('/').collect();
        for m in &self.methods {
            if m.http != http || m.segments.len() != segs.len() {
                continue;
            }
            let mut params = HashMap::new();
            let ok = m.segments.iter().zip(&segs).all(|(t, s)| {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if s.is_empty() {
                        return false;
                    }
                    params.insert(name.to_owned(), percent_decode(s));
                    true
                } else {
                    t == s
                }
            });
            if ok {
                return Some((m, params));
            }
        }
        None
    }

    fn check_query(&self, m: &MethodDef, query: &[(String, String)], v: &mut Vec<String>) {
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

    /// Checks `value` against schema `name` (or an inline schema).
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

    fn schema(&self, name: &str) -> Value {
        json!({ "$ref": name })
    }
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

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE
        .decode(s)
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

fn percent_decode(s: &str) -> String {
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

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

// ------------------------------------------------------------------ state

#[derive(Clone)]
struct Msg {
    id: String,
    thread_id: String,
    labels: Vec<String>,
    raw: Vec<u8>,
    internal_date: i64,
    history_id: u64,
}

#[derive(Clone)]
struct HistoryRecord {
    id: u64,
    kind: &'static str,
    message: (String, String),
    labels: Vec<String>,
}

struct Mailbox {
    email: String,
    messages: BTreeMap<String, Msg>,
    /// draft id -> message id
    drafts: BTreeMap<String, String>,
    user_labels: Vec<(String, String)>,
    history_id: u64,
    history: Vec<HistoryRecord>,
    send_as: Vec<Value>,
    next: u64,
    clock: i64,
}

impl Mailbox {
    fn new(email: &str) -> Mailbox {
        Mailbox {
            email: email.to_owned(),
            messages: BTreeMap::new(),
            drafts: BTreeMap::new(),
            user_labels: Vec::new(),
            history_id: 1000,
            history: Vec::new(),
            send_as: vec![json!({
                "sendAsEmail": email,
                "displayName": "",
                "isPrimary": true,
                "isDefault": true,
                "treatAsAlias": false,
                "verificationStatus": "accepted",
            })],
            next: 1,
            clock: 1_700_000_000_000,
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:012x}", 0x18c0_0000_0000u64 + self.next)
    }

    fn bump(&mut self, kind: &'static str, msg: &Msg, labels: Vec<String>) -> u64 {
        self.history_id += 1;
        let id = self.history_id;
        self.history.push(HistoryRecord {
            id,
            kind,
            message: (msg.id.clone(), msg.thread_id.clone()),
            labels,
        });
        id
    }

    /// Stores a message; threads by `thread_id` when given, else by
    /// In-Reply-To/References against stored Message-IDs, else a new thread.
    fn insert(&mut self, raw: Vec<u8>, labels: Vec<String>, thread_id: Option<String>) -> Msg {
        let id = self.new_id("m");
        let thread_id = thread_id
            .filter(|t| self.messages.values().any(|m| &m.thread_id == t))
            .or_else(|| self.thread_of_references(&raw))
            .unwrap_or_else(|| id.clone());
        self.clock += 60_000;
        let mut msg = Msg {
            id: id.clone(),
            thread_id,
            labels,
            raw,
            internal_date: self.clock,
            history_id: 0,
        };
        msg.history_id = self.bump("messageAdded", &msg, Vec::new());
        self.messages.insert(id, msg.clone());
        msg
    }

    fn thread_of_references(&self, raw: &[u8]) -> Option<String> {
        let parsed = MessageParser::default().parse(raw)?;
        let mut refs: Vec<String> = Vec::new();
        for h in [parsed.in_reply_to(), parsed.references()] {
            match h {
                HeaderValue::Text(t) => refs.push(t.to_string()),
                HeaderValue::TextList(l) => refs.extend(l.iter().map(|s| s.to_string())),
                _ => {}
            }
        }
        for r in refs {
            for m in self.messages.values() {
                if let Some(p) = MessageParser::default().parse(&m.raw)
                    && p.message_id() == Some(r.as_str())
                {
                    return Some(m.thread_id.clone());
                }
            }
        }
        None
    }

    fn modify(&mut self, id: &str, add: &[String], remove: &[String]) -> Option<Msg> {
        let mut msg = self.messages.get(id)?.clone();
        let added: Vec<String> = add
            .iter()
            .filter(|l| !msg.labels.contains(l))
            .cloned()
            .collect();
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| msg.labels.contains(l))
            .cloned()
            .collect();
        msg.labels.extend(added.iter().cloned());
        msg.labels.retain(|l| !removed.contains(l));
        if !added.is_empty() {
            msg.history_id = self.bump("labelAdded", &msg, added);
        }
        if !removed.is_empty() {
            msg.history_id = self.bump("labelRemoved", &msg, removed);
        }
        self.messages.insert(id.to_owned(), msg.clone());
        Some(msg)
    }

    fn delete(&mut self, id: &str) {
        if let Some(msg) = self.messages.remove(id) {
            self.bump("messageDeleted", &msg, Vec::new());
        }
    }

    fn label_id(&self, name: &str) -> String {
        let upper = name.to_ascii_uppercase();
        if SYSTEM_LABELS.contains(&upper.as_str()) {
            return upper;
        }
        self.user_labels
            .iter()
            .find(|(id, n)| n.eq_ignore_ascii_case(name) || id == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| name.to_owned())
    }
}

const SYSTEM_LABELS: &[&str] = &[
    "INBOX",
    "SENT",
    "DRAFT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SPAM",
    "TRASH",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
];

/// A fault to inject: the next `times` matching requests fail with `status`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// A method id such as `gmail.users.messages.get`.
    pub method: String,
    /// Only requests whose path contains this (e.g. a message id).
    pub path_contains: Option<String>,
    pub status: u16,
    pub retry_after_s: Option<u64>,
    pub times: u32,
    /// Only inside batches (true), only outside (false), or both (None).
    pub in_batch: Option<bool>,
    /// The fault strikes after the call did its work (a send that went out
    /// and then answered 500), as a lost answer does at Google.
    pub after_processing: bool,
}

impl Fault {
    fn reply(&self) -> Reply {
        let mut r = Reply::error(
            self.status,
            if self.status == 429 {
                "rateLimitExceeded"
            } else {
                "backendError"
            },
            "injected fault",
        );
        if let Some(secs) = self.retry_after_s {
            r.headers.push(("Retry-After".into(), secs.to_string()));
        }
        r
    }

    pub fn new(method: &str, status: u16) -> Fault {
        Fault {
            method: method.to_owned(),
            path_contains: None,
            status,
            retry_after_s: None,
            times: 1,
            in_batch: None,
            after_processing: false,
        }
    }
}

/// What the fake counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// HTTP requests received (a batch is one).
    pub http_requests: u64,
    /// API calls executed (each batch part is one).
    pub api_calls: u64,
    /// Quota units of those calls (Google counts batch parts one by one).
    pub quota_units: u64,
    pub batches: u64,
    pub per_method: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Shared {
    mailboxes: HashMap<String, Mailbox>,
    /// access token -> mailbox email
    tokens: HashMap<String, String>,
    /// Tokens an authorization server vouched for on this request: token ->
    /// (mailbox email, granted scopes). Asked again on every request, so a
    /// revoked grant stops working at once, as at Google.
    introspected: HashMap<String, (String, Vec<String>)>,
    /// `(introspection URL, client id, client secret)`: tokens the fake does
    /// not know are checked there (RFC 7662), as Google checks its own.
    introspection: Option<(String, String, String)>,
    violations: Vec<String>,
    counts: Counts,
    faults: Vec<Fault>,
}

/// The running fake.
#[derive(Clone)]
pub struct GmailFake {
    /// `http://127.0.0.1:PORT/`, what `[google.endpoints] gmail` is set to.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    contract: Arc<Contract>,
}

struct App {
    shared: Arc<Mutex<Shared>>,
    contract: Arc<Contract>,
}

impl GmailFake {
    /// Starts the fake on 127.0.0.1:0 (on the current tokio runtime).
    pub async fn start() -> GmailFake {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let contract = Arc::new(Contract::load());
        let app = Arc::new(App {
            shared: shared.clone(),
            contract: contract.clone(),
        });
        let router = axum::Router::new().fallback(handle).with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        GmailFake {
            base: format!("http://{addr}/"),
            shared,
            contract,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        f(&mut self.shared.lock().unwrap())
    }

    /// A mailbox for `email`, reached with the bearer token `token`.
    pub fn add_account(&self, email: &str, token: &str) {
        self.with(|s| {
            s.mailboxes
                .entry(email.to_owned())
                .or_insert_with(|| Mailbox::new(email));
            s.tokens.insert(token.to_owned(), email.to_owned());
        });
    }

    /// A mailbox for `email`, reached with tokens an authorization server
    /// issued (see [`GmailFake::trust_introspection`]).
    pub fn add_mailbox(&self, email: &str) {
        self.with(|s| {
            s.mailboxes
                .entry(email.to_owned())
                .or_insert_with(|| Mailbox::new(email));
        });
    }

    /// Accept the access tokens of a real authorization server: each unknown
    /// token is introspected (RFC 7662) with the resource server's
    /// credentials; an active one reaches the mailbox of its `sub` and is
    /// allowed the methods its scopes cover (Google's 403
    /// insufficientPermissions otherwise).
    pub fn trust_introspection(&self, url: &str, client_id: &str, client_secret: &str) {
        self.with(|s| {
            s.introspection = Some((
                url.to_owned(),
                client_id.to_owned(),
                client_secret.to_owned(),
            ))
        });
    }

    /// Another token for the same mailbox (a refreshed token).
    pub fn add_token(&self, email: &str, token: &str) {
        self.with(|s| s.tokens.insert(token.to_owned(), email.to_owned()));
    }

    /// Every access token the authorization server vouched for so far
    /// (those the daemon used), for tests that grep logs for them.
    pub fn introspected_tokens(&self) -> Vec<String> {
        self.with(|s| s.introspected.keys().cloned().collect())
    }

    pub fn revoke_token(&self, token: &str) {
        self.with(|s| s.tokens.remove(token));
    }

    /// Delivers a raw RFC 5322 message into `email`'s mailbox (INBOX, UNREAD
    /// unless `labels` says otherwise). Returns (message id, thread id).
    pub fn deliver(&self, email: &str, raw: &[u8], labels: &[&str]) -> (String, String) {
        self.with(|s| {
            let mb = s.mailboxes.get_mut(email).expect("mailbox exists");
            let labels = if labels.is_empty() {
                vec!["INBOX".to_owned(), "UNREAD".to_owned()]
            } else {
                labels.iter().map(|l| (*l).to_owned()).collect()
            };
            let m = mb.insert(raw.to_vec(), labels, None);
            (m.id, m.thread_id)
        })
    }

    pub fn add_label(&self, email: &str, id: &str, name: &str) {
        self.with(|s| {
            let mb = s.mailboxes.get_mut(email).expect("mailbox exists");
            mb.user_labels.push((id.to_owned(), name.to_owned()));
        });
    }

    pub fn add_send_as(&self, email: &str, alias: &str, name: &str, verified: bool) {
        self.with(|s| {
            let mb = s.mailboxes.get_mut(email).expect("mailbox exists");
            mb.send_as.push(json!({
                "sendAsEmail": alias,
                "displayName": name,
                "isPrimary": false,
                "isDefault": false,
                "treatAsAlias": true,
                "verificationStatus": if verified { "accepted" } else { "pending" },
            }));
        });
    }

    /// Labels of a message (None when it does not exist).
    pub fn labels(&self, email: &str, id: &str) -> Option<Vec<String>> {
        self.with(|s| {
            s.mailboxes
                .get(email)?
                .messages
                .get(id)
                .map(|m| m.labels.clone())
        })
    }

    /// Raw bytes and thread of every message with the SENT label, oldest first.
    pub fn sent(&self, email: &str) -> Vec<(String, String, Vec<u8>)> {
        self.with(|s| {
            let mut out: Vec<_> = s.mailboxes[email]
                .messages
                .values()
                .filter(|m| m.labels.iter().any(|l| l == "SENT"))
                .map(|m| {
                    (
                        m.internal_date,
                        m.id.clone(),
                        m.thread_id.clone(),
                        m.raw.clone(),
                    )
                })
                .collect();
            out.sort();
            out.into_iter()
                .map(|(_, id, t, raw)| (id, t, raw))
                .collect()
        })
    }

    /// Number of drafts in the mailbox.
    pub fn draft_count(&self, email: &str) -> usize {
        self.with(|s| s.mailboxes[email].drafts.len())
    }

    /// Replaces a draft's content behind commsd's back (as a user in Gmail's UI would).
    pub fn edit_draft(&self, email: &str, draft_id: &str, raw: &[u8]) {
        self.with(|s| {
            let mb = s.mailboxes.get_mut(email).expect("mailbox exists");
            let old = mb.drafts[draft_id].clone();
            let thread = mb.messages.get(&old).map(|m| m.thread_id.clone());
            mb.delete(&old);
            let m = mb.insert(raw.to_vec(), vec!["DRAFT".to_owned()], thread);
            mb.drafts.insert(draft_id.to_owned(), m.id);
        });
    }

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    pub fn counts(&self) -> Counts {
        self.with(|s| s.counts.clone())
    }

    pub fn reset_counts(&self) {
        self.with(|s| s.counts = Counts::default());
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }

    /// Fails the test if any request (or response) broke the contract.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "Gmail contract violations:\n{}", v.join("\n"));
    }
}

// ------------------------------------------------------------------ HTTP

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body: v.to_string().into_bytes(),
        }
    }

    fn error(status: u16, reason: &str, message: &str) -> Reply {
        let st = match status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        };
        Reply::json(
            status,
            &json!({ "error": {
                "code": status,
                "message": message,
                "errors": [{ "message": message, "domain": "global", "reason": reason }],
                "status": st,
            }}),
        )
    }
}

async fn handle(
    AxumState(app): AxumState<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    app.introspect(auth.as_deref()).await;
    let reply = if uri.path() == "/batch/gmail/v1" && method == Method::POST {
        let ctype = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        app.batch(&ctype, auth.as_deref(), &body)
    } else {
        let mut shared = app.shared.lock().unwrap();
        shared.counts.http_requests += 1;
        drop(shared);
        app.one(
            method.as_str(),
            &uri.to_string(),
            auth.as_deref(),
            &body,
            false,
        )
    };
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

impl App {
    /// Asks the authorization server about a bearer token the fake does not
    /// know itself, and records the answer for this request.
    async fn introspect(&self, auth: Option<&str>) {
        let Some(token) = auth.and_then(|a| a.strip_prefix("Bearer ")) else {
            return;
        };
        let server = {
            let s = self.shared.lock().unwrap();
            if s.tokens.contains_key(token) {
                return;
            }
            s.introspection.clone()
        };
        let Some((url, id, secret)) = server else {
            return;
        };
        let answer: Value = match reqwest::Client::new()
            .post(&url)
            .basic_auth(&id, Some(&secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let mut s = self.shared.lock().unwrap();
        if answer["active"] == true
            && let Some(sub) = answer["sub"].as_str()
        {
            let scopes = answer["scope"]
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .map(str::to_owned)
                .collect();
            s.introspected
                .insert(token.to_owned(), (sub.to_owned(), scopes));
        } else {
            s.introspected.remove(token);
        }
    }

    fn violation(&self, v: String) {
        self.shared.lock().unwrap().violations.push(v);
    }

    fn batch(&self, ctype: &str, auth: Option<&str>, body: &[u8]) -> Reply {
        {
            let mut s = self.shared.lock().unwrap();
            s.counts.http_requests += 1;
            s.counts.batches += 1;
        }
        let Some(boundary) = ctype
            .strip_prefix("multipart/mixed")
            .and_then(|rest| {
                rest.split(';')
                    .find_map(|p| p.trim().strip_prefix("boundary="))
            })
            .map(|b| b.trim_matches('"').to_owned())
        else {
            self.violation(format!(
                "batch: Content-Type must be multipart/mixed with a boundary, got {ctype:?}"
            ));
            return Reply::error(400, "badRequest", "batch needs multipart/mixed");
        };
        let text = String::from_utf8_lossy(body).into_owned();
        let delim = format!("--{boundary}");
        let mut parts = Vec::new();
        for chunk in text.split(&delim).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            parts.push(chunk.trim_start_matches("\r\n").to_owned());
        }
        if parts.is_empty() || parts.len() > 100 {
            self.violation(format!(
                "batch: {} parts (Gmail takes 1 to 100)",
                parts.len()
            ));
            return Reply::error(400, "badRequest", "bad batch size");
        }
        let out_boundary = "batch_fake_boundary_7f3a";
        let mut out = String::new();
        for part in parts {
            let (part_headers, inner) = split_head(&part);
            let mut content_id = None;
            let mut is_http = false;
            for line in part_headers.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    let v = v.trim();
                    if k.eq_ignore_ascii_case("content-type") {
                        is_http = v.eq_ignore_ascii_case("application/http");
                    }
                    if k.eq_ignore_ascii_case("content-id") {
                        content_id =
                            Some(v.trim_start_matches('<').trim_end_matches('>').to_owned());
                    }
                }
            }
            if !is_http {
                self.violation("batch part: Content-Type must be application/http".into());
            }
            let (req_head, req_body) = split_head(inner);
            let mut lines = req_head.lines();
            let request_line = lines.next().unwrap_or_default();
            let mut rl = request_line.split_whitespace();
            let (m, target) = (rl.next().unwrap_or_default(), rl.next().unwrap_or_default());
            let mut inner_auth = auth.map(str::to_owned);
            for line in lines {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("authorization")
                {
                    inner_auth = Some(v.trim().to_owned());
                }
            }
            let body = req_body.trim_end_matches("\r\n").as_bytes().to_vec();
            let reply = self.one(m, target, inner_auth.as_deref(), &body, true);
            out.push_str(&format!(
                "--{out_boundary}\r\nContent-Type: application/http\r\n"
            ));
            if let Some(id) = content_id {
                out.push_str(&format!("Content-ID: <response-{id}>\r\n"));
            }
            out.push_str(&format!(
                "\r\nHTTP/1.1 {} {}\r\n",
                reply.status,
                StatusCode::from_u16(reply.status)
                    .unwrap()
                    .canonical_reason()
                    .unwrap_or("")
            ));
            for (k, v) in &reply.headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&String::from_utf8_lossy(&reply.body));
            out.push_str("\r\n");
        }
        out.push_str(&format!("--{out_boundary}--\r\n"));
        Reply {
            status: 200,
            headers: vec![(
                "Content-Type".into(),
                format!("multipart/mixed; boundary={out_boundary}"),
            )],
            body: out.into_bytes(),
        }
    }

    /// One API request (top level or a batch part).
    fn one(
        &self,
        http: &str,
        target: &str,
        auth: Option<&str>,
        body: &[u8],
        in_batch: bool,
    ) -> Reply {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = path.trim_start_matches('/');
        let query = parse_query(query);
        let Some((def, params)) = self.contract.find(http, path) else {
            self.violation(format!("no Gmail method for {http} /{path}"));
            return Reply::error(404, "notFound", "no such method");
        };
        let mut v = Vec::new();
        self.contract.check_query(def, &query, &mut v);
        let body_json = if body.is_empty() {
            None
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(j) => Some(j),
                Err(e) => {
                    v.push(format!("{}: body is not JSON: {e}", def.id));
                    None
                }
            }
        };
        match (&def.request, &body_json) {
            (Some(schema), Some(b)) => self.contract.check_value(
                &format!("{} body", def.id),
                &self.contract.schema(schema),
                b,
                &mut v,
            ),
            (None, Some(_)) => v.push(format!("{}: takes no request body", def.id)),
            _ => {}
        }
        let user = params.get("userId").cloned().unwrap_or_default();
        if !v.is_empty() {
            let msg = v.join("; ");
            self.shared.lock().unwrap().violations.extend(v);
            return Reply::error(400, "invalidArgument", &msg);
        }
        let mut s = self.shared.lock().unwrap();
        s.counts.api_calls += 1;
        s.counts.quota_units += quota_cost(&def.id);
        *s.counts.per_method.entry(def.id.clone()).or_default() += 1;
        // Authorization.
        let token = auth
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        let email = match (s.tokens.get(token), s.introspected.get(token)) {
            (Some(email), _) => email.clone(),
            (None, Some((email, scopes))) => {
                if !def.scopes.iter().any(|m| scopes.contains(m)) {
                    return Reply::error(
                        403,
                        "insufficientPermissions",
                        "Request had insufficient authentication scopes.",
                    );
                }
                email.clone()
            }
            (None, None) => return Reply::error(401, "authError", "Invalid Credentials"),
        };
        if !s.mailboxes.contains_key(&email) {
            return Reply::error(400, "failedPrecondition", "Mail service not enabled");
        }
        if user != "me" && user != email {
            return Reply::error(403, "forbidden", "Delegation denied");
        }
        // Faults.
        let mut late_fault = None;
        if let Some(i) = s.faults.iter().position(|f| {
            f.method == def.id
                && f.times > 0
                && f.in_batch.is_none_or(|b| b == in_batch)
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
        }) {
            let f = &mut s.faults[i];
            f.times -= 1;
            let fault = f.clone();
            if f.times == 0 {
                s.faults.remove(i);
            }
            if fault.after_processing {
                late_fault = Some(fault);
            } else {
                return fault.reply();
            }
        }
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let qs = |k: &str| -> Vec<String> {
            query
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let mb = s
            .mailboxes
            .get_mut(&email)
            .expect("token maps to a mailbox");
        let short = def.id.trim_start_matches("gmail.users.");
        let result: Result<Value, Reply> = (|| {
            let id = params.get("id").cloned().unwrap_or_default();
            let b = body_json.clone().unwrap_or(Value::Null);
            Ok(match short {
                "getProfile" => json!({
                    "emailAddress": mb.email,
                    "messagesTotal": mb.messages.len(),
                    "threadsTotal": mb.messages.values().map(|m| &m.thread_id).collect::<std::collections::BTreeSet<_>>().len(),
                    "historyId": mb.history_id.to_string(),
                }),
                "messages.list" | "threads.list" => {
                    let threads = short == "threads.list";
                    let mut hits: Vec<&Msg> = mb
                        .messages
                        .values()
                        .filter(|m| {
                            !m.labels.iter().any(|l| l == "DRAFT")
                                || q("q").is_some_and(|q| q.contains("in:draft"))
                        })
                        .filter(|m| {
                            q("includeSpamTrash").as_deref() == Some("true")
                                || !m.labels.iter().any(|l| l == "SPAM" || l == "TRASH")
                        })
                        .filter(|m| qs("labelIds").iter().all(|l| m.labels.contains(l)))
                        .filter(|m| q("q").is_none_or(|query| matches_query(mb, m, &query)))
                        .collect();
                    hits.sort_by(|a, b| {
                        b.internal_date.cmp(&a.internal_date).then(b.id.cmp(&a.id))
                    });
                    if threads {
                        let mut seen = std::collections::HashSet::new();
                        hits.retain(|m| seen.insert(m.thread_id.clone()));
                    }
                    let max = q("maxResults")
                        .and_then(|m| m.parse::<usize>().ok())
                        .unwrap_or(100)
                        .clamp(1, 500);
                    let start = q("pageToken")
                        .and_then(|p| p.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()))
                        .unwrap_or(0);
                    let total = hits.len();
                    let page: Vec<Value> = hits
                        .iter()
                        .skip(start)
                        .take(max)
                        .map(|m| {
                            if threads {
                                json!({ "id": m.thread_id, "snippet": snippet(&m.raw), "historyId": m.history_id.to_string() })
                            } else {
                                json!({ "id": m.id, "threadId": m.thread_id })
                            }
                        })
                        .collect();
                    let mut out = json!({ "resultSizeEstimate": total });
                    if !page.is_empty() {
                        out[if threads { "threads" } else { "messages" }] = Value::Array(page);
                    }
                    if start + max < total {
                        out["nextPageToken"] = json!(format!("p{}", start + max));
                    }
                    out
                }
                "messages.get" => {
                    let m = mb.messages.get(&id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    render(
                        m,
                        q("format").as_deref().unwrap_or("full"),
                        &qs("metadataHeaders"),
                    )
                }
                "messages.modify" => {
                    let add = strings(&b["addLabelIds"]);
                    let remove = strings(&b["removeLabelIds"]);
                    let m = mb.modify(&id, &add, &remove).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    render(&m, "minimal", &[])
                }
                "messages.batchModify" => {
                    let add = strings(&b["addLabelIds"]);
                    let remove = strings(&b["removeLabelIds"]);
                    for id in strings(&b["ids"]) {
                        mb.modify(&id, &add, &remove);
                    }
                    return Err(Reply {
                        status: 204,
                        headers: vec![],
                        body: vec![],
                    });
                }
                "messages.attachments.get" => {
                    let mid = params.get("messageId").cloned().unwrap_or_default();
                    let m = mb.messages.get(&mid).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let data = attachment(&m.raw, &id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    json!({ "attachmentId": id, "size": data.len(), "data": b64url(&data) })
                }
                "messages.send" => {
                    let raw = b["raw"].as_str().and_then(decode_b64).ok_or_else(|| Reply::error(400, "invalidArgument", "'raw' RFC822 payload message string or uploading message via /upload/* URL required"))?;
                    check_sendable(&raw)?;
                    let m = mb.insert(
                        raw,
                        vec!["SENT".into()],
                        b["threadId"].as_str().map(str::to_owned),
                    );
                    json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })
                }
                "threads.get" => {
                    let mut msgs: Vec<&Msg> =
                        mb.messages.values().filter(|m| m.thread_id == id).collect();
                    if msgs.is_empty() {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    }
                    msgs.sort_by_key(|m| m.internal_date);
                    let format = q("format").unwrap_or_else(|| "full".into());
                    let hist = msgs.iter().map(|m| m.history_id).max().unwrap_or(0);
                    json!({
                        "id": id,
                        "historyId": hist.to_string(),
                        "messages": msgs.iter().map(|m| render(m, &format, &qs("metadataHeaders"))).collect::<Vec<_>>(),
                    })
                }
                "drafts.create" => {
                    let raw = b["message"]["raw"]
                        .as_str()
                        .and_then(decode_b64)
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "Missing draft message")
                        })?;
                    let thread = b["message"]["threadId"].as_str().map(str::to_owned);
                    let m = mb.insert(raw, vec!["DRAFT".into()], thread);
                    let did = mb.new_id("r");
                    mb.drafts.insert(did.clone(), m.id.clone());
                    json!({ "id": did, "message": { "id": m.id, "threadId": m.thread_id, "labelIds": m.labels } })
                }
                "drafts.update" => {
                    let Some(old) = mb.drafts.get(&id).cloned() else {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    };
                    let raw = b["message"]["raw"]
                        .as_str()
                        .and_then(decode_b64)
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "Missing draft message")
                        })?;
                    let thread = b["message"]["threadId"].as_str().map(str::to_owned);
                    mb.delete(&old);
                    let m = mb.insert(raw, vec!["DRAFT".into()], thread);
                    mb.drafts.insert(id.clone(), m.id.clone());
                    json!({ "id": id, "message": { "id": m.id, "threadId": m.thread_id, "labelIds": m.labels } })
                }
                "drafts.get" => {
                    let mid = mb.drafts.get(&id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let m = &mb.messages[mid];
                    json!({ "id": id, "message": render(m, q("format").as_deref().unwrap_or("full"), &[]) })
                }
                "drafts.list" => {
                    let drafts: Vec<Value> = mb
                        .drafts
                        .iter()
                        .map(|(d, m)| json!({ "id": d, "message": { "id": m, "threadId": mb.messages[m].thread_id } }))
                        .collect();
                    let mut out = json!({ "resultSizeEstimate": drafts.len() });
                    if !drafts.is_empty() {
                        out["drafts"] = Value::Array(drafts);
                    }
                    out
                }
                "drafts.send" => {
                    let did = b["id"].as_str().unwrap_or_default().to_owned();
                    let mid = mb.drafts.remove(&did).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let mut m = mb.messages[&mid].clone();
                    check_sendable(&m.raw)?;
                    m.labels = vec!["SENT".into()];
                    mb.clock += 60_000;
                    m.internal_date = mb.clock;
                    m.history_id = mb.bump("labelAdded", &m, vec!["SENT".into()]);
                    mb.messages.insert(mid.clone(), m.clone());
                    json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })
                }
                "drafts.delete" => {
                    let mid = mb.drafts.remove(&id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    mb.delete(&mid);
                    return Err(Reply {
                        status: 204,
                        headers: vec![],
                        body: vec![],
                    });
                }
                "labels.list" => {
                    let mut labels: Vec<Value> = SYSTEM_LABELS
                        .iter()
                        .map(|l| json!({ "id": l, "name": l, "type": "system" }))
                        .collect();
                    labels.extend(
                        mb.user_labels
                            .iter()
                            .map(|(id, n)| json!({ "id": id, "name": n, "type": "user" })),
                    );
                    json!({ "labels": labels })
                }
                "history.list" => {
                    let start: u64 = q("startHistoryId")
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "startHistoryId required")
                        })?;
                    if start < 1000 {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    }
                    let records: Vec<Value> = mb
                        .history
                        .iter()
                        .filter(|h| h.id > start)
                        .map(|h| {
                            let msg = json!({ "id": h.message.0, "threadId": h.message.1 });
                            let mut r =
                                json!({ "id": h.id.to_string(), "messages": [msg.clone()] });
                            match h.kind {
                                "messageAdded" => r["messagesAdded"] = json!([{ "message": msg }]),
                                "messageDeleted" => {
                                    r["messagesDeleted"] = json!([{ "message": msg }])
                                }
                                "labelAdded" => {
                                    r["labelsAdded"] =
                                        json!([{ "message": msg, "labelIds": h.labels }])
                                }
                                _ => {
                                    r["labelsRemoved"] =
                                        json!([{ "message": msg, "labelIds": h.labels }])
                                }
                            }
                            r
                        })
                        .collect();
                    let mut out = json!({ "historyId": mb.history_id.to_string() });
                    if !records.is_empty() {
                        out["history"] = Value::Array(records);
                    }
                    out
                }
                "settings.sendAs.list" => json!({ "sendAs": mb.send_as }),
                other => {
                    return Err(Reply::error(
                        501,
                        "notImplemented",
                        &format!("the fake does not implement {other}"),
                    ));
                }
            })
        })();
        drop(s);
        if let Some(fault) = late_fault {
            return fault.reply();
        }
        match result {
            Ok(v) => {
                if let Some(resp) = &def.response {
                    let mut rv = Vec::new();
                    self.contract.check_value(
                        &format!("{} response (fake bug)", def.id),
                        &self.contract.schema(resp),
                        &v,
                        &mut rv,
                    );
                    if !rv.is_empty() {
                        self.shared.lock().unwrap().violations.extend(rv);
                    }
                }
                Reply::json(200, &v)
            }
            Err(r) => r,
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Gmail refuses to send a message without a recipient.
fn check_sendable(raw: &[u8]) -> Result<(), Reply> {
    let p = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Reply::error(400, "invalidArgument", "Invalid RFC822 message"))?;
    if p.to().is_none() && p.cc().is_none() && p.bcc().is_none() {
        return Err(Reply::error(
            400,
            "invalidArgument",
            "Recipient address required",
        ));
    }
    Ok(())
}

fn split_head(s: &str) -> (&str, &str) {
    match s.find("\r\n\r\n") {
        Some(i) => (&s[..i], &s[i + 4..]),
        None => match s.find("\n\n") {
            Some(i) => (&s[..i], &s[i + 2..]),
            None => (s, ""),
        },
    }
}

// ------------------------------------------------------------------ query

fn header_text(raw: &[u8], name: &str) -> String {
    let Some(p) = MessageParser::default().parse(raw) else {
        return String::new();
    };
    let mut out = String::new();
    for h in p.headers() {
        if h.name.as_str().eq_ignore_ascii_case(name) {
            out.push_str(&header_value_text(
                &h.value,
                raw,
                h.offset_start,
                h.offset_end,
            ));
            out.push(' ');
        }
    }
    out
}

fn matches_query(mb: &Mailbox, m: &Msg, query: &str) -> bool {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    terms.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        terms.push(cur);
    }
    terms.iter().all(|t| {
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.as_str()),
        };
        let lower = |s: String| s.to_lowercase();
        let hit = match t.split_once(':') {
            Some(("from", v)) => lower(header_text(&m.raw, "From")).contains(&v.to_lowercase()),
            Some(("to", v)) => lower(header_text(&m.raw, "To") + &header_text(&m.raw, "Cc"))
                .contains(&v.to_lowercase()),
            Some(("subject", v)) => {
                lower(header_text(&m.raw, "Subject")).contains(&v.to_lowercase())
            }
            Some(("is", "unread")) => m.labels.iter().any(|l| l == "UNREAD"),
            Some(("is", "read")) => !m.labels.iter().any(|l| l == "UNREAD"),
            Some(("is", "starred")) => m.labels.iter().any(|l| l == "STARRED"),
            Some(("label", v)) | Some(("in", v)) => {
                let id = mb.label_id(v);
                m.labels.contains(&id)
            }
            Some(("has", "attachment")) => attachments_of(&m.raw).next().is_some(),
            _ => {
                let text = lower(
                    header_text(&m.raw, "Subject")
                        + &header_text(&m.raw, "From")
                        + &body_text(&m.raw),
                );
                text.contains(&t.to_lowercase())
            }
        };
        hit != neg
    })
}

// ------------------------------------------------------------------ rendering

/// A header's value as Gmail shows it: RFC 2047 decoded, addresses as
/// `Name <addr>`, message ids with their angle brackets (raw).
fn header_value_text(v: &HeaderValue<'_>, raw: &[u8], start: u32, end: u32) -> String {
    let raw_value = || {
        String::from_utf8_lossy(raw.get(start as usize..end as usize).unwrap_or_default())
            .replace("\r\n", "")
            .trim()
            .to_owned()
    };
    if raw_value().starts_with('<') {
        return raw_value();
    }
    let addr = |a: &mail_parser::Addr<'_>| match (&a.name, &a.address) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (None, Some(e)) => e.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    };
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l
            .iter()
            .map(|s| format!("<{s}>"))
            .collect::<Vec<_>>()
            .join(" "),
        HeaderValue::Address(Address::List(l)) => l.iter().map(addr).collect::<Vec<_>>().join(", "),
        HeaderValue::Address(Address::Group(g)) => g
            .iter()
            .flat_map(|g| g.addresses.iter().map(addr))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::from_utf8_lossy(raw.get(start as usize..end as usize).unwrap_or_default())
            .replace("\r\n", "")
            .trim()
            .to_owned(),
    }
}

fn body_text(raw: &[u8]) -> String {
    MessageParser::default()
        .parse(raw)
        .and_then(|p| p.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default()
}

fn snippet(raw: &[u8]) -> String {
    let t = body_text(raw);
    let flat: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(120).collect()
}

fn attachments_of(raw: &[u8]) -> impl Iterator<Item = (String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(p) = MessageParser::default().parse(raw) {
        walk_parts(&p, 0, String::new(), &mut |part_id, part| {
            if part.attachment_name().is_some() {
                out.push((part_id.to_owned(), part.contents().to_vec()));
            }
        });
    }
    out.into_iter()
}

fn attachment(raw: &[u8], attachment_id: &str) -> Option<Vec<u8>> {
    attachments_of(raw)
        .find(|(pid, _)| attachment_id.ends_with(&format!("-{pid}")))
        .map(|(_, d)| d)
}

fn walk_parts(
    msg: &mail_parser::Message<'_>,
    idx: u32,
    part_id: String,
    f: &mut dyn FnMut(&str, &mail_parser::MessagePart<'_>),
) {
    let Some(part) = msg.part(idx) else { return };
    f(&part_id, part);
    if let PartType::Multipart(children) = &part.body {
        for (i, c) in children.iter().enumerate() {
            let child_id = if part_id.is_empty() {
                i.to_string()
            } else {
                format!("{part_id}.{i}")
            };
            walk_parts(msg, *c, child_id, f);
        }
    }
}

fn part_json(
    msg: &mail_parser::Message<'_>,
    mid: &str,
    idx: u32,
    part_id: String,
    headers_only: Option<&[String]>,
) -> Value {
    let Some(part) = msg.part(idx) else {
        return json!({});
    };
    let raw = msg.raw_message();
    let headers: Vec<Value> = part
        .headers
        .iter()
        .filter(|h| {
            headers_only.is_none_or(|only| only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(h.name.as_str())))
        })
        .map(|h| json!({ "name": h.name.as_str(), "value": header_value_text(&h.value, raw, h.offset_start, h.offset_end) }))
        .collect();
    let mime = part
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("plain")).to_lowercase())
        .unwrap_or_else(|| "text/plain".into());
    let mut out = json!({ "partId": part_id, "mimeType": mime, "filename": part.attachment_name().unwrap_or(""), "headers": headers });
    if headers_only.is_some() {
        return out;
    }
    match &part.body {
        PartType::Multipart(children) => {
            out["body"] = json!({ "size": 0 });
            out["parts"] = Value::Array(
                children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let id = if part_id.is_empty() {
                            i.to_string()
                        } else {
                            format!("{part_id}.{i}")
                        };
                        part_json(msg, mid, *c, id, None)
                    })
                    .collect(),
            );
        }
        _ => {
            let data = part.contents();
            if part.attachment_name().is_some() {
                out["body"] =
                    json!({ "size": data.len(), "attachmentId": format!("ANGjdJ{mid}-{part_id}") });
            } else {
                out["body"] = json!({ "size": data.len(), "data": b64url(data) });
            }
        }
    }
    out
}

fn render(m: &Msg, format: &str, metadata_headers: &[String]) -> Value {
    let mut out = json!({
        "id": m.id,
        "threadId": m.thread_id,
        "labelIds": m.labels,
        "snippet": snippet(&m.raw),
        "historyId": m.history_id.to_string(),
        "internalDate": m.internal_date.to_string(),
        "sizeEstimate": m.raw.len(),
    });
    match format {
        "raw" => out["raw"] = json!(b64url(&m.raw)),
        "metadata" | "full" => {
            if let Some(p) = MessageParser::default().parse(&m.raw) {
                let only = (format == "metadata").then_some(metadata_headers);
                out["payload"] = part_json(&p, &m.id, 0, String::new(), only);
            }
        }
        _ => {}
    }
    out
}
