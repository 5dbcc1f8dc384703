//! An outbox item as stored, and its JSON view (the shape every frontend shows).

use rusqlite::Row;
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

pub const COLUMNS: &str = "id, channel, account, state, priority, requester, client_request_id, content, \
    content_hash, recipients, summary, decision, rule, hold_reason, approved_hash, approved_by, \
    approved_at_ms, rejected_by, rejected_at_ms, reject_reason, dispatch_after_ms, dispatched_at_ms, \
    delivered_at_ms, delivery_detail, error, created_at_ms, updated_at_ms, expires_at_ms";

fn bad_column(index: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

impl Item {
    /// Maps a row selected with [`COLUMNS`].
    pub fn from_row(r: &Row<'_>) -> rusqlite::Result<Item> {
        let channel: String = r.get(1)?;
        let state: String = r.get(3)?;
        let content: String = r.get(7)?;
        let recipients: String = r.get(9)?;
        let decision: String = r.get(11)?;
        let approval = match (
            r.get::<_, Option<String>>(15)?,
            r.get::<_, Option<i64>>(16)?,
            r.get::<_, Option<String>>(14)?,
        ) {
            (Some(by), Some(at_ms), Some(content_hash)) => Some(Approval {
                by,
                at_ms,
                content_hash,
            }),
            _ => None,
        };
        let rejection = match (
            r.get::<_, Option<String>>(17)?,
            r.get::<_, Option<i64>>(18)?,
        ) {
            (Some(by), Some(at_ms)) => Some(Rejection {
                by,
                at_ms,
                reason: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
            }),
            _ => None,
        };
        let delivery = match r.get::<_, Option<i64>>(22)? {
            Some(at_ms) => Some(Delivery {
                at_ms,
                detail: r.get::<_, Option<String>>(23)?.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Item {
            id: r.get(0)?,
            channel: Channel::parse(&channel).ok_or_else(|| bad_column(1, "channel", &channel))?,
            account: r.get(2)?,
            state: State::parse(&state).ok_or_else(|| bad_column(3, "state", &state))?,
            priority: Priority::from_rank(r.get(4)?),
            requester: r.get(5)?,
            client_request_id: r.get(6)?,
            content: serde_json::from_str(&content).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    7,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            content_hash: r.get(8)?,
            recipients: serde_json::from_str(&recipients).unwrap_or_default(),
            summary: r.get(10)?,
            decision: Decision::parse(&decision)
                .ok_or_else(|| bad_column(11, "decision", &decision))?,
            rule: r.get(12)?,
            hold_reason: r.get(13)?,
            approval,
            rejection,
            dispatch_after_ms: r.get(20)?,
            dispatched_at_ms: r.get(21)?,
            delivery,
            error: r.get(24)?,
            created_at_ms: r.get(25)?,
            updated_at_ms: r.get(26)?,
            expires_at_ms: r.get(27)?,
        })
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
