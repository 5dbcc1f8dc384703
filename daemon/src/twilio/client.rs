//! Twilio's REST API (`/2010-04-01`), typed: the credential check, the
//! check that a From number belongs to the account, sending, listing sent
//! messages (the lookup of a send whose answer was lost) and MMS media.
//!
//! A send is never repeated here. Its failure says whether Twilio surely
//! did not act ([`SendError::NotSent`]: no connection was made, or Twilio
//! refused before accepting), refused it ([`SendError::Rejected`], with
//! Twilio's code), or may have sent it ([`SendError::Unknown`]: the
//! request went out and the answer was lost, or a 5xx), as `Call::once`
//! does for Google (`google/http.rs`). Secrets and bodies are never logged.

use std::time::Duration;

use serde::Deserialize;

use super::errors;
use super::segments;
use crate::error::{Code, Error};
use crate::vault::Secret;

const API_VERSION: &str = "2010-04-01";

/// Who calls: the account, and the auth token or an API key and its secret.
#[derive(Debug, Clone)]
pub struct Auth {
    account_sid: String,
    key_sid: Option<String>,
    secret: Secret,
}

/// `prefix` + 32 hexadecimal digits: how Twilio spells its SIDs.
pub fn is_sid(prefix: &str, sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Auth {
    /// Checks the formats locally, so a typo is named before any call.
    pub fn new(account_sid: &str, key_sid: Option<&str>, secret: Secret) -> Result<Auth, Error> {
        let account_sid = account_sid.trim();
        if !is_sid("AC", account_sid) {
            return Err(Error::invalid(
                "accountSid",
                "an Account SID is AC followed by 32 hexadecimal digits (see the Twilio console's Account Info)",
            ));
        }
        let key_sid = key_sid.map(str::trim);
        if let Some(key) = key_sid
            && !is_sid("SK", key)
        {
            return Err(Error::invalid(
                "apiKey",
                "an API key SID is SK followed by 32 hexadecimal digits",
            ));
        }
        if secret.expose().trim().is_empty() {
            let field = if key_sid.is_some() {
                "apiKeySecret"
            } else {
                "authToken"
            };
            return Err(Error::invalid(field, "is empty"));
        }
        Ok(Auth {
            account_sid: account_sid.to_owned(),
            key_sid: key_sid.map(str::to_owned),
            secret,
        })
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// What a refused credential was, for messages.
    fn what(&self) -> &'static str {
        if self.key_sid.is_some() {
            "API key SID or secret"
        } else {
            "auth token"
        }
    }
}

/// The account as the credential check reads it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AccountInfo {
    pub sid: String,
    #[serde(default)]
    pub friendly_name: String,
    /// active, suspended or closed.
    #[serde(default)]
    pub status: String,
}

/// One message to send. Either `from` or `messaging_service_sid` is
/// required; with both, Twilio sends from that number of the service.
#[derive(Debug, Clone, Default)]
pub struct Send {
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
}

/// A message as Twilio reports it (create, list).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Message {
    pub sid: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// Untrusted text; never logged.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    /// RFC 2822 dates, as Twilio writes them.
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_sent: Option<String>,
    #[serde(default)]
    pub num_segments: Option<String>,
    #[serde(default)]
    pub error_code: Option<u32>,
    #[serde(default)]
    pub error_message: Option<String>,
}

/// What the create call answered.
pub type Sent = Message;

/// Why a send did not return a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Refused before any call (no sender, bad body): field named.
    #[error("{0}")]
    Invalid(Error),
    /// Twilio surely did not act: no connection was made, or it refused
    /// before accepting (429). Safe to try again.
    #[error("not sent: {reason}")]
    NotSent {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Twilio refused the message (4xx), with its error code.
    #[error("{}", rejected_text(*.status, *.code, .message))]
    Rejected {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// The request went out and no usable answer came back: Twilio may
    /// have sent it. Never resend on its own.
    #[error("outcome unknown: {reason}")]
    Unknown { reason: String },
}

fn rejected_text(status: u16, code: Option<u32>, message: &str) -> String {
    match code {
        Some(code) => errors::explain(code, Some(message)),
        None => format!("Twilio refused the message (HTTP {status}): {message}"),
    }
}

/// The filters of a message listing. Twilio's dates have day precision and
/// are GMT; `sent_after`/`sent_before` include their day.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub to: Option<String>,
    pub from: Option<String>,
    pub sent_after: Option<jiff::civil::Date>,
    pub sent_before: Option<jiff::civil::Date>,
    /// Messages per page (Twilio: at most 1,000).
    pub page_size: u32,
    /// Pages followed at most.
    pub max_pages: u32,
}

impl ListQuery {
    /// The lookup of a send whose answer was lost: messages to `to` sent
    /// on the GMT days within `slack` of `at`.
    pub fn around(to: &str, at: jiff::Timestamp, slack: Duration) -> ListQuery {
        let slack = jiff::SignedDuration::try_from(slack).unwrap_or(jiff::SignedDuration::ZERO);
        let day =
            |t: Option<jiff::Timestamp>| t.map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
        ListQuery {
            to: Some(to.to_owned()),
            from: None,
            sent_after: day(at.checked_sub(slack).ok()),
            sent_before: day(at.checked_add(slack).ok()),
            page_size: 50,
            max_pages: 4,
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(to) = &self.to {
            q.push(("To", to.clone()));
        }
        if let Some(from) = &self.from {
            q.push(("From", from.clone()));
        }
        // Literal parameter names: `DateSent>` is on or after, `DateSent<` on or before.
        if let Some(d) = self.sent_after {
            q.push(("DateSent>", d.to_string()));
        }
        if let Some(d) = self.sent_before {
            q.push(("DateSent<", d.to_string()));
        }
        q.push(("PageSize", self.page_size.clamp(1, 1000).to_string()));
        q
    }
}

/// A downloaded MMS media file.
#[derive(Debug, Clone)]
pub struct Media {
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// The REST client of one Twilio account.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
    auth: Auth,
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioClient {
    /// `api_base`: `[twilio] api_base` (https://api.twilio.com).
    pub fn new(api_base: &str, auth: Auth) -> Result<TwilioClient, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal("cannot build the Twilio HTTP client", e))?;
        Ok(TwilioClient {
            http,
            base: api_base.trim_end_matches('/').to_owned(),
            auth,
        })
    }

    /// The same client with calls timing out after `timeout` (`[twilio]
    /// request_timeout`; 30 s by default): a send with no answer by then
    /// may have reached Twilio, so it becomes `unknown`.
    pub fn with_timeout(self, timeout: Duration) -> Result<TwilioClient, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::internal("cannot build the Twilio HTTP client", e))?;
        Ok(TwilioClient { http, ..self })
    }

    pub fn account_sid(&self) -> &str {
        &self.auth.account_sid
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/{API_VERSION}/Accounts/{}{tail}",
            self.base, self.auth.account_sid
        )
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let user = self
            .auth
            .key_sid
            .as_deref()
            .unwrap_or(&self.auth.account_sid);
        self.http
            .request(method, url)
            .basic_auth(user, Some(self.auth.secret.expose()))
    }

    /// A GET whose failure is an [`Error`] naming what was wrong.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T, Error> {
        let resp = self
            .request(reqwest::Method::GET, url)
            .query(query)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
        match status {
            200..=299 => serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    Code::UpstreamError,
                    format!("Twilio answered with an unexpected body: {e}"),
                )
            }),
            401 => Err(Error::invalid(
                if self.auth.key_sid.is_some() {
                    "apiKey"
                } else {
                    "authToken"
                },
                format!(
                    "Twilio refused the {} for account {} (HTTP 401)",
                    self.auth.what(),
                    self.auth.account_sid
                ),
            )),
            404 => Err(Error::invalid(
                "accountSid",
                format!(
                    "Twilio knows no account {} for these credentials (HTTP 404)",
                    self.auth.account_sid
                ),
            )),
            _ => Err(upstream(status, &body)),
        }
    }

    /// The credential check: the account exists, the credential is
    /// accepted and the account is active.
    pub async fn fetch_account(&self) -> Result<AccountInfo, Error> {
        let account: AccountInfo = self.get_json(&self.url(".json"), &[]).await?;
        if !account.status.is_empty() && account.status != "active" {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "the Twilio account {} is {}, so it cannot send",
                    account.sid, account.status
                ),
            )
            .with_details(serde_json::json!({ "field": "accountSid" })));
        }
        Ok(account)
    }

    /// Whether `number` is one of the account's phone numbers (a From
    /// that is not gets 21606 at every send).
    pub async fn check_from(&self, number: &str) -> Result<(), Error> {
        #[derive(Deserialize)]
        struct Numbers {
            #[serde(default)]
            incoming_phone_numbers: Vec<Number>,
        }
        #[derive(Deserialize)]
        struct Number {
            phone_number: Option<String>,
            capabilities: Option<Capabilities>,
        }
        #[derive(Deserialize)]
        struct Capabilities {
            sms: Option<bool>,
        }
        let numbers: Numbers = self
            .get_json(
                &self.url("/IncomingPhoneNumbers.json"),
                &[("PhoneNumber", number.to_owned())],
            )
            .await?;
        let Some(found) = numbers
            .incoming_phone_numbers
            .iter()
            .find(|n| n.phone_number.as_deref() == Some(number))
        else {
            return Err(Error::invalid(
                "from",
                format!(
                    "{number} is not a phone number of Twilio account {}; use one listed under Phone Numbers in the Twilio console, or a Messaging Service",
                    self.auth.account_sid
                ),
            ));
        };
        if found.capabilities.as_ref().and_then(|c| c.sms) == Some(false) {
            return Err(Error::invalid(
                "from",
                format!("{number} is a number of this Twilio account, but it cannot send SMS"),
            ));
        }
        Ok(())
    }

    /// Sends one message (`POST .../Messages.json`), once.
    pub async fn create_message(&self, send: &Send) -> Result<Sent, SendError> {
        let form = message_form(send).map_err(SendError::Invalid)?;
        let resp = self
            .request(reqwest::Method::POST, &self.url("/Messages.json"))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() || e.is_builder() {
                    SendError::NotSent {
                        reason: describe(&e),
                        retry_after: None,
                    }
                } else {
                    SendError::Unknown {
                        reason: describe(&e),
                    }
                }
            })?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.map_err(|e| SendError::Unknown {
            reason: describe(&e),
        })?;
        match status {
            200..=299 => serde_json::from_slice(&body).map_err(|e| SendError::Unknown {
                reason: format!("Twilio accepted the request but its answer is unreadable: {e}"),
            }),
            429 => Err(SendError::NotSent {
                reason: "Twilio is rate limiting this account (HTTP 429)".to_owned(),
                retry_after,
            }),
            400..=499 => {
                let parsed: Option<TwilioError> = serde_json::from_slice(&body).ok();
                let code = parsed.as_ref().and_then(|p| p.code);
                let code = code.or((status == 401).then_some(20003));
                let message = parsed
                    .and_then(|p| p.message)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                Err(SendError::Rejected {
                    status,
                    code,
                    message,
                })
            }
            _ => Err(SendError::Unknown {
                reason: format!("Twilio answered HTTP {status}; the message may have been sent"),
            }),
        }
    }

    /// Messages matching `query`, newest first as Twilio lists them,
    /// following at most `max_pages` pages.
    pub async fn list_messages(&self, query: &ListQuery) -> Result<Vec<Message>, Error> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            messages: Vec<Message>,
            next_page_uri: Option<String>,
        }
        let mut out = Vec::new();
        let mut page: Page = self
            .get_json(&self.url("/Messages.json"), &query.params())
            .await?;
        let mut pages = 1;
        loop {
            out.append(&mut page.messages);
            let next = match page.next_page_uri.take() {
                // A path on the same API, never another host.
                Some(uri) if uri.starts_with(&format!("/{API_VERSION}/")) => uri,
                _ => break,
            };
            if pages >= query.max_pages.max(1) {
                break;
            }
            page = self.get_json(&format!("{}{next}", self.base), &[]).await?;
            pages += 1;
        }
        Ok(out)
    }

    /// Downloads an MMS media URL of this API (Twilio redirects to its
    /// storage; credentials go only to the API's own origin), at most
    /// `max_bytes`.
    pub async fn download_media(&self, url: &str, max_bytes: u64) -> Result<Media, Error> {
        if !url.starts_with(&format!("{}/", self.base)) {
            return Err(Error::invalid(
                "mediaUrl",
                format!("{url} is not a media URL of {}", self.base),
            ));
        }
        let mut resp = self
            .request(reqwest::Method::GET, url)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        if !(200..=299).contains(&status) {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(upstream(status, &body));
        }
        let too_large = || {
            Error::new(
                Code::PayloadTooLarge,
                format!(
                    "the media file is larger than `twilio.media_max_bytes` ({max_bytes} bytes)"
                ),
            )
        };
        if resp.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(&e))? {
            if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media {
            content_type,
            bytes,
        })
    }
}

/// The form of a create call, checked locally first.
fn message_form(send: &Send) -> Result<Vec<(&'static str, String)>, Error> {
    let to = crate::outbox::validate::e164("to", &send.to)?;
    segments::validate_body(&send.body, !send.media_urls.is_empty())?;
    let from = send
        .from
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let service = send
        .messaging_service_sid
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if from.is_none() && service.is_none() {
        return Err(Error::invalid(
            "from",
            "an SMS needs a sender: a From number or a Messaging Service (MG...) (Twilio would refuse it with error 21603)",
        ));
    }
    if let Some(service) = service
        && !is_sid("MG", service)
    {
        return Err(Error::invalid(
            "messagingServiceSid",
            "a Messaging Service SID is MG followed by 32 hexadecimal digits",
        ));
    }
    let mut form = vec![("To", to)];
    if let Some(from) = from {
        form.push(("From", from.to_owned()));
    }
    if let Some(service) = service {
        form.push(("MessagingServiceSid", service.to_owned()));
    }
    if !send.body.is_empty() {
        form.push(("Body", send.body.clone()));
    }
    for url in &send.media_urls {
        form.push(("MediaUrl", url.clone()));
    }
    if let Some(callback) = &send.status_callback {
        form.push(("StatusCallback", callback.clone()));
    }
    Ok(form)
}

/// A transport failure, without the URL's query or any credential.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "cannot connect to Twilio"
    } else if e.is_timeout() {
        "Twilio did not answer in time"
    } else {
        "the connection to Twilio failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

fn unreachable(e: &reqwest::Error) -> Error {
    Error::new(Code::UpstreamUnavailable, describe(e))
}

fn upstream(status: u16, body: &[u8]) -> Error {
    let parsed: Option<TwilioError> = serde_json::from_slice(body).ok();
    let message = match parsed {
        Some(TwilioError {
            code: Some(code),
            message,
        }) => errors::explain(code, message.as_deref()),
        Some(TwilioError {
            message: Some(m), ..
        }) => format!("Twilio answered HTTP {status}: {m}"),
        _ => format!("Twilio answered HTTP {status}"),
    };
    let code = if status >= 500 || status == 429 {
        Code::UpstreamUnavailable
    } else {
        Code::UpstreamError
    };
    Error::new(code, message).with_details(serde_json::json!({ "status": status }))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
