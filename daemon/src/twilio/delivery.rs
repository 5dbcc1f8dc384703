//! What happened to the messages commsd handed to Twilio: the `sms_sent`
//! rows (MessageSid ↔ outbox item) and the status callbacks that move them
//! `queued → sending → sent → delivered` (or `undelivered` / `failed` with
//! Twilio's error code, explained). Callbacks arrive out of order and more
//! than once: a status never moves back, and a final one is kept.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::accounts::by_account_sid;
use super::errors;
use super::optouts::OptOuts;
use crate::accounts::Accounts;
use crate::error::{Error, Result};
use crate::events::now_unix_ms;
use crate::outbox::service::{DeliveryNews, Outbox};

/// A status callback's parameters (already verified by the webhook).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub message_status: String,
    pub error_code: Option<u32>,
    pub account_sid: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub messaging_service_sid: Option<String>,
}

impl StatusCallback {
    /// From the form Twilio posted (`MessageSid`, `MessageStatus`, ...);
    /// a missing required parameter is named.
    pub fn from_params(params: &[(String, String)]) -> Result<StatusCallback> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let need = |k: &str| get(k).ok_or_else(|| Error::invalid(k, "is missing"));
        let error_code = match get("ErrorCode") {
            None => None,
            Some(c) => Some(
                c.parse::<u32>()
                    .map_err(|_| Error::invalid("ErrorCode", "is not a number"))?,
            ),
        };
        Ok(StatusCallback {
            message_sid: need("MessageSid")?,
            message_status: need("MessageStatus")?.to_ascii_lowercase(),
            error_code,
            account_sid: need("AccountSid")?,
            from: get("From"),
            to: get("To"),
            messaging_service_sid: get("MessagingServiceSid"),
        })
    }
}

/// How far along a status is; a final status has rank 3 or more.
fn rank(status: &str) -> u8 {
    match status {
        "accepted" | "scheduled" | "queued" => 0,
        "sending" => 1,
        "sent" => 2,
        "delivered" | "undelivered" | "failed" | "canceled" | "partially_delivered" => 3,
        "read" => 4,
        _ => 0,
    }
}

/// Whether `new` replaces `current`: only forwards, and a final status
/// stays (but for `read`, which follows `delivered`).
pub fn advances(current: &str, new: &str) -> bool {
    let (c, n) = (rank(current), rank(new));
    if c >= 3 {
        return current == "delivered" && new == "read";
    }
    n > c
}

/// The item's delivery detail for a status.
pub fn describe(sid: &str, status: &str, error_code: Option<u32>) -> String {
    match error_code {
        Some(code) if rank(status) >= 3 && status != "delivered" && status != "read" => {
            format!("Twilio {sid}: {status} ({})", errors::explain(code, None))
        }
        _ => format!("Twilio {sid}: {status}"),
    }
}

/// What `apply_status` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The status moved forward; the item (if known) shows it.
    Updated { item_id: Option<String> },
    /// Older or repeated news: nothing changed.
    Ignored,
}

/// The sent messages and their delivery.
pub struct Deliveries {
    outbox: Arc<Outbox>,
    accounts: Arc<Accounts>,
    optouts: OptOuts,
}

impl Deliveries {
    pub fn new(outbox: Arc<Outbox>, accounts: Arc<Accounts>, optouts: OptOuts) -> Deliveries {
        Deliveries {
            outbox,
            accounts,
            optouts,
        }
    }

    /// Records a message Twilio accepted for `item_id`. Returns its status:
    /// `status`, or the further one a callback already reported.
    pub async fn record_sent(
        &self,
        item_id: &str,
        account_id: &str,
        sender: &str,
        recipient: &str,
        sid: &str,
        status: &str,
    ) -> Result<String> {
        let (item_id, account_id, sender, recipient, sid, status) = (
            item_id.to_owned(),
            account_id.to_owned(),
            sender.to_owned(),
            recipient.to_owned(),
            sid.to_owned(),
            status.to_ascii_lowercase(),
        );
        let effective = self
            .outbox
            .store()
            .write(move |conn| {
                let now = now_unix_ms();
                let current: Option<String> = conn
                    .query_row(
                        "SELECT status FROM sms_sent WHERE message_sid = ?1",
                        params![sid],
                        |r| r.get(0),
                    )
                    .optional()?;
                let effective = match current {
                    Some(c) if !advances(&c, &status) => c,
                    _ => status,
                };
                conn.execute(
                    "INSERT INTO sms_sent (message_sid, item_id, account_id, sender, recipient, status, created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (message_sid) DO UPDATE SET item_id = excluded.item_id,
                       account_id = excluded.account_id, sender = excluded.sender,
                       recipient = excluded.recipient, status = excluded.status, updated_at_ms = excluded.updated_at_ms",
                    params![sid, item_id, account_id, sender, recipient, effective, now],
                )?;
                Ok::<_, crate::store::StoreError>(effective)
            })
            .await?;
        Ok(effective)
    }

    /// A verified status callback: the message's status moves forward (never
    /// back), the item's delivery shows it, and error 21610 marks the pair
    /// opted out.
    pub async fn apply_status(&self, callback: StatusCallback) -> Result<Applied> {
        let account = by_account_sid(&self.accounts, &callback.account_sid).ok_or_else(|| {
            Error::invalid(
                "AccountSid",
                format!(
                    "{} is the Account SID of no Twilio account here",
                    callback.account_sid
                ),
            )
        })?;
        let cb = callback.clone();
        let account_id = account.id.clone();
        let outcome: Arc<std::sync::Mutex<Option<Outcome>>> = Arc::default();
        let out = outcome.clone();
        self.outbox
            .note_delivery(move |conn| {
                let now = now_unix_ms();
                let row: Option<(Option<String>, String, String, String)> = conn
                    .query_row(
                        "SELECT item_id, status, sender, recipient FROM sms_sent WHERE message_sid = ?1",
                        params![cb.message_sid],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )
                    .optional()?;
                let sender = cb
                    .messaging_service_sid
                    .clone()
                    .or_else(|| cb.from.clone())
                    .unwrap_or_default();
                let recipient = cb.to.clone().unwrap_or_default();
                let Some((item_id, current, sent_by, sent_to)) = row else {
                    // Before Twilio's answer to the send was recorded.
                    conn.execute(
                        "INSERT INTO sms_sent (message_sid, item_id, account_id, sender, recipient, status, error_code, created_at_ms, updated_at_ms)
                         VALUES (?1, NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                        params![cb.message_sid, account_id, sender, recipient, cb.message_status, cb.error_code, now],
                    )?;
                    *lock(&out) = Some((Applied::Updated { item_id: None }, Some((sender, recipient))));
                    return Ok(None);
                };
                if !advances(&current, &cb.message_status) {
                    *lock(&out) = Some((Applied::Ignored, Some((sent_by, sent_to))));
                    return Ok(None);
                }
                conn.execute(
                    "UPDATE sms_sent SET status = ?2, error_code = ?3, updated_at_ms = ?4 WHERE message_sid = ?1",
                    params![cb.message_sid, cb.message_status, cb.error_code, now],
                )?;
                *lock(&out) = Some((
                    Applied::Updated { item_id: item_id.clone() },
                    Some((sent_by, sent_to)),
                ));
                let detail = describe(&cb.message_sid, &cb.message_status, cb.error_code);
                Ok(item_id.map(|item_id| DeliveryNews {
                    item_id,
                    note: detail.clone(),
                    detail,
                    actor: "twilio".to_owned(),
                }))
            })
            .await?;
        let (applied, pair) = lock(&outcome).take().unwrap_or((Applied::Ignored, None));
        if callback.error_code == Some(21610)
            && let Some((sender, number)) = pair
            && !sender.is_empty()
            && !number.is_empty()
        {
            self.optouts
                .record_refusal(&account.id, &sender, &number)
                .await?;
        }
        Ok(applied)
    }
}

/// What the write found: the result and the (sender, number) pair.
type Outcome = (Applied, Option<(String, String)>);

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward_and_final_ones_stay() {
        assert!(advances("queued", "sent"));
        assert!(advances("sent", "delivered"));
        assert!(advances("queued", "failed"));
        assert!(!advances("sent", "queued"));
        assert!(!advances("delivered", "sent"));
        assert!(!advances("delivered", "undelivered"));
        assert!(!advances("undelivered", "delivered"));
        assert!(!advances("sent", "sent"));
        assert!(advances("delivered", "read"));
    }

    #[test]
    fn callbacks_name_what_is_missing() {
        let p = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let ok = StatusCallback::from_params(&p(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "Undelivered"),
            ("ErrorCode", "30003"),
            ("AccountSid", "AC1"),
        ]))
        .unwrap();
        assert_eq!(ok.message_status, "undelivered");
        assert_eq!(ok.error_code, Some(30003));
        let e = StatusCallback::from_params(&p(&[("MessageSid", "SM1"), ("AccountSid", "AC1")]))
            .unwrap_err();
        assert_eq!(e.details["field"], "MessageStatus");
        let d = describe("SM1", "undelivered", Some(30003));
        assert!(
            d.starts_with("Twilio SM1: undelivered (") && d.contains("30003"),
            "{d}"
        );
        assert_eq!(describe("SM1", "delivered", None), "Twilio SM1: delivered");
    }
}
