//! The outbox transport of SMS items of Twilio accounts: `POST
//! Messages.json` once, with the status callback on the webhook listener's
//! public URL. A send is repeated only when Twilio surely did not act (no
//! connection, 429); a lost answer leaves the item `unknown`, and before a
//! human approves it again the message is looked up on Twilio (by To and
//! the days around the send): if it went, the approval is refused and says
//! so. Opted-out pairs are refused before any call, at staging, approval
//! and dispatch.

use std::sync::Arc;
use std::time::Duration;

use super::accounts::{TwilioSettings, client};
use super::client::{ListQuery, Message, Send, SendError};
use super::config::{SmsConfig, TwilioConfig};
use super::delivery::Deliveries;
use super::optouts::{OptOuts, opted_out_error};
use super::segments;
use crate::accounts::{Account, Accounts};
use crate::error::{Code, Error, Result};
use crate::outbox::item::Item;
use crate::outbox::model::{Content, SmsContent, State};
use crate::outbox::transport::{DeliveryError, Transport};
use crate::vault::Vault;

/// Attempts of a send Twilio surely did not act on (refused connection, 429).
const ATTEMPTS: u32 = 3;
/// The longest wait between them, whatever `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(10);

pub struct TwilioTransport {
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) vault: Vault,
    pub(crate) config: TwilioConfig,
    pub(crate) sms: SmsConfig,
    pub(crate) optouts: OptOuts,
    pub(crate) deliveries: Arc<Deliveries>,
    pub(crate) quiet: Arc<super::quiet::Quiet>,
}

/// The senders whose opt-outs cover a message of this account.
fn senders(settings: &TwilioSettings) -> Vec<String> {
    settings
        .messaging_service_sid
        .iter()
        .chain(settings.from.iter())
        .cloned()
        .collect()
}

fn sms_of(item: &Item) -> Option<&SmsContent> {
    match &item.content {
        Content::Sms(sms) => Some(sms),
        _ => None,
    }
}

impl TwilioTransport {
    /// `<public_url>/webhooks/twilio/status`, when a public URL is set.
    fn status_callback(&self) -> Option<String> {
        self.config
            .public_url
            .as_deref()
            .map(|u| format!("{}/webhooks/twilio/status", u.trim_end_matches('/')))
    }

    async fn send(
        &self,
        item: &Item,
        sms: &SmsContent,
    ) -> std::result::Result<String, DeliveryError> {
        let failed = |e: Error| DeliveryError::Failed(e.message);
        let account = self
            .accounts
            .resolve(Some(&item.account))
            .map_err(DeliveryError::before_handover)?;
        let (twilio, settings) = client(
            &self.vault,
            &self.config.api_base,
            self.config.request_timeout,
            &account,
        )
        .await
        .map_err(DeliveryError::before_handover)?;
        self.optouts
            .check(&account.id, &senders(&settings), &sms.to)
            .await
            .map_err(failed)?;
        let send = Send {
            to: sms.to.clone(),
            from: settings.from.clone(),
            messaging_service_sid: settings.messaging_service_sid.clone(),
            body: sms.body.clone(),
            media_urls: Vec::new(),
            status_callback: self.status_callback(),
        };
        let mut attempt = 1;
        let sent = loop {
            match twilio.create_message(&send).await {
                Ok(sent) => break sent,
                Err(SendError::NotSent {
                    reason,
                    retry_after,
                }) => {
                    if attempt >= ATTEMPTS {
                        return Err(DeliveryError::Failed(format!(
                            "not sent after {ATTEMPTS} attempts: {reason}"
                        )));
                    }
                    let wait = retry_after
                        .unwrap_or(Duration::from_secs(u64::from(attempt)))
                        .min(MAX_WAIT);
                    tracing::info!(item = %item.id, attempt, wait_ms = wait.as_millis() as u64, "Twilio did not take the SMS; trying again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(SendError::Rejected {
                    code: Some(21610), ..
                }) => {
                    let sender = settings.sender().to_owned();
                    if let Err(e) = self
                        .optouts
                        .record_refusal(&account.id, &sender, &sms.to)
                        .await
                    {
                        tracing::warn!(item = %item.id, error = %e.message, "cannot record the opt-out Twilio reported");
                    }
                    return Err(DeliveryError::Failed(super::errors::explain(21610, None)));
                }
                Err(e @ (SendError::Rejected { .. } | SendError::Invalid(_))) => {
                    return Err(DeliveryError::Failed(e.to_string()));
                }
                Err(SendError::Unknown { reason }) => {
                    return Err(DeliveryError::Unknown(format!(
                        "{reason}. Twilio may have sent it; before it is approved again, commsd looks it up on Twilio"
                    )));
                }
            }
        };
        let status = self
            .deliveries
            .record_sent(&item.id, &account.id, settings.sender(), &sms.to, &sent.sid, &sent.status)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(item = %item.id, error = %e.message, "cannot record the sent SMS; its status callbacks will not reach the item");
                sent.status.clone()
            });
        Ok(super::delivery::describe(&sent.sid, &status, None))
    }

    /// Whether an `unknown` item's message is on Twilio: it went when a
    /// message to the same number with the same text was created around
    /// the send.
    async fn lookup(&self, item: &Item, sms: &SmsContent) -> Result<Option<Message>> {
        let account = self.accounts.resolve(Some(&item.account))?;
        let (twilio, _) = client(
            &self.vault,
            &self.config.api_base,
            self.config.request_timeout,
            &account,
        )
        .await?;
        let at_ms = item.dispatched_at_ms.unwrap_or(item.updated_at_ms);
        let at =
            jiff::Timestamp::from_millisecond(at_ms).unwrap_or_else(|_| jiff::Timestamp::now());
        let query = ListQuery::around(&sms.to, at, Duration::from_secs(3600));
        let messages = twilio.list_messages(&query).await?;
        Ok(messages.into_iter().find(|m| {
            m.to == sms.to
                && m.direction
                    .as_deref()
                    .is_none_or(|d| d.starts_with("outbound"))
                && m.body.as_deref() == Some(sms.body.as_str())
        }))
    }
}

#[async_trait::async_trait]
impl Transport for TwilioTransport {
    async fn deliver(&self, item: &Item) -> std::result::Result<String, DeliveryError> {
        match sms_of(item) {
            Some(sms) => self.send(item, sms).await,
            None => Err(DeliveryError::Failed(format!(
                "Twilio accounts send SMS only, not {}",
                item.channel.as_str()
            ))),
        }
    }

    /// At staging: the body's limit (1,600 characters), smart quotes
    /// replaced when `[sms] replace_smart_quotes`, and no opted-out pair.
    async fn prepare(&self, account: &Account, content: Content) -> Result<Content> {
        let Content::Sms(mut sms) = content else {
            return Ok(content);
        };
        if self.sms.replace_smart_quotes {
            sms.body = segments::replace_smart(&sms.body);
        }
        segments::validate_body(&sms.body, false)?;
        let settings = TwilioSettings::of(account)?;
        self.optouts
            .check(&account.id, &senders(&settings), &sms.to)
            .await?;
        Ok(Content::Sms(sms))
    }

    /// In quiet hours an approved SMS waits until they end, unless a
    /// human overrode them for it.
    async fn hold_until(&self, item: &Item, now_ms: i64) -> Option<(i64, String)> {
        sms_of(item)?;
        self.quiet.hold(item, now_ms).await
    }

    /// Before a human approves: no opted-out pair, and an `unknown` SMS is
    /// looked up on Twilio first.
    async fn before_approval(&self, item: &Item) -> Result<Option<String>> {
        let Some(sms) = sms_of(item) else {
            return Ok(None);
        };
        if !matches!(
            item.state,
            State::Draft | State::PendingApproval | State::Unknown
        ) {
            return Ok(None);
        }
        let account = self.accounts.resolve(Some(&item.account))?;
        let settings = TwilioSettings::of(&account)?;
        if let Some(o) = self
            .optouts
            .find(&account.id, &senders(&settings), &sms.to)
            .await?
        {
            return Err(opted_out_error(&o));
        }
        if item.state != State::Unknown {
            return Ok(None);
        }
        match self.lookup(item, sms).await {
            Ok(Some(found)) => {
                // It went: link it, so its status callbacks reach the item.
                let _ = self
                    .deliveries
                    .record_sent(&item.id, &account.id, settings.sender(), &sms.to, &found.sid, &found.status)
                    .await;
                Err(Error::new(
                    Code::FailedPrecondition,
                    format!(
                        "item {} was sent: Twilio has message {} to {} with this text (status {}, created {}). Approving it would send it a second time, so it was not approved; cancel the item instead.",
                        item.id,
                        found.sid,
                        found.to,
                        found.status,
                        found.date_created.as_deref().unwrap_or("at an unknown time")
                    ),
                )
                .with_details(serde_json::json!({
                    "itemId": item.id,
                    "messageSid": found.sid,
                    "status": found.status,
                })))
            }
            Ok(None) => Ok(Some(format!(
                "Twilio lookup: no message to {} with this text around the send, so it did not go",
                sms.to
            ))),
            Err(e) => Err(Error::new(
                e.code,
                format!(
                    "cannot check with Twilio whether item {} went ({}); it was not approved, so it cannot be sent twice. Try again once Twilio answers.",
                    item.id, e.message
                ),
            )
            .with_details(serde_json::json!({ "itemId": item.id }))),
        }
    }
}
