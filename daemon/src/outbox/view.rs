//! The JSON shape of items and audit events, shared by the HTTP API, the
//! dashboard, MCP and `--json`. The OpenAPI document is generated from it.
//! Field names are camelCase (the contract's vocabulary: `accountId`,
//! `bodyText`, `createdAt`, ...); enum values stay snake_case.

use serde::Serialize;
use utoipa::ToSchema;

use super::item::{Item, rfc3339};
use super::model::{Attachment, Channel, Content, Decision, Priority, State};
use crate::audit;

/// An outbox item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    /// `ob_` and 10 characters.
    #[schema(example = "ob_7k2m9x4q1z")]
    pub id: String,
    #[schema(value_type = String, example = "email")]
    pub channel: Channel,
    /// The account it is sent from (its id).
    pub account_id: String,
    #[schema(value_type = String, example = "pending_approval")]
    pub state: State,
    #[schema(value_type = String, example = "normal")]
    pub priority: Priority,
    /// Who staged it: `cli:<user>`, `key:<name>`, `mcp:<client>`, `dashboard`.
    pub requester: String,
    pub client_request_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
    /// Bare addresses, numbers or spaces.
    pub recipients: Vec<String>,
    pub summary: String,
    pub content: ContentView,
    /// SHA-256 (hex) over the account and the exact content; approvals bind to it.
    pub content_hash: String,
    pub policy: PolicyView,
    pub approval: Option<ApprovalView>,
    pub rejection: Option<RejectionView>,
    pub dispatch_after: Option<String>,
    pub delivery: Option<DeliveryView>,
    pub error: Option<String>,
    /// Recipients given by name: what was asked and what it resolved to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addressing: Vec<crate::outbox::resolver::Addressed>,
}

/// What the item sends; `channel` tells which.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ContentView {
    Email(EmailView),
    Sms(SmsView),
    Chat(ChatView),
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailView {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    pub filename: String,
    pub mime_type: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmsView {
    pub to: String,
    pub body: String,
    /// How it goes out: `encoding` (GSM-7 or UCS-2), `segments`,
    /// `characters`, `units`, `ucs2Characters` (what forced UCS-2) and,
    /// with `[twilio] price_per_segment`, `estimatedCost`.
    #[schema(value_type = Object)]
    pub segments: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub space: String,
    pub text: String,
    pub thread: Option<String>,
    /// The messages it posts: 1, or the number of parts of a split text.
    pub parts: usize,
    /// The space's display name, when known.
    pub space_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyView {
    #[schema(value_type = String, example = "approve")]
    pub decision: Decision,
    /// The rule that decided, e.g. `policy.default` or `policy.rules[0] (staff)`.
    pub rule: String,
    /// Why the item waits (a cap, a changed content), when it does.
    pub hold_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalView {
    pub by: String,
    pub at: String,
    pub content_hash: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionView {
    pub by: String,
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub at: String,
    pub detail: String,
}

fn attachment(a: &Attachment) -> AttachmentView {
    AttachmentView {
        filename: a.filename.clone(),
        mime_type: a.mime_type.clone(),
        size: a.size,
        sha256: a.sha256.clone(),
    }
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        let content = match &i.content {
            Content::Email(e) => ContentView::Email(EmailView {
                from: e.from.clone(),
                to: e.to.clone(),
                cc: e.cc.clone(),
                bcc: e.bcc.clone(),
                subject: e.subject.clone(),
                body_text: e.text.clone(),
                body_html: e.html.clone(),
                attachments: e.attachments.iter().map(attachment).collect(),
            }),
            Content::Sms(s) => ContentView::Sms(SmsView {
                to: s.to.clone(),
                body: s.body.clone(),
                segments: crate::twilio::segments::preview(&s.body),
            }),
            Content::Chat(c) => ContentView::Chat(ChatView {
                space: c.space.clone(),
                text: c.text.clone(),
                thread: c.thread.clone(),
                parts: c
                    .parts(crate::outbox::validate::Limits::default().max_chat_chars)
                    .len(),
                space_name: c.space_name.clone(),
            }),
        };
        ItemView {
            id: i.id.clone(),
            channel: i.channel,
            account_id: i.account.clone(),
            state: i.state,
            priority: i.priority,
            requester: i.requester.clone(),
            client_request_id: i.client_request_id.clone(),
            created_at: rfc3339(i.created_at_ms),
            updated_at: rfc3339(i.updated_at_ms),
            expires_at: i.expires_at_ms.map(rfc3339),
            recipients: i.recipients.clone(),
            summary: i.summary.clone(),
            content,
            content_hash: i.content_hash.clone(),
            policy: PolicyView {
                decision: i.decision,
                rule: i.rule.clone(),
                hold_reason: i.hold_reason.clone(),
            },
            approval: i.approval.as_ref().map(|a| ApprovalView {
                by: a.by.clone(),
                at: rfc3339(a.at_ms),
                content_hash: a.content_hash.clone(),
            }),
            rejection: i.rejection.as_ref().map(|r| RejectionView {
                by: r.by.clone(),
                at: rfc3339(r.at_ms),
                reason: r.reason.clone(),
            }),
            dispatch_after: i.dispatch_after_ms.map(rfc3339),
            delivery: i.delivery.as_ref().map(|d| DeliveryView {
                at: rfc3339(d.at_ms),
                detail: d.detail.clone(),
            }),
            error: i.error.clone(),
            addressing: i.addressing.clone(),
        }
    }
}

/// An audit event (never a message body).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub item_id: Option<String>,
    pub account_id: Option<String>,
    pub channel: Option<String>,
    pub recipients: Vec<String>,
    pub content_hash: Option<String>,
    pub decision: Option<String>,
    pub result: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&audit::Event> for AuditEventView {
    fn from(e: &audit::Event) -> Self {
        AuditEventView {
            seq: e.seq,
            at: rfc3339(e.at_ms),
            actor: e.actor.clone(),
            action: e.action.clone(),
            item_id: e.item_id.clone(),
            account_id: e.account.clone(),
            channel: e.channel.clone(),
            recipients: e.recipients.clone(),
            content_hash: e.content_hash.clone(),
            decision: e.decision.clone(),
            result: e.result.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}
