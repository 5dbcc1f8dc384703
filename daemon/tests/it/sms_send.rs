//! Sending SMS through Twilio with the real binaries: `commsctl accounts
//! add twilio` checked against Twilio's API contract (Prism serving
//! `twilio_api_v2010.json`), refusals that name the field and store nothing.

use serde_json::Value;

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG, Run, assert_log_holds_no_secret};
use crate::twilio_peers::Prism;

const PASSPHRASE: &str = "correct horse battery staple";
const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "twilio-auth-token-7d1c0e";

/// A daemon with the file vault, `[twilio] api_base` at `api_base` and
/// `extra` config, logging at trace into `env.log_path()`.
pub(crate) fn start(api_base: &str, extra: &str) -> (Env, Daemon) {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n[twilio]\napi_base = \"{api_base}\"\npublic_url = \"https://sms.example.test\"\n{extra}"
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    let daemon = env.spawn_traced(cmd);
    (env, daemon)
}

/// `commsctl accounts add twilio --json` with `extra`, the token on stdin.
pub(crate) fn add_twilio(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["accounts", "add", "twilio", "--json", "--secret-stdin"];
    args.extend_from_slice(extra);
    env.commsctl_with_stdin(&args, &format!("{TOKEN}\n"))
}

pub(crate) fn json_of(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

fn twilio_accounts(env: &Env) -> Vec<Value> {
    let list = json_of(&env.commsctl(&["accounts", "list", "--json"]));
    list.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "twilio")
        .cloned()
        .collect()
}

/// Every byte under the data directory (database, WAL, vault file).
fn data_bytes(env: &Env) -> Vec<u8> {
    let mut all = Vec::new();
    let mut dirs = vec![env.data.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                all.extend(bytes);
            }
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn twilio_accounts_are_checked_at_twilio_before_they_are_saved() {
    let prism = Prism::start();
    let (env, _daemon) = start(&prism.base, "");

    // Refused locally, naming the field: nothing stored.
    for (args, field) in [
        (
            vec!["--account-sid", "AC123", "--from", "+15550001111"],
            "accountSid",
        ),
        (vec!["--account-sid", AC, "--from", "555-0001"], "from"),
        (
            vec!["--account-sid", AC, "--messaging-service", "MG1"],
            "messagingServiceSid",
        ),
        (
            vec![
                "--account-sid",
                AC,
                "--api-key",
                "SKx",
                "--messaging-service",
                MG,
            ],
            "apiKey",
        ),
        // At Twilio: the spec's only number cannot send SMS, any other is not on the account.
        (vec!["--account-sid", AC, "--from", "+15550001111"], "from"),
        (vec!["--account-sid", AC, "--from", "+18089255327"], "from"),
    ] {
        let run = add_twilio(&env, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(&format!("{field}:")),
            "{args:?} should name {field}: {}",
            run.stderr
        );
    }
    // No sender at all: the CLI refuses before asking the daemon.
    let run = add_twilio(&env, &["--account-sid", AC]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--from") && run.stderr.contains("--messaging-service"),
        "{}",
        run.stderr
    );
    assert!(twilio_accounts(&env).is_empty());
    assert!(!contains(&data_bytes(&env), TOKEN));

    // A Messaging Service: credentials accepted, the account saved.
    let added = json_of(&add_twilio(
        &env,
        &[
            "--account-sid",
            AC,
            "--messaging-service",
            MG,
            "--label",
            "clinic",
        ],
    ));
    assert_eq!(added["existed"], false);
    let account = &added["account"];
    assert_eq!(account["kind"], "twilio");
    assert_eq!(account["email"], MG);
    assert_eq!(account["labels"][0], "clinic");
    // commsctl prints settings as stored; the REST API camelCases them.
    assert_eq!(
        account["settings"],
        serde_json::json!({ "account_sid": AC, "messaging_service_sid": MG })
    );
    let id = account["id"].as_str().unwrap().to_owned();
    // Again: the same account, replaced.
    let again = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    assert_eq!(
        (again["existed"].as_bool(), again["account"]["id"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    // The same Twilio account under another sender is refused: one Twilio
    // account is one commsd account (webhooks name it by AccountSid).
    let other = "MGffffffffffffffffffffffffffffffff";
    let run = add_twilio(&env, &["--account-sid", AC, "--messaging-service", other]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("accountSid:") && run.stderr.contains(&id),
        "{}",
        run.stderr
    );
    assert_eq!(twilio_accounts(&env).len(), 1);

    // The token is in the (encrypted) vault only: not in the database, not in the log.
    assert!(!contains(&data_bytes(&env), TOKEN));
    assert_log_holds_no_secret(
        &env.log_path(),
        "Twilio account saved",
        &[("auth token", TOKEN)],
    );

    // Removing the account deletes its secret.
    json_of(&env.commsctl(&["accounts", "remove", &id, "--yes", "--json"]));
    assert!(twilio_accounts(&env).is_empty());
}

/// The item `id` as `commsctl outbox get --json` shows it.
pub(crate) fn item(env: &Env, id: &str) -> Value {
    json_of(&env.commsctl(&["outbox", "show", id, "--json"]))
}

/// Stages an SMS on `account` with commsctl; returns the item.
pub(crate) fn stage(env: &Env, account: &str, to: &str, body: &str) -> Run {
    env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--account",
        account,
        "--to",
        to,
        "--body",
        body,
        "--json",
    ])
}

/// Waits until item `id` leaves `approved` and `sending`.
pub(crate) fn settled(env: &Env, id: &str) -> Value {
    let mut last = Value::Null;
    let done = crate::harness::eventually(std::time::Duration::from_secs(20), || {
        last = item(env, id);
        !matches!(last["state"].as_str(), Some("approved" | "sending"))
    });
    assert!(done, "item {id} did not settle: {last}");
    last
}

const OUTBOX: &str = "[outbox]\nhold_window = \"0s\"\n";

#[test]
fn sms_go_out_through_twilios_contract_with_a_status_callback() {
    let prism = Prism::start();
    let (env, _daemon) = start(&prism.base, OUTBOX);
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["account"]["channels"], serde_json::json!(["sms"]));

    let staged = json_of(&stage(
        &env,
        &account,
        "+1 415 555 0100",
        "Reminder: tomorrow 9:00",
    ));
    assert_eq!(staged["state"], "pending_approval");
    let id = staged["id"].as_str().unwrap().to_owned();
    let run = env.commsctl(&["approve", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done = settled(&env, &id);
    assert_eq!(done["state"], "sent", "{done}");
    // Prism answered the spec's example message (Prism checked the form:
    // To, MessagingServiceSid, Body and the StatusCallback URL).
    let detail = done["delivery"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("Twilio SM") || detail.starts_with("Twilio MM"),
        "{done}"
    );
}

/// How the fake Twilio answers a send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SendMode {
    /// 201 with a queued message.
    Accept,
    /// 500: Twilio may or may not have sent it.
    Fail500,
    /// 400 with error 21610 (the recipient opted out).
    OptedOut,
    /// 429 with `Retry-After: 1` and error 20429: nothing was sent.
    RateLimited,
    /// 503: Twilio may or may not have sent it.
    Unavailable,
}

#[derive(Default)]
pub(crate) struct FakeState {
    pub mode: Option<SendMode>,
    /// Messages the list call returns.
    pub listed: Vec<Value>,
    /// Forms of the sends received.
    pub sends: Vec<Vec<(String, String)>>,
    pub lists: usize,
    /// The list call also returns every message accepted (as Twilio would).
    pub list_accepted: bool,
    /// Messages accepted (answered 201), as the list call shows them.
    pub accepted: Vec<Value>,
    /// `mode` answers this many sends, then the fake accepts again.
    pub mode_times: Option<usize>,
}

/// A scripted Twilio for what Prism cannot do (lose an answer, list what
/// was sent, refuse with 21610).
pub(crate) struct FakeTwilio {
    pub base: String,
    pub state: std::sync::Arc<std::sync::Mutex<FakeState>>,
}

impl FakeTwilio {
    pub(crate) fn start() -> FakeTwilio {
        use axum::routing::get;
        let state = std::sync::Arc::new(std::sync::Mutex::new(FakeState {
            mode: Some(SendMode::Accept),
            ..FakeState::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let account = |axum::extract::Path(sid): axum::extract::Path<String>| async move {
                    let sid = sid.trim_end_matches(".json").to_owned();
                    axum::Json(serde_json::json!({ "sid": sid, "friendly_name": "Fake clinic", "status": "active" }))
                };
                let s1 = shared.clone();
                let s2 = shared.clone();
                let app = axum::Router::new()
                    .route("/2010-04-01/Accounts/{sid}", get(account))
                    .route(
                        "/2010-04-01/Accounts/{sid}/Messages.json",
                        get(move || {
                            let s = s1.clone();
                            async move {
                                let mut s = s.lock().unwrap();
                                s.lists += 1;
                                let mut messages = s.listed.clone();
                                if s.list_accepted {
                                    messages.extend(s.accepted.iter().cloned());
                                }
                                axum::Json(serde_json::json!({ "messages": messages, "next_page_uri": null }))
                            }
                        })
                        .post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
                            let s = s2.clone();
                            async move {
                                let mut s = s.lock().unwrap();
                                let n = s.sends.len();
                                s.sends.push(form.clone());
                                let to = form.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone());
                                let body = form.iter().find(|(k, _)| k == "Body").map(|(_, v)| v.clone());
                                let mode = s.mode.unwrap_or(SendMode::Accept);
                                if let Some(n) = s.mode_times {
                                    if n <= 1 {
                                        s.mode = Some(SendMode::Accept);
                                        s.mode_times = None;
                                    } else {
                                        s.mode_times = Some(n - 1);
                                    }
                                }
                                let headers = |retry: bool| {
                                    let mut h = axum::http::HeaderMap::new();
                                    if retry {
                                        h.insert("retry-after", axum::http::HeaderValue::from_static("1"));
                                    }
                                    h
                                };
                                match mode {
                                    SendMode::Accept => {
                                        let sid = format!("SM{n:032x}");
                                        s.accepted.push(serde_json::json!({
                                            "sid": sid, "status": "queued", "to": to, "body": body,
                                            "direction": "outbound-api",
                                            "date_created": jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
                                        }));
                                        (
                                            axum::http::StatusCode::CREATED,
                                            headers(false),
                                            axum::Json(serde_json::json!({
                                                "sid": sid, "status": "queued", "to": to,
                                            })),
                                        )
                                    }
                                    SendMode::RateLimited => (
                                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                                        headers(true),
                                        axum::Json(serde_json::json!({ "code": 20429, "message": "Too Many Requests" })),
                                    ),
                                    SendMode::Unavailable => (
                                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                        headers(false),
                                        axum::Json(serde_json::json!({ "code": 20503, "message": "Service Unavailable" })),
                                    ),
                                    SendMode::Fail500 => (
                                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                        headers(false),
                                        axum::Json(serde_json::json!({ "code": 20500, "message": "Internal Server Error" })),
                                    ),
                                    SendMode::OptedOut => (
                                        axum::http::StatusCode::BAD_REQUEST,
                                        headers(false),
                                        axum::Json(serde_json::json!({ "code": 21610, "message": "Attempt to send to unsubscribed recipient" })),
                                    ),
                                }
                            }
                        }),
                    );
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        FakeTwilio { base, state }
    }

    pub(crate) fn set(&self, f: impl FnOnce(&mut FakeState)) {
        f(&mut self.state.lock().unwrap());
    }

    pub(crate) fn sends(&self) -> usize {
        self.state.lock().unwrap().sends.len()
    }
}

#[test]
fn an_sms_whose_answer_was_lost_is_looked_up_before_it_is_approved_again() {
    let fake = FakeTwilio::start();
    let (env, _daemon) = start(&fake.base, OUTBOX);
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let to = "+14155550100";
    let body = "Your appointment is tomorrow at 9:00";

    // Twilio answers 500: it may have sent it. Never resent by itself.
    fake.set(|s| s.mode = Some(SendMode::Fail500));
    let id = json_of(&stage(&env, &account, to, body))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.commsctl(&["approve", &id]).code, 0);
    let done = settled(&env, &id);
    assert_eq!(done["state"], "unknown", "{done}");
    assert_eq!(fake.sends(), 1);
    let form = fake.state.lock().unwrap().sends[0].clone();
    assert!(
        form.contains(&(
            "StatusCallback".to_owned(),
            "https://sms.example.test/webhooks/twilio/status".to_owned()
        )),
        "{form:?}"
    );

    // It did go: Twilio lists it. Approving again is refused and says so.
    fake.set(|s| {
        s.mode = Some(SendMode::Accept);
        s.listed = vec![serde_json::json!({
            "sid": "SMfeedfeedfeedfeedfeedfeedfeedfeed", "status": "delivered", "to": to,
            "body": body, "direction": "outbound-api", "date_created": "Sat, 05 Dec 2026 08:00:00 +0000",
        })];
    });
    let run = env.commsctl(&["approve", &id]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("SMfeedfeedfeedfeedfeedfeedfeedfeed")
            && run.stdout.contains("was sent"),
        "{}",
        run.stdout
    );
    assert_eq!(item(&env, &id)["state"], "unknown");
    assert_eq!(fake.sends(), 1, "nothing was sent again");

    // Not on Twilio (another text to the number only): approved, sent once more.
    fake.set(|s| {
        s.listed[0]["body"] = "another text".into();
    });
    let run = env.commsctl(&["approve", &id]);
    assert_eq!(run.code, 0, "{} {}", run.stdout, run.stderr);
    assert_eq!(settled(&env, &id)["state"], "sent");
    assert_eq!(fake.sends(), 2);
    assert!(fake.state.lock().unwrap().lists >= 2, "looked up each time");
    let audit = env.commsctl(&["audit", "list", "--item", &id, "--json"]);
    assert!(
        audit
            .stdout
            .contains("Twilio lookup: no message to +14155550100"),
        "{}",
        audit.stdout
    );
    // Neither the token nor the text reached the log (written at trace).
    assert_log_holds_no_secret(
        &env.log_path(),
        "Twilio account saved",
        &[("auth token", TOKEN), ("message body", body)],
    );
}

#[test]
fn an_opted_out_number_is_refused_before_any_call_to_twilio() {
    let fake = FakeTwilio::start();
    let (env, _daemon) = start(&fake.base, OUTBOX);
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let (to, other) = ("+14155550100", "+14155550199");

    // Staged while the number could still be texted.
    let early = json_of(&stage(&env, &account, to, "Bring your card"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Twilio refuses with 21610: the item fails, explained, and the pair is opted out.
    fake.set(|s| s.mode = Some(SendMode::OptedOut));
    let id = json_of(&stage(&env, &account, to, "See you at 9"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.commsctl(&["approve", &id]).code, 0);
    let done = settled(&env, &id);
    assert_eq!(done["state"], "failed", "{done}");
    assert!(done["error"].as_str().unwrap().contains("21610"), "{done}");
    let list = json_of(&env.commsctl(&["sms", "optouts", "list", "--json"]));
    assert_eq!(list["optOuts"][0]["number"], to, "{list}");
    assert_eq!(list["optOuts"][0]["sender"], MG);
    assert_eq!(list["optOuts"][0]["source"], "error 21610");

    // Staging to that number is refused, naming `to`; nothing stored, no call.
    fake.set(|s| s.mode = Some(SendMode::Accept));
    let before = fake.sends();
    let run = stage(&env, &account, to, "Are you coming?");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("to:") && run.stderr.contains("opted out"),
        "{}",
        run.stderr
    );
    let items = json_of(&env.commsctl(&["outbox", "list", "--json"]));
    assert_eq!(items["items"].as_array().map(Vec::len), Some(2), "{items}");
    // Another number is unaffected.
    json_of(&stage(&env, &account, other, "Are you coming?"));
    // The item staged before the opt-out is refused at approval.
    let run = env.commsctl(&["approve", &early]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("opted out"), "{}", run.stdout);
    assert_eq!(item(&env, &early)["state"], "pending_approval");
    // Removing needs a reason; then staging works again.
    let run = env.commsctl(&[
        "sms",
        "optouts",
        "remove",
        to,
        "--account",
        &account,
        "--sender",
        MG,
        "--reason",
        " ",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("reason:"), "{}", run.stderr);
    let run = env.commsctl(&[
        "sms",
        "optouts",
        "remove",
        to,
        "--account",
        &account,
        "--sender",
        MG,
        "--reason",
        "texted START at the desk",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        json_of(&env.commsctl(&["sms", "optouts", "list", "--json"]))["optOuts"],
        serde_json::json!([])
    );
    json_of(&stage(&env, &account, to, "Welcome back"));
    let audit = env.commsctl(&["audit", "list", "--json"]);
    assert!(
        audit
            .stdout
            .contains("removed by hand: texted START at the desk"),
        "{}",
        audit.stdout
    );
    assert_eq!(fake.sends(), before, "no call to Twilio while staging");
}

/// The `sms_send` tool over the socket, as comms-mcp calls it.
fn sms_send_tool(env: &Env, arguments: Value) -> (Value, bool) {
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
                name: "sms_send".to_owned(),
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

fn api_post(env: &Env, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let api = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let resp = reqwest::blocking::Client::new()
        .post(format!("{api}{path}"))
        .bearer_auth(key)
        .json(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn the_sms_preview_is_the_same_through_the_tool_the_api_and_the_cli() {
    let fake = FakeTwilio::start();
    // Extra lines land in [twilio] first.
    let (env, _daemon) = start(
        &fake.base,
        &format!("price_per_segment = 0.0079\n{OUTBOX}[mcp]\ntoolsets = [\"outbox\", \"sms\"]\n"),
    );
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    // 150 GSM characters and one smart quote: UCS-2, 3 segments instead of 1.
    let body = format!("{}\u{2019}s", "a".repeat(148));
    let to = "+14155550100";

    // The tool: the preview text and the item's segments.
    let (staged, is_error) = sms_send_tool(
        &env,
        serde_json::json!({ "accountId": account, "to": to, "body": body }),
    );
    assert!(!is_error, "{staged}");
    let preview = staged["preview"].as_str().unwrap();
    assert!(
        preview.contains("150 characters, UCS-2, 3 segments, about 0.0237 at 0.0079 a segment"),
        "{preview}"
    );
    assert!(preview.contains("forced by \u{2019} (U+2019)"), "{preview}");

    // REST: /sms/stage answers the item, whose content carries the same analysis.
    let key = {
        let run = env.commsctl(&[
            "keys",
            "create",
            "agent",
            "--grants",
            "read,stage,send",
            "--json",
        ]);
        json_of(&run)["token"].as_str().unwrap().to_owned()
    };
    let (status, item) = api_post(
        &env,
        &key,
        "/api/v1/sms/stage",
        &serde_json::json!({ "accountId": account, "to": to, "body": body }),
    );
    assert_eq!(status, 201, "{item}");
    let seg = &item["content"]["segments"];
    assert_eq!(seg["encoding"], "UCS-2", "{item}");
    assert_eq!(seg["segments"], 3);
    assert_eq!(seg["ucs2Characters"], serde_json::json!(["\u{2019}"]));
    assert_eq!(seg["estimatedCost"], 0.0237);
    // Over 1,600 characters: refused, naming body; nothing stored.
    let (status, e) = api_post(
        &env,
        &key,
        "/api/v1/sms/stage",
        &serde_json::json!({ "accountId": account, "to": to, "body": "a".repeat(1601) }),
    );
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["details"]["field"], "body", "{e}");
    // /sms/send: staged, waiting for a human (SMS need approval by default).
    let (status, sent) = api_post(
        &env,
        &key,
        "/api/v1/sms/send",
        &serde_json::json!({ "accountId": account, "to": to, "body": "Plain text" }),
    );
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["pendingApproval"], true, "{sent}");
    assert_eq!(sent["item"]["content"]["segments"]["encoding"], "GSM-7");

    // The CLI prints the same lines.
    let run = stage(&env, &account, to, &body);
    let v = json_of(&run);
    assert!(
        v["preview"]
            .as_str()
            .unwrap()
            .contains("UCS-2, 3 segments, about 0.0237"),
        "{v}"
    );
    let run = env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--account",
        &account,
        "--to",
        to,
        "--body",
        &body,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("UCS-2:   forced by \u{2019} (U+2019)"),
        "{}",
        run.stdout
    );
    let items = json_of(&env.commsctl(&["outbox", "list", "--json"]));
    assert_eq!(items["items"].as_array().map(Vec::len), Some(5), "{items}");
    assert_eq!(fake.sends(), 0);
}

#[test]
fn smart_quotes_are_replaced_at_staging_when_configured() {
    let fake = FakeTwilio::start();
    let (env, _daemon) = start(
        &fake.base,
        &format!("{OUTBOX}[sms]\nreplace_smart_quotes = true\n"),
    );
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let v = json_of(&stage(
        &env,
        &account,
        "+14155550100",
        "It\u{2019}s \u{201C}fine\u{201D} \u{2014} see you",
    ));
    assert_eq!(v["content"]["body"], "It's \"fine\" - see you", "{v}");
    assert!(
        v["preview"].as_str().unwrap().contains("GSM-7, 1 segment"),
        "{v}"
    );
}

#[test]
fn an_approved_sms_waits_for_the_end_of_quiet_hours_unless_overridden() {
    let fake = FakeTwilio::start();
    // Quiet from an hour ago to an hour from now (UTC), whatever the time.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let hhmm = |z: jiff::Zoned| z.strftime("%H:%M").to_string();
    let start_at = hhmm(
        now.checked_sub(jiff::SignedDuration::from_hours(1))
            .unwrap(),
    );
    let end = now
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let quiet = format!(
        "{OUTBOX}[sms]\nquiet_hours = \"{start_at}-{}\"\ntime_zone = \"UTC\"\n",
        hhmm(end.clone())
    );
    let (env, _daemon) = self::start(&fake.base, &quiet);
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();

    let ids: Vec<String> = ["first", "second"]
        .iter()
        .map(|b| {
            let id = json_of(&stage(&env, &account, "+14155550100", b))["id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(env.commsctl(&["approve", &id]).code, 0);
            id
        })
        .collect();
    for id in &ids {
        let mut held = Value::Null;
        assert!(
            crate::harness::eventually(std::time::Duration::from_secs(10), || {
                held = item(&env, id);
                held["policy"]["holdReason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("quiet hours"))
            }),
            "{held}"
        );
        assert_eq!(held["state"], "approved");
        let reason = held["policy"]["holdReason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("waits until {}", end.strftime("%Y-%m-%d %H:%M"))),
            "{reason}"
        );
        assert!(held["dispatchAfter"].as_str().is_some(), "{held}");
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(fake.sends(), 0, "nothing goes out in quiet hours");

    // The approver lets the first one go: sent now; the second keeps waiting.
    let run = env.commsctl(&["sms", "quiet-override", &ids[0]]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(settled(&env, &ids[0])["state"], "sent");
    assert_eq!(item(&env, &ids[1])["state"], "approved");
    assert_eq!(fake.sends(), 1);
    let audit = env.commsctl(&["audit", "list", "--item", &ids[0], "--json"]);
    assert!(
        audit.stdout.contains("quiet hours overridden"),
        "{}",
        audit.stdout
    );
}
