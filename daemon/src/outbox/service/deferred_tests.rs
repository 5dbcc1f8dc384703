//! A transport that could not read its credentials (the vault did not
//! answer) says `Deferred`: nothing was handed over, so the item is
//! approved again, as it was, held with the reason, and goes later. It is
//! not failed (the approval would be lost) nor unknown.

use super::clock_tests::{approved, outbox, put};
use super::lifecycle::VAULT_RECHECK_MS;
use super::*;
use crate::outbox::transport::DeliveryError;

#[tokio::test]
async fn a_deferred_delivery_is_approved_again_held_with_the_reason_and_goes_later() {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, store) = outbox(dir.path()).await;
    let now = now_unix_ms();
    put(
        &outbox,
        vec![approved("ob_deferred", now - 1_000, now - 1, None)],
    )
    .await;
    let item = store
        .call(|c| db::get(c, "ob_deferred"))
        .await
        .unwrap()
        .unwrap();

    let sending = outbox.begin_dispatch(item).await.unwrap().expect("due");
    assert_eq!(sending.state, State::Sending);
    assert!(sending.dispatched_at_ms.is_some());
    let held = outbox
        .finish_dispatch(
            sending,
            Err(DeliveryError::Deferred(
                "the secret vault cannot be used: the OS keyring refused to read".to_owned(),
            )),
        )
        .await
        .unwrap();
    assert_eq!(held.state, State::Approved);
    assert!(held.approval.is_some(), "the approval stands");
    assert_eq!(
        held.dispatched_at_ms, None,
        "no send is counted against the caps"
    );
    assert!(held.dispatch_after_ms.unwrap() >= now + VAULT_RECHECK_MS - 1_000);
    let reason = held.hold_reason.clone().unwrap();
    assert!(
        reason.contains("did not answer") && reason.contains("keyring refused"),
        "{reason}"
    );
    assert_eq!(held.error, None, "not an error: nothing happened");
    let actions: Vec<String> = store
        .call(|c| {
            let mut q = c.prepare(
                "SELECT action FROM audit_log WHERE item_id = 'ob_deferred' ORDER BY seq",
            )?;
            let rows = q.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
                .map_err(Into::into)
        })
        .await
        .unwrap();
    assert_eq!(actions, ["approved", "sending", "held"]);

    // Due again, it is dispatched as any approved item is.
    let again = outbox
        .begin_dispatch(held)
        .await
        .unwrap()
        .expect("due again");
    assert_eq!(again.state, State::Sending);
}

#[test]
fn only_a_vault_error_before_the_handover_defers() {
    use crate::error::{Code, Error};
    let vault = Error::new(Code::VaultUnavailable, "the vault file is locked");
    assert_eq!(
        DeliveryError::before_handover(vault),
        DeliveryError::Deferred("the vault file is locked".to_owned())
    );
    let other = Error::new(Code::FailedPrecondition, "no Twilio secret is stored");
    assert_eq!(
        DeliveryError::before_handover(other),
        DeliveryError::Failed("no Twilio secret is stored".to_owned())
    );
}
