//! Explicit conversions between proto messages and domain types.

use commsd_proto::v1;

use crate::audit;
use crate::error::{Error, Result};
use crate::outbox::item::Item;
use crate::outbox::model::{self, Channel, Content, Decision, Priority, State};
use crate::outbox::request::ListFilter;

pub fn channel_to_proto(c: Channel) -> v1::Channel {
    match c {
        Channel::Email => v1::Channel::Email,
        Channel::Sms => v1::Channel::Sms,
        Channel::Chat => v1::Channel::Chat,
    }
}

pub fn channel_from_proto(c: i32) -> Result<Option<Channel>> {
    match v1::Channel::try_from(c) {
        Ok(v1::Channel::Unspecified) => Ok(None),
        Ok(v1::Channel::Email) => Ok(Some(Channel::Email)),
        Ok(v1::Channel::Sms) => Ok(Some(Channel::Sms)),
        Ok(v1::Channel::Chat) => Ok(Some(Channel::Chat)),
        Err(_) => Err(Error::invalid("channel", "expected email, sms or chat")),
    }
}

pub fn priority_to_proto(p: Priority) -> v1::Priority {
    match p {
        Priority::High => v1::Priority::High,
        Priority::Normal => v1::Priority::Normal,
        Priority::Low => v1::Priority::Low,
    }
}

pub fn priority_from_proto(p: i32) -> Result<Option<Priority>> {
    match v1::Priority::try_from(p) {
        Ok(v1::Priority::Unspecified) => Ok(None),
        Ok(v1::Priority::High) => Ok(Some(Priority::High)),
        Ok(v1::Priority::Normal) => Ok(Some(Priority::Normal)),
        Ok(v1::Priority::Low) => Ok(Some(Priority::Low)),
        Err(_) => Err(Error::invalid("priority", "expected high, normal or low")),
    }
}

pub fn state_to_proto(s: State) -> v1::State {
    match s {
        State::Draft => v1::State::Draft,
        State::PendingApproval => v1::State::PendingApproval,
        State::Approved => v1::State::Approved,
        State::Sending => v1::State::Sending,
        State::Sent => v1::State::Sent,
        State::Rejected => v1::State::Rejected,
        State::Expired => v1::State::Expired,
        State::Failed => v1::State::Failed,
        State::Cancelled => v1::State::Cancelled,
        State::Unknown => v1::State::Unknown,
    }
}

pub fn state_from_proto(s: i32) -> Result<State> {
    let state = match v1::State::try_from(s) {
        Ok(v1::State::Draft) => State::Draft,
        Ok(v1::State::PendingApproval) => State::PendingApproval,
        Ok(v1::State::Approved) => State::Approved,
        Ok(v1::State::Sending) => State::Sending,
        Ok(v1::State::Sent) => State::Sent,
        Ok(v1::State::Rejected) => State::Rejected,
        Ok(v1::State::Expired) => State::Expired,
        Ok(v1::State::Failed) => State::Failed,
        Ok(v1::State::Cancelled) => State::Cancelled,
        Ok(v1::State::Unknown) => State::Unknown,
        Ok(v1::State::Unspecified) | Err(_) => {
            return Err(Error::invalid("filter.states", "expected a known state"));
        }
    };
    Ok(state)
}

fn decision_to_proto(d: Decision) -> v1::Decision {
    match d {
        Decision::Approve => v1::Decision::Approve,
        Decision::Confirm => v1::Decision::Confirm,
        Decision::Auto => v1::Decision::Auto,
    }
}

pub fn filter_from_proto(f: Option<v1::ItemFilter>) -> Result<ListFilter> {
    let Some(f) = f else {
        return Ok(ListFilter::default());
    };
    Ok(ListFilter {
        states: f
            .states
            .into_iter()
            .map(state_from_proto)
            .collect::<Result<_>>()?,
        channel: channel_from_proto(f.channel)?,
        account: Some(f.account).filter(|a| !a.is_empty()),
        requester: Some(f.requester).filter(|r| !r.is_empty()),
    })
}

fn attachment_to_proto(a: &model::Attachment) -> v1::Attachment {
    v1::Attachment {
        filename: a.filename.clone(),
        mime_type: a.mime_type.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
    }
}

impl From<&Item> for v1::Item {
    fn from(item: &Item) -> Self {
        let content = match &item.content {
            Content::Email(e) => v1::item::Content::Email(v1::EmailContent {
                from: e.from.clone(),
                to: e.to.clone(),
                cc: e.cc.clone(),
                bcc: e.bcc.clone(),
                subject: e.subject.clone(),
                text: e.text.clone(),
                html: e.html.clone(),
                attachments: e.attachments.iter().map(attachment_to_proto).collect(),
            }),
            Content::Sms(s) => v1::item::Content::Sms(v1::SmsContent {
                to: s.to.clone(),
                body: s.body.clone(),
            }),
            Content::Chat(c) => v1::item::Content::Chat(v1::ChatContent {
                space: c.space.clone(),
                text: c.text.clone(),
                thread: c.thread.clone(),
                split: c.split,
            }),
        };
        v1::Item {
            id: item.id.clone(),
            channel: channel_to_proto(item.channel).into(),
            account: item.account.clone(),
            state: state_to_proto(item.state).into(),
            priority: priority_to_proto(item.priority).into(),
            requester: item.requester.clone(),
            client_request_id: item.client_request_id.clone(),
            created_at_unix_ms: item.created_at_ms,
            updated_at_unix_ms: item.updated_at_ms,
            expires_at_unix_ms: item.expires_at_ms,
            recipients: item.recipients.clone(),
            summary: item.summary.clone(),
            content: Some(content),
            content_hash: item.content_hash.clone(),
            decision: decision_to_proto(item.decision).into(),
            rule: item.rule.clone(),
            hold_reason: item.hold_reason.clone(),
            approval: item.approval.as_ref().map(|a| v1::Approval {
                by: a.by.clone(),
                at_unix_ms: a.at_ms,
                content_hash: a.content_hash.clone(),
            }),
            rejection: item.rejection.as_ref().map(|r| v1::Rejection {
                by: r.by.clone(),
                at_unix_ms: r.at_ms,
                reason: r.reason.clone(),
            }),
            delivery: item.delivery.as_ref().map(|d| v1::Delivery {
                at_unix_ms: d.at_ms,
                detail: d.detail.clone(),
            }),
            error: item.error.clone(),
            dispatch_after_unix_ms: item.dispatch_after_ms,
            addressing: item
                .addressing
                .iter()
                .map(|a| v1::Addressed {
                    field: a.field.clone(),
                    asked: a.asked.clone(),
                    address: a.address.clone(),
                    description: a.description.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Error> for v1::ErrorEnvelope {
    fn from(e: &Error) -> Self {
        v1::ErrorEnvelope {
            code: e.code.as_str().to_owned(),
            message: e.message.clone(),
            details_json: e.details.to_string(),
        }
    }
}

impl From<audit::Event> for v1::AuditEvent {
    fn from(e: audit::Event) -> Self {
        v1::AuditEvent {
            seq: e.seq,
            at_unix_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            item_id: e.item_id,
            account: e.account,
            channel: e.channel,
            recipients: e.recipients,
            content_hash: e.content_hash,
            decision: e.decision,
            result: e.result,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}
