//! The sandbox's feed into the unified inbox: its Maildir INBOX (through
//! `inbox::mailstore`, as IMAP) and its received SMS and chat lines.

use std::path::PathBuf;

use super::inbox::{ReceivedChat, ReceivedSms};
use super::lines;
use super::mailbox::SandboxMailbox;
use crate::accounts::SANDBOX;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::inbox::{Batch, MessageSource, NewMessage, Sink};
use crate::outbox::model::Channel;

pub struct SandboxSource {
    pub data_dir: PathBuf,
}

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map_or(0, |t| t.as_millisecond())
}

#[async_trait::async_trait]
impl MessageSource for SandboxSource {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn accounts(&self) -> Vec<String> {
        vec![SANDBOX.to_owned()]
    }

    fn wakes(&self, event: &Event) -> Option<String> {
        match event {
            Event::MessageReceived { account, .. } if account == SANDBOX => Some(account.clone()),
            _ => None,
        }
    }

    /// Read states change without an event (`email_mark_read_unread`).
    fn polls(&self) -> bool {
        true
    }

    async fn sync(&self, account: &str, sink: &Sink) -> Result<()> {
        let mailbox = SandboxMailbox::new(account, &self.data_dir);
        crate::inbox::mailstore::sync(&mailbox, account, sink).await?;
        let known_sms = sink.known(account, Channel::Sms).await?;
        let known_chat = sink.known(account, Channel::Chat).await?;
        let dir = super::inbox_dir(&self.data_dir);
        let (sms, chat) = tokio::task::spawn_blocking(move || -> Result<_> {
            let sms: lines::Page<ReceivedSms> =
                lines::list(&dir.join("sms.jsonl"), usize::MAX, None)?;
            let chat: lines::Page<ReceivedChat> =
                lines::list(&dir.join("chat.jsonl"), usize::MAX, None)?;
            Ok((sms.records, chat.records))
        })
        .await
        .map_err(|e| Error::internal("reading the sandbox inbox", e))??;
        let mut batch = Batch::default();
        for r in sms.into_iter().filter(|r| !known_sms.contains(&r.id)) {
            batch.messages.push(NewMessage {
                channel: Channel::Sms,
                account_id: account.to_owned(),
                thread_id: Some(crate::twilio::inbound::thread_id(
                    r.to.as_deref()
                        .unwrap_or(crate::twilio::read::SANDBOX_SENDER),
                    &r.from,
                )),
                provider_id: r.id,
                from: r.from,
                to: r.to.into_iter().collect(),
                at_ms: ms(&r.received_at),
                subject: String::new(),
                text: r.body,
                has_attachments: false,
                unread: true,
            });
        }
        for r in chat.into_iter().filter(|r| !known_chat.contains(&r.id)) {
            batch.messages.push(NewMessage {
                channel: Channel::Chat,
                account_id: account.to_owned(),
                provider_id: r.id,
                thread_id: Some(r.space.clone()),
                from: r.from,
                to: vec![r.space],
                at_ms: ms(&r.received_at),
                subject: String::new(),
                text: r.text,
                has_attachments: false,
                unread: true,
            });
        }
        if !batch.messages.is_empty() {
            sink.put(account, batch).await?;
        }
        Ok(())
    }
}
