//! Contacts search and resolution over 10,000 people in memory (the merged
//! book the daemon builds after a sync): building the book, then search and
//! resolve p50/p99 for a mix of name, partial email and digits-only phone
//! queries.
//!
//! Run with `cargo bench -p commsd --bench contacts_search`. Prints plain figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use commsd::contacts::book::{Book, Channel};
use commsd::contacts::record::{Fields, Handle, Record, Source};
use commsd::contacts::resolve::resolve;

const PEOPLE: usize = 10_000;
const ROUNDS: usize = 2_000;

const GIVEN: [&str; 10] = [
    "José", "Anna", "Lukas", "Marie", "Noah", "Zoë", "Omar", "Ingrid", "Chen", "Fatima",
];
const FAMILY: [&str; 10] = [
    "Müller", "Smith", "García", "Nguyen", "Kowalski", "Okafor", "Rossi", "Dubois", "Tanaka",
    "Öberg",
];

fn record(i: usize) -> Record {
    let name = format!("{} {} {i}", GIVEN[i % 10], FAMILY[(i / 10) % 10]);
    Record {
        account_id: "work".into(),
        source: if i.is_multiple_of(4) {
            Source::Other
        } else {
            Source::Saved
        },
        resource_name: format!("people/c{i}"),
        etag: None,
        fields: Fields {
            names: vec![name],
            emails: vec![Handle {
                value: format!("person{i}@patients.example"),
                kind: "home".into(),
                primary: false,
            }],
            phones: vec![Handle {
                value: format!("+1415{i:07}"),
                kind: "mobile".into(),
                primary: false,
            }],
            ..Fields::default()
        },
    }
}

fn percentiles(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    (d[d.len() / 2], d[d.len() * 99 / 100])
}

fn main() {
    let records: Vec<Record> = (0..PEOPLE).map(record).collect();
    let started = Instant::now();
    let book = Book::build(records, HashMap::new());
    println!(
        "book of {} people built in {:.1} ms",
        book.people.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let queries: Vec<String> = (0..ROUNDS)
        .map(|i| match i % 4 {
            0 => format!("jose muller {}", i * 7 % PEOPLE),
            1 => format!("person{}@", i * 13 % PEOPLE),
            2 => format!("{:07}", i * 31 % PEOPLE),
            _ => "oberg".to_owned(),
        })
        .collect();
    let mut search = Vec::with_capacity(ROUNDS);
    let mut found = 0;
    for q in &queries {
        let t = Instant::now();
        found += book.search(q, Some("work"), 25).len();
        search.push(t.elapsed());
    }
    let mut resolving = Vec::with_capacity(ROUNDS);
    let mut resolved = 0;
    for q in &queries {
        let t = Instant::now();
        if resolve(&book, q, Channel::Email, Some("work")).status() == "resolved" {
            resolved += 1;
        }
        resolving.push(t.elapsed());
    }
    let (p50, p99) = percentiles(search);
    println!(
        "search over {PEOPLE}: p50 {:.3} ms, p99 {:.3} ms ({found} results for {ROUNDS} queries)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    let (p50, p99) = percentiles(resolving);
    println!(
        "resolve over {PEOPLE}: p50 {:.3} ms, p99 {:.3} ms ({resolved} of {ROUNDS} resolved)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
