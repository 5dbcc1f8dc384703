//! Mail servers restarting under a running account (the issue's "SMTP and
//! IMAP servers restarting mid-session"), against real Dovecot: sessions
//! kept open for reuse (SMTP between sends, IMAP pooled with a folder
//! selected) die with the server; the next send and the next read open new
//! ones, nothing is lost, and each message arrives and is filed in Sent
//! once. A send while the server is down fails before anything was handed
//! over, naming the server and the step, and is never half-sent.
//! `#[ignore]`d like every `dovecot_*` test; scripts/test runs them.

use std::sync::Arc;
use std::time::Duration;

use commsd::mail::smtp::Retry;
use commsd::mail::{Criteria, MailClient, SmtpTransport};
use commsd::outbox::attachments::AttachmentStore;
use commsd::outbox::model::EmailContent;
use commsd::outbox::transport::{DeliveryError, Transport};

use crate::dovecot::Dovecot;
use crate::mail::{ALICE, BOB, client, item, wait_for};

fn email(subject: &str) -> EmailContent {
    EmailContent {
        from: ALICE.to_owned(),
        to: vec![BOB.to_owned()],
        cc: vec![],
        bcc: vec![],
        subject: subject.to_owned(),
        text: format!("{subject}: see you at 9:00"),
        html: None,
        attachments: vec![],
    }
}

/// The subjects in `folder`, sorted.
async fn subjects(c: &MailClient, folder: &str) -> Vec<String> {
    let page = c
        .list(folder, &Criteria::default(), 50, None)
        .await
        .unwrap();
    let mut s: Vec<String> = page.messages.into_iter().map(|m| m.subject).collect();
    s.sort();
    s
}

async fn wait_for_subjects(c: &MailClient, folder: &str, want: &[&str]) {
    wait_for(async || {
        let got = subjects(c, folder).await;
        (got == want).then_some(())
    })
    .await;
    assert_eq!(subjects(c, folder).await, want);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_restarts_mid_session_lose_nothing_and_deliver_each_message_once() {
    let mut d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    let alice = client(&d, ALICE, data.path());
    let bob = client(&d, BOB, data.path());
    let store = AttachmentStore::new(data.path().join("attachments"));
    let transport = Arc::new(SmtpTransport::new(alice.clone(), store).with_retry(Retry {
        attempts: 3,
        base: Duration::from_millis(200),
        max: Duration::from_millis(400),
    }));

    // A send: the SMTP connection stays open for the next one; Bob's and
    // Alice's IMAP sessions stay pooled with a folder selected.
    transport.deliver(&item(ALICE, email("one"))).await.unwrap();
    wait_for_subjects(&bob, "INBOX", &["one"]).await;
    wait_for_subjects(&alice, "Sent", &["one"]).await;

    // Dovecot restarts: every one of those sessions is dead.
    d.stop_dovecot();
    d.start_dovecot();
    let detail = transport.deliver(&item(ALICE, email("two"))).await.unwrap();
    assert!(detail.contains(" 250 "), "{detail}");
    assert!(detail.contains("copy saved in Sent"), "{detail}");
    wait_for_subjects(&bob, "INBOX", &["one", "two"]).await;
    wait_for_subjects(&alice, "Sent", &["one", "two"]).await;

    // Dovecot is down for a send: refused before anything was handed over,
    // a plain failure naming the server, never an unknown outcome.
    d.stop_dovecot();
    let e = transport
        .deliver(&item(ALICE, email("three")))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Failed(_)), "{e:?}");
    assert!(
        e.message().contains("SMTP") && e.message().contains(&d.ports.submissions.to_string()),
        "names the server: {e}"
    );
    d.start_dovecot();
    // Nothing of it arrived, nothing was filed; the earlier ones are intact.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(subjects(&bob, "INBOX").await, ["one", "two"]);
    assert_eq!(subjects(&alice, "Sent").await, ["one", "two"]);

    // And the account works on: the next send goes once.
    transport
        .deliver(&item(ALICE, email("four")))
        .await
        .unwrap();
    wait_for_subjects(&bob, "INBOX", &["four", "one", "two"]).await;
    wait_for_subjects(&alice, "Sent", &["four", "one", "two"]).await;
}
