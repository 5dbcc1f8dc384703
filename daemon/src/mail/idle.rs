//! IDLE on INBOX: a message that arrives becomes [`Event::MailReceived`].

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use tokio_util::sync::CancellationToken;

use super::client::{MailClient, OpError};
use super::imap::ImapSession;
use super::net;
use crate::events::{Bus, Event};

/// Servers drop an IDLE after 30 minutes; renew before that.
const RENEW: Duration = Duration::from_secs(25 * 60);
const FOLDER: &str = "INBOX";

/// Watches INBOX on a connection of its own until `shutdown`; reconnects
/// with backoff when the connection breaks.
pub async fn watch_inbox(client: Arc<MailClient>, bus: Arc<Bus>, shutdown: CancellationToken) {
    let mut failures = 0u32;
    // The next UID we have not announced, across reconnects.
    let mut next_uid: Option<(u32, u32)> = None;
    loop {
        let session = tokio::select! {
            () = shutdown.cancelled() => return,
            s = client.open() => s,
        };
        let outcome = match session {
            Ok(session) => {
                failures = 0;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    r = idle_loop(&client, &bus, session, &mut next_uid) => r,
                }
            }
            Err(e) => Err(OpError::Fail(e)),
        };
        let why = match outcome {
            Ok(()) => return,
            Err(OpError::Lost(w) | OpError::Server(w)) => w,
            Err(OpError::Fail(e)) => e.message,
        };
        let wait = net::backoff(
            failures,
            Duration::from_millis(500),
            Duration::from_secs(60),
        );
        failures = failures.saturating_add(1);
        tracing::info!(account = %client.account, reason = %why, retry_in_ms = wait.as_millis() as u64, "IMAP IDLE interrupted");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn idle_loop(
    client: &MailClient,
    bus: &Bus,
    mut session: ImapSession,
    next_uid: &mut Option<(u32, u32)>,
) -> Result<(), OpError> {
    let mailbox = session.select(FOLDER).await?;
    let validity = mailbox.uid_validity.unwrap_or(0);
    let uid_next = mailbox.uid_next.unwrap_or(1);
    // Messages that came while we were away are announced too.
    let mut from = match *next_uid {
        Some((v, n)) if v == validity => n,
        _ => uid_next,
    };
    announce(client, bus, &mut session, &mut from).await?;
    *next_uid = Some((validity, from));
    loop {
        let mut idle = session.idle();
        tokio::time::timeout(client.timeouts.command, idle.init())
            .await
            .map_err(|_| OpError::Lost("IDLE not accepted in time".to_owned()))??;
        let (wait, _stop) = idle.wait_with_timeout(RENEW);
        let response = wait.await?;
        session = tokio::time::timeout(client.timeouts.command, idle.done())
            .await
            .map_err(|_| OpError::Lost("IDLE did not end in time".to_owned()))??;
        if let IdleResponse::NewData(_) = response {
            announce(client, bus, &mut session, &mut from).await?;
            *next_uid = Some((validity, from));
        }
    }
}

/// Publishes an event for messages with UIDs from `from` on, and moves `from` past them.
async fn announce(
    client: &MailClient,
    bus: &Bus,
    session: &mut ImapSession,
    from: &mut u32,
) -> Result<(), OpError> {
    let found = tokio::time::timeout(
        client.timeouts.command,
        session.uid_search(format!("UID {from}:*")),
    )
    .await
    .map_err(|_| OpError::Lost("SEARCH timed out".to_owned()))??;
    let new: Vec<u32> = found.into_iter().filter(|u| *u >= *from).collect();
    if let Some(max) = new.iter().max() {
        *from = max + 1;
        bus.publish(Event::MailReceived {
            account: client.account.clone(),
            folder: FOLDER.to_owned(),
            new_messages: u32::try_from(new.len()).unwrap_or(u32::MAX),
        });
    }
    Ok(())
}
