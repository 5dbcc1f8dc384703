//! Resolution: a name or a partial address and a channel → `resolved`
//! (exactly one person, exactly one address for the channel: the primary
//! one among several, never a pick among equals), `ambiguous` (every
//! candidate with their addresses, source and account) or `not_found`.
//! Two people who share a name are ambiguous whatever their sources.

use serde_json::{Value, json};

use super::book::{Address, Book, Channel, Person, has_address, names_exactly};
use crate::error::{Error, Result};

/// How an account is named in "(saved contact, work account)".
pub type AccountName<'a> = &'a dyn Fn(&str) -> String;

#[derive(Debug, Clone)]
pub enum Resolution {
    Resolved {
        person: Person,
        address: Address,
    },
    Ambiguous {
        candidates: Vec<(Person, Vec<Address>)>,
    },
    NotFound,
}

/// At most this many candidates are returned for an ambiguous query.
const MAX_CANDIDATES: usize = 20;

pub fn check_query(field: &str, query: &str) -> Result<()> {
    if query.trim().chars().count() < 2 {
        return Err(Error::invalid(field, "a query needs at least 2 characters"));
    }
    Ok(())
}

/// Resolves `query` for `channel` among the records of `account` (all
/// accounts when `None`).
pub fn resolve(book: &Book, query: &str, channel: Channel, account: Option<&str>) -> Resolution {
    let query = query.trim();
    let mut people: Vec<&Person> = match query.strip_prefix("contact:") {
        Some(id) => book.get(id.trim()).into_iter().collect(),
        None => book.search(query, account, usize::MAX),
    };
    // An exact address, or an exact full name, beats partial matches.
    if people.iter().any(|p| has_address(p, query)) {
        people.retain(|p| has_address(p, query));
    } else if people.iter().any(|p| names_exactly(p, query)) {
        people.retain(|p| names_exactly(p, query));
    }
    let mut with: Vec<(&Person, Vec<Address>)> = people
        .into_iter()
        .map(|p| (p, p.addresses(channel, account)))
        .filter(|(_, a)| !a.is_empty())
        .collect();
    match with.len() {
        0 => Resolution::NotFound,
        1 => {
            let (person, mut addresses) = with.remove(0);
            if let Some(i) = addresses.iter().position(|a| has_address_exact(a, query)) {
                let address = addresses.swap_remove(i);
                return Resolution::Resolved {
                    person: person.clone(),
                    address,
                };
            }
            let primaries: Vec<usize> = (0..addresses.len())
                .filter(|&i| addresses[i].primary)
                .collect();
            match (addresses.len(), primaries.as_slice()) {
                (1, _) => Resolution::Resolved {
                    person: person.clone(),
                    address: addresses.remove(0),
                },
                (_, [one]) => Resolution::Resolved {
                    person: person.clone(),
                    address: addresses.swap_remove(*one),
                },
                _ => Resolution::Ambiguous {
                    candidates: vec![(person.clone(), addresses)],
                },
            }
        }
        _ => Resolution::Ambiguous {
            candidates: with
                .into_iter()
                .take(MAX_CANDIDATES)
                .map(|(p, a)| (p.clone(), a))
                .collect(),
        },
    }
}

fn has_address_exact(a: &Address, query: &str) -> bool {
    a.value == query.to_lowercase()
}

/// "John Doe → john@example.com (saved contact, work account)".
pub fn describe(person: &Person, address: &Address, account_name: AccountName<'_>) -> String {
    format!(
        "{} → {} ({}, {})",
        person.name(),
        address.value,
        address.source.label(),
        account_name(&address.account_id)
    )
}

fn address_view(a: &Address, account_name: AccountName<'_>) -> Value {
    json!({
        "value": a.value,
        "type": a.kind,
        "primary": a.primary,
        "source": a.source.as_str(),
        "accountId": a.account_id,
        "account": account_name(&a.account_id),
    })
}

impl Resolution {
    pub fn status(&self) -> &'static str {
        match self {
            Resolution::Resolved { .. } => "resolved",
            Resolution::Ambiguous { .. } => "ambiguous",
            Resolution::NotFound => "not_found",
        }
    }

    /// The result in the contract's names.
    pub fn view(&self, query: &str, channel: Channel, account_name: AccountName<'_>) -> Value {
        let mut v = json!({ "status": self.status(), "query": query, "channel": channel.as_str() });
        match self {
            Resolution::Resolved { person, address } => {
                v["personId"] = json!(person.id);
                v["name"] = json!(person.name());
                v["address"] = json!(address.value);
                v["from"] = address_view(address, account_name);
                v["description"] = json!(describe(person, address, account_name));
            }
            Resolution::Ambiguous { candidates } => {
                v["candidates"] = candidates
                    .iter()
                    .map(|(p, a)| {
                        json!({
                            "personId": p.id,
                            "name": p.name(),
                            "addresses": a.iter().map(|a| address_view(a, account_name)).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
            }
            Resolution::NotFound => {}
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::contacts::record::{Fields, Handle, Record, Source};

    fn rec(
        src: Source,
        rn: &str,
        name: &str,
        emails: &[(&str, &str, bool)],
        phones: &[&str],
    ) -> Record {
        Record {
            account_id: "work".into(),
            source: src,
            resource_name: rn.into(),
            etag: None,
            fields: Fields {
                names: vec![name.into()],
                emails: emails
                    .iter()
                    .map(|(v, k, p)| Handle {
                        value: (*v).into(),
                        kind: (*k).into(),
                        primary: *p,
                    })
                    .collect(),
                phones: phones
                    .iter()
                    .map(|v| Handle {
                        value: (*v).into(),
                        kind: "mobile".into(),
                        primary: false,
                    })
                    .collect(),
                ..Fields::default()
            },
        }
    }

    fn book(records: Vec<Record>) -> Book {
        Book::build(records, HashMap::new())
    }

    #[test]
    fn two_john_does_from_different_sources_are_ambiguous() {
        let b = book(vec![
            rec(
                Source::Saved,
                "people/c1",
                "John Doe",
                &[("john@example.com", "work", false)],
                &[],
            ),
            rec(
                Source::Other,
                "otherContacts/c2",
                "John Doe",
                &[("jd@patients.example", "", false)],
                &[],
            ),
        ]);
        match resolve(&b, "John Doe", Channel::Email, None) {
            Resolution::Ambiguous { candidates } => assert_eq!(candidates.len(), 2),
            r => panic!("{r:?}"),
        }
        // His full address resolves him.
        assert!(matches!(
            resolve(&b, "jd@patients.example", Channel::Email, None),
            Resolution::Resolved { .. }
        ));
    }

    #[test]
    fn work_and_home_email_without_a_primary_is_ambiguous_and_a_primary_wins() {
        let both = [
            ("j@work.example", "work", false),
            ("j@home.example", "home", false),
        ];
        let b = book(vec![rec(
            Source::Saved,
            "people/c1",
            "John Doe",
            &both,
            &[],
        )]);
        assert!(matches!(
            resolve(&b, "john doe", Channel::Email, None),
            Resolution::Ambiguous { .. }
        ));
        let primary = [
            ("j@work.example", "work", false),
            ("j@home.example", "home", true),
        ];
        let b = book(vec![rec(
            Source::Saved,
            "people/c1",
            "John Doe",
            &primary,
            &[],
        )]);
        match resolve(&b, "john doe", Channel::Email, None) {
            Resolution::Resolved { address, .. } => assert_eq!(address.value, "j@home.example"),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn accents_digits_and_merging_by_address() {
        let b = book(vec![
            rec(
                Source::Saved,
                "people/c1",
                "José Müller",
                &[("jose@example.com", "", false)],
                &["+14158675309"],
            ),
            rec(
                Source::Other,
                "otherContacts/c9",
                "J. Müller",
                &[("jose@example.com", "", false)],
                &[],
            ),
        ]);
        assert_eq!(b.people.len(), 1, "merged by email");
        assert_eq!(b.search("jose muller", None, 10).len(), 1);
        assert_eq!(b.search("8675309", None, 10).len(), 1);
        assert_eq!(b.search("(415) 867-5309", None, 10).len(), 1);
        match resolve(&b, "867 5309", Channel::Sms, None) {
            Resolution::Resolved { address, .. } => assert_eq!(address.value, "+14158675309"),
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            resolve(&b, "nobody", Channel::Email, None),
            Resolution::NotFound
        ));
        assert!(check_query("query", "j").is_err());
    }

    #[test]
    fn several_mobiles_are_never_picked_silently() {
        let b = book(vec![rec(
            Source::Saved,
            "people/c1",
            "Ann Lee",
            &[],
            &["+15550001", "+15550002"],
        )]);
        assert!(matches!(
            resolve(&b, "Ann Lee", Channel::Sms, None),
            Resolution::Ambiguous { .. }
        ));
    }
}
