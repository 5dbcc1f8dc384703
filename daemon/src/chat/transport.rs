//! The outbox transports of chat items: Google accounts post through the
//! Chat API, `chat_webhook` accounts through their incoming webhook. Both
//! wait for the space's write window (`rate`), send a `requestId` derived
//! from what the item stores (its id and approved content hash), so a
//! human's re-approval of an `unknown` send returns the message Google
//! already made instead of posting a second one, and reply in a thread
//! with REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use super::Chat;
use super::client;
use super::webhook::{self, PostError};
use crate::error::Error;
use crate::outbox::item::Item;
use crate::outbox::model::{ChatContent, Content};
use crate::outbox::transport::{DeliveryError, Transport};

/// The `requestId` of an item's send: the same for every attempt of the
/// same approved content, a new one when the content changes.
pub fn request_id(item: &Item) -> String {
    let hash: String = item.content_hash.chars().take(16).collect();
    format!("commsd-{}-{hash}", item.id)
}

/// The message resource: text, and the thread (`thread.name` for a thread
/// people started, `thread.threadKey` for one commsd starts).
pub fn message_body(chat: &ChatContent) -> (Value, bool) {
    let mut body = json!({ "text": chat.text });
    let reply = match chat.thread.as_deref() {
        Some(t) if t.starts_with("spaces/") => {
            body["thread"] = json!({ "name": t });
            true
        }
        Some(key) => {
            body["thread"] = json!({ "threadKey": key });
            true
        }
        None => false,
    };
    (body, reply)
}

fn chat_of(item: &Item) -> Result<&ChatContent, DeliveryError> {
    match &item.content {
        Content::Chat(c) => Ok(c),
        _ => Err(DeliveryError::Failed(format!(
            "chat accounts send chat messages only, not {}",
            item.channel.as_str()
        ))),
    }
}

fn sent(v: &Value, via: &str, rid: &str) -> String {
    format!(
        "Chat message {} (thread {}) via {via}, requestId {rid}",
        v["name"].as_str().unwrap_or_default(),
        v["thread"]["name"].as_str().unwrap_or_default()
    )
}

fn unknown(e: &Error) -> DeliveryError {
    DeliveryError::Unknown(format!(
        "Google Chat: no clear answer ({}; {}). It may have been posted; approving it again sends the same requestId, so Google returns that message rather than posting twice",
        e.message,
        e.code.as_str()
    ))
}

fn failed(e: &Error) -> DeliveryError {
    DeliveryError::Failed(format!(
        "Google Chat refused it: {} ({})",
        e.message,
        e.code.as_str()
    ))
}

/// Chat through the API, for Google accounts.
pub struct ApiTransport {
    pub chat: Arc<Chat>,
}

#[async_trait::async_trait]
impl Transport for ApiTransport {
    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let chat = chat_of(item)?;
        let account = self
            .chat
            .accounts
            .resolve(Some(&item.account))
            .map_err(|e| failed(&e))?;
        let (body, reply) = message_body(chat);
        let rid = request_id(item);
        let turn = self.chat.limits.turn(&chat.space).await;
        self.chat
            .stats
            .space_wait_ms
            .fetch_add(turn.waited.as_millis() as u64, Ordering::Relaxed);
        let result = self
            .chat
            .call(
                &account.id,
                &account.email,
                &client::create_message(&chat.space, body, &rid, reply),
            )
            .await;
        turn.spent();
        match result {
            Ok(v) => {
                self.chat.stats.api_posts.fetch_add(1, Ordering::Relaxed);
                self.chat
                    .record_posted(v["name"].as_str().unwrap_or_default())
                    .await;
                Ok(sent(&v, "the Chat API", &rid))
            }
            Err(e) if crate::google::outcome_unknown(&e) => Err(unknown(&e)),
            Err(e) => Err(failed(&e)),
        }
    }
}

/// Chat through an incoming webhook, for `chat_webhook` accounts.
pub struct WebhookTransport {
    pub chat: Arc<Chat>,
}

#[async_trait::async_trait]
impl Transport for WebhookTransport {
    /// A webhook posts to its one space: another space is refused at
    /// staging, naming `space`, rather than failing once approved.
    async fn prepare(
        &self,
        account: &crate::accounts::Account,
        content: Content,
    ) -> crate::error::Result<Content> {
        if let Content::Chat(chat) = &content {
            let hook = self.chat.webhook(&account.id).await?;
            if hook.space() != chat.space {
                return Err(Error::invalid(
                    "space",
                    format!(
                        "account {} is an incoming webhook of {} and posts there only, not to {}; stage it with that space or use a Google account",
                        account.id,
                        hook.space(),
                        chat.space
                    ),
                ));
            }
        }
        Ok(content)
    }

    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let chat = chat_of(item)?;
        let hook = self
            .chat
            .webhook(&item.account)
            .await
            .map_err(|e| failed(&e))?;
        if hook.space() != chat.space {
            return Err(DeliveryError::Failed(format!(
                "this webhook posts to {} only, not to {}; stage it with that space or use a Google account",
                hook.space(),
                chat.space
            )));
        }
        let (body, reply) = message_body(chat);
        let rid = request_id(item);
        let turn = self.chat.limits.turn(&chat.space).await;
        self.chat
            .stats
            .space_wait_ms
            .fetch_add(turn.waited.as_millis() as u64, Ordering::Relaxed);
        let result = webhook::post(
            self.chat.http(),
            &hook,
            &body,
            &rid,
            reply,
            self.chat.retry(),
        )
        .await;
        turn.spent();
        match result {
            Ok(v) => {
                self.chat
                    .stats
                    .webhook_posts
                    .fetch_add(1, Ordering::Relaxed);
                self.chat
                    .record_posted(v["name"].as_str().unwrap_or_default())
                    .await;
                Ok(sent(&v, &format!("webhook {}", hook.redacted()), &rid))
            }
            Err(PostError::Unknown(e)) => Err(unknown(&e)),
            Err(PostError::NotSent(e)) => Err(failed(&e)),
        }
    }
}
