//! IMAP accounts end to end, through the real binaries: `commsctl accounts
//! add imap` against Dovecot, an email staged by an agent (the `email_stage`
//! tool over the socket, as comms-mcp calls it), approved with `commsctl
//! approve`, delivered over SMTP and read back with `commsctl mail`, the
//! email tools and `/api/v1/email`; and XOAUTH2 with a Google account's
//! token from the real OAuth server, checked by Dovecot through token
//! introspection.
//!
//! `#[ignore]`d (they need Dovecot and Node); `scripts/test` runs `dovecot_*`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dovecot::Dovecot;
use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG, Run};
use crate::oauth::OAuthServer;

const PASSPHRASE: &str = "correct horse battery staple";
const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// A daemon with the encrypted-file vault and `extra` config, logging at
/// `COMMSD_LOG=trace` into `env.log_path()` (the tests search it for secrets).
pub(crate) fn start(extra: &str) -> (Env, Daemon) {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n{extra}"),
    )
    .unwrap();
    let daemon = spawn(&env);
    (env, daemon)
}

fn spawn(env: &Env) -> Daemon {
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    env.spawn_traced(cmd)
}

/// Delivers a message to `user`'s INBOX and waits for the `mail_received`
/// event of `account` on `commsctl events`.
fn expect_mail_event(env: &Env, d: &Dovecot, account: &str) -> u64 {
    let mut events = env
        .commsctl_command(&["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = events.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Ok(event) = serde_json::from_str(&line)
                && tx.send(event).is_err()
            {
                return;
            }
        }
    });
    // The watcher may still be connecting (a loaded machine, a daemon that
    // just started): mail that lands before it is IDLE is already counted,
    // so deliver again until an event arrives. Each event must be for new mail.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen = None;
    let mut delivered = 0u64;
    while seen.is_none() && Instant::now() < deadline {
        delivered += 1;
        d.deliver(
            BOB,
            format!("From: x@outside.test\r\nTo: bob@example.test\r\nSubject: ping {delivered}\r\n\r\nping\r\n")
                .as_bytes(),
        );
        let round = Instant::now() + Duration::from_secs(5);
        while let Some(left) = round.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(event)
                    if event["kind"] == "mail_received"
                        && event["detail"]["accountId"] == account =>
                {
                    seen = Some(event);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        seen.is_some(),
        "no mail_received event for {account} after {delivered} deliveries"
    );
    delivered
}

/// `commsctl accounts add imap` for `user` on `d` (implicit TLS, the test CA).
pub(crate) fn add_imap(env: &Env, d: &Dovecot, user: &str, password: &str, extra: &[&str]) -> Run {
    let (imap, smtp) = (d.ports.imaps.to_string(), d.ports.submissions.to_string());
    let ca = d.ca_file.display().to_string();
    let mut args = vec![
        "accounts",
        "add",
        "imap",
        "--email",
        user,
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        &imap,
        "--smtp-host",
        "localhost",
        "--smtp-port",
        &smtp,
        "--ca-file",
        &ca,
        "--json",
    ];
    args.extend_from_slice(extra);
    if password.is_empty() {
        Run::from(env.commsctl_command(&args).output().unwrap())
    } else {
        args.push("--password-stdin");
        env.commsctl_with_stdin(&args, &format!("{password}\n"))
    }
}

fn json_of(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

fn ok(env: &Env, args: &[&str]) -> Value {
    json_of(&env.commsctl(args))
}

/// Calls an MCP tool over the socket as the MCP client `it-agent` (grants
/// read, draft, stage, send), the way comms-mcp does.
fn agent_tool(env: &Env, name: &str, arguments: Value) -> (Value, bool) {
    let r = with_tools(env, async |tools| {
        tools
            .call(commsd_proto::v1::CallToolRequest {
                client: Some(agent()),
                name: name.to_owned(),
                arguments_json: arguments.to_string(),
            })
            .await
    });
    (
        serde_json::from_str(&r.structured_json).unwrap(),
        r.is_error,
    )
}

/// Reads an MCP resource over the socket as the MCP client `it-agent`.
fn agent_resource(env: &Env, uri: &str) -> Value {
    let r = with_tools(env, async |tools| {
        tools
            .read_resource(commsd_proto::v1::ReadResourceRequest {
                client: Some(agent()),
                uri: uri.to_owned(),
            })
            .await
    });
    assert_eq!(r.mime_type, "application/json");
    serde_json::from_str(&r.text).unwrap()
}

fn agent() -> commsd_proto::v1::McpClient {
    commsd_proto::v1::McpClient {
        name: "it-agent".into(),
    }
}

/// One call of the daemon's `Tools` service over its socket.
fn with_tools<T>(
    env: &Env,
    call: impl AsyncFnOnce(
        &mut commsd_proto::v1::tools_client::ToolsClient<tonic::transport::Channel>,
    ) -> Result<tonic::Response<T>, tonic::Status>,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let connected = commsd_proto::client::connect(&env.socket).await.unwrap();
        let mut tools = commsd_proto::v1::tools_client::ToolsClient::new(connected.channel.clone());
        call(&mut tools).await.unwrap().into_inner()
    })
}

fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file of the database (main, WAL) as bytes.
fn database_bytes(env: &Env) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["commsd.db", "commsd.db-wal"] {
        if let Ok(b) = std::fs::read(env.data.join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Stages with the agent tool, approves with commsctl, waits until sent.
fn send(env: &Env, from_account: &str, to: &str, subject: &str, text: &str) -> Value {
    let (staged, is_error) = agent_tool(
        env,
        "email_stage",
        json!({ "accountId": from_account, "to": [to], "subject": subject, "bodyText": text }),
    );
    assert!(!is_error, "{staged}");
    assert_eq!(staged["item"]["state"], "pending_approval", "{staged}");
    let id = staged["item"]["id"].as_str().unwrap().to_owned();
    let run = env.commsctl(&["approve", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    eventually("the item is sent", Duration::from_secs(60), || {
        let item = ok(env, &["outbox", "show", &id, "--json"]);
        match item["state"].as_str() {
            Some("sent") => Some(item),
            Some("failed") | Some("unknown") => panic!("delivery failed: {item}"),
            _ => None,
        }
    })
}

/// Waits until a search in `account`'s `folder` finds `subject`.
fn find(env: &Env, account: &str, folder: &str, subject: &str) -> Value {
    eventually(
        &format!("{subject:?} in {account}'s {folder}"),
        Duration::from_secs(30),
        || {
            let found = ok(
                env,
                &[
                    "mail",
                    "search",
                    "--account",
                    account,
                    "--folder",
                    folder,
                    "--subject",
                    subject,
                    "--json",
                ],
            );
            found["messages"]
                .as_array()
                .and_then(|m| m.first().cloned())
        },
    )
}

#[test]
#[ignore = "needs Dovecot: scripts/test runs it"]
fn dovecot_commsctl_adds_an_imap_account_that_sends_and_reads() {
    let d = Dovecot::start();
    let (env, daemon) = start("");

    // A wrong password: exit 2 naming the server, the step and why; nothing stored.
    let run = add_imap(&env, &d, ALICE, "not-the-password", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("Testing IMAP 127.0.0.1:"),
        "progress on stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("IMAP server 127.0.0.1:")
            && run.stderr.contains("authentication failed")
            && run.stderr.contains("hint: check the username and password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
    let accounts = ok(&env, &["accounts", "list", "--json"]);
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert!(!contains(&database_bytes(&env), ALICE));

    // A bad field is named before any connection.
    let run = add_imap(&env, &d, ALICE, "x", &["--label", "Not A Label"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("labels[0]"), "{}", run.stderr);

    // The right password: saved, the password only in the vault.
    let added = json_of(&add_imap(
        &env,
        &d,
        ALICE,
        Dovecot::password(ALICE),
        &["--label", "clinic"],
    ));
    let alice = added["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["account"]["kind"], "imap");
    assert_eq!(added["account"]["channels"], json!(["email"]));
    assert_eq!(added["account"]["labels"], json!(["clinic"]));
    assert_eq!(added["account"]["settings"]["imap"]["host"], "127.0.0.1");
    assert_eq!(added["account"]["settings"]["auth"]["method"], "password");
    assert!(
        added["test"]["smtp"]
            .as_str()
            .unwrap()
            .starts_with("signed in to localhost:")
    );
    assert!(!added.to_string().contains(Dovecot::password(ALICE)));
    let bob = json_of(&add_imap(&env, &d, BOB, Dovecot::password(BOB), &[]))["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // An agent stages, a human approves, SMTP delivers; a copy lands in Sent.
    let subject = "Grüße from the practice";
    let item = send(
        &env,
        &alice,
        BOB,
        subject,
        "Dear Bob,\nyour results are ready.\n",
    );
    let delivery = item["delivery"]["detail"].as_str().unwrap();
    assert!(
        delivery.contains("SMTP localhost:") && delivery.contains("copy saved in Sent"),
        "{delivery}"
    );
    let received = find(&env, &bob, "INBOX", "Grüße");
    assert_eq!(received["subject"], subject);
    assert_eq!(received["from"], json!([ALICE]));
    assert_eq!(received["unread"], true);
    let sent_copy = find(&env, ALICE, "Sent", "Grüße");
    assert_eq!(sent_copy["to"], json!([BOB]));

    // Show: the body, and reading does not mark it read.
    let id = received["id"].as_str().unwrap().to_owned();
    let shown = ok(&env, &["mail", "show", &id, "--account", &bob, "--json"]);
    assert_eq!(shown["untrusted"], true);
    assert!(
        shown["message"]["bodyText"]
            .as_str()
            .unwrap()
            .contains("your results are ready."),
        "{shown}"
    );
    let text = env.commsctl(&["mail", "show", &id, "--account", &bob]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains(&format!("Subject   {subject}")),
        "{}",
        text.stdout
    );
    let unread = ok(
        &env,
        &["mail", "list", "--account", BOB, "--unread", "--json"],
    );
    assert_eq!(unread["messages"].as_array().unwrap().len(), 1, "{unread}");

    // The agent's tools: mark read, then move to the archive.
    let (marked, is_error) = agent_tool(
        &env,
        "email_mark_read_unread",
        json!({ "accountId": bob, "messageIds": [id], "read": true }),
    );
    assert!(!is_error, "{marked}");
    assert_eq!(marked["updated"], 1);
    let unread = ok(
        &env,
        &["mail", "list", "--account", BOB, "--unread", "--json"],
    );
    assert_eq!(unread["messages"], json!([]), "{unread}");
    let (moved, is_error) = agent_tool(
        &env,
        "email_move",
        json!({ "accountId": bob, "messageId": id, "destination": "archive" }),
    );
    assert!(!is_error, "{moved}");
    assert_eq!(moved["folder"], "Archive");
    let archive = ok(
        &env,
        &[
            "mail",
            "list",
            "--account",
            &bob,
            "--folder",
            "Archive",
            "--json",
        ],
    );
    assert_eq!(archive["messages"][0]["subject"], subject, "{archive}");
    let inbox = ok(&env, &["mail", "list", "--account", &bob, "--json"]);
    assert_eq!(inbox["total"], 0, "{inbox}");
    let (listed, _) = agent_tool(
        &env,
        "email_list_messages",
        json!({ "accountId": bob, "folder": "Archive" }),
    );
    assert_eq!(listed["untrusted"], true);
    assert_eq!(listed["messages"][0]["subject"], subject);

    // A tool error names the field; the default account (the sandbox) has
    // its own inbox, empty here.
    let (e, is_error) = agent_tool(&env, "email_list_messages", json!({ "limit": 0 }));
    assert!(is_error);
    assert_eq!(e["details"]["field"], "limit", "{e}");
    let run = env.commsctl(&["mail", "list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sandbox: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(sandbox["accountId"], "sandbox", "{sandbox}");
    assert_eq!(sandbox["messages"], json!([]), "{sandbox}");

    // Over HTTP with a read-only key.
    let key = json_of(&env.commsctl(&[
        "keys", "create", "reader", "--grants", "read", "--json",
    ]))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = env.commsctl(&["status", "--json"]);
    let api: Value = serde_json::from_str(&api.stdout).unwrap();
    let base = api["api_url"].as_str().unwrap().to_owned();
    let http = reqwest::blocking::Client::new();
    let inbox: Value = http
        .get(format!(
            "{base}/api/v1/email/inbox?accountId={ALICE}&limit=5"
        ))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(inbox["accountId"], alice.as_str(), "{inbox}");
    assert_eq!(inbox["folder"], "INBOX");
    let sent_id = sent_copy["id"].as_str().unwrap();
    let r = http
        .get(format!(
            "{base}/api/v1/email/read/{sent_id}?accountId={alice}"
        ))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = r.json().unwrap();
    assert_eq!(read["message"]["subject"], subject);
    assert!(read["message"]["bodyText"].is_string(), "{read}");
    assert!(read["message"].get("text").is_none(), "{read}");
    let r = http
        .get(format!("{base}/api/v1/email/inbox?limit=500"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["details"]["field"], "limit");
    // No account named: the default is the sandbox, which has an inbox.
    let r = http
        .get(format!("{base}/api/v1/email/inbox"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the default account is the sandbox");
    assert_eq!(r.json::<Value>().unwrap()["accountId"], "sandbox");

    // New mail becomes an event (IDLE on each account's INBOX, started when added).
    let pings = expect_mail_event(&env, &d, &bob);

    // Restarted: the watchers start again, the password comes from the vault,
    // and the daemon's log (at trace: IMAP LOGIN, FETCH, SMTP, IDLE, the
    // tools, the API) holds no password, no key and no message body.
    daemon.signal("TERM");
    let stopped = daemon.wait(Duration::from_secs(30));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let mut secrets = vec![
        ("wrong password", "not-the-password"),
        ("vault passphrase", PASSPHRASE),
        ("API key", key.as_str()),
        ("message body", "your results are ready"),
    ];
    secrets.extend(
        crate::dovecot::USERS
            .iter()
            .map(|(_, p)| ("IMAP password", *p)),
    );
    crate::harness::assert_log_holds_no_secret(&env.log_path(), "commsd stopped", &secrets);
    let _daemon = spawn(&env);
    let pings = pings + expect_mail_event(&env, &d, &bob);
    let inbox = ok(&env, &["mail", "list", "--account", &bob, "--json"]);
    assert_eq!(inbox["total"], pings, "{inbox}");
    // The MCP resource whose updates those events announce.
    let resource = agent_resource(&env, "commsd://mail/inbox");
    assert_eq!(resource["untrusted"], true, "{resource}");
    let accounts = resource["accounts"].as_array().unwrap();
    assert_eq!(
        accounts.len(),
        3,
        "both IMAP accounts and the sandbox: {resource}"
    );
    let bobs = accounts
        .iter()
        .find(|a| a["accountId"] == bob.as_str())
        .unwrap();
    assert_eq!(bobs["folder"], "INBOX");
    assert_eq!(bobs["total"], pings, "{bobs}");
    assert!(
        bobs["messages"][0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("ping "),
        "{bobs}"
    );

    // Nowhere in the database is a password.
    let db = database_bytes(&env);
    assert!(contains(&db, ALICE), "the account is in the database");
    for (_, password) in crate::dovecot::USERS {
        assert!(!contains(&db, password), "a password is in the database");
    }

    // Removed: its password leaves the vault and its mail is no longer readable.
    let run = env.commsctl(&["accounts", "remove", &alice, "--yes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.commsctl(&["mail", "list", "--account", &alice]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

/// `commsctl accounts add google` (the accounts tests' helper), the account it made.
fn add_google(env: &Env, oauth: &OAuthServer, login: &str, args: &[&str]) -> Value {
    crate::accounts::add_google(env, oauth, login, args).1["account"].clone()
}

#[test]
#[ignore = "needs Dovecot and the OAuth server: scripts/test runs it"]
fn dovecot_xoauth2_with_a_linked_google_account_sends_and_reads() {
    let oauth = OAuthServer::start();
    let introspection = format!(
        "{}/token/introspection",
        oauth
            .base
            .replace("http://", "http://imap-rs:imap-rs-secret@")
    );
    let mut d = Dovecot::start_with_env(&[("OAUTH2_INTROSPECTION_URL", &introspection)]);
    let (env, _daemon) = start(&oauth.endpoints_toml(""));
    crate::accounts::set_client(&env);

    // Without the mail module the token does not cover IMAP: the error says how to grant it.
    let google = add_google(&env, &oauth, ALICE, &[]);
    let google_id = google["id"].as_str().unwrap();
    let run = add_imap(&env, &d, ALICE, "", &["--oauth-account", google_id]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("insufficient_scope") && run.stderr.contains("--with mail"),
        "{}",
        run.stderr
    );
    let accounts = ok(&env, &["accounts", "list", "--json"]);
    assert_eq!(
        accounts.as_array().unwrap().len(),
        2,
        "sandbox and Google only: {accounts}"
    );

    // The human grants it (signing in again keeps the account's id).
    let google = add_google(
        &env,
        &oauth,
        ALICE,
        &["--with", "mail", "--login-hint", ALICE],
    );
    assert_eq!(google["id"], google_id);
    assert!(
        google["modules"]
            .as_array()
            .unwrap()
            .contains(&json!("mail")),
        "{google}"
    );
    let run = add_imap(&env, &d, ALICE, "", &["--oauth-account", google_id]);
    assert_eq!(
        run.code,
        0,
        "{}\nDovecot's log:\n{}",
        run.stderr,
        std::fs::read_to_string(d.dir.join("dovecot.log")).unwrap_or_default()
    );
    let added = json_of(&run);
    assert_eq!(
        added["account"]["settings"]["auth"],
        json!({ "method": "xoauth2", "google_account": google_id })
    );
    let alice = added["account"]["id"].as_str().unwrap().to_owned();

    // The Google account itself is not read here: the error says what to use.
    let run = env.commsctl(&["mail", "list", "--account", google_id]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is a Google account") && run.stderr.contains("--oauth-account"),
        "{}",
        run.stderr
    );

    // Sent over SMTP and read over IMAP, both signed in with the token.
    let subject = "XOAUTH2 round trip";
    send(&env, &alice, ALICE, subject, "Signed in with a token.\n");
    let found = find(&env, &alice, "INBOX", subject);
    let shown = ok(
        &env,
        &[
            "mail",
            "show",
            found["id"].as_str().unwrap(),
            "--account",
            &alice,
            "--json",
        ],
    );
    assert!(
        shown["message"]["bodyText"]
            .as_str()
            .unwrap()
            .contains("Signed in with a token."),
        "{shown}"
    );
    find(&env, &alice, "Sent", subject);

    // At trace, neither the XOAUTH2 sign-ins (IMAP AUTHENTICATE, SMTP AUTH)
    // nor the OAuth flow left a credential or the message in the log.
    use base64::Engine as _;
    let sasl =
        base64::engine::general_purpose::STANDARD.encode(format!("user={ALICE}\x01auth=Bearer "));
    // The whole groups of the encoding, identical whatever token follows.
    let sasl_prefix = &sasl[..sasl.len() / 4 * 4 - 4];
    let refresh_token = crate::accounts::vault_secret(
        &env,
        &commsd::accounts::oauth::refresh_token_entry(google_id),
    );
    crate::harness::assert_log_holds_no_secret(
        &env.log_path(),
        "commsd ready",
        &[
            ("XOAUTH2 initial response", sasl_prefix),
            ("bearer token", "auth=Bearer"),
            ("refresh token", &refresh_token),
            ("client secret", crate::oauth::CLIENT_SECRET),
            ("vault passphrase", PASSPHRASE),
            ("message body", "Signed in with a token."),
        ],
    );

    // The human removes commsd's access: the grant is revoked at the
    // authorization server (revoking the refresh token revokes every token
    // of the grant). Open sessions stay signed in; after a server restart the
    // new sign-in is refused, the daemon refreshes once, gets invalid_grant,
    // and the account needs a new sign-in.
    let refresh = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            commsd::vault::Vault::open_with(
                &commsd::vault::VaultConfig {
                    backend: commsd::vault::BackendChoice::File,
                    file: None,
                },
                &env.data,
                Some(commsd::vault::Secret::new(PASSPHRASE)),
                commsd::vault::KdfParams::DEFAULT,
            )
            .get(&commsd::accounts::oauth::refresh_token_entry(google_id))
            .await
            .unwrap()
            .unwrap()
        });
    let revoked = reqwest::blocking::Client::new()
        .post(format!("{}/token/revocation", oauth.base))
        .form(&[
            ("token", refresh.expose()),
            ("token_type_hint", "refresh_token"),
            ("client_id", crate::oauth::CLIENT_ID),
            ("client_secret", crate::oauth::CLIENT_SECRET),
        ])
        .send()
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    d.stop_dovecot();
    d.start_dovecot();
    let run = env.commsctl(&["mail", "list", "--account", &alice]);
    assert_eq!(
        run.code,
        2,
        "{}\nDovecot's log:\n{}",
        run.stdout,
        std::fs::read_to_string(d.dir.join("dovecot.log")).unwrap_or_default()
    );
    assert!(run.stderr.contains("[reauth_required]"), "{}", run.stderr);
    let accounts = ok(&env, &["accounts", "list", "--json"]);
    let linked = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == google_id)
        .unwrap();
    assert_eq!(linked["state"], "reauth_required", "{accounts}");
}
