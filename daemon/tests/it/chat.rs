//! Google Chat through the real daemon against the Chat API fake (every
//! request checked against chat.v1.json): webhook accounts (the URL only
//! in the vault), posting through the outbox, the per-space write window
//! under a burst (the benchmark), and the URL absent from logs, the
//! database and tool results.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::accounts::PASSPHRASE;
use crate::google_fake::chat::ChatFake;
use crate::harness::{Env, PORT_ZERO_CONFIG, assert_log_holds_no_secret};

const SPACE: &str = "spaces/AAAAfront";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(env: &Env, fake: &ChatFake, chat: &str) -> crate::harness::Daemon {
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n[google.endpoints]\nchat = \"{}\"\n[chat]\n{chat}",
            fake.base
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    env.spawn_traced(cmd)
}

/// `commsctl accounts add chat-webhook` with the URL on stdin.
pub(crate) fn add_webhook(env: &Env, url: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "accounts",
        "add",
        "chat-webhook",
        "--label",
        "team",
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut child = env
        .commsctl_command(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refused URL may end commsctl before it reads stdin.
    match child.stdin.take().unwrap().write_all(url.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("cannot write commsctl's stdin: {e}"),
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(env: &Env, args: &[&str]) -> Value {
    let run = env.commsctl(args);
    assert_eq!(run.code, 0, "commsctl {args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn wait_state(env: &Env, item: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let shown = json(env, &["outbox", "show", item, "--json"]);
        if !matches!(shown["state"].as_str(), Some("approved" | "sending")) {
            return shown;
        }
        assert!(Instant::now() < deadline, "still not dispatched: {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_webhook_account_posts_through_the_outbox_and_its_url_stays_in_the_vault() {
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start());
    fake.add_space(SPACE, "Front desk");
    let url = fake.add_webhook(SPACE);
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let env = Env::new();
    let _daemon = start(&env, &fake, "");

    // A URL that is not a webhook is refused, naming the field, without echoing it.
    let (code, _, stderr) = add_webhook(
        &env,
        "https://example.org/v1/spaces/X/messages?key=k&token=SEKRIT",
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("not a Google Chat webhook URL"), "{stderr}");
    assert!(!stderr.contains("SEKRIT"), "{stderr}");

    let (code, stdout, stderr) = add_webhook(&env, &url, &["--space-name", "Front desk", "--test"]);
    assert_eq!(code, 0, "{stderr}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    let id = added["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["account"]["kind"], "chat_webhook");
    assert_eq!(added["account"]["channels"], serde_json::json!(["chat"]));
    assert!(
        stdout.contains(".../spaces/AAAAfront/messages?key=***&token=***"),
        "{stdout}"
    );
    assert!(!stdout.contains(&token));
    assert!(added["testMessage"].as_str().unwrap().starts_with(SPACE));
    assert_eq!(fake.messages(SPACE).len(), 1, "the test post");

    // Staged through the outbox, approved by the human, posted by the webhook.
    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            &id,
            SPACE,
            "Dr. Roe runs 20 minutes late",
            "--thread",
            "late-2026-06-01",
            "--json",
        ],
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    // The human sees the space by the name given to the webhook.
    assert!(
        staged["preview"]
            .as_str()
            .unwrap()
            .starts_with("Chat to: Front desk (spaces/AAAAfront)\nThread:  late-2026-06-01\n"),
        "{}",
        staged["preview"]
    );
    assert_eq!(
        fake.messages(SPACE).len(),
        1,
        "nothing leaves before approval"
    );
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "sent", "{shown}");
    // A reply in the thread commsd started (thread.threadKey).
    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            &id,
            SPACE,
            "Now 30 minutes",
            "--thread",
            "late-2026-06-01",
            "--json",
        ],
    );
    let reply = staged["item"]["id"].as_str().unwrap().to_owned();
    assert_eq!(env.commsctl(&["approve", &reply]).code, 0);
    assert_eq!(
        wait_state(&env, &reply, Duration::from_secs(15))["state"],
        "sent"
    );
    let posted = fake.messages(SPACE);
    assert_eq!(posted.len(), 3);
    assert_eq!(
        posted[1].thread, posted[2].thread,
        "the reply is in the thread"
    );
    assert_eq!(posted[1].thread_key.as_deref(), Some("late-2026-06-01"));
    assert!(
        posted[1]
            .request_id
            .as_deref()
            .unwrap()
            .starts_with(&format!("commsd-{item}-"))
    );

    // A webhook posts to its own space only.
    // A webhook posts to its one space: another is refused at staging,
    // naming `space`, and nothing is stored.
    let before = json(&env, &["outbox", "list", "--json"])["items"]
        .as_array()
        .unwrap()
        .len();
    let refused = env.commsctl(&[
        "chat",
        "send",
        "--account",
        &id,
        "spaces/Other",
        "hi",
        "--json",
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("space:") && refused.stderr.contains("posts there only"),
        "{}",
        refused.stderr
    );
    let after = json(&env, &["outbox", "list", "--json"])["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing stored");

    // Tool results (accounts, outbox) never hold the URL; neither do the
    // database files nor the trace-level log.
    for args in [
        vec!["accounts", "list", "--json"],
        vec!["outbox", "list", "--json"],
    ] {
        let run = env.commsctl(&args);
        assert!(!run.stdout.contains(&token), "{args:?}");
        assert!(!run.stdout.contains("AIzaSyFakeKey"), "{args:?}");
    }
    for entry in std::fs::read_dir(&env.data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("commsd.db")
        {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(&token),
                "{} holds the webhook token",
                path.display()
            );
        }
    }
    assert_log_holds_no_secret(
        &env.log_path(),
        "Chat webhook account saved",
        &[
            ("webhook token", &token),
            ("webhook key", "AIzaSyFakeKey-7Xq"),
        ],
    );
    fake.assert_no_violations();
}

/// The benchmark: 120 approved posts to one space finish in the shortest
/// time the per-space limit allows, with no 429 from the fake. The limit is
/// Google's 60 writes per window; the window is 3 s here instead of 60 s
/// so the run takes seconds (the fake enforces the same window).
#[test]
fn a_burst_of_120_posts_keeps_to_the_space_limit_without_a_429() {
    let window = Duration::from_secs(3);
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start_with_rate(60, window));
    fake.add_space(SPACE, "Front desk");
    let url = fake.add_webhook(SPACE);
    let env = Env::new();
    let _daemon = start(
        &env,
        &fake,
        "space_write_limit = 60\nspace_write_window = \"3s\"\n",
    );
    let (code, stdout, stderr) = add_webhook(&env, &url, &[]);
    assert_eq!(code, 0, "{stderr}");
    let id = serde_json::from_str::<Value>(&stdout).unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut items = Vec::new();
    for i in 0..120 {
        let staged = json(
            &env,
            &[
                "chat",
                "send",
                "--account",
                &id,
                SPACE,
                &format!("post {i}"),
                "--json",
            ],
        );
        items.push(staged["item"]["id"].as_str().unwrap().to_owned());
    }
    let started = Instant::now();
    let mut args = vec!["approve"];
    args.extend(items.iter().map(String::as_str));
    let run = env.commsctl(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    while fake.messages(SPACE).len() < 120 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} posted",
            fake.messages(SPACE).len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    eprintln!(
        "BENCH chat burst: 120 posts, limit 60 per {window:?}: {took:?}, 429s from the fake: {}",
        fake.rate_refusals()
    );
    assert_eq!(fake.rate_refusals(), 0, "no 429");
    // 60 at once, the next 60 once the first leave the window.
    assert!(took >= window, "{took:?}");
    assert!(
        took < window * 2,
        "{took:?}: slower than the limit requires"
    );
    let texts: Vec<String> = fake
        .messages(SPACE)
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(texts.len(), 120);
    fake.assert_no_violations();
}

const ADA: &str = "ada@practice.example";

pub(crate) fn restart(env: &Env, daemon: crate::harness::Daemon) -> crate::harness::Daemon {
    daemon.signal("TERM");
    let stopped = daemon.wait(Duration::from_secs(20));
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    env.spawn_traced(cmd)
}

fn stored(env: &Env) -> Vec<String> {
    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT name FROM chat_messages ORDER BY create_time")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A Google account with the chat module (signed in at the real OAuth
/// server, its tokens introspected by the fake, so each method's scopes are
/// enforced): reads, sends through the API with a requestId that makes a
/// re-approved lost send return the same message, errors users hit, and a
/// followed space polled across pages and restarts without duplicates.
#[test]
fn a_google_account_reads_posts_once_and_follows_a_space() {
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start());
    fake.add_space(SPACE, "Front desk");
    fake.add_dm("spaces/DMbob", "bob@practice.example");
    let oauth = crate::oauth::OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    for i in 0..130 {
        fake.post(SPACE, "bob@practice.example", &format!("before {i}"), None);
    }
    let follow = format!("poll_interval = \"15s\"\n[chat.follow]\n\"{ADA}\" = [\"{SPACE}\"]\n");
    let (env, daemon) = crate::accounts::start_with(
        &oauth,
        &format!("chat = \"{}\"\n", fake.base),
        &format!("[chat]\n{follow}"),
    );
    crate::accounts::set_client(&env);
    let (_, done) =
        crate::accounts::add_google(&env, &oauth, ADA, &["--tier", "1", "--with", "chat"]);
    let id = done["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        done["account"]["channels"],
        serde_json::json!(["email", "chat"]),
        "{done}"
    );

    // Reads.
    let spaces = json(&env, &["chat", "spaces", "--account", ADA, "--json"]);
    assert_eq!(spaces["spaces"].as_array().unwrap().len(), 2, "{spaces}");
    let dm = json(
        &env,
        &[
            "chat",
            "spaces",
            "--account",
            ADA,
            "--dm-with",
            "bob@practice.example",
            "--json",
        ],
    );
    assert_eq!(dm["spaces"][0]["name"], "spaces/DMbob");
    let page = json(
        &env,
        &[
            "chat",
            "messages",
            "--account",
            ADA,
            SPACE,
            "--limit",
            "50",
            "--json",
        ],
    );
    assert_eq!(page["messages"].as_array().unwrap().len(), 50);
    assert_eq!(page["messages"][0]["text"], "before 0");
    assert!(page["untrusted"].as_str().unwrap().contains("untrusted"));
    let thread = page["messages"][3]["threadId"].as_str().unwrap().to_owned();
    let one = json(
        &env,
        &[
            "chat",
            "messages",
            "--account",
            ADA,
            SPACE,
            "--thread",
            &thread,
            "--json",
        ],
    );
    assert_eq!(one["messages"].as_array().unwrap().len(), 1, "{one}");

    // A send whose answer is lost ends `unknown`; the human's re-approval
    // sends the same requestId and Google returns the message it made.
    fake.inject(crate::google_fake::Fault {
        after_processing: true,
        times: 1,
        ..crate::google_fake::Fault::new("chat.spaces.messages.create", 500)
    });
    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            ADA,
            SPACE,
            "Clinic closes at 4 today",
            "--json",
        ],
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    // The preview names the space as Google shows it (spaces.get).
    assert!(
        staged["preview"]
            .as_str()
            .unwrap()
            .starts_with("Chat to: Front desk (spaces/AAAAfront)\n"),
        "{}",
        staged["preview"]
    );
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "unknown", "{shown}");
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "sent", "{shown}");
    let ours: Vec<_> = fake
        .messages(SPACE)
        .into_iter()
        .filter(|m| m.text == "Clinic closes at 4 today")
        .collect();
    assert_eq!(ours.len(), 1, "posted once");

    // The project has no Chat app: the error says where to configure it.
    fake.set_app_not_configured(true);
    let run = env.commsctl(&["chat", "spaces", "--account", ADA]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("chat_app_not_configured") || run.stderr.contains("Configuration"),
        "{}",
        run.stderr
    );
    let staged = json(
        &env,
        &["chat", "send", "--account", &id, SPACE, "hello", "--json"],
    );
    let refused = staged["item"]["id"].as_str().unwrap().to_owned();
    assert_eq!(env.commsctl(&["approve", &refused]).code, 0);
    let shown = wait_state(&env, &refused, Duration::from_secs(15));
    assert_eq!(shown["state"], "failed");
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .contains("chat_app_not_configured"),
        "{shown}"
    );
    fake.set_app_not_configured(false);

    // Following: the first poll ran before the account existed; after a
    // restart it stores the 130 earlier messages across two pages, and not
    // the one commsd posted.
    let daemon = restart(&env, daemon);
    assert!(
        crate::harness::eventually(Duration::from_secs(20), || stored(&env).len() >= 130),
        "{}",
        stored(&env).len()
    );
    std::thread::sleep(Duration::from_millis(300));
    let names = stored(&env);
    assert_eq!(
        names.len(),
        130,
        "de-duplicated, commsd's own post left out"
    );
    for i in 0..3 {
        fake.post(SPACE, "bob@practice.example", &format!("after {i}"), None);
    }
    let reads = fake
        .counts()
        .per_method
        .get("chat.spaces.messages.list")
        .copied()
        .unwrap_or(0);
    let _daemon = restart(&env, daemon);
    assert!(crate::harness::eventually(
        Duration::from_secs(20),
        || stored(&env).len() >= 133
    ));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stored(&env).len(), 133, "no duplicates across restarts");
    let spent = fake.counts().per_method["chat.spaces.messages.list"] - reads;
    assert_eq!(spent, 1, "a restart reads from the cursor: one page");
    eprintln!(
        "BENCH chat follow: one quiet space costs 1 request per poll; at the default 60 s interval 10 quiet spaces cost {} requests an hour",
        10 * 3600 / 60
    );
    fake.assert_no_violations();
}

/// A text longer than one Chat message is refused at staging unless the
/// caller asks for numbered parts; with `--split` one approval posts the
/// parts in order in one thread, each with its own requestId, so approving
/// again after a lost answer posts only what is missing.
#[test]
fn a_long_text_is_refused_or_posted_as_numbered_parts_once() {
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start());
    fake.add_space(SPACE, "Front desk");
    let url = fake.add_webhook(SPACE);
    let env = Env::new();
    let _daemon = start(&env, &fake, "");
    let (code, stdout, stderr) = add_webhook(&env, &url, &[]);
    assert_eq!(code, 0, "{stderr}");
    let id = serde_json::from_str::<Value>(&stdout).unwrap()["account"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long: String = (0..1300).map(|i| format!("word{i:04} ")).collect();
    assert!(long.chars().count() > 8192);

    let refused = env.commsctl(&["chat", "send", "--account", &id, SPACE, &long, "--json"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("text") && refused.stderr.contains("--split"),
        "{}",
        refused.stderr
    );
    assert!(
        json(&env, &["outbox", "list", "--json"])["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            &id,
            SPACE,
            &long,
            "--split",
            "--json",
        ],
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    let preview = staged["preview"].as_str().unwrap();
    assert!(
        preview.contains("Posted as 3 numbered parts"),
        "{}",
        &preview[..100]
    );
    // The first part's answer is lost after Google made the message.
    fake.inject(crate::google_fake::Fault {
        after_processing: true,
        ..crate::google_fake::Fault::new("chat.spaces.messages.create", 500)
    });
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "unknown", "{shown}");
    assert_eq!(fake.messages(SPACE).len(), 1);
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "sent", "{shown}");

    let posted = fake.messages(SPACE);
    assert_eq!(posted.len(), 3, "no part twice");
    let mut rebuilt = String::new();
    for (i, m) in posted.iter().enumerate() {
        assert!(
            m.text.starts_with(&format!("({}/3) ", i + 1)),
            "{}",
            &m.text[..12]
        );
        assert!(m.text.chars().count() <= 4096);
        assert_eq!(m.thread, posted[0].thread, "one thread");
        assert_eq!(
            m.thread_key.as_deref(),
            Some(format!("commsd-{item}").as_str())
        );
        assert!(
            m.request_id
                .as_deref()
                .unwrap()
                .ends_with(&format!("-{}", i + 1))
        );
        rebuilt.push_str(m.text.split_once(") ").unwrap().1);
        rebuilt.push(' ');
    }
    assert_eq!(
        rebuilt.split_whitespace().collect::<Vec<_>>(),
        long.split_whitespace().collect::<Vec<_>>()
    );
    fake.assert_no_violations();
}

/// A message to `users/<email>` goes to the direct message with that
/// person: an existing DM is found when staged (the preview names it); a
/// person with no DM is refused, naming the setting, until the human sets
/// `[chat] create_direct_messages`; then the DM is opened (`spaces.setup`)
/// only once the item is approved.
#[test]
fn direct_messages_by_email_are_found_or_opened_only_when_allowed() {
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start());
    fake.add_dm("spaces/DMbob", "bob@practice.example");
    let oauth = crate::oauth::OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    let (env, daemon) = crate::accounts::start_with(
        &oauth,
        &format!("chat = \"{}\"\n", fake.base),
        "[chat]\ncreate_direct_messages = false\n",
    );
    crate::accounts::set_client(&env);
    crate::accounts::add_google(&env, &oauth, ADA, &["--with", "chat,chat-dm"]);

    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            ADA,
            "users/Bob@Practice.example",
            "Your results are in",
            "--json",
        ],
    );
    assert_eq!(
        staged["item"]["recipients"],
        serde_json::json!(["spaces/DMbob"]),
        "{staged}"
    );
    assert!(
        staged["preview"]
            .as_str()
            .unwrap()
            .starts_with("Chat to: Direct message with bob@practice.example (spaces/DMbob)"),
        "{staged}"
    );
    let refused = env.commsctl(&[
        "chat",
        "send",
        "--account",
        ADA,
        "users/carol@practice.example",
        "Hello",
        "--json",
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("create_direct_messages") && refused.stderr.contains("chat-dm"),
        "{}",
        refused.stderr
    );
    assert_eq!(fake.setups(), 0);
    assert_eq!(
        json(&env, &["outbox", "list", "--json"])["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing stored for the refusal"
    );

    // The human allows opening direct messages.
    drop(daemon);
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        config.replace(
            "create_direct_messages = false",
            "create_direct_messages = true",
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    let _daemon = env.spawn_traced(cmd);
    let staged = json(
        &env,
        &[
            "chat",
            "send",
            "--account",
            ADA,
            "users/carol@practice.example",
            "Hello Carol",
            "--json",
        ],
    );
    let item = staged["item"]["id"].as_str().unwrap().to_owned();
    assert!(
        staged["preview"].as_str().unwrap().starts_with(
            "Chat to: New direct message with carol@practice.example (users/carol@practice.example)"
        ),
        "{staged}"
    );
    assert_eq!(fake.setups(), 0, "nothing is opened before approval");
    assert_eq!(env.commsctl(&["approve", &item]).code, 0);
    let shown = wait_state(&env, &item, Duration::from_secs(15));
    assert_eq!(shown["state"], "sent", "{shown}");
    assert_eq!(fake.setups(), 1);
    let dm = fake
        .dm_with("carol@practice.example")
        .expect("a DM with carol");
    let posted = fake.messages(&dm);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].text, "Hello Carol");
    fake.assert_no_violations();
}
