//! The shared Google plumbing (`commsd::google`) and the Google fake beyond
//! Gmail: one fake serving two APIs, each checked against its own discovery
//! document, reached through the same client layer; sends never batched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use commsd::error::{Code, Error};
use commsd::google::http::Api;
use commsd::google::limiter::CostTable;
use commsd::google::{AccessTokens, ApiClients, Call, Need, RetryPolicy};
use serde_json::{Value, json};

use crate::google_fake::discovery::Contract;
use crate::google_fake::gmail::GmailApi;
use crate::google_fake::{FakeApi, Fault, GmailFake, GoogleFake, Reply, Request};

const EMAIL: &str = "doctor@practice.example";

/// A small People-like API: its paths start with `v1/` (as People's and
/// Chat's do), use reserved expansion (`{+resourceName}`) and a custom
/// method after a colon.
const CONTACTS_DISCOVERY: &str = r#"{
  "name": "people", "version": "v1", "batchPath": "batch",
  "parameters": { "fields": { "type": "string", "location": "query" } },
  "resources": { "people": { "methods": {
    "get": { "id": "people.people.get", "httpMethod": "GET", "path": "v1/{+resourceName}",
      "parameters": {
        "resourceName": { "type": "string", "location": "path", "required": true },
        "personFields": { "type": "string", "location": "query" } },
      "response": { "$ref": "Person" },
      "scopes": ["https://www.googleapis.com/auth/contacts.readonly"] },
    "updateContact": { "id": "people.people.updateContact", "httpMethod": "PATCH",
      "path": "v1/{+resourceName}:updateContact",
      "parameters": {
        "resourceName": { "type": "string", "location": "path", "required": true },
        "updatePersonFields": { "type": "string", "location": "query", "required": true } },
      "request": { "$ref": "Person" }, "response": { "$ref": "Person" },
      "scopes": ["https://www.googleapis.com/auth/contacts"] } } } },
  "schemas": {
    "Person": { "id": "Person", "type": "object", "properties": {
      "resourceName": { "type": "string" },
      "names": { "type": "array", "items": { "$ref": "Name" } } } },
    "Name": { "id": "Name", "type": "object", "properties": { "displayName": { "type": "string" } } } }
}"#;

static CONTACT_COSTS: CostTable = CostTable {
    units_per_second: 90,
    costs: &[("people.get", 1), ("people.updateContact", 3)],
    default: 1,
};

struct Contacts {
    contract: Contract,
    people: Mutex<HashMap<String, String>>,
}

impl FakeApi for Contacts {
    fn contract(&self) -> &Contract {
        &self.contract
    }

    fn mount(&self) -> &str {
        "people/"
    }

    fn quota_cost(&self, method_id: &str) -> u64 {
        u64::from(CONTACT_COSTS.cost(method_id.strip_prefix("people.").unwrap_or(method_id)))
    }

    fn serve(&self, req: &Request<'_>) -> Result<Value, Reply> {
        let name = req.param("resourceName");
        let mut people = self.people.lock().unwrap();
        if req.method.id == "people.people.updateContact" {
            let display = req.body()["names"][0]["displayName"].clone();
            let slot = people.get_mut(&name).ok_or_else(Reply::not_found)?;
            *slot = display.as_str().unwrap_or_default().to_owned();
        }
        let display = people.get(&name).ok_or_else(Reply::not_found)?;
        Ok(json!({ "resourceName": name, "names": [{ "displayName": display }] }))
    }
}

/// One token for every account.
struct OneToken;

#[async_trait::async_trait]
impl AccessTokens for OneToken {
    async fn access_token(&self, _account_id: &str, _need: Need) -> Result<String, Error> {
        Ok("tok".to_owned())
    }

    async fn rejected(&self, _account_id: &str, _token: &str) {}
}

fn retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn google_fake_serves_a_second_api_beside_gmail_through_the_same_client() {
    let contacts = Arc::new(Contacts {
        contract: Contract::parse(CONTACTS_DISCOVERY),
        people: Mutex::new(HashMap::from([
            ("people/c1".to_owned(), "Jane Roe".to_owned()),
            ("people/c2".to_owned(), "John Doe".to_owned()),
        ])),
    });
    let gmail_api = GmailApi::new();
    let google = GoogleFake::start(vec![gmail_api.clone(), contacts.clone()]).await;
    let gmail = GmailFake::attach(google.clone(), gmail_api);
    gmail.add_account(EMAIL, "tok");

    let people = ApiClients::new(
        Api::new(
            "People",
            &google.url("people/"),
            "v1/",
            "batch/people/v1",
            &CONTACT_COSTS,
        ),
        Arc::new(OneToken),
        CONTACT_COSTS.units_per_second,
        retry(),
    )
    .unwrap();
    let client = people.client("acct");
    let get = |id: &str| {
        Call::get("people.get", format!("people/{id}"), Need::Contacts)
            .query("personFields", "names")
    };
    let jane = client.call(&get("c1")).await.unwrap();
    assert_eq!(jane["names"][0]["displayName"], "Jane Roe");

    // A batch goes to that API's batch endpoint; each part is its own.
    let parts = client.batch(&[get("c1"), get("c9"), get("c2")]).await;
    assert_eq!(parts[0].as_ref().unwrap()["resourceName"], "people/c1");
    let missing = parts[1].as_ref().unwrap_err();
    assert_eq!(missing.code, Code::NotFound);
    assert!(
        missing.message.starts_with("People has no such object"),
        "{missing:?}"
    );
    assert_eq!(
        parts[2].as_ref().unwrap()["names"][0]["displayName"],
        "John Doe"
    );

    // A custom method after `{+resourceName}`.
    let renamed = client
        .call(
            &Call::patch(
                "people.updateContact",
                "people/c2:updateContact".into(),
                json!({ "names": [{ "displayName": "John Q. Doe" }] }),
                Need::Contacts,
            )
            .query("updatePersonFields", "names"),
        )
        .await
        .unwrap();
    assert_eq!(renamed["names"][0]["displayName"], "John Q. Doe");

    // The client spends that API's units; the fake counts the same.
    let c = google.counts();
    assert_eq!(c.batches, 1);
    assert_eq!(c.per_method["people.people.get"], 4);
    assert_eq!(c.per_method["people.people.updateContact"], 1);
    assert_eq!(c.quota_units, 4 + 3);
    let spent = people
        .upstream()
        .quota_units
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(spent, c.quota_units);

    // Gmail on the same server, through the same client layer.
    let gmail_clients = ApiClients::new(
        commsd::gmail::client::api(&gmail.base),
        Arc::new(OneToken),
        250,
        retry(),
    )
    .unwrap();
    let profile = gmail_clients
        .client("acct")
        .call(&commsd::gmail::client::profile())
        .await
        .unwrap();
    assert_eq!(profile["emailAddress"], EMAIL);
    google.assert_no_violations();

    // Requests that break the second API's document are violations too.
    let http = reqwest::Client::new();
    let bad = http
        .get(format!(
            "{}v1/people/c1?personFields=names&bogus=1",
            google.url("people/")
        ))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad = http
        .patch(format!(
            "{}v1/people/c1:updateContact",
            google.url("people/")
        ))
        .bearer_auth("tok")
        .json(&json!({ "names": [{ "givenName": "J" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let v = google.violations();
    assert!(
        v.iter()
            .any(|v| v == "people.people.get: unknown query parameter \"bogus\""),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|v| v.contains("required query parameter \"updatePersonFields\" missing")),
        "{v:?}"
    );
    assert!(
        v.iter().any(|v| v.contains("unknown key \"givenName\"")),
        "{v:?}"
    );
}

#[tokio::test]
async fn google_client_never_batches_a_send_and_batches_reads_by_scope() {
    let gmail = GmailFake::start().await;
    gmail.add_account(EMAIL, "tok");
    let ids: Vec<String> = (0..2)
        .map(|i| {
            let raw = format!(
                "From: jane@example.org\r\nTo: {EMAIL}\r\nSubject: S{i}\r\nMessage-ID: <g{i}@example.org>\r\n\r\nBody\r\n"
            );
            gmail.deliver(EMAIL, raw.as_bytes(), &[]).0
        })
        .collect();
    let clients = ApiClients::new(
        commsd::gmail::client::api(&gmail.base),
        Arc::new(OneToken),
        250,
        retry(),
    )
    .unwrap();
    let client = clients.client("acct");
    let draft = |to: &str| {
        let raw = format!("From: {EMAIL}\r\nTo: {to}\r\nSubject: Draft\r\n\r\nText\r\n");
        commsd::gmail::client::create_draft(commsd::gmail::client::raw_message(
            raw.as_bytes(),
            None,
        ))
    };
    let d1 = client.call(&draft("a@example.org")).await.unwrap();
    let d2 = client.call(&draft("b@example.org")).await.unwrap();
    gmail.reset_counts();
    // A send inside a batch would be carried out, answered 503 and then
    // retried alone: sent twice. A send is never batched, so each goes once.
    gmail.inject(Fault {
        in_batch: Some(true),
        after_processing: true,
        times: 2,
        ..Fault::new("gmail.users.messages.send", 503)
    });
    let send = |to: &str| {
        let raw = format!("From: {EMAIL}\r\nTo: {to}\r\nSubject: Hi\r\n\r\nHi\r\n");
        commsd::gmail::client::send_message(commsd::gmail::client::raw_message(
            raw.as_bytes(),
            None,
        ))
    };
    let calls = vec![
        commsd::gmail::client::message(&ids[0], commsd::gmail::Format::Metadata),
        commsd::gmail::client::draft_raw(d1["id"].as_str().unwrap()),
        send("jane@example.org"),
        commsd::gmail::client::message(&ids[1], commsd::gmail::Format::Metadata),
        send("john@example.org"),
        commsd::gmail::client::draft_raw(d2["id"].as_str().unwrap()),
    ];
    let results = client.batch(&calls).await;
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "call {i}: {r:?}");
    }
    assert_eq!(results[0].as_ref().unwrap()["id"], ids[0].as_str());
    assert!(results[1].as_ref().unwrap()["message"]["raw"].is_string());
    assert_eq!(gmail.sent(EMAIL).len(), 2);
    let c = gmail.counts();
    // Reads (gmail.readonly) and drafts (gmail.compose) in a batch each;
    // each send on its own.
    assert_eq!(c.batches, 2, "{c:?}");
    assert_eq!(c.http_requests, 4, "{c:?}");
    assert_eq!(c.per_method["gmail.users.messages.send"], 2);
    gmail.assert_no_violations();
}
