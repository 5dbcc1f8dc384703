//! Opt-outs: who asked not to get messages from one of our senders (a
//! number, or a Messaging Service, whose opt-outs cover all its numbers).
//!
//! Recorded from inbound keywords (STOP, START; HELP is only audited), and
//! from Twilio's error 21610 at a send or in a status callback. Staging and
//! approving an SMS to an opted-out pair is refused before any call to
//! Twilio; other senders, accounts and channels are unaffected. Removing an
//! opt-out by hand needs `admin` and a reason, and is audited.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::keywords::Keyword;
use crate::audit;
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::store::{Store, StoreError};

/// One opted-out pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOut {
    pub account_id: String,
    /// Our number or Messaging Service SID.
    pub sender: String,
    /// Their number (E.164).
    pub number: String,
    /// What opted them out: `keyword STOP`, `OptOutType STOP`, `error 21610`.
    pub source: String,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Clone)]
pub struct OptOuts {
    store: Store,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<OptOut> {
    Ok(OptOut {
        account_id: r.get(0)?,
        sender: r.get(1)?,
        number: r.get(2)?,
        source: r.get(3)?,
        updated_at: crate::outbox::item::rfc3339(r.get(4)?),
    })
}

const COLUMNS: &str = "account_id, sender, number, source, updated_at_ms";

fn entry(actor: &str, action: &str, account: &str, number: &str, result: String) -> audit::Entry {
    audit::Entry {
        actor: actor.to_owned(),
        action: action.to_owned(),
        account: Some(account.to_owned()),
        channel: Some("sms".to_owned()),
        recipients: vec![number.to_owned()],
        result: Some(result),
        ..audit::Entry::default()
    }
}

impl OptOuts {
    pub fn new(store: Store) -> OptOuts {
        OptOuts { store }
    }

    /// Sets the pair's state (`opted_out`) from `source`, audited as `actor`.
    async fn set(
        &self,
        actor: &str,
        account: &str,
        sender: &str,
        number: &str,
        opted_out: bool,
        source: String,
    ) -> Result<()> {
        let (actor, account, sender, number) = (
            actor.to_owned(),
            account.to_owned(),
            sender.to_owned(),
            number.to_owned(),
        );
        self.store
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO sms_optouts (account_id, sender, number, opted_out, source, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (account_id, sender, number) DO UPDATE SET
                       opted_out = excluded.opted_out, source = excluded.source, updated_at_ms = excluded.updated_at_ms",
                    params![account, sender, number, i64::from(opted_out), source, now_unix_ms()],
                )?;
                let action = if opted_out { "sms_opted_out" } else { "sms_opted_in" };
                audit::append(
                    conn,
                    entry(&actor, action, &account, &number, format!("{source} (sender {sender})")),
                )?;
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    /// An inbound keyword from `their_number` to `our_sender` (the number
    /// it was sent to, or the Messaging Service it belongs to). STOP opts
    /// out, START opts back in, HELP is audited. `opt_out_type` is Twilio's
    /// `OptOutType` when it sent one (it decided `keyword` then).
    pub async fn record_keyword(
        &self,
        account: &str,
        our_sender: &str,
        their_number: &str,
        keyword: Keyword,
        opt_out_type: Option<&str>,
    ) -> Result<()> {
        let source = match opt_out_type {
            Some(t) => format!("OptOutType {}", t.trim().to_ascii_uppercase()),
            None => format!("keyword {keyword:?}"),
        };
        match keyword {
            Keyword::OptOut => {
                self.set("twilio", account, our_sender, their_number, true, source)
                    .await
            }
            Keyword::OptIn => {
                self.set("twilio", account, our_sender, their_number, false, source)
                    .await
            }
            Keyword::Help => {
                let (account, number, sender) = (
                    account.to_owned(),
                    their_number.to_owned(),
                    our_sender.to_owned(),
                );
                self.store
                    .write(move |conn| {
                        audit::append(
                            conn,
                            entry(
                                "twilio",
                                "sms_help",
                                &account,
                                &number,
                                format!("{source} (sender {sender})"),
                            ),
                        )?;
                        Ok::<_, StoreError>(())
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Twilio refused a message with 21610: the recipient had opted out.
    pub async fn record_refusal(&self, account: &str, sender: &str, number: &str) -> Result<()> {
        self.set(
            "twilio",
            account,
            sender,
            number,
            true,
            "error 21610".to_owned(),
        )
        .await
    }

    /// The opt-out of `number` from any of `senders` of `account`, if any.
    pub async fn find(
        &self,
        account: &str,
        senders: &[String],
        number: &str,
    ) -> Result<Option<OptOut>> {
        let (account, senders, number) = (account.to_owned(), senders.to_vec(), number.to_owned());
        let found = self
            .store
            .call(move |conn| {
                for sender in &senders {
                    let hit = conn
                        .query_row(
                            &format!("SELECT {COLUMNS} FROM sms_optouts WHERE account_id = ?1 AND sender = ?2 AND number = ?3 AND opted_out = 1"),
                            params![account, sender, number],
                            read,
                        )
                        .optional()?;
                    if hit.is_some() {
                        return Ok(hit);
                    }
                }
                Ok(None)
            })
            .await?;
        Ok(found)
    }

    /// Refuses an SMS from `senders` of `account` to an opted-out `number`.
    pub async fn check(&self, account: &str, senders: &[String], number: &str) -> Result<()> {
        match self.find(account, senders, number).await? {
            None => Ok(()),
            Some(o) => Err(opted_out_error(&o)),
        }
    }

    /// Every opted-out pair (of one account, or all), newest first.
    pub async fn list(&self, caller: &Caller, account: Option<&str>) -> Result<Vec<OptOut>> {
        caller.require(Grant::Read, "list SMS opt-outs")?;
        let account = account.map(str::to_owned);
        let list = self
            .store
            .call(move |conn| {
                let mut stmt = conn.prepare(&format!(
                    "SELECT {COLUMNS} FROM sms_optouts WHERE opted_out = 1 AND (?1 IS NULL OR account_id = ?1) ORDER BY updated_at_ms DESC, number"
                ))?;
                let rows = stmt
                    .query_map(params![account], read)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(list)
    }

    /// Lifts an opt-out by hand: a human's decision (`admin`), with a
    /// reason, audited. Twilio keeps its own block until the person texts
    /// START; this only stops commsd refusing.
    pub async fn remove(
        &self,
        caller: &Caller,
        account: &str,
        sender: &str,
        number: &str,
        reason: &str,
    ) -> Result<OptOut> {
        caller.require(Grant::Admin, "remove an SMS opt-out")?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "say why the opt-out is removed (e.g. \"texted START to the front desk\"); it is audited",
            ));
        }
        let number = crate::outbox::validate::e164("number", number)?;
        let found = self
            .find(account, &[sender.to_owned()], &number)
            .await?
            .ok_or_else(|| {
                Error::new(
                    Code::NotFound,
                    format!(
                        "{number} has not opted out of messages from {sender} (account {account})"
                    ),
                )
                .with_details(serde_json::json!({ "field": "number" }))
            })?;
        self.set(
            &caller.actor,
            account,
            sender,
            &number,
            false,
            format!("removed by hand: {reason}"),
        )
        .await?;
        Ok(found)
    }
}

/// The refusal of an SMS to an opted-out pair, for a human.
pub fn opted_out_error(o: &OptOut) -> Error {
    Error::new(
        Code::FailedPrecondition,
        format!(
            "to: {} opted out of messages from {} ({} at {}); nothing was sent. They can text START to opt back in; `commsctl sms optouts remove` lifts it here with a reason.",
            o.number, o.sender, o.source, o.updated_at
        ),
    )
    .with_details(serde_json::json!({ "field": "to", "optOut": o }))
}
