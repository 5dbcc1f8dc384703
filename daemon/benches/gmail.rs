//! Gmail benchmark against the contract-checked fake (tests/support/google_fake/).
//!
//! 1. The headline (deterministic counts): a scripted triage session through
//!    the Gmail tools: search 50 → metadata for the 50 → full body of 5 → the
//!    same search again → metadata for the same 50 → reply to 1, beside a
//!    naive client that makes one request per operation and caches nothing.
//! 2. Latency medians: cached vs uncached gmail_get_message (tool layer), and
//!    a batch of 50 vs 50 single gets.
//!
//! `cargo bench -p commsd --bench gmail`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../../tests/support/google_fake/mod.rs"]
mod google_fake;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commsd::accounts::Accounts;
use commsd::auth::Caller;
use commsd::config::{OutboxConfig, PolicyConfig};
use commsd::error::{Code, Error};
use commsd::events::Bus;
use commsd::gmail::{Format, Gmail, GmailConfig, GmailService};
use commsd::google::{AccessTokens, Need};
use commsd::outbox::model::Decision;
use commsd::outbox::service::Outbox;
use commsd::store::Store;
use commsd::tools::ToolProvider;
use commsd::tools::gmail::GmailTools;
use google_fake::GmailFake;
use serde_json::{Value, json};

const ACCOUNT: &str = "doctor";
const EMAIL: &str = "doctor@practice.example";

struct Tokens(HashMap<String, String>);

#[async_trait::async_trait]
impl AccessTokens for Tokens {
    async fn access_token(&self, account_id: &str, _need: Need) -> Result<String, Error> {
        self.0
            .get(account_id)
            .cloned()
            .ok_or_else(|| Error::new(Code::AccountNotFound, "no such account"))
    }
    async fn rejected(&self, _account_id: &str, _token: &str) {}
}

fn mail(i: usize) -> Vec<u8> {
    let body: String = (0..40)
        .map(|l| format!("Line {l} of message {i}: the results are within range.\r\n"))
        .collect();
    format!(
        "From: Patient {i} <patient{i}@example.org>\r\nTo: {EMAIL}\r\nSubject: Question {i} about my results\r\nDate: Tue, 17 Nov 2026 09:30:00 +0000\r\nMessage-ID: <q{i}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

async fn setup(n: usize) -> (GmailFake, Arc<Gmail>, GmailTools, tempfile::TempDir) {
    let fake = GmailFake::start().await;
    fake.add_account(EMAIL, "tok");
    for i in 0..n {
        fake.deliver(EMAIL, &mail(i), &[]);
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = Arc::new(Tokens(HashMap::from([(
        ACCOUNT.to_owned(),
        "tok".to_owned(),
    )])));
    let gmail =
        Arc::new(Gmail::new(&fake.base, tokens, GmailConfig::default(), dir.path()).unwrap());
    let db = dir.path().join("commsd.db");
    let (store, _t) = tokio::task::spawn_blocking(move || Store::open(&db))
        .await
        .unwrap()
        .unwrap();
    let outbox = Outbox::new(
        store,
        Arc::new(Bus::default()),
        Arc::new(Accounts::with_sandbox("sandbox@commsd.invalid")),
        dir.path().to_owned(),
        OutboxConfig::default(),
        PolicyConfig {
            default: Decision::Confirm,
            ..PolicyConfig::default()
        },
    )
    .await
    .unwrap();
    let service = GmailService::new(gmail.clone(), Arc::new(outbox), "http://127.0.0.1:1".into());
    let tools = GmailTools::new(Arc::new(service));
    (fake, gmail, tools, dir)
}

fn agent() -> Caller {
    Caller::mcp("bench", 1000)
}

async fn call(tools: &GmailTools, name: &str, args: Value) -> Value {
    let o = tools.call(&agent(), name, &args).await.unwrap();
    assert!(!o.is_error, "{name}: {}", o.text);
    o.structured
}

/// The naive client: one HTTP request per operation, nothing cached.
async fn naive(fake: &GmailFake) {
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}gmail/v1/users/me/{path}", fake.base);
        async move {
            let r = http.get(url).bearer_auth("tok").send().await.unwrap();
            assert!(r.status().is_success());
            r.json::<Value>().await.unwrap()
        }
    };
    let mut ids = Vec::new();
    for round in 0..2 {
        // search: list, then one get per result for its headers
        let list = get("messages?q=is%3Aunread&maxResults=50".into()).await;
        ids = list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect();
        for id in &ids {
            get(format!("messages/{id}?format=metadata")).await;
        }
        // metadata for the 50
        for id in &ids {
            get(format!("messages/{id}?format=metadata")).await;
        }
        if round == 0 {
            for id in ids.iter().take(5) {
                get(format!("messages/{id}?format=full")).await;
            }
        }
    }
    // reply: read the original's headers, then send
    get(format!("messages/{}?format=metadata", ids[0])).await;
    let raw = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, b"From: doctor@practice.example\r\nTo: patient0@example.org\r\nSubject: Re: Question\r\n\r\nFine.\r\n");
    let r = http
        .post(format!("{}gmail/v1/users/me/messages/send", fake.base))
        .bearer_auth("tok")
        .json(&json!({ "raw": raw }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // ---- 1. the triage session
    let (fake, _gmail, tools, _dir) = setup(60).await;
    fake.reset_counts();
    let search = json!({ "account": ACCOUNT, "query": "is:unread", "max_results": 50 });
    let found = call(&tools, "gmail_search_messages", search.clone()).await;
    let ids: Vec<String> = found["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 50);
    call(
        &tools,
        "gmail_get_messages_batch",
        json!({ "account": ACCOUNT, "ids": ids }),
    )
    .await;
    for id in ids.iter().take(5) {
        call(
            &tools,
            "gmail_get_message",
            json!({ "account": ACCOUNT, "id": id }),
        )
        .await;
    }
    call(&tools, "gmail_search_messages", search.clone()).await;
    call(
        &tools,
        "gmail_get_messages_batch",
        json!({ "account": ACCOUNT, "ids": ids }),
    )
    .await;
    let reply = call(&tools, "gmail_reply_in_thread", json!({ "account": ACCOUNT, "message_id": ids[0], "text": "Your results are fine.", "confirm": true })).await;
    assert_eq!(reply["item"]["state"], "approved");
    // What the Gmail transport does once dispatched: read the draft back, send it.
    let ours = fake.counts();
    fake.assert_no_violations();

    let naive_fake = GmailFake::start().await;
    naive_fake.add_account(EMAIL, "tok");
    for i in 0..60 {
        naive_fake.deliver(EMAIL, &mail(i), &[]);
    }
    naive(&naive_fake).await;
    let naive_counts = naive_fake.counts();
    naive_fake.assert_no_violations();
    // The send itself happens in the transport: drafts.get (5) + drafts.send (100), one request each.
    let our_requests = ours.http_requests + 2;
    let our_units = ours.quota_units + 5 + 100;
    println!(
        "triage session (search 50, metadata 50, full 5, search again, metadata again, reply 1):"
    );
    println!(
        "  commsd: {our_requests} HTTP requests, {our_units} quota units ({} API calls, {} batches; incl. the transport's drafts.get + drafts.send)",
        ours.api_calls + 2,
        ours.batches
    );
    println!(
        "  naive:  {} HTTP requests, {} quota units",
        naive_counts.http_requests, naive_counts.quota_units
    );
    println!(
        "  ratio:  {:.1}% of the requests, {:.1}% of the quota units",
        100.0 * our_requests as f64 / naive_counts.http_requests as f64,
        100.0 * our_units as f64 / naive_counts.quota_units as f64
    );
    println!("  commsd per method: {:?}", ours.per_method);

    // ---- 2. latency
    let (_fake, gmail, tools, _dir) = setup(120).await;
    let list = gmail.list(ACCOUNT, "", 100, None, &[]).await.unwrap();
    let ids: Vec<String> = list.value["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    let mut uncached = Vec::new();
    for id in ids.iter().take(50) {
        let t = Instant::now();
        call(
            &tools,
            "gmail_get_message",
            json!({ "account": ACCOUNT, "id": id }),
        )
        .await;
        uncached.push(t.elapsed());
    }
    let mut cached = Vec::new();
    for _ in 0..5 {
        for id in ids.iter().take(50) {
            let t = Instant::now();
            let r = call(
                &tools,
                "gmail_get_message",
                json!({ "account": ACCOUNT, "id": id }),
            )
            .await;
            cached.push(t.elapsed());
            assert_eq!(r["cacheHit"], true);
        }
    }
    println!(
        "gmail_get_message (tool layer, in process): uncached p50 {:?}, cached p50 {:?}",
        median(uncached),
        median(cached)
    );

    let batch_ids: Vec<String> = ids[50..100].to_vec();
    let mut singles = Vec::new();
    let mut batches = Vec::new();
    for round in 0..5 {
        // Fresh ids each round would run out; use a new Gmail (empty cache) per round instead.
        let g = Gmail::new(
            &_fake.base,
            Arc::new(Tokens(HashMap::from([(
                ACCOUNT.to_owned(),
                "tok".to_owned(),
            )]))),
            GmailConfig::default(),
            _dir.path(),
        )
        .unwrap();
        g.profile(ACCOUNT).await.unwrap();
        let t = Instant::now();
        for id in &batch_ids {
            g.get_message(ACCOUNT, id, Format::Metadata).await.unwrap();
        }
        singles.push(t.elapsed());
        let g = Gmail::new(
            &_fake.base,
            Arc::new(Tokens(HashMap::from([(
                ACCOUNT.to_owned(),
                "tok".to_owned(),
            )]))),
            GmailConfig::default(),
            _dir.path(),
        )
        .unwrap();
        g.profile(ACCOUNT).await.unwrap();
        let t = Instant::now();
        let got = g
            .get_messages(ACCOUNT, &batch_ids, Format::Metadata)
            .await
            .unwrap();
        batches.push(t.elapsed());
        assert!(got.iter().all(Result::is_ok), "round {round}");
    }
    println!(
        "50 metadata gets: 50 single requests p50 {:?}, one batch of 50 p50 {:?}",
        median(singles),
        median(batches)
    );
}
