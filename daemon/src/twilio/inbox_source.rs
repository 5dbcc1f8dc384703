//! Twilio's feed into the unified inbox: the inbound store (`sms_messages`,
//! migration 0008), from the last row indexed (`seq`), woken by
//! `MessageReceived` (webhook or polling).

use std::sync::Arc;

use rusqlite::params;

use crate::accounts::{Accounts, Kind};
use crate::error::Result;
use crate::events::Event;
use crate::inbox::{Batch, MessageSource, NewMessage, Sink};
use crate::outbox::model::Channel;
use crate::store::Store;

/// Rows read per step.
const STEP: i64 = 500;

pub struct SmsSource {
    pub store: Store,
    pub accounts: Arc<Accounts>,
}

#[async_trait::async_trait]
impl MessageSource for SmsSource {
    fn name(&self) -> &'static str {
        "sms"
    }

    fn accounts(&self) -> Vec<String> {
        self.accounts
            .list()
            .into_iter()
            .filter(|a| a.kind == Kind::Twilio)
            .map(|a| a.id)
            .collect()
    }

    fn wakes(&self, event: &Event) -> Option<String> {
        match event {
            Event::MessageReceived {
                channel: Channel::Sms,
                account,
                ..
            } if account != crate::accounts::SANDBOX => Some(account.clone()),
            _ => None,
        }
    }

    async fn sync(&self, account: &str, sink: &Sink) -> Result<()> {
        let mut after: i64 = sink
            .cursor(account)
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let min = sink.min_at_ms().unwrap_or(i64::MIN);
        loop {
            let owned = account.to_owned();
            let (rows, last) = self
                .store
                .call(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT seq, message_sid, our_number, their_number, body, received_at_ms,
                                EXISTS (SELECT 1 FROM sms_media d WHERE d.message_sid = m.message_sid)
                         FROM sms_messages m
                         WHERE account_id = ?1 AND seq > ?2 AND direction = 'inbound'
                         ORDER BY seq LIMIT ?3",
                    )?;
                    let mut last = None;
                    let rows = stmt
                        .query_map(params![owned, after, STEP], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?,
                                r.get::<_, i64>(5)?,
                                r.get::<_, bool>(6)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    if let Some(r) = rows.last() {
                        last = Some(r.0);
                    }
                    Ok((rows, last))
                })
                .await?;
            let Some(last) = last else { return Ok(()) };
            let full = rows.len() as i64 == STEP;
            let messages = rows
                .into_iter()
                .filter(|r| r.5 >= min)
                .map(|(_, sid, ours, theirs, body, at_ms, media)| NewMessage {
                    channel: Channel::Sms,
                    account_id: account.to_owned(),
                    provider_id: sid,
                    thread_id: Some(super::inbound::thread_id(&ours, &theirs)),
                    from: theirs,
                    to: vec![ours],
                    at_ms,
                    subject: String::new(),
                    text: body,
                    has_attachments: media,
                    unread: true,
                })
                .collect();
            let batch = Batch {
                messages,
                cursor: Some(last.to_string()),
                ..Batch::default()
            };
            sink.put(account, batch).await?;
            after = last;
            if !full {
                return Ok(());
            }
        }
    }
}
