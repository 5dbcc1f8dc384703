//! Google Chat for the Google fake: spaces (named spaces and direct
//! messages), their messages and threads, checked against Google's
//! discovery document (`daemon/tests/fixtures/google/chat.v1.json`), each
//! method's scopes enforced by the shared authorization.
//!
//! What Chat does that the fake reproduces:
//! - `requestId`: the same caller sending to the same space with the same id
//!   gets the message it created before, never a second one;
//! - threads: `thread.name` or `thread.threadKey` in the body with
//!   `messageReplyOption` (UNSPECIFIED starts a new thread, FALLBACK replies
//!   or starts one, OR_FAIL replies or answers 404); the deprecated
//!   `threadKey` query parameter is recorded as a violation;
//! - incoming webhooks: `spaces.messages.create` with `key` and `token` in
//!   the query and no bearer token;
//! - 60 writes a minute per space, shared by webhooks and the API (429
//!   beyond it, counted), the window configurable for fast tests;
//! - `spaces.messages.list` filters `create_time > "RFC 3339"` and
//!   `thread.name = spaces/S/threads/T` joined by AND, pages, order;
//! - injected failures: 404 "Google Chat app not found" (no Chat app
//!   configured in the project), 403 admin block, and 429 through
//!   [`super::Fault`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::discovery::Contract;
use super::{FakeApi, GoogleFake, Reply, Request};

const DISCOVERY: &str = include_str!("../../../daemon/tests/fixtures/google/chat.v1.json");

/// What Google answers a user-authenticated call when the project has no
/// Chat app configured.
pub const APP_NOT_FOUND: &str = "Google Chat app not found. To create a Chat app, you must turn on the Chat API and configure the app in the Google Cloud console.";

#[derive(Clone, Debug)]
pub struct ChatMessage {
    pub name: String,
    pub space: String,
    pub thread: String,
    pub thread_key: Option<String>,
    pub text: String,
    /// The caller: an account address, or `webhook:<space>`.
    pub sender: String,
    pub request_id: Option<String>,
    /// Microseconds since the epoch.
    pub created_us: i64,
}

struct Space {
    name: String,
    display_name: String,
    /// SPACE or DIRECT_MESSAGE.
    space_type: &'static str,
    /// For a DM, the other person's address.
    dm_with: Option<String>,
    messages: Vec<ChatMessage>,
    writes: VecDeque<Instant>,
}

#[derive(Default)]
struct State {
    spaces: Vec<Space>,
    /// (caller, space, requestId) -> message name
    request_ids: HashMap<(String, String, String), String>,
    /// space -> (key, token)
    webhooks: HashMap<String, (String, String)>,
    app_not_configured: bool,
    admin_block: Option<String>,
    /// Writes refused for the per-space rate.
    rate_refusals: u64,
    next: u64,
    clock_us: i64,
    /// `spaces.setup` calls served.
    setups: u64,
}

/// Chat as a [`FakeApi`].
pub struct ChatApi {
    contract: Contract,
    state: Mutex<State>,
    /// Writes allowed per space in `window` (Google: 60 a minute).
    limit: usize,
    window: Duration,
}

fn rfc3339(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn chat_error(status: u16, message: &str) -> Reply {
    let st = match status {
        400 => "INVALID_ARGUMENT",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    Reply::json(
        status,
        &json!({ "error": { "code": status, "message": message, "status": st } }),
    )
}

impl ChatMessage {
    fn json(&self, display: &str) -> Value {
        let webhook = self.sender.starts_with("webhook:");
        let mut thread = json!({ "name": self.thread });
        if let Some(k) = &self.thread_key {
            thread["threadKey"] = json!(k);
        }
        json!({
            "name": self.name,
            "sender": {
                "name": if webhook { "users/webhook".to_owned() } else { format!("users/{}", self.sender) },
                "displayName": if webhook { "Incoming webhook".to_owned() } else { self.sender.clone() },
                "type": if webhook { "BOT" } else { "HUMAN" },
            },
            "createTime": rfc3339(self.created_us),
            "text": self.text,
            "thread": thread,
            "space": { "name": self.space, "displayName": display },
            "clientAssignedMessageId": Value::Null,
        })
        .as_object()
        .map(|o| {
            Value::Object(
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .unwrap()
    }
}

impl Space {
    fn json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "spaceType": self.space_type,
            "type": if self.space_type == "DIRECT_MESSAGE" { "DM" } else { "ROOM" },
            "singleUserBotDm": false,
            "spaceThreadingState": "THREADED_MESSAGES",
        });
        if !self.display_name.is_empty() {
            v["displayName"] = json!(self.display_name);
        }
        v
    }
}

/// One filter term of `spaces.messages.list`.
enum Term {
    After(i64),
    Before(i64),
    Thread(String),
}

fn parse_time(s: &str) -> Option<i64> {
    let t: jiff::Timestamp = s.parse().ok()?;
    Some(t.as_microsecond())
}

/// Google's filter grammar for messages, as far as commsd uses it:
/// `create_time > "RFC 3339"`, `create_time < "..."`,
/// `thread.name = spaces/S/threads/T` (or quoted), joined by AND.
fn parse_filter(f: &str) -> Result<Vec<Term>, String> {
    let mut out = Vec::new();
    for part in f.split(" AND ") {
        let part = part.trim();
        let (field, op, value) = ["<=", ">=", "=", "<", ">"]
            .iter()
            .find_map(|op| part.split_once(op).map(|(a, b)| (a.trim(), *op, b.trim())))
            .ok_or_else(|| format!("cannot parse filter term {part:?}"))?;
        let unquoted = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
            None if value.contains('"') => return Err(format!("unbalanced quotes in {part:?}")),
            None => value.to_owned(),
        };
        match (field, op) {
            ("create_time", ">" | ">=") => out.push(Term::After(
                parse_time(&unquoted).ok_or_else(|| format!("bad time {value}"))?
                    - i64::from(op == ">="),
            )),
            ("create_time", "<" | "<=") => out.push(Term::Before(
                parse_time(&unquoted).ok_or_else(|| format!("bad time {value}"))?
                    + i64::from(op == "<="),
            )),
            ("thread.name", "=") => out.push(Term::Thread(unquoted)),
            _ => return Err(format!("unsupported filter {part:?}")),
        }
    }
    Ok(out)
}

impl ChatApi {
    pub fn new(limit: usize, window: Duration) -> Arc<ChatApi> {
        Arc::new(ChatApi {
            contract: Contract::parse(DISCOVERY),
            state: Mutex::new(State {
                clock_us: 1_767_225_600_000_000, // 2026-01-01T00:00:00Z
                ..State::default()
            }),
            limit,
            window,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// `spaces.setup` of a direct message: exactly one human member; the
    /// person's existing DM when there is one (as Google does).
    fn set_up(&self, req: &Request<'_>) -> Result<Value, Reply> {
        let body = req.body();
        if body["space"]["spaceType"] != "DIRECT_MESSAGE" {
            return Err(chat_error(400, "The fake sets up direct messages only."));
        }
        let members = body["memberships"].as_array().cloned().unwrap_or_default();
        let [member] = members.as_slice() else {
            return Err(chat_error(
                400,
                "A direct message with a human needs exactly one membership.",
            ));
        };
        if member["member"]["type"] != "HUMAN" {
            return Err(chat_error(400, "Membership member type must be HUMAN."));
        }
        let Some(email) = member["member"]["name"]
            .as_str()
            .and_then(|n| n.strip_prefix("users/"))
            .map(str::to_owned)
        else {
            return Err(chat_error(400, "Member name must be users/{user}."));
        };
        self.with(|s| {
            s.setups += 1;
            if let Some(sp) = s
                .spaces
                .iter()
                .find(|sp| sp.dm_with.as_deref() == Some(&email))
            {
                return Ok(sp.json());
            }
            s.next += 1;
            let space = Space {
                name: format!("spaces/dm{}", s.next),
                display_name: String::new(),
                space_type: "DIRECT_MESSAGE",
                dm_with: Some(email),
                messages: Vec::new(),
                writes: VecDeque::new(),
            };
            let v = space.json();
            s.spaces.push(space);
            Ok(v)
        })
    }

    fn create(&self, req: &Request<'_>) -> Result<Value, Reply> {
        let space_name = req.param("parent");
        let body = req.body();
        let text = body["text"].as_str().unwrap_or_default().to_owned();
        if text.is_empty() {
            return Err(chat_error(400, "Message cannot be empty."));
        }
        if text.chars().count() > 4096 {
            return Err(chat_error(
                400,
                "Message text is too long (4,096 characters at most).",
            ));
        }
        let option = req.q("messageReplyOption").unwrap_or_default();
        let request_id = req.q("requestId");
        let limit = self.limit;
        let window = self.window;
        self.with(|s| {
            if let Some(rid) = &request_id
                && let Some(name) =
                    s.request_ids
                        .get(&(req.account.to_owned(), space_name.clone(), rid.clone()))
            {
                let name = name.clone();
                let sp = s.spaces.iter().find(|sp| sp.name == space_name).unwrap();
                let m = sp.messages.iter().find(|m| m.name == name).unwrap();
                return Ok(m.json(&sp.display_name));
            }
            s.clock_us += 1_000_000;
            s.next += 1;
            let n = s.next;
            let now_us = s.clock_us;
            let Some(sp) = s.spaces.iter_mut().find(|sp| sp.name == space_name) else {
                return Err(chat_error(
                    404,
                    "Space not found or the caller is not a member.",
                ));
            };
            let now = Instant::now();
            while sp
                .writes
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                sp.writes.pop_front();
            }
            if sp.writes.len() >= limit {
                s.rate_refusals += 1;
                let mut r = Reply::error(
                    429,
                    "rateLimitExceeded",
                    "Quota exceeded for quota metric 'Write requests per space'.",
                );
                r.headers.push(("Retry-After".into(), "1".into()));
                return Err(r);
            }
            let reply = option == "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
                || option == "REPLY_MESSAGE_OR_FAIL";
            let want_name = body["thread"]["name"].as_str().map(str::to_owned);
            let want_key = body["thread"]["threadKey"].as_str().map(str::to_owned);
            let existing = if reply {
                sp.messages.iter().find(|m| {
                    want_name.as_deref() == Some(m.thread.as_str())
                        || (want_key.is_some()
                            && m.thread_key == want_key
                            && m.sender == req.account)
                })
            } else {
                None
            };
            let (thread, thread_key) = match existing {
                Some(m) => (m.thread.clone(), m.thread_key.clone()),
                None if reply && option == "REPLY_MESSAGE_OR_FAIL" && want_name.is_some() => {
                    return Err(chat_error(404, "Thread not found."));
                }
                None => (
                    format!("{space_name}/threads/t{n}"),
                    if reply { want_key } else { None },
                ),
            };
            sp.writes.push_back(now);
            let m = ChatMessage {
                name: format!("{space_name}/messages/m{n}.m{n}"),
                space: space_name.clone(),
                thread,
                thread_key,
                text,
                sender: req.account.to_owned(),
                request_id: request_id.clone(),
                created_us: now_us,
            };
            let v = m.json(&sp.display_name);
            sp.messages.push(m.clone());
            if let Some(rid) = request_id {
                s.request_ids
                    .insert((req.account.to_owned(), space_name, rid), m.name);
            }
            Ok(v)
        })
    }

    fn list_messages(&self, req: &Request<'_>) -> Result<Value, Reply> {
        let parent = req.param("parent");
        let terms = match req.q("filter") {
            Some(f) => parse_filter(&f).map_err(|e| chat_error(400, &e))?,
            None => Vec::new(),
        };
        let size = req
            .q("pageSize")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(25)
            .clamp(1, 1000);
        let offset = req
            .q("pageToken")
            .map(|t| {
                t.strip_prefix("off-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| chat_error(400, "bad page token"))
            })
            .transpose()?
            .unwrap_or(0);
        let desc = req
            .q("orderBy")
            .is_some_and(|o| o.to_ascii_lowercase().ends_with("desc"));
        self.with(|s| {
            let Some(sp) = s.spaces.iter().find(|sp| sp.name == parent) else {
                return Err(chat_error(
                    404,
                    "Space not found or the caller is not a member.",
                ));
            };
            let mut all: Vec<&ChatMessage> = sp
                .messages
                .iter()
                .filter(|m| {
                    terms.iter().all(|t| match t {
                        Term::After(us) => m.created_us > *us,
                        Term::Before(us) => m.created_us < *us,
                        Term::Thread(name) => &m.thread == name,
                    })
                })
                .collect();
            if desc {
                all.reverse();
            }
            let page: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(size)
                .map(|m| m.json(&sp.display_name))
                .collect();
            let mut v = json!({ "messages": page });
            if offset + size < all.len() {
                v["nextPageToken"] = json!(format!("off-{}", offset + size));
            }
            if all.is_empty() {
                v = json!({});
            }
            Ok(v)
        })
    }
}

impl FakeApi for ChatApi {
    fn contract(&self) -> &Contract {
        &self.contract
    }

    fn mount(&self) -> &str {
        ""
    }

    fn quota_cost(&self, _method_id: &str) -> u64 {
        1
    }

    fn credential_in_query(
        &self,
        method_id: &str,
        params: &HashMap<String, String>,
        query: &[(String, String)],
    ) -> Option<(Vec<&'static str>, Result<String, Reply>)> {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (key, token) = (get("key")?, get("token")?);
        let space = params.get("parent").cloned().unwrap_or_default();
        let who = if method_id != "chat.spaces.messages.create" {
            Err(chat_error(
                401,
                "Incoming webhooks can only create messages.",
            ))
        } else if self.with(|s| s.webhooks.get(&space) == Some(&(key, token))) {
            Ok(format!("webhook:{space}"))
        } else {
            Err(chat_error(
                401,
                "Request had invalid authentication credentials.",
            ))
        };
        Some((vec!["key", "token"], who))
    }

    fn admit(&self, req: &Request<'_>) -> Result<(), Reply> {
        if req.account.starts_with("webhook:") {
            return Ok(());
        }
        let (missing, block) = self.with(|s| (s.app_not_configured, s.admin_block.clone()));
        if missing {
            return Err(chat_error(404, APP_NOT_FOUND));
        }
        if let Some(msg) = block {
            return Err(Reply::error(403, "domainPolicy", &msg));
        }
        Ok(())
    }

    fn serve(&self, req: &Request<'_>) -> Result<Value, Reply> {
        match req.method.id.as_str() {
            "chat.spaces.messages.create" => self.create(req),
            "chat.spaces.messages.list" => self.list_messages(req),
            "chat.spaces.messages.get" => {
                let name = req.param("name");
                self.with(|s| {
                    s.spaces
                        .iter()
                        .find_map(|sp| {
                            sp.messages
                                .iter()
                                .find(|m| m.name == name)
                                .map(|m| m.json(&sp.display_name))
                        })
                        .ok_or_else(|| chat_error(404, "Message not found."))
                })
            }
            "chat.spaces.list" => {
                let filter = req.q("filter").unwrap_or_default();
                self.with(|s| {
                    let spaces: Vec<Value> = s
                        .spaces
                        .iter()
                        .filter(|sp| filter.is_empty() || filter.contains(sp.space_type))
                        .map(Space::json)
                        .collect();
                    Ok(if spaces.is_empty() {
                        json!({})
                    } else {
                        json!({ "spaces": spaces })
                    })
                })
            }
            "chat.spaces.get" => {
                let name = req.param("name");
                self.with(|s| {
                    s.spaces
                        .iter()
                        .find(|sp| sp.name == name)
                        .map(Space::json)
                        .ok_or_else(|| chat_error(404, "Space not found."))
                })
            }
            "chat.spaces.setup" => self.set_up(req),
            "chat.spaces.findDirectMessage" => {
                let user = req.q("name").unwrap_or_default();
                let email = user.trim_start_matches("users/").to_owned();
                self.with(|s| {
                    s.spaces
                        .iter()
                        .find(|sp| sp.dm_with.as_deref() == Some(email.as_str()))
                        .map(Space::json)
                        .ok_or_else(|| chat_error(404, "Direct message space not found."))
                })
            }
            other => Err(chat_error(400, &format!("the fake does not serve {other}"))),
        }
    }
}

/// The running fake with Chat's controls.
#[derive(Clone)]
pub struct ChatFake {
    pub google: GoogleFake,
    pub api: Arc<ChatApi>,
    /// Where `[google.endpoints] chat` points.
    pub base: String,
}

impl std::ops::Deref for ChatFake {
    type Target = GoogleFake;

    fn deref(&self) -> &GoogleFake {
        &self.google
    }
}

impl ChatFake {
    /// Chat alone, with Google's 60 writes a minute per space.
    pub async fn start() -> ChatFake {
        ChatFake::start_with_rate(60, Duration::from_secs(60)).await
    }

    /// Chat alone, `limit` writes per space in each `window`.
    pub async fn start_with_rate(limit: usize, window: Duration) -> ChatFake {
        let api = ChatApi::new(limit, window);
        let google = GoogleFake::start(vec![api.clone()]).await;
        ChatFake {
            base: google.url(""),
            google,
            api,
        }
    }

    /// A named space.
    pub fn add_space(&self, name: &str, display: &str) {
        self.api.with(|s| {
            s.spaces.push(Space {
                name: name.to_owned(),
                display_name: display.to_owned(),
                space_type: "SPACE",
                dm_with: None,
                messages: Vec::new(),
                writes: VecDeque::new(),
            })
        });
    }

    /// A direct message space with `email`.
    pub fn add_dm(&self, name: &str, email: &str) {
        self.api.with(|s| {
            s.spaces.push(Space {
                name: name.to_owned(),
                display_name: String::new(),
                space_type: "DIRECT_MESSAGE",
                dm_with: Some(email.to_owned()),
                messages: Vec::new(),
                writes: VecDeque::new(),
            })
        });
    }

    /// An incoming webhook of `space`: its URL (the credential).
    pub fn add_webhook(&self, space: &str) -> String {
        let key = "AIzaSyFakeKey-7Xq";
        let token = format!("tok-{}-SeCrEt", space.trim_start_matches("spaces/"));
        self.api.with(|s| {
            s.webhooks
                .insert(space.to_owned(), (key.to_owned(), token.clone()))
        });
        format!("{}v1/{space}/messages?key={key}&token={token}", self.base)
    }

    /// A message a person posted (not through the API under test).
    pub fn post(&self, space: &str, sender: &str, text: &str, thread: Option<&str>) -> String {
        self.api.with(|s| {
            s.clock_us += 1_000_000;
            s.next += 1;
            let n = s.next;
            let created_us = s.clock_us;
            let sp = s.spaces.iter_mut().find(|sp| sp.name == space).unwrap();
            let m = ChatMessage {
                name: format!("{space}/messages/p{n}.p{n}"),
                space: space.to_owned(),
                thread: thread.map_or_else(|| format!("{space}/threads/p{n}"), str::to_owned),
                thread_key: None,
                text: text.to_owned(),
                sender: sender.to_owned(),
                request_id: None,
                created_us,
            };
            sp.messages.push(m.clone());
            m.name
        })
    }

    pub fn messages(&self, space: &str) -> Vec<ChatMessage> {
        self.api.with(|s| {
            s.spaces
                .iter()
                .find(|sp| sp.name == space)
                .map(|sp| sp.messages.clone())
                .unwrap_or_default()
        })
    }

    /// Every call from the project answers 404 "Google Chat app not found".
    pub fn set_app_not_configured(&self, on: bool) {
        self.api.with(|s| s.app_not_configured = on);
    }

    /// Every call answers 403 with the admin's message.
    pub fn set_admin_block(&self, message: Option<&str>) {
        self.api
            .with(|s| s.admin_block = message.map(str::to_owned));
    }

    /// `spaces.setup` calls served.
    pub fn setups(&self) -> u64 {
        self.api.with(|s| s.setups)
    }

    /// The direct message space with `email`, if there is one.
    pub fn dm_with(&self, email: &str) -> Option<String> {
        self.api.with(|s| {
            s.spaces
                .iter()
                .find(|sp| sp.dm_with.as_deref() == Some(email))
                .map(|sp| sp.name.clone())
        })
    }

    /// Writes refused with 429 for the per-space rate.
    pub fn rate_refusals(&self) -> u64 {
        self.api.with(|s| s.rate_refusals)
    }

    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "Chat contract violations:\n{}", v.join("\n"));
    }
}
