//! A fake of Google's REST APIs for tests and benches: an axum server on
//! 127.0.0.1:0 serving one or more APIs ([`FakeApi`]: Gmail and Chat;
//! People plugs in the same way), each mounted under a prefix of the fake's
//! base URL and described by Google's discovery document. EVERY request,
//! batch parts included, is checked against the document ([`discovery`]:
//! HTTP method and path template, path and query parameters with their
//! types, enums and repetition, the request body against its schema) and
//! each mismatch is recorded as a violation (answered 400); answers are
//! checked against the response schemas too, so a fake cannot drift from
//! Google's shapes. Tests end with [`GoogleFake::assert_no_violations`].
//!
//! Shared by every API: bearer tokens (known ones, or ones an authorization
//! server vouches for through RFC 7662 introspection, with each method's
//! scopes enforced), the batch endpoint, Google's per-method quota costs
//! (from each API), request counts and injected faults.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::collapsible_match
)]

pub mod chat;
pub mod discovery;
pub mod gmail;
mod gmail_mime;
pub mod people;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use self::discovery::{Contract, MethodDef, parse_query};
pub use self::gmail::GmailFake;

/// One API the fake serves.
pub trait FakeApi: Send + Sync + 'static {
    /// Its discovery document, indexed.
    fn contract(&self) -> &Contract;
    /// Where it is mounted on the fake's base URL: `""` (Gmail's paths
    /// start with `gmail/v1/`) or e.g. `"people/"` for APIs whose paths
    /// would collide (`v1/...`).
    fn mount(&self) -> &str;
    /// Google's quota units for `method_id`.
    fn quota_cost(&self, method_id: &str) -> u64;
    /// Checks after authorization, before faults strike (Gmail: the
    /// account has a mailbox and `userId` names it).
    fn admit(&self, _req: &Request<'_>) -> Result<(), Reply> {
        Ok(())
    }
    /// The answer to a valid, authorized request: its JSON (checked against
    /// the method's response schema), or another reply (an error, a 204).
    fn serve(&self, req: &Request<'_>) -> Result<Value, Reply>;
    /// A request without a bearer token that the API authorizes by other
    /// means (Chat's incoming webhooks: `key` and `token` in the query):
    /// the query parameters that are credentials rather than the method's
    /// (removed before the query is checked), and who the caller is, or
    /// the refusal. `None`: the API takes bearer tokens only.
    fn credential_in_query(
        &self,
        _method_id: &str,
        _params: &HashMap<String, String>,
        _query: &[(String, String)],
    ) -> Option<(Vec<&'static str>, Result<String, Reply>)> {
        None
    }
}

/// A checked request, as an API serves it.
pub struct Request<'a> {
    pub method: &'a MethodDef,
    /// Path parameters, decoded.
    pub params: &'a HashMap<String, String>,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
    /// The path after the API's mount.
    pub path: &'a str,
    /// The Google account (address) the bearer token stands for.
    pub account: &'a str,
    pub in_batch: bool,
}

impl Request<'_> {
    pub fn param(&self, k: &str) -> String {
        self.params.get(k).cloned().unwrap_or_default()
    }

    /// The first value of query parameter `k`.
    pub fn q(&self, k: &str) -> Option<String> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    /// Every value of the repeated query parameter `k`.
    pub fn qs(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn body(&self) -> Value {
        self.body.cloned().unwrap_or(Value::Null)
    }
}

/// A fault to inject: the next `times` matching requests fail with `status`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// A method id such as `gmail.users.messages.get`.
    pub method: String,
    /// Only requests whose path contains this (e.g. a message id).
    pub path_contains: Option<String>,
    /// Only requests with a query parameter `name=value` that contains
    /// this (e.g. `pageToken=c:full@1000`: one page of a listing).
    pub query_contains: Option<String>,
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
            query_contains: None,
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
    /// By method id (`gmail.users.messages.get`).
    pub per_method: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Shared {
    /// access token -> account address
    tokens: HashMap<String, String>,
    /// Tokens an authorization server vouched for on this request: token ->
    /// (account address, granted scopes). Asked again on every request, so
    /// a revoked grant stops working at once, as at Google.
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
pub struct GoogleFake {
    /// `http://127.0.0.1:PORT/`; an API is at this plus its mount.
    pub base: String,
    app: Arc<App>,
}

struct App {
    shared: Mutex<Shared>,
    /// Longest mount first, so `""` catches what no other API claims.
    apis: Vec<Arc<dyn FakeApi>>,
}

impl GoogleFake {
    /// Starts the fake serving `apis` on 127.0.0.1:0 (on the current tokio runtime).
    pub async fn start(mut apis: Vec<Arc<dyn FakeApi>>) -> GoogleFake {
        apis.sort_by_key(|a| std::cmp::Reverse(a.mount().len()));
        let app = Arc::new(App {
            shared: Mutex::new(Shared::default()),
            apis,
        });
        let router = axum::Router::new().fallback(handle).with_state(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        GoogleFake {
            base: format!("http://{addr}/"),
            app,
        }
    }

    /// The URL an API mounted at `mount` is reached at (`[google.endpoints]`).
    pub fn url(&self, mount: &str) -> String {
        format!("{}{mount}", self.base)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Shared) -> T) -> T {
        f(&mut self.app.shared.lock().unwrap())
    }

    /// A bearer token for the Google account `email` (every scope).
    pub fn add_token(&self, email: &str, token: &str) {
        self.with(|s| s.tokens.insert(token.to_owned(), email.to_owned()));
    }

    /// A bearer token for `email` that covers only `scopes`: methods none of
    /// whose scopes it has answer 403 insufficientPermissions, as at Google.
    pub fn add_scoped_token(&self, email: &str, token: &str, scopes: &[&str]) {
        self.with(|s| {
            s.introspected.insert(
                token.to_owned(),
                (
                    email.to_owned(),
                    scopes.iter().map(|x| (*x).to_owned()).collect(),
                ),
            )
        });
    }

    /// Every access token the authorization server vouched for so far
    /// (those the daemon used), for tests that grep logs for them.
    pub fn introspected_tokens(&self) -> Vec<String> {
        self.with(|s| s.introspected.keys().cloned().collect())
    }

    pub fn revoke_token(&self, token: &str) {
        self.with(|s| s.tokens.remove(token));
    }

    /// Accept the access tokens of a real authorization server: each unknown
    /// token is introspected (RFC 7662) with the resource server's
    /// credentials; an active one stands for the account of its `sub` and is
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

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }

    /// How many more requests the injected faults will fail.
    pub fn pending_faults(&self) -> u32 {
        self.with(|s| s.faults.iter().map(|f| f.times).sum())
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

    /// Fails the test if any request (or response) broke a contract.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "Google contract violations:\n{}",
            v.join("\n")
        );
    }
}

// ------------------------------------------------------------------ HTTP

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=UTF-8".into(),
            )],
            body: v.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    /// Google's error shape (classic `errors[]` and the `status` name).
    pub fn error(status: u16, reason: &str, message: &str) -> Reply {
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

    pub fn not_found() -> Reply {
        Reply::error(404, "notFound", "Requested entity was not found.")
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
    let path = uri.path().trim_start_matches('/');
    let reply = match app.apis.iter().find(|a| path.starts_with(a.mount())) {
        None => {
            app.count_request(false);
            app.violation(format!("no API is mounted at /{path}"));
            Reply::error(404, "notFound", "no such API")
        }
        Some(api) => {
            let rest = &path[api.mount().len()..];
            if method == Method::POST && api.contract().is_batch(rest) {
                let ctype = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                app.batch(api.as_ref(), ctype, auth.as_deref(), &body)
            } else {
                app.count_request(false);
                let target = match uri.query() {
                    Some(q) => format!("{rest}?{q}"),
                    None => rest.to_owned(),
                };
                app.one(
                    api.as_ref(),
                    method.as_str(),
                    &target,
                    auth.as_deref(),
                    &body,
                    false,
                )
            }
        }
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap()
    }

    fn count_request(&self, batch: bool) {
        let mut s = self.lock();
        s.counts.http_requests += 1;
        if batch {
            s.counts.batches += 1;
        }
    }

    fn violation(&self, v: String) {
        self.lock().violations.push(v);
    }

    /// Asks the authorization server about a bearer token the fake does not
    /// know itself, and records the answer for this request.
    async fn introspect(&self, auth: Option<&str>) {
        let Some(token) = auth.and_then(|a| a.strip_prefix("Bearer ")) else {
            return;
        };
        let server = {
            let s = self.lock();
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
        let mut s = self.lock();
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

    /// The batch endpoint: each part is an API request of its own.
    fn batch(&self, api: &dyn FakeApi, ctype: &str, auth: Option<&str>, body: &[u8]) -> Reply {
        self.count_request(true);
        let name = &api.contract().name;
        let Some(boundary) = ctype
            .strip_prefix("multipart/mixed")
            .and_then(|rest| {
                rest.split(';')
                    .find_map(|p| p.trim().strip_prefix("boundary="))
            })
            .map(|b| b.trim_matches('"').to_owned())
        else {
            self.violation(format!(
                "{name} batch: Content-Type must be multipart/mixed with a boundary, got {ctype:?}"
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
                "{name} batch: {} parts (Google takes 1 to 100)",
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
            let target = target.trim_start_matches('/');
            let reply = self.one(api, m, target, inner_auth.as_deref(), &body, true);
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

    /// One API request (top level or a batch part): `target` is the path
    /// after the API's mount, with its query.
    fn one(
        &self,
        api: &dyn FakeApi,
        http: &str,
        target: &str,
        auth: Option<&str>,
        body: &[u8],
        in_batch: bool,
    ) -> Reply {
        let contract = api.contract();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let mut query = parse_query(query);
        let Some((def, params)) = contract.find(http, path) else {
            self.violation(format!("no {} method for {http} /{path}", contract.name));
            return Reply::error(404, "notFound", "no such method");
        };
        let query_credential = match auth {
            Some(_) => None,
            None => api.credential_in_query(&def.id, &params, &query),
        };
        if let Some((names, _)) = &query_credential {
            query.retain(|(k, _)| !names.contains(&k.as_str()));
        }
        let mut v = Vec::new();
        contract.check_query(def, &query, &mut v);
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
            (Some(schema), Some(b)) => contract.check_value(
                &format!("{} body", def.id),
                &contract.schema(schema),
                b,
                &mut v,
            ),
            (None, Some(_)) => v.push(format!("{}: takes no request body", def.id)),
            _ => {}
        }
        if !v.is_empty() {
            let msg = v.join("; ");
            self.lock().violations.extend(v);
            return Reply::error(400, "invalidArgument", &msg);
        }
        let account = {
            let mut s = self.lock();
            s.counts.api_calls += 1;
            s.counts.quota_units += api.quota_cost(&def.id);
            *s.counts.per_method.entry(def.id.clone()).or_default() += 1;
            // Authorization.
            let token = auth
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or_default();
            if let Some((_, who)) = query_credential {
                match who {
                    Ok(who) => who,
                    Err(reply) => return reply,
                }
            } else {
                match (s.tokens.get(token), s.introspected.get(token)) {
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
                }
            }
        };
        let req = Request {
            method: def,
            params: &params,
            query: &query,
            body: body_json.as_ref(),
            path,
            account: &account,
            in_batch,
        };
        if let Err(r) = api.admit(&req) {
            return r;
        }
        // Faults.
        let late_fault = {
            let mut s = self.lock();
            match s.faults.iter().position(|f| {
                f.method == def.id
                    && f.times > 0
                    && f.in_batch.is_none_or(|b| b == in_batch)
                    && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
                    && f.query_contains
                        .as_deref()
                        .is_none_or(|q| query.iter().any(|(k, v)| format!("{k}={v}").contains(q)))
            }) {
                None => None,
                Some(i) => {
                    let f = &mut s.faults[i];
                    f.times -= 1;
                    let fault = f.clone();
                    if f.times == 0 {
                        s.faults.remove(i);
                    }
                    if !fault.after_processing {
                        return fault.reply();
                    }
                    Some(fault)
                }
            }
        };
        let result = api.serve(&req);
        if let Some(fault) = late_fault {
            return fault.reply();
        }
        match result {
            Ok(v) => {
                if let Some(resp) = &def.response {
                    let mut rv = Vec::new();
                    contract.check_value(
                        &format!("{} response (fake bug)", def.id),
                        &contract.schema(resp),
                        &v,
                        &mut rv,
                    );
                    if !rv.is_empty() {
                        self.lock().violations.extend(rv);
                    }
                }
                Reply::json(200, &v)
            }
            Err(r) => r,
        }
    }
}

pub fn split_head(s: &str) -> (&str, &str) {
    match s.find("\r\n\r\n") {
        Some(i) => (&s[..i], &s[i + 4..]),
        None => match s.find("\n\n") {
            Some(i) => (&s[..i], &s[i + 2..]),
            None => (s, ""),
        },
    }
}
