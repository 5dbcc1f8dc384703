//! Mail servers restarting under a running account (the issue's "SMTP and
//! IMAP servers restarting mid-session"), against real Dovecot: sessions
//! kept open for reuse (SMTP between sends, IMAP pooled with a folder
//! selected) die with the server; the next send and the next read open new
//! ones, nothing is lost, and each message arrives and is filed in Sent
//! once. A send while the server is down fails before anything was handed
//! over, naming the server and the step, and is never half-sent. A restart
//! in the middle of DATA leaves the send unknown and delivers nothing.
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

/// A TCP proxy in front of Dovecot's submission port that stalls a
/// connection once its client has sent `stall_after` bytes (inside TLS, so
/// in the middle of a large message's DATA): those bytes stop short of the
/// end of the message, the rest are never forwarded, and the client's
/// connection closes when the server's side does. Only the first
/// connection to cross the mark is stalled.
async fn stall_proxy(upstream: u16, stall_after: usize) -> (u16, Arc<tokio::sync::Notify>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalled = Arc::new(tokio::sync::Notify::new());
    let armed = Arc::new(AtomicBool::new(true));
    let notify = stalled.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                .await
                .unwrap();
            let (notify, armed) = (notify.clone(), armed.clone());
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upload = async {
                    let mut sent = 0usize;
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if sent + n > stall_after && armed.swap(false, Ordering::SeqCst) {
                            let part = stall_after.saturating_sub(sent);
                            let _ = server_write.write_all(&buf[..part]).await;
                            notify.notify_one();
                            std::future::pending::<()>().await;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        sent += n;
                    }
                };
                let download = tokio::io::copy(&mut server_read, &mut client_write);
                // Whichever side ends first ends the connection (dropping
                // both halves closes the client's).
                tokio::select! {
                    () = upload => {}
                    _ = download => {}
                }
            });
        }
    });
    (port, stalled)
}

/// Dovecot restarts while a message is being handed over (during DATA,
/// before its end): the server cannot have taken it, but commsd cannot
/// tell a write cut short from an answer lost, so the item is `unknown`
/// and never resent by itself. Nothing half-written arrives or is filed;
/// a human's approval then sends it once.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_restarts_during_data_leave_the_send_unknown_and_nothing_half_delivered() {
    let mut d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    let bob = client(&d, BOB, data.path());
    let alice_direct = client(&d, ALICE, data.path());
    let (port, stalled) = stall_proxy(d.ports.submissions, 256 * 1024).await;
    let mut s = crate::mail::settings(&d, ALICE, commsd::mail::settings::Security::Tls);
    s.smtp.port = port;
    let alice = Arc::new(
        MailClient::new(
            ALICE.to_owned(),
            s,
            Arc::new(commsd::mail::settings::Fixed(
                commsd::mail::settings::Credential::Password(
                    crate::dovecot::Dovecot::password(ALICE).to_owned(),
                ),
            )),
            data.path(),
        )
        .unwrap()
        .with_timeouts(crate::mail::fast()),
    );
    let store = AttachmentStore::new(data.path().join("attachments"));
    let transport = Arc::new(SmtpTransport::new(alice, store).with_retry(Retry {
        attempts: 3,
        base: Duration::from_millis(200),
        max: Duration::from_millis(400),
    }));
    // About 1 MB: the stall at 256 KB is well inside DATA.
    let mut big = email("rota");
    big.text = "Monday 9:00 Dr Lovelace; Tuesday 9:00 Dr Hopper.\n".repeat(20_000);

    let sending = tokio::spawn({
        let (transport, big) = (transport.clone(), big.clone());
        async move { transport.deliver(&item(ALICE, big)).await }
    });
    tokio::time::timeout(Duration::from_secs(30), stalled.notified())
        .await
        .expect("the upload reached the stall");
    d.stop_dovecot();
    d.start_dovecot();
    let e = tokio::time::timeout(Duration::from_secs(60), sending)
        .await
        .expect("the send ends once the server is gone")
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Unknown(_)), "{e:?}");
    assert!(
        e.message().contains("may have been delivered") && e.message().contains("SMTP server"),
        "says what to check: {e}"
    );

    // The server never had the end of the message: nothing arrived,
    // nothing was filed in Sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(subjects(&bob, "INBOX").await, Vec::<String>::new());
    assert_eq!(subjects(&alice_direct, "Sent").await, Vec::<String>::new());

    // A human approves it again: it goes, once, whole.
    let detail = transport.deliver(&item(ALICE, big.clone())).await.unwrap();
    assert!(detail.contains(" 250 "), "{detail}");
    wait_for_subjects(&bob, "INBOX", &["rota"]).await;
    wait_for_subjects(&alice_direct, "Sent", &["rota"]).await;
    let page = bob
        .list("INBOX", &Criteria::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
}
