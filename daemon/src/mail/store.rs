//! `MailStore`: a mailbox that can be read and filed, whatever holds it.
//! IMAP accounts are a [`MailClient`] (a server); the sandbox account is a
//! Maildir on disk (`sandbox::mailbox`). `mail::read` works on either, so
//! every read tool, route and `commsctl mail` reads both the same way.

use super::client::{Criteria, Destination, MailClient, Page};
use super::message::Full;
use crate::error::Result;

#[async_trait::async_trait]
pub trait MailStore: Send + Sync {
    /// The account's id.
    fn account(&self) -> &str;

    /// Messages matching `criteria` in `folder`, newest first, `limit` at a time.
    async fn list(
        &self,
        folder: &str,
        criteria: &Criteria,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page>;

    /// One message in full, bodies clipped at `max_chars`; attachments saved
    /// (0600) under the data directory when asked. Never marks it read.
    async fn get(&self, id: &str, max_chars: usize, save_attachments: bool) -> Result<Full>;

    /// Sets or clears the seen flag; returns how many messages.
    async fn mark(&self, ids: &[String], read: bool) -> Result<usize>;

    /// Moves a message; returns the folder it went to.
    async fn move_to(&self, id: &str, to: &Destination) -> Result<String>;
}

#[async_trait::async_trait]
impl MailStore for MailClient {
    fn account(&self) -> &str {
        &self.account
    }

    async fn list(
        &self,
        folder: &str,
        criteria: &Criteria,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page> {
        MailClient::list(self, folder, criteria, limit, cursor).await
    }

    async fn get(&self, id: &str, max_chars: usize, save_attachments: bool) -> Result<Full> {
        MailClient::get(self, id, max_chars, save_attachments).await
    }

    async fn mark(&self, ids: &[String], read: bool) -> Result<usize> {
        MailClient::mark(self, ids, read).await
    }

    async fn move_to(&self, id: &str, to: &Destination) -> Result<String> {
        MailClient::move_to(self, id, to).await
    }
}
