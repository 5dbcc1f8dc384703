//! IMAP's feed into the unified inbox: INBOX through the account's pooled
//! client (`inbox::mailstore`: by UID, newest first, `BODY.PEEK`), woken by
//! the IDLE watcher's `MailReceived` and asked every `[inbox] poll_interval`
//! for read states changed elsewhere.

use std::sync::Arc;

use super::Mailboxes;
use crate::accounts::{Accounts, Kind};
use crate::error::Result;
use crate::events::Event;
use crate::inbox::{MessageSource, Sink};

pub struct ImapSource {
    pub mailboxes: Arc<Mailboxes>,
    pub accounts: Arc<Accounts>,
}

#[async_trait::async_trait]
impl MessageSource for ImapSource {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn accounts(&self) -> Vec<String> {
        self.accounts
            .list()
            .into_iter()
            .filter(|a| a.kind == Kind::Imap && a.unusable().is_none())
            .map(|a| a.id)
            .collect()
    }

    fn wakes(&self, event: &Event) -> Option<String> {
        match event {
            Event::MailReceived {
                account, folder, ..
            } if folder == "INBOX" => Some(account.clone()),
            _ => None,
        }
    }

    fn polls(&self) -> bool {
        true
    }

    async fn sync(&self, account: &str, sink: &Sink) -> Result<()> {
        let store = self.mailboxes.client(Some(account))?;
        crate::inbox::mailstore::sync(store.as_ref(), account, sink).await
    }
}
