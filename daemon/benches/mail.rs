//! IMAP/SMTP benchmark against real Dovecot (tests/support/dovecot.rs: IMAP,
//! submission and LMTP on loopback, TLS on every connection).
//!
//! 1. The newest 50 of a 5,000-message INBOX (`MailClient::list`): median
//!    and p90 of repeated calls on a warm pooled session.
//! 2. Fetch and parse 1,000 messages: summaries in one list call, and full
//!    messages one `get` at a time, sequential and 4 at a time (the pool).
//! 3. SMTP sends through the outbox transport: one connection reused for
//!    every message, beside a new connection per message.
//! 4. IDLE: time from an LMTP delivery to the `MailReceived` event.
//!
//! Needs Dovecot (scripts/test installs it): `cargo bench -p commsd --bench mail`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../../tests/support/dovecot.rs"]
mod dovecot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use commsd::events::{Bus, Event};
use commsd::mail::settings::Fixed;
use commsd::mail::{
    AuthMethod, Credential, Criteria, MailClient, MailSettings, Security, Server, SmtpTransport,
};
use commsd::outbox::attachments::AttachmentStore;
use dovecot::Dovecot;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const FOLDER_SIZE: usize = 5_000;

fn client(d: &Dovecot, user: &str, data: &std::path::Path) -> Arc<MailClient> {
    let settings = MailSettings {
        email: user.to_owned(),
        imap: Server {
            host: "127.0.0.1".into(),
            port: d.ports.imaps,
        },
        smtp: Server {
            host: "localhost".into(),
            port: d.ports.submissions,
        },
        security: Security::Tls,
        username: user.to_owned(),
        ca_file: Some(d.ca_file.clone()),
        pin_sha256: None,
        auth: AuthMethod::Password,
        save_sent: Some(false),
    };
    let creds = Arc::new(Fixed(Credential::Password(
        Dovecot::password(user).to_owned(),
    )));
    Arc::new(MailClient::new(user.to_owned(), settings, creds, data).unwrap())
}

/// A realistic message: headers, a text part and an HTML part, ~3 KB.
fn message(i: usize) -> Vec<u8> {
    let para = "Sehr geehrte Frau Roe, Ihr Termin am Dienstag um 10:00 ist bestaetigt.\r\n\
                Bitte bringen Sie Ihre Versichertenkarte mit.\r\n";
    let text = para.repeat(12);
    format!(
        "From: Praxis <praxis@example.test>\r\nTo: {BOB}\r\nSubject: Termin {i:05}\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-{i}@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>{text}</p>\r\n--b--\r\n"
    )
    .into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut d = Dovecot::start();
    let data = tempfile::tempdir().unwrap();
    println!("mail benchmark against Dovecot on loopback (TLS on every connection)");

    // --- 1. newest 50 of 5,000 -------------------------------------------
    d.fill_maildir(BOB, (0..FOLDER_SIZE).map(message));
    let bob = client(&d, BOB, data.path());
    let started = Instant::now();
    let first = bob
        .list("INBOX", &Criteria::default(), 50, None)
        .await
        .unwrap();
    let cold = started.elapsed();
    assert_eq!(first.total, FOLDER_SIZE);
    // A read-write SELECT (here: marking one message read) lets Dovecot move
    // the delivered files from Maildir new/ to cur/, as any mail client's
    // first visit does; until then every command rescans new/.
    bob.mark(std::slice::from_ref(&first.messages[0].id), true)
        .await
        .unwrap();
    let mut samples = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let page = bob
            .list("INBOX", &Criteria::default(), 50, None)
            .await
            .unwrap();
        samples.push(t.elapsed());
        assert_eq!(page.messages.len(), 50);
    }
    samples.sort();
    println!(
        "newest 50 of {FOLDER_SIZE}: p50 {:.1} ms, p90 {:.1} ms over {} calls (first call, Dovecot indexing the folder: {:.0} ms)",
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        samples.len(),
        ms(cold)
    );

    // --- 2. fetch and parse 1,000 ----------------------------------------
    let t = Instant::now();
    let thousand = bob
        .list("INBOX", &Criteria::default(), 1_000, None)
        .await
        .unwrap();
    let summaries = t.elapsed();
    assert_eq!(thousand.messages.len(), 1_000);
    println!(
        "1,000 summaries (headers fetched and parsed) in one call: {:.0} ms, {:.0} messages/s",
        ms(summaries),
        1_000.0 / summaries.as_secs_f64()
    );
    let ids: Vec<String> = thousand.messages.iter().map(|m| m.id.clone()).collect();
    let t = Instant::now();
    for id in &ids {
        let full = bob.get(id, 100_000, false).await.unwrap();
        assert!(!full.text.is_empty());
    }
    let sequential = t.elapsed();
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len() / 4) {
        let (bob, chunk) = (bob.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for id in &chunk {
                bob.get(id, 100_000, false).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let parallel = t.elapsed();
    println!(
        "1,000 full messages (~3 KB, text + HTML) fetched and parsed one by one: {:.0} messages/s sequential, {:.0} messages/s 4 at a time ({:.2}x)",
        1_000.0 / sequential.as_secs_f64(),
        1_000.0 / parallel.as_secs_f64(),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );

    // --- 3. SMTP sends -----------------------------------------------------
    const SENDS: usize = 100;
    let alice = client(&d, ALICE, data.path());
    let store = AttachmentStore::new(data.path().join("attachments"));
    let raw = message(0);
    let reused = SmtpTransport::new(alice.clone(), store.clone());
    reused
        .send_raw(ALICE, &[BOB.to_owned()], &raw)
        .await
        .unwrap(); // connect once
    let t = Instant::now();
    for _ in 0..SENDS {
        reused
            .send_raw(ALICE, &[BOB.to_owned()], &raw)
            .await
            .unwrap();
    }
    let with_reuse = t.elapsed();
    let t = Instant::now();
    for _ in 0..SENDS {
        let fresh = SmtpTransport::new(alice.clone(), store.clone());
        fresh
            .send_raw(ALICE, &[BOB.to_owned()], &raw)
            .await
            .unwrap();
    }
    let without = t.elapsed();
    println!(
        "SMTP sends ({SENDS} x ~3 KB, submission over TLS, relayed to LMTP): {:.0} messages/s reusing one connection, {:.0} messages/s with a new connection each ({:.1}x)",
        SENDS as f64 / with_reuse.as_secs_f64(),
        SENDS as f64 / without.as_secs_f64(),
        without.as_secs_f64() / with_reuse.as_secs_f64()
    );

    // --- 4. IDLE latency ---------------------------------------------------
    let carol = client(&d, ALICE, data.path());
    let bus = Arc::new(Bus::default());
    let mut events = bus.subscribe();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn(commsd::mail::idle::watch_inbox(
        carol,
        bus.clone(),
        shutdown.clone(),
    ));
    // Until the watcher idles, a delivery is its starting point, not news.
    let mut ready = false;
    for _ in 0..20 {
        d.deliver(ALICE, &message(1));
        if tokio::time::timeout(Duration::from_secs(2), events.recv())
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
    }
    assert!(ready, "the IDLE watcher never reported");
    let mut latencies = Vec::new();
    for i in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        d.deliver(ALICE, &message(i));
        loop {
            let envelope = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("an IDLE event within 10 s")
                .unwrap();
            if matches!(envelope.event, Event::MailReceived { .. }) {
                break;
            }
        }
        latencies.push(t.elapsed());
    }
    latencies.sort();
    println!(
        "IDLE: LMTP delivery -> MailReceived event: p50 {:.0} ms, max {:.0} ms over {} messages (target: within 2 s)",
        ms(percentile(&latencies, 0.5)),
        ms(*latencies.last().unwrap()),
        latencies.len()
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), watcher).await;
    d.stop_dovecot();
}
