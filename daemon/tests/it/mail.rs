//! IMAP/SMTP accounts against real servers: Dovecot (IMAP, submission,
//! LMTP) and the SMTP→LMTP relay, started by `tests/support/dovecot.rs`.
//!
//! The `dovecot_*` tests are ignored by a plain `cargo test`: they need
//! Dovecot. `scripts/test` installs it and runs them with
//! `--run-ignored only -E 'test(/dovecot_/)'`. One fault no real server can
//! be asked for (the connection lost after the message was handed over) is
//! played by a scripted SMTP server at the end.

use std::sync::Arc;
use std::time::Duration;

use commsd::events::{Bus, Event};
use commsd::mail::net::Timeouts;
use commsd::mail::settings::Fixed;
use commsd::mail::smtp::Retry;
use commsd::mail::{
    AuthMethod, Credential, Criteria, Destination, MailClient, MailSettings, Security, Server,
    SmtpTransport,
};
use commsd::outbox::attachments::{AttachFrom, AttachmentStore};
use commsd::outbox::item::Item;
use commsd::outbox::model::{Channel, Content, Decision, EmailContent, Priority, State};
use commsd::outbox::transport::{DeliveryError, Transport};
use commsd::outbox::validate::Limits;

use crate::dovecot::Dovecot;

pub(crate) const ALICE: &str = "alice@example.test";
pub(crate) const BOB: &str = "bob@example.test";

pub(crate) fn settings(d: &Dovecot, user: &str, security: Security) -> MailSettings {
    let (imap, smtp) = match security {
        Security::Tls => (d.ports.imaps, d.ports.submissions),
        Security::Starttls | Security::Plain => (d.ports.imap, d.ports.submission),
    };
    MailSettings {
        email: user.to_owned(),
        imap: Server {
            host: "127.0.0.1".into(),
            port: imap,
        },
        smtp: Server {
            host: "localhost".into(),
            port: smtp,
        },
        security,
        username: user.to_owned(),
        ca_file: Some(d.ca_file.clone()),
        pin_sha256: None,
        auth: AuthMethod::Password,
        save_sent: None,
    }
}

/// Short connect limits (some cases wait one out); commands get 30 s because
/// Dovecot answers a wrong password after `auth_failure_delay` (2 s) plus its
/// per-IP auth penalty (doubling up to 15 s), and CI machines are slow.
pub(crate) fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(30),
    }
}

pub(crate) fn client(d: &Dovecot, user: &str, data: &std::path::Path) -> Arc<MailClient> {
    let creds = Arc::new(Fixed(Credential::Password(
        Dovecot::password(user).to_owned(),
    )));
    Arc::new(
        MailClient::new(
            user.to_owned(),
            settings(d, user, Security::Tls),
            creds,
            data,
        )
        .unwrap()
        .with_timeouts(fast()),
    )
}

pub(crate) fn raw_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{}@outside.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.replace(' ', "-")
    )
    .into_bytes()
}

pub(crate) fn item(account: &str, content: EmailContent) -> Item {
    let content = Content::Email(content);
    Item {
        id: format!("ob_test{}", std::process::id()),
        channel: Channel::Email,
        account: account.to_owned(),
        state: State::Sending,
        priority: Priority::Normal,
        requester: "test".into(),
        client_request_id: None,
        content_hash: commsd::outbox::item::content_hash(account, &content),
        recipients: vec![],
        summary: String::new(),
        decision: Decision::Approve,
        rule: "test".into(),
        hold_reason: None,
        approval: None,
        rejection: None,
        dispatch_after_ms: None,
        dispatched_at_ms: None,
        delivery: None,
        error: None,
        created_at_ms: 1_795_000_000_000,
        updated_at_ms: 1_795_000_000_000,
        expires_at_ms: None,
        provider_ref: None,
        addressing: Vec::new(),
        content,
    }
}

pub(crate) async fn wait_for<T>(mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("condition not met within 10 s");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_connection_test_names_the_server_the_step_and_why() {
    let d = Dovecot::start();
    let password = Credential::Password(Dovecot::password(ALICE).to_owned());

    for security in [Security::Tls, Security::Starttls] {
        let report = commsd::mail::check::test(&settings(&d, ALICE, security), &password, fast())
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e:?}"));
        assert!(
            report.imap.starts_with("signed in to 127.0.0.1:"),
            "{report:?}"
        );
    }

    // Wrong port: nothing listens there.
    let mut s = settings(&d, ALICE, Security::Tls);
    s.imap.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = commsd::mail::check::test(&s, &password, fast())
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "upstream_unavailable", "{e:?}");
    assert_eq!(
        (e.details["server"].as_str(), e.details["step"].as_str()),
        (Some("imap"), Some("tcp_connect")),
        "{e:?}"
    );
    assert!(e.message.contains("refused"), "{}", e.message);

    // A CA that did not sign the server's certificate.
    let mut s = settings(&d, ALICE, Security::Tls);
    s.ca_file = Some(d.other_ca_file.clone());
    s.smtp.port = d.ports.submissions;
    let e = commsd::mail::check::test(&s, &password, fast())
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "upstream_error", "{e:?}");
    assert_eq!(e.details["step"], "tls_certificate", "{e:?}");
    assert_eq!(
        e.details["smtp"]["step"], "tls_certificate",
        "both servers fail: {e:?}"
    );
    assert!(e.details["hint"].as_str().unwrap().contains("--ca-file"));

    // The same through STARTTLS.
    let mut s = settings(&d, ALICE, Security::Starttls);
    s.ca_file = Some(d.other_ca_file.clone());
    let e = commsd::mail::check::test(&s, &password, fast())
        .await
        .unwrap_err();
    assert_eq!(e.details["step"], "tls_certificate", "{e:?}");

    // STARTTLS configured against an implicit-TLS port: no greeting in clear.
    let mut s = settings(&d, ALICE, Security::Starttls);
    s.imap.port = d.ports.imaps;
    s.smtp.port = d.ports.submission;
    let e = commsd::mail::check::test(&s, &password, fast())
        .await
        .unwrap_err();
    assert_eq!(e.details["server"], "imap", "{e:?}");

    // Wrong password: both servers refuse, IMAP leads, SMTP in details.
    let wrong = Credential::Password("not-the-password".into());
    let e = commsd::mail::check::test(&settings(&d, ALICE, Security::Tls), &wrong, fast())
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "upstream_error", "{e:?}");
    assert_eq!(e.details["step"], "authentication", "{e:?}");
    assert_eq!(e.details["smtp"]["step"], "authentication", "{e:?}");
    assert!(
        e.message.contains("IMAP server") && e.message.contains("SMTP server"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("not-the-password"));

    // Only SMTP wrong: the error is about SMTP.
    let mut s = settings(&d, ALICE, Security::Tls);
    s.smtp.host = "no-such-host.invalid".into();
    let e = commsd::mail::check::test(&s, &password, fast())
        .await
        .unwrap_err();
    assert_eq!(
        (e.details["server"].as_str(), e.details["step"].as_str()),
        (Some("smtp"), Some("dns")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_smtp_transport_delivers_files_a_copy_in_sent_and_reads_back() {
    let d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    let alice = client(&d, ALICE, data.path());
    let bob = client(&d, BOB, data.path());
    let store = AttachmentStore::new(data.path().join("attachments"));
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("Befund März.txt");
    std::fs::write(&file, "Laborwerte: alles im Normbereich.\n").unwrap();
    let attachment = store
        .import(
            "attachments[0]",
            &file,
            AttachFrom::Anywhere,
            &Limits::default(),
        )
        .unwrap();
    let transport = SmtpTransport::new(alice.clone(), store);

    let content = EmailContent {
        from: format!("Praxis Müller <{ALICE}>"),
        to: vec![BOB.to_owned()],
        cc: vec![],
        bcc: vec![],
        subject: "Ihr Befund – Grüße".into(),
        text: "Guten Tag,\n\nanbei Ihr Befund.\n\nFreundliche Grüße".into(),
        html: Some("<p>Guten Tag,</p><p>anbei Ihr <b>Befund</b>.</p>".into()),
        attachments: vec![attachment],
    };
    let detail = transport.deliver(&item(ALICE, content)).await.unwrap();
    assert!(detail.starts_with("SMTP localhost:"), "{detail}");
    assert!(
        detail.contains(" 250 "),
        "the server's reply is recorded: {detail}"
    );
    assert!(detail.contains("copy saved in Sent"), "{detail}");

    // Bob finds it in his INBOX.
    let page = wait_for(async || {
        let page = bob
            .list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap();
        (page.total == 1).then_some(page)
    })
    .await;
    let summary = &page.messages[0];
    assert_eq!(summary.subject, "Ihr Befund – Grüße");
    assert_eq!(summary.from, vec![format!("Praxis Müller <{ALICE}>")]);
    assert!(summary.unread);
    let full = bob.get(&summary.id, 10_000, true).await.unwrap();
    assert_eq!(full.text_source, "text_part");
    assert!(full.text.contains("anbei Ihr Befund."), "{}", full.text);
    assert!(full.html.as_deref().unwrap().contains("<b>Befund</b>"));
    assert_eq!(full.attachments.len(), 1);
    assert_eq!(full.attachments[0].filename, "Befund März.txt");
    let saved = full.attachments[0].saved_path.clone().unwrap();
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "Laborwerte: alles im Normbereich.\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // get used BODY.PEEK: still unread.
    let again = bob
        .list(
            "INBOX",
            &Criteria {
                unseen: true,
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.total, 1);

    // Alice's copy in Sent.
    let sent = alice
        .list("Sent", &Criteria::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(sent.total, 1, "{sent:?}");
    assert_eq!(sent.messages[0].subject, "Ihr Befund – Grüße");
    assert!(!sent.messages[0].unread);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_refusals_fail_with_the_servers_text_and_temporary_failures_are_retried() {
    let mut d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    let alice = client(&d, ALICE, data.path());
    let store = AttachmentStore::new(data.path().join("attachments"));
    let transport = Arc::new(SmtpTransport::new(alice.clone(), store).with_retry(Retry {
        attempts: 8,
        base: Duration::from_millis(200),
        max: Duration::from_millis(800),
    }));
    let email = |to: &str| EmailContent {
        from: ALICE.to_owned(),
        to: vec![to.to_owned()],
        cc: vec![],
        bcc: vec![],
        subject: "hello".into(),
        text: "hello".into(),
        html: None,
        attachments: vec![],
    };

    // 5xx: the recipient does not exist.
    let e = transport
        .deliver(&item(ALICE, email("nobody@example.test")))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Failed(_)), "{e:?}");
    assert!(e.message().contains("refused the message"), "{e}");
    assert!(
        e.message().contains("550") && e.message().contains("recipient(s) refused"),
        "the server's text: {}",
        e
    );

    // 4xx: submission cannot reach its relay; it comes back while we retry.
    d.stop_relay();
    let sending = {
        let transport = transport.clone();
        tokio::spawn(async move { transport.deliver(&item(ALICE, email(BOB))).await })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!sending.is_finished(), "still retrying");
    d.start_relay();
    let detail = sending.await.unwrap().unwrap();
    assert!(detail.contains(" 250 "), "{detail}");
    let bob = client(&d, BOB, data.path());
    wait_for(async || {
        (bob.list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total
            == 1)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_list_search_get_mark_and_move() {
    let d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    for (i, (subject, body)) in [
        ("Termin am Montag", "Bitte bestätigen Sie den Termin."),
        ("Rechnung 2026-11", "Die Rechnung liegt bei."),
        ("Newsletter", "Neuigkeiten aus der Praxis."),
    ]
    .iter()
    .enumerate()
    {
        let from = format!("patient{i}@outside.test");
        d.deliver(BOB, &raw_message(&from, BOB, subject, body));
    }
    d.deliver(
        BOB,
        b"From: shop@outside.test\r\nTo: bob@example.test\r\nSubject: HTML only\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><h1>Angebot</h1><p>Nur heute: <a href=\"https://shop.example/\">hier</a>.</p></body></html>\r\n",
    );
    let bob = client(&d, BOB, data.path());

    let page = bob
        .list("INBOX", &Criteria::default(), 2, None)
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(
        page.messages
            .iter()
            .map(|m| m.subject.as_str())
            .collect::<Vec<_>>(),
        ["HTML only", "Newsletter"]
    );
    let older = bob
        .list(
            "INBOX",
            &Criteria::default(),
            2,
            page.next_cursor.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(
        older
            .messages
            .iter()
            .map(|m| m.subject.as_str())
            .collect::<Vec<_>>(),
        ["Rechnung 2026-11", "Termin am Montag"]
    );
    assert_eq!(older.next_cursor, None);
    let e = bob
        .list("INBOX", &Criteria::default(), 2, Some("garbage"))
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "cursor");

    let found = bob
        .list(
            "INBOX",
            &Criteria {
                from: Some("patient1@outside.test".into()),
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        found
            .messages
            .iter()
            .map(|m| m.subject.as_str())
            .collect::<Vec<_>>(),
        ["Rechnung 2026-11"]
    );
    let found = bob
        .list(
            "INBOX",
            &Criteria {
                text: Some("bestätigen".into()),
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        found
            .messages
            .iter()
            .map(|m| m.subject.as_str())
            .collect::<Vec<_>>(),
        ["Termin am Montag"]
    );
    let found = bob
        .list(
            "INBOX",
            &Criteria {
                subject: Some("rechnung".into()),
                before: Some(jiff::civil::date(2000, 1, 1)),
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(found.total, 0);

    let html = bob.get(&page.messages[0].id, 10_000, false).await.unwrap();
    assert_eq!(html.text_source, "html");
    assert!(
        html.text.contains("Angebot") && html.text.contains("Nur heute"),
        "{}",
        html.text
    );

    // Mark read, then unread.
    let ids: Vec<String> = page.messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(bob.mark(&ids, true).await.unwrap(), 2);
    let unread = bob
        .list(
            "INBOX",
            &Criteria {
                unseen: true,
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(unread.total, 2);
    bob.mark(&ids[..1], false).await.unwrap();
    let unread = bob
        .list(
            "INBOX",
            &Criteria {
                unseen: true,
                ..Criteria::default()
            },
            10,
            None,
        )
        .await
        .unwrap();
    assert_eq!(unread.total, 3);

    // Archive and trash go to the special-use folders.
    assert_eq!(
        bob.move_to(&older.messages[0].id, &Destination::Archive)
            .await
            .unwrap(),
        "Archive"
    );
    assert_eq!(
        bob.move_to(&older.messages[1].id, &Destination::Trash)
            .await
            .unwrap(),
        "Trash"
    );
    assert_eq!(
        bob.list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total,
        2
    );
    let archived = bob
        .list("Archive", &Criteria::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(archived.messages[0].subject, "Rechnung 2026-11");
    let e = bob
        .get(&older.messages[0].id, 100, false)
        .await
        .unwrap_err();
    assert_eq!(e.code.as_str(), "not_found", "{e:?}");
    let e = bob
        .move_to(
            &archived.messages[0].id,
            &Destination::Folder("Nope".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.details["field"], "destination");

    // A folder whose name is not ASCII: Dovecot lists it in modified UTF-7
    // ("Befunde &AMQ-rzte"); people and agents use the name they read.
    let befunde = "Befunde Ärzte";
    assert!(
        bob.folders()
            .await
            .unwrap()
            .names
            .iter()
            .any(|n| n == befunde),
        "{:?}",
        bob.folders().await.unwrap().names
    );
    assert_eq!(
        bob.move_to(
            &archived.messages[0].id,
            &Destination::Folder(befunde.into())
        )
        .await
        .unwrap(),
        befunde
    );
    let filed = bob
        .list(befunde, &Criteria::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(filed.folder, befunde);
    assert_eq!(filed.messages[0].subject, "Rechnung 2026-11");
    let id = &filed.messages[0].id;
    assert_eq!(bob.mark(std::slice::from_ref(id), true).await.unwrap(), 1);
    let full = bob.get(id, 100, false).await.unwrap();
    assert!(!full.summary.unread, "{full:?}");
    assert_eq!(bob.move_to(id, &Destination::Inbox).await.unwrap(), "INBOX");
    assert_eq!(
        bob.list(befunde, &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_a_5000_message_folder_lists_its_newest_50_and_pages() {
    const N: usize = 5_000;
    let d = Dovecot::start();
    d.fill_maildir(
        BOB,
        (0..N).map(|i| raw_message("x@outside.test", BOB, &format!("bulk {i:04}"), "x")),
    );
    let data = tempfile::tempdir().unwrap();
    let bob = client(&d, BOB, data.path());

    let first = bob
        .list("INBOX", &Criteria::default(), 50, None)
        .await
        .unwrap();
    assert_eq!(first.total, N);
    assert_eq!(first.messages.len(), 50);
    // Newest first: the 50 highest UIDs, in descending order.
    let uids: Vec<u32> = first.messages.iter().map(|m| m.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] > w[1]), "{uids:?}");
    assert_eq!(uids[0] as usize, N, "{uids:?}");

    // Paging visits every message once, and stops.
    let mut seen = std::collections::BTreeSet::new();
    let mut page = first;
    let mut pages = 1;
    loop {
        for m in &page.messages {
            assert!(seen.insert(m.uid), "uid {} twice", m.uid);
            assert!(m.subject.starts_with("bulk "), "{}", m.subject);
        }
        let Some(cursor) = page.next_cursor.clone() else {
            break;
        };
        page = bob
            .list("INBOX", &Criteria::default(), 500, Some(&cursor))
            .await
            .unwrap();
        assert_eq!(
            page.total,
            N - seen.len(),
            "what is left, older than the cursor"
        );
        pages += 1;
    }
    assert_eq!(seen.len(), N);
    assert_eq!(pages, 1 + (N - 50).div_ceil(500));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_reconnects_after_a_server_restart() {
    let mut d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    d.deliver(BOB, &raw_message("x@outside.test", BOB, "first", "one"));
    let bob = client(&d, BOB, data.path());
    assert_eq!(
        bob.list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total,
        1
    );
    d.stop_dovecot();
    d.start_dovecot();
    d.deliver(BOB, &raw_message("x@outside.test", BOB, "second", "two"));
    // The pooled session is dead; the next call reconnects.
    assert_eq!(
        bob.list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_idle_turns_a_new_message_into_an_event() {
    let d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    let bob = client(&d, BOB, data.path());
    let bus = Arc::new(Bus::default());
    let mut events = bus.subscribe();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(commsd::mail::idle::watch_inbox(
        bob.clone(),
        bus.clone(),
        shutdown.clone(),
    ));
    // The watcher may not be idling yet (a loaded machine): mail that lands
    // before it selects INBOX is its starting point, not news. So deliver
    // until an event comes; each event must be about new mail. The latency
    // is a benchmark figure (benches/mail.rs), not asserted here.
    let mut delivered = 0;
    let envelope = loop {
        delivered += 1;
        assert!(
            delivered <= 10,
            "no event after {} deliveries",
            delivered - 1
        );
        d.deliver(
            BOB,
            &raw_message("x@outside.test", BOB, &format!("ping {delivered}"), "ping"),
        );
        if let Ok(envelope) = tokio::time::timeout(Duration::from_secs(3), events.recv()).await {
            break envelope.unwrap();
        }
    };
    assert!(
        matches!(
            &envelope.event,
            Event::MailReceived { account, folder, new_messages }
                if account == BOB && folder == "INBOX" && *new_messages >= 1
        ),
        "{:?}",
        envelope.event
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), watcher)
        .await
        .expect("watcher stops")
        .unwrap();
}

/// An SMTP server that takes the whole message after DATA and then drops the
/// connection without a reply: the one fault no real server can be asked
/// for. Counts the messages it received.
async fn smtp_that_drops_after_data() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 scripted ESMTP\r\n").await?;
                while let Some(line) = lines.next_line().await? {
                    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-scripted\r\n250 AUTH PLAIN LOGIN\r\n",
                        "AUTH" => b"235 2.7.0 accepted\r\n",
                        "MAIL" | "RCPT" | "NOOP" | "RSET" => b"250 2.0.0 ok\r\n",
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await?;
                            while let Some(l) = lines.next_line().await? {
                                if l == "." {
                                    break;
                                }
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                            return Ok(()); // the connection drops: no reply
                        }
                        "QUIT" => return write.write_all(b"221 bye\r\n").await,
                        _ => b"502 5.5.2 not here\r\n",
                    };
                    write.write_all(reply).await?;
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_a_message_handed_over_without_an_answer_is_unknown_and_never_resent() {
    let (port, received) = smtp_that_drops_after_data().await;
    let data = tempfile::tempdir().unwrap();
    let settings = MailSettings {
        email: ALICE.to_owned(),
        imap: Server {
            host: "127.0.0.1".into(),
            port: 1,
        },
        smtp: Server {
            host: "127.0.0.1".into(),
            port,
        },
        security: Security::Plain,
        username: ALICE.to_owned(),
        ca_file: None,
        pin_sha256: None,
        auth: AuthMethod::Password,
        save_sent: Some(false),
    };
    let client = Arc::new(
        MailClient::new(
            ALICE.to_owned(),
            settings,
            Arc::new(Fixed(Credential::Password("pw".into()))),
            data.path(),
        )
        .unwrap()
        .with_timeouts(fast()),
    );
    let store = AttachmentStore::new(data.path().join("attachments"));
    let transport = SmtpTransport::new(client, store).with_retry(Retry {
        attempts: 5,
        base: Duration::from_millis(10),
        max: Duration::from_millis(20),
    });
    let content = EmailContent {
        from: ALICE.to_owned(),
        to: vec![BOB.to_owned()],
        cc: vec![],
        bcc: vec![],
        subject: "Your appointment".into(),
        text: "Tuesday, 10:00.".into(),
        html: None,
        attachments: vec![],
    };
    let e = transport.deliver(&item(ALICE, content)).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Unknown(_)), "{e:?}");
    assert!(
        e.message()
            .contains("may have been delivered, so it is not sent again"),
        "{e}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "handed over once, never again"
    );
}
