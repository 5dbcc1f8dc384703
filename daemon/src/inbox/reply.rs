//! A reply to a message of the inbox: staged in the outbox like any other
//! message, so it waits for the policy and a human exactly as a message an
//! agent stages by hand. The reply goes from the account that received the
//! message: an email to its sender with a `Re:` subject, a text message to
//! the number that wrote, a chat message in the same space and thread.

use serde::Deserialize;

use super::index::{self, InboxMessage};
use super::service::Inbox;
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::outbox::model::{Channel, Priority};
use crate::outbox::service::{Outbox, StageContent, StageRequest, Staged};

/// `inbox_reply`, `POST /api/v1/inbox/reply`, the dashboard's Reply button.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyInput {
    /// The message's `accountId`, as the inbox gives it.
    pub account_id: String,
    /// The message's `channel`: `email`, `sms` or `chat`.
    pub channel: String,
    /// The message's `id`, as the inbox gives it.
    pub id: String,
    /// The reply's text (plain text).
    pub text: String,
    /// Staging again with the same id returns the first item.
    #[serde(default)]
    pub client_request_id: Option<String>,
}

impl Inbox {
    /// Stages a reply to an indexed message (the outbox checks the `stage`
    /// grant, validates and applies the policy); nothing is stored when
    /// the message is unknown or an argument is wrong.
    pub async fn reply(
        &self,
        caller: &Caller,
        outbox: &Outbox,
        input: ReplyInput,
    ) -> Result<Staged> {
        caller.require(Grant::Read, "read the message to reply to")?;
        caller.require(Grant::Stage, "stage a reply in the outbox")?;
        let channel = Channel::parse(&input.channel)
            .ok_or_else(|| Error::invalid("channel", "expected email, sms or chat"))?;
        let id = input.id.trim().to_owned();
        if id.is_empty() {
            return Err(Error::invalid(
                "id",
                "expected the message's id as the inbox gives it",
            ));
        }
        if input.text.trim().is_empty() {
            return Err(Error::invalid("text", "write the reply's text"));
        }
        let account = self
            .accounts
            .resolve(caller, Some(&input.account_id))
            .map_err(|e| e.renaming_field(&[("account", "accountId")]))?
            .id;
        let (a, i) = (account.clone(), id.clone());
        let message = self
            .store
            .call(move |c| Ok(index::get(c, &a, channel, &i)?))
            .await?
            .ok_or_else(|| {
                Error::not_found(&format!("{} message", channel.as_str()), &id).with_details(
                    serde_json::json!({ "field": "id", "id": id, "accountId": account }),
                )
            })?;
        let request = StageRequest {
            account: Some(message.account_id.clone()),
            priority: Priority::Normal,
            client_request_id: input.client_request_id,
            content: content(&message, input.text)?,
        };
        outbox.stage(caller, request).await
    }
}

/// What the reply says, and to whom.
fn content(m: &InboxMessage, text: String) -> Result<StageContent> {
    match Channel::parse(&m.channel) {
        Some(Channel::Email) => Ok(StageContent::Email {
            to: vec![m.from.clone()],
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: re(&m.subject),
            text: Some(text),
            html: None,
            attachments: Vec::new(),
        }),
        Some(Channel::Sms) => Ok(StageContent::Sms {
            to: m.from.clone(),
            body: text,
        }),
        Some(Channel::Chat) => {
            let (space, thread) = chat_place(m).ok_or_else(|| {
                Error::invalid(
                    "id",
                    "the inbox does not know which chat space this message is in",
                )
            })?;
            Ok(StageContent::Chat {
                space,
                text,
                thread,
                split: false,
            })
        }
        None => Err(Error::invalid("channel", "expected email, sms or chat")),
    }
}

/// `Re: <subject>`, once.
fn re(subject: &str) -> String {
    let subject = subject.trim();
    let already = subject
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    match subject {
        "" => "Re: (no subject)".to_owned(),
        s if already => s.to_owned(),
        s => format!("Re: {s}"),
    }
}

/// The space a chat message is in, and its thread when it has one:
/// `spaces/S/threads/T` as the thread, else `spaces/S` from the thread id or
/// the message's name `spaces/S/messages/M`.
fn chat_place(m: &InboxMessage) -> Option<(String, Option<String>)> {
    if let Some(thread) = &m.thread_id
        && let Some((space, _)) = thread.split_once("/threads/")
        && space.starts_with("spaces/")
    {
        return Some((space.to_owned(), Some(thread.clone())));
    }
    let space_of = |s: &str| {
        let mut parts = s.split('/');
        match (parts.next(), parts.next()) {
            (Some("spaces"), Some(id)) if !id.is_empty() => Some(format!("spaces/{id}")),
            _ => None,
        }
    };
    m.thread_id
        .as_deref()
        .and_then(space_of)
        .or_else(|| space_of(&m.id))
        .or_else(|| m.to.first().and_then(|t| space_of(t)))
        .map(|space| (space, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: &str, id: &str, thread: Option<&str>) -> InboxMessage {
        InboxMessage {
            id: id.to_owned(),
            channel: channel.to_owned(),
            account_id: "acct".to_owned(),
            source: "test".to_owned(),
            thread_id: thread.map(str::to_owned),
            from: "Ann Lee <ann@example.com>".to_owned(),
            from_name: Some("Ann Lee".to_owned()),
            to: vec!["spaces/FROMTO".to_owned()],
            received_at: String::new(),
            subject: "Appointment".to_owned(),
            text: String::new(),
            truncated: false,
            has_attachments: false,
            unread: true,
        }
    }

    #[test]
    fn email_replies_go_to_the_sender_with_one_re() {
        let StageContent::Email {
            to, subject, text, ..
        } = content(&message("email", "m1", None), "See you".into()).unwrap()
        else {
            panic!("not an email")
        };
        assert_eq!(to, ["Ann Lee <ann@example.com>"]);
        assert_eq!(subject, "Re: Appointment");
        assert_eq!(text.as_deref(), Some("See you"));
        assert_eq!(re("RE: Appointment"), "RE: Appointment");
        assert_eq!(re("  "), "Re: (no subject)");
        assert_eq!(re("Reminder"), "Re: Reminder");
    }

    #[test]
    fn sms_replies_go_to_the_number_that_wrote() {
        let mut m = message("sms", "SM1", Some("+15550001111:+15552223333"));
        m.from = "+15552223333".to_owned();
        let StageContent::Sms { to, body } = content(&m, "Yes".into()).unwrap() else {
            panic!("not an SMS")
        };
        assert_eq!((to.as_str(), body.as_str()), ("+15552223333", "Yes"));
    }

    #[test]
    fn chat_replies_stay_in_the_space_and_thread() {
        let threaded = message(
            "chat",
            "spaces/AAA/messages/M1",
            Some("spaces/AAA/threads/T1"),
        );
        assert_eq!(
            chat_place(&threaded),
            Some(("spaces/AAA".into(), Some("spaces/AAA/threads/T1".into())))
        );
        let unthreaded = message("chat", "spaces/BBB/messages/M2", Some("spaces/BBB"));
        assert_eq!(chat_place(&unthreaded), Some(("spaces/BBB".into(), None)));
        let by_name = message("chat", "spaces/CCC/messages/M3", None);
        assert_eq!(chat_place(&by_name), Some(("spaces/CCC".into(), None)));
        let sandbox = message("chat", "chat-17", None);
        assert_eq!(chat_place(&sandbox), Some(("spaces/FROMTO".into(), None)));
        let mut nowhere = message("chat", "chat-18", None);
        nowhere.to.clear();
        let err = content(&nowhere, "x".into()).unwrap_err();
        assert_eq!(err.details["field"], "id");
    }
}
