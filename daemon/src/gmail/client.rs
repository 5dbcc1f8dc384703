//! Gmail over HTTP: one call or a batch of up to 50, through the account's
//! rate limiter, with a Bearer token from [`AccessTokens`] (a 401 reports
//! the token and retries once), backoff with jitter on 429 and 5xx honouring
//! `Retry-After`, and Google's errors mapped to typed ones. Bodies are never
//! logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::limiter::{Limiter, cost};
use crate::error::{Code, Error};
use crate::google::{AccessTokens, Need};

/// Gmail's batch endpoint takes 100 calls; Google recommends at most 50.
pub const MAX_BATCH: usize = 50;

/// One Gmail API call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method id without `gmail.users.`, e.g. `messages.get` (quota cost).
    pub method: &'static str,
    pub http: reqwest::Method,
    /// Path after `gmail/v1/users/me/`, already percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub need: Need,
    /// Must not be repeated once it may have reached Google: a send. Such a
    /// call is retried only when Google surely did not act on it (no
    /// connection, 429, a rate-limit 403, a rejected token); a lost answer or
    /// a server error returns an error marked by [`outcome_unknown`].
    pub once: bool,
}

impl Call {
    pub fn get(method: &'static str, path: String, need: Need) -> Call {
        Call {
            method,
            http: reqwest::Method::GET,
            path,
            query: Vec::new(),
            body: None,
            need,
            once: false,
        }
    }

    pub fn post(method: &'static str, path: String, body: Value, need: Need) -> Call {
        Call {
            method,
            http: reqwest::Method::POST,
            path,
            query: Vec::new(),
            body: Some(body),
            need,
            once: false,
        }
    }

    /// Marks the call as one that must not be repeated (see [`Call::once`]).
    pub fn once(mut self) -> Call {
        self.once = true;
        self
    }

    pub fn query(mut self, k: &str, v: impl Into<String>) -> Call {
        self.query.push((k.to_owned(), v.into()));
        self
    }

    fn target(&self) -> String {
        let mut t = format!("/gmail/v1/users/me/{}", self.path);
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
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

/// Upstream counters, shared by the accounts of one `Gmail`.
#[derive(Debug, Default)]
pub struct Upstream {
    /// HTTP requests sent to Google (a batch is one).
    pub requests: AtomicU64,
    /// API calls made (each batch part is one).
    pub calls: AtomicU64,
    /// Quota units spent (batch parts count one by one, as Google counts them).
    pub quota_units: AtomicU64,
    pub retries: AtomicU64,
    pub batches: AtomicU64,
    /// Time spent waiting in the rate limiter, in milliseconds.
    pub limiter_wait_ms: AtomicU64,
}

/// The HTTP side of one account.
pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
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

/// Marks the error of a [`Call::once`] call that Google may have carried out.
fn mark_unknown(mut e: Error) -> Error {
    let mut details = match e.details.take() {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("outcome".to_owned(), json!("unknown"));
    e.details = Value::Object(details);
    e
}

/// Whether a failed [`Call::once`] call may have been carried out anyway.
pub fn outcome_unknown(e: &Error) -> bool {
    e.details["outcome"] == "unknown"
}

/// A raw answer: status, Retry-After seconds, body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Client {
    async fn token(&self, need: Need) -> Result<String, Error> {
        self.tokens.access_token(&self.account, need).await
    }

    async fn spend(&self, units: u32, calls: u64) {
        let waited = self.limiter.acquire(units).await;
        self.upstream
            .limiter_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        self.upstream
            .quota_units
            .fetch_add(u64::from(units), Ordering::Relaxed);
        self.upstream.calls.fetch_add(calls, Ordering::Relaxed);
    }

    /// One call, retried on 429/5xx and once on 401. `Ok(None)` for 204.
    pub async fn call(&self, call: &Call) -> Result<Value, Error> {
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            self.spend(cost(call.method), 1).await;
            let token = self.token(call.need).await?;
            let answer = self.send_one(call, &token).await;
            let answer = match answer {
                Ok(a) => a,
                Err(Unsent::MaybeReached(e)) if call.once => return Err(mark_unknown(e)),
                Err(Unsent::NotSent(e) | Unsent::MaybeReached(e))
                    if attempt < self.retry.max_attempts =>
                {
                    tracing::debug!(account = %self.account, method = call.method, error = %e.message, "Gmail call failed; retrying");
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(Unsent::NotSent(e) | Unsent::MaybeReached(e)) => return Err(e),
            };
            match answer.status {
                200..=299 if call.once => {
                    return parse_body(&answer.body).map_err(mark_unknown);
                }
                200..=299 => return parse_body(&answer.body),
                500..=599 if call.once => {
                    return Err(mark_unknown(google_error(
                        answer.status,
                        &answer.body,
                        answer.retry_after,
                        call.method,
                    )));
                }
                401 if !reauthed => {
                    reauthed = true;
                    self.tokens.rejected(&self.account, &token).await;
                    attempt -= 1;
                }
                status if retryable(status, &answer.body) && attempt < self.retry.max_attempts => {
                    self.backoff(attempt, answer.retry_after).await;
                }
                status => {
                    return Err(google_error(
                        status,
                        &answer.body,
                        answer.retry_after,
                        call.method,
                    ));
                }
            }
        }
    }

    async fn send_one(&self, call: &Call, token: &str) -> Result<Answer, Unsent> {
        self.upstream.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{}", self.base, call.target().trim_start_matches('/'));
        let mut req = self.http.request(call.http.clone(), url).bearer_auth(token);
        if let Some(body) = &call.body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                Unsent::NotSent(unreachable(e))
            } else {
                Unsent::MaybeReached(unreachable(e))
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let body = resp
            .bytes()
            .await
            .map_err(|e| Unsent::MaybeReached(unreachable(e)))?
            .to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    async fn backoff(&self, attempt: u32, retry_after: Option<Duration>) {
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

    /// Up to [`MAX_BATCH`] calls in one HTTP request. Each result is the
    /// call's own: a part that failed with 429/5xx is retried alone (with
    /// backoff), never reported as success.
    pub async fn batch(&self, calls: &[Call]) -> Vec<Result<Value, Error>> {
        let mut results: Vec<Option<Result<Value, Error>>> = vec![None; calls.len()];
        for (chunk_no, chunk) in calls.chunks(MAX_BATCH).enumerate() {
            let offset = chunk_no * MAX_BATCH;
            if chunk.len() == 1 {
                results[offset] = Some(self.call(&chunk[0]).await);
                continue;
            }
            let answers = self.batch_once(chunk).await;
            let mut retry = Vec::new();
            match answers {
                Ok(answers) => {
                    for (i, a) in answers.into_iter().enumerate() {
                        match a {
                            Some(a) if (200..300).contains(&a.status) => {
                                results[offset + i] = Some(parse_body(&a.body));
                            }
                            Some(a) if a.status == 401 || retryable(a.status, &a.body) => {
                                retry.push(i)
                            }
                            Some(a) => {
                                results[offset + i] = Some(Err(google_error(
                                    a.status,
                                    &a.body,
                                    a.retry_after,
                                    chunk[i].method,
                                )));
                            }
                            // A part missing from the answer is retried alone.
                            None => retry.push(i),
                        }
                    }
                }
                Err(_) => retry.extend(0..chunk.len()),
            }
            for i in retry {
                results[offset + i] = Some(self.call(&chunk[i]).await);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::internal("batch", "a call got no result"))))
            .collect()
    }

    /// One batch request; per part its answer (by Content-ID), or None.
    async fn batch_once(&self, calls: &[Call]) -> Result<Vec<Option<Answer>>, Error> {
        let units: u32 = calls.iter().map(|c| cost(c.method)).sum();
        let need = calls
            .iter()
            .map(|c| c.need)
            .max_by_key(|n| need_rank(*n))
            .unwrap_or(Need::GmailRead);
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            attempt += 1;
            self.spend(units, calls.len() as u64).await;
            self.upstream.batches.fetch_add(1, Ordering::Relaxed);
            let token = self.token(need).await?;
            let boundary = format!("batch_commsd_{}", hex::encode(random_bytes()));
            let body = encode_batch(calls, &boundary);
            self.upstream.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(format!("{}batch/gmail/v1", self.base))
                .bearer_auth(&token)
                .header(
                    "content-type",
                    format!("multipart/mixed; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < self.retry.max_attempts => {
                    tracing::debug!(account = %self.account, error = %e, "Gmail batch failed; retrying");
                    self.backoff(attempt, None).await;
                    continue;
                }
                Err(e) => return Err(unreachable(e)),
            };
            let status = resp.status().as_u16();
            let retry_after = retry_after(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
            );
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = resp.bytes().await.map_err(unreachable)?;
            match status {
                200 => return decode_batch(&ctype, &bytes, calls.len()),
                401 if !reauthed => {
                    reauthed = true;
                    self.tokens.rejected(&self.account, &token).await;
                    attempt -= 1;
                }
                s if retryable(s, &bytes) && attempt < self.retry.max_attempts => {
                    self.backoff(attempt, retry_after).await;
                }
                s => return Err(google_error(s, &bytes, retry_after, "batch")),
            }
        }
    }
}

fn need_rank(n: Need) -> u8 {
    match n {
        Need::GmailRead => 0,
        Need::GmailCompose => 1,
        Need::GmailModify => 2,
        Need::GmailSend => 3,
        Need::Contacts | Need::Chat | Need::MailProtocols => 4,
    }
}

fn encode_batch(calls: &[Call], boundary: &str) -> Vec<u8> {
    let mut out = String::new();
    for (i, c) in calls.iter().enumerate() {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n{} {} HTTP/1.1\r\n",
            c.http,
            c.target()
        ));
        match &c.body {
            Some(b) => {
                let body = b.to_string();
                out.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}\r\n",
                    body.len()
                ));
            }
            None => out.push_str("\r\n"),
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

fn decode_batch(ctype: &str, body: &[u8], n: usize) -> Result<Vec<Option<Answer>>, Error> {
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| upstream("Gmail's batch answer has no multipart boundary"))?;
    let text = String::from_utf8_lossy(body);
    let mut out: Vec<Option<Answer>> = (0..n).map(|_| None).collect();
    for part in text.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.trim_start_matches("\r\n");
        let (head, rest) = split_head(part);
        let id = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-id").then(|| {
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        });
        let Some(index) = id
            .as_deref()
            .and_then(|id| id.strip_prefix("response-item"))
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < n)
        else {
            continue;
        };
        let (http_head, http_body) = split_head(rest);
        let mut lines = http_head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let mut retry = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':')
                && k.trim().eq_ignore_ascii_case("retry-after")
            {
                retry = retry_after(Some(v.trim()));
            }
        }
        out[index] = Some(Answer {
            status,
            retry_after: retry,
            body: http_body.trim_end_matches("\r\n").as_bytes().to_vec(),
        });
    }
    Ok(out)
}

fn split_head(s: &str) -> (&str, &str) {
    match s.find("\r\n\r\n") {
        Some(i) => (&s[..i], &s[i + 4..]),
        None => (s, ""),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| upstream(&format!("Gmail answered with malformed JSON: {e}")))
}

/// 429, 5xx, and Gmail's 403 rate-limit reasons are worth retrying.
fn retryable(status: u16, body: &[u8]) -> bool {
    match status {
        429 | 500 | 502 | 503 | 504 => true,
        403 => {
            let reason = reason(body);
            matches!(
                reason.as_str(),
                "rateLimitExceeded" | "userRateLimitExceeded"
            )
        }
        _ => false,
    }
}

fn reason(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["errors"][0]["reason"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn retry_after(v: Option<&str>) -> Option<Duration> {
    let v = v?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(120)));
    }
    let when = httpdate_parse(v)?;
    Some(when.min(Duration::from_secs(120)))
}

/// An HTTP date in Retry-After, as a duration from now.
fn httpdate_parse(v: &str) -> Option<Duration> {
    let ts = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    let d = ts.duration_since(now);
    Some(Duration::from_millis(d.as_millis().max(0) as u64))
}

fn upstream(msg: &str) -> Error {
    Error::new(Code::UpstreamUnavailable, msg.to_owned())
}

fn unreachable(e: reqwest::Error) -> Error {
    Error::new(
        Code::UpstreamUnavailable,
        format!("Gmail cannot be reached: {}", without_url(&e)),
    )
}

/// reqwest errors name the URL; ours hold no secrets, but keep messages short.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "Gmail");
    }
    s
}

/// Google's error answer as a typed error.
pub fn google_error(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    method: &str,
) -> Error {
    let reason = reason(body);
    let text = message(body);
    let details = json!({ "status": status, "reason": reason, "method": method });
    match status {
        404 => Error::new(Code::NotFound, format!("Gmail has no such object ({method}): {text}")).with_details(details),
        429 => Error::new(Code::RateLimited, "Gmail's rate limit for this account is exhausted; retry later")
            .with_details(json!({ "status": status, "reason": reason, "method": method, "retry_after_ms": retry_after.map(|d| d.as_millis() as u64).unwrap_or(1000) })),
        403 if matches!(reason.as_str(), "rateLimitExceeded" | "userRateLimitExceeded" | "dailyLimitExceeded") => {
            Error::new(Code::RateLimited, format!("Gmail refused the call: {text}")).with_details(details)
        }
        403 if matches!(reason.as_str(), "insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => Error::new(
            Code::InsufficientScope,
            "the account's grant does not cover this Gmail call; upgrade the account's scopes",
        )
        .with_details(details),
        403 if reason == "domainPolicy" => Error::new(Code::DomainBlocked, format!("the account's Workspace admin blocks this: {text}")).with_details(details),
        401 => Error::new(Code::ReauthRequired, "Google rejected the account's access token twice; sign in again").with_details(details),
        500..=599 => Error::new(Code::UpstreamUnavailable, format!("Gmail failed ({status}): {text}")).with_details(details),
        _ => Error::new(Code::UpstreamError, format!("Gmail refused the call ({status}): {text}")).with_details(details),
    }
}

fn random_bytes() -> [u8; 12] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_answers_map_by_content_id() {
        let body = "--b\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\n\r\n{}\r\n--b\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"id\":\"a\"}\r\n--b--\r\n";
        let parts = decode_batch("multipart/mixed; boundary=b", body.as_bytes(), 2).unwrap();
        let a0 = parts[0].as_ref().unwrap();
        assert_eq!(a0.status, 200);
        assert_eq!(parse_body(&a0.body).unwrap()["id"], "a");
        let a1 = parts[1].as_ref().unwrap();
        assert_eq!(
            (a1.status, a1.retry_after),
            (429, Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn errors_are_typed() {
        let body = br#"{"error":{"code":403,"message":"no","errors":[{"reason":"insufficientPermissions"}]}}"#;
        assert_eq!(
            google_error(403, body, None, "m").code,
            Code::InsufficientScope
        );
        assert_eq!(google_error(404, b"", None, "m").code, Code::NotFound);
        assert_eq!(
            google_error(503, b"", None, "m").code,
            Code::UpstreamUnavailable
        );
        assert_eq!(google_error(429, b"", None, "m").code, Code::RateLimited);
    }
}
