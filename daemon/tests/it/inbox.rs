//! The unified inbox with the real daemon: the sandbox (`POST
//! /api/v1/sandbox/receive`) and a scripted Twilio (signed webhooks) feed
//! the index; `/api/v1/inbox`, `/api/v1/inbox/search`, the tools over `/mcp`
//! and `commsctl inbox`/`search` read it; removing an account drops its rows.

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Env, PORT_ZERO_CONFIG, eventually};
use crate::sms_receive::{Scripted, inbound, sid, with_account};

pub(crate) const CONFIG: &str = "[mcp]\ntoolsets = [\"inbox\", \"email\"]\n";

pub(crate) struct Api {
    pub(crate) url: String,
    pub(crate) http: Client,
}

impl Api {
    pub(crate) fn new(env: &Env) -> Api {
        Api {
            url: env.status_json()["api_url"].as_str().unwrap().to_owned(),
            http: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    pub(crate) fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    pub(crate) fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// `tools/call` on `/mcp`; the structured result.
    pub(crate) fn tool(&self, key: &str, name: &str, arguments: Value) -> Value {
        let r: Value = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": { "name": name, "arguments": arguments } }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["result"]["structuredContent"].clone()
    }

    /// The ids of a search's messages.
    fn found(&self, key: &str, query: &str) -> Vec<String> {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", query)
            .finish();
        let (status, page) = self.get(&format!("/api/v1/inbox/search?{q}"), key);
        assert_eq!(status, 200, "{query}: {page}");
        ids(&page)
    }
}

pub(crate) fn ids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn key(env: &Env, name: &str, grants: &str) -> String {
    let run = env.commsctl(&["keys", "create", name, "--grants", grants, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let created: Value = serde_json::from_str(&run.stdout).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

#[test]
fn the_sandbox_feeds_the_inbox_and_every_frontend_searches_it() {
    let env = Env::new();
    std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}{CONFIG}")).unwrap();
    let _daemon = env.spawn_traced(env.commsd());
    let api = Api::new(&env);
    let admin = key(&env, "tester", "admin,read");
    let agent = key(&env, "agent", "read");

    let mut delivered = Vec::new();
    for body in [
        json!({ "channel": "email", "from": "Zoë Müller <zoe@example.de>", "subject": "Résumé for INV-20931",
                "body": "Crème brûlée on \"Friday\"; the report is attached below." }),
        json!({ "channel": "sms", "from": "+14155550123", "body": "Can I come at 11 instead?" }),
        json!({ "channel": "chat", "from": "Front Desk", "space": "spaces/team", "body": "Is the 10:00 patient here?" }),
    ] {
        let (status, receipt) = api.post("/api/v1/sandbox/receive", &admin, body);
        assert_eq!(status, 201, "{receipt}");
        delivered.push(receipt["id"].as_str().unwrap().to_owned());
    }
    let [email, sms, chat] = [&*delivered[0], &*delivered[1], &*delivered[2]];

    // Indexed as they arrive, newest first, with the ids the channels' tools take.
    assert!(eventually(Duration::from_secs(10), || {
        api.get("/api/v1/inbox", &agent).1["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 3)
    }));
    let (_, page) = api.get("/api/v1/inbox", &agent);
    assert_eq!(ids(&page), [chat, sms, email], "{page}");
    assert_eq!(page["untrusted"], true);
    let first = &page["messages"][2];
    assert_eq!(
        (
            &first["channel"],
            &first["accountId"],
            &first["source"],
            &first["unread"]
        ),
        (
            &json!("email"),
            &json!("sandbox"),
            &json!("sandbox"),
            &json!(true)
        ),
        "{first}"
    );
    assert_eq!(page["messages"][1]["threadId"], "sandbox:+14155550123");
    let read = api.tool(&agent, "email_get_message", json!({ "messageId": email }));
    assert_eq!(read["message"]["subject"], "Résumé for INV-20931", "{read}");

    // Search: accents, parts of words, numbers as written, quotes and operators as text.
    assert_eq!(api.found(&agent, "resume"), [email]);
    assert_eq!(api.found(&agent, "creme BRULEE"), [email]);
    assert_eq!(api.found(&agent, "INV-20931"), [email]);
    assert_eq!(api.found(&agent, "\""), [email]);
    assert_eq!(api.found(&agent, "\"Friday\""), [email]);
    assert_eq!(api.found(&agent, "(415) 555-0123"), [sms]);
    assert_eq!(api.found(&agent, "patient OR NOT"), Vec::<String>::new());
    assert_eq!(api.found(&agent, "atien"), [chat]);
    assert_eq!(api.found(&agent, "NEAR(report"), Vec::<String>::new());
    assert_eq!(api.found(&agent, "report"), [email]);

    // Filters, one per field, on both routes.
    for (query, want) in [
        ("channel=sms", vec![sms]),
        ("accountId=sandbox&channel=chat", vec![chat]),
        ("from=ZOE%40example.de", vec![email]),
        ("from=%2B1%20415%20555%200123", vec![sms]),
        ("since=2000-01-01&channel=email", vec![email]),
        ("before=2000-01-01", Vec::<&str>::new()),
        ("unread=false", Vec::new()),
        ("hasAttachment=true", Vec::new()),
    ] {
        let (status, page) = api.get(&format!("/api/v1/inbox?{query}"), &agent);
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), want, "{query}");
    }
    let (_, page) = api.get("/api/v1/inbox/search?q=the&channel=chat", &agent);
    assert_eq!(ids(&page), [chat]);

    // Paging: a cursor, then the rest.
    let (_, one) = api.get("/api/v1/inbox?limit=2", &agent);
    assert_eq!(ids(&one), [chat, sms]);
    let cursor = one["nextCursor"].as_str().unwrap();
    let (_, two) = api.get(&format!("/api/v1/inbox?limit=2&cursor={cursor}"), &agent);
    assert_eq!(ids(&two), [email]);
    assert!(two["nextCursor"].is_null(), "{two}");

    // Refusals name the parameter.
    for (path, field) in [
        ("/api/v1/inbox?unreadOnly=true", "unreadOnly"),
        ("/api/v1/inbox?channel=fax", "channel"),
        ("/api/v1/inbox?limit=0", "limit"),
        ("/api/v1/inbox?since=soon", "since"),
        ("/api/v1/inbox?cursor=x", "cursor"),
        ("/api/v1/inbox/search?q=%20", "q"),
        ("/api/v1/inbox/search", "q"),
    ] {
        let (status, e) = api.get(path, &agent);
        assert_eq!(status, 400, "{path}: {e}");
        assert_eq!(e["details"]["field"], field, "{path}: {e}");
    }

    // The tools, over /mcp.
    let listed = api.tool(&agent, "inbox_list", json!({ "channel": "chat" }));
    assert_eq!(ids(&listed), [chat], "{listed}");
    let found = api.tool(
        &agent,
        "inbox_search",
        json!({ "query": "müll", "limit": 5 }),
    );
    assert_eq!(ids(&found), [email], "{found}");
    assert_eq!(found["untrusted"], true);

    // The CLI.
    let run = env.commsctl(&["search", "brulee", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(ids(&cli), [email]);
    let run = env.commsctl(&["inbox", "--json", "--channel", "sms"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(ids(&cli), [sms]);
    let run = env.commsctl(&["inbox"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("Résumé for INV-20931"),
        "{}",
        run.stdout
    );

    // --follow prints what is indexed next, once.
    let mut follow = env
        .commsctl_command(&["inbox", "--follow", "--json", "--channel", "chat"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(follow.stdout.take().unwrap()));
    let first_page: String = (&mut lines)
        .map_while(Result::ok)
        .take_while(|l| l != "}")
        .collect();
    assert!(first_page.contains(chat), "{first_page}");
    let (status, receipt) = api.post(
        "/api/v1/sandbox/receive",
        &admin,
        json!({ "channel": "chat", "from": "Front Desk", "space": "spaces/team", "body": "Room 3 is free" }),
    );
    assert_eq!(status, 201, "{receipt}");
    let next: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (&next["id"], &next["text"]),
        (&receipt["id"], &json!("Room 3 is free"))
    );
    follow.kill().unwrap();
    follow.wait().unwrap();

    // The dashboard's inbox page reads the same, signed in: unread and search.
    let login: Value = serde_json::from_str(
        &env.commsctl(&["dashboard", "--no-browser", "--json"])
            .stdout,
    )
    .unwrap();
    let url = login["url"].as_str().unwrap();
    let base = url.split("/login").next().unwrap();
    let browser = Client::builder().cookie_store(true).build().unwrap();
    let anonymous = Client::new()
        .get(format!("{base}/dashboard/api/inbox"))
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(browser.get(url).send().unwrap().status().is_success());
    let page: Value = browser
        .get(format!("{base}/dashboard/api/inbox?q=brulee"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&page), [email], "{page}");
    let page: Value = browser
        .get(format!("{base}/dashboard/api/inbox?channel=chat"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ids(&page).len(), 2, "{page}");
    let html = browser.get(format!("{base}/inbox")).send().unwrap();
    assert!(html.status().is_success());

    // Status and a reindex.
    // The statistics are refreshed after each sync.
    assert!(eventually(
        Duration::from_secs(5),
        || env.status_json()["counts"]["inbox_messages"] == 4
    ));
    let status = env.status_json();
    assert_eq!(status["counts"]["inbox_messages"], 4, "{status}");
    assert_eq!(status["counts"]["inbox_messages:sandbox"], 4, "{status}");
    assert!(
        status["counts"]["inbox_bytes"].as_u64().unwrap() > 0,
        "{status}"
    );
    let run = env.commsctl(&["status"]);
    assert!(
        run.stdout.contains("inbox      4 messages")
            && run.stdout.contains("(sandbox 4); synced sandbox/sandbox"),
        "{}",
        run.stdout
    );
    let run = env.commsctl(&["inbox", "reindex", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (&done["dropped"], &done["indexed"]),
        (&json!(4), &json!(4)),
        "{done}"
    );
}

#[test]
fn inbound_sms_is_indexed_and_removing_the_account_drops_it() {
    let (env, _daemon, account) = with_account(None, CONFIG);
    let api = Api::new(&env);
    let agent = key(&env, "agent", "read");
    let twilio = Scripted::new(&env);
    let path = "/webhooks/twilio/sms";
    assert_eq!(
        twilio.post(path, &inbound(&sid("SM", 1), "Running 10 min late, sorry")),
        200
    );
    assert_eq!(
        twilio.post(path, &inbound(&sid("SM", 1), "Running 10 min late, sorry")),
        200
    );
    assert_eq!(
        twilio.post(path, &inbound(&sid("SM", 2), "Réunion à 15h?")),
        200
    );
    let query = format!("/api/v1/inbox?accountId={account}");
    assert!(eventually(Duration::from_secs(10), || {
        api.get(&query, &agent).1["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 2)
    }));
    let (_, page) = api.get(&query, &agent);
    assert_eq!(ids(&page), [sid("SM", 2), sid("SM", 1)], "{page}");
    assert_eq!(page["messages"][0]["from"], "+15552223333");
    assert_eq!(page["messages"][0]["channel"], "sms");
    assert_eq!(api.found(&agent, "reunion"), [sid("SM", 2)]);
    assert_eq!(api.found(&agent, "555-222-3333 late"), [sid("SM", 1)]);

    let run = env.commsctl(&["accounts", "remove", &account, "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(eventually(Duration::from_secs(10), || {
        api.found(&agent, "late").is_empty()
    }));
    let (_, page) = api.get("/api/v1/inbox?channel=sms", &agent);
    assert_eq!(ids(&page), Vec::<String>::new(), "{page}");
}

/// The inbox's rows of `account` as (id, unread), newest first, read with a
/// key of the test's.
fn rows(api: &Api, key: &str, account: &str) -> Vec<(String, bool)> {
    let (_, page) = api.get(&format!("/api/v1/inbox?accountId={account}&limit=100"), key);
    page["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["id"].as_str().unwrap().to_owned(), m["unread"] == true))
        .collect()
}

#[test]
fn gmail_history_feeds_the_inbox_and_an_expired_history_id_resyncs_once() {
    use crate::gmail_daemon::{ADA, mail, setup_with};
    let setup = setup_with("3", "[inbox]\ndays = 0\npoll_interval = \"1s\"\n");
    let (env, fake, account) = (&setup.env, &setup.fake, setup.account_id.clone());
    let api = Api::new(env);
    let agent = key(env, "agent", "read");
    let raw = |n: u32, subject: &str, body: &str| {
        mail(
            "Jane Roe <jane@example.org>",
            subject,
            "Tue, 17 Nov 2026 09:30:00 +0000",
            body,
            &format!("<m{n}@example.org>"),
        )
    };
    let (m1, _) = fake.deliver(
        ADA,
        &raw(1, "Appointment on Tuesday", "Can we move it to 10:00?"),
        &[],
    );
    let (archived, _) = fake.deliver(
        ADA,
        &raw(2, "Old newsletter", "Archived"),
        &["CATEGORY_UPDATES"],
    );
    let first = [(m1.clone(), true)];
    assert!(
        eventually(Duration::from_secs(15), || rows(&api, &agent, &account)
            == first),
        "{:?} {}",
        rows(&api, &agent, &account),
        env.status_json()
    );

    // New mail through history; a read elsewhere clears unread.
    let (m3, _) = fake.deliver(ADA, &raw(3, "Invoice INV-20931", "Amount due"), &[]);
    let run = env.commsctl(&[
        "gmail",
        "labels",
        "--account",
        &account,
        &m1,
        "--remove",
        "UNREAD",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        eventually(Duration::from_secs(15), || {
            rows(&api, &agent, &account) == [(m3.clone(), true), (m1.clone(), false)]
        }),
        "{:?}",
        rows(&api, &agent, &account)
    );
    assert_eq!(api.found(&agent, "INV-20931"), [m3.as_str()]);
    // Archived elsewhere: it leaves the inbox.
    let run = env.commsctl(&[
        "gmail",
        "labels",
        "--account",
        &account,
        &m3,
        "--remove",
        "INBOX",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(eventually(Duration::from_secs(15), || rows(
        &api, &agent, &account
    ) == [(
        m1.clone(),
        false
    )]));
    assert!(
        !rows(&api, &agent, &account)
            .iter()
            .any(|(id, _)| *id == archived)
    );

    // A historyId Gmail has forgotten: one resync of the window, then history again.
    let (m4, _) = fake.deliver(ADA, &raw(4, "Lab results", "HbA1c 6.1"), &[]);
    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    fake.reset_counts();
    db.execute(
        "UPDATE inbox_sources SET cursor = '5' WHERE source = 'gmail' AND account_id = ?1",
        [&account],
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || {
            rows(&api, &agent, &account) == [(m4.clone(), true), (m1.clone(), false)]
        }),
        "{:?}",
        rows(&api, &agent, &account)
    );
    std::thread::sleep(Duration::from_secs(3));
    let counts = fake.counts().per_method;
    assert_eq!(
        counts.get("gmail.users.messages.list"),
        Some(&1),
        "{counts:?}"
    );
    assert!(
        counts
            .get("gmail.users.history.list")
            .is_some_and(|n| *n >= 2),
        "{counts:?}"
    );
    let cursor: String = db
        .query_row(
            "SELECT cursor FROM inbox_sources WHERE source = 'gmail' AND account_id = ?1",
            [&account],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cursor.parse::<u64>().unwrap() >= 1000, "{cursor}");
    fake.assert_no_violations();
}

#[test]
#[ignore = "needs Dovecot: scripts/test runs it"]
fn dovecot_inbox_indexes_by_idle_follows_read_states_and_survives_a_server_restart() {
    use crate::dovecot::Dovecot;
    use crate::mail_accounts::{add_imap, start};
    const ALICE: &str = "alice@example.test";
    let raw = |n: u32, subject: &str| {
        format!(
            "From: Zoë Müller <zoe@example.de>\r\nTo: {ALICE}\r\nSubject: {subject}\r\nDate: Tue, 17 Nov 2026 09:3{n}:00 +0000\r\nMessage-ID: <d{n}@example.de>\r\n\r\nBody {n}: crème brûlée\r\n"
        )
        .into_bytes()
    };
    let mut d = Dovecot::start();
    d.deliver(ALICE, &raw(1, "Before the account"));
    let (env, _daemon) = start(&format!(
        "[inbox]\ndays = 0\npoll_interval = \"1s\"\n{CONFIG}"
    ));
    let added = add_imap(&env, &d, ALICE, Dovecot::password(ALICE), &[]);
    assert_eq!(added.code, 0, "{}", added.stderr);
    let account = serde_json::from_str::<Value>(&added.stdout).unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = Api::new(&env);
    let agent = key(&env, "agent", "read,draft");
    let subjects = || -> Vec<(String, bool)> {
        let (_, page) = api.get(&format!("/api/v1/inbox?accountId={account}"), &agent);
        page["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["subject"].as_str().unwrap_or("").to_owned(),
                    m["unread"] == true,
                )
            })
            .collect()
    };
    assert!(eventually(Duration::from_secs(20), || subjects()
        == [("Before the account".to_owned(), true)]));

    // New mail: IDLE wakes the source.
    d.deliver(ALICE, &raw(2, "Through IDLE"));
    assert!(
        eventually(Duration::from_secs(20), || subjects().len() == 2),
        "{:?}",
        subjects()
    );
    assert_eq!(api.found(&agent, "creme brulee").len(), 2);

    // Read through the email tools: the next poll sees it.
    let (_, page) = api.get(
        &format!("/api/v1/inbox?accountId={account}&limit=1"),
        &agent,
    );
    let newest = page["messages"][0]["id"].as_str().unwrap().to_owned();
    let marked = api.tool(
        &agent,
        "email_mark_read_unread",
        json!({ "accountId": account, "messageIds": [newest], "read": true }),
    );
    assert!(!marked.is_null(), "{marked}");
    assert!(
        eventually(Duration::from_secs(20), || subjects()
            == [
                ("Through IDLE".to_owned(), false),
                ("Before the account".to_owned(), true)
            ]),
        "{:?}",
        subjects()
    );

    // The server restarts: IDLE reconnects and the next message arrives.
    d.stop_dovecot();
    d.start_dovecot();
    d.deliver(ALICE, &raw(3, "After the restart"));
    assert!(
        eventually(Duration::from_secs(30), || subjects()
            .first()
            .map(|s| s.0.as_str())
            == Some("After the restart")),
        "{:?}",
        subjects()
    );
}

#[test]
fn a_followed_chat_space_feeds_the_inbox() {
    use crate::google_fake::chat::ChatFake;
    const ADA: &str = "ada@practice.example";
    const SPACE: &str = "spaces/AAAAfront";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(ChatFake::start());
    fake.add_space(SPACE, "Front desk");
    let oauth = crate::oauth::OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    let name = fake.post(
        SPACE,
        "bob@practice.example",
        "Is the 10:00 patient here?",
        None,
    );
    let (env, daemon) = crate::accounts::start_with(
        &oauth,
        &format!("chat = \"{}\"\n", fake.base),
        &format!(
            "[chat]\npoll_interval = \"15s\"\n[chat.follow]\n\"{ADA}\" = [\"{SPACE}\"]\n[inbox]\ndays = 0\n{CONFIG}"
        ),
    );
    crate::accounts::set_client(&env);
    let (_, done) =
        crate::accounts::add_google(&env, &oauth, ADA, &["--tier", "1", "--with", "chat"]);
    let account = done["account"]["id"].as_str().unwrap().to_owned();
    // The follow pollers start with the daemon.
    let _daemon = crate::chat::restart(&env, daemon);
    let api = Api::new(&env);
    let agent = key(&env, "agent", "read");
    let query = format!("/api/v1/inbox?channel=chat&accountId={account}");
    assert!(
        eventually(Duration::from_secs(20), || ids(&api.get(&query, &agent).1)
            == [name.as_str()]),
        "{}",
        api.get(&query, &agent).1
    );
    let (_, page) = api.get(&query, &agent);
    assert!(page["messages"][0]["threadId"].is_string(), "{page}");
    assert_eq!(api.found(&agent, "patient"), [name.as_str()]);
}
