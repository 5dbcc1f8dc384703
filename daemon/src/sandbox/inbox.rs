//! Receiving into the sandbox: the one service `commsctl sandbox receive`
//! (gRPC `Sandbox.Receive`) and `POST /api/v1/sandbox/receive` call. It
//! needs `admin` (it puts mail in front of agents), checks every field as
//! staging does and names the field it refuses, then delivers:
//!
//! - email: a real RFC 5322 message (the outbox's MIME builder, with a
//!   Message-ID and a Date) into the sandbox mailbox's INBOX;
//! - SMS and chat: one JSON line each (`id`, `from`, `to` or `space`, `body`
//!   or `text`, `receivedAt`), appended and fsynced, read back newest first
//!   by [`SandboxInbox::sms`] and [`SandboxInbox::chat`].
//!
//! Each delivery publishes [`Event::MessageReceived`] (no content). Bodies
//! are never logged.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::lines::{self, Page};
use super::mailbox;
use super::maildir::{INBOX, Maildir, private_dir};
use crate::accounts::{Accounts, SANDBOX};
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::events::{Bus, Event};
use crate::outbox::attachments::AttachmentStore;
use crate::outbox::mime;
use crate::outbox::model::{Channel, EmailContent};
use crate::outbox::validate::{self, Limits};

/// The longest chat sender name accepted, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A message to receive, as every frontend names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiveRequest {
    /// `email`, `sms` or `chat`.
    #[schema(example = "email")]
    pub channel: String,
    /// email: the sender's mailbox; sms: an E.164 number; chat: a name.
    #[schema(example = "Ann Example <ann@example.org>")]
    pub from: String,
    /// email: the recipient (default: the sandbox's own address); sms: the
    /// number it was sent to (optional). Not for chat.
    pub to: Option<String>,
    /// email only, required.
    pub subject: Option<String>,
    /// The text: the email's text body, the SMS body, the chat message's text.
    pub body: String,
    /// chat only, required: `spaces/<id>`.
    #[schema(example = "spaces/team")]
    pub space: Option<String>,
}

/// What was received, and where to read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub channel: String,
    pub account_id: String,
    /// email: the message id the email tools take; sms and chat: the record's id.
    pub id: String,
    /// RFC 3339, UTC.
    pub received_at: String,
}

/// A received SMS, one line of `sandbox/inbox/sms.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedSms {
    pub id: String,
    pub from: String,
    pub to: Option<String>,
    pub body: String,
    pub received_at: String,
}

/// A received chat message, one line of `sandbox/inbox/chat.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedChat {
    pub id: String,
    pub from: String,
    pub space: String,
    pub text: String,
    pub received_at: String,
}

/// The sandbox's receiving side.
pub struct SandboxInbox {
    dir: PathBuf,
    maildir: Maildir,
    accounts: Arc<Accounts>,
    bus: Arc<Bus>,
    attachments: AttachmentStore,
    limits: Limits,
    /// Received since start: email, SMS, chat.
    counts: [AtomicU64; 3],
}

impl SandboxInbox {
    pub fn new(
        data_dir: &std::path::Path,
        accounts: Arc<Accounts>,
        bus: Arc<Bus>,
        attachments: AttachmentStore,
    ) -> SandboxInbox {
        SandboxInbox {
            dir: super::inbox_dir(data_dir),
            maildir: Maildir::new(super::inbox_maildir(data_dir)),
            accounts,
            bus,
            attachments,
            limits: Limits::default(),
            counts: Default::default(),
        }
    }

    /// How many messages of each channel were received since start.
    pub fn counts(&self) -> [(Channel, u64); 3] {
        [Channel::Email, Channel::Sms, Channel::Chat]
            .map(|c| (c, self.counts[slot(c)].load(Ordering::Relaxed)))
    }

    /// Delivers `request` into the sandbox account's inbox. Needs `admin`.
    pub async fn receive(&self, caller: &Caller, request: ReceiveRequest) -> Result<Receipt> {
        caller.require(Grant::Admin, "deliver into the sandbox inbox")?;
        let channel = Channel::parse(&request.channel)
            .ok_or_else(|| Error::invalid("channel", "expected email, sms or chat"))?;
        let account = self.accounts.resolve(Some(SANDBOX))?;
        let received_at = jiff::Timestamp::now().to_string();
        let id = match channel {
            Channel::Email => self.email(&account.email, request).await?,
            Channel::Sms => {
                let record = sms(request, &self.limits, received_at.clone())?;
                self.append("sms.jsonl", record.id.clone(), record).await?
            }
            Channel::Chat => {
                let record = chat(request, &self.limits, received_at.clone())?;
                self.append("chat.jsonl", record.id.clone(), record).await?
            }
        };
        self.counts[slot(channel)].fetch_add(1, Ordering::Relaxed);
        tracing::info!(channel = channel.as_str(), account = %account.id, %id, "the sandbox received a message");
        self.bus.publish(Event::MessageReceived {
            channel,
            account: account.id.clone(),
            id: id.clone(),
        });
        Ok(Receipt {
            channel: channel.as_str().to_owned(),
            account_id: account.id,
            id,
            received_at,
        })
    }

    /// Received SMS, newest first. Needs `read`.
    pub async fn sms(
        &self,
        caller: &Caller,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ReceivedSms>> {
        self.read("sms.jsonl", caller, limit, cursor).await
    }

    /// Received chat messages, newest first. Needs `read`.
    pub async fn chat(
        &self,
        caller: &Caller,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ReceivedChat>> {
        self.read("chat.jsonl", caller, limit, cursor).await
    }

    async fn read<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        name: &str,
        caller: &Caller,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<T>> {
        caller.require(Grant::Read, "read the sandbox inbox")?;
        let path = self.dir.join(name);
        let cursor = cursor.map(str::to_owned);
        tokio::task::spawn_blocking(move || lines::list(&path, limit, cursor.as_deref()))
            .await
            .map_err(|e| Error::internal("the sandbox inbox", e))?
    }

    /// Builds the email and delivers it into INBOX; returns its message id.
    async fn email(&self, own_address: &str, request: ReceiveRequest) -> Result<String> {
        forbid("space", request.space.as_ref(), "email")?;
        let from = validate::mailbox("from", &request.from)?;
        let to = validate::mailbox("to", request.to.as_deref().unwrap_or(own_address))?;
        let subject = request
            .subject
            .as_deref()
            .ok_or_else(|| Error::invalid("subject", "is required for email"))?;
        let subject = validate::subject("subject", subject, &self.limits)?;
        let text = validate::text_body("body", &request.body, self.limits.max_body_bytes)?;
        if text.trim().is_empty() {
            return Err(Error::invalid("body", "is empty"));
        }
        let content = EmailContent {
            from,
            to: vec![to],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject,
            text,
            html: None,
            attachments: Vec::new(),
        };
        let message_id = format!("<{}@sandbox.commsd.invalid>", new_id("rcv"));
        let built = mime::build(&content, &self.attachments, &message_id, SystemTime::now())?;
        let maildir = self.maildir.clone();
        let (name, _) = tokio::task::spawn_blocking(move || maildir.deliver(INBOX, &built.bytes))
            .await
            .map_err(|e| Error::internal("the sandbox mailbox", e))?
            .map_err(|e| Error::io("delivering into the sandbox mailbox", e))?;
        Ok(mailbox::message_id(INBOX, &name))
    }

    async fn append<T: Serialize + Send + 'static>(
        &self,
        name: &str,
        id: String,
        record: T,
    ) -> Result<String> {
        let (dir, path) = (self.dir.clone(), self.dir.join(name));
        tokio::task::spawn_blocking(move || {
            private_dir(&dir)?;
            lines::append(&path, &record)
        })
        .await
        .map_err(|e| Error::internal("the sandbox inbox", e))?
        .map_err(|e| Error::io("writing the sandbox inbox", e))?;
        Ok(id)
    }
}

fn slot(channel: Channel) -> usize {
    match channel {
        Channel::Email => 0,
        Channel::Sms => 1,
        Channel::Chat => 2,
    }
}

/// A field that `channel` does not take, refused by name.
fn forbid(field: &str, value: Option<&String>, channel: &str) -> Result<()> {
    match value {
        Some(_) => Err(Error::invalid(field, format!("is not used for {channel}"))),
        None => Ok(()),
    }
}

fn sms(request: ReceiveRequest, limits: &Limits, received_at: String) -> Result<ReceivedSms> {
    forbid("subject", request.subject.as_ref(), "sms")?;
    forbid("space", request.space.as_ref(), "sms")?;
    // The sender is the E.164 number the validator calls `to`.
    let checked = validate::sms(&request.from, &request.body, limits)
        .map_err(|e| e.renaming_field(&[("to", "from")]))?;
    let to = request
        .to
        .as_deref()
        .map(|t| validate::e164("to", t))
        .transpose()?;
    Ok(ReceivedSms {
        id: new_id("sms"),
        from: checked.to,
        to,
        body: checked.body,
        received_at,
    })
}

fn chat(request: ReceiveRequest, limits: &Limits, received_at: String) -> Result<ReceivedChat> {
    forbid("subject", request.subject.as_ref(), "chat")?;
    forbid("to", request.to.as_ref(), "chat")?;
    let from = request.from.trim();
    if from.is_empty() {
        return Err(Error::invalid(
            "from",
            "is empty; expected the sender's name",
        ));
    }
    if from.chars().any(char::is_control) || from.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "from",
            format!("expected one line of at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let space = request
        .space
        .as_deref()
        .ok_or_else(|| Error::invalid("space", "is required for chat: spaces/<id>"))?;
    let checked = validate::chat(space, &request.body, None, false, limits)
        .map_err(|e| e.renaming_field(&[("text", "body")]))?;
    Ok(ReceivedChat {
        id: new_id("chat"),
        from: from.to_owned(),
        space: checked.space,
        text: checked.text,
        received_at,
    })
}

/// `<prefix>_<16 hex digits>`, random.
fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = crate::events::now_unix_ms() as u64 ^ COUNTER.fetch_add(1, Ordering::Relaxed);
        bytes = n.to_le_bytes();
    }
    format!("{prefix}_{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(channel: &str, from: &str, body: &str) -> ReceiveRequest {
        ReceiveRequest {
            channel: channel.into(),
            from: from.into(),
            to: None,
            subject: None,
            body: body.into(),
            space: None,
        }
    }

    #[test]
    fn sms_and_chat_are_checked_and_errors_name_the_field() {
        let limits = Limits::default();
        let ok = sms(
            request("sms", "+1 415 555 0100", "Running late"),
            &limits,
            "t".into(),
        )
        .unwrap();
        assert_eq!(ok.from, "+14155550100");
        assert!(ok.id.starts_with("sms_") && ok.to.is_none());
        let e = sms(request("sms", "0415", "x"), &limits, "t".into()).unwrap_err();
        assert_eq!(e.details["field"], "from");
        let e = sms(request("sms", "+14155550100", ""), &limits, "t".into()).unwrap_err();
        assert_eq!(e.details["field"], "body");
        let long = "x".repeat(limits.max_sms_chars + 1);
        let e = sms(request("sms", "+14155550100", &long), &limits, "t".into()).unwrap_err();
        assert_eq!(e.details["field"], "body");
        let mut with_to = request("sms", "+14155550100", "hi");
        with_to.to = Some("nope".into());
        assert_eq!(
            sms(with_to, &limits, "t".into()).unwrap_err().details["field"],
            "to"
        );
        let mut with_subject = request("sms", "+14155550100", "hi");
        with_subject.subject = Some("s".into());
        assert_eq!(
            sms(with_subject, &limits, "t".into()).unwrap_err().details["field"],
            "subject"
        );

        let mut c = request("chat", "Ann", "Standup moved");
        assert_eq!(
            chat(c.clone(), &limits, "t".into()).unwrap_err().details["field"],
            "space"
        );
        c.space = Some("spaces/team".into());
        let ok = chat(c.clone(), &limits, "t".into()).unwrap();
        assert_eq!(
            (ok.space.as_str(), ok.text.as_str()),
            ("spaces/team", "Standup moved")
        );
        c.body = String::new();
        assert_eq!(
            chat(c.clone(), &limits, "t".into()).unwrap_err().details["field"],
            "body"
        );
        c.body = "x".into();
        c.from = "a\nb".into();
        assert_eq!(
            chat(c, &limits, "t".into()).unwrap_err().details["field"],
            "from"
        );
    }
}
