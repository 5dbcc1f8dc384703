//! Chat's calls for the shared Google client (`google::http`): paths under
//! `v1/`, one constructor per method commsd uses with the scope [`Need`]
//! the discovery document gives it (`chat.messages.create` to send,
//! `chat.messages.readonly` to read, `chat.spaces.readonly` for spaces).
//! The send is [`Call::once`]; everything else is idempotent.

use serde_json::Value;

use crate::google::http::Api;
use crate::google::limiter;
use crate::google::{Call, Need, encode};

/// Chat at `base` (`[google.endpoints] chat`).
pub fn api(base: &str) -> Api {
    Api::new("Chat", base, "v1/", "batch", &limiter::CHAT)
}

/// `spaces.list`: named spaces, group chats and direct messages.
pub fn list_spaces(page_size: u32, page_token: Option<&str>, filter: Option<&str>) -> Call {
    let mut call = Call::get("spaces.list", "spaces".into(), Need::ChatSpaces)
        .query("pageSize", page_size.to_string());
    if let Some(t) = page_token.filter(|t| !t.is_empty()) {
        call = call.query("pageToken", t);
    }
    if let Some(f) = filter {
        call = call.query("filter", f);
    }
    call
}

/// `spaces.findDirectMessage` with the person `email`.
pub fn find_dm(email: &str) -> Call {
    Call::get(
        "spaces.findDirectMessage",
        "spaces:findDirectMessage".into(),
        Need::ChatSpaces,
    )
    .query("name", format!("users/{email}"))
}

/// `spaces.setup` of the direct message with the person `email`, with a
/// `requestId` (Google returns the existing DM if there is one). Never
/// repeated once it may have reached Google.
pub fn set_up_dm(email: &str, request_id: &str) -> Call {
    Call::post(
        "spaces.setup",
        "spaces:setup".into(),
        serde_json::json!({
            "requestId": request_id,
            "space": { "spaceType": "DIRECT_MESSAGE" },
            "memberships": [{ "member": { "name": format!("users/{email}"), "type": "HUMAN" } }],
        }),
        Need::ChatCreateSpace,
    )
    .once()
}

/// `spaces.get`; `space` is a validated `spaces/<id>`.
pub fn get_space(space: &str) -> Call {
    Call::get("spaces.get", space.to_owned(), Need::ChatSpaces)
}

/// `spaces.messages.list`, oldest first.
pub fn list_messages(space: &str, filter: &str, page_size: u32, page_token: Option<&str>) -> Call {
    let mut call = Call::get(
        "spaces.messages.list",
        format!("{space}/messages"),
        Need::ChatRead,
    )
    .query("pageSize", page_size.to_string())
    .query("orderBy", "createTime asc");
    if !filter.is_empty() {
        call = call.query("filter", filter);
    }
    if let Some(t) = page_token.filter(|t| !t.is_empty()) {
        call = call.query("pageToken", t);
    }
    call
}

/// `spaces.messages.get`; `name` is `spaces/<id>/messages/<id>`.
pub fn get_message(name: &str) -> Call {
    let path = name.split('/').map(encode).collect::<Vec<_>>().join("/");
    Call::get("spaces.messages.get", path, Need::ChatRead)
}

/// `spaces.messages.create` with `requestId` (the same id returns the same
/// message) and `messageReplyOption` when the body names a thread. Never
/// repeated once it may have reached Google.
pub fn create_message(space: &str, body: Value, request_id: &str, reply: bool) -> Call {
    let mut call = Call::post(
        "spaces.messages.create",
        format!("{space}/messages"),
        body,
        Need::Chat,
    )
    .query("requestId", request_id)
    .once();
    if reply {
        call = call.query("messageReplyOption", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD");
    }
    call
}

/// A `create_time` bound for a messages filter (`>` or `<`).
pub fn time_term(op: &str, rfc3339: &str) -> String {
    format!("create_time {op} \"{}\"", quote(rfc3339))
}

/// `thread.name = "spaces/S/threads/T"`, quotes and backslashes escaped.
pub fn thread_term(thread: &str) -> String {
    format!("thread.name = \"{}\"", quote(thread))
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
