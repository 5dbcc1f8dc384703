//! Gmail through the real daemon: a Google account added through the real
//! OAuth server (oidc-provider), its access tokens accepted by the Gmail fake
//! through RFC 7662 introspection at that server (so a revoked grant stops
//! working there, as at Google), and the daemon driven with `commsctl gmail`
//! and `/api/v1/gmail`. Every test ends with `assert_no_violations`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::accounts::{PASSPHRASE, add_google, set_client, start_with};
use crate::google_fake::{Fault, GmailFake};
use crate::harness::{Daemon, Env};
use crate::oauth::{CLIENT_ID, CLIENT_SECRET, OAuthServer};

pub(crate) const ADA: &str = "ada@practice.example";

pub(crate) struct Setup {
    pub(crate) env: Env,
    _daemon: Daemon,
    pub(crate) fake: GmailFake,
    oauth: OAuthServer,
    pub(crate) account_id: String,
    // Last: the fake's server runs on it.
    pub(crate) rt: tokio::runtime::Runtime,
}

pub(crate) fn mail(from: &str, subject: &str, date: &str, body: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Dr. Ada Roe <{ADA}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A daemon with Ada's mailbox at the fake, signed in at `tier`.
pub(crate) fn setup(tier: &str) -> Setup {
    setup_with(tier, "")
}

/// [`setup`], with `extra` appended to the daemon's config.
pub(crate) fn setup_with(tier: &str, extra: &str) -> Setup {
    setup_apis(&["--tier", tier], extra, |_, _| String::new())
}

/// [`setup`] with sign-in arguments and `more_apis`, run with the runtime
/// and the OAuth server before the daemon starts (to start more fakes):
/// it answers their `[google.endpoints]` lines.
pub(crate) fn setup_apis(
    sign_in: &[&str],
    extra: &str,
    more_apis: impl FnOnce(&tokio::runtime::Runtime, &OAuthServer) -> String,
) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(GmailFake::start());
    let oauth = OAuthServer::start();
    fake.add_mailbox(ADA);
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    let apis = more_apis(&rt, &oauth);
    let (env, daemon) = start_with(&oauth, &format!("gmail = \"{}\"\n{apis}", fake.base), extra);
    set_client(&env);
    let (_, done) = add_google(&env, &oauth, ADA, sign_in);
    let account_id = done["account"]["id"].as_str().unwrap().to_owned();
    Setup {
        env,
        _daemon: daemon,
        fake,
        oauth,
        account_id,
        rt,
    }
}

impl Setup {
    fn gmail(&self, args: &[&str]) -> crate::harness::Run {
        let mut all = vec!["gmail"];
        all.extend_from_slice(args);
        self.env.commsctl(&all)
    }

    fn gmail_ok(&self, args: &[&str]) -> String {
        let run = self.gmail(args);
        assert_eq!(run.code, 0, "commsctl gmail {args:?}: {}", run.stderr);
        run.stdout
    }

    fn gmail_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.gmail_ok(&all)).unwrap()
    }

    fn api_key(&self, name: &str, grants: &str) -> String {
        let run = self
            .env
            .commsctl(&["keys", "create", name, "--grants", grants, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let created: Value = serde_json::from_str(&run.stdout).unwrap();
        created["token"].as_str().unwrap().to_owned()
    }

    fn api_url(&self) -> String {
        self.env.status_json()["api_url"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn snapshot_settings(env: &Env) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(
        &regex_escape(&env.root.path().display().to_string()),
        "[TMP]",
    );
    s.add_filter(r"ob_[0-9a-z]{10}", "[ITEM]");
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[ACCOUNT-ID]",
    );
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$".contains(c);
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn gmail_daemon_search_read_scope_upgrade_and_gated_send_with_approval() {
    let s = setup("2");
    let (m1, t1) = s.fake.deliver(
        ADA,
        &mail(
            "Jane Roe <jane@example.org>",
            "Appointment on Tuesday",
            "Tue, 17 Nov 2026 09:30:00 +0000",
            "Dear Dr. Roe,\n\ncan we move my appointment to 10:00?\n\nJane",
            "<appt-1@example.org>",
        ),
        &[],
    );
    let (m2, _) = s.fake.deliver(
        ADA,
        format!(
            "From: Lab <lab@example.org>\r\nTo: {ADA}\r\nSubject: Results for patient 42\r\nDate: Wed, 18 Nov 2026 14:05:00 +0000\r\nMessage-ID: <lab-1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe results are attached.\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"results-42.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--b1--\r\n"
        )
        .as_bytes(),
        &["INBOX"],
    );

    // Search and read through commsctl, by address or by id alike.
    let found = s.gmail_json(&["search", "--account", ADA, "in:inbox"]);
    assert_eq!(found["untrusted"], true);
    let messages = found["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{found}");
    assert!(
        messages.iter().any(
            |m| m["id"] == m1.as_str() && m["headers"]["From"] == "Jane Roe <jane@example.org>"
        )
    );
    let search_text = s.gmail_ok(&["search", "--account", &s.account_id, "in:inbox"]);
    let show_text = s.gmail_ok(&["show", "--account", ADA, &m1]);
    assert!(
        show_text.contains("can we move my appointment"),
        "{show_text}"
    );
    // An attachment is saved to a private file; only its path travels.
    let lab = s.gmail_ok(&["show", "--account", ADA, &m2]);
    assert!(lab.contains("results-42.pdf  (application/pdf"), "{lab}");
    let part = lab
        .lines()
        .find(|l| l.contains("results-42.pdf"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let saved = s.gmail_json(&["attachment", "--account", ADA, &m2, &part]);
    let path = std::path::PathBuf::from(saved["attachment"]["path"].as_str().unwrap());
    assert!(
        path.starts_with(s.env.data.join("gmail/attachments").join(&s.account_id)),
        "kept under the account's id, whatever name the caller used: {saved}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.4\n%%EOF\n");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !saved.to_string().contains("JVBERi0xLjQK"),
        "no base64: {saved}"
    );
    let saved_text = s.gmail_ok(&["attachment", "--account", ADA, &m2, &part]);
    let thread = s.gmail_json(&["thread", "--account", ADA, &t1]);
    assert_eq!(thread["messages"].as_array().unwrap().len(), 1);
    // The same read again comes from the cache.
    let again = s.gmail_json(&["show", "--account", &s.account_id, &m1]);
    assert_eq!(again["cacheHit"], true, "{again}");

    // The HTTP API runs the same tools, with the key's grants.
    let http = reqwest::blocking::Client::new();
    let api = s.api_url();
    let reader = s.api_key("reader", "read");
    let r = http
        .get(format!(
            "{api}/api/v1/gmail/{ADA}/messages?query=from:jane&maxResults=5"
        ))
        .bearer_auth(&reader)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["messages"][0]["id"], m1.as_str(), "{body}");
    let r = http
        .get(format!("{api}/api/v1/gmail/{ADA}/messages?maxResults=many"))
        .bearer_auth(&reader)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert_eq!(body["details"]["field"], "maxResults", "{body}");
    // /api/v1/email reads Google accounts through the same Gmail tools.
    let r = http
        .get(format!("{api}/api/v1/email/inbox?accountId={ADA}&limit=5"))
        .bearer_auth(&reader)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let inbox: Value = r.json().unwrap();
    let ids: Vec<&str> = inbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&m1.as_str()), "{inbox}");
    assert_eq!(inbox["untrusted"], true, "{inbox}");
    assert_eq!(inbox["accountId"], s.account_id.as_str(), "{inbox}");
    assert!(inbox["messages"][0]["threadId"].is_string(), "{inbox}");
    assert!(
        inbox.get("nextPageToken").is_none(),
        "paged by cursor: {inbox}"
    );
    let r = http
        .get(format!("{api}/api/v1/email/read/{m1}?accountId={ADA}"))
        .bearer_auth(&reader)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let message: Value = r.json().unwrap();
    assert_eq!(message["message"]["id"], m1.as_str(), "{message}");
    assert!(message.to_string().contains("Appointment"), "{message}");
    // And over /mcp, where rmcp traces each tools/call and its result.
    let mcp = |id: u64, method: &str, params: Value| -> Value {
        let r = http
            .post(format!("{api}/mcp"))
            .bearer_auth(&reader)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    mcp(
        1,
        "initialize",
        json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": { "name": "gmail-trace", "version": "1" } }),
    );
    let read = mcp(
        2,
        "tools/call",
        json!({ "name": "gmail_get_message", "arguments": { "accountId": ADA, "messageId": m1 } }),
    );
    assert!(
        read.to_string().contains("can we move my appointment"),
        "{read}"
    );
    let r = http
        .post(format!("{api}/api/v1/gmail/{ADA}/drafts"))
        .bearer_auth(&reader)
        .json(&json!({ "to": "jane@example.org", "subject": "x", "bodyText": "y" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403, "a read key cannot draft");
    let body: Value = r.json().unwrap();
    assert_eq!(body["details"]["grant"], "draft", "{body}");

    // Labels need tier 3: refused before Google is asked, with the command
    // a human runs to grant it.
    let before = s.fake.counts().api_calls;
    let agent = s.api_key("agent", "read,draft,stage");
    let r = http
        .post(format!("{api}/api/v1/gmail/{ADA}/messages/modify"))
        .bearer_auth(&agent)
        .json(&json!({ "messageIds": [m1], "removeLabelIds": ["UNREAD"] }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "insufficient_scope", "{body}");
    let command = body["details"]["command"].as_str().unwrap();
    assert!(
        command.contains(&format!("--login-hint {ADA}")) && command.contains("--tier 3"),
        "{command}"
    );
    let run = s.gmail(&["labels", "--account", ADA, &m1, "--remove", "UNREAD"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("[insufficient_scope]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--tier 3"), "{}", run.stderr);
    assert_eq!(s.fake.counts().api_calls, before, "nothing reached Gmail");
    assert_eq!(s.fake.labels(ADA, &m1).unwrap(), ["INBOX", "UNREAD"]);

    // A draft, then the gate: without --confirm the embedded policy
    // (approve) leaves it pending for a human; nothing is sent until then.
    let draft = s.gmail_json(&[
        "draft",
        "create",
        "--account",
        ADA,
        "--to",
        "Jane Roe <jane@example.org>",
        "--subject",
        "Re: Appointment on Tuesday",
        "--body",
        "Dear Jane,\n\n10:00 on Tuesday is fine.\n\nDr. Roe",
        "--thread",
        &t1,
    ]);
    let draft_id = draft["draftId"].as_str().unwrap().to_owned();
    assert_eq!(draft["threadId"], t1.as_str());
    // Over HTTP the draft is replaced in the contract's names: `to` as one
    // address, `bodyText`, `threadId`; the answer names the draft the same way.
    let drafter = s.api_key("drafter", "read,draft");
    let r = reqwest::blocking::Client::new()
        .put(format!(
            "{}/api/v1/gmail/{ADA}/drafts/{draft_id}",
            s.api_url()
        ))
        .bearer_auth(&drafter)
        .json(&json!({
            "to": "Jane Roe <jane@example.org>",
            "subject": "Re: Appointment on Tuesday",
            "bodyText": "Dear Jane,\n\n10:00 on Tuesday is fine.\n\nDr. Roe",
            "threadId": t1,
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let replaced: Value = r.json().unwrap();
    assert_eq!(replaced["draftId"], draft_id.as_str(), "{replaced}");
    assert_eq!(replaced["threadId"], t1.as_str(), "{replaced}");
    assert!(
        replaced["preview"]
            .as_str()
            .unwrap()
            .contains("10:00 on Tuesday"),
        "{replaced}"
    );
    let staged = s.gmail_json(&["draft", "send", "--account", ADA, &draft_id]);
    assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
    assert!(
        staged["preview"]
            .as_str()
            .unwrap()
            .contains("10:00 on Tuesday")
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    assert!(s.fake.sent(ADA).is_empty());
    assert_eq!(
        s.fake
            .counts()
            .per_method
            .get("gmail.users.drafts.send")
            .copied()
            .unwrap_or(0),
        0
    );

    let approve = s.env.commsctl(&["approve", &item]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let deadline = Instant::now() + Duration::from_secs(15);
    while s.fake.sent(ADA).is_empty() {
        assert!(Instant::now() < deadline, "the approved draft was not sent");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = s.fake.sent(ADA);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, t1, "sent in the thread");
    assert!(String::from_utf8_lossy(&sent[0].2).contains("10:00 on Tuesday"));
    assert_eq!(s.fake.counts().per_method["gmail.users.drafts.send"], 1);
    let shown = s.env.commsctl(&["outbox", "show", &item, "--json"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = serde_json::from_str::<Value>(&shown.stdout).unwrap()["state"].clone();
    while state != "sent" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let shown = s.env.commsctl(&["outbox", "show", &item, "--json"]);
        state = serde_json::from_str::<Value>(&shown.stdout).unwrap()["state"].clone();
    }
    assert_eq!(state, "sent");

    // Google carries out a send and the answer is lost (a 500 after the
    // work): the item ends `unknown` for a human, and is never sent again.
    let draft = s.gmail_json(&[
        "draft",
        "create",
        "--account",
        ADA,
        "--to",
        "jane@example.org",
        "--subject",
        "Your results",
        "--body",
        "They are fine.",
    ]);
    let staged = s.gmail_json(&[
        "draft",
        "send",
        "--account",
        ADA,
        draft["draftId"].as_str().unwrap(),
    ]);
    let lost = staged["item"]["id"].as_str().unwrap().to_owned();
    s.fake.inject(Fault {
        after_processing: true,
        times: 3,
        ..Fault::new("gmail.users.drafts.send", 500)
    });
    let approve = s.env.commsctl(&["approve", &lost]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let deadline = Instant::now() + Duration::from_secs(15);
    let shown = loop {
        let shown = s.env.commsctl(&["outbox", "show", &lost, "--json"]);
        let shown = serde_json::from_str::<Value>(&shown.stdout).unwrap();
        if shown["state"] != "approved" && shown["state"] != "sending" {
            break shown;
        }
        assert!(Instant::now() < deadline, "still not dispatched: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(shown["state"], "unknown", "{shown}");
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .contains("It may have been sent, so it is not sent again"),
        "{shown}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.fake.sent(ADA).len(), 2, "went out once");
    assert_eq!(
        s.fake.counts().per_method["gmail.users.drafts.send"],
        2,
        "the lost send was not repeated"
    );

    // The human's text views of a draft and of a gated reply.
    let created_text = s.gmail_ok(&[
        "draft",
        "create",
        "--account",
        ADA,
        "--to",
        "Jane Roe <jane@example.org>",
        "--cc",
        "front.desk@practice.example",
        "--subject",
        "Parking",
        "--body",
        "Dear Jane,\n\nparking is behind the building.",
    ]);
    let reply_text = s.gmail_ok(&[
        "reply",
        "--account",
        ADA,
        &m1,
        "--body",
        "Dear Jane,\n\n10:00 is booked for you.\n\nDr. Roe",
    ]);
    assert!(reply_text.contains("pending_approval"), "{reply_text}");

    // Counters reach `commsctl status`.
    let status = s.env.status_json();
    let counts = &status["counts"];
    assert!(
        counts["gmail_cache_hits"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(
        counts["gmail_upstream_requests"].as_u64().unwrap() >= 3,
        "{status}"
    );
    assert!(
        counts["gmail_quota_units"].as_u64().unwrap() >= 10,
        "{status}"
    );
    let text = s.env.commsctl(&["status"]);
    assert!(text.stdout.contains("  gmail      "), "{}", text.stdout);

    snapshot_settings(&s.env).bind(|| {
        insta::assert_snapshot!("gmail_cli_search", search_text);
        insta::assert_snapshot!("gmail_cli_show", show_text);
        insta::assert_snapshot!("gmail_cli_show_attachments", lab);
        insta::assert_snapshot!("gmail_cli_attachment", saved_text);
        insta::assert_snapshot!("gmail_cli_draft_create", created_text);
        insta::assert_snapshot!("gmail_cli_reply", reply_text);
    });

    // The daemon logged at trace throughout (sign-in, token refresh and
    // introspected calls, search, reads, drafts, sends, the API): no
    // credential and no message text is in its log.
    let refresh = crate::accounts::vault_secret(
        &s.env,
        &commsd::accounts::oauth::refresh_token_entry(&s.account_id),
    );
    let access = s.fake.introspected_tokens();
    assert!(!access.is_empty(), "the daemon called Gmail with a token");
    let mut secrets: Vec<(&str, &str)> = vec![
        ("client secret", CLIENT_SECRET),
        ("vault passphrase", PASSPHRASE),
        ("refresh token", &refresh),
        ("read API key", &reader),
        ("agent API key", &agent),
        ("a received body", "can we move my appointment"),
        ("a received body", "The results are attached."),
        ("a received attachment", "JVBERi0xLjQK"),
        ("a draft's body", "10:00 on Tuesday is fine"),
        ("a draft's body", "parking is behind the building"),
        ("a reply's body", "10:00 is booked for you"),
    ];
    secrets.extend(access.iter().map(|t| ("access token", t.as_str())));
    crate::harness::assert_log_holds_no_secret(&s.env.log_path(), "api request", &secrets);

    // Removing the account deletes what Gmail saved for it.
    let removed = s.env.commsctl(&["accounts", "remove", ADA, "--yes"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(!path.exists(), "{} survived the account", path.display());
    s.fake.assert_no_violations();
    drop(s.rt);
}

#[test]
fn gmail_daemon_revoked_grant_makes_every_gmail_tool_fail_with_reauth_required() {
    let s = setup("3");
    let (m1, t1) = s.fake.deliver(
        ADA,
        &mail(
            "Jane Roe <jane@example.org>",
            "Question",
            "Tue, 17 Nov 2026 09:30:00 +0000",
            "Is the practice open on Saturday?",
            "<q-1@example.org>",
        ),
        &[],
    );
    let (m2, _) = s.fake.deliver(
        ADA,
        &mail(
            "Lab <lab@example.org>",
            "Results",
            "Wed, 18 Nov 2026 14:05:00 +0000",
            "Ready.",
            "<lab-2@example.org>",
        ),
        &[],
    );
    let found = s.gmail_json(&["search", "--account", ADA, "is:unread"]);
    assert_eq!(found["messages"].as_array().unwrap().len(), 2);

    // The human removes commsd's access: the grant is revoked at the
    // authorization server (revoking the refresh token revokes the grant and
    // every token of it).
    let refresh = s.rt.block_on(async {
        let vault = commsd::vault::Vault::open_with(
            &commsd::vault::VaultConfig {
                backend: commsd::vault::BackendChoice::File,
                file: None,
            },
            &s.env.data,
            Some(commsd::vault::Secret::new(PASSPHRASE)),
            commsd::vault::KdfParams::DEFAULT,
        );
        vault
            .get(&commsd::accounts::oauth::refresh_token_entry(&s.account_id))
            .await
            .unwrap()
            .unwrap()
    });
    let revoked = reqwest::blocking::Client::new()
        .post(format!("{}/token/revocation", s.oauth.base))
        .form(&[
            ("token", refresh.expose()),
            ("token_type_hint", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());

    // The next call that reaches Gmail is refused (401), the daemon refreshes
    // once, the server answers invalid_grant: the account needs a new sign-in.
    let run = s.gmail(&["show", "--account", ADA, &m2]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("[reauth_required]"), "{}", run.stderr);
    let accounts: Value =
        serde_json::from_str(&s.env.commsctl(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(accounts[1]["state"], "reauth_required", "{accounts}");

    // From now on every Gmail tool fails the same way, cached reads included,
    // and Gmail is not asked again.
    let calls = s.fake.counts().api_calls;
    let every: [&[&str]; 7] = [
        &["search", "--account", ADA, "is:unread"],
        &["show", "--account", ADA, &m1],
        &["thread", "--account", ADA, &t1],
        &["attachment", "--account", ADA, &m1, "1"],
        &[
            "draft",
            "create",
            "--account",
            ADA,
            "--to",
            "jane@example.org",
            "--subject",
            "Hi",
            "--body",
            "x",
        ],
        &["reply", "--account", ADA, &m1, "--body", "Yes, 9 to 12."],
        &["labels", "--account", ADA, &m1, "--remove", "UNREAD"],
    ];
    for args in every {
        let run = s.gmail(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains("[reauth_required]")
                && run
                    .stderr
                    .contains("commsctl accounts add google --login-hint"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(s.fake.counts().api_calls, calls);

    // commsctl status names the account and what to do.
    let status = s.env.status_json();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains(ADA) && warnings.contains("reauth_required"),
        "{status}"
    );
    let text = s.env.commsctl(&["status"]).stdout;
    assert!(text.contains("needs attention"), "{text}");
    s.fake.assert_no_violations();
}

/// `POST /api/v1/email/send` naming a Google account stages an item that,
/// once a human approves it, goes out through Gmail's `messages.send`,
/// exactly once and from the account's address. (Google accounts were said
/// to send nothing, so staging refused them and this path was unreachable.)
#[test]
fn gmail_daemon_email_staged_for_a_google_account_goes_out_through_gmail_once() {
    let s = setup("2");
    let accounts = s.env.commsctl(&["accounts", "list", "--json"]);
    assert!(accounts.stdout.contains("\"email\""), "{}", accounts.stdout);
    let key = s.api_key("agent", "read,stage,send");
    let staged: Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/email/send", s.api_url()))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "accountId": s.account_id,
            "to": "patient@example.com",
            "subject": "Appointment Reminder",
            "body": "Your appointment is tomorrow at 2 PM",
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let item = staged["item"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("not staged: {staged}"))
        .to_owned();
    assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
    assert!(s.fake.sent(ADA).is_empty(), "sent before approval");

    let approve = s.env.commsctl(&["approve", &item]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut state = Value::Null;
    while state != "sent" {
        assert!(Instant::now() < deadline, "not sent: {state}");
        std::thread::sleep(Duration::from_millis(50));
        let shown = s.env.commsctl(&["outbox", "show", &item, "--json"]);
        state = serde_json::from_str::<Value>(&shown.stdout).unwrap()["state"].clone();
    }
    let sent = s.fake.sent(ADA);
    assert_eq!(sent.len(), 1, "exactly one message sent");
    let raw = String::from_utf8_lossy(&sent[0].2);
    assert!(
        raw.contains(&format!("From: {ADA}")) || raw.contains(&format!("<{ADA}>")),
        "{raw}"
    );
    assert!(raw.contains("To: patient@example.com"), "{raw}");
    assert_eq!(s.fake.counts().per_method["gmail.users.messages.send"], 1);
}
