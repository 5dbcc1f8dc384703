//! The dispatcher: sends approved items once their hold window has passed,
//! highest priority first, with a per-account concurrency limit, and expires
//! pending items past their expiry.
//!
//! The crash rule lives in `Outbox::begin_dispatch`: an item is marked
//! `sending` durably before its transport is called.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::item::Item;
use super::service::Outbox;
use super::transport::{DeliveryError, Transports};
use crate::events::now_unix_ms;

/// How often (at most) expiry runs and held (capped) items are looked at again.
const SWEEP: Duration = Duration::from_secs(30);
/// Items fetched per look at the queue.
const BATCH: usize = 64;

pub struct Dispatcher {
    outbox: Arc<Outbox>,
    sweep: Duration,
    transports: Arc<Transports>,
    per_account: usize,
    limits: HashMap<String, Arc<Semaphore>>,
    busy: Arc<Mutex<HashSet<String>>>,
}

impl Dispatcher {
    pub fn new(outbox: Arc<Outbox>, transports: Arc<Transports>) -> Dispatcher {
        let per_account = outbox.config().concurrency_per_account.max(1);
        // Expire promptly even with a short expiry, without busy-looping.
        let ttl = outbox.config().pending_ttl;
        let sweep = if ttl.is_zero() {
            SWEEP
        } else {
            (ttl / 4).clamp(Duration::from_millis(100), SWEEP)
        };
        Dispatcher {
            sweep,
            outbox,
            transports,
            per_account,
            limits: HashMap::new(),
            busy: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Runs until `shutdown`; then waits for deliveries in flight.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut in_flight = JoinSet::new();
        let mut last_sweep: Option<tokio::time::Instant> = None;
        // The wall and monotonic clocks at the last sweep: a wall clock that
        // ran ahead of the monotonic one jumped forward.
        let mut clocks: Option<(i64, std::time::Instant)> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= self.sweep) {
                last_sweep = Some(tokio::time::Instant::now());
                let now = (now_unix_ms(), std::time::Instant::now());
                if let Some(before) = clocks {
                    let jump = forward_jump(before, now);
                    match self.outbox.postpone_expiry(jump, now.0).await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(
                            items = n,
                            jump_ms = jump,
                            "the clock jumped forward; expiries moved as much"
                        ),
                        Err(e) => tracing::error!(error = %e, "expiry clock sweep failed"),
                    }
                }
                clocks = Some(now);
                match self.outbox.expire_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "expired pending items"),
                    Err(e) => tracing::error!(error = %e, "expiry sweep failed"),
                }
                match self.outbox.rebase_holds(now_unix_ms()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(items = n, "the clock went back; holds rebased")
                    }
                    Err(e) => tracing::error!(error = %e, "hold sweep failed"),
                }
            }
            let held = self.dispatch_due(&mut in_flight).await;

            let wait = match self.outbox.next_due().await {
                Ok(Some(at)) if at > now_unix_ms() => {
                    Duration::from_millis((at - now_unix_ms()).max(1) as u64).min(self.sweep)
                }
                _ => self.sweep,
            };
            let wait = held.map_or(wait, |h| h.min(wait));
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.outbox.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
        if !in_flight.is_empty() {
            tracing::info!(
                in_flight = in_flight.len(),
                "waiting for deliveries in flight"
            );
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Starts the due items; returns how long until the soonest of those
    /// still held back on the monotonic clock (`Outbox::held_back`) may go.
    async fn dispatch_due(&mut self, in_flight: &mut JoinSet<()>) -> Option<Duration> {
        let due = match self.outbox.due(BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the dispatch queue");
                return None;
            }
        };
        let mut held: Option<Duration> = None;
        for item in due {
            if let Some(left) = self.outbox.held_back(&item.id) {
                held = Some(held.map_or(left, |h| h.min(left)));
                continue;
            }
            let Ok(mut busy) = self.busy.lock() else {
                return held;
            };
            if busy.contains(&item.id) {
                continue;
            }
            let limit = self
                .limits
                .entry(item.account.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
                .clone();
            let Ok(permit) = limit.try_acquire_owned() else {
                continue; // this account is at its limit; a finishing delivery wakes us
            };
            busy.insert(item.id.clone());
            drop(busy);
            let outbox = self.outbox.clone();
            let transports = self.transports.clone();
            let busy = self.busy.clone();
            in_flight.spawn(async move {
                let id = item.id.clone();
                deliver(&outbox, &transports, item).await;
                drop(permit);
                if let Ok(mut busy) = busy.lock() {
                    busy.remove(&id);
                }
                outbox.wake.notify_one();
            });
        }
        held
    }
}

async fn deliver(outbox: &Outbox, transports: &Transports, item: Item) {
    let id = item.id.clone();
    let sending = match outbox.begin_dispatch(item).await {
        Ok(Some(sending)) => sending,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(item = %id, error = %e, "cannot start dispatch");
            return;
        }
    };
    let outcome = match outbox.accounts().resolve(Some(&sending.account)) {
        Ok(account) => match transports.for_item(&account, sending.channel) {
            Ok(transport) => transport.deliver(&sending).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(DeliveryError::before_handover(e)),
    };
    match &outcome {
        Ok(_) => {
            tracing::info!(item = %id, channel = sending.channel.as_str(), account = %sending.account, "delivered")
        }
        Err(DeliveryError::Failed(error)) => tracing::warn!(item = %id, %error, "delivery failed"),
        Err(DeliveryError::Unknown(error)) => {
            tracing::warn!(item = %id, %error, "delivery outcome unknown; left for a human")
        }
        Err(DeliveryError::Deferred(error)) => {
            tracing::warn!(item = %id, %error, "not sent: the vault did not answer; held and tried again")
        }
    }
    if let Err(e) = outbox.finish_dispatch(sending, outcome).await {
        tracing::error!(item = %id, error = %e, "cannot record the delivery outcome");
    }
}

/// How much further the wall clock went than the monotonic one between two
/// samples `(wall ms, monotonic)`: a forward jump (0 when it went back or
/// kept time).
pub(crate) fn forward_jump(
    before: (i64, std::time::Instant),
    now: (i64, std::time::Instant),
) -> i64 {
    let wall = now.0.saturating_sub(before.0);
    let elapsed =
        i64::try_from(now.1.saturating_duration_since(before.1).as_millis()).unwrap_or(i64::MAX);
    wall.saturating_sub(elapsed).max(0)
}
