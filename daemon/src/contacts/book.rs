//! The merged address book: records joined into people by a shared email
//! address or E.164 phone number (never by name: two people may share one),
//! searched in memory (accent-folded, case-insensitive, any part of a name,
//! email or phone, phones with or without punctuation), and resolution,
//! which answers `resolved` only when exactly one person and exactly one
//! address for the channel match.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::record::{Fields, Handle, Record, Source, digits, fold};
use crate::accounts::SANDBOX;

/// `Some(a)`: only account `a`; `None`: every account but the sandbox, whose
/// invented people never reach a real account's messages.
pub fn in_scope(account: Option<&str>, id: &str) -> bool {
    match account {
        Some(a) => a == id,
        None => id != SANDBOX,
    }
}

/// One person: the records of every account and source that share an
/// address, in a stable order (saved first).
#[derive(Debug, Clone)]
pub struct Person {
    /// `p` and 16 hex digits of the first record's account and resource name.
    pub id: String,
    pub records: Vec<Record>,
    /// Folded names and nicknames, each on its own, for matching.
    names: Vec<String>,
    /// Folded names, nicknames, emails, phones, organisation: one string.
    haystack: String,
    /// Every phone's digits, separated by `|`.
    phone_digits: String,
}

/// The channels an address can be resolved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
    Chat,
}

impl Channel {
    pub fn parse(s: &str) -> Option<Channel> {
        Some(match s {
            "email" => Channel::Email,
            "sms" => Channel::Sms,
            "chat" => Channel::Chat,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Chat => "chat",
        }
    }
}

/// An address of a person for a channel, with where it comes from.
#[derive(Debug, Clone)]
pub struct Address {
    pub value: String,
    pub kind: String,
    pub primary: bool,
    pub source: Source,
    pub account_id: String,
}

pub fn person_id(account_id: &str, resource_name: &str) -> String {
    let h = Sha256::digest(format!("{account_id}\n{resource_name}").as_bytes());
    format!("p{}", &hex::encode(h)[..16])
}

impl Person {
    fn new(mut records: Vec<Record>) -> Person {
        records.sort_by(|a, b| {
            (a.source, &a.account_id, &a.resource_name).cmp(&(
                b.source,
                &b.account_id,
                &b.resource_name,
            ))
        });
        let id = person_id(&records[0].account_id, &records[0].resource_name);
        let mut names = Vec::new();
        let mut hay = String::new();
        let mut phone_digits = String::new();
        for r in &records {
            let f = &r.fields;
            for n in f.names.iter().chain(&f.nicknames) {
                let n = fold(n);
                hay.push_str(&n);
                hay.push('\n');
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            for e in &f.emails {
                hay.push_str(&e.value);
                hay.push('\n');
            }
            for p in &f.phones {
                hay.push_str(&p.value);
                hay.push('\n');
                phone_digits.push_str(&digits(&p.value));
                phone_digits.push('|');
            }
            if let Some(o) = &f.organization {
                hay.push_str(&fold(o));
                hay.push('\n');
            }
        }
        Person {
            id,
            records,
            names,
            haystack: hay,
            phone_digits,
        }
    }

    pub fn name(&self) -> String {
        self.records
            .iter()
            .find_map(|r| r.fields.names.first().cloned())
            .unwrap_or_else(|| self.records[0].fields.display())
    }

    /// The addresses for `channel`, without repeats, from records of
    /// `account` when given (the sandbox's book belongs to the sandbox).
    pub fn addresses(&self, channel: Channel, account: Option<&str>) -> Vec<Address> {
        let mut out: Vec<Address> = Vec::new();
        for r in self
            .records
            .iter()
            .filter(|r| in_scope(account, &r.account_id))
        {
            let f = &r.fields;
            let handles: Vec<Handle> = match channel {
                Channel::Email => f.emails.clone(),
                Channel::Sms => f
                    .phones
                    .iter()
                    .filter(|p| p.value.starts_with('+'))
                    .cloned()
                    .collect(),
                Channel::Chat if !f.chat.is_empty() => f
                    .chat
                    .iter()
                    .map(|c| Handle {
                        value: c.clone(),
                        kind: "chat".into(),
                        primary: f.chat.len() == 1,
                    })
                    .collect(),
                Channel::Chat => f.emails.clone(),
            };
            for h in handles {
                if let Some(seen) = out.iter_mut().find(|a| a.value == h.value) {
                    seen.primary |= h.primary;
                    continue;
                }
                out.push(Address {
                    value: h.value,
                    kind: h.kind,
                    primary: h.primary,
                    source: r.source,
                    account_id: r.account_id.clone(),
                });
            }
        }
        out
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.fields.groups.iter().any(|g| g == group))
    }

    /// The person as every frontend shows it.
    pub fn view(&self) -> Value {
        let mut emails = Vec::new();
        let mut phones = Vec::new();
        let mut chat = Vec::new();
        for r in &self.records {
            let from = json!({ "accountId": r.account_id, "source": r.source.as_str() });
            for e in &r.fields.emails {
                emails.push(
                    json!({ "value": e.value, "type": e.kind, "primary": e.primary, "from": from }),
                );
            }
            for p in &r.fields.phones {
                phones.push(
                    json!({ "value": p.value, "type": p.kind, "primary": p.primary, "from": from }),
                );
            }
            for c in &r.fields.chat {
                chat.push(json!({ "value": c, "from": from }));
            }
        }
        let all = |f: fn(&Fields) -> &Vec<String>| {
            let mut v: Vec<&String> = Vec::new();
            for r in &self.records {
                for x in f(&r.fields) {
                    if !v.contains(&x) {
                        v.push(x);
                    }
                }
            }
            v
        };
        json!({
            "id": self.id,
            "name": self.name(),
            "names": all(|f| &f.names),
            "nicknames": all(|f| &f.nicknames),
            "emails": emails,
            "phones": phones,
            "chatUsers": chat,
            "groups": all(|f| &f.groups),
            "organization": self.records.iter().find_map(|r| r.fields.organization.clone()),
            "sources": self.records.iter().map(|r| json!({
                "accountId": r.account_id,
                "source": r.source.as_str(),
                "resourceName": r.resource_name,
                "etag": r.etag,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The merged book, rebuilt from the store after every sync or write.
#[derive(Debug, Default)]
pub struct Book {
    pub people: Vec<Person>,
    by_id: HashMap<String, usize>,
    /// Group resource name → display name, per account.
    pub groups: HashMap<(String, String), String>,
}

/// Union-find over record indices.
fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

impl Book {
    pub fn build(records: Vec<Record>, groups: HashMap<(String, String), String>) -> Book {
        let mut parent: Vec<usize> = (0..records.len()).collect();
        let mut first: HashMap<String, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let keys = r
                .fields
                .emails
                .iter()
                .map(|e| format!("e:{}", e.value))
                .chain(
                    r.fields
                        .phones
                        .iter()
                        .filter(|p| p.value.starts_with('+'))
                        .map(|p| format!("p:{}", p.value)),
                );
            for k in keys {
                match first.get(&k) {
                    Some(&j) => {
                        let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                        parent[a] = b;
                    }
                    None => {
                        first.insert(k, i);
                    }
                }
            }
        }
        let mut clusters: HashMap<usize, Vec<Record>> = HashMap::new();
        for (i, r) in records.into_iter().enumerate() {
            let root = find(&mut parent, i);
            clusters.entry(root).or_default().push(r);
        }
        let mut people: Vec<Person> = clusters.into_values().map(Person::new).collect();
        people.sort_by_cached_key(|p| (fold(&p.name()), p.id.clone()));
        let by_id = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        Book {
            people,
            by_id,
            groups,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Person> {
        self.by_id.get(id).map(|&i| &self.people[i])
    }

    /// People matching every word of `query` (folded) somewhere, best first:
    /// a whole name, then a name starting with it, a word of a name, an
    /// email, then anything else. A query of digits (and phone punctuation)
    /// also matches phone numbers by their digits.
    pub fn search(&self, query: &str, account: Option<&str>, limit: usize) -> Vec<&Person> {
        let q = fold(query.trim());
        let words: Vec<&str> = q.split_whitespace().collect();
        if words.is_empty() {
            return Vec::new();
        }
        let q_digits = digits(&q);
        let phone_like = q_digits.len() >= 3
            && q.chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        let mut hits: Vec<(u32, usize)> = Vec::new();
        for (i, p) in self.people.iter().enumerate() {
            if !p.records.iter().any(|r| in_scope(account, &r.account_id)) {
                continue;
            }
            let score = if phone_like && p.phone_digits.contains(&q_digits) {
                40
            } else if words.iter().all(|w| p.haystack.contains(w)) {
                score(p, &q)
            } else {
                continue;
            };
            hits.push((score, i));
        }
        hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        hits.into_iter()
            .take(limit)
            .map(|(_, i)| &self.people[i])
            .collect()
    }
}

fn score(p: &Person, q: &str) -> u32 {
    if p.names.iter().any(|n| n == q) {
        100
    } else if p.names.iter().any(|n| n.starts_with(q)) {
        80
    } else if p
        .names
        .iter()
        .any(|n| n.split_whitespace().any(|w| w.starts_with(q)))
    {
        60
    } else if p.haystack.contains(&format!("{q}@")) || p.haystack.starts_with(q) {
        50
    } else {
        30
    }
}

/// Whether a person's name or nickname is exactly `query` (folded).
pub fn names_exactly(p: &Person, query: &str) -> bool {
    let q = fold(query.trim());
    let q = q.split_whitespace().collect::<Vec<_>>().join(" ");
    p.names.contains(&q)
}

/// Whether a person has exactly the address `query` (an email or a phone).
pub fn has_address(p: &Person, query: &str) -> bool {
    let q = query.trim().to_lowercase();
    p.records.iter().any(|r| {
        r.fields.emails.iter().any(|e| e.value == q)
            || (q.starts_with('+') && r.fields.phones.iter().any(|ph| ph.value == q))
    })
}
