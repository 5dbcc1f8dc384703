//! Google Chat incoming webhooks. A webhook URL is the credential: anyone
//! holding it can post to its space. It lives in the vault only
//! (`chat-webhook/<account id>/url`) and is shown as [`WebhookUrl::redacted`]
//! everywhere else. Posting is `spaces.messages.create` with `key` and
//! `token` in the query and no bearer token.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Code, Error, Result};
use crate::google::error as gerr;

/// The vault entry of a webhook account's URL.
pub fn vault_entry(account_id: &str) -> String {
    format!("chat-webhook/{account_id}/url")
}

/// A checked webhook URL.
#[derive(Clone)]
pub struct WebhookUrl {
    url: String,
    space: String,
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn bad(why: &str) -> Error {
    Error::invalid(
        "url",
        format!(
            "not a Google Chat webhook URL: {why}. Copy it from the space: Apps & integrations > Webhooks (https://chat.googleapis.com/v1/spaces/.../messages?key=...&token=...)"
        ),
    )
}

impl WebhookUrl {
    /// Checks `url`: https on chat.googleapis.com (or under the configured
    /// Chat endpoint `endpoint`), the path `v1/spaces/<id>/messages`, a
    /// `key` and a `token` and nothing else. The error never repeats the URL.
    pub fn parse(url: &str, endpoint: &str) -> Result<WebhookUrl> {
        let url = url.trim();
        let endpoint = if endpoint.ends_with('/') {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/")
        };
        let rest = url
            .strip_prefix("https://chat.googleapis.com/")
            .or_else(|| url.strip_prefix(endpoint.as_str()))
            .ok_or_else(|| bad("it must start with https://chat.googleapis.com/"))?;
        let (path, query) = rest
            .split_once('?')
            .ok_or_else(|| bad("the key and token are missing"))?;
        let id = path
            .strip_prefix("v1/spaces/")
            .and_then(|p| p.strip_suffix("/messages"))
            .ok_or_else(|| bad("the path must be /v1/spaces/<space>/messages"))?;
        let space = crate::outbox::validate::chat_space("url", &format!("spaces/{id}"))
            .map_err(|_| bad("the space id is malformed"))?;
        let (mut key, mut token) = (false, false);
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let ok_value = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.%~".contains(&b));
            match k {
                "key" if ok_value => key = true,
                "token" if ok_value => token = true,
                _ => return Err(bad("only key and token may follow the path")),
            }
        }
        if !(key && token) {
            return Err(bad("the key and token are missing"));
        }
        Ok(WebhookUrl {
            url: url.to_owned(),
            space,
        })
    }

    /// `spaces/<id>`.
    pub fn space(&self) -> &str {
        &self.space
    }

    /// `.../spaces/AAAA/messages?key=***&token=***`: safe to show.
    pub fn redacted(&self) -> String {
        format!(".../{}/messages?key=***&token=***", self.space)
    }
}

/// The answer of a webhook post that did not succeed.
pub enum PostError {
    /// Google surely did not post it (no connection, refused, 429 after retries).
    NotSent(Error),
    /// It may have been posted (a lost answer, a 5xx).
    Unknown(Error),
}

/// Posts `body` through the webhook, with `requestId` (and the reply option
/// when the body names a thread). 429 and connection failures are retried
/// with jittered backoff honouring `Retry-After`; once the request may have
/// reached Google it is never repeated.
pub async fn post(
    http: &reqwest::Client,
    hook: &WebhookUrl,
    body: &Value,
    request_id: &str,
    reply: bool,
    retry: &crate::google::RetryPolicy,
) -> std::result::Result<Value, PostError> {
    let mut url = format!(
        "{}&requestId={}",
        hook.url,
        crate::google::encode(request_id)
    );
    if reply {
        url.push_str("&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = http.post(&url).json(body).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() && attempt < retry.max_attempts => {
                backoff(retry, attempt, None).await;
                continue;
            }
            Err(e) => {
                let connect = e.is_connect();
                let err = Error::new(Code::UpstreamUnavailable, gerr::describe("Google Chat", &e));
                return Err(if connect {
                    PostError::NotSent(err)
                } else {
                    PostError::Unknown(err)
                });
            }
        };
        let status = resp.status().as_u16();
        let retry_after = gerr::retry_after(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
        );
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Err(PostError::Unknown(Error::new(
                    Code::UpstreamUnavailable,
                    format!("Google Chat's answer was lost: {}", e.without_url()),
                )));
            }
        };
        match status {
            200..=299 => {
                return serde_json::from_slice(&bytes).map_err(|_| {
                    PostError::Unknown(gerr::malformed(
                        "Google Chat answered the webhook with malformed JSON".into(),
                    ))
                });
            }
            // A wait beyond the cap (Retry-After: 3600) is not waited out.
            429 if attempt < retry.max_attempts && retry_after.is_none_or(|r| r <= retry.cap) => {
                backoff(retry, attempt, retry_after).await;
            }
            500..=599 => {
                return Err(PostError::Unknown(gerr::from_answer(
                    "Google Chat",
                    status,
                    &bytes,
                    retry_after,
                    "webhook",
                )));
            }
            401 | 403 | 404 => {
                return Err(PostError::NotSent(
                    Error::new(
                        Code::UpstreamError,
                        format!(
                            "Google Chat refused the webhook ({status}): it was deleted or the space is gone. Add a new webhook (commsctl accounts add chat-webhook)"
                        ),
                    )
                    .with_details(serde_json::json!({ "status": status })),
                ));
            }
            _ => {
                return Err(PostError::NotSent(gerr::from_answer(
                    "Google Chat",
                    status,
                    &bytes,
                    retry_after,
                    "webhook",
                )));
            }
        }
    }
}

async fn backoff(retry: &crate::google::RetryPolicy, attempt: u32, after: Option<Duration>) {
    let exp = retry
        .base
        .saturating_mul(1u32 << attempt.min(16))
        .min(retry.cap);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let jitter = exp.mul_f64(0.5 + f64::from(u16::from_le_bytes(b)) / 131_072.0);
    tokio::time::sleep(after.map_or(jitter, |a| a.max(jitter))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const EP: &str = "https://chat.googleapis.com/";

    #[test]
    fn a_webhook_url_is_checked_and_redacted() {
        let u = WebhookUrl::parse(
            "https://chat.googleapis.com/v1/spaces/AAAAx_1/messages?key=AIzaK-1&token=abc%3D",
            EP,
        )
        .unwrap();
        assert_eq!(u.space(), "spaces/AAAAx_1");
        assert_eq!(
            u.redacted(),
            ".../spaces/AAAAx_1/messages?key=***&token=***"
        );
        assert!(!format!("{u:?}").contains("abc"));
        for bad in [
            "http://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t",
            "https://evil.example/v1/spaces/A/messages?key=k&token=t",
            "https://chat.googleapis.com/v1/spaces/A/messages?key=k",
            "https://chat.googleapis.com/v1/spaces/A/messages",
            "https://chat.googleapis.com/v1/spaces/A/members?key=k&token=t",
            "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t&x=1",
            "https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=",
        ] {
            let e = WebhookUrl::parse(bad, EP).err().unwrap();
            assert_eq!(e.details["field"], "url", "{bad}");
            assert!(!e.message.contains("key=k"), "{}", e.message);
        }
        // The configured endpoint (a test fake or a proxy) is accepted too.
        assert!(
            WebhookUrl::parse(
                "http://127.0.0.1:9/v1/spaces/B/messages?key=k&token=t",
                "http://127.0.0.1:9"
            )
            .is_ok()
        );
    }
}
