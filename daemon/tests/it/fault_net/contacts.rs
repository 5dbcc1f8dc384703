//! The People sync through the real daemon when Google or the network
//! misbehaves. Reads are repeated (with backoff, honouring `Retry-After`),
//! so every fault short of a lasting outage ends in a complete sync; a
//! lasting one fails the sync naming the cause, loses nothing stored, and
//! the next sync picks up what changed meanwhile. No contact is stored
//! twice.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ADA, behind_proxy, json};
use crate::faultproxy::NetFault;
use crate::google_fake::Fault;
use crate::google_fake::people::{PeopleFake, person};

const LIST: &str = "people.people.connections.list";
const NEEDLE: &str = "/v1/people/me/connections";
/// The sandbox's own address book.
const SANDBOX_PEOPLE: u64 = 6;

fn add(fake: &PeopleFake, i: usize) {
    fake.add_saved(
        ADA,
        &format!("c{i}"),
        person(
            &format!("Patient {i:04}"),
            &[(&format!("p{i}@patients.example"), "home", false)],
            &[],
        ),
    );
}

fn saved(synced: &Value) -> &Value {
    &synced["accounts"][0]["sources"]["saved"]
}

#[test]
fn fault_people_sync_survives_429_5xx_drops_and_slow_answers_and_stores_each_contact_once() {
    let s = behind_proxy(
        |rt| {
            let fake = rt.block_on(PeopleFake::start());
            for i in 0..250 {
                add(&fake, i);
            }
            fake
        },
        "people",
        "[contacts]\nsync_interval = \"1h\"\npage_size = 100\nrequest_timeout = \"1s\"\nretry_base = \"20ms\"\nmax_attempts = 3\n",
        &["--tier", "1", "--with", "contacts"],
    );
    let (env, fake, proxy) = (&s.env, &s.fake, &s.proxy);
    let sync = || json(env, &["contacts", "sync", "--account", ADA]);

    // A full sync of three pages through a 429 with Retry-After and a 503.
    fake.inject(Fault {
        retry_after_s: Some(1),
        ..Fault::new(LIST, 429)
    });
    fake.inject(Fault::new(LIST, 503));
    let started = Instant::now();
    let synced = sync();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(saved(&synced)["stored"], 250, "{synced}");
    assert_eq!(synced["people"], 250 + SANDBOX_PEOPLE, "{synced}");

    // Each connection fault, with a contact added meanwhile: the read is
    // repeated, the new contact stored once.
    let mut total = 250;
    for fault in [
        NetFault::DropBeforeRead,
        NetFault::DropAnswer,
        NetFault::Slow(Duration::from_secs(3)),
    ] {
        add(fake, total);
        total += 1;
        proxy.arm(NEEDLE, fault, 1);
        let started = Instant::now();
        let synced = sync();
        assert_eq!(proxy.pending(), 0, "{fault:?} struck");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{fault:?}: the timeout did not cut the call short: {:?}",
            started.elapsed()
        );
        assert_eq!(saved(&synced)["stored"], 1, "{fault:?}: {synced}");
        assert_eq!(saved(&synced)["full"], false, "{fault:?}: {synced}");
        assert_eq!(synced["people"], total as u64 + SANDBOX_PEOPLE, "{synced}");
    }

    // A lasting outage: the sync fails naming the cause, nothing is lost,
    // and the next one stores what was added meanwhile, once.
    add(fake, total);
    total += 1;
    fake.inject(Fault {
        times: 3,
        ..Fault::new(LIST, 503)
    });
    let run = env.commsctl(&["contacts", "sync", "--account", ADA, "--json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("People") && said.contains("503"), "{said}");
    let found = json(
        env,
        &["contacts", "search", "Patient 0249", "--account", ADA],
    );
    assert!(
        found.to_string().contains("p249@patients.example"),
        "{found}"
    );
    let synced = sync();
    assert_eq!(saved(&synced)["stored"], 1, "{synced}");
    assert_eq!(synced["people"], total as u64 + SANDBOX_PEOPLE, "{synced}");
    fake.assert_no_violations();
}
