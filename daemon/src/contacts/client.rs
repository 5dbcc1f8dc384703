//! The People API's calls for the shared Google client (`google::http`):
//! paths under `v1/`, each with the scope [`Need`] people.v1.json gives
//! it. Lists ask for a sync token; writes are idempotent by etag (a stale
//! one is refused), except `createContact`, which is [`Call::once`].

use serde_json::Value;

use crate::google::http::Api;
use crate::google::limiter::CostTable;
use crate::google::{Call, Need};

/// People: Google's per-user limits are in requests a minute (90 critical
/// reads, 90 writes); one unit per call, 10 a second keeps bursts short and
/// a 10,000-contact sync (10 pages) takes one second.
pub static PEOPLE: CostTable = CostTable {
    units_per_second: 10,
    costs: &[],
    default: 1,
};

/// People at `base` (`[google.endpoints] people`).
pub fn api(base: &str) -> Api {
    Api::new("People", base, "v1/", "batch", &PEOPLE)
}

/// The person fields commsd keeps.
pub const PERSON_FIELDS: &str =
    "names,nicknames,emailAddresses,phoneNumbers,organizations,memberships,metadata";
/// `otherContacts.list` takes fewer.
pub const OTHER_FIELDS: &str = "names,emailAddresses,phoneNumbers,metadata";

fn paged(mut call: Call, sync_token: Option<&str>, page_token: Option<&str>, size: u32) -> Call {
    call = call
        .query("pageSize", size.to_string())
        .query("requestSyncToken", "true");
    if let Some(t) = sync_token {
        call = call.query("syncToken", t);
    }
    if let Some(t) = page_token {
        call = call.query("pageToken", t);
    }
    call
}

/// `people.connections.list` of the user's saved contacts.
pub fn connections(sync_token: Option<&str>, page_token: Option<&str>, size: u32) -> Call {
    let call = Call::get(
        "people.connections.list",
        "people/me/connections".into(),
        Need::Contacts,
    )
    .query("personFields", PERSON_FIELDS);
    paged(call, sync_token, page_token, size)
}

/// `otherContacts.list`.
pub fn other_contacts(sync_token: Option<&str>, page_token: Option<&str>, size: u32) -> Call {
    let call = Call::get(
        "otherContacts.list",
        "otherContacts".into(),
        Need::ContactsOther,
    )
    .query("readMask", OTHER_FIELDS);
    paged(call, sync_token, page_token, size)
}

/// `people.listDirectoryPeople` (Workspace).
pub fn directory(sync_token: Option<&str>, page_token: Option<&str>, size: u32) -> Call {
    let call = Call::get(
        "people.listDirectoryPeople",
        "people:listDirectoryPeople".into(),
        Need::Directory,
    )
    .query("readMask", PERSON_FIELDS)
    .query("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE")
    .query("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT");
    paged(call, sync_token, page_token, size)
}

/// `contactGroups.list`.
pub fn groups(page_token: Option<&str>) -> Call {
    let mut call = Call::get("contactGroups.list", "contactGroups".into(), Need::Contacts)
        .query("pageSize", "1000");
    if let Some(t) = page_token {
        call = call.query("pageToken", t);
    }
    call
}

/// `people.get` of a saved contact (`people/c...`), for its current etag.
pub fn get(resource_name: &str) -> Call {
    Call::get("people.get", resource_name.to_owned(), Need::Contacts)
        .query("personFields", PERSON_FIELDS)
}

/// `people.createContact`: never repeated once it may have reached Google.
pub fn create(person: Value) -> Call {
    Call::post(
        "people.createContact",
        "people:createContact".into(),
        person,
        Need::Contacts,
    )
    .query("personFields", PERSON_FIELDS)
    .once()
}

/// `people.updateContact` of `fields` (e.g. `names,emailAddresses`); the
/// body carries the etag it was read with.
pub fn update(resource_name: &str, person: Value, fields: &str) -> Call {
    Call::patch(
        "people.updateContact",
        format!("{resource_name}:updateContact"),
        person,
        Need::Contacts,
    )
    .query("updatePersonFields", fields)
    .query("personFields", PERSON_FIELDS)
}

/// `people.deleteContact`.
pub fn delete(resource_name: &str) -> Call {
    Call {
        http: reqwest::Method::DELETE,
        ..Call::get(
            "people.deleteContact",
            format!("{resource_name}:deleteContact"),
            Need::Contacts,
        )
    }
}
