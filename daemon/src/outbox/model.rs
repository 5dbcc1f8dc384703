//! The outbox's domain types: what is staged, in which state, decided how.
//!
//! These are the daemon's own types. Wire types (proto, JSON bodies, MCP
//! arguments) convert into and out of them at the edge.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Chat,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Chat];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Orders the review queue and dispatch: high first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The sort rank stored in the database (0 = high).
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Priority {
        match rank {
            0 => Priority::High,
            2 => Priority::Low,
            _ => Priority::Normal,
        }
    }
}

/// The life of an outbox item (design.md §4).
///
/// `draft` waits for the agent's own confirmation (policy `confirm`);
/// `pending_approval` waits for a human; `approved` waits for dispatch (and
/// the hold window); `sending` is written durably before the transport is
/// called; `unknown` is what `sending` becomes after a crash: a human decides,
/// it is never resent automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Draft,
    PendingApproval,
    Approved,
    Sending,
    Sent,
    Rejected,
    Expired,
    Failed,
    Cancelled,
    Unknown,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Draft,
        State::PendingApproval,
        State::Approved,
        State::Sending,
        State::Sent,
        State::Rejected,
        State::Expired,
        State::Failed,
        State::Cancelled,
        State::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::PendingApproval => "pending_approval",
            State::Approved => "approved",
            State::Sending => "sending",
            State::Sent => "sent",
            State::Rejected => "rejected",
            State::Expired => "expired",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Unknown => "unknown",
        }
    }

    /// Accepts the canonical names and `pending` for `pending_approval`.
    pub fn parse(s: &str) -> Option<State> {
        if s == "pending" {
            return Some(State::PendingApproval);
        }
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Waiting for someone's consent: may be edited, approved, rejected, cancelled, expire.
    pub fn is_pending(self) -> bool {
        matches!(self, State::Draft | State::PendingApproval)
    }

    /// Nothing more will happen to the item.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Sent | State::Rejected | State::Expired | State::Failed | State::Cancelled
        )
    }
}

/// What the send policy decided for an item (design.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A human approves (dashboard, `commsctl approve`, MCP elicitation).
    Approve,
    /// The agent may confirm itself after seeing the preview.
    Confirm,
    /// Dispatched without asking.
    Auto,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Confirm => "confirm",
            Decision::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        [Decision::Approve, Decision::Confirm, Decision::Auto]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// A file attached at staging time, copied into the data directory
/// (content-addressed, so later edits of the original change nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name the recipient sees (the original's base name).
    pub filename: String,
    /// Detected from the content, else from the extension, else application/octet-stream.
    pub mime_type: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content; also its name under `<data dir>/attachments/`.
    pub sha256: String,
}

/// A validated email. Addresses are normalised mailboxes (`Name <a@b.c>` or `a@b.c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailContent {
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    pub subject: String,
    /// The plain-text body. When only HTML is given, the text part is derived from it.
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A validated SMS: one E.164 recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsContent {
    pub to: String,
    pub body: String,
}

/// A validated Google Chat message to a space (`spaces/AAAA...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatContent {
    pub space: String,
    pub text: String,
    #[serde(default)]
    pub thread: Option<String>,
    /// Longer than one message allows: posted as numbered parts
    /// ([`crate::outbox::validate::parts`]) in one thread. Absent when false,
    /// so the content hash of every other message is unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split: bool,
    /// The space's display name ("Front desk") for the human who approves
    /// it, looked up when staged (the Chat API, or the name given to a
    /// webhook account); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_name: Option<String>,
}

impl ChatContent {
    /// The messages this item posts, in order: the text, or its numbered
    /// parts when it was split.
    pub fn parts(&self, max_chars: usize) -> Vec<String> {
        if self.split {
            crate::outbox::validate::parts::split(&self.text, max_chars)
        } else {
            vec![self.text.clone()]
        }
    }
}

/// What an item sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Content {
    Email(EmailContent),
    Sms(SmsContent),
    Chat(ChatContent),
}

impl Content {
    pub fn channel(&self) -> Channel {
        match self {
            Content::Email(_) => Channel::Email,
            Content::Sms(_) => Channel::Sms,
            Content::Chat(_) => Channel::Chat,
        }
    }

    /// Every recipient, for policy, audit and display (bare addresses for email).
    pub fn recipients(&self) -> Vec<String> {
        match self {
            Content::Email(e) => {
                e.to.iter()
                    .chain(&e.cc)
                    .chain(&e.bcc)
                    .map(|m| bare_address(m).to_owned())
                    .collect()
            }
            Content::Sms(s) => vec![s.to.clone()],
            Content::Chat(c) => vec![c.space.clone()],
        }
    }
}

/// `a@b.c` from `Name <a@b.c>`; the input itself when there are no brackets.
pub fn bare_address(mailbox: &str) -> &str {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(start), Some(end)) if start < end => &mailbox[start + 1..end],
        _ => mailbox.trim(),
    }
}
