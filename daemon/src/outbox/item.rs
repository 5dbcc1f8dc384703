//! An outbox item as stored, and its JSON view (the shape every frontend shows).

use rusqlite::Row;
use rusqlite::types::ToSql;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::{Channel, Content, Decision, Priority, State};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub by: String,
    pub at_ms: i64,
    /// The content hash the approval covers; dispatch re-checks it.
    pub content_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub by: String,
    pub at_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub at_ms: i64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub channel: Channel,
    pub account: String,
    pub state: State,
    pub priority: Priority,
    pub requester: String,
    pub client_request_id: Option<String>,
    pub content: Content,
    pub content_hash: String,
    pub recipients: Vec<String>,
    pub summary: String,
    pub decision: Decision,
    pub rule: String,
    pub hold_reason: Option<String>,
    pub approval: Option<Approval>,
    pub rejection: Option<Rejection>,
    pub dispatch_after_ms: Option<i64>,
    pub dispatched_at_ms: Option<i64>,
    pub delivery: Option<Delivery>,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    /// The provider object the item is linked to (`gmail-draft:<id>`), set
    /// once at staging; transports read it here.
    pub provider_ref: Option<String>,
    /// Recipients given by name and what they resolved to, set at staging.
    pub addressing: Vec<super::resolver::Addressed>,
}

/// SHA-256 over the account and the canonical content (attachments by their
/// own hashes): what an approval binds to.
pub fn content_hash(account: &str, content: &Content) -> String {
    let canonical = serde_json::to_vec(&(account, content)).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

/// A one-line summary: the subject, or the first words of the text.
pub fn summary(content: &Content) -> String {
    let text = match content {
        Content::Email(e) if !e.subject.trim().is_empty() => return clip(e.subject.trim(), 120),
        Content::Email(e) => &e.text,
        Content::Sms(s) => &s.body,
        Content::Chat(c) => &c.text,
    };
    clip(&text.split_whitespace().collect::<Vec<_>>().join(" "), 80)
}

fn clip(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

/// RFC 3339 UTC from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The columns of `outbox_items` an [`Item`] maps, in one order shared by
/// [`Item::from_row`] (which reads them by name through [`col!`]) and
/// [`Item::values`] (which binds them in this order). A new column is added
/// here, in `values` and in `from_row`; the SQL in `db.rs` is built from it.
pub const COLUMNS: [&str; 30] = [
    "id",
    "channel",
    "account",
    "state",
    "priority",
    "requester",
    "client_request_id",
    "content",
    "content_hash",
    "recipients",
    "summary",
    "decision",
    "rule",
    "hold_reason",
    "approved_hash",
    "approved_by",
    "approved_at_ms",
    "rejected_by",
    "rejected_at_ms",
    "reject_reason",
    "dispatch_after_ms",
    "dispatched_at_ms",
    "delivered_at_ms",
    "delivery_detail",
    "error",
    "created_at_ms",
    "updated_at_ms",
    "expires_at_ms",
    "provider_ref",
    "addressing",
];

/// Columns written once, when the item is inserted, and never updated.
pub const FIXED_COLUMNS: [&str; 8] = [
    "id",
    "channel",
    "account",
    "requester",
    "client_request_id",
    "created_at_ms",
    "provider_ref",
    "addressing",
];

/// The position of `name` in [`COLUMNS`], or `COLUMNS.len()` when it is not
/// there ([`col!`] turns that into a build error).
pub const fn column_index(name: &str) -> usize {
    let name = name.as_bytes();
    let mut i = 0;
    while i < COLUMNS.len() {
        let c = COLUMNS[i].as_bytes();
        if c.len() == name.len() {
            let mut j = 0;
            while j < c.len() && c[j] == name[j] {
                j += 1;
            }
            if j == c.len() {
                return i;
            }
        }
        i += 1;
    }
    COLUMNS.len()
}

/// The position of a column in [`COLUMNS`], computed at compile time; a
/// name that is not a column fails the build (`cargo check` does not
/// evaluate it).
macro_rules! col {
    ($name:literal) => {
        const {
            let i = $crate::outbox::item::column_index($name);
            assert!(
                i < $crate::outbox::item::COLUMNS.len(),
                "not a column of outbox_items"
            );
            i
        }
    };
}
pub(crate) use col;

/// The JSON stored in a text column.
fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn bad_column(index: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

impl Item {
    /// Maps a row selected with [`COLUMNS`] (in their order).
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Item> {
        let channel: String = r.get(col!("channel"))?;
        let state: String = r.get(col!("state"))?;
        let content: String = r.get(col!("content"))?;
        let recipients: String = r.get(col!("recipients"))?;
        let decision: String = r.get(col!("decision"))?;
        let approval = match (
            r.get::<_, Option<String>>(col!("approved_by"))?,
            r.get::<_, Option<i64>>(col!("approved_at_ms"))?,
            r.get::<_, Option<String>>(col!("approved_hash"))?,
        ) {
            (Some(by), Some(at_ms), Some(content_hash)) => Some(Approval {
                by,
                at_ms,
                content_hash,
            }),
            _ => None,
        };
        let rejection = match (
            r.get::<_, Option<String>>(col!("rejected_by"))?,
            r.get::<_, Option<i64>>(col!("rejected_at_ms"))?,
        ) {
            (Some(by), Some(at_ms)) => Some(Rejection {
                by,
                at_ms,
                reason: r
                    .get::<_, Option<String>>(col!("reject_reason"))?
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        let delivery = match r.get::<_, Option<i64>>(col!("delivered_at_ms"))? {
            Some(at_ms) => Some(Delivery {
                at_ms,
                detail: r
                    .get::<_, Option<String>>(col!("delivery_detail"))?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Item {
            id: r.get(col!("id"))?,
            channel: Channel::parse(&channel)
                .ok_or_else(|| bad_column(col!("channel"), "channel", &channel))?,
            account: r.get(col!("account"))?,
            state: State::parse(&state)
                .ok_or_else(|| bad_column(col!("state"), "state", &state))?,
            priority: Priority::from_rank(r.get(col!("priority"))?),
            requester: r.get(col!("requester"))?,
            client_request_id: r.get(col!("client_request_id"))?,
            content: serde_json::from_str(&content).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    col!("content"),
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            content_hash: r.get(col!("content_hash"))?,
            recipients: serde_json::from_str(&recipients).unwrap_or_default(),
            summary: r.get(col!("summary"))?,
            decision: Decision::parse(&decision)
                .ok_or_else(|| bad_column(col!("decision"), "decision", &decision))?,
            rule: r.get(col!("rule"))?,
            hold_reason: r.get(col!("hold_reason"))?,
            approval,
            rejection,
            dispatch_after_ms: r.get(col!("dispatch_after_ms"))?,
            dispatched_at_ms: r.get(col!("dispatched_at_ms"))?,
            delivery,
            error: r.get(col!("error"))?,
            created_at_ms: r.get(col!("created_at_ms"))?,
            updated_at_ms: r.get(col!("updated_at_ms"))?,
            expires_at_ms: r.get(col!("expires_at_ms"))?,
            provider_ref: r.get(col!("provider_ref"))?,
            addressing: r
                .get::<_, Option<String>>(col!("addressing"))?
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
        })
    }

    /// The item's value for each of [`COLUMNS`], in that order.
    pub fn values(&self) -> [Box<dyn ToSql + '_>; COLUMNS.len()] {
        [
            Box::new(&self.id),
            Box::new(self.channel.as_str()),
            Box::new(&self.account),
            Box::new(self.state.as_str()),
            Box::new(self.priority.rank()),
            Box::new(&self.requester),
            Box::new(&self.client_request_id),
            Box::new(json_text(&self.content)),
            Box::new(&self.content_hash),
            Box::new(json_text(&self.recipients)),
            Box::new(&self.summary),
            Box::new(self.decision.as_str()),
            Box::new(&self.rule),
            Box::new(&self.hold_reason),
            Box::new(self.approval.as_ref().map(|a| &a.content_hash)),
            Box::new(self.approval.as_ref().map(|a| &a.by)),
            Box::new(self.approval.as_ref().map(|a| a.at_ms)),
            Box::new(self.rejection.as_ref().map(|r| &r.by)),
            Box::new(self.rejection.as_ref().map(|r| r.at_ms)),
            Box::new(self.rejection.as_ref().map(|r| &r.reason)),
            Box::new(self.dispatch_after_ms),
            Box::new(self.dispatched_at_ms),
            Box::new(self.delivery.as_ref().map(|d| d.at_ms)),
            Box::new(self.delivery.as_ref().map(|d| &d.detail)),
            Box::new(&self.error),
            Box::new(self.created_at_ms),
            Box::new(self.updated_at_ms),
            Box::new(self.expires_at_ms),
            Box::new(&self.provider_ref),
            Box::new((!self.addressing.is_empty()).then(|| json_text(&self.addressing))),
        ]
    }

    /// The JSON view shared by the API, the dashboard, MCP and `--json`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(super::view::ItemView::from(self)).unwrap_or(Value::Null)
    }
}

impl Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
