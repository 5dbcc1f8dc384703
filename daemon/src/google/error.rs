//! Google's answers as typed errors (the envelope's `Code`s), what is worth
//! retrying, and the mark of a call that may have been carried out although
//! it failed. Bodies are read for Google's reason and message only.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Code, Error};

/// Google's reasons for refusing a call because of its rate (classic
/// `errors[].reason` spellings and the `google.rpc.ErrorInfo` ones).
const RATE_REASONS: [&str; 3] = [
    "rateLimitExceeded",
    "userRateLimitExceeded",
    "RATE_LIMIT_EXCEEDED",
];

/// Google's reason: `error.errors[0].reason` (Gmail and the older APIs),
/// else the `google.rpc.ErrorInfo` reason in `error.details` (People, Chat).
pub fn reason(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    if let Some(r) = v["error"]["errors"][0]["reason"].as_str() {
        return r.to_owned();
    }
    v["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["reason"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// 429, 5xx, and a 403 for the rate: worth retrying (for a [`super::http::Repeat::Once`]
/// call only when Google surely did not act, see `GoogleClient::call`).
pub fn retryable(status: u16, body: &[u8]) -> bool {
    match status {
        429 | 500 | 502 | 503 | 504 => true,
        403 => RATE_REASONS.contains(&reason(body).as_str()),
        _ => false,
    }
}

/// `Retry-After` (seconds or an HTTP date), at most two minutes.
pub fn retry_after(v: Option<&str>) -> Option<Duration> {
    let v = v?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(120)));
    }
    let ts = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let d = ts.duration_since(jiff::Timestamp::now());
    let wait = Duration::from_millis(d.as_millis().max(0) as u64);
    Some(wait.min(Duration::from_secs(120)))
}

/// Google's error answer to `method` of `api` (e.g. "Gmail") as a typed error.
pub fn from_answer(
    api: &str,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    method: &str,
) -> Error {
    let reason = reason(body);
    let text = message(body);
    let details = json!({ "status": status, "reason": reason, "method": method });
    match status {
        404 => Error::new(Code::NotFound, format!("{api} has no such object ({method}): {text}")).with_details(details),
        429 => Error::new(Code::RateLimited, format!("{api}'s rate limit for this account is exhausted; retry later"))
            .with_details(json!({ "status": status, "reason": reason, "method": method, "retry_after_ms": retry_after.map(|d| d.as_millis() as u64).unwrap_or(1000) })),
        403 if RATE_REASONS.contains(&reason.as_str()) || reason == "dailyLimitExceeded" => {
            Error::new(Code::RateLimited, format!("{api} refused the call: {text}")).with_details(details)
        }
        403 if matches!(reason.as_str(), "insufficientPermissions" | "ACCESS_TOKEN_SCOPE_INSUFFICIENT") => Error::new(
            Code::InsufficientScope,
            format!("the account's grant does not cover this {api} call; upgrade the account's scopes"),
        )
        .with_details(details),
        403 if reason == "domainPolicy" => Error::new(Code::DomainBlocked, format!("the account's Workspace admin blocks this: {text}")).with_details(details),
        401 => Error::new(Code::ReauthRequired, "Google rejected the account's access token twice; sign in again").with_details(details),
        500..=599 => Error::new(Code::UpstreamUnavailable, format!("{api} failed ({status}): {text}")).with_details(details),
        _ => Error::new(Code::UpstreamError, format!("{api} refused the call ({status}): {text}")).with_details(details),
    }
}

/// No answer from `api`. reqwest names the URL; ours hold no secrets, but
/// messages stay short.
pub fn unreachable(api: &str, e: &reqwest::Error) -> Error {
    Error::new(Code::UpstreamUnavailable, describe(api, e))
}

/// What went wrong with a request that got no answer, naming the cause:
/// no connection, no answer within the request timeout, or the connection
/// lost (reqwest's own message names only the URL, never the cause). The
/// URL is left out: it may carry a webhook's key.
pub fn describe(api: &str, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        format!("{api} did not answer in time (request_timeout)")
    } else if e.is_connect() {
        format!("{api} cannot be reached")
    } else {
        format!("the connection to {api} was lost before its answer came")
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if let Some(url) = e.url() {
        cause = cause.replace(url.as_str(), api);
    }
    if cause.is_empty() {
        what
    } else {
        format!("{what}: {cause}")
    }
}

/// An answer that is not what Google's documents promise.
pub fn malformed(what: String) -> Error {
    Error::new(Code::UpstreamUnavailable, what)
}

/// Marks the error of a [`super::http::Repeat::Once`] call that Google may
/// have carried out.
pub fn mark_unknown(mut e: Error) -> Error {
    let mut details = match e.details.take() {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    details.insert("outcome".to_owned(), json!("unknown"));
    e.details = Value::Object(details);
    e
}

/// Whether a failed [`super::http::Repeat::Once`] call may have been carried
/// out anyway (a lost answer, a 5xx): such a send must not be repeated by
/// itself.
pub fn outcome_unknown(e: &Error) -> bool {
    e.details["outcome"] == "unknown"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_typed() {
        let body = br#"{"error":{"code":403,"message":"no","errors":[{"reason":"insufficientPermissions"}]}}"#;
        assert_eq!(
            from_answer("Gmail", 403, body, None, "m").code,
            Code::InsufficientScope
        );
        assert_eq!(
            from_answer("Gmail", 404, b"", None, "m").code,
            Code::NotFound
        );
        assert_eq!(
            from_answer("Gmail", 503, b"", None, "m").code,
            Code::UpstreamUnavailable
        );
        let limited = from_answer("Gmail", 429, b"", Some(Duration::from_secs(3)), "m");
        assert_eq!(limited.code, Code::RateLimited);
        assert_eq!(limited.details["retry_after_ms"], 3000);
        assert_eq!(
            limited.message,
            "Gmail's rate limit for this account is exhausted; retry later"
        );
    }

    #[test]
    fn newer_apis_give_their_reason_in_error_info() {
        // People and Chat answer with google.rpc.ErrorInfo, not errors[].
        let scope = br#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com"}]}}"#;
        assert_eq!(reason(scope), "ACCESS_TOKEN_SCOPE_INSUFFICIENT");
        assert_eq!(
            from_answer("People", 403, scope, None, "people.get").code,
            Code::InsufficientScope
        );
        let rate = br#"{"error":{"code":403,"message":"Quota exceeded","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"}]}}"#;
        assert!(retryable(403, rate));
        assert_eq!(
            from_answer("Chat", 403, rate, None, "spaces.messages.create").code,
            Code::RateLimited
        );
        assert!(!retryable(403, b"{}"));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        assert_eq!(retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(Some("9999")), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after(Some("Tue, 01 Jan 2019 00:00:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn only_marked_errors_have_an_unknown_outcome() {
        let e = Error::new(Code::UpstreamUnavailable, "x").with_details(json!({ "status": 503 }));
        assert!(!outcome_unknown(&e));
        let e = mark_unknown(e);
        assert!(outcome_unknown(&e));
        assert_eq!(e.details["status"], 503);
    }
}
