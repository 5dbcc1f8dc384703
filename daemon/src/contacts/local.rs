//! The sandbox account's address book: a few invented people, so search,
//! resolution and addressing by name work on the embedded default with no
//! account. Written at start (idempotent); writes through the tools change
//! it like a Google account's contacts, without any network.

use super::record::{Fields, Handle, Record, Source};
use super::{Contacts, db};
use crate::accounts::SANDBOX;
use crate::error::Result;
use crate::events::now_unix_ms;

fn h(value: &str, kind: &str, primary: bool) -> Handle {
    Handle {
        value: value.to_owned(),
        kind: kind.to_owned(),
        primary,
    }
}

fn person(n: u32, name: &str, emails: Vec<Handle>, phones: Vec<Handle>) -> Record {
    Record {
        account_id: SANDBOX.to_owned(),
        source: Source::Local,
        resource_name: format!("local/{n}"),
        etag: Some("1".to_owned()),
        fields: Fields {
            names: vec![name.to_owned()],
            emails,
            phones,
            ..Fields::default()
        },
    }
}

/// The seed: one person with one address, one with two and a primary, one
/// with two and none, and two people who share a name.
pub fn seed() -> Vec<Record> {
    vec![
        person(
            1,
            "Ada Lovelace",
            vec![h("ada@example.com", "work", false)],
            vec![h("+15550100001", "mobile", false)],
        ),
        person(
            2,
            "José Müller",
            vec![h("jose@example.com", "home", false)],
            vec![],
        ),
        person(
            3,
            "Grace Hopper",
            vec![
                h("grace@work.example", "work", true),
                h("grace@home.example", "home", false),
            ],
            vec![],
        ),
        person(
            4,
            "Alan Turing",
            vec![
                h("alan@work.example", "work", false),
                h("alan@home.example", "home", false),
            ],
            vec![],
        ),
        person(
            5,
            "Sam Taylor",
            vec![h("sam.taylor@example.com", "work", false)],
            vec![],
        ),
        person(
            6,
            "Sam Taylor",
            vec![h("staylor@example.org", "home", false)],
            vec![],
        ),
    ]
}

impl Contacts {
    /// Writes the seed once (the first start): later edits are kept.
    pub async fn seed_local(&self) -> Result<()> {
        self.store
            .write(|c| {
                let done = db::state(c, SANDBOX, Source::Local)?;
                if done.generation > 0 {
                    return Ok(());
                }
                let now = now_unix_ms();
                for r in seed() {
                    db::upsert(c, &r, 1, now)?;
                }
                db::save_state(
                    c,
                    SANDBOX,
                    Source::Local,
                    &db::SyncState {
                        generation: 1,
                        synced_at_ms: Some(now),
                        ..Default::default()
                    },
                )
            })
            .await?;
        Ok(())
    }
}
