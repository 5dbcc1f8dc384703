//! Receiving SMS through Twilio with the real daemon: a scripted Twilio
//! posts signed webhooks (messages, duplicates, MMS with media served by a
//! local server, STOP/START/HELP, status callbacks) to the webhook
//! listener; signatures are made and judged by Twilio's own
//! RequestValidator (PyPI twilio) as well; kill -9 right after a 200 loses
//! nothing.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use commsd::twilio::signature::{BODY_HASH_PARAM, compute};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG, eventually};
use crate::sms_send::{add_twilio, json_of};
use crate::twilio_peers::{Prism, oracle};

const PASSPHRASE: &str = "correct horse battery staple";
pub(crate) const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "twilio-auth-token-7d1c0e";
pub(crate) const PUBLIC: &str = "https://sms.example.test";
pub(crate) const OURS: &str = "+15550001111";
pub(crate) const THEIRS: &str = "+15552223333";

/// Writes the config (`[twilio] api_base`, `public_url`, `extra`) and
/// starts the daemon with the file vault.
pub(crate) fn start_with(env: &Env, api_base: &str, extra: &str) -> Daemon {
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n[twilio]\napi_base = \"{api_base}\"\npublic_url = \"{PUBLIC}\"\n{extra}"
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    env.spawn_traced(cmd)
}

/// A daemon with one Twilio account (checked at Prism), restarted with
/// `api_base` (e.g. the media server) and `extra`. Returns its account id.
pub(crate) fn with_account(api_base: Option<&str>, extra: &str) -> (Env, Daemon, String) {
    let prism = Prism::start();
    let env = Env::new();
    let daemon = start_with(&env, &prism.base, extra);
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let id = added["account"]["id"].as_str().unwrap().to_owned();
    let Some(base) = api_base else {
        return (env, daemon, id);
    };
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(15)).code, 0);
    let daemon = start_with(&env, base, extra);
    (env, daemon, id)
}

/// Twilio, scripted: signs with the account's token for the public URL.
pub(crate) struct Scripted {
    pub webhooks: String,
    http: reqwest::blocking::Client,
}

pub(crate) fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An inbound message's parameters, as Twilio posts them.
pub(crate) fn inbound(sid: &str, body: &str) -> Vec<(String, String)> {
    pairs(&[
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", OURS),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", AC),
        ("From", THEIRS),
        ("MessagingServiceSid", MG),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// `SM` + 32 hex digits from `n`.
pub(crate) fn sid(prefix: &str, n: u64) -> String {
    format!("{prefix}{n:032x}")
}

impl Scripted {
    pub(crate) fn new(env: &Env) -> Scripted {
        let status = env.status_json();
        Scripted {
            webhooks: status["webhook_url"].as_str().unwrap().to_owned(),
            http: reqwest::blocking::Client::new(),
        }
    }

    /// Posts `params` to `path`, signed for `signed_base` + `path` with `signature` (default: ours).
    pub(crate) fn post_signed(
        &self,
        path: &str,
        params: &[(String, String)],
        signature: &str,
    ) -> u16 {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.http
            .post(format!("{}{path}", self.webhooks))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    pub(crate) fn post(&self, path: &str, params: &[(String, String)]) -> u16 {
        let sig = compute(TOKEN.as_bytes(), &format!("{PUBLIC}{path}"), params);
        self.post_signed(path, params, &sig)
    }
}

/// Rows of the database (read beside the running daemon: WAL).
fn query(env: &Env, sql: &str) -> Vec<Vec<Value>> {
    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(v) => json!(v),
                rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                _ => Value::Null,
            })
            .collect())
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A media server standing in for Twilio's media URLs (Basic auth
/// required): `/2010-04-01/.../Media/small` is a PNG, `/big` too large.
pub(crate) struct MediaServer {
    pub base: String,
    _runtime: tokio::runtime::Runtime,
}

impl MediaServer {
    pub(crate) fn start() -> MediaServer {
        use axum::http::{HeaderMap, StatusCode, header};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/2010-04-01/Accounts/{ac}/Messages/{mm}/Media/{me}",
            axum::routing::get(
                |axum::extract::Path((_, _, me)): axum::extract::Path<(String, String, String)>,
                 headers: HeaderMap| async move {
                    if headers.get(header::AUTHORIZATION).is_none() {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [(header::CONTENT_TYPE, "text/plain")],
                            Vec::new(),
                        );
                    }
                    match me.as_str() {
                        "small" => (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "image/png")],
                            b"\x89PNG\r\n\x1a\nsmall".to_vec(),
                        ),
                        "big" => (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "image/jpeg")],
                            vec![0u8; 4096],
                        ),
                        _ => (
                            StatusCode::NOT_FOUND,
                            [(header::CONTENT_TYPE, "text/plain")],
                            Vec::new(),
                        ),
                    }
                },
            ),
        );
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MediaServer {
            base,
            _runtime: runtime,
        }
    }

    pub(crate) fn url(&self, message: &str, media: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{AC}/Messages/{message}/Media/{media}",
            self.base
        )
    }
}

#[test]
fn inbound_sms_is_verified_stored_once_keyworded_and_survives_kill_9() {
    let media = MediaServer::start();
    let (env, daemon, account) = with_account(Some(&media.base), "media_max_bytes = 1000\n");
    let twilio = Scripted::new(&env);
    let path = "/webhooks/twilio/sms";

    // A message and its redelivery: stored once.
    let first = inbound(&sid("SM", 1), "Running 10 min late, sorry");
    assert_eq!(twilio.post(path, &first), 200);
    assert_eq!(twilio.post(path, &first), 200);
    // Refused: signed for the loopback URL, for http, with an added
    // parameter, by another token; nothing stored.
    let second = inbound(&sid("SM", 2), "not stored");
    let loopback = compute(
        TOKEN.as_bytes(),
        &format!("{}{path}", twilio.webhooks),
        &second,
    );
    assert_eq!(twilio.post_signed(path, &second, &loopback), 403);
    let http = compute(
        TOKEN.as_bytes(),
        &format!("http://sms.example.test{path}"),
        &second,
    );
    assert_eq!(twilio.post_signed(path, &second, &http), 403);
    let mut added = second.clone();
    added.push(("Injected".into(), "1".into()));
    let sig = compute(TOKEN.as_bytes(), &format!("{PUBLIC}{path}"), &second);
    assert_eq!(twilio.post_signed(path, &added, &sig), 403);
    let other = compute(b"another-token", &format!("{PUBLIC}{path}"), &second);
    assert_eq!(twilio.post_signed(path, &second, &other), 403);

    // Keywords.
    for (n, body) in [(3, "STOP"), (4, " start "), (5, "help")] {
        assert_eq!(twilio.post(path, &inbound(&sid("SM", n), body)), 200);
    }
    // MMS: one file saved, one over the size limit.
    let mms = sid("MM", 6);
    let mut p = inbound(&mms, "photo");
    p.retain(|(k, _)| k != "NumMedia");
    p.extend(pairs(&[
        ("NumMedia", "2"),
        ("MediaUrl0", &media.url(&mms, "small")),
        ("MediaContentType0", "image/png"),
        ("MediaUrl1", &media.url(&mms, "big")),
        ("MediaContentType1", "image/jpeg"),
    ]));
    assert_eq!(twilio.post(path, &p), 200);

    let rows = query(
        &env,
        "SELECT message_sid, body, keyword, account_id FROM sms_messages ORDER BY seq",
    );
    let got: Vec<(String, Value)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[2].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (sid("SM", 1), Value::Null),
            (sid("SM", 3), json!("optOut")),
            (sid("SM", 4), json!("optIn")),
            (sid("SM", 5), json!("help")),
            (mms.clone(), Value::Null),
        ]
    );
    assert!(rows.iter().all(|r| r[3] == json!(account)));
    assert!(eventually(Duration::from_secs(10), || {
        query(&env, "SELECT state FROM sms_media WHERE state = 'pending'").is_empty()
    }));
    let media_rows = query(
        &env,
        "SELECT idx, state, content_type, path, size FROM sms_media ORDER BY idx",
    );
    assert_eq!(media_rows[0][1], "saved");
    assert_eq!(media_rows[0][2], "image/png");
    assert_eq!(media_rows[1][1], "too_large");
    let saved = std::path::PathBuf::from(media_rows[0][3].as_str().unwrap());
    assert!(
        saved.starts_with(env.data.join("sms/media").join(&account)),
        "{}",
        saved.display()
    );
    assert_eq!(std::fs::read(&saved).unwrap(), b"\x89PNG\r\n\x1a\nsmall");
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let counts = &env.status_json()["counts"];
    assert_eq!(counts["twilio_inbound_stored"], 5);
    assert_eq!(counts["twilio_inbound_duplicates"], 1);
    assert_eq!(counts["twilio_webhooks_refused"], 4);
    let refused = query(
        &env,
        "SELECT result FROM audit_log WHERE action = 'twilio_webhook_refused'",
    );
    assert_eq!(refused.len(), 4);
    assert!(
        refused
            .iter()
            .all(|r| !r[0].as_str().unwrap().contains(TOKEN))
    );

    // Read back through commsctl (the tools) and REST: newest first, threads, untrusted.
    let listed = json_of(&env.commsctl(&["sms", "list", "--account", &account, "--json"]));
    assert_eq!(listed["accountId"], json!(account));
    assert_eq!(listed["untrusted"], true);
    let ids: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            mms.as_str(),
            &sid("SM", 5),
            &sid("SM", 4),
            &sid("SM", 3),
            &sid("SM", 1)
        ]
    );
    let first_msg = &listed["messages"][4];
    assert_eq!(first_msg["threadId"], json!(format!("{OURS}:{THEIRS}")));
    assert_eq!(first_msg["direction"], "inbound");
    assert_eq!(listed["messages"][0]["media"][0]["state"], "saved");
    let page = json_of(&env.commsctl(&[
        "sms",
        "list",
        "--account",
        &account,
        "--limit",
        "2",
        "--json",
    ]));
    let older = json_of(&env.commsctl(&[
        "sms",
        "list",
        "--account",
        &account,
        "--limit",
        "2",
        "--json",
        "--cursor",
        page["nextCursor"].as_str().unwrap(),
    ]));
    assert_eq!(older["messages"][0]["id"], json!(sid("SM", 4)));
    let thread =
        json_of(&env.commsctl(&["sms", "thread", THEIRS, "--account", &account, "--json"]));
    assert_eq!(thread["threadId"], json!(format!("{OURS}:{THEIRS}")));
    assert_eq!(thread["messages"].as_array().unwrap().len(), 5);
    let text = env.commsctl(&["sms", "list", "--account", &account]);
    assert!(
        text.stdout.contains("Running 10 min late") && text.stdout.contains("[optOut]"),
        "{}",
        text.stdout
    );
    let bad = env.commsctl(&["sms", "list", "--account", &account, "--number", "555"]);
    assert!(
        bad.code != 0 && bad.stderr.contains("number"),
        "{}",
        bad.stderr
    );

    let key = {
        let run = env.commsctl(&["keys", "create", "reader", "--grants", "read", "--json"]);
        let created: Value = serde_json::from_str(&run.stdout).unwrap();
        created["token"].as_str().unwrap().to_owned()
    };
    let api = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| {
        let r = http
            .get(format!("{api}{path}"))
            .bearer_auth(&key)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (code, inbox) = get(&format!("/api/v1/sms/inbox?accountId={account}&limit=1"));
    assert_eq!(code, 200, "{inbox}");
    assert_eq!(inbox["messages"][0]["id"], json!(mms));
    assert!(inbox["nextCursor"].is_string());
    let (code, thread) = get(&format!(
        "/api/v1/sms/threads/%2B15552223333?accountId={account}"
    ));
    assert_eq!(code, 200, "{thread}");
    assert_eq!(thread["messages"].as_array().unwrap().len(), 5);
    let (code, err) = get(&format!("/api/v1/sms/inbox?accountId={account}&limit=0"));
    assert_eq!((code, &err["details"]["field"]), (400, &json!("limit")));

    // kill -9 the moment the 200 arrives: the message is there after restart.
    let last = sid("SM", 7);
    assert_eq!(
        twilio.post(path, &inbound(&last, "sent right before the crash")),
        200
    );
    daemon.signal("KILL");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 128 + 9);
    let _daemon = start_with(&env, &media.base, "media_max_bytes = 1000\n");
    let rows = query(
        &env,
        &format!("SELECT body FROM sms_messages WHERE message_sid = '{last}'"),
    );
    assert_eq!(rows, [[json!("sent right before the crash")]]);
    let after = json_of(&env.commsctl(&[
        "sms",
        "list",
        "--account",
        &account,
        "--limit",
        "1",
        "--json",
    ]));
    assert_eq!(after["messages"][0]["body"], "sent right before the crash");

    // Bodies never reach the log.
    let log = std::fs::read_to_string(env.log_path()).unwrap();
    assert!(log.contains("refused a Twilio webhook"));
    for secret in ["Running 10 min late", "sent right before the crash", TOKEN] {
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }
}

#[test]
fn the_daemon_agrees_with_twilios_request_validator() {
    let (env, _daemon, _account) = with_account(None, "");
    let twilio = Scripted::new(&env);
    let path = "/webhooks/twilio/sms";
    let url = format!("{PUBLIC}{path}");
    let base = inbound(
        &sid("SM", 100),
        "Yes, see you at 3 — thanks! 😀 a+b=c & 100%",
    );
    let mut repeated = inbound(&sid("SM", 101), "repeated keys");
    repeated.extend(pairs(&[
        ("MediaUrl", "https://x/2"),
        ("MediaUrl", "https://x/1"),
    ]));
    let mut injected = inbound(&sid("SM", 102), "added");
    injected.push(("Injected".into(), "1".into()));
    // (what, signed for, signed params, received params)
    type Params = Vec<(String, String)>;
    let cases: Vec<(&str, String, Params, Params)> = vec![
        (
            "the tunnel's https URL",
            url.clone(),
            base.clone(),
            base.clone(),
        ),
        (
            "signed for http",
            format!("http://sms.example.test{path}"),
            base.clone(),
            base.clone(),
        ),
        (
            "with the default port",
            format!("https://sms.example.test:443{path}"),
            base.clone(),
            base.clone(),
        ),
        (
            "repeated keys",
            url.clone(),
            repeated.clone(),
            repeated.clone(),
        ),
        (
            "an added parameter",
            url.clone(),
            inbound(&sid("SM", 102), "added"),
            injected,
        ),
    ];
    let wire: Vec<Value> = cases
        .iter()
        .map(|(_, signed_url, signed, received)| {
            json!({
                "token": TOKEN, "signed_url": signed_url, "signed_params": signed,
                "url": url, "params": received, "body": null, "signature": "",
            })
        })
        .collect();
    // First the signatures Twilio's library computes, then its verdicts on them.
    let computed = oracle(&Value::Array(wire.clone()));
    let judged: Vec<Value> = wire
        .into_iter()
        .zip(computed.as_array().unwrap())
        .map(|(mut case, answer)| {
            case["signature"] = answer["computed"].clone();
            case
        })
        .collect();
    let verdicts = oracle(&Value::Array(judged.clone()));
    for (i, (what, _, _, received)) in cases.iter().enumerate() {
        let valid = verdicts[i]["valid"].as_bool().unwrap();
        let status = twilio.post_signed(path, received, judged[i]["signature"].as_str().unwrap());
        assert_eq!(
            status == 200,
            valid,
            "{what}: the daemon answered {status}, Twilio's validator says {valid}"
        );
    }
    assert_eq!(
        verdicts
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["valid"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, false, true, true, false]
    );

    // The JSON-body variant: the hash in the URL, the URL alone signed.
    let body = json!({ "AccountSid": AC, "MessageSid": sid("SM", 103), "From": THEIRS, "To": OURS, "Body": "json" }).to_string();
    let hash = hex::encode(sha2::Sha256::digest(body.as_bytes()));
    let target = format!("{path}?{BODY_HASH_PARAM}={hash}");
    let case = json!([{
        "token": TOKEN, "signed_url": format!("{PUBLIC}{target}"), "signed_params": [],
        "url": format!("{PUBLIC}{target}"), "params": null, "body": body, "signature": "",
    }]);
    let sig = oracle(&case)[0]["computed"].as_str().unwrap().to_owned();
    let mut judged = case.clone();
    judged[0]["signature"] = json!(sig);
    assert_eq!(oracle(&judged)[0]["valid"], true);
    let post = |b: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}{target}", twilio.webhooks))
            .header("content-type", "application/json")
            .header("x-twilio-signature", &sig)
            .body(b.to_owned())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post(&body.replace("json", "JSON")), 403);
    assert_eq!(post(&body), 200);
    let rows = query(&env, "SELECT message_sid FROM sms_messages ORDER BY seq");
    let sids: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(sids, [sid("SM", 100), sid("SM", 101), sid("SM", 103)]);
}

#[test]
fn the_sandbox_reads_sms_with_no_account() {
    let env = Env::new();
    let _daemon = env.start();
    for (from, body) in [
        (THEIRS, "first"),
        ("+15554445555", "other"),
        (THEIRS, "STOP"),
    ] {
        let run = env.commsctl(&["sandbox", "receive", "sms", "--from", from, "--body", body]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let listed = json_of(&env.commsctl(&["sms", "list", "--json"]));
    assert_eq!(listed["accountId"], "sandbox");
    let bodies: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["STOP", "other", "first"]);
    assert_eq!(listed["messages"][0]["keyword"], "optOut");
    let thread = json_of(&env.commsctl(&["sms", "thread", THEIRS, "--json"]));
    assert_eq!(thread["messages"].as_array().unwrap().len(), 2);
    assert_eq!(thread["threadId"], json!(format!("sandbox:{THEIRS}")));
    let by_number = json_of(&env.commsctl(&["sms", "list", "--number", "+15554445555", "--json"]));
    assert_eq!(by_number["messages"].as_array().unwrap().len(), 1);

    // The dashboard reads the same threads, every account's, signed in.
    let login = json_of(&env.commsctl(&["dashboard", "--no-browser", "--json"]));
    let url = login["url"].as_str().unwrap();
    let base = url.split("/login").next().unwrap();
    let http = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let anonymous = reqwest::blocking::get(format!("{base}/dashboard/api/sms/threads")).unwrap();
    assert_eq!(anonymous.status(), 401, "the threads need a session");
    assert!(http.get(url).send().unwrap().status().is_success());
    let threads: Value = http
        .get(format!("{base}/dashboard/api/sms/threads"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(threads["untrusted"], true);
    let list = threads["threads"].as_array().unwrap();
    let numbers: Vec<&str> = list
        .iter()
        .map(|t| t["theirNumber"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, [THEIRS, "+15554445555"], "most recent first");
    assert_eq!(list[0]["messages"], 2);
    assert_eq!(list[0]["accountId"], "sandbox");
    assert_eq!(list[0]["last"]["body"], "STOP");
    assert_eq!(list[0]["last"]["direction"], "inbound");
    let thread_id = list[0]["threadId"].as_str().unwrap();
    let one: Value = http
        .get(format!("{base}/dashboard/api/sms/threads/{thread_id}"))
        .query(&[("accountId", "sandbox")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["threadId"], thread_id);
    let bodies: Vec<&str> = one["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["STOP", "first"]);
    let refused = http
        .get(format!("{base}/dashboard/api/sms/threads?limit=0"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().unwrap()["details"]["field"],
        "limit"
    );
}

/// The receiving side and the sending side meet: a STOP posted to the
/// webhook opts the number out, so staging to it is refused before any call
/// to Twilio (START lets it through again), and a signed status callback
/// moves the sent item's delivery on; a later, older status does not undo it.
#[test]
fn webhooks_feed_the_opt_outs_and_the_delivery_status() {
    let prism = Prism::start();
    let env = Env::new();
    let _daemon = start_with(&env, &prism.base, "[outbox]\nhold_window = \"0s\"\n");
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let twilio = Scripted::new(&env);

    // STOP, as a patient texts it.
    assert_eq!(
        twilio.post("/webhooks/twilio/sms", &inbound(&sid("SM", 901), "Stop")),
        200
    );
    let list = json_of(&env.commsctl(&["sms", "optouts", "list", "--json"]));
    assert_eq!(list["optOuts"][0]["number"], THEIRS, "{list}");
    let refused = crate::sms_send::stage(&env, &account, THEIRS, "Reminder: 9:00");
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("opted out"), "{}", refused.stderr);
    // START: welcome back.
    assert_eq!(
        twilio.post("/webhooks/twilio/sms", &inbound(&sid("SM", 902), "START")),
        200
    );
    let list = json_of(&env.commsctl(&["sms", "optouts", "list", "--json"]));
    assert_eq!(list["optOuts"], json!([]), "{list}");

    // A send through Twilio's contract, then its status callbacks.
    let staged = json_of(&crate::sms_send::stage(
        &env,
        &account,
        THEIRS,
        "Reminder: 9:00",
    ));
    let id = staged["id"].as_str().unwrap().to_owned();
    assert_eq!(env.commsctl(&["approve", &id]).code, 0);
    let sent = crate::sms_send::settled(&env, &id);
    assert_eq!(sent["state"], "sent", "{sent}");
    let detail = sent["delivery"]["detail"].as_str().unwrap().to_owned();
    let message_sid = detail
        .split_whitespace()
        .find(|w| w.starts_with("SM") || w.starts_with("MM"))
        .unwrap_or_else(|| panic!("no MessageSid in {detail}"))
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    let status = |s: &str| {
        pairs(&[
            ("MessageSid", &message_sid),
            ("MessageStatus", s),
            ("AccountSid", AC),
            ("From", OURS),
            ("To", THEIRS),
            ("ApiVersion", "2010-04-01"),
        ])
    };
    assert_eq!(
        twilio.post("/webhooks/twilio/status", &status("delivered")),
        200
    );
    assert_eq!(twilio.post("/webhooks/twilio/status", &status("sent")), 200);
    let shown = json_of(&env.commsctl(&["outbox", "show", &id, "--json"]));
    assert!(
        shown["delivery"].to_string().contains("delivered"),
        "the final status stays: {shown}"
    );
    // An unsigned callback changes nothing.
    let forged = twilio.post_signed(
        "/webhooks/twilio/status",
        &status("failed"),
        "bm90IGEgc2lnbmF0dXJl",
    );
    assert_eq!(forged, 403);
    let again = json_of(&env.commsctl(&["outbox", "show", &id, "--json"]));
    assert_eq!(again["delivery"], shown["delivery"]);
}

/// `commsctl sms send` stages through `sms_send`: the answer shows the
/// encoding and the character forcing UCS-2, a bad number is refused by
/// name and nothing is stored.
#[test]
fn commsctl_sms_send_stages_with_the_preview() {
    let env = Env::new();
    let _daemon = env.start();
    let run = env.commsctl(&[
        "sms",
        "send",
        "--to",
        "+14155550100",
        "It’s tomorrow at 9:00",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("pending_approval"), "{}", run.stdout);
    assert!(
        run.stdout.contains("UCS-2") && run.stdout.contains("U+2019"),
        "{}",
        run.stdout
    );
    let staged = json_of(&env.commsctl(&[
        "sms",
        "send",
        "--to",
        "+14155550101",
        "See you at 9:00",
        "--json",
    ]));
    assert_eq!(staged["item"]["channel"], "sms", "{staged}");
    let preview = staged["preview"].as_str().unwrap();
    assert!(
        preview.contains("GSM-7, 1 segment") && preview.contains("See you at 9:00"),
        "{staged}"
    );
    let refused = env.commsctl(&["sms", "send", "--to", "12345", "x"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("to:"), "{}", refused.stderr);
    let items = json_of(&env.commsctl(&["outbox", "list", "--json"]));
    assert_eq!(items["items"].as_array().map(Vec::len), Some(2), "{items}");
}

/// What the polled Twilio lists: pages of messages, and the query of
/// every list request.
#[derive(Default)]
struct PolledState {
    pages: Vec<Vec<Value>>,
    queries: Vec<Vec<(String, String)>>,
}

/// A scripted Twilio for polling: the account check, and
/// `GET .../Messages.json` answering `pages` one `Page` at a time.
struct PolledTwilio {
    base: String,
    state: std::sync::Arc<std::sync::Mutex<PolledState>>,
    _runtime: tokio::runtime::Runtime,
}

impl PolledTwilio {
    fn start() -> PolledTwilio {
        use axum::extract::{Path, Query};
        use axum::routing::get;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new(PolledState::default()));
        let shared = state.clone();
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}",
                get(|Path(sid): Path<String>| async move {
                    let sid = sid.trim_end_matches(".json").to_owned();
                    axum::Json(json!({ "sid": sid, "friendly_name": "Polled clinic", "status": "active" }))
                }),
            )
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                get(
                    move |Path(sid): Path<String>, Query(query): Query<Vec<(String, String)>>| {
                        let shared = shared.clone();
                        async move {
                            let mut s = shared.lock().unwrap();
                            let page: usize = query
                                .iter()
                                .find(|(k, _)| k == "Page")
                                .map_or(0, |(_, v)| v.parse().unwrap());
                            s.queries.push(query);
                            let next = (page + 1 < s.pages.len()).then(|| {
                                format!(
                                    "/2010-04-01/Accounts/{sid}/Messages.json?Page={}&PageToken=PA{}",
                                    page + 1,
                                    page + 1
                                )
                            });
                            let messages = s.pages.get(page).cloned().unwrap_or_default();
                            axum::Json(json!({ "messages": messages, "next_page_uri": next }))
                        }
                    },
                ),
            );
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        PolledTwilio {
            base,
            state,
            _runtime: runtime,
        }
    }

    fn list(&self, pages: Vec<Vec<Value>>) {
        self.state.lock().unwrap().pages = pages;
    }

    fn lists(&self) -> usize {
        self.state.lock().unwrap().queries.len()
    }
}

/// A message as Twilio lists it, sent `n` seconds into a fixed minute.
fn listed(n: u64, direction: &str, body: &str) -> Value {
    let (from, to) = if direction == "inbound" {
        (THEIRS, OURS)
    } else {
        (OURS, THEIRS)
    };
    json!({
        "sid": sid("SM", n), "account_sid": AC, "messaging_service_sid": MG,
        "from": from, "to": to, "body": body, "direction": direction,
        "status": if direction == "inbound" { "received" } else { "delivered" },
        "date_created": format!("Fri, 04 Dec 2026 10:00:{n:02} +0000"),
        "date_sent": format!("Fri, 04 Dec 2026 10:00:{n:02} +0000"),
    })
}

fn counter(env: &Env, name: &str) -> u64 {
    env.status_json()["counts"][name].as_u64().unwrap_or(0)
}

/// With no webhook exposed, `[twilio] poll_interval` lists recent messages:
/// pages are followed, only inbound messages are stored, each once across
/// overlapping polls and a restart, and a polled STOP opts the number out.
#[test]
fn polling_stores_each_inbound_message_once_across_overlaps_and_restarts() {
    let twilio = PolledTwilio::start();
    let env = Env::new();
    // `poll_interval` is validated: too often is refused, naming the key.
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[twilio]\napi_base = \"{}\"\npoll_interval = \"2s\"\n",
            twilio.base
        ),
    )
    .unwrap();
    let refused = env.start_failing();
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("key `twilio.poll_interval`"),
        "{}",
        refused.stderr
    );

    // The account is added with polling off: nothing is listed.
    let daemon = start_with(&env, &twilio.base, "");
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(counter(&env, "twilio_poll_requests"), 0);
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(15)).code, 0);
    assert_eq!(twilio.lists(), 0);

    // Poll 1 (at start): two pages, newest first, with an outbound message.
    twilio.list(vec![
        vec![
            listed(2, "inbound", "Can I move my appointment?"),
            listed(1, "outbound", "Reminder: 9:00 tomorrow"),
        ],
        vec![listed(0, "inbound", "Hello")],
    ]);
    let poll = "poll_interval = \"10s\"\n";
    let daemon = start_with(&env, &twilio.base, poll);
    assert!(eventually(Duration::from_secs(10), || counter(
        &env,
        "twilio_poll_requests"
    ) == 1));
    assert_eq!(twilio.lists(), 2, "both pages were followed");
    // The request is counted once answered, before its messages are stored.
    assert!(eventually(Duration::from_secs(5), || counter(
        &env,
        "twilio_poll_stored"
    ) == 2));

    // Poll 2 (10 s later): the window overlaps the first.
    twilio.list(vec![vec![
        listed(3, "inbound", "Thanks"),
        listed(2, "inbound", "Can I move my appointment?"),
    ]]);
    assert!(eventually(Duration::from_secs(20), || counter(
        &env,
        "twilio_poll_requests"
    ) == 2));
    // The request is counted once answered, before its messages are stored.
    assert!(eventually(Duration::from_secs(5), || counter(
        &env,
        "twilio_poll_stored"
    ) == 3));
    assert_eq!(counter(&env, "twilio_inbound_duplicates"), 0);
    // The loop stops at shutdown.
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(15)).code, 0);

    // A restart: the first poll overlaps all of the last one's, and a STOP.
    twilio.list(vec![vec![
        listed(4, "inbound", " stop "),
        listed(3, "inbound", "Thanks"),
        listed(2, "inbound", "Can I move my appointment?"),
    ]]);
    let _daemon = start_with(&env, &twilio.base, poll);
    assert!(eventually(Duration::from_secs(10), || counter(
        &env,
        "twilio_poll_requests"
    ) == 1));
    assert!(eventually(Duration::from_secs(5), || counter(
        &env,
        "twilio_poll_stored"
    ) == 1));
    // Oldest first: the two already stored came before the STOP.
    assert_eq!(counter(&env, "twilio_inbound_duplicates"), 2);

    let rows = query(
        &env,
        "SELECT message_sid, direction, source, their_number, body FROM sms_messages ORDER BY message_sid",
    );
    let sids: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        sids,
        [sid("SM", 0), sid("SM", 2), sid("SM", 3), sid("SM", 4)]
    );
    for row in &rows {
        assert_eq!(row[1], "inbound");
        assert_eq!(row[2], "poll");
        assert_eq!(row[3], THEIRS);
    }
    let optouts = || json_of(&env.commsctl(&["sms", "optouts", "list", "--json"]));
    // The keyword is recorded right after its message is stored.
    assert!(eventually(Duration::from_secs(5), || optouts()["optOuts"]
        .as_array()
        .is_some_and(|a| !a.is_empty())));
    let optouts = optouts();
    assert_eq!(optouts["optOuts"][0]["number"], THEIRS, "{optouts}");
    assert_eq!(optouts["optOuts"].as_array().unwrap().len(), 1);
    let thread = json_of(&env.commsctl(&[
        "sms",
        "list",
        "--account",
        &account,
        "--number",
        THEIRS,
        "--json",
    ]));
    assert_eq!(thread["messages"][0]["keyword"], "optOut", "{thread}");

    // Every list request asked for a recent window of all the account's
    // messages (a Messaging Service picks among numbers: no `To`).
    let queries = twilio.state.lock().unwrap().queries.clone();
    assert_eq!(queries.len(), 4);
    for q in queries
        .iter()
        .filter(|q| !q.iter().any(|(k, _)| k == "Page"))
    {
        assert!(q.iter().any(|(k, _)| k == "DateSent>"), "{q:?}");
        assert!(!q.iter().any(|(k, _)| k == "To"), "{q:?}");
    }
}
