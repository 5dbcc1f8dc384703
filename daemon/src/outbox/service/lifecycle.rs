//! What the daemon does with items: recovery after a crash (`sending` →
//! `unknown`), expiry, and the dispatcher's begin (approval and caps
//! re-checked) and finish (the transport's outcome).

use super::{Outbox, audit_entry, cap_reason, changed_meanwhile};
use crate::accounts::Kind;
use crate::error::Result;
use crate::events::now_unix_ms;
use crate::outbox::db;
use crate::outbox::item::{self, Item};
use crate::outbox::model::State;
use crate::outbox::transport::DeliveryError;
use crate::vault::State as VaultState;

/// What a provider learnt of a sent item's delivery.
#[derive(Debug, Clone)]
pub struct DeliveryNews {
    pub item_id: String,
    /// The item's new delivery detail.
    pub detail: String,
    /// Who reported it (`twilio`).
    pub actor: String,
    /// The audit row's result.
    pub note: String,
}

/// A hold window is rebased only when it ends more than this beyond a
/// whole window from now: small steps of a synchronised clock are not
/// worth an audit row.
const CLOCK_SLACK_MS: i64 = 1_000;
/// The longest a hold with a reason (quiet hours) can last: a day and the
/// hour a daylight-saving change adds, and the same slack.
const QUIET_HOLD_MAX_MS: i64 = 25 * 3_600_000 + CLOCK_SLACK_MS;

/// How often an item held for a closed vault is looked at again.
pub(super) const VAULT_RECHECK_MS: i64 = 5_000;

/// Why an item cannot go now because the vault is closed: locked (the file
/// waits for its passphrase) or unusable (the keyring is gone, the file is
/// damaged). `None` when it is ready.
async fn vault_closed(vault: &crate::vault::Vault) -> Option<String> {
    let status = vault.status().await;
    match status.state {
        VaultState::Ready => None,
        VaultState::Locked => Some(
            "the secret vault is locked: run `commsctl vault unlock` (or start commsd with \
             COMMSD_VAULT_PASSPHRASE); it goes once the vault is open"
                .to_owned(),
        ),
        VaultState::Unavailable => Some(format!(
            "the secret vault cannot be used ({}){}; it goes once it can",
            status.reason.as_deref().unwrap_or("no reason given"),
            status
                .hint
                .as_deref()
                .map(|h| format!(": {h}"))
                .unwrap_or_default()
        )),
    }
}

/// The hold reason of an item whose transport could not read its
/// credentials from the vault.
fn vault_unanswered(error: &str) -> String {
    format!("not sent: the secret vault did not answer ({error}); it goes once it does")
}

impl Outbox {
    /// At start-up: an item found in `sending` crashed mid-send. It becomes
    /// `unknown` for a human to resolve and is never resent automatically.
    pub async fn recover(&self) -> Result<usize> {
        self.write(|conn, changes| {
            let stuck = db::in_state(conn, State::Sending)?;
            let now = now_unix_ms();
            for item in &stuck {
                let mut updated = item.clone();
                updated.state = State::Unknown;
                updated.error = Some(
                    "commsd stopped while sending; it may or may not have been delivered"
                        .to_owned(),
                );
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Sending)?;
                changes.record(
                    conn,
                    Some(State::Sending),
                    &updated,
                    audit_entry("daemon", "marked_unknown", &updated, updated.error.clone()),
                )?;
            }
            Ok(stuck.len())
        })
        .await
    }

    /// Expires pending items past their expiry.
    pub async fn expire_due(&self) -> Result<usize> {
        self.write(|conn, changes| {
            let now = now_unix_ms();
            let due = db::expired(conn, now)?;
            for item in &due {
                let mut updated = item.clone();
                updated.state = State::Expired;
                updated.updated_at_ms = now;
                if db::update_if(conn, &updated, item.state)? {
                    changes.record(
                        conn,
                        Some(item.state),
                        &updated,
                        audit_entry("daemon", "expired", &updated, None),
                    )?;
                }
            }
            Ok(due.len())
        })
        .await
    }

    /// Moves the expiry of every pending item later by `jump_ms`: the wall
    /// clock jumped forward that much more than time passed (the dispatcher
    /// compares it with the monotonic clock between sweeps), and an expiry
    /// is a span of time given to a human, not a date to be cut short.
    /// Audited per item. Called before [`Outbox::expire_due`].
    pub async fn postpone_expiry(&self, jump_ms: i64, now_ms: i64) -> Result<usize> {
        if jump_ms <= CLOCK_SLACK_MS {
            return Ok(0);
        }
        self.write(move |conn, changes| {
            let mut n = 0;
            for item in db::expiring(conn)? {
                let mut updated = item.clone();
                updated.expires_at_ms = item.expires_at_ms.map(|e| e.saturating_add(jump_ms));
                updated.updated_at_ms = now_ms;
                if db::update_if(conn, &updated, item.state)? {
                    n += 1;
                    let note = format!(
                        "the clock jumped forward {} s: the expiry moves as much",
                        jump_ms / 1000
                    );
                    changes.record(
                        conn,
                        Some(item.state),
                        &updated,
                        audit_entry("daemon", "expiry_moved", &updated, Some(note)),
                    )?;
                }
            }
            Ok(n)
        })
        .await
    }

    /// At start-up: the hold windows that had not ended when the previous
    /// run was last seen alive (`last_seen_ms`) get what was left of them
    /// then, from `now_ms`, capped at one window. A hold window is the
    /// human's time to cancel, given while commsd runs: a wall clock that
    /// jumped forward while commsd was stopped cannot cut it short, nor can
    /// a long stop use it up. Quiet-hours, vault and cap holds (those with a
    /// reason) follow the wall clock and are left alone. Audited.
    pub async fn resume_holds(&self, last_seen_ms: i64, now_ms: i64) -> Result<usize> {
        let window = i64::try_from(self.config.hold_window.as_millis()).unwrap_or(i64::MAX);
        self.write(move |conn, changes| {
            let mut n = 0;
            for item in db::in_state(conn, State::Approved)? {
                let Some(at) = item.dispatch_after_ms else {
                    continue;
                };
                let left = at.saturating_sub(last_seen_ms).min(window);
                if item.hold_reason.is_some() || left <= 0 {
                    continue;
                }
                let mut updated = item.clone();
                updated.dispatch_after_ms = Some(now_ms.saturating_add(left));
                updated.updated_at_ms = now_ms;
                if db::update_if(conn, &updated, State::Approved)? {
                    n += 1;
                    let note = format!(
                        "commsd stopped during the hold window: the {} s left of it start again now",
                        (left + 999) / 1000
                    );
                    changes.record(
                        conn,
                        Some(State::Approved),
                        &updated,
                        audit_entry("daemon", "held", &updated, Some(note)),
                    )?;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Holds that end further ahead than any hold can, because the clock
    /// went back after they were set (a hold window ends at most
    /// `hold_window` after the approval, quiet hours within a day and the
    /// hour a daylight-saving change adds): left alone they would wait as
    /// long as the clock jumped. A hold window starts again at `now_ms`, so
    /// the item still waits a whole window (never early); a quiet-hours
    /// hold is due at once, and the transport holds it again until the
    /// quiet hours really end. Audited. The clock is a parameter; the
    /// dispatcher passes the wall clock at each sweep.
    pub async fn rebase_holds(&self, now_ms: i64) -> Result<usize> {
        let window = i64::try_from(self.config.hold_window.as_millis()).unwrap_or(i64::MAX);
        self.write(move |conn, changes| {
            let ahead = db::held_beyond(
                conn,
                now_ms,
                window.saturating_add(CLOCK_SLACK_MS),
                QUIET_HOLD_MAX_MS,
            )?;
            let mut n = 0;
            for item in &ahead {
                let mut updated = item.clone();
                let note = if item.hold_reason.is_none() {
                    updated.dispatch_after_ms = Some(now_ms.saturating_add(window));
                    "the clock went back: the hold window starts again"
                } else {
                    updated.dispatch_after_ms = Some(now_ms);
                    "the clock went back: the hold is looked at again"
                };
                updated.updated_at_ms = now_ms;
                if db::update_if(conn, &updated, State::Approved)? {
                    n += 1;
                    changes.record(
                        conn,
                        Some(State::Approved),
                        &updated,
                        audit_entry("daemon", "held", &updated, Some(note.to_owned())),
                    )?;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Marks `item` as sending after re-checking its approval and caps.
    /// Returns the item to deliver, or None when it must not be sent now.
    pub(crate) async fn begin_dispatch(&self, item: Item) -> Result<Option<Item>> {
        let caps = self.caps(item.channel, &item.account);
        let account = self.accounts.resolve(Some(&item.account)).ok();
        let vault_hold = match (&account, self.vault.get()) {
            (Some(a), Some(vault)) if a.kind != Kind::Sandbox => vault_closed(vault).await,
            _ => None,
        };
        let transport = account.and_then(|account| self.transport(&account, item.channel));
        let hold = match transport {
            Some(t) if vault_hold.is_none() => t.hold_until(&item, now_unix_ms()).await,
            _ => None,
        };
        self.write(move |conn, changes| {
            let Some(current) = db::get(conn, &item.id)? else {
                return Ok(None);
            };
            if current.state != State::Approved {
                return Ok(None);
            }
            let now = now_unix_ms();
            // The approval binds to the exact content: recompute and compare.
            let actual = item::content_hash(&current.account, &current.content);
            let approved = current.approval.as_ref().map(|a| a.content_hash.clone());
            if approved.as_deref() != Some(actual.as_str()) || actual != current.content_hash {
                let mut updated = current.clone();
                updated.state = State::PendingApproval;
                updated.approval = None;
                updated.content_hash = actual;
                updated.hold_reason = Some("the content differs from what was approved".to_owned());
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Approved)?;
                changes.record(
                    conn,
                    Some(State::Approved),
                    &updated,
                    audit_entry(
                        "daemon",
                        "approval_invalidated",
                        &updated,
                        updated.hold_reason.clone(),
                    ),
                )?;
                return Ok(None);
            }
            if let Some(reason) = vault_hold {
                // Looked at again shortly; audited when the reason changes.
                let mut updated = current.clone();
                updated.dispatch_after_ms = Some(now.saturating_add(VAULT_RECHECK_MS));
                updated.hold_reason = Some(reason.clone());
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Approved)?;
                if current.hold_reason.as_deref() == Some(reason.as_str()) {
                    changes.items.push(updated);
                } else {
                    changes.record(
                        conn,
                        Some(State::Approved),
                        &updated,
                        audit_entry("daemon", "held", &updated, Some(reason)),
                    )?;
                }
                return Ok(None);
            }
            if let Some((until, reason)) = hold {
                let mut updated = current.clone();
                updated.dispatch_after_ms = Some(until);
                updated.hold_reason = Some(reason.clone());
                updated.updated_at_ms = now;
                db::update_if(conn, &updated, State::Approved)?;
                changes.record(
                    conn,
                    Some(State::Approved),
                    &updated,
                    audit_entry("daemon", "held", &updated, Some(reason)),
                )?;
                return Ok(None);
            }
            if let Some(reason) = cap_reason(conn, &caps, &current, now)? {
                if current.hold_reason.as_deref() != Some(reason.as_str()) {
                    let mut updated = current.clone();
                    updated.hold_reason = Some(reason);
                    updated.updated_at_ms = now;
                    db::update_if(conn, &updated, State::Approved)?;
                    changes.items.push(updated);
                }
                return Ok(None);
            }
            let mut sending = current.clone();
            sending.state = State::Sending;
            sending.hold_reason = None;
            sending.dispatched_at_ms = Some(now);
            sending.updated_at_ms = now;
            if !db::update_if(conn, &sending, State::Approved)? {
                return Ok(None);
            }
            changes.record(
                conn,
                Some(State::Approved),
                &sending,
                audit_entry("daemon", "sending", &sending, None),
            )?;
            Ok(Some(sending))
        })
        .await
    }

    /// Records the transport's outcome.
    pub(crate) async fn finish_dispatch(
        &self,
        item: Item,
        outcome: std::result::Result<String, DeliveryError>,
    ) -> Result<Item> {
        self.write(move |conn, changes| {
            let now = now_unix_ms();
            let mut done = item.clone();
            done.updated_at_ms = now;
            let (action, result) = match outcome {
                Ok(detail) => {
                    done.state = State::Sent;
                    done.delivery = Some(item::Delivery {
                        at_ms: now,
                        detail: detail.clone(),
                    });
                    ("sent", detail)
                }
                Err(DeliveryError::Failed(error)) => {
                    done.state = State::Failed;
                    done.error = Some(error.clone());
                    ("failed", error)
                }
                Err(DeliveryError::Unknown(error)) => {
                    done.state = State::Unknown;
                    done.error = Some(error.clone());
                    ("marked_unknown", error)
                }
                Err(DeliveryError::Deferred(error)) => {
                    // Nothing was handed over (the transport says so only
                    // before it connects): approved again, as it was, and
                    // looked at again shortly, as a closed vault is.
                    let reason = vault_unanswered(&error);
                    done.state = State::Approved;
                    done.dispatched_at_ms = None;
                    done.dispatch_after_ms = Some(now.saturating_add(VAULT_RECHECK_MS));
                    done.hold_reason = Some(reason.clone());
                    ("held", reason)
                }
            };
            if !db::update_if(conn, &done, State::Sending)? {
                return Err(changed_meanwhile(&done.id));
            }
            changes.record(
                conn,
                Some(State::Sending),
                &done,
                audit_entry("daemon", action, &done, Some(result)),
            )?;
            Ok(done)
        })
        .await
    }

    /// A provider's later news of a sent item (an SMS delivered or not),
    /// in one transaction with the provider's own rows: `f` writes those and
    /// names the item, the new delivery detail and the audit note. The item
    /// (if it is `sent`) gets the detail, the audit a `delivery_status` row.
    pub async fn note_delivery<F>(&self, f: F) -> Result<Option<Item>>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<Option<DeliveryNews>> + Send + 'static,
    {
        self.write(move |conn, changes| {
            let Some(news) = f(conn)? else {
                return Ok(None);
            };
            let Some(current) = db::get(conn, &news.item_id)? else {
                return Ok(None);
            };
            if current.state != State::Sent {
                return Ok(None);
            }
            let mut updated = current.clone();
            let now = now_unix_ms();
            updated.delivery = Some(item::Delivery {
                at_ms: current.delivery.as_ref().map_or(now, |d| d.at_ms),
                detail: news.detail,
            });
            updated.updated_at_ms = now;
            if !db::update_if(conn, &updated, State::Sent)? {
                return Err(changed_meanwhile(&updated.id));
            }
            changes.record(
                conn,
                Some(State::Sent),
                &updated,
                audit_entry(&news.actor, "delivery_status", &updated, Some(news.note)),
            )?;
            Ok(Some(updated))
        })
        .await
    }

    /// A human lets a waiting item go (`admin`): an approved item on hold
    /// is due at once (the dispatcher re-checks approval and caps); other
    /// states are only audited. `note` says why.
    pub async fn release_hold(
        &self,
        caller: &crate::auth::Caller,
        id: &str,
        note: &str,
    ) -> Result<Item> {
        caller.require(crate::auth::Grant::Admin, "release an item on hold")?;
        let (id, actor, note) = (id.to_owned(), caller.actor.clone(), note.to_owned());
        self.write(move |conn, changes| {
            let current =
                db::get(conn, &id)?.ok_or_else(|| crate::error::Error::not_found("item", &id))?;
            let mut updated = current.clone();
            if current.state == State::Approved {
                updated.dispatch_after_ms = Some(now_unix_ms());
                updated.hold_reason = None;
                updated.updated_at_ms = now_unix_ms();
                if !db::update_if(conn, &updated, State::Approved)? {
                    return Err(changed_meanwhile(&id));
                }
            }
            changes.record(
                conn,
                Some(current.state),
                &updated,
                audit_entry(&actor, "released", &updated, Some(note)),
            )?;
            Ok(updated)
        })
        .await
    }

    /// The earliest dispatch time of an approved item still on hold.
    pub(crate) async fn next_due(&self) -> Result<Option<i64>> {
        Ok(self.store.call(|c| db::next_due_ms(c)).await?)
    }

    pub(crate) async fn due(&self, limit: usize) -> Result<Vec<Item>> {
        Ok(self
            .store
            .call(move |c| db::due(c, now_unix_ms(), limit))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::vault::{BackendChoice, KdfParams, Secret, Vault, VaultConfig};

    fn vault(dir: &std::path::Path, passphrase: Option<&str>) -> Vault {
        let config = VaultConfig {
            backend: BackendChoice::File,
            file: None,
        };
        let fast = KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        Vault::open_with(&config, dir, passphrase.map(Secret::new), fast)
    }

    fn data_dir() -> (tempfile::TempDir, std::path::PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        (root, dir)
    }

    /// What an approved item's hold reason says when the vault is closed at
    /// dispatch: locked (started without the passphrase), unusable (here a
    /// damaged index, as for a keyring gone), open.
    #[tokio::test]
    async fn fault_vault_closed_says_what_to_do_and_open_holds_nothing() {
        let (_root, dir) = data_dir();
        let locked = vault(&dir, None);
        let reason = vault_closed(&locked).await.expect("locked");
        assert!(
            reason.contains("locked") && reason.contains("commsctl vault unlock"),
            "{reason}"
        );
        let open = vault(&dir, Some("correct horse battery"));
        open.put("twilio/a1/secret", &Secret::new("t0ken"))
            .await
            .unwrap();
        assert_eq!(vault_closed(&open).await, None);

        let (_root, dir) = data_dir();
        std::fs::write(dir.join("vault.json"), b"{not json").unwrap();
        let broken = vault(&dir, Some("correct horse battery"));
        let reason = vault_closed(&broken).await.expect("unusable");
        assert!(
            reason.contains("cannot be used") && reason.contains("damaged"),
            "{reason}"
        );
    }
}
