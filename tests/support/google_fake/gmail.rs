//! Gmail for the Google fake: the parts of Gmail commsd uses (profile,
//! messages, threads, drafts, labels, history, send-as; batches through
//! the fake's batch endpoint), one mailbox per Google account, Google's
//! per-method quota costs, checked against Google's discovery document
//! (`daemon/tests/fixtures/google/gmail.v1.json`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use mail_parser::{HeaderValue, MessageParser};
use serde_json::{Value, json};

use super::discovery::{Contract, decode_b64};
use super::gmail_mime::{
    attachment, b64url, check_sendable, matches_query, render, snippet, strings,
};
use super::{FakeApi, GoogleFake, Reply, Request};

const DISCOVERY: &str = include_str!("../../../daemon/tests/fixtures/google/gmail.v1.json");

/// Google's published per-method quota units (developers.google.com/gmail/api/reference/quota).
pub fn quota_cost(method_id: &str) -> u64 {
    match method_id.trim_start_matches("gmail.users.") {
        "getProfile" => 1,
        "drafts.create" | "drafts.delete" => 10,
        "drafts.get" | "drafts.list" => 5,
        "drafts.send" => 100,
        "drafts.update" => 15,
        "history.list" => 2,
        "labels.list" | "labels.get" => 1,
        "labels.create" | "labels.delete" | "labels.update" | "labels.patch" => 5,
        "messages.attachments.get" => 5,
        "messages.batchDelete" | "messages.batchModify" => 50,
        "messages.delete" => 10,
        "messages.get" | "messages.list" | "messages.modify" => 5,
        "messages.trash" | "messages.untrash" => 5,
        "messages.import" | "messages.insert" => 25,
        "messages.send" => 100,
        "threads.get" | "threads.list" | "threads.modify" | "threads.delete" => 10,
        "threads.trash" | "threads.untrash" => 10,
        "settings.sendAs.list" | "settings.sendAs.get" => 1,
        _ => 1,
    }
}

// ------------------------------------------------------------------ state

#[derive(Clone)]
pub struct Msg {
    pub id: String,
    pub thread_id: String,
    pub labels: Vec<String>,
    pub raw: Vec<u8>,
    pub internal_date: i64,
    pub history_id: u64,
}

#[derive(Clone)]
struct HistoryRecord {
    id: u64,
    kind: &'static str,
    message: (String, String),
    labels: Vec<String>,
}

pub struct Mailbox {
    email: String,
    messages: BTreeMap<String, Msg>,
    /// draft id -> message id
    drafts: BTreeMap<String, String>,
    user_labels: Vec<(String, String)>,
    history_id: u64,
    history: Vec<HistoryRecord>,
    send_as: Vec<Value>,
    next: u64,
    clock: i64,
}

impl Mailbox {
    fn new(email: &str) -> Mailbox {
        Mailbox {
            email: email.to_owned(),
            messages: BTreeMap::new(),
            drafts: BTreeMap::new(),
            user_labels: Vec::new(),
            history_id: 1000,
            history: Vec::new(),
            send_as: vec![json!({
                "sendAsEmail": email,
                "displayName": "",
                "isPrimary": true,
                "isDefault": true,
                "treatAsAlias": false,
                "verificationStatus": "accepted",
            })],
            next: 1,
            clock: 1_700_000_000_000,
        }
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{:012x}", 0x18c0_0000_0000u64 + self.next)
    }

    fn bump(&mut self, kind: &'static str, msg: &Msg, labels: Vec<String>) -> u64 {
        self.history_id += 1;
        let id = self.history_id;
        self.history.push(HistoryRecord {
            id,
            kind,
            message: (msg.id.clone(), msg.thread_id.clone()),
            labels,
        });
        id
    }

    /// Stores a message; threads by `thread_id` when given, else by
    /// In-Reply-To/References against stored Message-IDs, else a new thread.
    fn insert(&mut self, raw: Vec<u8>, labels: Vec<String>, thread_id: Option<String>) -> Msg {
        let id = self.new_id("m");
        let thread_id = thread_id
            .filter(|t| self.messages.values().any(|m| &m.thread_id == t))
            .or_else(|| self.thread_of_references(&raw))
            .unwrap_or_else(|| id.clone());
        self.clock += 60_000;
        let mut msg = Msg {
            id: id.clone(),
            thread_id,
            labels,
            raw,
            internal_date: self.clock,
            history_id: 0,
        };
        msg.history_id = self.bump("messageAdded", &msg, Vec::new());
        self.messages.insert(id, msg.clone());
        msg
    }

    fn thread_of_references(&self, raw: &[u8]) -> Option<String> {
        let parsed = MessageParser::default().parse(raw)?;
        let mut refs: Vec<String> = Vec::new();
        for h in [parsed.in_reply_to(), parsed.references()] {
            match h {
                HeaderValue::Text(t) => refs.push(t.to_string()),
                HeaderValue::TextList(l) => refs.extend(l.iter().map(|s| s.to_string())),
                _ => {}
            }
        }
        for r in refs {
            for m in self.messages.values() {
                if let Some(p) = MessageParser::default().parse(&m.raw)
                    && p.message_id() == Some(r.as_str())
                {
                    return Some(m.thread_id.clone());
                }
            }
        }
        None
    }

    fn modify(&mut self, id: &str, add: &[String], remove: &[String]) -> Option<Msg> {
        let mut msg = self.messages.get(id)?.clone();
        let added: Vec<String> = add
            .iter()
            .filter(|l| !msg.labels.contains(l))
            .cloned()
            .collect();
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| msg.labels.contains(l))
            .cloned()
            .collect();
        msg.labels.extend(added.iter().cloned());
        msg.labels.retain(|l| !removed.contains(l));
        if !added.is_empty() {
            msg.history_id = self.bump("labelAdded", &msg, added);
        }
        if !removed.is_empty() {
            msg.history_id = self.bump("labelRemoved", &msg, removed);
        }
        self.messages.insert(id.to_owned(), msg.clone());
        Some(msg)
    }

    fn delete(&mut self, id: &str) {
        if let Some(msg) = self.messages.remove(id) {
            self.bump("messageDeleted", &msg, Vec::new());
        }
    }

    pub fn label_id(&self, name: &str) -> String {
        let upper = name.to_ascii_uppercase();
        if SYSTEM_LABELS.contains(&upper.as_str()) {
            return upper;
        }
        self.user_labels
            .iter()
            .find(|(id, n)| n.eq_ignore_ascii_case(name) || id == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| name.to_owned())
    }
}

const SYSTEM_LABELS: &[&str] = &[
    "INBOX",
    "SENT",
    "DRAFT",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "SPAM",
    "TRASH",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
];

/// Gmail as a [`FakeApi`]: mailboxes by account address.
pub struct GmailApi {
    contract: Contract,
    mailboxes: Mutex<HashMap<String, Mailbox>>,
}

impl GmailApi {
    pub fn new() -> Arc<GmailApi> {
        Arc::new(GmailApi {
            contract: Contract::parse(DISCOVERY),
            mailboxes: Mutex::new(HashMap::new()),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Mailbox>) -> T) -> T {
        f(&mut self.mailboxes.lock().unwrap())
    }
}

impl FakeApi for GmailApi {
    fn contract(&self) -> &Contract {
        &self.contract
    }

    fn mount(&self) -> &str {
        ""
    }

    fn quota_cost(&self, method_id: &str) -> u64 {
        quota_cost(method_id)
    }

    fn admit(&self, req: &Request<'_>) -> Result<(), Reply> {
        if !self.with(|m| m.contains_key(req.account)) {
            return Err(Reply::error(
                400,
                "failedPrecondition",
                "Mail service not enabled",
            ));
        }
        let user = req.param("userId");
        if user != "me" && user != req.account {
            return Err(Reply::error(403, "forbidden", "Delegation denied"));
        }
        Ok(())
    }

    fn serve(&self, req: &Request<'_>) -> Result<Value, Reply> {
        let mut mailboxes = self.mailboxes.lock().unwrap();
        let mb = mailboxes
            .get_mut(req.account)
            .expect("admitted requests have a mailbox");
        let def = req.method;
        let params = req.params;
        let body_json = req.body.cloned();
        let q = |k: &str| req.q(k);
        let qs = |k: &str| req.qs(k);
        let short = def.id.trim_start_matches("gmail.users.");
        let result: Result<Value, Reply> = (|| {
            let id = params.get("id").cloned().unwrap_or_default();
            let b = body_json.clone().unwrap_or(Value::Null);
            Ok(match short {
                "getProfile" => json!({
                    "emailAddress": mb.email,
                    "messagesTotal": mb.messages.len(),
                    "threadsTotal": mb.messages.values().map(|m| &m.thread_id).collect::<std::collections::BTreeSet<_>>().len(),
                    "historyId": mb.history_id.to_string(),
                }),
                "messages.list" | "threads.list" => {
                    let threads = short == "threads.list";
                    let mut hits: Vec<&Msg> = mb
                        .messages
                        .values()
                        .filter(|m| {
                            !m.labels.iter().any(|l| l == "DRAFT")
                                || q("q").is_some_and(|q| q.contains("in:draft"))
                        })
                        .filter(|m| {
                            q("includeSpamTrash").as_deref() == Some("true")
                                || !m.labels.iter().any(|l| l == "SPAM" || l == "TRASH")
                        })
                        .filter(|m| qs("labelIds").iter().all(|l| m.labels.contains(l)))
                        .filter(|m| q("q").is_none_or(|query| matches_query(mb, m, &query)))
                        .collect();
                    hits.sort_by(|a, b| {
                        b.internal_date.cmp(&a.internal_date).then(b.id.cmp(&a.id))
                    });
                    if threads {
                        let mut seen = std::collections::HashSet::new();
                        hits.retain(|m| seen.insert(m.thread_id.clone()));
                    }
                    let max = q("maxResults")
                        .and_then(|m| m.parse::<usize>().ok())
                        .unwrap_or(100)
                        .clamp(1, 500);
                    let start = q("pageToken")
                        .and_then(|p| p.strip_prefix("p").and_then(|n| n.parse::<usize>().ok()))
                        .unwrap_or(0);
                    let total = hits.len();
                    let page: Vec<Value> = hits
                        .iter()
                        .skip(start)
                        .take(max)
                        .map(|m| {
                            if threads {
                                json!({ "id": m.thread_id, "snippet": snippet(&m.raw), "historyId": m.history_id.to_string() })
                            } else {
                                json!({ "id": m.id, "threadId": m.thread_id })
                            }
                        })
                        .collect();
                    let mut out = json!({ "resultSizeEstimate": total });
                    if !page.is_empty() {
                        out[if threads { "threads" } else { "messages" }] = Value::Array(page);
                    }
                    if start + max < total {
                        out["nextPageToken"] = json!(format!("p{}", start + max));
                    }
                    out
                }
                "messages.get" => {
                    let m = mb.messages.get(&id).ok_or_else(Reply::not_found)?;
                    render(
                        m,
                        q("format").as_deref().unwrap_or("full"),
                        &qs("metadataHeaders"),
                    )
                }
                "messages.modify" => {
                    let add = strings(&b["addLabelIds"]);
                    let remove = strings(&b["removeLabelIds"]);
                    let m = mb.modify(&id, &add, &remove).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    render(&m, "minimal", &[])
                }
                "messages.batchModify" => {
                    let add = strings(&b["addLabelIds"]);
                    let remove = strings(&b["removeLabelIds"]);
                    for id in strings(&b["ids"]) {
                        mb.modify(&id, &add, &remove);
                    }
                    return Err(Reply::empty(204));
                }
                "messages.attachments.get" => {
                    let mid = params.get("messageId").cloned().unwrap_or_default();
                    let m = mb.messages.get(&mid).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let data = attachment(&m.raw, &id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    json!({ "attachmentId": id, "size": data.len(), "data": b64url(&data) })
                }
                "messages.send" => {
                    let raw = b["raw"].as_str().and_then(decode_b64).ok_or_else(|| Reply::error(400, "invalidArgument", "'raw' RFC822 payload message string or uploading message via /upload/* URL required"))?;
                    check_sendable(&raw)?;
                    let m = mb.insert(
                        raw,
                        vec!["SENT".into()],
                        b["threadId"].as_str().map(str::to_owned),
                    );
                    json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })
                }
                "threads.get" => {
                    let mut msgs: Vec<&Msg> =
                        mb.messages.values().filter(|m| m.thread_id == id).collect();
                    if msgs.is_empty() {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    }
                    msgs.sort_by_key(|m| m.internal_date);
                    let format = q("format").unwrap_or_else(|| "full".into());
                    let hist = msgs.iter().map(|m| m.history_id).max().unwrap_or(0);
                    json!({
                        "id": id,
                        "historyId": hist.to_string(),
                        "messages": msgs.iter().map(|m| render(m, &format, &qs("metadataHeaders"))).collect::<Vec<_>>(),
                    })
                }
                "drafts.create" => {
                    let raw = b["message"]["raw"]
                        .as_str()
                        .and_then(decode_b64)
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "Missing draft message")
                        })?;
                    let thread = b["message"]["threadId"].as_str().map(str::to_owned);
                    let m = mb.insert(raw, vec!["DRAFT".into()], thread);
                    let did = mb.new_id("r");
                    mb.drafts.insert(did.clone(), m.id.clone());
                    json!({ "id": did, "message": { "id": m.id, "threadId": m.thread_id, "labelIds": m.labels } })
                }
                "drafts.update" => {
                    let Some(old) = mb.drafts.get(&id).cloned() else {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    };
                    let raw = b["message"]["raw"]
                        .as_str()
                        .and_then(decode_b64)
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "Missing draft message")
                        })?;
                    let thread = b["message"]["threadId"].as_str().map(str::to_owned);
                    mb.delete(&old);
                    let m = mb.insert(raw, vec!["DRAFT".into()], thread);
                    mb.drafts.insert(id.clone(), m.id.clone());
                    json!({ "id": id, "message": { "id": m.id, "threadId": m.thread_id, "labelIds": m.labels } })
                }
                "drafts.get" => {
                    let mid = mb.drafts.get(&id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let m = &mb.messages[mid];
                    json!({ "id": id, "message": render(m, q("format").as_deref().unwrap_or("full"), &[]) })
                }
                "drafts.list" => {
                    let drafts: Vec<Value> = mb
                        .drafts
                        .iter()
                        .map(|(d, m)| json!({ "id": d, "message": { "id": m, "threadId": mb.messages[m].thread_id } }))
                        .collect();
                    let mut out = json!({ "resultSizeEstimate": drafts.len() });
                    if !drafts.is_empty() {
                        out["drafts"] = Value::Array(drafts);
                    }
                    out
                }
                "drafts.send" => {
                    let did = b["id"].as_str().unwrap_or_default().to_owned();
                    let mid = mb.drafts.remove(&did).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    let mut m = mb.messages[&mid].clone();
                    check_sendable(&m.raw)?;
                    m.labels = vec!["SENT".into()];
                    mb.clock += 60_000;
                    m.internal_date = mb.clock;
                    m.history_id = mb.bump("labelAdded", &m, vec!["SENT".into()]);
                    mb.messages.insert(mid.clone(), m.clone());
                    json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })
                }
                "drafts.delete" => {
                    let mid = mb.drafts.remove(&id).ok_or_else(|| {
                        Reply::error(404, "notFound", "Requested entity was not found.")
                    })?;
                    mb.delete(&mid);
                    return Err(Reply::empty(204));
                }
                "labels.list" => {
                    let mut labels: Vec<Value> = SYSTEM_LABELS
                        .iter()
                        .map(|l| json!({ "id": l, "name": l, "type": "system" }))
                        .collect();
                    labels.extend(
                        mb.user_labels
                            .iter()
                            .map(|(id, n)| json!({ "id": id, "name": n, "type": "user" })),
                    );
                    json!({ "labels": labels })
                }
                "history.list" => {
                    let start: u64 = q("startHistoryId")
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| {
                            Reply::error(400, "invalidArgument", "startHistoryId required")
                        })?;
                    if start < 1000 {
                        return Err(Reply::error(
                            404,
                            "notFound",
                            "Requested entity was not found.",
                        ));
                    }
                    let records: Vec<Value> = mb
                        .history
                        .iter()
                        .filter(|h| h.id > start)
                        .map(|h| {
                            let msg = json!({ "id": h.message.0, "threadId": h.message.1 });
                            let mut r =
                                json!({ "id": h.id.to_string(), "messages": [msg.clone()] });
                            match h.kind {
                                "messageAdded" => r["messagesAdded"] = json!([{ "message": msg }]),
                                "messageDeleted" => {
                                    r["messagesDeleted"] = json!([{ "message": msg }])
                                }
                                "labelAdded" => {
                                    r["labelsAdded"] =
                                        json!([{ "message": msg, "labelIds": h.labels }])
                                }
                                _ => {
                                    r["labelsRemoved"] =
                                        json!([{ "message": msg, "labelIds": h.labels }])
                                }
                            }
                            r
                        })
                        .collect();
                    let mut out = json!({ "historyId": mb.history_id.to_string() });
                    if !records.is_empty() {
                        out["history"] = Value::Array(records);
                    }
                    out
                }
                "settings.sendAs.list" => json!({ "sendAs": mb.send_as }),
                other => {
                    return Err(Reply::error(
                        501,
                        "notImplemented",
                        &format!("the fake does not implement {other}"),
                    ));
                }
            })
        })();
        result
    }
}

// ------------------------------------------------------------------ the fake

/// The Google fake serving Gmail, with Gmail's test controls; the fake's
/// own (tokens, faults, counts, violations) through `Deref`.
#[derive(Clone)]
pub struct GmailFake {
    /// `http://127.0.0.1:PORT/`, what `[google.endpoints] gmail` is set to.
    pub base: String,
    google: GoogleFake,
    api: Arc<GmailApi>,
}

impl std::ops::Deref for GmailFake {
    type Target = GoogleFake;

    fn deref(&self) -> &GoogleFake {
        &self.google
    }
}

impl GmailFake {
    /// Starts a Google fake serving Gmail only.
    pub async fn start() -> GmailFake {
        let api = GmailApi::new();
        let google = GoogleFake::start(vec![api.clone()]).await;
        GmailFake::attach(google, api)
    }

    /// Gmail's controls on a fake that serves `api` (among other APIs).
    pub fn attach(google: GoogleFake, api: Arc<GmailApi>) -> GmailFake {
        GmailFake {
            base: google.url(api.mount()),
            google,
            api,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Mailbox>) -> T) -> T {
        self.api.with(f)
    }

    /// A mailbox for `email`, reached with the bearer token `token`.
    pub fn add_account(&self, email: &str, token: &str) {
        self.add_mailbox(email);
        self.google.add_token(email, token);
    }

    /// A mailbox for `email`, reached with tokens an authorization server
    /// issued (see [`GoogleFake::trust_introspection`]).
    pub fn add_mailbox(&self, email: &str) {
        self.with(|m| {
            m.entry(email.to_owned())
                .or_insert_with(|| Mailbox::new(email));
        });
    }

    /// Delivers a raw RFC 5322 message into `email`'s mailbox (INBOX, UNREAD
    /// unless `labels` says otherwise). Returns (message id, thread id).
    pub fn deliver(&self, email: &str, raw: &[u8], labels: &[&str]) -> (String, String) {
        self.with(|m| {
            let mb = m.get_mut(email).expect("mailbox exists");
            let labels = if labels.is_empty() {
                vec!["INBOX".to_owned(), "UNREAD".to_owned()]
            } else {
                labels.iter().map(|l| (*l).to_owned()).collect()
            };
            let msg = mb.insert(raw.to_vec(), labels, None);
            (msg.id, msg.thread_id)
        })
    }

    pub fn add_label(&self, email: &str, id: &str, name: &str) {
        self.with(|m| {
            let mb = m.get_mut(email).expect("mailbox exists");
            mb.user_labels.push((id.to_owned(), name.to_owned()));
        });
    }

    pub fn add_send_as(&self, email: &str, alias: &str, name: &str, verified: bool) {
        self.with(|m| {
            let mb = m.get_mut(email).expect("mailbox exists");
            mb.send_as.push(json!({
                "sendAsEmail": alias,
                "displayName": name,
                "isPrimary": false,
                "isDefault": false,
                "treatAsAlias": true,
                "verificationStatus": if verified { "accepted" } else { "pending" },
            }));
        });
    }

    /// Labels of a message (None when it does not exist).
    pub fn labels(&self, email: &str, id: &str) -> Option<Vec<String>> {
        self.with(|m| m.get(email)?.messages.get(id).map(|m| m.labels.clone()))
    }

    /// Raw bytes and thread of every message with the SENT label, oldest first.
    pub fn sent(&self, email: &str) -> Vec<(String, String, Vec<u8>)> {
        self.with(|m| {
            let mut out: Vec<_> = m[email]
                .messages
                .values()
                .filter(|m| m.labels.iter().any(|l| l == "SENT"))
                .map(|m| {
                    (
                        m.internal_date,
                        m.id.clone(),
                        m.thread_id.clone(),
                        m.raw.clone(),
                    )
                })
                .collect();
            out.sort();
            out.into_iter()
                .map(|(_, id, t, raw)| (id, t, raw))
                .collect()
        })
    }

    /// Number of drafts in the mailbox.
    pub fn draft_count(&self, email: &str) -> usize {
        self.with(|m| m[email].drafts.len())
    }

    /// Replaces a draft's content behind commsd's back (as a user in Gmail's UI would).
    pub fn edit_draft(&self, email: &str, draft_id: &str, raw: &[u8]) {
        self.with(|m| {
            let mb = m.get_mut(email).expect("mailbox exists");
            let old = mb.drafts[draft_id].clone();
            let thread = mb.messages.get(&old).map(|m| m.thread_id.clone());
            mb.delete(&old);
            let msg = mb.insert(raw.to_vec(), vec!["DRAFT".to_owned()], thread);
            mb.drafts.insert(draft_id.to_owned(), msg.id);
        });
    }

    /// Fails the test if any request (or response) broke the contract.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "Gmail contract violations:\n{}", v.join("\n"));
    }
}
