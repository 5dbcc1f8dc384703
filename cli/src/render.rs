//! Items and audit events as text tables and as JSON (the same shape as the
//! HTTP API's).

use commsd_proto::v1::{self, item::Content};
use serde_json::{Value, json};

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// "45s", "12m", "3h", "2d": how long ago.
pub fn age(ms: i64) -> String {
    let now = jiff::Timestamp::now().as_millisecond();
    let s = ((now - ms) / 1000).max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

pub fn channel(c: i32) -> &'static str {
    match v1::Channel::try_from(c) {
        Ok(v1::Channel::Email) => "email",
        Ok(v1::Channel::Sms) => "sms",
        Ok(v1::Channel::Chat) => "chat",
        _ => "unknown",
    }
}

pub fn state(s: i32) -> &'static str {
    match v1::State::try_from(s) {
        Ok(v1::State::Draft) => "draft",
        Ok(v1::State::PendingApproval) => "pending_approval",
        Ok(v1::State::Approved) => "approved",
        Ok(v1::State::Sending) => "sending",
        Ok(v1::State::Sent) => "sent",
        Ok(v1::State::Rejected) => "rejected",
        Ok(v1::State::Expired) => "expired",
        Ok(v1::State::Failed) => "failed",
        Ok(v1::State::Cancelled) => "cancelled",
        Ok(v1::State::Unknown) => "unknown",
        _ => "unspecified",
    }
}

pub fn priority(p: i32) -> &'static str {
    match v1::Priority::try_from(p) {
        Ok(v1::Priority::High) => "high",
        Ok(v1::Priority::Low) => "low",
        _ => "normal",
    }
}

pub fn decision(d: i32) -> &'static str {
    match v1::Decision::try_from(d) {
        Ok(v1::Decision::Approve) => "approve",
        Ok(v1::Decision::Confirm) => "confirm",
        Ok(v1::Decision::Auto) => "auto",
        _ => "unspecified",
    }
}

/// The item as JSON, field for field the shape of `GET /api/v1/staged/{id}`.
pub fn item_json(i: &v1::Item) -> Value {
    let content = match &i.content {
        Some(Content::Email(e)) => json!({
            "channel": "email",
            "from": e.from, "to": e.to, "cc": e.cc, "bcc": e.bcc,
            "subject": e.subject, "bodyText": e.text, "bodyHtml": e.html,
            "attachments": e.attachments.iter().map(|a| json!({
                "filename": a.filename, "mimeType": a.mime_type, "size": a.size, "sha256": a.sha256,
            })).collect::<Vec<_>>(),
        }),
        Some(Content::Sms(s)) => json!({ "channel": "sms", "to": s.to, "body": s.body }),
        Some(Content::Chat(c)) => {
            json!({ "channel": "chat", "space": c.space, "text": c.text, "thread": c.thread })
        }
        None => Value::Null,
    };
    let mut v = json!({
        "id": i.id,
        "channel": channel(i.channel),
        "accountId": i.account,
        "state": state(i.state),
        "priority": priority(i.priority),
        "requester": i.requester,
        "clientRequestId": i.client_request_id,
        "createdAt": rfc3339(i.created_at_unix_ms),
        "updatedAt": rfc3339(i.updated_at_unix_ms),
        "expiresAt": i.expires_at_unix_ms.map(rfc3339),
        "recipients": i.recipients,
        "summary": i.summary,
        "content": content,
        "contentHash": i.content_hash,
        "policy": { "decision": decision(i.decision), "rule": i.rule, "holdReason": i.hold_reason },
        "approval": i.approval.as_ref().map(|a| json!({ "by": a.by, "at": rfc3339(a.at_unix_ms), "contentHash": a.content_hash })),
        "rejection": i.rejection.as_ref().map(|r| json!({ "by": r.by, "at": rfc3339(r.at_unix_ms), "reason": r.reason })),
        "dispatchAfter": i.dispatch_after_unix_ms.map(rfc3339),
        "delivery": i.delivery.as_ref().map(|d| json!({ "at": rfc3339(d.at_unix_ms), "detail": d.detail })),
        "error": i.error,
    });
    // Recipients given by name; absent when none, as in the API's view.
    if !i.addressing.is_empty() {
        v["addressing"] = i
            .addressing
            .iter()
            .map(|a| json!({ "field": a.field, "asked": a.asked, "address": a.address, "description": a.description }))
            .collect();
    }
    v
}

/// The candidates of a resolution (`contacts_resolve`'s answer, or
/// `details.resolution` of a refused staging), one line per address:
/// `  contact:<id>  Name  address  (source, account)`. Names and addresses
/// come from address books, so control characters are dropped.
pub fn candidates(resolution: &Value) -> String {
    let clean = |v: &Value| -> String {
        v.as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect()
    };
    let mut out = String::new();
    for c in resolution["candidates"].as_array().into_iter().flatten() {
        for a in c["addresses"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  contact:{}  {}  {}  ({}, {})\n",
                clean(&c["personId"]),
                clean(&c["name"]),
                clean(&a["value"]),
                clean(&a["source"]),
                clean(&a["account"])
            ));
        }
    }
    out
}

/// Shortens `s` to `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table of items, one per line.
pub fn items_table(items: &[v1::Item]) -> String {
    let mut out = format!(
        "{:<14} {:<16} {:<6} {:<7} {:<10} {:>4}  {:<14} {:<28} {}\n",
        "ID", "STATE", "PRI", "CHANNEL", "ACCOUNT", "AGE", "REQUESTER", "RECIPIENTS", "SUMMARY"
    );
    for i in items {
        out.push_str(&format!(
            "{:<14} {:<16} {:<6} {:<7} {:<10} {:>4}  {:<14} {:<28} {}\n",
            i.id,
            state(i.state),
            priority(i.priority),
            channel(i.channel),
            clip(&i.account, 10),
            age(i.created_at_unix_ms),
            clip(&i.requester, 14),
            clip(&i.recipients.join(", "), 28),
            clip(&i.summary, 60),
        ));
    }
    out
}

pub fn audit_json(e: &v1::AuditEvent) -> Value {
    json!({
        "seq": e.seq,
        "at": rfc3339(e.at_unix_ms),
        "actor": e.actor,
        "action": e.action,
        "itemId": e.item_id,
        "accountId": e.account,
        "channel": e.channel,
        "recipients": e.recipients,
        "contentHash": e.content_hash,
        "decision": e.decision,
        "result": e.result,
        "prevHash": e.prev_hash,
        "hash": e.hash,
    })
}
