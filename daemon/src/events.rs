//! The daemon's event bus: a closed set of events on a broadcast channel.
//!
//! Everything that other parts of the daemon or its clients may want to react
//! to is an [`Event`]. Shutdown is one of them: SIGTERM, SIGINT and the
//! Shutdown RPC all publish [`Event::ShutdownStarted`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use commsd_proto::v1;
use tokio::sync::broadcast;

use crate::outbox::model::{Channel, Priority, State};

/// Everything that can happen inside the daemon. Closed: add a variant here
/// and in `events.proto` together.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The daemon is stopping; nothing new is accepted from now on.
    ShutdownStarted { reason: String },
    /// An outbox item was staged or changed state.
    OutboxChanged {
        id: String,
        state: State,
        channel: Channel,
        account: String,
        priority: Priority,
    },
    /// The set of accounts (or their scopes) changed. Published when the
    /// daemon's account registry is loaded (today only at start-up; the
    /// [accounts] work publishes it when accounts are added or removed).
    AccountsChanged { accounts: usize },
    /// New messages arrived in a folder of an IMAP account (IDLE).
    MailReceived {
        account: String,
        folder: String,
        new_messages: u32,
    },
    /// A message arrived in a sandbox inbox (`commsctl sandbox receive`).
    /// `id` reads it: an email's message id, an SMS's or chat message's
    /// record id. No content.
    MessageReceived {
        channel: Channel,
        account: String,
        id: String,
    },
    /// The unified inbox indexed new messages of `account` (`added`) or
    /// saw changes to indexed ones (`changed`: read state, removal). No
    /// content.
    InboxChanged {
        account: String,
        source: String,
        added: u32,
        changed: u32,
    },
    /// A row was appended to the audit log.
    AuditAppended {
        seq: i64,
        action: String,
        item_id: Option<String>,
    },
}

/// An event with its place in the daemon's history.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub seq: u64,
    pub at_unix_ms: i64,
    pub event: Event,
}

/// Capacity per subscriber before it starts missing events.
const CAPACITY: usize = 1024;

pub struct Bus {
    tx: broadcast::Sender<Envelope>,
    /// Serialises numbering and sending so that seq order is delivery order.
    seq: Mutex<u64>,
    /// Subscriptions of the daemon's own services (not clients).
    internal: Arc<AtomicUsize>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(CAPACITY).0,
            seq: Mutex::new(0),
            internal: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Bus {
    pub fn publish(&self, event: Event) {
        let mut seq = self.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq += 1;
        let envelope = Envelope {
            seq: *seq,
            at_unix_ms: now_unix_ms(),
            event,
        };
        // No subscribers is not an error.
        let _ = self.tx.send(envelope);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }

    /// A subscription of one of the daemon's own services: not counted
    /// by [`Bus::subscribers`], which counts clients.
    pub fn subscribe_internal(&self) -> InternalReceiver {
        self.internal.fetch_add(1, Ordering::Relaxed);
        InternalReceiver {
            rx: self.tx.subscribe(),
            internal: self.internal.clone(),
        }
    }

    /// Clients following the stream.
    pub fn subscribers(&self) -> usize {
        self.tx
            .receiver_count()
            .saturating_sub(self.internal.load(Ordering::Relaxed))
    }
}

/// See [`Bus::subscribe_internal`].
pub struct InternalReceiver {
    rx: broadcast::Receiver<Envelope>,
    internal: Arc<AtomicUsize>,
}

impl InternalReceiver {
    pub async fn recv(&mut self) -> Result<Envelope, broadcast::error::RecvError> {
        self.rx.recv().await
    }
}

impl Drop for InternalReceiver {
    fn drop(&mut self) {
        self.internal.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl From<&Envelope> for v1::Event {
    fn from(e: &Envelope) -> Self {
        let kind = match &e.event {
            Event::ShutdownStarted { reason } => {
                v1::event::Kind::ShutdownStarted(v1::ShutdownStarted {
                    reason: reason.clone(),
                })
            }
            Event::OutboxChanged {
                id,
                state,
                channel,
                account,
                priority,
            } => v1::event::Kind::OutboxChanged(v1::OutboxChanged {
                id: id.clone(),
                state: state.as_str().to_owned(),
                channel: channel.as_str().to_owned(),
                account: account.clone(),
                priority: priority.as_str().to_owned(),
            }),
            Event::AccountsChanged { accounts } => {
                v1::event::Kind::AccountsChanged(v1::AccountsChanged {
                    accounts: u32::try_from(*accounts).unwrap_or(u32::MAX),
                })
            }
            Event::MailReceived {
                account,
                folder,
                new_messages,
            } => v1::event::Kind::MailReceived(v1::MailReceived {
                account: account.clone(),
                folder: folder.clone(),
                new_messages: *new_messages,
            }),
            Event::MessageReceived {
                channel,
                account,
                id,
            } => v1::event::Kind::MessageReceived(v1::MessageReceived {
                channel: channel.as_str().to_owned(),
                account: account.clone(),
                id: id.clone(),
            }),
            Event::InboxChanged {
                account,
                source,
                added,
                changed,
            } => v1::event::Kind::InboxChanged(v1::InboxChanged {
                account: account.clone(),
                source: source.clone(),
                added: *added,
                changed: *changed,
            }),
            Event::AuditAppended {
                seq,
                action,
                item_id,
            } => v1::event::Kind::AuditAppended(v1::AuditAppended {
                seq: *seq,
                action: action.clone(),
                item_id: item_id.clone().unwrap_or_default(),
            }),
        };
        v1::Event {
            seq: e.seq,
            at_unix_ms: e.at_unix_ms,
            kind: Some(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_events_in_order() {
        let bus = Bus::default();
        let mut rx = bus.subscribe();
        bus.publish(Event::ShutdownStarted { reason: "a".into() });
        bus.publish(Event::ShutdownStarted { reason: "b".into() });
        let first = rx.recv().await.unwrap();
        let second = rx.recv().await.unwrap();
        assert_eq!((first.seq, second.seq), (1, 2));
        assert_eq!(second.event, Event::ShutdownStarted { reason: "b".into() });
    }
}
