//! `POST /webhooks/twilio/sms` and `POST /webhooks/twilio/status` on the
//! webhook listener, the one port a user exposes through a tunnel.
//!
//! Every request is checked before anything is stored: the `AccountSid` it
//! names must be a commsd Twilio account with an auth token in the vault,
//! and its `X-Twilio-Signature` must match (`signature::verify`, constant
//! time, over every parameter received; the JSON-body variant too) the URL
//! Twilio called: `[twilio] public_url` + the request target, or, when the
//! peer is one of `[twilio] trusted_proxies`, the URL its
//! `X-Forwarded-Proto`/`X-Forwarded-Host` (and `X-Forwarded-Prefix`) name.
//! Nobody else's forwarded headers are read. A refused request is answered
//! 403, logged (the reason, never a token or a parameter value) and
//! audited (`twilio_webhook_refused`), and stores nothing.
//!
//! An inbound message is committed before the 200 (`inbound::Inbound`);
//! its keyword (STOP, START, HELP; `OptOutType` first) goes to the opt-out
//! register, its media are downloaded afterwards (`media::MediaSaver`).
//! A status callback goes to the delivery tracker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::TwilioConfig;
use super::inbound::{Direction, Inbound, MediaRef, NewMessage, Source, Stored};
use super::keywords::{self, Keyword};
use super::media::MediaSaver;
use super::signature::{self, Refusal, Verified};
use crate::audit;
use crate::error::Result;
use crate::events::{Bus, Event};
use crate::store::Store;
use crate::vault::Secret;

/// Webhook bodies are small (an MMS with ten media is a few KB).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// What the SMS webhook answers: TwiML that sends no reply.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// What the vault has for an AccountSid.
pub enum TokenLookup {
    /// The commsd account with this AccountSid and its auth token.
    Found { account_id: String, token: Secret },
    /// No commsd Twilio account has this AccountSid.
    UnknownAccount,
    /// The account exists but no auth token is stored (e.g. it signs in
    /// with an API key): its webhooks cannot be verified.
    NoToken { account_id: String },
}

/// The auth token of an AccountSid, the key of every signature.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync {
    async fn token(&self, account_sid: &str) -> Result<TokenLookup>;
}

/// A status callback's parameters (`StatusCallback` of a send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusParams {
    pub account_id: String,
    pub account_sid: String,
    pub message_sid: String,
    pub message_status: String,
    pub error_code: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Where verified status callbacks go (the delivery tracker).
#[async_trait::async_trait]
pub trait StatusSink: Send + Sync {
    async fn apply_status(&self, status: StatusParams) -> Result<()>;
}

/// Where keywords of inbound messages go (the opt-out register). `sender`
/// is our side: the Messaging Service SID when Twilio names one, else our
/// number.
#[async_trait::async_trait]
pub trait KeywordSink: Send + Sync {
    async fn record_keyword(
        &self,
        account_id: &str,
        sender: &str,
        their_number: &str,
        keyword: Keyword,
        opt_out_type: Option<&str>,
    ) -> Result<()>;
}

/// Webhook counters, for status.
#[derive(Debug, Default)]
pub struct WebhookCounts {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
}

/// What the handlers share.
pub struct Webhooks {
    pub config: TwilioConfig,
    pub tokens: Arc<dyn TokenSource>,
    pub inbound: Arc<Inbound>,
    pub keywords: Arc<dyn KeywordSink>,
    pub status: Arc<dyn StatusSink>,
    pub media: Option<Arc<MediaSaver>>,
    pub store: Store,
    pub bus: Arc<Bus>,
    pub counts: WebhookCounts,
}

/// The routes, for `Registry::webhooks`.
pub fn router(state: Arc<Webhooks>) -> axum::Router {
    axum::Router::new()
        .route("/webhooks/twilio/sms", post(sms))
        .route("/webhooks/twilio/status", post(status))
        .with_state(state)
}

/// A refusal: what to log and audit.
struct Refused {
    reason: String,
    account_id: Option<String>,
}

impl Refused {
    fn new(reason: impl Into<String>) -> Refused {
        Refused {
            reason: reason.into(),
            account_id: None,
        }
    }
}

/// A request that passed: its account and parameters.
struct Checked {
    account_id: String,
    params: Vec<(String, String)>,
}

impl Checked {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

async fn sms(State(hooks): State<Arc<Webhooks>>, request: Request) -> Response {
    let checked = match hooks.check("sms", request).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    match hooks.receive(&checked).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            EMPTY_TWIML,
        )
            .into_response(),
        Err(response) => response,
    }
}

async fn status(State(hooks): State<Arc<Webhooks>>, request: Request) -> Response {
    let checked = match hooks.check("status", request).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let (Some(message_sid), Some(message_status)) = (
        checked.get("MessageSid").or(checked.get("SmsSid")),
        checked.get("MessageStatus").or(checked.get("SmsStatus")),
    ) else {
        return bad_request("a status callback needs MessageSid and MessageStatus");
    };
    let params = StatusParams {
        account_id: checked.account_id.clone(),
        account_sid: checked.get("AccountSid").unwrap_or_default().to_owned(),
        message_sid: message_sid.to_owned(),
        message_status: message_status.to_ascii_lowercase(),
        error_code: checked.get("ErrorCode").map(str::to_owned),
        from: checked.get("From").map(str::to_owned),
        to: checked.get("To").map(str::to_owned),
    };
    match hooks.status.apply_status(params).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::error!(account = %checked.account_id, error = %e, "a Twilio status callback could not be applied; Twilio will retry");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn bad_request(why: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, why).into_response()
}

impl Webhooks {
    /// Verifies `request`; a refusal is logged, audited and answered.
    async fn check(&self, route: &'static str, request: Request) -> Result<Checked, Response> {
        let (parts, body) = request.into_parts();
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return Err(StatusCode::PAYLOAD_TOO_LARGE.into_response());
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or(parts.uri.path(), |p| p.as_str());
        match self
            .verify(path_and_query, &parts.headers, &body, peer)
            .await
        {
            Ok(checked) => {
                self.counts.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(checked)
            }
            Err(refused) => {
                self.counts.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    route,
                    peer = ?peer,
                    account = refused.account_id.as_deref().unwrap_or("-"),
                    reason = %refused.reason,
                    "refused a Twilio webhook"
                );
                self.audit_refusal(route, refused).await;
                Err((
                    StatusCode::FORBIDDEN,
                    "the request's Twilio signature was not accepted\n",
                )
                    .into_response())
            }
        }
    }

    async fn verify(
        &self,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        peer: Option<SocketAddr>,
    ) -> Result<Checked, Refused> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let content_type = text(header::CONTENT_TYPE.as_str());
        let is_form = content_type.is_none_or(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        // Read only to find the key; nothing is used before it is verified.
        let claimed = if is_form {
            form_params(body)
        } else {
            json_params(body)
                .ok_or_else(|| Refused::new("the body is neither a form nor a JSON object"))?
        };
        let account_sid = claimed
            .iter()
            .find(|(k, _)| k == "AccountSid")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| Refused::new("no AccountSid parameter"))?;
        if !super::client::is_sid("AC", &account_sid) {
            return Err(Refused::new(
                "the AccountSid parameter is not an Account SID",
            ));
        }
        let lookup = self.tokens.token(&account_sid).await.map_err(|e| {
            Refused::new(format!("the auth token could not be read: {}", e.message))
        })?;
        let (account_id, token) = match lookup {
            TokenLookup::Found { account_id, token } => (account_id, token),
            TokenLookup::UnknownAccount => {
                return Err(Refused::new(format!(
                    "no commsd account has AccountSid {account_sid} (add it: commsctl accounts add twilio)"
                )));
            }
            TokenLookup::NoToken { account_id } => {
                return Err(Refused {
                    reason: format!(
                        "account {account_id} has no auth token in the vault, so its webhooks cannot be verified; every webhook is refused until one is stored"
                    ),
                    account_id: Some(account_id),
                });
            }
        };
        let urls = self.signed_bases(headers, peer);
        if urls.is_empty() {
            return Err(Refused {
                reason: "`twilio.public_url` is not set, so no webhook can be verified: set it to the URL Twilio calls (e.g. the tunnel's https URL)".to_owned(),
                account_id: Some(account_id),
            });
        }
        let request = signature::Request {
            path_and_query,
            content_type,
            body,
            signature: text(signature::HEADER),
            signature_settings: text(signature::SETTINGS_HEADER),
        };
        let mut last = Refusal::MissingSignature;
        for base in &urls {
            match signature::verify(token.expose().as_bytes(), base, &request) {
                Ok(Verified::Form(params)) => return Ok(Checked { account_id, params }),
                Ok(Verified::Json) => {
                    return Ok(Checked {
                        account_id,
                        params: claimed,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(Refused {
            reason: last.to_string(),
            account_id: Some(account_id),
        })
    }

    /// The URLs Twilio may have called for the listener's root.
    fn signed_bases(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Vec<String> {
        let mut bases: Vec<String> = self.config.public_url.iter().cloned().collect();
        if let Some(peer) = peer
            && self.config.is_trusted_proxy(peer.ip())
            && let Some(forwarded) = forwarded_base(headers)
            && !bases.contains(&forwarded)
        {
            bases.push(forwarded);
        }
        bases
    }

    /// Stores a verified inbound message (once), records its keyword,
    /// starts its media downloads.
    async fn receive(&self, checked: &Checked) -> Result<(), Response> {
        let message = match inbound_message(checked) {
            Ok(m) => m,
            Err(why) => return Err(bad_request(why)),
        };
        let keyword = message.keyword;
        let (account, sender, their) = (
            message.account_id.clone(),
            message
                .messaging_service_sid
                .clone()
                .unwrap_or_else(|| message.our_number.clone()),
            message.their_number.clone(),
        );
        let media_count = message.media.len();
        let stored = self.inbound.store(message).await.map_err(|e| {
            tracing::error!(account = %checked.account_id, error = %e, "an inbound SMS could not be stored; Twilio will retry");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })?;
        // A redelivery records its keyword again: recording is idempotent,
        // and the first delivery may have failed right here.
        if let Some(keyword) = keyword {
            let opt_out_type = checked.get("OptOutType");
            if let Err(e) = self
                .keywords
                .record_keyword(&account, &sender, &their, keyword, opt_out_type)
                .await
            {
                tracing::error!(account = %account, error = %e, "an opt-out keyword could not be recorded; Twilio will retry");
                return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
        }
        if stored == Stored::New
            && media_count > 0
            && let Some(saver) = self.media.clone()
        {
            let sid = checked
                .get("MessageSid")
                .or(checked.get("SmsSid"))
                .unwrap_or_default()
                .to_owned();
            tokio::spawn(async move {
                if let Err(e) = saver.fetch_message(&sid).await {
                    tracing::warn!(error = %e, "MMS media downloads were not recorded");
                }
            });
        }
        Ok(())
    }

    async fn audit_refusal(&self, route: &str, refused: Refused) {
        let entry = audit::Entry {
            actor: "twilio".to_owned(),
            action: "twilio_webhook_refused".to_owned(),
            account: refused.account_id,
            channel: Some("sms".to_owned()),
            result: Some(format!("/webhooks/twilio/{route}: {}", refused.reason)),
            ..audit::Entry::default()
        };
        let bus = self.bus.clone();
        let written = self
            .store
            .write_then(
                move |conn| audit::append(conn, entry),
                move |event| {
                    bus.publish(Event::AuditAppended {
                        seq: event.seq,
                        action: event.action,
                        item_id: None,
                    });
                },
            )
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "a refused Twilio webhook could not be audited");
        }
    }
}

/// `proto://host[prefix]` from a trusted proxy's forwarded headers.
fn forwarded_base(headers: &HeaderMap) -> Option<String> {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let proto = first("x-forwarded-proto")?.to_ascii_lowercase();
    let host = first("x-forwarded-host")?;
    if !matches!(proto.as_str(), "http" | "https") || host.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let prefix = first("x-forwarded-prefix")
        .filter(|p| p.starts_with('/'))
        .unwrap_or("");
    Some(format!("{proto}://{host}{}", prefix.trim_end_matches('/')))
}

fn form_params(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A flat JSON object's strings and numbers as parameters.
fn json_params(body: &[u8]) -> Option<Vec<(String, String)>> {
    let serde_json::Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    Some(
        map.into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                serde_json::Value::Bool(b) => Some((k, b.to_string())),
                _ => None,
            })
            .collect(),
    )
}

/// One line of at most 64 characters: a number, a short code or an
/// alphanumeric sender, as Twilio gives them.
fn address(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    (!v.is_empty() && v.len() <= 64 && !v.chars().any(char::is_control)).then(|| v.to_owned())
}

/// The message a verified inbound webhook carries.
fn inbound_message(c: &Checked) -> Result<NewMessage, &'static str> {
    let sid = c
        .get("MessageSid")
        .or(c.get("SmsSid"))
        .ok_or("an inbound message needs a MessageSid")?;
    if !(super::client::is_sid("SM", sid) || super::client::is_sid("MM", sid)) {
        return Err("MessageSid is not a message SID (SM or MM and 32 hexadecimal digits)");
    }
    let from = address(c.get("From")).ok_or("an inbound message needs From")?;
    let to = address(c.get("To")).ok_or("an inbound message needs To")?;
    let body = c.get("Body").unwrap_or_default().to_owned();
    let num_media: usize = c
        .get("NumMedia")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
        .min(10);
    let media = (0..num_media)
        .filter_map(|i| {
            Some(MediaRef {
                url: c.get(&format!("MediaUrl{i}"))?.to_owned(),
                content_type: c.get(&format!("MediaContentType{i}")).map(str::to_owned),
            })
        })
        .collect();
    Ok(NewMessage {
        message_sid: sid.to_owned(),
        account_id: c.account_id.clone(),
        direction: Direction::Inbound,
        our_number: to,
        their_number: from,
        keyword: keywords::classify(&body, c.get("OptOutType")),
        body,
        messaging_service_sid: c.get("MessagingServiceSid").map(str::to_owned),
        media,
        source: Source::Webhook,
        received_at_ms: crate::events::now_unix_ms(),
    })
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
