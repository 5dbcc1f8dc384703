//! The sandbox provider: the built-in `sandbox` account, the embedded
//! default, with which nothing ever leaves the machine. It sends into local
//! files and keeps an inbox of its own, so every read tool works on a fresh
//! install with no account:
//!
//! ```text
//! <data dir>/sandbox/Maildir/            sent email (outgoing.rs)
//! <data dir>/sandbox/sms.jsonl, chat.jsonl   sent SMS and chat messages
//! <data dir>/sandbox/inbox/Maildir/      received email: INBOX, .Archive, .Trash
//! <data dir>/sandbox/inbox/sms.jsonl     received SMS, one JSON object a line
//! <data dir>/sandbox/inbox/chat.jsonl    received chat messages
//! ```
//!
//! What it receives is put there by `commsctl sandbox receive ...` and
//! `POST /api/v1/sandbox/receive` (`inbox.rs`), and read through
//! `mail::read` like any mailbox (`mailbox.rs`).

pub mod api;
pub mod inbox;
pub mod inbox_source;
pub mod lines;
pub mod mailbox;
pub mod maildir;
pub mod outgoing;
pub mod provider;

use std::path::{Path, PathBuf};

pub use inbox::SandboxInbox;
pub use mailbox::SandboxMailbox;

/// `<data dir>/sandbox/inbox`: what the sandbox received.
pub fn inbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("sandbox").join("inbox")
}

/// `<data dir>/sandbox/inbox/Maildir`: the sandbox account's mailbox.
pub fn inbox_maildir(data_dir: &Path) -> PathBuf {
    inbox_dir(data_dir).join("Maildir")
}

/// `[sandbox]`
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// The From of sandbox email.
    pub from: String,
}

impl SandboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            format!(
                "key `sandbox.from`: {e}; expected a mailbox such as \"Praxis <praxis@example.org>\""
            )
        })?;
        Ok(())
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            from: "commsd sandbox <sandbox@commsd.invalid>".to_owned(),
        }
    }
}
