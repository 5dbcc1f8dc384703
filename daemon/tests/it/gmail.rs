//! Gmail at module level: the real `commsd::gmail` service and Gmail tools
//! against the Gmail fake (which checks every request against Google's
//! discovery document), with a test `AccessTokens` that hands out the fake's
//! tokens. Every test ends with `assert_no_violations`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use commsd::accounts::Accounts;
use commsd::auth::Caller;
use commsd::error::{Code, Error};
use commsd::events::Bus;
use commsd::gmail::transport::GmailTransport;
use commsd::gmail::{Format, Gmail, GmailConfig, GmailService};
use commsd::google::{AccessTokens, Need, outcome_unknown};
use commsd::outbox::config::{OutboxConfig, PolicyConfig};
use commsd::outbox::model::{Decision, State};
use commsd::outbox::service::Outbox;
use commsd::outbox::transport::{DeliveryError, Transport};
use commsd::store::Store;
use commsd::tools::ToolProvider;
use commsd::tools::gmail::GmailTools;
use serde_json::{Value, json};

use crate::google_fake::{Fault, GmailFake};

pub(crate) const A: &str = "acct-a";
pub(crate) const B: &str = "acct-b";
pub(crate) const A_EMAIL: &str = "doctor@practice.example";
pub(crate) const B_EMAIL: &str = "front.desk@practice.example";

/// Hands out `tok-<account>`; records rejected tokens and, like a refresh,
/// moves on to the account's `next` token when one is set.
pub(crate) struct Tokens {
    tokens: Mutex<HashMap<String, String>>,
    next: Mutex<HashMap<String, String>>,
    rejected: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl AccessTokens for Tokens {
    async fn access_token(&self, account_id: &str, _need: Need) -> Result<String, Error> {
        self.tokens
            .lock()
            .unwrap()
            .get(account_id)
            .cloned()
            .ok_or_else(|| Error::new(Code::AccountNotFound, format!("no account {account_id}")))
    }

    async fn rejected(&self, account_id: &str, token: &str) {
        self.rejected.lock().unwrap().push(token.to_owned());
        if let Some(next) = self.next.lock().unwrap().remove(account_id) {
            self.tokens
                .lock()
                .unwrap()
                .insert(account_id.to_owned(), next);
        }
    }
}

pub(crate) struct Env {
    pub(crate) fake: GmailFake,
    pub(crate) gmail: Arc<Gmail>,
    pub(crate) tokens: Arc<Tokens>,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) async fn env_with(config: GmailConfig) -> Env {
    let fake = GmailFake::start().await;
    fake.add_account(A_EMAIL, "tok-a");
    fake.add_account(B_EMAIL, "tok-b");
    let tokens = Arc::new(Tokens {
        tokens: Mutex::new(HashMap::from([
            (A.to_owned(), "tok-a".to_owned()),
            (B.to_owned(), "tok-b".to_owned()),
        ])),
        next: Mutex::new(HashMap::new()),
        rejected: Mutex::new(Vec::new()),
    });
    let dir = tempfile::tempdir().unwrap();
    let gmail = Arc::new(Gmail::new(&fake.base, tokens.clone(), config, dir.path()).unwrap());
    Env {
        fake,
        gmail,
        tokens,
        dir,
    }
}

pub(crate) async fn env() -> Env {
    env_with(GmailConfig {
        retry_base: std::time::Duration::from_millis(20),
        ..GmailConfig::default()
    })
    .await
}

pub(crate) fn mail(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 17 Nov 2026 09:30:00 +0000\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub(crate) fn agent() -> Caller {
    Caller::mcp("test-agent", 1000)
}

/// An outbox on a fresh store in `dir` whose policy decides `default`.
pub(crate) async fn outbox(dir: &std::path::Path, default: Decision) -> (Arc<Outbox>, Store) {
    let db = dir.join("commsd.db");
    let (store, _thread) = tokio::task::spawn_blocking(move || Store::open(&db))
        .await
        .unwrap()
        .unwrap();
    let policy = PolicyConfig {
        default,
        ..PolicyConfig::default()
    };
    let outbox = Outbox::new(
        store.clone(),
        Arc::new(Bus::default()),
        Arc::new(Accounts::with_sandbox("sandbox@commsd.invalid")),
        dir.to_owned(),
        OutboxConfig::default(),
        policy,
    )
    .await
    .unwrap();
    (Arc::new(outbox), store)
}

/// The Gmail tools over the service over `e`'s Gmail.
pub(crate) fn gmail_tools(e: &Env, outbox: Arc<Outbox>) -> GmailTools {
    let service = GmailService::new(e.gmail.clone(), outbox, "http://127.0.0.1:1".into());
    GmailTools::new(Arc::new(service))
}

async fn tool(tools: &GmailTools, caller: &Caller, name: &str, args: Value) -> Value {
    match tools.call(caller, name, &args).await {
        Ok(o) => {
            assert!(!o.is_error, "{name}: {}", o.text);
            o.structured
        }
        Err(e) => panic!("{name} failed: {e:?}"),
    }
}

#[tokio::test]
async fn gmail_search_returns_triage_fields_from_one_batch() {
    let e = env().await;
    for i in 0..30 {
        e.fake.deliver(
            A_EMAIL,
            &mail(
                "Jane Roe <jane@example.org>",
                A_EMAIL,
                &format!("Results {i}"),
                "Your results are fine.",
                &format!("<r{i}@example.org>"),
            ),
            &[],
        );
    }
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox);
    e.fake.reset_counts();
    let r = tool(
        &tools,
        &agent(),
        "gmail_search_messages",
        json!({ "accountId": A, "query": "from:jane is:unread", "maxResults": 20 }),
    )
    .await;
    let msgs = r["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 20);
    assert_eq!(msgs[0]["headers"]["Subject"], "Results 29");
    assert_eq!(msgs[0]["headers"]["From"], "Jane Roe <jane@example.org>");
    assert!(msgs[0]["threadId"].is_string() && msgs[0]["snippet"].is_string());
    assert!(msgs[0]["internalDate"].is_string(), "{}", msgs[0]);
    assert_eq!(r["untrusted"], true);
    assert_eq!(r["cacheHit"], false);
    assert!(r["nextPageToken"].is_string());
    let c = e.fake.counts();
    // getProfile (freshness baseline) + messages.list + one batch.
    assert_eq!(c.http_requests, 3, "{c:?}");
    assert_eq!(c.batches, 1);
    assert_eq!(c.per_method["gmail.users.messages.get"], 20);

    // The same search again costs nothing.
    e.fake.reset_counts();
    let again = tool(
        &tools,
        &agent(),
        "gmail_search_messages",
        json!({ "accountId": A, "query": "from:jane  is:unread", "maxResults": 20 }),
    )
    .await;
    assert_eq!(again["cacheHit"], true);
    assert_eq!(e.fake.counts().http_requests, 0);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_100_concurrent_identical_gets_make_one_upstream_request() {
    let e = env().await;
    let (id, _) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "jane@example.org",
            A_EMAIL,
            "Hello",
            "Body",
            "<h@example.org>",
        ),
        &[],
    );
    // The freshness baseline first, so only the get is counted below.
    e.gmail.profile(A).await.unwrap();
    e.gmail.list(A, "", 1, None, &[]).await.unwrap();
    e.fake.reset_counts();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let g = e.gmail.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            g.get_message(A, &id, Format::Full).await
        }));
    }
    let mut misses = 0;
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.value["id"], id.as_str());
        misses += usize::from(!r.cache_hit);
    }
    assert_eq!(misses, 1);
    let c = e.fake.counts();
    assert_eq!(
        c.per_method.get("gmail.users.messages.get"),
        Some(&1),
        "{c:?}"
    );
    assert_eq!(c.http_requests, 1);
    let stats = e.gmail.stats();
    assert!(stats["requests_saved"].as_u64().unwrap() >= 99, "{stats}");
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_cache_is_invalidated_after_a_modify() {
    let e = env().await;
    let (id, _) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "jane@example.org",
            A_EMAIL,
            "Hello",
            "Body",
            "<h@example.org>",
        ),
        &[],
    );
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox);
    let get = json!({ "accountId": A, "messageId": id, "format": "metadata" });
    let first = tool(&tools, &agent(), "gmail_get_message", get.clone()).await;
    assert_eq!(first["unread"], true);
    let cached = tool(&tools, &agent(), "gmail_get_message", get.clone()).await;
    assert_eq!(cached["cacheHit"], true);
    assert!(cached["ttlRemainingMs"].as_u64().unwrap() > 0);
    tool(
        &tools,
        &agent(),
        "gmail_mark_read_unread",
        json!({ "accountId": A, "messageIds": [id], "read": true }),
    )
    .await;
    let after = tool(&tools, &agent(), "gmail_get_message", get.clone()).await;
    assert_eq!(after["cacheHit"], false);
    assert_eq!(after["unread"], false);
    tool(
        &tools,
        &agent(),
        "gmail_archive",
        json!({ "accountId": A, "messageIds": [id] }),
    )
    .await;
    assert_eq!(e.fake.labels(A_EMAIL, &id).unwrap(), Vec::<String>::new());
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_changes_made_elsewhere_are_seen_through_history() {
    let e = env_with(GmailConfig {
        freshness_check: std::time::Duration::ZERO,
        ..GmailConfig::default()
    })
    .await;
    e.fake.deliver(
        A_EMAIL,
        &mail(
            "jane@example.org",
            A_EMAIL,
            "One",
            "Body",
            "<1@example.org>",
        ),
        &[],
    );
    let first = e.gmail.list(A, "is:unread", 10, None, &[]).await.unwrap();
    assert_eq!(first.value["messages"].as_array().unwrap().len(), 1);
    let cached = e.gmail.list(A, "is:unread", 10, None, &[]).await.unwrap();
    assert!(cached.cache_hit);
    // New mail arrives (not through commsd): history says so, the search is refetched.
    e.fake.deliver(
        A_EMAIL,
        &mail("joe@example.org", A_EMAIL, "Two", "Body", "<2@example.org>"),
        &[],
    );
    let fresh = e.gmail.list(A, "is:unread", 10, None, &[]).await.unwrap();
    assert!(!fresh.cache_hit);
    assert_eq!(fresh.value["messages"].as_array().unwrap().len(), 2);
    assert!(e.fake.counts().per_method["gmail.users.history.list"] >= 2);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_a_429_inside_a_batch_is_retried_alone() {
    let e = env().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            e.fake
                .deliver(
                    A_EMAIL,
                    &mail(
                        "jane@example.org",
                        A_EMAIL,
                        &format!("S{i}"),
                        "Body",
                        &format!("<b{i}@example.org>"),
                    ),
                    &[],
                )
                .0,
        );
    }
    e.fake.inject(Fault {
        path_contains: Some(ids[2].clone()),
        retry_after_s: Some(1),
        in_batch: Some(true),
        ..Fault::new("gmail.users.messages.get", 429)
    });
    e.fake.inject(Fault {
        path_contains: Some(ids[4].clone()),
        in_batch: Some(true),
        ..Fault::new("gmail.users.messages.get", 503)
    });
    let got = e
        .gmail
        .get_messages(A, &ids, Format::Metadata)
        .await
        .unwrap();
    for (i, r) in got.iter().enumerate() {
        let r = r.as_ref().unwrap_or_else(|e| panic!("{i}: {e:?}"));
        assert_eq!(r.value["id"], ids[i].as_str());
    }
    let c = e.fake.counts();
    assert_eq!(c.batches, 1);
    // Five in the batch, then the two failed parts alone.
    assert_eq!(c.per_method["gmail.users.messages.get"], 7, "{c:?}");
    assert_eq!(
        e.gmail.stats()["retries"],
        0,
        "retried alone, not backed off as a whole"
    );

    // A part that keeps failing is an error for that part only, never a success.
    let e2 = env_with(GmailConfig {
        max_attempts: 2,
        retry_base: std::time::Duration::from_millis(10),
        ..GmailConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            e2.fake
                .deliver(
                    A_EMAIL,
                    &mail(
                        "jane@example.org",
                        A_EMAIL,
                        &format!("S{i}"),
                        "Body",
                        &format!("<c{i}@example.org>"),
                    ),
                    &[],
                )
                .0,
        );
    }
    e2.fake.inject(Fault {
        path_contains: Some(ids[1].clone()),
        times: 10,
        ..Fault::new("gmail.users.messages.get", 429)
    });
    let got = e2
        .gmail
        .get_messages(A, &ids, Format::Metadata)
        .await
        .unwrap();
    assert!(got[0].is_ok() && got[2].is_ok());
    assert_eq!(got[1].as_ref().unwrap_err().code, Code::RateLimited);
    e.fake.assert_no_violations();
    e2.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_401_refreshes_the_token_once() {
    let e = env().await;
    let (id, _) = e.fake.deliver(
        A_EMAIL,
        &mail("jane@example.org", A_EMAIL, "Hi", "Body", "<t@example.org>"),
        &[],
    );
    e.fake.revoke_token("tok-a");
    e.fake.add_token(A_EMAIL, "tok-a2");
    e.tokens
        .next
        .lock()
        .unwrap()
        .insert(A.to_owned(), "tok-a2".to_owned());
    let r = e.gmail.get_message(A, &id, Format::Full).await.unwrap();
    assert_eq!(r.value["id"], id.as_str());
    // A token rejected twice is a sign-in problem, said as such.
    e.fake.revoke_token("tok-a2");
    let err = e
        .gmail
        .get_message(A, "m0000000000ff", Format::Full)
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::ReauthRequired);
    assert_eq!(*e.tokens.rejected.lock().unwrap(), ["tok-a", "tok-a2"]);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_two_accounts_never_share_cache_entries() {
    let e = env().await;
    // Both mailboxes number their messages alike: the same id in each.
    let (id_a, _) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "jane@example.org",
            A_EMAIL,
            "For the doctor",
            "A",
            "<a@example.org>",
        ),
        &[],
    );
    let (id_b, _) = e.fake.deliver(
        B_EMAIL,
        &mail(
            "joe@example.org",
            B_EMAIL,
            "For the front desk",
            "B",
            "<b@example.org>",
        ),
        &[],
    );
    assert_eq!(id_a, id_b);
    let a = e.gmail.get_message(A, &id_a, Format::Full).await.unwrap();
    let b = e.gmail.get_message(B, &id_b, Format::Full).await.unwrap();
    assert!(!b.cache_hit);
    assert_eq!(
        commsd::gmail::render::header(&a.value["payload"], "Subject"),
        Some("For the doctor")
    );
    assert_eq!(
        commsd::gmail::render::header(&b.value["payload"], "Subject"),
        Some("For the front desk")
    );
    let sa = e.gmail.list(A, "", 10, None, &[]).await.unwrap();
    let sb = e.gmail.list(B, "", 10, None, &[]).await.unwrap();
    assert!(!sb.cache_hit);
    assert_eq!(sa.value["resultSizeEstimate"], 1);
    assert_eq!(sb.value["resultSizeEstimate"], 1);
    // An unknown account is refused by the token source, not guessed.
    let err = e
        .gmail
        .get_message("nobody", &id_a, Format::Full)
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::AccountNotFound);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_long_bodies_are_clipped_and_html_stubs_replaced() {
    let e = env().await;
    let long: String = (0..3000)
        .map(|i| format!("line {i} of the report\n"))
        .collect();
    let (id, _) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "lab@example.org",
            A_EMAIL,
            "Report",
            &long.replace('\n', "\r\n"),
            "<long@example.org>",
        ),
        &[],
    );
    let html = "From: news@example.org\r\nTo: doctor@practice.example\r\nSubject: Newsletter\r\nMessage-ID: <n@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis message contains HTML. View it in your browser.\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><body><h1>Clinic news</h1><p>The flu vaccine arrived.</p></body></html>\r\n--b--\r\n";
    let (hid, _) = e.fake.deliver(A_EMAIL, html.as_bytes(), &[]);
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox);
    let r = tool(
        &tools,
        &agent(),
        "gmail_get_message",
        json!({ "accountId": A, "messageId": id, "maxChars": 1000 }),
    )
    .await;
    let body = &r["body"];
    assert_eq!(body["truncated"], true);
    assert_eq!(r["bodyText"].as_str().unwrap().chars().count(), 1000);
    let mut text = r["bodyText"].as_str().unwrap().to_owned();
    let mut offset = body["nextOffset"].as_u64().unwrap();
    loop {
        let r = tool(
            &tools,
            &agent(),
            "gmail_get_message",
            json!({ "accountId": A, "messageId": id, "maxChars": 50000, "offset": offset }),
        )
        .await;
        assert_eq!(r["cacheHit"], true, "paging reads the cached message");
        text.push_str(r["bodyText"].as_str().unwrap());
        match r["body"]["nextOffset"].as_u64() {
            Some(n) => offset = n,
            None => break,
        }
    }
    assert_eq!(text.replace("\r\n", "\n").trim_end(), long.trim_end());

    let r = tool(
        &tools,
        &agent(),
        "gmail_get_message",
        json!({ "accountId": A, "messageId": hid }),
    )
    .await;
    assert_eq!(r["body"]["source"], "text/html converted to text");
    assert!(
        r["bodyText"]
            .as_str()
            .unwrap()
            .contains("flu vaccine arrived")
    );
    assert_eq!(r["textPartIsStub"], true);
    let both = tool(
        &tools,
        &agent(),
        "gmail_get_message",
        json!({ "accountId": A, "messageId": hid, "body": "both" }),
    )
    .await;
    assert!(
        both["bodyText"]
            .as_str()
            .unwrap()
            .contains("View it in your browser")
    );
    assert!(
        both["htmlAsText"]["content"]
            .as_str()
            .unwrap()
            .contains("Clinic news")
    );
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_a_send_is_repeated_only_when_google_surely_did_not_act() {
    let e = env().await;
    let raw = mail(
        A_EMAIL,
        "jane@example.org",
        "Results",
        "They are fine.",
        "<s1@practice.example>",
    );
    let sends = |e: &Env| {
        e.fake
            .counts()
            .per_method
            .get("gmail.users.messages.send")
            .copied()
            .unwrap_or(0)
    };

    // 429: Google refused before doing anything; the send is retried.
    e.fake.inject(Fault::new("gmail.users.messages.send", 429));
    e.gmail.send_raw(A, &raw, None).await.unwrap();
    assert_eq!((e.fake.sent(A_EMAIL).len(), sends(&e)), (1, 2));

    // 503: it may or may not have been sent; never repeated.
    e.fake.inject(Fault::new("gmail.users.messages.send", 503));
    let err = e.gmail.send_raw(A, &raw, None).await.unwrap_err();
    assert!(outcome_unknown(&err), "{err:?}");
    assert_eq!((e.fake.sent(A_EMAIL).len(), sends(&e)), (1, 3));

    // A 500 after Google did the work: sent once, not twice.
    e.fake.inject(Fault {
        after_processing: true,
        ..Fault::new("gmail.users.messages.send", 500)
    });
    let err = e.gmail.send_raw(A, &raw, None).await.unwrap_err();
    assert!(outcome_unknown(&err), "{err:?}");
    assert_eq!(err.code, Code::UpstreamUnavailable);
    assert_eq!((e.fake.sent(A_EMAIL).len(), sends(&e)), (2, 4));

    // Nothing answers at all (the port is closed): surely not sent, so a
    // plain failure, not an unknown outcome.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let dir = tempfile::tempdir().unwrap();
    let offline = Gmail::new(
        &closed,
        e.tokens.clone(),
        GmailConfig {
            retry_base: std::time::Duration::from_millis(5),
            ..GmailConfig::default()
        },
        dir.path(),
    )
    .unwrap();
    let err = offline.send_raw(A, &raw, None).await.unwrap_err();
    assert_eq!(err.code, Code::UpstreamUnavailable, "{err:?}");
    assert!(!outcome_unknown(&err), "{err:?}");
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_send_gate_follows_each_policy_path() {
    for (decision, confirm, expected) in [
        (Decision::Approve, false, State::PendingApproval),
        (Decision::Approve, true, State::PendingApproval),
        (Decision::Confirm, false, State::Draft),
        (Decision::Confirm, true, State::Approved),
        (Decision::Auto, false, State::Approved),
    ] {
        let e = env().await;
        let (outbox, _store) = outbox(e.dir.path(), decision).await;
        let tools = gmail_tools(&e, outbox.clone());
        let d = tool(&tools, &agent(), "gmail_create_draft", json!({ "accountId": A, "to": ["Jane Roe <jane@example.org>"], "subject": "Appointment", "bodyText": "See you Tuesday." })).await;
        let draft_id = d["draftId"].as_str().unwrap().to_owned();
        let staged = tool(
            &tools,
            &agent(),
            "gmail_send_draft",
            json!({ "accountId": A, "draftId": draft_id, "confirm": confirm }),
        )
        .await;
        assert_eq!(
            staged["item"]["state"],
            expected.as_str(),
            "{decision:?} confirm={confirm}: {staged}"
        );
        assert!(
            staged["preview"]
                .as_str()
                .unwrap()
                .contains("To:      Jane Roe <jane@example.org>")
        );
        assert_eq!(staged["draftId"], draft_id.as_str());
        // Staging again is the same item, not a duplicate.
        let again = tool(
            &tools,
            &agent(),
            "gmail_send_draft",
            json!({ "accountId": A, "draftId": draft_id }),
        )
        .await;
        assert_eq!(again["item"]["id"], staged["item"]["id"]);
        assert!(
            e.fake.sent(A_EMAIL).is_empty(),
            "nothing is sent by staging"
        );

        // What the dispatcher does once the item is approved: the Gmail transport.
        let item = outbox
            .get(&agent(), staged["item"]["id"].as_str().unwrap())
            .await
            .unwrap();
        let transport = GmailTransport::new(e.gmail.clone(), outbox.attachments().clone());
        let detail = transport.deliver(&item).await.unwrap();
        assert!(detail.contains(&draft_id), "{detail}");
        let sent = e.fake.sent(A_EMAIL);
        assert_eq!(sent.len(), 1);
        assert_eq!(e.fake.draft_count(A_EMAIL), 0);
        e.fake.assert_no_violations();
    }
}

#[tokio::test]
async fn gmail_a_draft_edited_after_approval_is_not_sent() {
    let e = env().await;
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox.clone());
    let d = tool(&tools, &agent(), "gmail_create_draft", json!({ "accountId": A, "to": ["jane@example.org"], "subject": "Dose", "bodyText": "Take 5 mg." })).await;
    let draft_id = d["draftId"].as_str().unwrap();
    let staged = tool(
        &tools,
        &agent(),
        "gmail_send_draft",
        json!({ "accountId": A, "draftId": draft_id, "confirm": true }),
    )
    .await;
    let id = staged["item"]["id"].as_str().unwrap();
    let approved = outbox
        .approve(
            &Caller::cli("tester", 1000),
            commsd::outbox::service::Target::Ids(vec![id.to_owned()]),
        )
        .await
        .unwrap();
    let item = approved[0].result.clone().unwrap();
    assert_eq!(item.state, State::Approved);
    // Someone changes the draft in Gmail after the approval.
    e.fake.edit_draft(
        A_EMAIL,
        draft_id,
        &mail(
            A_EMAIL,
            "jane@example.org",
            "Dose",
            "Take 50 mg.",
            "<x@practice.example>",
        ),
    );
    let transport = GmailTransport::new(e.gmail.clone(), outbox.attachments().clone());
    let err = transport.deliver(&item).await.unwrap_err();
    assert!(err.message().contains("changed after"), "{err:?}");
    assert!(matches!(err, DeliveryError::Failed(_)), "{err:?}");
    assert!(e.fake.sent(A_EMAIL).is_empty());
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_unverified_alias_is_refused_and_a_verified_one_used() {
    let e = env().await;
    e.fake
        .add_send_as(A_EMAIL, "billing@practice.example", "Billing", true);
    e.fake
        .add_send_as(A_EMAIL, "ceo@practice.example", "", false);
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox);
    let bad = tools
        .call(&agent(), "gmail_create_draft", &json!({ "accountId": A, "from": "ceo@practice.example", "to": ["jane@example.org"], "subject": "x", "bodyText": "y" }))
        .await
        .unwrap_err();
    assert_eq!(bad.code, Code::InvalidArgument);
    assert_eq!(bad.details["field"], "from");
    let ok = tool(&tools, &agent(), "gmail_create_draft", json!({ "accountId": A, "from": "billing@practice.example", "to": ["jane@example.org"], "subject": "Invoice", "bodyText": "Attached." })).await;
    assert_eq!(ok["from"], "Billing <billing@practice.example>");
    assert_eq!(e.fake.draft_count(A_EMAIL), 1);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_thread_reply_chain_across_three_replies() {
    let e = env().await;
    let (outbox, _store) = outbox(e.dir.path(), Decision::Confirm).await;
    let tools = gmail_tools(&e, outbox.clone());
    let transport = GmailTransport::new(e.gmail.clone(), outbox.attachments().clone());
    let (mut last, thread) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "Jane Roe <jane@example.org>",
            A_EMAIL,
            "Appointment",
            "Can we move it?",
            "<q0@example.org>",
        ),
        &[],
    );
    let mut chain = vec!["<q0@example.org>".to_owned()];
    for round in 1..=3 {
        let r = tool(&tools, &agent(), "gmail_reply_in_thread", json!({ "accountId": A, "threadId": thread, "replyToMessageId": last, "bodyText": format!("Reply {round}"), "confirm": true })).await;
        assert_eq!(r["item"]["state"], "approved");
        assert_eq!(r["threadId"], thread.as_str());
        let item = outbox
            .get(&agent(), r["item"]["id"].as_str().unwrap())
            .await
            .unwrap();
        transport.deliver(&item).await.unwrap();
        let (_, sent_thread, raw) = e.fake.sent(A_EMAIL).pop().unwrap();
        assert_eq!(sent_thread, thread);
        let p = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(p.subject(), Some("Re: Appointment"), "Re: is never stacked");
        let refs = commsd::gmail::compose::message_ids(
            &String::from_utf8_lossy(&raw)
                .lines()
                .skip_while(|l| !l.starts_with("References:"))
                .take_while(|l| {
                    l.starts_with("References:") || l.starts_with(' ') || l.starts_with('\t')
                })
                .collect::<Vec<_>>()
                .join(" "),
        );
        assert_eq!(refs, chain, "round {round}");
        let in_reply_to = String::from_utf8_lossy(&raw)
            .lines()
            .find(|l| l.starts_with("In-Reply-To:"))
            .unwrap()
            .to_owned();
        assert!(
            in_reply_to.ends_with(chain.last().unwrap().as_str()),
            "{in_reply_to}"
        );
        let my_id = format!("<{}>", p.message_id().unwrap());
        chain.push(my_id.clone());
        // Jane answers our reply.
        let answer = format!(
            "From: Jane Roe <jane@example.org>\r\nTo: {A_EMAIL}\r\nSubject: Re: Appointment\r\nMessage-ID: <q{round}@example.org>\r\nIn-Reply-To: {my_id}\r\nReferences: {}\r\n\r\nAnswer {round}\r\n",
            chain.join(" ")
        );
        let (id, t) = e.fake.deliver(A_EMAIL, answer.as_bytes(), &[]);
        assert_eq!(t, thread);
        chain.push(format!("<q{round}@example.org>"));
        last = id;
    }
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_an_attachment_survives_from_draft_to_sent_message() {
    let e = env().await;
    let files = tempfile::tempdir().unwrap();
    let pdf: Vec<u8> = b"%PDF-1.4\n\x00\xff binary \r\n%%EOF\n".to_vec();
    let path = files.path().join("Befund März.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let (outbox, _store) = outbox(e.dir.path(), Decision::Auto).await;
    let tools = gmail_tools(&e, outbox.clone());
    // An agent may attach only from [outbox] attachment_dirs (none here).
    let refused = tools
        .call(&agent(), "gmail_create_draft", &json!({ "accountId": A, "to": ["jane@example.org"], "subject": "Befund", "bodyText": "Anbei.", "attachments": [path] }))
        .await
        .unwrap_err();
    assert_eq!(refused.details["field"], "attachments[0]");
    let human = Caller::cli("tester", 1000);
    let d = tool(&tools, &human, "gmail_create_draft", json!({ "accountId": A, "to": ["Jürgen Müller <juergen@example.org>"], "subject": "Befund für Sie", "bodyText": "Anbei.", "attachments": [path] })).await;
    let staged = tool(
        &tools,
        &human,
        "gmail_send_draft",
        json!({ "accountId": A, "draftId": d["draftId"], "confirm": true }),
    )
    .await;
    assert_eq!(staged["item"]["state"], "approved");
    let item = outbox
        .get(&human, staged["item"]["id"].as_str().unwrap())
        .await
        .unwrap();
    GmailTransport::new(e.gmail.clone(), outbox.attachments().clone())
        .deliver(&item)
        .await
        .unwrap();
    let (sent_id, _, _) = e.fake.sent(A_EMAIL).pop().unwrap();
    let msg = tool(
        &tools,
        &human,
        "gmail_get_message",
        json!({ "accountId": A, "messageId": sent_id }),
    )
    .await;
    let att = &msg["attachments"][0];
    assert_eq!(att["filename"], "Befund März.pdf");
    let saved = tool(
        &tools,
        &human,
        "gmail_get_attachment",
        json!({ "accountId": A, "messageId": sent_id, "attachmentId": att["attachmentId"] }),
    )
    .await;
    let path = saved["attachment"]["path"].as_str().unwrap();
    assert!(path.starts_with(e.dir.path().to_str().unwrap()));
    assert_eq!(std::fs::read(path).unwrap(), pdf);
    assert_eq!(saved["attachment"]["size"], pdf.len());
    assert!(saved["attachment"].get("data").is_none());
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_fake_rejects_requests_that_break_the_contract() {
    let fake = GmailFake::start().await;
    fake.add_account(A_EMAIL, "tok");
    let http = reqwest::Client::new();
    let bad = http
        .get(format!(
            "{}gmail/v1/users/me/messages?format=full&maxResults=ten",
            fake.base
        ))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad_body = http
        .post(format!("{}gmail/v1/users/me/messages/x/modify", fake.base))
        .bearer_auth("tok")
        .json(&json!({ "addLabels": ["A"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), 400);
    let v = fake.violations();
    assert!(
        v.iter()
            .any(|v| v.contains("unknown query parameter \"format\"")),
        "{v:?}"
    );
    assert!(v.iter().any(|v| v.contains("expected an integer")), "{v:?}");
    assert!(
        v.iter().any(|v| v.contains("unknown key \"addLabels\"")),
        "{v:?}"
    );
}

#[tokio::test]
async fn gmail_counters_reach_the_cache_stats_resource() {
    let e = env().await;
    let (id, _) = e.fake.deliver(
        A_EMAIL,
        &mail("jane@example.org", A_EMAIL, "Hi", "Body", "<s@example.org>"),
        &[],
    );
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let gmail_tools: Arc<dyn ToolProvider> = Arc::new(gmail_tools(&e, outbox.clone()));
    let tools = commsd::tools::Tools::new(
        outbox,
        vec![gmail_tools],
        Some(&["gmail_read".to_owned()]),
        "http://127.0.0.1:1".into(),
    );
    for _ in 0..3 {
        let o = tools
            .call(
                &agent(),
                "gmail_get_message",
                json!({ "accountId": A, "messageId": id }),
            )
            .await
            .unwrap();
        assert!(!o.is_error, "{}", o.text);
    }
    let stats = tools
        .read_resource(&agent(), "commsd://cache/stats")
        .await
        .unwrap();
    let g = &stats["providers"]["gmail"];
    assert_eq!(g["misses"], 1, "{stats}");
    assert_eq!(g["hits"], 2, "{stats}");
    assert_eq!(g["requests_saved"], 2);
    // getProfile (1) + messages.get (5), as the fake counted them.
    assert_eq!(g["quota_units"], e.fake.counts().quota_units);
    assert_eq!(g["upstream_requests"], e.fake.counts().http_requests);
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_update_draft_patches_only_the_fields_given() {
    let e = env().await;
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox.clone());
    let d = tool(&tools, &agent(), "gmail_create_draft", json!({ "accountId": A, "to": "jane@example.org", "cc": ["max@example.org"], "subject": "Dose", "bodyText": "Take 5 mg." })).await;
    let draft_id = d["draftId"].as_str().unwrap();
    let patched = tool(
        &tools,
        &agent(),
        "gmail_update_draft",
        json!({ "accountId": A, "draftId": draft_id, "patch": { "subject": "Dose, corrected" } }),
    )
    .await;
    assert_eq!(patched["draftId"], draft_id);
    let preview = patched["preview"].as_str().unwrap();
    assert!(preview.contains("To:      jane@example.org"), "{preview}");
    assert!(preview.contains("Cc:      max@example.org"), "{preview}");
    assert!(preview.contains("Subject: Dose, corrected"), "{preview}");
    assert!(preview.contains("Take 5 mg."), "{preview}");
    let patched = tool(
        &tools,
        &agent(),
        "gmail_update_draft",
        json!({ "accountId": A, "draftId": draft_id, "patch": { "bodyText": "Take 10 mg.", "cc": [] } }),
    )
    .await;
    let preview = patched["preview"].as_str().unwrap();
    assert!(preview.contains("Subject: Dose, corrected"), "{preview}");
    assert!(
        preview.contains("Take 10 mg.") && !preview.contains("Cc:"),
        "{preview}"
    );
    // What the send gate stages is what Gmail holds.
    let staged = tool(
        &tools,
        &agent(),
        "gmail_send_draft",
        json!({ "accountId": A, "draftId": draft_id }),
    )
    .await;
    assert!(
        staged["preview"].as_str().unwrap().contains("Take 10 mg."),
        "{staged}"
    );
    e.fake.assert_no_violations();
}

#[tokio::test]
async fn gmail_reply_in_thread_refuses_a_message_of_another_thread() {
    let e = env().await;
    let (outbox, _store) = outbox(e.dir.path(), Decision::Approve).await;
    let tools = gmail_tools(&e, outbox);
    let (id, thread) = e.fake.deliver(
        A_EMAIL,
        &mail(
            "Jane Roe <jane@example.org>",
            A_EMAIL,
            "Hi",
            "Question",
            "<r1@example.org>",
        ),
        &[],
    );
    let err = tools
        .call(
            &agent(),
            "gmail_reply_in_thread",
            &json!({ "accountId": A, "threadId": "not-its-thread", "replyToMessageId": id, "bodyText": "Yes" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.details["field"], "replyToMessageId", "{err:?}");
    assert_eq!(err.details["threadId"], thread.as_str(), "{err:?}");
    e.fake.assert_no_violations();
}
