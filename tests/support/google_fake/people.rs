//! The People API for the Google fake: saved contacts, "other contacts" and
//! contact groups per account, checked against Google's discovery document
//! (`daemon/tests/fixtures/google/people.v1.json`), each method's scopes
//! enforced by the shared authorization (`otherContacts.*` need
//! `contacts.other.readonly`: `contacts` alone gets 403, as at Google).
//!
//! What People does that the fake reproduces (shared/peers/README.md):
//! - `connections.list` and `otherContacts.list` with `requestSyncToken`
//!   give `nextSyncToken` on the last page only; a sync token returns what
//!   changed since, deleted people with `metadata.deleted`; an expired token
//!   is a 400 with reason `EXPIRED_SYNC_TOKEN` ("Sync token is expired");
//!   a page token belongs to the listing (and token) that made it;
//! - `updateContact` needs the current etag (stale → 400
//!   FAILED_PRECONDITION) and `updatePersonFields`;
//! - `searchContacts` answers nothing until a warm-up with an empty query;
//! - `personFields` / `readMask` are required.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::discovery::Contract;
use super::{FakeApi, GoogleFake, Reply, Request};

const DISCOVERY: &str = include_str!("../../../daemon/tests/fixtures/google/people.v1.json");

#[derive(Clone, Debug)]
struct Stored {
    person: Value,
    etag: u64,
    deleted: bool,
    /// The change counter when it last changed.
    changed: u64,
}

#[derive(Default)]
struct Book {
    saved: BTreeMap<String, Stored>,
    other: BTreeMap<String, Stored>,
    groups: Vec<(String, String)>,
    warmed_up: bool,
}

#[derive(Default)]
struct State {
    books: BTreeMap<String, Book>,
    /// The change counter; sync tokens name a value of it.
    clock: u64,
    /// Tokens issued before this counter value are expired.
    expire_before: u64,
    next_id: u64,
    /// Stale-etag refusals given.
    stale_refusals: u64,
}

pub struct PeopleApi {
    contract: Contract,
    state: Mutex<State>,
}

fn people_error(status: u16, st: &str, message: &str, reason: Option<&str>) -> Reply {
    let mut e = json!({ "error": { "code": status, "message": message, "status": st } });
    if let Some(r) = reason {
        e["error"]["details"] = json!([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": r, "domain": "people.googleapis.com" }]);
    }
    Reply::json(status, &e)
}

fn bad(message: &str) -> Reply {
    people_error(400, "INVALID_ARGUMENT", message, None)
}

impl PeopleApi {
    pub fn new() -> Arc<PeopleApi> {
        Arc::new(PeopleApi {
            contract: Contract::parse(DISCOVERY),
            state: Mutex::new(State::default()),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn view(s: &Stored) -> Value {
        let mut p = s.person.clone();
        p["etag"] = json!(format!("etag-{}", s.etag));
        if s.deleted {
            p = json!({ "resourceName": p["resourceName"], "etag": p["etag"], "metadata": { "deleted": true } });
        }
        p
    }

    /// A paged listing of `which` ("saved" or "other") for `req`.
    fn list(&self, req: &Request<'_>, other: bool, key: &str) -> Result<Value, Reply> {
        let mask = if other { "readMask" } else { "personFields" };
        if req.q(mask).is_none_or(|m| m.is_empty()) {
            return Err(bad(&format!("{mask} is required")));
        }
        let size: usize = req
            .q("pageSize")
            .and_then(|s| s.parse().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        self.with(|s| {
            let since = match req.q("syncToken") {
                None => None,
                Some(t) => {
                    let n: u64 = t.strip_prefix("sync-").and_then(|n| n.parse().ok()).ok_or_else(|| bad("Invalid sync token"))?;
                    if n < s.expire_before {
                        return Err(people_error(
                            400,
                            "FAILED_PRECONDITION",
                            "Sync token is expired. Clear local cache and retry call without the sync token.",
                            Some("EXPIRED_SYNC_TOKEN"),
                        ));
                    }
                    Some(n)
                }
            };
            let listing = format!("{}:{}", if other { "o" } else { "c" }, since.map_or("full".into(), |n| n.to_string()));
            let offset = match req.q("pageToken") {
                None => 0,
                Some(t) => {
                    let (l, off) = t.rsplit_once('@').ok_or_else(|| bad("Invalid page token"))?;
                    if l != listing {
                        return Err(bad("The page token does not belong to this request (its parameters differ)"));
                    }
                    off.parse::<usize>().map_err(|_| bad("Invalid page token"))?
                }
            };
            let clock = s.clock;
            let book = s.books.entry(req.account.to_owned()).or_default();
            let source = if other { &book.other } else { &book.saved };
            let all: Vec<Value> = source
                .values()
                .filter(|p| match since {
                    None => !p.deleted,
                    Some(n) => p.changed > n,
                })
                .map(Self::view)
                .collect();
            let total = all.len();
            let page: Vec<Value> = all.into_iter().skip(offset).take(size).collect();
            let mut out = json!({ key: page });
            if offset + size < total {
                out["nextPageToken"] = json!(format!("{listing}@{}", offset + size));
            } else if req.q("requestSyncToken").as_deref() == Some("true") {
                out["nextSyncToken"] = json!(format!("sync-{clock}"));
            }
            if other {
                out["totalSize"] = json!(total);
            } else {
                out["totalItems"] = json!(total);
                out["totalPeople"] = json!(total);
            }
            Ok(out)
        })
    }

    fn serve_inner(&self, req: &Request<'_>) -> Result<Value, Reply> {
        match req.method.id.as_str() {
            "people.people.connections.list" => {
                if req.param("resourceName") != "people/me" {
                    return Err(bad("Only people/me has connections"));
                }
                self.list(req, false, "connections")
            }
            "people.otherContacts.list" => self.list(req, true, "otherContacts"),
            "people.contactGroups.list" => self.with(|s| {
                let book = s.books.entry(req.account.to_owned()).or_default();
                let groups: Vec<Value> = book
                    .groups
                    .iter()
                    .map(|(rn, name)| json!({ "resourceName": rn, "name": name, "formattedName": name, "groupType": "USER_CONTACT_GROUP" }))
                    .collect();
                Ok(json!({ "contactGroups": groups, "totalItems": groups.len() }))
            }),
            "people.people.get" => {
                let rn = req.param("resourceName");
                self.with(|s| {
                    let book = s.books.entry(req.account.to_owned()).or_default();
                    match book.saved.get(&rn) {
                        Some(p) if !p.deleted => Ok(Self::view(p)),
                        _ => Err(people_error(404, "NOT_FOUND", "Requested entity was not found.", None)),
                    }
                })
            }
            "people.people.createContact" => self.with(|s| {
                s.clock += 1;
                s.next_id += 1;
                let rn = format!("people/cnew{}", s.next_id);
                let mut person = req.body();
                person["resourceName"] = json!(rn);
                let stored = Stored { person, etag: 1, deleted: false, changed: s.clock };
                let v = Self::view(&stored);
                s.books.entry(req.account.to_owned()).or_default().saved.insert(rn, stored);
                Ok(v)
            }),
            "people.people.updateContact" => {
                let rn = req.param("resourceName");
                let fields = req.q("updatePersonFields").unwrap_or_default();
                if fields.is_empty() {
                    return Err(bad("updatePersonFields is required"));
                }
                let body = req.body();
                self.with(|s| {
                    s.clock += 1;
                    let clock = s.clock;
                    let book = s.books.entry(req.account.to_owned()).or_default();
                    let Some(p) = book.saved.get_mut(&rn).filter(|p| !p.deleted) else {
                        return Err(people_error(404, "NOT_FOUND", "Requested entity was not found.", None));
                    };
                    if body["etag"].as_str() != Some(&format!("etag-{}", p.etag)) {
                        s.stale_refusals += 1;
                        return Err(people_error(
                            400,
                            "FAILED_PRECONDITION",
                            "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.",
                            None,
                        ));
                    }
                    for f in fields.split(',') {
                        p.person[f] = body[f].clone();
                    }
                    p.etag += 1;
                    p.changed = clock;
                    Ok(Self::view(p))
                })
            }
            "people.people.deleteContact" => {
                let rn = req.param("resourceName");
                self.with(|s| {
                    s.clock += 1;
                    let clock = s.clock;
                    let book = s.books.entry(req.account.to_owned()).or_default();
                    match book.saved.get_mut(&rn).filter(|p| !p.deleted) {
                        Some(p) => {
                            p.deleted = true;
                            p.changed = clock;
                            Ok(json!({}))
                        }
                        None => Err(people_error(404, "NOT_FOUND", "Requested entity was not found.", None)),
                    }
                })
            }
            "people.people.searchContacts" => {
                let q = req.q("query").unwrap_or_default().to_lowercase();
                if req.q("readMask").is_none_or(|m| m.is_empty()) {
                    return Err(bad("readMask is required"));
                }
                self.with(|s| {
                    let book = s.books.entry(req.account.to_owned()).or_default();
                    if q.is_empty() {
                        book.warmed_up = true;
                        return Ok(json!({}));
                    }
                    if !book.warmed_up {
                        return Ok(json!({}));
                    }
                    let results: Vec<Value> = book
                        .saved
                        .values()
                        .filter(|p| !p.deleted)
                        .filter(|p| p.person.to_string().to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| w.starts_with(&q)))
                        .take(30)
                        .map(|p| json!({ "person": Self::view(p) }))
                        .collect();
                    Ok(json!({ "results": results }))
                })
            }
            other => Err(bad(&format!("the fake does not serve {other}"))),
        }
    }
}

impl FakeApi for PeopleApi {
    fn contract(&self) -> &Contract {
        &self.contract
    }

    fn mount(&self) -> &str {
        "people/"
    }

    fn quota_cost(&self, _method_id: &str) -> u64 {
        1
    }

    fn serve(&self, req: &Request<'_>) -> Result<Value, Reply> {
        self.serve_inner(req)
    }
}

/// People alone, with helpers to fill and change address books.
#[derive(Clone)]
pub struct PeopleFake {
    pub google: GoogleFake,
    pub api: Arc<PeopleApi>,
    /// Where `[google.endpoints] people` points.
    pub base: String,
}

impl std::ops::Deref for PeopleFake {
    type Target = GoogleFake;

    fn deref(&self) -> &GoogleFake {
        &self.google
    }
}

/// A People API `Person` with a name, emails (`(value, type, primary)`) and phones.
pub fn person(name: &str, emails: &[(&str, &str, bool)], phones: &[&str]) -> Value {
    let (given, family) = name.rsplit_once(' ').unwrap_or((name, ""));
    json!({
        "names": [{ "displayName": name, "givenName": given, "familyName": family, "metadata": { "primary": true } }],
        "emailAddresses": emails.iter().map(|(v, t, p)| json!({ "value": v, "type": t, "metadata": { "primary": p } })).collect::<Vec<_>>(),
        "phoneNumbers": phones.iter().map(|v| json!({ "value": v, "type": "mobile" })).collect::<Vec<_>>(),
    })
}

impl PeopleFake {
    pub async fn start() -> PeopleFake {
        let api = PeopleApi::new();
        let google = GoogleFake::start(vec![api.clone()]).await;
        PeopleFake {
            base: google.url("people/"),
            google,
            api,
        }
    }

    fn put(&self, account: &str, other: bool, id: &str, mut p: Value) -> String {
        let rn = if other {
            format!("otherContacts/{id}")
        } else {
            format!("people/{id}")
        };
        p["resourceName"] = json!(rn);
        self.api.with(|s| {
            s.clock += 1;
            let clock = s.clock;
            let book = s.books.entry(account.to_owned()).or_default();
            let map = if other {
                &mut book.other
            } else {
                &mut book.saved
            };
            let etag = map.get(&rn).map_or(1, |o| o.etag + 1);
            map.insert(
                rn.clone(),
                Stored {
                    person: p,
                    etag,
                    deleted: false,
                    changed: clock,
                },
            );
        });
        rn
    }

    /// Adds (or replaces) a saved contact `people/<id>`.
    pub fn add_saved(&self, account: &str, id: &str, p: Value) -> String {
        self.put(account, false, id, p)
    }

    /// Adds an "other contact" `otherContacts/<id>`.
    pub fn add_other(&self, account: &str, id: &str, p: Value) -> String {
        self.put(account, true, id, p)
    }

    pub fn add_group(&self, account: &str, rn: &str, name: &str) {
        self.api.with(|s| {
            s.books
                .entry(account.to_owned())
                .or_default()
                .groups
                .push((rn.to_owned(), name.to_owned()))
        });
    }

    /// Deletes a saved contact as another device would.
    pub fn delete_saved(&self, account: &str, rn: &str) {
        self.api.with(|s| {
            s.clock += 1;
            let clock = s.clock;
            if let Some(p) = s
                .books
                .entry(account.to_owned())
                .or_default()
                .saved
                .get_mut(rn)
            {
                p.deleted = true;
                p.changed = clock;
            }
        });
    }

    /// Every sync token issued so far expires (Google: after 7 days).
    pub fn expire_sync_tokens(&self) {
        self.api.with(|s| {
            s.clock += 1;
            s.expire_before = s.clock;
        });
    }

    /// The saved contact `rn` as Google holds it now.
    pub fn saved(&self, account: &str, rn: &str) -> Option<Value> {
        self.api.with(|s| {
            s.books
                .get(account)
                .and_then(|b| b.saved.get(rn))
                .filter(|p| !p.deleted)
                .map(PeopleApi::view)
        })
    }

    pub fn stale_refusals(&self) -> u64 {
        self.api.with(|s| s.stale_refusals)
    }
}
