//! Following spaces (`[chat.follow]`): each followed space is asked every
//! `poll_interval` for messages created after its cursor
//! (`spaces.messages.list`, `create_time > cursor`, oldest first, across
//! pages). Each page is stored (de-duplicated by message name) together
//! with the cursor in one transaction, so a restart neither loses nor
//! repeats a message; each new message is published as
//! `MessageReceived` (no content). Messages commsd posted are recognised
//! (`chat_posted`) and not reported.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Chat, ChatConfig, client};
use crate::accounts::Kind;
use crate::error::Result;
use crate::events::{Bus, Event, now_unix_ms};
use crate::outbox::model::Channel;

/// Messages asked for per page while following.
const PAGE: u32 = 100;

/// Starts one poller per followed space.
pub fn start(chat: Arc<Chat>, config: &ChatConfig, bus: Arc<Bus>, shutdown: CancellationToken) {
    for (account, spaces) in &config.follow {
        for space in spaces {
            let (chat, bus, shutdown) = (chat.clone(), bus.clone(), shutdown.clone());
            let (account, space) = (account.clone(), space.trim().to_owned());
            let interval = config.poll_interval;
            tokio::spawn(async move {
                loop {
                    match poll_once(&chat, &bus, &account, &space).await {
                        Ok(n) if n > 0 => tracing::debug!(%space, new = n, "followed Chat space"),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(%space, code = e.code.as_str(), error = %e.message, "following a Chat space failed")
                        }
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(interval) => {}
                    }
                }
            });
        }
    }
}

/// One round for one space: every page after the cursor. Returns how many
/// new messages were stored.
pub async fn poll_once(chat: &Chat, bus: &Bus, account_name: &str, space: &str) -> Result<usize> {
    let account = chat.accounts.usable(Some(account_name), Kind::Google)?;
    let (acc, sp) = (account.id.clone(), space.to_owned());
    let cursor: Option<String> = chat
        .store
        .call(move |c| {
            Ok(c.query_row(
                "SELECT cursor FROM chat_follow WHERE account = ?1 AND space = ?2",
                params![acc, sp],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
        })
        .await?;
    let filter = cursor
        .as_deref()
        .map(|c| client::time_term(">", c))
        .unwrap_or_default();
    let mut token: Option<String> = None;
    let mut stored = 0;
    loop {
        let page = chat
            .call(
                &account.id,
                &account.email,
                &client::list_messages(space, &filter, PAGE, token.as_deref()),
            )
            .await?;
        chat.stats.follow_requests.fetch_add(1, Ordering::Relaxed);
        let messages: Vec<Value> = page["messages"].as_array().cloned().unwrap_or_default();
        let (acc, sp) = (account.id.clone(), space.to_owned());
        let new: Vec<String> = chat
            .store
            .write(move |c| {
                let mut new = Vec::new();
                let mut last = None;
                for m in &messages {
                    let name = m["name"].as_str().unwrap_or_default();
                    let created = m["createTime"].as_str().unwrap_or_default();
                    last = Some(created.to_owned());
                    let ours: bool = c
                        .query_row("SELECT 1 FROM chat_posted WHERE name = ?1", params![name], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if name.is_empty() || ours {
                        continue;
                    }
                    let inserted = c.execute(
                        "INSERT OR IGNORE INTO chat_messages (name, account, space, thread, sender, create_time, text, stored_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            name,
                            acc,
                            sp,
                            m["thread"]["name"].as_str(),
                            m["sender"]["displayName"].as_str().or(m["sender"]["name"].as_str()),
                            created,
                            m["text"].as_str().unwrap_or_default(),
                            now_unix_ms()
                        ],
                    )?;
                    if inserted > 0 {
                        new.push(name.to_owned());
                    }
                }
                if let Some(last) = last {
                    c.execute(
                        "INSERT INTO chat_follow (account, space, cursor) VALUES (?1, ?2, ?3) ON CONFLICT (account, space) DO UPDATE SET cursor = excluded.cursor",
                        params![acc, sp, last],
                    )?;
                }
                Ok(new)
            })
            .await?;
        stored += new.len();
        chat.stats
            .follow_stored
            .fetch_add(new.len() as u64, Ordering::Relaxed);
        for id in new {
            bus.publish(Event::MessageReceived {
                channel: Channel::Chat,
                account: account.id.clone(),
                id,
            });
        }
        token = page["nextPageToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            return Ok(stored);
        }
    }
}
