//! Syncing a [`MailStore`]'s INBOX into the index: what the IMAP source and
//! the sandbox's email source share. Newest first, page by page, until the
//! window ends or a whole page is already indexed; new messages are read in
//! full with `BODY.PEEK` (never marked read), known ones only have their read
//! state refreshed. When the scan covered the whole INBOX, indexed messages
//! no longer there (moved, deleted) are dropped.

use std::collections::HashSet;

use super::{Batch, NewMessage, Sink};
use crate::error::Result;
use crate::mail::client::Criteria;
use crate::mail::store::MailStore;
use crate::outbox::model::Channel;

const PAGE: usize = 50;
const FOLDER: &str = "INBOX";

pub async fn sync(store: &dyn MailStore, account: &str, sink: &Sink) -> Result<()> {
    let known = sink.known(account, Channel::Email).await?;
    let min = sink.min_at_ms();
    let max = sink.config().per_account;
    let max_chars = sink.config().max_text_chars;
    let criteria = Criteria::default();
    let mut batch = Batch::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut cursor: Option<String> = None;
    let complete = loop {
        let page = store
            .list(FOLDER, &criteria, PAGE, cursor.as_deref())
            .await?;
        let mut all_known = true;
        let mut ended = false;
        for summary in page.messages {
            let at_ms = summary
                .date
                .as_deref()
                .and_then(|d| d.parse::<jiff::Timestamp>().ok())
                .map_or(0, |t| t.as_millisecond());
            if min.is_some_and(|m| at_ms < m) || seen.len() >= max {
                ended = true;
                break;
            }
            seen.insert(summary.id.clone());
            if known.contains(&summary.id) {
                batch
                    .read_states
                    .push((Channel::Email, summary.id.clone(), summary.unread));
                continue;
            }
            all_known = false;
            let full = store.get(&summary.id, max_chars, false).await?;
            batch.messages.push(NewMessage {
                channel: Channel::Email,
                account_id: account.to_owned(),
                provider_id: summary.id.clone(),
                thread_id: None,
                from: summary.from.first().cloned().unwrap_or_default(),
                to: summary.to.clone(),
                at_ms,
                subject: summary.subject.clone(),
                text: full.text,
                has_attachments: !full.attachments.is_empty(),
                unread: summary.unread,
            });
        }
        if ended {
            break true;
        }
        match page.next_cursor {
            None => break true,
            Some(next) if !all_known => cursor = Some(next),
            Some(_) => break false,
        }
    };
    if complete {
        batch.gone = known
            .into_iter()
            .filter(|id| !seen.contains(id))
            .map(|id| (Channel::Email, id))
            .collect();
    }
    sink.put(account, batch).await?;
    Ok(())
}
