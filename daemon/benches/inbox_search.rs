//! The unified inbox's index and search, in process on a temporary data
//! directory:
//! 1. index 100,000 generated messages (email, SMS and chat over 5 accounts)
//!    through `inbox::Sink::put` in batches of 500, as the sources do
//!    (upsert, FTS triggers, window, one commit a batch): messages/s, and the
//!    database's size against the raw text's;
//! 2. 20 representative queries, each run 50 times: commsd's search (the
//!    sanitiser and `index::search` on the store thread, as `Inbox::search`
//!    runs it, 20 results) next to the same query as bare FTS5 SQL (`MATCH`
//!    ordered by `rank`, 20 results) on the same database in the same run;
//!    p50/p99 of each and the ratio.
//!
//! Run with `cargo bench -p commsd --bench inbox_search`. Prints plain figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use commsd::events::Bus;
use commsd::inbox::index::{self, Filter};
use commsd::inbox::query::sanitise;
use commsd::inbox::{Batch, InboxConfig, NewMessage, Sink};
use commsd::outbox::model::Channel;
use commsd::store::Store;

const MESSAGES: usize = 100_000;
const BATCH: usize = 500;
const RUNS: usize = 50;

const WORDS: &[&str] = &[
    "appointment",
    "tomorrow",
    "clinic",
    "invoice",
    "payment",
    "refill",
    "prescription",
    "results",
    "schedule",
    "cancel",
    "reschedule",
    "morning",
    "afternoon",
    "insurance",
    "claim",
    "referral",
    "doctor",
    "patient",
    "waiting",
    "room",
    "parking",
    "reminder",
    "confirm",
    "question",
    "thanks",
    "report",
    "meeting",
    "lunch",
    "delivery",
    "package",
    "Müller",
    "Résumé",
    "café",
    "naïve",
    "São",
    "Paulo",
    "Zoë",
    "déjà",
    "vu",
    "façade",
    "Kraków",
    "Ærø",
];
const NAMES: &[&str] = &[
    "Ann Example",
    "Bob Jones",
    "Zoë Müller",
    "Front Desk",
    "José Álvarez",
    "Li Wei",
    "Priya Patel",
    "Olu Ade",
    "Marie Curie",
    "Sam Lee",
];

/// A small deterministic generator (no dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.next() % from.len()]
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| self.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn message(i: usize, g: &mut Lcg, now_ms: i64) -> NewMessage {
    let channel = [Channel::Email, Channel::Email, Channel::Sms, Channel::Chat][i % 4];
    let name = g.pick(NAMES);
    let (from, subject) = match channel {
        Channel::Email => (
            format!(
                "{name} <{}@example.org>",
                name.to_lowercase().replace(' ', ".")
            ),
            format!("{} INV-{}", g.words(4), 10_000 + i),
        ),
        Channel::Sms => (format!("+1415555{:04}", i % 10_000), String::new()),
        Channel::Chat => (name.to_owned(), String::new()),
    };
    let len = 10 + g.next() % 60;
    NewMessage {
        channel,
        account_id: format!("acct{}", i % 5),
        provider_id: format!("m{i:08}"),
        thread_id: Some(format!("t{}", i / 3)),
        from,
        to: vec!["Desk <desk@clinic.example>".to_owned()],
        at_ms: now_ms - (MESSAGES - i) as i64 * 60_000,
        subject,
        text: g.words(len),
        has_attachments: i.is_multiple_of(17),
        unread: i.is_multiple_of(3),
    }
}

fn raw_bytes(m: &NewMessage) -> usize {
    m.subject.len() + m.text.len() + m.from.len() + m.to.iter().map(String::len).sum::<usize>()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("commsd.db");
    let (store, thread) = Store::open(&path).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = InboxConfig {
        days: 0,
        per_account: MESSAGES,
        ..InboxConfig::default()
    };
    let sink = Sink::new(
        "bench",
        store.clone(),
        Arc::new(Bus::default()),
        Arc::new(config),
    );
    let now_ms = commsd::events::now_unix_ms();
    let mut g = Lcg(42);
    let mut raw = 0usize;
    let started = Instant::now();
    rt.block_on(async {
        let mut batch: Vec<NewMessage> = Vec::with_capacity(BATCH);
        for i in 0..MESSAGES {
            let m = message(i, &mut g, now_ms);
            raw += raw_bytes(&m);
            batch.push(m);
            if batch.len() == BATCH {
                // One account a batch, as a source writes.
                let by: Vec<NewMessage> = std::mem::take(&mut batch);
                for a in 0..5 {
                    let acct = format!("acct{a}");
                    let mine: Vec<NewMessage> = by
                        .iter()
                        .filter(|m| m.account_id == acct)
                        .cloned()
                        .collect();
                    sink.put(
                        &acct,
                        Batch {
                            messages: mine,
                            ..Batch::default()
                        },
                    )
                    .await
                    .unwrap();
                }
            }
        }
    });
    let took = started.elapsed();
    rt.block_on(store.call(|c| {
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    }))
    .unwrap();
    let db_bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let stats = rt.block_on(store.call(|c| Ok(index::stats(c)?))).unwrap();
    println!(
        "index: {MESSAGES} messages in {:.1} s = {:.0} messages/s (batches of {BATCH}, one commit each)",
        took.as_secs_f64(),
        MESSAGES as f64 / took.as_secs_f64()
    );
    println!(
        "size: database {:.1} MB (index tables {:.1} MB) for {:.1} MB of raw text (subject, text, from, to): {:.2}x",
        db_bytes as f64 / 1e6,
        stats.bytes as f64 / 1e6,
        raw as f64 / 1e6,
        db_bytes as f64 / raw as f64
    );

    let queries = [
        "appointment",
        "INV-10042",
        "invoice payment",
        "muller",
        "Müller",
        "resume",
        "cafe",
        "ointm",
        "(415) 555-0123",
        "4155550042",
        "refill prescription tomorrow",
        "Zoë",
        "front desk",
        "krakow",
        "\"quoted\"",
        "schedule OR cancel",
        "desk@clinic",
        "jose alvarez",
        "deja vu",
        "insurance claim referral",
    ];
    let bare = rusqlite::Connection::open(&path).unwrap();
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "query (20 results)", "p50 ms", "p99 ms", "bare p50", "bare p99", "ratio"
    );
    let mut all_ours = Vec::new();
    let mut all_bare = Vec::new();
    for q in queries {
        let search = sanitise(q);
        let mut ours = Vec::with_capacity(RUNS);
        let mut found = 0;
        for _ in 0..RUNS {
            let q = q.to_owned();
            let t = Instant::now();
            let rows = rt
                .block_on(store.call(move |c| {
                    let s = sanitise(&q);
                    Ok(index::search(c, &s, &Filter::default(), 0, 20)?)
                }))
                .unwrap();
            ours.push(t.elapsed());
            found = rows.len();
        }
        // The same query as a person would write it in bare FTS5: the
        // sanitiser's expression (bare FTS5 has no safe spelling of its own).
        let expr = search.fts.clone().unwrap_or_else(|| "\"\"".to_owned());
        let mut stmt = bare
            .prepare(
                "SELECT m.id, m.subject, m.text FROM inbox_fts JOIN inbox_messages m ON m.id = inbox_fts.rowid
                 WHERE inbox_fts MATCH ?1 ORDER BY rank LIMIT 20",
            )
            .unwrap();
        let mut theirs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let n = stmt
                .query_map([&expr], |r| r.get::<_, i64>(0))
                .unwrap()
                .count();
            theirs.push(t.elapsed());
            std::hint::black_box(n);
        }
        all_ours.extend_from_slice(&ours);
        all_bare.extend_from_slice(&theirs);
        let (p50, p99) = (percentile(&mut ours, 0.5), percentile(&mut ours, 0.99));
        let (b50, b99) = (percentile(&mut theirs, 0.5), percentile(&mut theirs, 0.99));
        println!(
            "{:<32} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6.2}x  ({found} found)",
            q,
            ms(p50),
            ms(p99),
            ms(b50),
            ms(b99),
            ms(p50) / ms(b50).max(1e-6)
        );
    }
    let (p50, p99) = (
        percentile(&mut all_ours, 0.5),
        percentile(&mut all_ours, 0.99),
    );
    let (b50, b99) = (
        percentile(&mut all_bare, 0.5),
        percentile(&mut all_bare, 0.99),
    );
    println!(
        "{:<32} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6.2}x",
        "all queries",
        ms(p50),
        ms(p99),
        ms(b50),
        ms(b99),
        ms(p50) / ms(b50).max(1e-6)
    );
    drop(bare);
    store.close();
    thread.join();
}
