//! The daemon's event bus: a closed set of events on a broadcast channel.
//!
//! Everything that other parts of the daemon or its clients may want to react
//! to is an [`Event`]. Shutdown is one of them: SIGTERM, SIGINT and the
//! Shutdown RPC all publish [`Event::ShutdownStarted`].

use std::collections::VecDeque;
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

/// Events kept for subscribers that reconnect (`Last-Event-ID`): a client
/// that was away for fewer events than this resumes with no gap.
pub const REPLAY: usize = 4096;

pub struct Bus {
    tx: broadcast::Sender<Envelope>,
    /// Serialises numbering, keeping and sending, so that seq order is
    /// delivery order and a replay joins the live stream with no gap.
    inner: Mutex<Inner>,
    /// This daemon run's id (its start in Unix ms): sequence numbers start
    /// again at 1 with every run, so a resume names the run it came from.
    boot: i64,
    /// Subscriptions of the daemon's own services (not clients).
    internal: Arc<AtomicUsize>,
}

struct Inner {
    seq: u64,
    recent: VecDeque<Envelope>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            tx: broadcast::channel(CAPACITY).0,
            inner: Mutex::new(Inner {
                seq: 0,
                recent: VecDeque::with_capacity(REPLAY),
            }),
            boot: now_unix_ms(),
            internal: Arc::new(AtomicUsize::new(0)),
        }
    }
}

/// Where a subscriber resumes: after an event id (`<boot>-<seq>`) this
/// daemon gave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub boot: i64,
    pub seq: u64,
}

impl Resume {
    /// Reads an event id (`1764920000000-42`); `None` when it is not one.
    pub fn parse(id: &str) -> Option<Resume> {
        let (boot, seq) = id.trim().split_once('-')?;
        Some(Resume {
            boot: boot.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// A subscription that starts with what a reconnecting client missed.
pub struct Replay {
    /// Events after the resume point still kept, oldest first.
    pub backlog: Vec<Envelope>,
    /// Live events, each after the backlog's last.
    pub rx: broadcast::Receiver<Envelope>,
    /// Events the client missed that are no longer kept, or the id came
    /// from another daemon run: it should read its state again.
    pub gap: bool,
}

impl Bus {
    pub fn publish(&self, event: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seq += 1;
        let envelope = Envelope {
            seq: inner.seq,
            at_unix_ms: now_unix_ms(),
            event,
        };
        if inner.recent.len() == REPLAY {
            inner.recent.pop_front();
        }
        inner.recent.push_back(envelope.clone());
        // No subscribers is not an error.
        let _ = self.tx.send(envelope);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Envelope> {
        self.tx.subscribe()
    }

    /// Subscribes, starting after `from`: the kept events after it, then
    /// live ones, none twice and none left out in between.
    pub fn resume(&self, from: Option<Resume>) -> Replay {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let Some(from) = from else {
            return Replay {
                backlog: Vec::new(),
                rx,
                gap: false,
            };
        };
        if from.boot != self.boot || from.seq > inner.seq {
            return Replay {
                backlog: Vec::new(),
                rx,
                gap: true,
            };
        }
        let oldest = inner.recent.front().map_or(inner.seq + 1, |e| e.seq);
        Replay {
            backlog: inner
                .recent
                .iter()
                .filter(|e| e.seq > from.seq)
                .cloned()
                .collect(),
            rx,
            gap: from.seq + 1 < oldest,
        }
    }

    /// The id of an event of this run, as clients resume from it.
    pub fn event_id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.boot)
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

impl Envelope {
    /// The event's name and its fields in the contract's names: what the
    /// event streams (`/api/v1/events`, the dashboard's) send. No content.
    pub fn to_json(&self) -> Option<(&'static str, serde_json::Value)> {
        use serde_json::json;
        Some(match &self.event {
            Event::OutboxChanged {
                id,
                state,
                channel,
                account,
                priority,
            } => (
                "outbox",
                json!({ "id": id, "state": state, "channel": channel, "accountId": account, "priority": priority }),
            ),
            Event::AuditAppended {
                seq,
                action,
                item_id,
            } => (
                "audit",
                json!({ "seq": seq, "action": action, "itemId": item_id }),
            ),
            Event::AccountsChanged { accounts } => ("accounts", json!({ "accounts": accounts })),
            Event::MailReceived {
                account,
                folder,
                new_messages,
            } => (
                "mail",
                json!({ "accountId": account, "folder": folder, "newMessages": new_messages }),
            ),
            Event::MessageReceived {
                channel,
                account,
                id,
            } => (
                "received",
                json!({ "channel": channel, "accountId": account, "id": id }),
            ),
            Event::InboxChanged {
                account,
                source,
                added,
                changed,
            } => (
                "inbox",
                json!({ "accountId": account, "source": source, "added": added, "changed": changed }),
            ),
            Event::ShutdownStarted { .. } => return None,
        })
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

    fn accounts(n: usize) -> Event {
        Event::AccountsChanged { accounts: n }
    }

    #[tokio::test]
    async fn a_resume_replays_what_was_missed_then_goes_live_with_no_gap_or_duplicate() {
        let bus = Bus::default();
        for n in 1..=5 {
            bus.publish(accounts(n));
        }
        let from = Resume::parse(&bus.event_id(3)).unwrap();
        let mut replay = bus.resume(Some(from));
        assert!(!replay.gap);
        let seqs: Vec<u64> = replay.backlog.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![4, 5]);
        bus.publish(accounts(6));
        assert_eq!(replay.rx.recv().await.unwrap().seq, 6);
    }

    #[test]
    fn a_resume_too_old_or_from_another_run_is_a_gap() {
        let bus = Bus::default();
        for n in 0..REPLAY + 10 {
            bus.publish(accounts(n));
        }
        assert!(bus.resume(Resume::parse(&bus.event_id(5))).gap);
        let kept = bus.resume(Resume::parse(&bus.event_id(10)));
        assert!(!kept.gap, "event 11 is the oldest kept");
        assert_eq!(kept.backlog.len(), REPLAY);
        let other = Resume { boot: 1, seq: 20 };
        assert!(bus.resume(Some(other)).gap);
        assert!(Resume::parse("nonsense").is_none());
        assert!(!bus.resume(None).gap);
    }
}
