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
pub fn message_body(text: &str, thread: Option<&str>) -> (Value, bool) {
    let mut body = json!({ "text": text });
    let reply = match thread {
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

/// One message an item posts: its text, thread and `requestId`. A split
/// text's parts share a thread (the item's own thread key when it names
/// none) and each has its own `requestId`, so a retry posts only the parts
/// Google does not have yet, in order.
pub struct Post {
    pub body: Value,
    pub reply: bool,
    pub request_id: String,
}

pub fn posts(item: &Item, chat: &ChatContent) -> Vec<Post> {
    let parts = chat.parts(crate::outbox::validate::Limits::default().max_chat_chars);
    let rid = request_id(item);
    let own_key = format!("commsd-{}", item.id);
    let thread = match (&chat.thread, parts.len()) {
        (Some(t), _) => Some(t.as_str()),
        (None, 1) => None,
        (None, _) => Some(own_key.as_str()),
    };
    let n = parts.len();
    parts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let (body, reply) = message_body(text, thread);
            let request_id = if n == 1 {
                rid.clone()
            } else {
                format!("{rid}-{}", i + 1)
            };
            Post {
                body,
                reply,
                request_id,
            }
        })
        .collect()
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

fn sent(posted: &[Value], via: &str, rid: &str) -> String {
    let names: Vec<&str> = posted
        .iter()
        .map(|v| v["name"].as_str().unwrap_or_default())
        .collect();
    let thread = posted
        .first()
        .and_then(|v| v["thread"]["name"].as_str())
        .unwrap_or_default();
    match names.as_slice() {
        [one] => format!("Chat message {one} (thread {thread}) via {via}, requestId {rid}"),
        many => format!(
            "{} Chat messages {} (thread {thread}) via {via}, requestIds {rid}-1..{}",
            many.len(),
            many.join(", "),
            many.len()
        ),
    }
}

/// What was posted before a part failed, for the item's error.
fn posted_before(done: usize, total: usize) -> String {
    if total == 1 {
        String::new()
    } else {
        format!(
            " Part {} of {total} failed; parts 1..{done} were posted.",
            done + 1
        )
    }
}

fn unknown(e: &Error, done: usize, total: usize) -> DeliveryError {
    DeliveryError::Unknown(format!(
        "Google Chat: no clear answer ({}; {}). It may have been posted; approving it again sends the same requestId, so Google returns that message rather than posting twice.{}",
        e.message,
        e.code.as_str(),
        posted_before(done, total)
    ))
}

fn failed(e: &Error, done: usize, total: usize) -> DeliveryError {
    if done == 0 && e.code == crate::error::Code::VaultUnavailable {
        // Nothing posted yet: the credentials could not be read.
        return DeliveryError::Deferred(e.message.clone());
    }
    DeliveryError::Failed(format!(
        "Google Chat refused it: {} ({}).{}",
        e.message,
        e.code.as_str(),
        posted_before(done, total)
    ))
}

/// Chat through the API, for Google accounts.
pub struct ApiTransport {
    pub chat: Arc<Chat>,
}

#[async_trait::async_trait]
impl Transport for ApiTransport {
    /// Looks up the space's display name for the human who approves it.
    /// Best effort: a space Google does not show (yet) stages all the same,
    /// and the send reports what is wrong.
    async fn prepare(
        &self,
        account: &crate::accounts::Account,
        content: Content,
    ) -> crate::error::Result<Content> {
        let Content::Chat(mut chat) = content else {
            return Ok(content);
        };
        if let Some(person) = chat.space.strip_prefix("users/").map(str::to_owned) {
            return self.direct_message(account, chat, &person).await;
        }
        if chat.space_name.is_none() {
            chat.space_name = self
                .chat
                .space_name(&account.id, &account.email, &chat.space)
                .await;
        }
        Ok(Content::Chat(chat))
    }

    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let chat = chat_of(item)?;
        let account = self
            .chat
            .accounts
            .resolve(Some(&item.account))
            .map_err(|e| failed(&e, 0, 1))?;
        let space = self.space_of(item, chat, &account).await?;
        let posts = posts(item, chat);
        let mut posted = Vec::new();
        for post in &posts {
            let turn = self.chat.limits.turn(&space).await;
            self.chat
                .stats
                .space_wait_ms
                .fetch_add(turn.waited.as_millis() as u64, Ordering::Relaxed);
            let result = self
                .chat
                .call(
                    &account.id,
                    &account.email,
                    &client::create_message(
                        &space,
                        post.body.clone(),
                        &post.request_id,
                        post.reply,
                    ),
                )
                .await;
            turn.spent();
            match result {
                Ok(v) => {
                    self.chat.stats.api_posts.fetch_add(1, Ordering::Relaxed);
                    self.chat
                        .record_posted(v["name"].as_str().unwrap_or_default())
                        .await;
                    posted.push(v);
                }
                Err(e) if crate::google::outcome_unknown(&e) => {
                    return Err(unknown(&e, posted.len(), posts.len()));
                }
                Err(e) => return Err(failed(&e, posted.len(), posts.len())),
            }
        }
        Ok(sent(&posted, "the Chat API", &request_id(item)))
    }
}

impl ApiTransport {
    /// A message to `users/<email>`: to the direct message with that
    /// person when there is one (`spaces.findDirectMessage`); else one is
    /// opened once approved, if `[chat] create_direct_messages` allows it.
    async fn direct_message(
        &self,
        account: &crate::accounts::Account,
        mut chat: ChatContent,
        person: &str,
    ) -> crate::error::Result<Content> {
        match self
            .chat
            .call(&account.id, &account.email, &client::find_dm(person))
            .await
        {
            Ok(space) => {
                chat.space = space["name"].as_str().unwrap_or_default().to_owned();
                chat.space_name = Some(format!("Direct message with {person}"));
                crate::outbox::validate::chat_space("space", &chat.space)?;
                Ok(Content::Chat(chat))
            }
            Err(e) if e.code == crate::error::Code::NotFound => {
                if !self.chat.create_direct_messages {
                    return Err(Error::new(
                        crate::error::Code::NotFound,
                        format!(
                            "{} has no direct message with {person} yet. commsd opens one only when the human allows it: set [chat] create_direct_messages = true and add the chat-dm module (commsctl accounts add google --with chat,chat-dm)",
                            account.email
                        ),
                    )
                    .with_details(serde_json::json!({ "field": "space", "person": person })));
                }
                chat.space_name = Some(format!("New direct message with {person}"));
                Ok(Content::Chat(chat))
            }
            Err(e) => Err(e),
        }
    }

    /// The space an item posts to: its own, or the direct message opened
    /// for it (`spaces.setup` with a requestId of the item, so a retry
    /// finds the same space).
    async fn space_of(
        &self,
        item: &Item,
        chat: &ChatContent,
        account: &crate::accounts::Account,
    ) -> Result<String, DeliveryError> {
        let Some(person) = chat.space.strip_prefix("users/") else {
            return Ok(chat.space.clone());
        };
        let rid = format!("{}-dm", request_id(item));
        match self
            .chat
            .call(
                &account.id,
                &account.email,
                &client::set_up_dm(person, &rid),
            )
            .await
        {
            Ok(space) => match space["name"].as_str() {
                Some(name) if name.starts_with("spaces/") => Ok(name.to_owned()),
                _ => Err(DeliveryError::Failed(
                    "Google Chat answered spaces.setup without a space name".to_owned(),
                )),
            },
            Err(e) if crate::google::outcome_unknown(&e) => Err(unknown(&e, 0, 1)),
            Err(e) => Err(failed(&e, 0, 1)),
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
        let mut content = content;
        if let Content::Chat(chat) = &mut content {
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
            chat.space_name = account.settings["space_name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_owned);
        }
        Ok(content)
    }

    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let chat = chat_of(item)?;
        let hook = self
            .chat
            .webhook(&item.account)
            .await
            .map_err(|e| failed(&e, 0, 1))?;
        if hook.space() != chat.space {
            return Err(DeliveryError::Failed(format!(
                "this webhook posts to {} only, not to {}; stage it with that space or use a Google account",
                hook.space(),
                chat.space
            )));
        }
        let posts = posts(item, chat);
        let mut posted = Vec::new();
        for post in &posts {
            let turn = self.chat.limits.turn(&chat.space).await;
            self.chat
                .stats
                .space_wait_ms
                .fetch_add(turn.waited.as_millis() as u64, Ordering::Relaxed);
            let result = webhook::post(
                self.chat.http(),
                &hook,
                &post.body,
                &post.request_id,
                post.reply,
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
                    posted.push(v);
                }
                Err(PostError::Unknown(e)) => {
                    return Err(unknown(&e, posted.len(), posts.len()));
                }
                Err(PostError::NotSent(e)) => {
                    return Err(failed(&e, posted.len(), posts.len()));
                }
            }
        }
        Ok(sent(
            &posted,
            &format!("webhook {}", hook.redacted()),
            &request_id(item),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn a_vault_error_defers_only_before_the_first_part_is_posted() {
        let vault = Error::new(Code::VaultUnavailable, "the vault file is locked");
        assert_eq!(
            failed(&vault, 0, 2),
            DeliveryError::Deferred("the vault file is locked".to_owned())
        );
        // Part 1 went: a second attempt is the human's call.
        assert!(matches!(failed(&vault, 1, 2), DeliveryError::Failed(_)));
    }
}
