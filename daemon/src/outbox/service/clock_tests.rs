//! The wall clock jumping backwards and forwards under approved items (the
//! issue's clock faults): a hold window is never cut short, never lasts as
//! long as the jump, and no clock value panics. The dispatcher reads the
//! wall clock in one place and passes it down (`db::due`,
//! `Outbox::rebase_holds`), so these tests jump it by passing other
//! values; the monotonic side (`hold_deadline`, `held_back`) takes the
//! instant the same way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::outbox::model::{Priority, SmsContent};

const HOLD: Duration = Duration::from_secs(30);
const DAY_MS: i64 = 86_400_000;

pub(super) async fn outbox(dir: &std::path::Path) -> (Arc<Outbox>, Store) {
    let (store, _thread) = Store::open(&dir.join("commsd.db")).unwrap();
    let config = OutboxConfig {
        hold_window: HOLD,
        ..OutboxConfig::default()
    };
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(Bus::default()),
        Arc::new(Accounts::with_sandbox("sandbox@commsd.invalid")),
        dir.to_owned(),
        config,
        PolicyConfig::default(),
    )
    .await
    .unwrap();
    (Arc::new(outbox), store)
}

/// An approved SMS whose hold ends at `dispatch_after_ms`, with `reason`.
pub(super) fn approved(
    id: &str,
    approved_at_ms: i64,
    dispatch_after_ms: i64,
    reason: Option<&str>,
) -> Item {
    let content = Content::Sms(SmsContent {
        to: "+14155550100".to_owned(),
        body: "See you at 9:00".to_owned(),
    });
    let hash = crate::outbox::item::content_hash("sandbox", &content);
    Item {
        id: id.to_owned(),
        channel: Channel::Sms,
        account: "sandbox".to_owned(),
        state: State::Approved,
        priority: Priority::Normal,
        requester: "agent:test".to_owned(),
        client_request_id: None,
        content,
        content_hash: hash.clone(),
        recipients: vec!["+14155550100".to_owned()],
        summary: "SMS".to_owned(),
        decision: Decision::Approve,
        rule: "policy.default".to_owned(),
        hold_reason: reason.map(str::to_owned),
        approval: Some(Approval {
            by: "cli:test".to_owned(),
            at_ms: approved_at_ms,
            content_hash: hash,
        }),
        rejection: None,
        dispatch_after_ms: Some(dispatch_after_ms),
        dispatched_at_ms: None,
        delivery: None,
        error: None,
        created_at_ms: approved_at_ms,
        updated_at_ms: approved_at_ms,
        expires_at_ms: None,
        addressing: Vec::new(),
        provider_ref: None,
    }
}

/// Commits `items` as the outbox does (so what follows a commit runs).
pub(super) async fn put(outbox: &Outbox, items: Vec<Item>) {
    outbox
        .write(move |conn, changes| {
            for item in &items {
                db::insert(conn, item)?;
                changes.record(
                    conn,
                    None,
                    item,
                    audit_entry("cli:test", "approved", item, None),
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn due_ids(store: &Store, now_ms: i64) -> Vec<String> {
    let mut ids: Vec<String> = store
        .call(move |c| db::due(c, now_ms, 100))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    ids
}

async fn dispatch_after(store: &Store, id: &'static str) -> i64 {
    store
        .call(move |c| db::get(c, id))
        .await
        .unwrap()
        .unwrap()
        .dispatch_after_ms
        .unwrap()
}

#[tokio::test]
async fn fault_clock_jumps_backwards_restart_holds_instead_of_waiting_out_the_jump() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let t = now_unix_ms();
    let hold = HOLD.as_millis() as i64;
    put(
        &outbox,
        vec![
            approved("ob_window", t, t + hold, None),
            approved(
                "ob_quiet",
                t,
                t + 8 * 3_600_000,
                Some("quiet hours until 08:00"),
            ),
        ],
    )
    .await;
    // No jump: nothing to rebase, and nothing is due before its time.
    assert_eq!(outbox.rebase_holds(t).await.unwrap(), 0);
    assert!(due_ids(&store, t + hold - 1).await.is_empty());

    // The clock goes back a day: left alone, both would wait a day more.
    let back = t - DAY_MS;
    assert!(due_ids(&store, back + hold).await.is_empty());
    assert_eq!(outbox.rebase_holds(back).await.unwrap(), 2);
    // The hold window starts again: not due a moment early, due after one
    // window (not a day); quiet hours are looked at again at once (the
    // transport holds them until they really end).
    assert_eq!(dispatch_after(&store, "ob_window").await, back + hold);
    assert_eq!(due_ids(&store, back).await, ["ob_quiet"]);
    assert!(
        !due_ids(&store, back + hold - 1)
            .await
            .contains(&"ob_window".to_owned())
    );
    assert_eq!(
        due_ids(&store, back + hold).await,
        ["ob_quiet", "ob_window"]
    );
    // Once rebased, a second sweep changes nothing; each rebase is audited.
    assert_eq!(outbox.rebase_holds(back).await.unwrap(), 0);
    let notes: i64 = store
        .call(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'held' AND result LIKE 'the clock went back%'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(notes, 2);

    // A small step back (a synchronised clock) is not worth a rebase.
    put(&outbox, vec![approved("ob_small", t, t + hold, None)]).await;
    assert_eq!(outbox.rebase_holds(t - 500).await.unwrap(), 0);
}

#[tokio::test]
async fn fault_clock_jumps_forwards_do_not_cut_a_hold_window_short() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let t = now_unix_ms();
    let hold = HOLD.as_millis() as i64;
    put(&outbox, vec![approved("ob_fwd", t, t + hold, None)]).await;
    // The wall clock jumps a day ahead: by it the item is due...
    assert_eq!(due_ids(&store, t + DAY_MS).await, ["ob_fwd"]);
    // ...but its hold window has not passed on the monotonic clock, so the
    // dispatcher leaves it (and knows how long to wait).
    let left = outbox.held_back("ob_fwd").expect("still held back");
    assert!(
        left > HOLD - Duration::from_secs(5) && left <= HOLD,
        "{left:?}"
    );
    // Nothing is rebased by a forward jump.
    assert_eq!(outbox.rebase_holds(t + DAY_MS).await.unwrap(), 0);
    // A human's release (dispatch_after = now) lets it go at once.
    let mut released = approved("ob_fwd", t, t, None);
    released.updated_at_ms = t + 1;
    outbox
        .write(move |conn, changes| {
            db::update_if(conn, &released, State::Approved)?;
            changes.items.push(released);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(outbox.held_back("ob_fwd"), None);
}

#[test]
fn fault_clock_jumps_give_hold_deadlines_within_one_window() {
    let now = Instant::now();
    let t = 1_800_000_000_000;
    // As far ahead as the wall clock says, within one window.
    assert_eq!(
        hold_deadline(t + 10_000, t, HOLD, now),
        now + Duration::from_secs(10)
    );
    // A hold the wall clock says ended (or a clock that jumped forward
    // since) is over; one beyond a window (a clock that went back) lasts
    // one window at most.
    assert_eq!(hold_deadline(t - 10_000, t, HOLD, now), now);
    assert_eq!(hold_deadline(t + 5 * DAY_MS, t, HOLD, now), now + HOLD);
    // Extreme clocks and windows never panic.
    for (at, wall) in [
        (i64::MAX, i64::MIN),
        (i64::MIN, i64::MAX),
        (i64::MAX, i64::MAX),
        (0, i64::MIN),
    ] {
        for window in [Duration::ZERO, HOLD, Duration::MAX] {
            let d = hold_deadline(at, wall, window, now);
            assert!(d >= now);
        }
    }
}

#[tokio::test]
async fn fault_clock_jumps_to_extreme_values_never_panic_nor_send() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let t = now_unix_ms();
    put(&outbox, vec![approved("ob_x", t, t + 30_000, None)]).await;
    for now in [i64::MIN, -1, 0, i64::MAX] {
        outbox.rebase_holds(now).await.unwrap();
        store.call(move |c| db::due(c, now, 10)).await.unwrap();
        store.call(move |c| db::expired(c, now)).await.unwrap();
        store.call(move |c| db::next_due_ms(c)).await.unwrap();
    }
    let item = store.call(|c| db::get(c, "ob_x")).await.unwrap().unwrap();
    assert_eq!(item.state, State::Approved, "a clock jump never sends");
}

/// Expiry reads the wall clock as it is (`db::expired`): a clock that went
/// back leaves a pending item pending (a human can still approve it; it
/// expires once the clock passes its time again), one that jumped forward
/// expires it early. Neither sends anything: expiry only ever ends an item
/// that was never approved.
#[tokio::test]
async fn fault_clock_jumps_move_expiry_but_never_send() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let t = now_unix_ms();
    let mut pending = approved("ob_pending", t, t, None);
    pending.state = State::PendingApproval;
    pending.approval = None;
    pending.dispatch_after_ms = None;
    pending.expires_at_ms = Some(t + 3 * DAY_MS);
    put(&outbox, vec![pending]).await;
    let expired = |now: i64| {
        let store = store.clone();
        async move {
            store
                .call(move |c| db::expired(c, now))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        expired(t - 30 * DAY_MS).await,
        0,
        "back a month: still pending"
    );
    assert_eq!(expired(t + 3 * DAY_MS - 1).await, 0);
    assert_eq!(expired(t + 3 * DAY_MS).await, 1, "forward past its expiry");
    assert!(
        due_ids(&store, t + 30 * DAY_MS).await.is_empty(),
        "never due"
    );
}

/// A forward jump between two sweeps of the dispatcher moves every pending
/// expiry as much, audited, so a pending item keeps the time it was given;
/// an item whose expiry passed in real time still expires.
#[tokio::test]
async fn fault_clock_jumps_forwards_move_pending_expiries_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let t = now_unix_ms();
    let pending = |id: &str, expires_at_ms: i64| {
        let mut item = approved(id, t, t, None);
        item.state = State::PendingApproval;
        item.approval = None;
        item.dispatch_after_ms = None;
        item.expires_at_ms = Some(expires_at_ms);
        item
    };
    put(
        &outbox,
        vec![
            pending("ob_later", t + 3 * DAY_MS),
            pending("ob_past", t - 1),
        ],
    )
    .await;

    // The dispatcher's samples: 5 s passed, the wall clock moved 2 days and 5 s.
    let mono = Instant::now();
    let before = (t, mono);
    let after = (t + 2 * DAY_MS + 5_000, mono + Duration::from_secs(5));
    let jump = crate::outbox::dispatch::forward_jump(before, after);
    assert_eq!(jump, 2 * DAY_MS);
    assert_eq!(
        crate::outbox::dispatch::forward_jump(after, (t, mono + Duration::from_secs(6))),
        0,
        "back is not forward"
    );
    assert_eq!(
        crate::outbox::dispatch::forward_jump(before, (t + 5_200, mono + Duration::from_secs(5))),
        200,
        "a small drift is measured; postpone_expiry ignores up to a second"
    );
    assert_eq!(outbox.postpone_expiry(200, after.0).await.unwrap(), 0);
    assert_eq!(outbox.postpone_expiry(jump, after.0).await.unwrap(), 2);
    // At the jumped wall clock, only the item already past expires.
    let at = after.0;
    let expired = store.call(move |c| db::expired(c, at)).await.unwrap();
    let ids: Vec<_> = expired.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ob_past"]);
    let later = store
        .call(|c| db::get(c, "ob_later"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.state, State::PendingApproval);
    assert_eq!(later.expires_at_ms, Some(t + 5 * DAY_MS));
    let moved = store
        .call(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'expiry_moved'",
                [],
                |r| r.get::<_, i64>(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(moved, 2);
}

/// The clock jumps while commsd is stopped (forwards or backwards, by
/// days): an item in its hold window when commsd was last seen gets what
/// was left of the window from the restart, on both clocks; one whose hold
/// had ended, or that waits for a reason (quiet hours), is left alone.
#[tokio::test]
async fn fault_clock_jumps_while_stopped_keep_what_was_left_of_a_hold_window() {
    for jump in [5 * DAY_MS, -5 * DAY_MS, 0] {
        let dir = tempfile::tempdir().unwrap();
        let (outbox, store) = outbox(dir.path()).await;
        // Now is the real time (the monotonic hold is set from it); the
        // previous run was last seen a minute of real time before, read
        // on a clock that has jumped since.
        let now = now_unix_ms();
        let seen = now - 60_000 - jump;
        put(
            &outbox,
            vec![
                // Approved 10 s before the stop: 20 s of its window left.
                approved("ob_left", seen - 10_000, seen + 20_000, None),
                // Its window ended before the stop.
                approved("ob_done", seen - 60_000, seen - 30_000, None),
                // Waiting for quiet hours to end: the wall clock decides.
                approved(
                    "ob_quiet",
                    seen - 10_000,
                    seen + 3_600_000,
                    Some("quiet hours"),
                ),
            ],
        )
        .await;
        assert_eq!(
            outbox.resume_holds(seen, now).await.unwrap(),
            1,
            "jump {jump}"
        );
        assert_eq!(dispatch_after(&store, "ob_left").await, now + 20_000);
        assert_eq!(dispatch_after(&store, "ob_done").await, seen - 30_000);
        assert_eq!(dispatch_after(&store, "ob_quiet").await, seen + 3_600_000);
        let left = outbox
            .held_back("ob_left")
            .expect("held on the monotonic clock");
        assert!(
            left > Duration::from_secs(15) && left <= Duration::from_secs(20),
            "{left:?}"
        );
        let notes: i64 = store
            .call(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM audit_log WHERE item_id = 'ob_left' AND action = 'held' AND result LIKE 'commsd stopped during the hold window: the 20 s left%'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(notes, 1);
    }
}

/// A stop longer than the window leaves at most one window to wait.
#[tokio::test]
async fn fault_clock_jumps_while_stopped_never_hold_more_than_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let seen = 1_800_000_000_000;
    // Pushed far ahead (the clock had gone back before the stop).
    put(
        &outbox,
        vec![approved("ob_far", seen, seen + 9 * DAY_MS, None)],
    )
    .await;
    let now = seen + 1_000;
    assert_eq!(outbox.resume_holds(seen, now).await.unwrap(), 1);
    assert_eq!(
        dispatch_after(&store, "ob_far").await,
        now + HOLD.as_millis() as i64
    );
}
