//! The Gmail tools (design.md §11: toolsets gmail_read, gmail_compose,
//! gmail_modify) over [`Gmail`]. The HTTP API and commsctl run the same
//! calls (`api/gmail.rs`, `Tools.Invoke`).
//!
//! Sending is draft-first (design.md §5): gmail_send_draft and
//! gmail_reply_in_thread stage an outbox item linked to the Gmail draft and
//! return its preview; `confirm: true` lets the policy decide (a `confirm`
//! rule sends, `approve` waits for a human); the Gmail transport sends the
//! draft only while it still matches the approved content hash.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Outcome, ToolDef, ToolProvider, args, staged_outcome};
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error};
use crate::gmail::compose::{self, DraftInput};
use crate::gmail::render::{self, BodyChoice, UNTRUSTED_NOTE};
use crate::gmail::transport::draft_link;
use crate::gmail::{Format, Gmail, Read};
use crate::outbox::attachments::AttachFrom;
use crate::outbox::model::{Content, Priority, State};
use crate::outbox::service::Outbox;

pub struct GmailTools {
    gmail: Arc<Gmail>,
    outbox: Arc<Outbox>,
    dashboard_url: String,
}

impl GmailTools {
    /// The Gmail service's cache and quota counters (status, dashboard).
    pub fn gmail(&self) -> &Gmail {
        &self.gmail
    }

    pub fn new(gmail: Arc<Gmail>, outbox: Arc<Outbox>, dashboard_url: String) -> GmailTools {
        GmailTools {
            gmail,
            outbox,
            dashboard_url,
        }
    }
}

// ------------------------------------------------------------------ schemas

fn s() -> Value {
    json!({ "type": "string" })
}

fn account() -> Value {
    json!({ "type": "string", "description": "Google account id or address." })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn ids() -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 })
}

fn body_props() -> Value {
    json!({
        "body": { "enum": ["auto", "text", "html", "both"] },
        "offset": { "type": "integer", "minimum": 0 },
        "max_chars": { "type": "integer", "minimum": 100 },
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn format_prop() -> Value {
    json!({ "enum": ["metadata", "full"] })
}

fn in_search() -> Value {
    object(
        json!({ "account": account(), "query": { "type": "string", "description": "Gmail search syntax." },
                "max_results": { "type": "integer", "minimum": 1, "maximum": 100 },
                "page_token": s(), "label_ids": strings() }),
        &["account"],
    )
}

fn in_get_message() -> Value {
    object(
        merge(
            json!({ "account": account(), "id": s(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "id"],
    )
}

fn in_get_batch() -> Value {
    object(
        merge(
            json!({ "account": account(), "ids": ids(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "ids"],
    )
}

fn in_get_thread() -> Value {
    object(
        merge(
            json!({ "account": account(), "id": s(), "format": format_prop() }),
            body_props(),
        ),
        &["account", "id"],
    )
}

fn in_attachment() -> Value {
    object(
        json!({ "account": account(), "message_id": s(), "attachment_id": s() }),
        &["account", "message_id", "attachment_id"],
    )
}

fn draft_props() -> Value {
    json!({
        "account": account(), "from": s(), "to": strings(), "cc": strings(), "bcc": strings(),
        "subject": s(), "text": s(), "html": s(),
        "attachments": { "type": "array", "items": { "type": "string" }, "description": "Absolute file paths." },
        "thread_id": s(),
    })
}

fn in_create_draft() -> Value {
    object(draft_props(), &["account", "to", "subject"])
}

fn in_update_draft() -> Value {
    object(
        merge(draft_props(), json!({ "draft_id": s() })),
        &["account", "draft_id", "to", "subject"],
    )
}

fn gate_props() -> Value {
    json!({ "confirm": { "type": "boolean" }, "client_request_id": s() })
}

fn in_send_draft() -> Value {
    object(
        merge(
            json!({ "account": account(), "draft_id": s() }),
            gate_props(),
        ),
        &["account", "draft_id"],
    )
}

fn in_reply() -> Value {
    object(
        merge(
            json!({ "account": account(), "message_id": s(), "reply_all": { "type": "boolean" }, "from": s(),
                    "cc": strings(), "bcc": strings(), "text": s(), "html": s(), "attachments": strings(), "draft_id": s() }),
            gate_props(),
        ),
        &["account", "message_id"],
    )
}

fn in_modify() -> Value {
    object(
        json!({ "account": account(), "ids": ids(), "add": strings(), "remove": strings() }),
        &["account", "ids"],
    )
}

fn in_mark() -> Value {
    object(
        json!({ "account": account(), "ids": ids(), "read": { "type": "boolean" } }),
        &["account", "ids", "read"],
    )
}

fn in_archive() -> Value {
    object(
        json!({ "account": account(), "ids": ids() }),
        &["account", "ids"],
    )
}

fn out(required: &[&str]) -> Value {
    json!({ "type": "object", "required": required })
}

fn out_read() -> Value {
    out(&["untrusted", "cacheHit"])
}

fn out_draft() -> Value {
    out(&["draftId", "preview"])
}

fn out_staged() -> Value {
    out(&["item", "preview", "draftId"])
}

fn out_modified() -> Value {
    out(&["modified"])
}

#[allow(clippy::too_many_arguments)]
const fn def(
    name: &'static str,
    title: &'static str,
    toolset: &'static str,
    description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
) -> ToolDef {
    ToolDef {
        name,
        title,
        toolset,
        description,
        input,
        output,
        read_only,
        destructive,
        idempotent,
        open_world,
    }
}

pub const TOOLS: &[ToolDef] = &[
    def(
        "gmail_search_messages",
        "Search Gmail",
        "gmail_read",
        "Search mail (Gmail query syntax). Returns ids, thread ids, From, To, Subject, Date and snippet per message. Page with next_page_token.",
        in_search,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_message",
        "Read a Gmail message",
        "gmail_read",
        "Read a message: headers, body as text (HTML converted when the text part is a stub; body: both gives both), attachments. Long bodies: truncated: true, page on with offset.",
        in_get_message,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_messages_batch",
        "Read several Gmail messages",
        "gmail_read",
        "Read up to 100 messages in one call (metadata by default). Each result succeeds or fails alone.",
        in_get_batch,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_thread",
        "Read a Gmail thread",
        "gmail_read",
        "Read a thread's messages in order, bodies as in gmail_get_message.",
        in_get_thread,
        out_read,
        true,
        false,
        true,
        true,
    ),
    def(
        "gmail_get_attachment",
        "Save a Gmail attachment",
        "gmail_read",
        "Save an attachment under commsd's data directory; returns path, size and type.",
        in_attachment,
        out_read,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_create_draft",
        "Create a Gmail draft",
        "gmail_compose",
        "Create a Gmail draft; nothing is sent. from: the account's address or a verified send-as alias.",
        in_create_draft,
        out_draft,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_update_draft",
        "Update a Gmail draft",
        "gmail_compose",
        "Replace a draft's content. Nothing is sent.",
        in_update_draft,
        out_draft,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_send_draft",
        "Send a Gmail draft (gated)",
        "gmail_compose",
        "Send a draft via the outbox. Without confirm: returns the preview, sends nothing. confirm: true after checking it: the send policy decides (may wait for a human).",
        in_send_draft,
        out_staged,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_reply_in_thread",
        "Reply in a Gmail thread (gated)",
        "gmail_compose",
        "Reply in the message's thread (threading headers and Re: set for you), gated like gmail_send_draft.",
        in_reply,
        out_staged,
        false,
        false,
        false,
        true,
    ),
    def(
        "gmail_modify_labels",
        "Change Gmail labels",
        "gmail_modify",
        "Add and remove label ids on messages.",
        in_modify,
        out_modified,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_mark_read_unread",
        "Mark Gmail messages read or unread",
        "gmail_modify",
        "Mark messages read (read: true) or unread (read: false).",
        in_mark,
        out_modified,
        false,
        false,
        true,
        true,
    ),
    def(
        "gmail_archive",
        "Archive Gmail messages",
        "gmail_modify",
        "Archive messages (remove from the inbox).",
        in_archive,
        out_modified,
        false,
        false,
        true,
        true,
    ),
];

// ------------------------------------------------------------------ arguments

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    account: String,
    #[serde(default)]
    query: String,
    max_results: Option<u32>,
    page_token: Option<String>,
    #[serde(default)]
    label_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetArgs {
    account: String,
    id: String,
    format: Option<String>,
    body: Option<String>,
    offset: Option<usize>,
    max_chars: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchArgs {
    account: String,
    ids: Vec<String>,
    format: Option<String>,
    body: Option<String>,
    offset: Option<usize>,
    max_chars: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentArgs {
    account: String,
    message_id: String,
    attachment_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftArgs {
    account: String,
    draft_id: Option<String>,
    from: Option<String>,
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    #[serde(default)]
    subject: String,
    text: Option<String>,
    html: Option<String>,
    #[serde(default)]
    attachments: Vec<String>,
    thread_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    account: String,
    draft_id: String,
    #[serde(default)]
    confirm: bool,
    client_request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyArgs {
    account: String,
    message_id: String,
    #[serde(default)]
    reply_all: bool,
    from: Option<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    text: Option<String>,
    html: Option<String>,
    #[serde(default)]
    attachments: Vec<String>,
    draft_id: Option<String>,
    #[serde(default)]
    confirm: bool,
    client_request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyArgs {
    account: String,
    ids: Vec<String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkArgs {
    account: String,
    ids: Vec<String>,
    read: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchiveArgs {
    account: String,
    ids: Vec<String>,
}

fn format(s: Option<&str>, default: Format) -> Result<Format, Error> {
    match s {
        None => Ok(default),
        Some(f) => {
            Format::parse(f).ok_or_else(|| Error::invalid("format", "expected metadata or full"))
        }
    }
}

fn choice(s: Option<&str>) -> Result<BodyChoice, Error> {
    match s {
        None => Ok(BodyChoice::Auto),
        Some(c) => BodyChoice::parse(c)
            .ok_or_else(|| Error::invalid("body", "expected auto, text, html or both")),
    }
}

/// A read result: the value, the untrusted mark, and where it came from.
fn read_result(mut v: Value, cache_hit: bool, ttl_ms: u64) -> Value {
    v["untrusted"] = json!(true);
    v["note"] = json!(UNTRUSTED_NOTE);
    v["cacheHit"] = json!(cache_hit);
    v["ttlRemainingMs"] = json!(ttl_ms);
    v
}

// ------------------------------------------------------------------ calls

#[async_trait::async_trait]
impl ToolProvider for GmailTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        match name {
            "gmail_search_messages" => self.search(caller, args(arguments)?).await.map(Outcome::ok),
            "gmail_get_message" => self
                .get_message(caller, args(arguments)?)
                .await
                .map(Outcome::ok),
            "gmail_get_messages_batch" => self
                .get_batch(caller, args(arguments)?)
                .await
                .map(Outcome::ok),
            "gmail_get_thread" => self
                .get_thread(caller, args(arguments)?)
                .await
                .map(Outcome::ok),
            "gmail_get_attachment" => {
                let a: AttachmentArgs = args(arguments)?;
                caller.require(Grant::Read, "read mail")?;
                let saved = self
                    .gmail
                    .save_attachment(&a.account, &a.message_id, &a.attachment_id)
                    .await?;
                Ok(Outcome::ok(read_result(
                    json!({ "attachment": saved }),
                    false,
                    0,
                )))
            }
            "gmail_create_draft" => {
                let a: DraftArgs = args(arguments)?;
                if a.draft_id.is_some() {
                    return Err(Error::invalid(
                        "draft_id",
                        "gmail_create_draft makes a new draft; use gmail_update_draft",
                    ));
                }
                self.put_draft(caller, a).await.map(Outcome::ok)
            }
            "gmail_update_draft" => {
                let a: DraftArgs = args(arguments)?;
                if a.draft_id.as_deref().is_none_or(str::is_empty) {
                    return Err(Error::invalid("draft_id", "name the draft to update"));
                }
                self.put_draft(caller, a).await.map(Outcome::ok)
            }
            "gmail_send_draft" => {
                let a: SendArgs = args(arguments)?;
                self.gate(
                    caller,
                    &a.account,
                    &a.draft_id,
                    a.confirm,
                    a.client_request_id,
                )
                .await
            }
            "gmail_reply_in_thread" => self.reply(caller, args(arguments)?).await,
            "gmail_modify_labels" => {
                let a: ModifyArgs = args(arguments)?;
                self.modify(caller, &a.account, &a.ids, &a.add, &a.remove)
                    .await
            }
            "gmail_mark_read_unread" => {
                let a: MarkArgs = args(arguments)?;
                let unread = vec!["UNREAD".to_owned()];
                if a.read {
                    self.modify(caller, &a.account, &a.ids, &[], &unread).await
                } else {
                    self.modify(caller, &a.account, &a.ids, &unread, &[]).await
                }
            }
            "gmail_archive" => {
                let a: ArchiveArgs = args(arguments)?;
                self.modify(caller, &a.account, &a.ids, &[], &["INBOX".to_owned()])
                    .await
            }
            other => Err(Error::new(
                Code::NotFound,
                format!("tool {other} is not a Gmail tool"),
            )),
        }
    }

    fn cache_stats(&self) -> Option<(&'static str, Value)> {
        Some(("gmail", self.gmail.stats()))
    }
}

impl GmailTools {
    async fn search(&self, caller: &Caller, a: SearchArgs) -> Result<Value, Error> {
        caller.require(Grant::Read, "read mail")?;
        let max = a.max_results.unwrap_or(20);
        if !(1..=100).contains(&max) {
            return Err(Error::invalid("max_results", "expected 1 to 100"));
        }
        let list = self
            .gmail
            .list(
                &a.account,
                &a.query,
                max,
                a.page_token.as_deref(),
                &a.label_ids,
            )
            .await?;
        let ids: Vec<String> = list.value["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect();
        let mut all_cached = list.cache_hit;
        let mut messages = Vec::new();
        if !ids.is_empty() {
            let got = self
                .gmail
                .get_messages(&a.account, &ids, Format::Metadata)
                .await?;
            for (id, r) in ids.iter().zip(got) {
                match r {
                    Ok(r) => {
                        all_cached &= r.cache_hit;
                        messages.push(render::summary(&r.value));
                    }
                    Err(e) => messages.push(json!({ "id": id, "error": e.envelope() })),
                }
            }
        }
        Ok(read_result(
            json!({
                "messages": messages,
                "next_page_token": list.value["nextPageToken"],
                "result_size_estimate": list.value["resultSizeEstimate"],
            }),
            all_cached,
            list.ttl_remaining_ms,
        ))
    }

    fn render(
        &self,
        r: &Read,
        format: Format,
        body: BodyChoice,
        offset: usize,
        max: Option<usize>,
    ) -> Result<Value, Error> {
        let limit = max.unwrap_or(self.gmail.config().body_limit_chars);
        if !(100..=200_000).contains(&limit) {
            return Err(Error::invalid("max_chars", "expected 100 to 200000"));
        }
        Ok(match format {
            Format::Metadata => render::summary(&r.value),
            Format::Full => render::full(&r.value, body, offset, limit),
        })
    }

    async fn get_message(&self, caller: &Caller, a: GetArgs) -> Result<Value, Error> {
        caller.require(Grant::Read, "read mail")?;
        let f = format(a.format.as_deref(), Format::Full)?;
        let body = choice(a.body.as_deref())?;
        let r = self.gmail.get_message(&a.account, &a.id, f).await?;
        let msg = self.render(&r, f, body, a.offset.unwrap_or(0), a.max_chars)?;
        Ok(read_result(
            json!({ "message": msg }),
            r.cache_hit,
            r.ttl_remaining_ms,
        ))
    }

    async fn get_batch(&self, caller: &Caller, a: BatchArgs) -> Result<Value, Error> {
        caller.require(Grant::Read, "read mail")?;
        if a.ids.is_empty() || a.ids.len() > 100 {
            return Err(Error::invalid("ids", "expected 1 to 100 message ids"));
        }
        let f = format(a.format.as_deref(), Format::Metadata)?;
        let body = choice(a.body.as_deref())?;
        let got = self.gmail.get_messages(&a.account, &a.ids, f).await?;
        let mut all_cached = true;
        let mut min_ttl = u64::MAX;
        let mut out = Vec::new();
        for (id, r) in a.ids.iter().zip(got) {
            match r {
                Ok(r) => {
                    all_cached &= r.cache_hit;
                    min_ttl = min_ttl.min(r.ttl_remaining_ms);
                    out.push(json!({ "id": id, "message": self.render(&r, f, body, a.offset.unwrap_or(0), a.max_chars)? }));
                }
                Err(e) => {
                    all_cached = false;
                    out.push(json!({ "id": id, "error": e.envelope() }));
                }
            }
        }
        Ok(read_result(
            json!({ "results": out }),
            all_cached,
            if min_ttl == u64::MAX { 0 } else { min_ttl },
        ))
    }

    async fn get_thread(&self, caller: &Caller, a: GetArgs) -> Result<Value, Error> {
        caller.require(Grant::Read, "read mail")?;
        let f = format(a.format.as_deref(), Format::Full)?;
        let body = choice(a.body.as_deref())?;
        let r = self.gmail.get_thread(&a.account, &a.id, f).await?;
        let mut messages = Vec::new();
        for m in r.value["messages"].as_array().into_iter().flatten() {
            let one = Read {
                value: m.clone(),
                cache_hit: r.cache_hit,
                ttl_remaining_ms: r.ttl_remaining_ms,
            };
            messages.push(self.render(&one, f, body, a.offset.unwrap_or(0), a.max_chars)?);
        }
        Ok(read_result(
            json!({ "threadId": r.value["id"], "messages": messages }),
            r.cache_hit,
            r.ttl_remaining_ms,
        ))
    }

    /// The From of a draft: the account's primary address, or a send-as alias
    /// Gmail lists as verified. An unverified or unknown alias is refused.
    async fn sender(
        &self,
        account: &str,
        from: Option<&str>,
    ) -> Result<(String, Vec<String>), Error> {
        let send_as = self.gmail.send_as(account).await?;
        let usable: Vec<&Value> = send_as
            .iter()
            .filter(|s| s["isPrimary"] == true || s["verificationStatus"] == "accepted")
            .collect();
        let own: Vec<String> = send_as
            .iter()
            .filter_map(|s| s["sendAsEmail"].as_str().map(str::to_owned))
            .collect();
        let mailbox = |s: &Value| {
            let email = s["sendAsEmail"].as_str().unwrap_or_default();
            match s["displayName"].as_str().filter(|n| !n.is_empty()) {
                Some(n) => format!("\"{}\" <{email}>", n.replace('"', "")),
                None => email.to_owned(),
            }
        };
        match from.filter(|f| !f.trim().is_empty()) {
            None => {
                if let Some(p) = usable.iter().find(|s| s["isPrimary"] == true) {
                    return Ok((mailbox(p), own));
                }
                let profile = self.gmail.profile(account).await?;
                let email = profile.value["emailAddress"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Ok((email, own))
            }
            Some(f) => {
                let bare = crate::outbox::model::bare_address(f);
                match usable.iter().find(|s| {
                    s["sendAsEmail"]
                        .as_str()
                        .is_some_and(|e| e.eq_ignore_ascii_case(bare))
                }) {
                    Some(_) if f.contains('<') => Ok((f.trim().to_owned(), own)),
                    Some(s) => Ok((mailbox(s), own)),
                    None => {
                        let verified: Vec<&str> = usable
                            .iter()
                            .filter_map(|s| s["sendAsEmail"].as_str())
                            .collect();
                        Err(Error::invalid(
                            "from",
                            format!("{bare} is not a verified send-as address of this account; verified: {}", verified.join(", ")),
                        )
                        .with_details(json!({ "field": "from", "verified": verified })))
                    }
                }
            }
        }
    }

    async fn build_draft(
        &self,
        caller: &Caller,
        input: DraftInput,
    ) -> Result<compose::BuiltDraft, Error> {
        let store = self.outbox.attachments().clone();
        let from = AttachFrom::for_caller(caller);
        tokio::task::spawn_blocking(move || compose::build(input, &store, from, SystemTime::now()))
            .await
            .map_err(|e| Error::internal("draft task failed", e))?
    }

    async fn put_draft(&self, caller: &Caller, a: DraftArgs) -> Result<Value, Error> {
        caller.require(Grant::Draft, "create and edit drafts")?;
        let (from, _) = self.sender(&a.account, a.from.as_deref()).await?;
        let built = self
            .build_draft(
                caller,
                DraftInput {
                    from,
                    to: a.to,
                    cc: a.cc,
                    bcc: a.bcc,
                    subject: a.subject,
                    text: a.text,
                    html: a.html,
                    attachments: a.attachments.into_iter().map(PathBuf::from).collect(),
                    in_reply_to: None,
                    references: Vec::new(),
                },
            )
            .await?;
        let r = self
            .gmail
            .put_draft(
                &a.account,
                a.draft_id.as_deref(),
                &built.raw,
                a.thread_id.as_deref(),
            )
            .await?;
        Ok(draft_result(&r, &built))
    }

    /// The send gate: stage the draft's content (read back from Gmail) as an
    /// outbox item linked to the draft; with `confirm`, let the policy decide.
    async fn gate(
        &self,
        caller: &Caller,
        account: &str,
        draft_id: &str,
        confirm: bool,
        crid: Option<String>,
    ) -> Result<Outcome, Error> {
        caller.require(Grant::Stage, "stage mail for sending")?;
        let (raw, draft) = self.gmail.draft_raw(account, draft_id).await?;
        let store = self.outbox.attachments().clone();
        let (content, _) = tokio::task::spawn_blocking(move || compose::parse_raw(&raw, &store))
            .await
            .map_err(|e| Error::internal("draft check failed", e))??;
        let staged = self
            .outbox
            .stage_content(
                caller,
                account,
                Priority::Normal,
                crid,
                Content::Email(content),
                Some(draft_link(draft_id)),
            )
            .await?;
        let mut item = staged.item;
        if confirm && item.state == State::Draft {
            item = self.outbox.confirm(caller, &item.id).await?;
        }
        let mut outcome = staged_outcome(&self.dashboard_url, caller, &item, staged.existing);
        outcome.structured["draftId"] = json!(draft_id);
        outcome.structured["threadId"] = draft["message"]["threadId"].clone();
        outcome.structured["confirmed"] = json!(confirm);
        outcome.text = outcome.structured.to_string();
        Ok(outcome)
    }

    async fn reply(&self, caller: &Caller, a: ReplyArgs) -> Result<Outcome, Error> {
        caller.require(Grant::Draft, "create reply drafts")?;
        let original = self.gmail.reply_headers(&a.account, &a.message_id).await?;
        let (from, mut own) = self.sender(&a.account, a.from.as_deref()).await?;
        own.push(from.clone());
        let h = compose::reply_headers(&original, &own, a.reply_all)?;
        let mut cc = h.cc.clone();
        cc.extend(a.cc);
        let built = self
            .build_draft(
                caller,
                DraftInput {
                    from,
                    to: h.to.clone(),
                    cc,
                    bcc: a.bcc,
                    subject: h.subject.clone(),
                    text: a.text,
                    html: a.html,
                    attachments: a.attachments.into_iter().map(PathBuf::from).collect(),
                    in_reply_to: Some(h.in_reply_to.clone()),
                    references: h.references.clone(),
                },
            )
            .await?;
        let draft = self
            .gmail
            .put_draft(
                &a.account,
                a.draft_id.as_deref(),
                &built.raw,
                Some(&h.thread_id),
            )
            .await?;
        let draft_id = draft["id"].as_str().unwrap_or_default().to_owned();
        let mut outcome = self
            .gate(
                caller,
                &a.account,
                &draft_id,
                a.confirm,
                a.client_request_id,
            )
            .await?;
        outcome.structured["inReplyTo"] = json!(h.in_reply_to);
        outcome.structured["references"] = json!(h.references);
        outcome.text = outcome.structured.to_string();
        Ok(outcome)
    }

    async fn modify(
        &self,
        caller: &Caller,
        account: &str,
        ids: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<Outcome, Error> {
        caller.require(Grant::Draft, "change labels")?;
        self.gmail.modify(account, ids, add, remove).await?;
        Ok(Outcome::ok(
            json!({ "modified": ids.len(), "added": add, "removed": remove }),
        ))
    }
}

fn draft_result(r: &Value, built: &compose::BuiltDraft) -> Value {
    let c = &built.content;
    let mut preview = format!("From:    {}\nTo:      {}\n", c.from, c.to.join(", "));
    if !c.cc.is_empty() {
        preview.push_str(&format!("Cc:      {}\n", c.cc.join(", ")));
    }
    if !c.bcc.is_empty() {
        preview.push_str(&format!("Bcc:     {}\n", c.bcc.join(", ")));
    }
    preview.push_str(&format!("Subject: {}\n", c.subject));
    for a in &c.attachments {
        preview.push_str(&format!(
            "Attach:  {} ({}, {} bytes)\n",
            a.filename, a.mime_type, a.size
        ));
    }
    preview.push('\n');
    preview.push_str(&c.text);
    json!({
        "draftId": r["id"],
        "messageId": r["message"]["id"],
        "threadId": r["message"]["threadId"],
        "from": c.from,
        "rfc822MessageId": built.message_id,
        "preview": preview,
        "next": "Nothing is sent. Send it with gmail_send_draft (a human or the send policy decides).",
    })
}
