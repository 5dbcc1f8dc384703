//! IMAP/SMTP accounts: settings, the connection test, the SMTP transport of
//! the outbox, reading over IMAP (pooled sessions) and IDLE on INBOX.

pub mod add;
pub mod check;
pub mod client;
pub mod idle;
pub mod imap;
pub mod inbox_source;
pub mod mailboxes;
pub mod message;
pub mod net;
pub mod provider;
pub mod read;
pub mod settings;
pub mod smtp;
mod smtp_stream;
pub mod store;
pub mod trust;
pub mod utf7;

pub use client::{Criteria, Destination, MailClient, Page};
pub use mailboxes::{ImapTransport, Mailboxes};
pub use settings::{AuthMethod, Credential, CredentialSource, MailSettings, Security, Server};
pub use smtp::SmtpTransport;
pub use store::MailStore;
