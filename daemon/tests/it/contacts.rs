//! Contacts through the real daemon: the sandbox's address book on the
//! embedded default (search, resolution, addressing by name through the
//! tools, REST and the CLI, ambiguity refused with nothing stored), and
//! Google accounts against the People API fake (every request checked
//! against people.v1.json): a 10,000-contact sync in pages, an incremental
//! sync of one request per source, deletions, an expired sync token
//! answered by exactly one full resync, "other contacts" beside saved ones,
//! and an update that meets a stale etag.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::google_fake::people::{PeopleFake, person};
use crate::harness::Env;

fn json_of(env: &Env, args: &[&str]) -> Value {
    let run = env.commsctl(args);
    assert_eq!(run.code, 0, "commsctl {args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn key(env: &Env, grants: &str) -> String {
    let name = format!("agent-{}", grants.replace(',', "-"));
    json_of(
        env,
        &["keys", "create", &name, "--grants", grants, "--json"],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn api(env: &Env, key: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let base = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// A tool over the socket, as comms-mcp calls it.
fn tool(env: &Env, name: &str, arguments: Value) -> (Value, bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = runtime.block_on(async {
        let connected = commsd_proto::client::connect(&env.socket).await.unwrap();
        let mut tools = commsd_proto::v1::tools_client::ToolsClient::new(connected.channel.clone());
        tools
            .call(commsd_proto::v1::CallToolRequest {
                client: Some(commsd_proto::v1::McpClient {
                    name: "it-agent".into(),
                }),
                name: name.to_owned(),
                arguments_json: arguments.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
    });
    (
        serde_json::from_str(&r.structured_json).unwrap(),
        r.is_error,
    )
}

const TOOLSETS: &str = "[mcp]\ntoolsets = [\"outbox\", \"email\", \"sms\", \"contacts\"]\n";

#[test]
fn contacts_the_sandbox_book_searches_resolves_and_addresses_by_name_without_guessing() {
    let env = Env::new();
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, format!("{config}{TOOLSETS}")).unwrap();
    let _daemon = env.start();

    // Search: accents folded, case ignored, phones by digits.
    let found = json_of(&env, &["contacts", "search", "jose muller", "--json"]);
    assert_eq!(found["people"][0]["name"], "José Müller", "{found}");
    let found = json_of(&env, &["contacts", "search", "0100001", "--json"]);
    assert_eq!(found["people"][0]["name"], "Ada Lovelace", "{found}");
    let short = env.commsctl(&["contacts", "search", "a"]);
    assert_ne!(short.code, 0, "a one-character query is refused");

    // Resolution: two Sam Taylors, two emails without a primary, a primary.
    let r = json_of(&env, &["contacts", "resolve", "Sam Taylor", "--json"]);
    assert_eq!(r["status"], "ambiguous", "{r}");
    assert_eq!(r["candidates"].as_array().unwrap().len(), 2, "{r}");
    let r = json_of(&env, &["contacts", "resolve", "alan turing", "--json"]);
    assert_eq!(r["status"], "ambiguous", "{r}");
    let r = json_of(&env, &["contacts", "resolve", "Grace Hopper", "--json"]);
    assert_eq!(r["address"], "grace@work.example", "{r}");
    let r = json_of(&env, &["contacts", "resolve", "nobody at all", "--json"]);
    assert_eq!(r["status"], "not_found", "{r}");
    let k = key(&env, "read,stage,draft");
    let (status, r) = api(
        &env,
        &k,
        "GET",
        "/api/v1/contacts/resolve?q=Ada%20Lovelace&channel=sms",
        None,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["address"], "+15550100001", "{r}");

    // Staging by name through the tool: stored asked and resolved, shown.
    let (staged, is_error) = tool(
        &env,
        "email_stage",
        json!({ "to": "Ada Lovelace", "subject": "Your appointment", "bodyText": "Tuesday at 10:00." }),
    );
    assert!(!is_error, "{staged}");
    assert_eq!(
        staged["item"]["recipients"],
        json!(["ada@example.com"]),
        "{staged}"
    );
    let preview = staged["preview"].as_str().unwrap();
    assert!(
        preview.contains("Ada Lovelace → ada@example.com (local address book, sandbox account)"),
        "{preview}"
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    let (status, shown) = api(&env, &k, "GET", &format!("/api/v1/staged/{item}"), None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["addressing"][0]["asked"], "Ada Lovelace", "{shown}");
    assert_eq!(
        shown["addressing"][0]["address"], "ada@example.com",
        "{shown}"
    );
    let audit = env.commsctl(&["audit", "list", "--json"]);
    assert!(
        audit.stdout.contains("Ada Lovelace → ada@example.com"),
        "{}",
        audit.stdout
    );

    // Through REST and by contact id.
    let ada = json_of(&env, &["contacts", "search", "ada", "--json"])["people"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, item) = api(
        &env,
        &k,
        "POST",
        "/api/v1/email/stage",
        Some(&json!({ "to": [format!("contact:{ada}")], "subject": "Hi", "bodyText": "Hello" })),
    );
    assert_eq!(status, 201, "{item}");
    assert_eq!(item["recipients"], json!(["ada@example.com"]), "{item}");

    // Ambiguity is refused with the candidates, and nothing is stored.
    let before = json_of(&env, &["outbox", "list", "--json"]);
    let (refused, is_error) = tool(
        &env,
        "email_stage",
        json!({ "to": "Sam Taylor", "subject": "Hi", "bodyText": "Hello" }),
    );
    assert!(is_error, "{refused}");
    assert_eq!(refused["details"]["field"], "to[0]", "{refused}");
    assert_eq!(
        refused["details"]["resolution"]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{refused}"
    );
    let (status, refused) = api(
        &env,
        &k,
        "POST",
        "/api/v1/email/stage",
        Some(&json!({ "to": "alan turing", "subject": "Hi", "bodyText": "Hello" })),
    );
    assert_eq!(status, 400, "{refused}");
    let run = env.commsctl(&["sms", "send", "--to", "Sam Taylor", "hello"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert_eq!(json_of(&env, &["outbox", "list", "--json"]), before);

    // The CLI's staging command refuses the ambiguous name and lists every
    // candidate with addresses, source and account; nothing is stored.
    let run = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "Sam Taylor",
        "--subject",
        "Hi",
        "--body",
        "Hello",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("[invalid_argument]"), "{}", run.stderr);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("contact:"))
        .collect();
    assert_eq!(lines.len(), 2, "both Sam Taylors: {}", run.stderr);
    assert!(
        lines
            .iter()
            .all(|l| l.contains("Sam Taylor") && l.contains("(local, sandbox account)")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("sam.taylor@example.com"))
            && lines.iter().any(|l| l.contains("staylor@example.org")),
        "{}",
        run.stderr
    );
    assert_eq!(json_of(&env, &["outbox", "list", "--json"]), before);

    // The CLI stages an email by name: its answer, `outbox show` (over
    // gRPC) and the audit log carry what was asked and what it became.
    let staged = json_of(
        &env,
        &[
            "outbox",
            "stage",
            "email",
            "--to",
            "Grace Hopper",
            "--cc",
            "ada@example.com",
            "--subject",
            "Results",
            "--body",
            "Ready.",
            "--json",
        ],
    );
    assert_eq!(
        staged["content"]["to"],
        json!(["grace@work.example"]),
        "{staged}"
    );
    assert_eq!(
        staged["addressing"],
        json!([{
            "field": "to[0]", "asked": "Grace Hopper", "address": "grace@work.example",
            "description": "Grace Hopper → grace@work.example (local address book, sandbox account)",
        }]),
        "an address given as one is not in the addressing: {staged}"
    );
    let grace = staged["id"].as_str().unwrap().to_owned();
    let shown = json_of(&env, &["outbox", "show", &grace, "--json"]);
    assert_eq!(shown["addressing"], staged["addressing"], "{shown}");
    let (_, rest) = api(&env, &k, "GET", &format!("/api/v1/staged/{grace}"), None);
    assert_eq!(
        rest["addressing"], staged["addressing"],
        "REST and CLI agree: {rest}"
    );
    let text = env.commsctl(&["outbox", "show", &grace]);
    assert!(
        text.stdout
            .contains("By name: Grace Hopper → grace@work.example"),
        "{}",
        text.stdout
    );
    let text = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "José Müller",
        "--subject",
        "Hola",
        "--body",
        "Hola.",
    ]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("By name: José Müller → "),
        "the staging command says what the name became: {}",
        text.stdout
    );
    let audit = json_of(&env, &["audit", "list", "--item", &grace, "--json"]);
    let staged_row = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "staged")
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        staged_row.to_string().contains(
            "to[0]: Grace Hopper → grace@work.example (local address book, sandbox account)"
        ),
        "{staged_row}"
    );
    // An approval covers the resolved address: what the sandbox delivers.
    assert_eq!(env.commsctl(&["approve", &grace]).code, 0);
    assert!(crate::harness::eventually(Duration::from_secs(10), || {
        json_of(&env, &["outbox", "show", &grace, "--json"])["state"] == "sent"
    }));

    // REST by name (not only by id): the resolved address and the addressing.
    let (status, item) = api(
        &env,
        &k,
        "POST",
        "/api/v1/email/stage",
        Some(&json!({ "to": "grace hopper", "subject": "Hi", "bodyText": "Hello" })),
    );
    assert_eq!(status, 201, "{item}");
    assert_eq!(item["recipients"], json!(["grace@work.example"]), "{item}");
    assert_eq!(item["addressing"][0]["asked"], "grace hopper", "{item}");

    // Over HTTP /mcp, as an MCP client sends it: a name resolves, an
    // ambiguous one is refused with the candidates and stores nothing.
    let mcp = |arguments: Value| -> Value {
        let base = env.status_json()["api_url"].as_str().unwrap().to_owned();
        let r: Value = reqwest::blocking::Client::new()
            .post(format!("{base}/mcp"))
            .bearer_auth(&k)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": "email_stage", "arguments": arguments } }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["result"].clone()
    };
    let r = mcp(json!({ "to": "José Müller", "subject": "Hola", "bodyText": "Hola." }));
    assert_ne!(r["isError"], true, "{r}");
    let item = &r["structuredContent"]["item"];
    assert_eq!(item["recipients"], json!(["jose@example.com"]), "{r}");
    assert_eq!(item["addressing"][0]["asked"], "José Müller", "{r}");
    let count = json_of(&env, &["outbox", "list", "--json"])["items"]
        .as_array()
        .unwrap()
        .len();
    let r = mcp(
        json!({ "to": ["ada@example.com", "Sam Taylor"], "subject": "Hi", "bodyText": "Hello" }),
    );
    assert_eq!(r["isError"], true, "{r}");
    let refused = &r["structuredContent"];
    assert_eq!(refused["details"]["field"], "to[1]", "{r}");
    assert_eq!(
        refused["details"]["resolution"]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{r}"
    );
    assert_eq!(
        json_of(&env, &["outbox", "list", "--json"])["items"]
            .as_array()
            .unwrap()
            .len(),
        count,
        "nothing stored"
    );

    // The CLI stages an SMS by name.
    let run = env.commsctl(&[
        "sms",
        "send",
        "--to",
        "Ada Lovelace",
        "See you at 10",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("+15550100001"), "{}", run.stdout);

    // Writes on the sandbox's book: create, edit, delete (draft grant).
    let created = json_of(
        &env,
        &[
            "contacts",
            "add",
            "--name",
            "John Doe",
            "--email",
            "john@example.com",
            "--json",
        ],
    );
    let john = created["id"].as_str().unwrap().to_owned();
    let edited = json_of(
        &env,
        &[
            "contacts",
            "edit",
            &john,
            "--email",
            "john.doe@example.com",
            "--json",
        ],
    );
    assert_eq!(
        edited["emails"][0]["value"], "john.doe@example.com",
        "{edited}"
    );
    assert_eq!(edited["name"], "John Doe", "{edited}");
    let (refused, is_error) = tool(&env, "contacts_delete", json!({ "personId": john }));
    assert!(!is_error, "{refused}");
    let r = json_of(&env, &["contacts", "resolve", "John Doe", "--json"]);
    assert_eq!(r["status"], "not_found", "{r}");

    // The dashboard's contacts page reads the same book, signed in.
    let login = json_of(&env, &["dashboard", "--no-browser", "--json"]);
    let url = login["url"].as_str().unwrap();
    let base = url.split("/login").next().unwrap();
    let http = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let anonymous = reqwest::blocking::get(format!("{base}/dashboard/api/contacts")).unwrap();
    assert_eq!(anonymous.status(), 401, "contacts need a session");
    assert!(http.get(url).send().unwrap().status().is_success());
    let page = http.get(format!("{base}/contacts")).send().unwrap();
    assert!(page.status().is_success());
    let found: Value = http
        .get(format!("{base}/dashboard/api/contacts?query=muller"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let jose = found["people"][0]["id"].as_str().unwrap().to_owned();
    let one: Value = http
        .get(format!("{base}/dashboard/api/contacts/{jose}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["emails"][0]["from"]["source"], "local", "{one}");
    let module = http
        .get(format!("{base}/assets/js/contacts.js"))
        .send()
        .unwrap();
    assert!(module.status().is_success());

    let reader = key(&env, "read");
    let (status, body) = api(
        &env,
        &reader,
        "POST",
        "/api/v1/contacts",
        Some(&json!({ "name": "X Y" })),
    );
    assert_eq!(status, 403, "{body}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const ADA: &str = "ada@practice.example";

#[test]
fn contacts_google_sync_pages_tokens_expiry_deletions_and_a_stale_etag() {
    let rt = runtime();
    let fake = rt.block_on(PeopleFake::start());
    let oauth = crate::oauth::OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    for i in 0..10_000 {
        fake.add_saved(
            ADA,
            &format!("c{i}"),
            person(
                &format!("Patient {i:05}"),
                &[(&format!("p{i}@patients.example"), "home", false)],
                &[],
            ),
        );
    }
    let john = fake.add_saved(
        ADA,
        "john",
        person(
            "John Doe",
            &[("john@example.com", "work", false)],
            &["+14158675309"],
        ),
    );
    fake.add_other(
        ADA,
        "o1",
        person("John Doe", &[("jd@elsewhere.example", "", false)], &[]),
    );
    fake.add_group(ADA, "contactGroups/patients", "Patients");
    let (env, _daemon) = crate::accounts::start_with(
        &oauth,
        &format!("people = \"{}\"\n", fake.base),
        "[contacts]\nsync_interval = \"1h\"\n",
    );
    crate::accounts::set_client(&env);
    crate::accounts::add_google(
        &env,
        &oauth,
        ADA,
        &["--tier", "1", "--with", "contacts", "--label", "work"],
    );

    // The first sync (also started by the account's arrival at the next
    // interval): 11 pages of saved contacts, one of other contacts.
    fake.reset_counts();
    let started = Instant::now();
    let synced = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    let seconds = started.elapsed().as_secs_f64();
    let saved = &synced["accounts"][0]["sources"]["saved"];
    assert_eq!(saved["stored"], 10_001, "{synced}");
    assert_eq!(saved["full"], true, "{synced}");
    let requests = fake.counts().http_requests;
    eprintln!("full sync of 10,001 contacts: {requests} requests, {seconds:.2} s");
    assert_eq!(
        synced["people"], 10_008,
        "10,002 of Ada and the sandbox's 6: {synced}"
    );

    // Nothing changed: one request per source (saved, other) and the groups.
    fake.reset_counts();
    let again = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    assert_eq!(
        again["accounts"][0]["sources"]["saved"]["requests"], 1,
        "{again}"
    );
    assert_eq!(
        again["accounts"][0]["sources"]["saved"]["full"], false,
        "{again}"
    );
    assert_eq!(fake.counts().http_requests, 3, "{again}");

    // Two John Does (saved and other) are ambiguous; digits find him.
    let r = json_of(
        &env,
        &[
            "contacts",
            "resolve",
            "John Doe",
            "--account",
            ADA,
            "--json",
        ],
    );
    assert_eq!(r["status"], "ambiguous", "{r}");
    let found = json_of(
        &env,
        &["contacts", "search", "8675309", "--account", ADA, "--json"],
    );
    assert_eq!(found["people"][0]["name"], "John Doe", "{found}");
    let id = found["people"][0]["id"].as_str().unwrap().to_owned();

    // A deletion at Google reaches the store through the token.
    fake.delete_saved(ADA, "people/c7");
    let after = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    assert_eq!(
        after["accounts"][0]["sources"]["saved"]["deleted"], 1,
        "{after}"
    );
    let gone = json_of(
        &env,
        &[
            "contacts",
            "search",
            "Patient 00007",
            "--account",
            ADA,
            "--json",
        ],
    );
    assert_eq!(gone["people"], json!([]), "{gone}");

    // An expired token: exactly one full resync, then tokens again.
    fake.expire_sync_tokens();
    fake.delete_saved(ADA, "people/c8");
    let resync = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    let saved = &resync["accounts"][0]["sources"]["saved"];
    assert_eq!(saved["resynced"], true, "{resync}");
    assert_eq!(saved["deleted"], 1, "{resync}");
    assert_eq!(
        saved["requests"], 11,
        "1 expired + 10 pages of 9,999: {resync}"
    );
    let again = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    assert_eq!(
        again["accounts"][0]["sources"]["saved"]["requests"], 1,
        "{again}"
    );

    // An update that meets a stale etag re-reads and re-applies once.
    fake.add_saved(
        ADA,
        "john",
        person(
            "John Doe",
            &[("john@example.com", "work", false)],
            &["+14158675309", "+14155550000"],
        ),
    );
    let k = key(&env, "read,draft");
    let (status, updated) = api(
        &env,
        &k,
        "PUT",
        &format!("/api/v1/contacts/{id}"),
        Some(&json!({ "organization": "Clinic" })),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(fake.stale_refusals(), 1);
    let at_google = fake.saved(ADA, &john).unwrap();
    assert_eq!(
        at_google["organizations"][0]["name"], "Clinic",
        "{at_google}"
    );
    assert_eq!(
        at_google["phoneNumbers"].as_array().unwrap().len(),
        2,
        "the other change kept: {at_google}"
    );
    let audit = env.commsctl(&["audit", "list", "--json"]);
    assert!(audit.stdout.contains("contact_update"), "{}", audit.stdout);

    // An account without the contacts module: writes and syncs name the
    // command that grants it, as Gmail's calls do; Google is not asked.
    const BOB: &str = "bob@practice.example";
    crate::accounts::add_google(&env, &oauth, BOB, &["--tier", "1"]);
    fake.reset_counts();
    let grant = format!("commsctl accounts add google --login-hint {BOB} --tier 1 --with contacts");
    for args in [
        &[
            "contacts",
            "add",
            "--name",
            "X Y",
            "--email",
            "x@y.example",
            "--account",
            BOB,
        ][..],
        &["contacts", "sync", "--account", BOB][..],
    ] {
        let run = env.commsctl(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains("[insufficient_scope]") && run.stderr.contains(&grant),
            "{args:?}: {}",
            run.stderr
        );
    }
    let (status, refused) = api(
        &env,
        &k,
        "POST",
        "/api/v1/contacts",
        Some(&json!({ "name": "X Y", "accountId": BOB })),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "insufficient_scope", "{refused}");
    assert_eq!(refused["details"]["command"], grant, "{refused}");
    assert_eq!(fake.counts().http_requests, 0);
    fake.assert_no_violations();
}

/// Every person of `account` through `commsctl contacts list`, page by page.
fn everyone(env: &Env, account: &str) -> Vec<Value> {
    let mut people = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["contacts", "list", "--account", account, "--limit", "500"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        args.push("--json");
        let page = json_of(env, &args);
        people.extend(page["people"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return people,
        }
    }
}

const CONNECTIONS: &str = "people.people.connections.list";

#[test]
fn contacts_a_crash_mid_sync_resumes_at_the_stored_page_and_stores_everyone_once() {
    let rt = runtime();
    let fake = rt.block_on(PeopleFake::start());
    let oauth = crate::oauth::OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    for i in 0..2_500 {
        fake.add_saved(
            ADA,
            &format!("c{i}"),
            person(
                &format!("Patient {i:05}"),
                &[(&format!("p{i}@patients.example"), "home", false)],
                &[],
            ),
        );
    }
    // Pages of 500: five pages; the third fails. One attempt per call, so
    // the failure is the sync's and the count of requests is exact.
    let (env, daemon) = crate::accounts::start_with(
        &oauth,
        &format!("people = \"{}\"\n", fake.base),
        "[contacts]\nsync_interval = \"1h\"\npage_size = 500\nmax_attempts = 1\n",
    );
    crate::accounts::set_client(&env);
    crate::accounts::add_google(
        &env,
        &oauth,
        ADA,
        &["--tier", "1", "--with", "contacts", "--label", "work"],
    );
    let page3 = || crate::google_fake::Fault {
        query_contains: Some("pageToken=c:full@1000".into()),
        ..crate::google_fake::Fault::new(CONNECTIONS, 500)
    };
    // Two failures: this run's and the restarted daemon's start-up sync.
    fake.inject(crate::google_fake::Fault {
        times: 2,
        ..page3()
    });
    fake.reset_counts();
    let run = env.commsctl(&["contacts", "sync", "--account", ADA, "--json"]);
    assert_ne!(run.code, 0, "page 3 failed: {}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // Progress per stored page on stderr, then the failure.
    assert!(
        run.stderr.contains("saved page 1, 500 of 2500 stored")
            && run.stderr.contains("saved page 2, 1000 of 2500 stored")
            && !run.stderr.contains("saved page 3"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("upstream_unavailable"),
        "{}",
        run.stderr
    );
    assert_eq!(fake.counts().per_method[CONNECTIONS], 3, "pages 1, 2 and 3");

    // The crash: no graceful anything.
    daemon.signal("KILL");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 137);
    fake.reset_counts();
    let daemon = env.spawn_traced(crate::accounts::daemon_command(&env));
    // The start-up sync resumes at page 3 (and fails there again): one
    // request, not pages 1 and 2 again.
    assert!(crate::harness::eventually(Duration::from_secs(20), || {
        fake.pending_faults() == 0
    }));
    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    let stored = |db: &rusqlite::Connection| -> (i64, i64) {
        db.query_row(
            "SELECT COUNT(*), COUNT(DISTINCT resource_name) FROM contact_records WHERE source = 'saved'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(stored(&db), (1000, 1000), "pages 1 and 2 were kept");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fake.counts().per_method[CONNECTIONS],
        1,
        "{:?}",
        fake.counts()
    );

    // On demand: pages 3, 4 and 5 of the same run, progress marked resumed.
    let run = env.commsctl(&["contacts", "sync", "--account", ADA, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let synced: Value = serde_json::from_str(&run.stdout).unwrap();
    let saved = &synced["accounts"][0]["sources"]["saved"];
    assert_eq!(saved["resumed"], true, "{synced}");
    assert_eq!(saved["full"], true, "{synced}");
    assert_eq!(saved["requests"], 3, "{synced}");
    assert_eq!(saved["stored"], 1500, "{synced}");
    assert_eq!(saved["deleted"], 0, "{synced}");
    assert!(
        run.stderr
            .contains("saved page 1 after resuming, 500 more stored (the source holds 2500)")
            && run
                .stderr
                .contains("saved page 3 after resuming, 1500 more stored"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fake.counts().per_method[CONNECTIONS],
        4,
        "page 1 and 2 never fetched twice: {:?}",
        fake.counts()
    );

    // Everyone exactly once: in the store and in the merged book.
    assert_eq!(stored(&db), (2500, 2500));
    let people = everyone(&env, ADA);
    assert_eq!(people.len(), 2500);
    let emails: std::collections::BTreeSet<String> = people
        .iter()
        .map(|p| p["emails"][0]["value"].as_str().unwrap().to_owned())
        .collect();
    let expected: std::collections::BTreeSet<String> = (0..2_500)
        .map(|i| format!("p{i}@patients.example"))
        .collect();
    assert_eq!(emails, expected);

    // The run is over: the token was saved with the last page.
    fake.reset_counts();
    let again = json_of(&env, &["contacts", "sync", "--account", ADA, "--json"]);
    let saved = &again["accounts"][0]["sources"]["saved"];
    assert_eq!(saved["requests"], 1, "{again}");
    assert_eq!(saved["full"], false, "{again}");
    assert_eq!(saved["resumed"], false, "{again}");
    fake.assert_no_violations();
    drop(daemon);
}
