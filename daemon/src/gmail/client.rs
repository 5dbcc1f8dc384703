//! Gmail's calls for the shared Google client (`google::http`): the API as
//! the client reaches it (paths under `gmail/v1/users/me/`, the batch
//! endpoint, Gmail's cost table) and one constructor per method commsd
//! uses, with the scope [`Need`] each one has. Sends are
//! [`Call::once`]; everything else is idempotent.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{Format, compose, render};
use crate::google::http::Api;
use crate::google::limiter;
use crate::google::{Call, Need, encode};

/// Gmail at `base` (`[google.endpoints] gmail`).
pub fn api(base: &str) -> Api {
    Api::new(
        "Gmail",
        base,
        "gmail/v1/users/me/",
        "batch/gmail/v1",
        &limiter::GMAIL,
    )
}

/// `users.getProfile`: address, totals, the current history id.
pub fn profile() -> Call {
    Call::get("getProfile", "profile".into(), Need::GmailRead)
}

/// `users.settings.sendAs.list`.
pub fn send_as() -> Call {
    Call::get(
        "settings.sendAs.list",
        "settings/sendAs".into(),
        Need::GmailRead,
    )
}

/// `users.history.list` from `start`, 500 records a page.
pub fn history(start: u64, page: Option<&str>) -> Call {
    let call = Call::get("history.list", "history".into(), Need::GmailRead)
        .query("startHistoryId", start.to_string())
        .query("maxResults", "500");
    match page {
        Some(p) => call.query("pageToken", p),
        None => call,
    }
}

/// `users.messages.list`; `labels` sorted by the caller.
pub fn list(q: &str, max: u32, page: Option<&str>, labels: &[String]) -> Call {
    let mut call = Call::get("messages.list", "messages".into(), Need::GmailRead)
        .query("maxResults", max.to_string());
    if !q.trim().is_empty() {
        call = call.query("q", q.trim());
    }
    if let Some(p) = page.filter(|p| !p.is_empty()) {
        call = call.query("pageToken", p);
    }
    for l in labels {
        call = call.query("labelIds", l.clone());
    }
    call
}

fn with_headers(mut call: Call, headers: &[&str]) -> Call {
    for h in headers {
        call = call.query("metadataHeaders", *h);
    }
    call
}

/// `users.messages.get`; metadata brings the triage headers.
pub fn message(id: &str, format: Format) -> Call {
    let c = Call::get(
        "messages.get",
        format!("messages/{}", encode(id)),
        Need::GmailRead,
    )
    .query("format", format.as_str());
    match format {
        Format::Metadata => with_headers(c, &render::TRIAGE_HEADERS),
        Format::Full => c,
    }
}

/// `users.messages.get` with the headers a reply needs.
pub fn reply_headers(id: &str) -> Call {
    let c = Call::get(
        "messages.get",
        format!("messages/{}", encode(id)),
        Need::GmailRead,
    )
    .query("format", "metadata");
    with_headers(c, &compose::REPLY_HEADERS)
}

/// `users.threads.get`.
pub fn thread(id: &str, format: Format) -> Call {
    let c = Call::get(
        "threads.get",
        format!("threads/{}", encode(id)),
        Need::GmailRead,
    )
    .query("format", format.as_str());
    match format {
        Format::Metadata => with_headers(c, &render::TRIAGE_HEADERS),
        Format::Full => c,
    }
}

/// `users.messages.attachments.get`.
pub fn attachment(message_id: &str, attachment_id: &str) -> Call {
    Call::get(
        "messages.attachments.get",
        format!(
            "messages/{}/attachments/{}",
            encode(message_id),
            encode(attachment_id)
        ),
        Need::GmailRead,
    )
}

/// The body of a label change.
pub fn label_change(add: &[String], remove: &[String]) -> Value {
    let mut body = json!({});
    if !add.is_empty() {
        body["addLabelIds"] = json!(add);
    }
    if !remove.is_empty() {
        body["removeLabelIds"] = json!(remove);
    }
    body
}

/// `users.messages.modify` of one message.
pub fn modify(id: &str, change: Value) -> Call {
    Call::post(
        "messages.modify",
        format!("messages/{}/modify", encode(id)),
        change,
        Need::GmailModify,
    )
}

/// `users.messages.batchModify` of `ids`.
pub fn batch_modify(ids: &[String], mut change: Value) -> Call {
    change["ids"] = json!(ids);
    Call::post(
        "messages.batchModify",
        "messages/batchModify".into(),
        change,
        Need::GmailModify,
    )
}

/// A message resource: the raw RFC 822 bytes and the thread it joins.
pub fn raw_message(raw: &[u8], thread_id: Option<&str>) -> Value {
    let mut message = json!({ "raw": base64::engine::general_purpose::URL_SAFE.encode(raw) });
    if let Some(t) = thread_id.filter(|t| !t.is_empty()) {
        message["threadId"] = json!(t);
    }
    message
}

/// `users.drafts.create`.
pub fn create_draft(message: Value) -> Call {
    Call::post(
        "drafts.create",
        "drafts".into(),
        json!({ "message": message }),
        Need::GmailCompose,
    )
}

/// `users.drafts.update`: the draft's whole content replaced.
pub fn update_draft(id: &str, message: Value) -> Call {
    Call::put(
        "drafts.update",
        format!("drafts/{}", encode(id)),
        json!({ "id": id, "message": message }),
        Need::GmailCompose,
    )
}

/// `users.drafts.get` with the raw message.
pub fn draft_raw(id: &str) -> Call {
    Call::get(
        "drafts.get",
        format!("drafts/{}", encode(id)),
        Need::GmailCompose,
    )
    .query("format", "raw")
}

/// `users.drafts.send`: never repeated once it may have reached Google.
pub fn send_draft(id: &str) -> Call {
    Call::post(
        "drafts.send",
        "drafts/send".into(),
        json!({ "id": id }),
        Need::GmailSend,
    )
    .once()
}

/// `users.messages.send`: never repeated once it may have reached Google.
pub fn send_message(message: Value) -> Call {
    Call::post(
        "messages.send",
        "messages/send".into(),
        message,
        Need::GmailSend,
    )
    .once()
}
