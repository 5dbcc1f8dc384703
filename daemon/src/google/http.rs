//! One HTTP client layer for Google's REST APIs (Gmail now, People and Chat
//! next): each call goes through the account's quota limiter (units from
//! the API's [`CostTable`]), carries a Bearer token from [`AccessTokens`]
//! for the call's [`Need`] (a 401 reports the token and retries once), is
//! retried with jittered backoff honouring `Retry-After`, and a failure
//! becomes a typed error ([`super::error`]). A [`Repeat::Once`] call (a
//! send) is repeated only when Google surely did not act on it. Bodies are
//! never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::error::{self, mark_unknown};
use super::limiter::{CostTable, Limiter};
use super::{AccessTokens, Need};
use crate::error::Error;

/// One Google API as its clients reach it.
#[derive(Debug)]
pub struct Api {
    /// How errors name it: "Gmail".
    pub name: &'static str,
    /// Its URL from `[google.endpoints]`, ending with `/`.
    pub base: String,
    /// What every call's path starts with, e.g. `gmail/v1/users/me/`.
    pub prefix: &'static str,
    /// The batch endpoint relative to `base`, e.g. `batch/gmail/v1`.
    pub batch_path: &'static str,
    pub costs: &'static CostTable,
}

impl Api {
    pub fn new(
        name: &'static str,
        base: &str,
        prefix: &'static str,
        batch_path: &'static str,
        costs: &'static CostTable,
    ) -> Api {
        let base = if base.ends_with('/') {
            base.to_owned()
        } else {
            format!("{base}/")
        };
        Api {
            name,
            base,
            prefix,
            batch_path,
            costs,
        }
    }
}

/// Whether a call may be repeated once it may have reached Google.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and writes that end in the same state however often they run.
    Idempotent,
    /// A send: retried only when Google surely did not act on it (no
    /// connection, 429, a rate-limit 403, a rejected token); a lost answer
    /// or a server error returns an error marked by
    /// [`error::outcome_unknown`]. Never put in a batch.
    Once,
}

/// One API call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method as the API's cost table names it, e.g. `messages.get`.
    pub method: &'static str,
    pub http: reqwest::Method,
    /// Path after the API's prefix, already percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub need: Need,
    pub repeat: Repeat,
}

impl Call {
    fn new(http: reqwest::Method, method: &'static str, path: String, need: Need) -> Call {
        Call {
            method,
            http,
            path,
            query: Vec::new(),
            body: None,
            need,
            repeat: Repeat::Idempotent,
        }
    }

    pub fn get(method: &'static str, path: String, need: Need) -> Call {
        Call::new(reqwest::Method::GET, method, path, need)
    }

    pub fn post(method: &'static str, path: String, body: Value, need: Need) -> Call {
        Call {
            body: Some(body),
            ..Call::new(reqwest::Method::POST, method, path, need)
        }
    }

    pub fn put(method: &'static str, path: String, body: Value, need: Need) -> Call {
        Call {
            body: Some(body),
            ..Call::new(reqwest::Method::PUT, method, path, need)
        }
    }

    pub fn patch(method: &'static str, path: String, body: Value, need: Need) -> Call {
        Call {
            body: Some(body),
            ..Call::new(reqwest::Method::PATCH, method, path, need)
        }
    }

    /// Marks the call as one that must not be repeated ([`Repeat::Once`]).
    pub fn once(mut self) -> Call {
        self.repeat = Repeat::Once;
        self
    }

    pub fn query(mut self, k: &str, v: impl Into<String>) -> Call {
        self.query.push((k.to_owned(), v.into()));
        self
    }

    /// `/<prefix><path>?<query>`, as a request line or batch part names it.
    pub(super) fn target(&self, api: &Api) -> String {
        let mut t = format!("/{}{}", api.prefix, self.path);
        if !self.query.is_empty() {
            t.push('?');
            let q: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            t.push_str(&q.join("&"));
        }
        t
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Retry settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call on 429/5xx, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

/// Upstream counters, shared by the accounts of one API.
#[derive(Debug, Default)]
pub struct Upstream {
    /// HTTP requests sent to Google (a batch is one).
    pub requests: AtomicU64,
    /// API calls made (each batch part is one).
    pub calls: AtomicU64,
    /// Quota units spent (batch parts count one by one, as Google counts them).
    pub quota_units: AtomicU64,
    /// Backoffs of a call or of a whole batch.
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    /// Time spent waiting in the rate limiter, in milliseconds.
    pub limiter_wait_ms: AtomicU64,
}

/// The clients of one API, one per account: they share the connection
/// pool, the token source, the retry policy and the counters; each account
/// has its own limiter.
pub struct ApiClients {
    http: reqwest::Client,
    api: Arc<Api>,
    tokens: Arc<dyn AccessTokens>,
    units_per_second: u32,
    retry: RetryPolicy,
    upstream: Arc<Upstream>,
}

impl ApiClients {
    /// `units_per_second`: each account's budget (the cost table's by default).
    pub fn new(
        api: Api,
        tokens: Arc<dyn AccessTokens>,
        units_per_second: u32,
        retry: RetryPolicy,
    ) -> Result<ApiClients, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| Error::internal("cannot build the Google HTTP client", e))?;
        Ok(ApiClients {
            http,
            api: Arc::new(api),
            tokens,
            units_per_second,
            retry: RetryPolicy {
                max_attempts: retry.max_attempts.max(1),
                ..retry
            },
            upstream: Arc::new(Upstream::default()),
        })
    }

    /// The same clients with calls timing out after `timeout` (60 s by
    /// default): a call with no answer by then may have reached Google.
    pub fn with_timeout(self, timeout: Duration) -> Result<ApiClients, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .pool_max_idle_per_host(8)
            .build()
            .map_err(|e| Error::internal("cannot build the Google HTTP client", e))?;
        Ok(ApiClients { http, ..self })
    }

    /// A client for `account_id` with a limiter of its own. Callers keep one
    /// per account: a second client would have a second budget.
    pub fn client(&self, account_id: &str) -> GoogleClient {
        GoogleClient {
            http: self.http.clone(),
            api: self.api.clone(),
            tokens: self.tokens.clone(),
            account: account_id.to_owned(),
            limiter: Limiter::new(self.units_per_second),
            retry: self.retry.clone(),
            upstream: self.upstream.clone(),
        }
    }

    pub fn tokens(&self) -> &Arc<dyn AccessTokens> {
        &self.tokens
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }
}

/// The HTTP side of one account at one API.
pub struct GoogleClient {
    pub(super) http: reqwest::Client,
    pub(super) api: Arc<Api>,
    pub(super) tokens: Arc<dyn AccessTokens>,
    pub(super) account: String,
    pub(super) limiter: Limiter,
    pub(super) retry: RetryPolicy,
    pub(super) upstream: Arc<Upstream>,
}

/// A request that got no answer: either it surely never reached Google (no
/// connection), or it may have (sent, and then the answer was lost).
enum Unsent {
    NotSent(Error),
    MaybeReached(Error),
}

/// A raw answer: status, Retry-After, body.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl GoogleClient {
    /// The account's id.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub(super) async fn token(&self, need: Need) -> Result<String, Error> {
        self.tokens.access_token(&self.account, need).await
    }

    pub(super) async fn spend(&self, units: u32, calls: u64) {
        let waited = self.limiter.acquire(units).await;
        self.upstream
            .limiter_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        self.upstream
            .quota_units
            .fetch_add(u64::from(units), Ordering::Relaxed);
        self.upstream.calls.fetch_add(calls, Ordering::Relaxed);
    }

    pub(super) fn parse_body(&self, body: &[u8]) -> Result<Value, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(body).map_err(|e| {
            error::malformed(format!(
                "{} answered with malformed JSON: {e}",
                self.api.name
            ))
        })
    }

    pub(super) fn error(&self, a: &Answer, method: &str) -> Error {
        error::from_answer(self.api.name, a.status, &a.body, a.retry_after, method)
    }

    /// One call, retried on 429/5xx (see [`Repeat`]) and once on 401.
    /// `Value::Null` for an empty answer (204).
    pub async fn call(&self, call: &Call) -> Result<Value, Error> {
        let once = call.repeat == Repeat::Once;
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            self.spend(self.api.costs.cost(call.method), 1).await;
            let token = self.token(call.need).await?;
            let answer = match self.send_one(call, &token).await {
                Ok(a) => a,
                Err(Unsent::MaybeReached(e)) if once => return Err(mark_unknown(e)),
                Err(Unsent::NotSent(e) | Unsent::MaybeReached(e))
                    if attempt < self.retry.max_attempts =>
                {
                    tracing::debug!(account = %self.account, api = self.api.name, method = call.method, error = %e.message, "Google call failed; retrying");
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(Unsent::NotSent(e) | Unsent::MaybeReached(e)) => return Err(e),
            };
            match answer.status {
                200..=299 if once => return self.parse_body(&answer.body).map_err(mark_unknown),
                200..=299 => return self.parse_body(&answer.body),
                500..=599 if once => return Err(mark_unknown(self.error(&answer, call.method))),
                401 if !reauthed => {
                    reauthed = true;
                    self.tokens.rejected(&self.account, &token).await;
                    attempt -= 1;
                }
                status
                    if error::retryable(status, &answer.body)
                        && attempt < self.retry.max_attempts
                        && self.waits(answer.retry_after) =>
                {
                    self.backoff(attempt, answer.retry_after).await;
                }
                _ => return Err(self.error(&answer, call.method)),
            }
        }
    }

    async fn send_one(&self, call: &Call, token: &str) -> Result<Answer, Unsent> {
        self.upstream.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!(
            "{}{}",
            self.api.base,
            call.target(&self.api).trim_start_matches('/')
        );
        let mut req = self.http.request(call.http.clone(), url).bearer_auth(token);
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let name = self.api.name;
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                Unsent::NotSent(error::unreachable(name, &e))
            } else {
                Unsent::MaybeReached(error::unreachable(name, &e))
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = error::retry_after(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let body = resp
            .bytes()
            .await
            .map_err(|e| Unsent::MaybeReached(error::unreachable(name, &e)))?
            .to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// Whether a call asked to wait `retry_after` is retried: only within
    /// the retry policy's cap (30 s). A longer wait (Retry-After: 3600)
    /// returns the error at once, with the wait in its details, instead of
    /// holding a send (and the daemon's shutdown) for an hour.
    pub(super) fn waits(&self, retry_after: Option<Duration>) -> bool {
        retry_after.is_none_or(|r| r <= self.retry.cap)
    }

    pub(super) async fn backoff(&self, attempt: u32, retry_after: Option<Duration>) {
        self.upstream.retries.fetch_add(1, Ordering::Relaxed);
        let exp = self
            .retry
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.retry.cap);
        // Full jitter: anywhere in [exp/2, exp), so retries of many callers spread out.
        let jitter = exp.mul_f64(0.5 + random_unit() * 0.5);
        let wait = retry_after.map_or(jitter, |r| r.max(jitter));
        tokio::time::sleep(wait).await;
    }
}

pub(super) fn random_bytes() -> [u8; 12] {
    let mut b = [0u8; 12];
    if getrandom::fill(&mut b).is_err() {
        static N: AtomicU64 = AtomicU64::new(1);
        b[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    b
}

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}
