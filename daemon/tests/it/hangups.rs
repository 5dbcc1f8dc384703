//! Library level: a caller that goes away at any await point of a write
//! never leaves the in-memory state (counts, the listing generation, events,
//! caches) behind what the database committed.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Waker};

use commsd::accounts::Accounts;
use commsd::auth::Caller;
use commsd::events::{Bus, Event};
use commsd::outbox::config::{OutboxConfig, PolicyConfig};
use commsd::outbox::db::ListFilter;
use commsd::outbox::model::{Priority, State};
use commsd::outbox::service::{Outbox, StageContent, StageRequest, Target};
use commsd::store::Store;

/// Polls `fut` up to `polls` times, letting other threads run in between,
/// then drops it (the caller hanging up at that point).
async fn poll_then_drop<F: Future>(fut: F, polls: usize) {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..polls {
        if fut.as_mut().poll(&mut cx).is_ready() {
            return;
        }
        // Let the store thread make progress, by a varying amount.
        tokio::task::yield_now().await;
        std::thread::yield_now();
    }
}

fn sms(n: usize) -> StageRequest {
    StageRequest {
        account: None,
        priority: Priority::Normal,
        client_request_id: None,
        content: StageContent::Sms {
            to: "+14155550100".to_owned(),
            body: format!("Reminder {n}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_state_follows_every_commit_whenever_the_caller_hangs_up() {
    let root = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&root.path().join("commsd.db")).unwrap();
    let bus = Arc::new(Bus::default());
    let mut events = bus.subscribe();
    let accounts = Arc::new(
        Accounts::load(store.clone(), bus.clone(), "Sandbox <s@commsd.invalid>")
            .await
            .unwrap(),
    );
    let outbox = Outbox::new(
        store.clone(),
        bus.clone(),
        accounts,
        root.path().to_owned(),
        OutboxConfig::default(),
        PolicyConfig::default(),
    )
    .await
    .unwrap();
    let human = Caller::cli("alice", 1000);

    // Stage, hanging up after 0, 1, 2, ... polls.
    for polls in 0..60 {
        poll_then_drop(outbox.stage(&human, sms(polls)), polls).await;
    }
    // Everything queued before this call has committed (one FIFO thread).
    store.call(|_| Ok(())).await.unwrap();
    let all = ListFilter::default();
    let stored = outbox
        .list(&human, all.clone(), None, 100)
        .await
        .unwrap()
        .items;
    assert!(
        !stored.is_empty(),
        "nothing was stored; the test proves nothing"
    );
    assert!(
        stored.len() < 60,
        "every call finished; the test proves nothing"
    );
    assert_eq!(
        outbox
            .counts()
            .get("pending_approval")
            .copied()
            .unwrap_or(0),
        stored.len() as u64,
        "counts after hang-ups"
    );
    let mut announced = 0;
    while let Ok(envelope) = events.try_recv() {
        if let Event::OutboxChanged { state, .. } = envelope.event {
            assert_eq!(state, State::PendingApproval);
            announced += 1;
        }
    }
    assert_eq!(announced, stored.len(), "events after hang-ups");

    // Approvals too: the dispatcher's wake-up and the counts must follow.
    let generation = outbox.generation();
    for (polls, item) in stored.iter().enumerate() {
        let approve = outbox.approve(&human, Target::Ids(vec![item.id.clone()]));
        if polls + 1 == stored.len() {
            // One caller waits for its answer, so at least one approval is
            // committed however slow the machine (approval has more await
            // points than staging: the SMS opt-out and lookup checks).
            approve.await.unwrap();
        } else {
            poll_then_drop(approve, polls).await;
        }
    }
    store.call(|_| Ok(())).await.unwrap();
    let approved = outbox
        .list(&human, all, None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|i| i.state == State::Approved)
        .count() as u64;
    assert!(
        approved > 0,
        "no approval was committed; the test proves nothing"
    );
    assert_eq!(
        outbox.counts().get("approved").copied().unwrap_or(0),
        approved
    );
    assert!(
        outbox.generation() > generation,
        "listing caches were not told"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_a_caller_that_hangs_up_stops_working_at_once() {
    use commsd::api::keys::Keys;
    use commsd::auth::{Grant, Grants};
    let root = tempfile::tempdir().unwrap();
    let (store, _thread) = Store::open(&root.path().join("commsd.db")).unwrap();
    let keys = Keys::load(store.clone()).await.unwrap();
    let human = Caller::cli("alice", 1000);
    let mut revoked_some = false;
    for polls in 0..40 {
        let name = format!("agent-{polls}");
        let (_, token) = keys
            .create(&human, &name, Grants::from_iter([Grant::Read]), None)
            .await
            .unwrap();
        assert!(keys.authenticate(&token).is_ok());
        poll_then_drop(keys.revoke(&human, &name), polls).await;
        store.call(|_| Ok(())).await.unwrap();
        let in_db: Option<i64> = {
            let id = token.split('_').nth(1).unwrap().to_owned();
            store
                .call(move |c| {
                    Ok(c.query_row(
                        "SELECT revoked_at_ms FROM api_keys WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )?)
                })
                .await
                .unwrap()
        };
        revoked_some |= in_db.is_some();
        assert_eq!(
            keys.authenticate(&token).is_err(),
            in_db.is_some(),
            "after {polls} polls: revoked in the database: {in_db:?}, and the key still works"
        );
    }
    assert!(
        revoked_some,
        "no revocation committed; the test proves nothing"
    );
}
