//! Chat's feed into the unified inbox: the messages of followed spaces
//! (`chat_messages`, migration 0006), from the last row indexed, woken by
//! `MessageReceived` (the follow pollers).

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

pub struct ChatSource {
    pub store: Store,
    pub accounts: Arc<Accounts>,
}

#[async_trait::async_trait]
impl MessageSource for ChatSource {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn accounts(&self) -> Vec<String> {
        self.accounts
            .list()
            .into_iter()
            .filter(|a| a.kind == Kind::Google)
            .map(|a| a.id)
            .collect()
    }

    fn wakes(&self, event: &Event) -> Option<String> {
        match event {
            Event::MessageReceived {
                channel: Channel::Chat,
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
            let rows = self
                .store
                .call(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT rowid, name, space, thread, sender, create_time, text
                         FROM chat_messages WHERE account = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
                    )?;
                    let rows = stmt
                        .query_map(params![owned, after, STEP], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, Option<String>>(3)?,
                                r.get::<_, Option<String>>(4)?,
                                r.get::<_, String>(5)?,
                                r.get::<_, String>(6)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(rows)
                })
                .await?;
            let Some(last) = rows.last().map(|r| r.0) else {
                return Ok(());
            };
            let full = rows.len() as i64 == STEP;
            let messages = rows
                .into_iter()
                .map(|(_, name, space, thread, sender, created, text)| {
                    let at_ms = created
                        .parse::<jiff::Timestamp>()
                        .map_or(0, |t| t.as_millisecond());
                    NewMessage {
                        channel: Channel::Chat,
                        account_id: account.to_owned(),
                        provider_id: name,
                        thread_id: Some(thread.unwrap_or_else(|| space.clone())),
                        from: sender.unwrap_or_default(),
                        to: vec![space],
                        at_ms,
                        subject: String::new(),
                        text,
                        has_attachments: false,
                        unread: true,
                    }
                })
                .filter(|m| m.at_ms >= min)
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
