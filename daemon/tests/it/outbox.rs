//! The outbox end to end through the real binaries: stage with commsctl,
//! decide, approve, deliver into the sandbox, audit.

use std::path::PathBuf;
use std::time::Duration;

use mail_parser::MimeHeaders;
use serde_json::Value;

use crate::harness::{Env, PORT_ZERO_CONFIG, Run, eventually};

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "command failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

/// Stages the standard reminder to Jane; `extra` may override `--subject`.
fn stage_email(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec![
        "outbox",
        "stage",
        "email",
        "--to",
        "Jane Roe <jane@example.org>",
        "--body",
        "Dear Jane,\n\nsee you on Tuesday at 9:00.\n",
        "--json",
    ];
    if !extra.contains(&"--subject") {
        args.extend_from_slice(&["--subject", "Your appointment on Tuesday"]);
    }
    args.extend_from_slice(extra);
    json(&env.commsctl(&args))
}

fn show(env: &Env, id: &str) -> Value {
    json(&env.commsctl(&["outbox", "show", id, "--json"]))
}

fn wait_state(env: &Env, id: &str, state: &str) -> Value {
    let mut last = Value::Null;
    let ok = eventually(Duration::from_secs(10), || {
        last = show(env, id);
        last["state"] == state
    });
    assert!(ok, "item {id} never reached {state}: {last:#}");
    last
}

fn maildir_new(env: &Env) -> Vec<PathBuf> {
    let dir = env.data.join("sandbox/Maildir/new");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn with_config(extra: &str) -> Env {
    let env = Env::new();
    std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}{extra}")).unwrap();
    env
}

#[test]
fn stage_approve_deliver_into_the_sandbox_maildir() {
    let env = Env::new();
    let _daemon = env.start();
    let item = stage_email(&env, &["--priority", "high"]);
    let id = item["id"].as_str().unwrap();
    assert!(id.starts_with("ob_"), "{id}");
    assert_eq!(item["state"], "pending_approval");
    assert_eq!(item["priority"], "high");
    assert_eq!(item["policy"]["decision"], "approve");
    assert_eq!(item["policy"]["rule"], "policy.default");
    assert_eq!(
        item["requester"].as_str().unwrap().split(':').next(),
        Some("cli")
    );
    assert_eq!(item["recipients"], serde_json::json!(["jane@example.org"]));
    assert!(
        maildir_new(&env).is_empty(),
        "nothing leaves before approval"
    );

    let approve = env.commsctl(&["approve", id]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let sent = wait_state(&env, id, "sent");
    assert_eq!(sent["approval"]["contentHash"], item["contentHash"]);

    let files = maildir_new(&env);
    assert_eq!(files.len(), 1);
    let message = std::fs::read_to_string(&files[0]).unwrap();
    for header in [
        "Subject: Your appointment on Tuesday",
        "To: \"Jane Roe\" <jane@example.org>",
        "From: \"commsd sandbox\" <sandbox@commsd.invalid>",
        "Message-ID: <",
        "Date: ",
    ] {
        assert!(
            message.contains(header),
            "missing {header:?} in:\n{message}"
        );
    }
    assert!(message.contains("see you on Tuesday at 9:00."), "{message}");

    let audit = json(&env.commsctl(&["audit", "list", "--item", id, "--json"]));
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["staged", "approved", "sending", "sent"]);
    assert!(
        !audit.to_string().contains("see you on Tuesday"),
        "the audit log never holds bodies"
    );
    let verify = env.commsctl(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert!(verify.stdout.contains("4 rows"), "{}", verify.stdout);
}

#[test]
fn bad_input_names_the_field_and_stores_nothing() {
    let env = Env::new();
    let _daemon = env.start();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "outbox",
                "stage",
                "email",
                "--to",
                "jane@example.org",
                "--to",
                "not an address",
                "--body",
                "x",
            ],
            "to[1]",
        ),
        (
            &[
                "outbox",
                "stage",
                "email",
                "--to",
                "jane@example.org",
                "--subject",
                "x",
                "--attach",
                "/nonexistent/file.pdf",
                "--body",
                "x",
            ],
            "attachments[0]",
        ),
        (
            &["outbox", "stage", "sms", "--to", "0171 555", "--body", "x"],
            "to",
        ),
        (
            &[
                "outbox", "stage", "chat", "--space", "general", "--text", "x",
            ],
            "space",
        ),
    ];
    for (args, field) in cases {
        let run = env.commsctl(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!("{field}:")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("[invalid_argument]"), "{}", run.stderr);
    }
    let list = json(&env.commsctl(&["outbox", "list", "--json"]));
    assert_eq!(list["items"], serde_json::json!([]));
    let audit = json(&env.commsctl(&["audit", "list", "--json"]));
    assert_eq!(audit, serde_json::json!([]));
}

#[test]
fn repeated_request_id_returns_the_same_item() {
    let env = Env::new();
    let _daemon = env.start();
    let first = stage_email(&env, &["--request-id", "reminder-42"]);
    let again = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "Jane Roe <jane@example.org>",
        "--subject",
        "Your appointment on Tuesday",
        "--body",
        "Dear Jane,\n\nsee you on Tuesday at 9:00.\n",
        "--request-id",
        "reminder-42",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again
            .stdout
            .starts_with(&format!("already staged {}", first["id"].as_str().unwrap())),
        "{}",
        again.stdout
    );
    let conflict = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "jane@example.org",
        "--body",
        "other",
        "--request-id",
        "reminder-42",
    ]);
    assert_eq!(conflict.code, 2);
    assert!(
        conflict.stderr.contains("[conflict]"),
        "{}",
        conflict.stderr
    );
    let list = json(&env.commsctl(&["outbox", "list", "--json"]));
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[test]
fn policy_rules_allowlists_and_caps() {
    let env = with_config(
        r#"
[policy.allowlist]
sms = ["+1415*"]

[[policy.rules]]
name = "staff"
channel = "email"
recipients = ["@practice.example"]
decision = "auto"

[[policy.rules]]
channel = "chat"
decision = "confirm"

[[policy.rules]]
channel = "sms"
decision = "auto"

[[policy.caps]]
channel = "sms"
per_hour = 1
"#,
    );
    let _daemon = env.start();
    // auto: straight through, approved by the rule.
    let staff = json(&env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "dr.who@practice.example",
        "--subject",
        "Rota",
        "--body",
        "x",
        "--json",
    ]));
    assert_eq!(staff["policy"]["rule"], "policy.rules[0] (staff)");
    let sent = wait_state(&env, staff["id"].as_str().unwrap(), "sent");
    assert_eq!(sent["approval"]["by"], "policy:policy.rules[0] (staff)");
    // One outside recipient: the default (a human approves).
    let mixed = stage_email(&env, &["--cc", "dr.who@practice.example"]);
    assert_eq!(mixed["state"], "pending_approval");
    // confirm: a draft for the agent to confirm.
    let chat = json(&env.commsctl(&[
        "outbox",
        "stage",
        "chat",
        "--space",
        "spaces/AAAA",
        "--text",
        "hi",
        "--json",
    ]));
    assert_eq!(chat["state"], "draft");
    assert_eq!(chat["policy"]["decision"], "confirm");
    // allowlist: refused, nothing stored.
    let refused = env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+4930123456",
        "--body",
        "x",
    ]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("[recipient_not_allowed]")
            && refused.stderr.contains("+4930123456"),
        "{}",
        refused.stderr
    );
    // cap: the first SMS goes, the second waits for a human with the reason.
    let first = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550100",
        "--body",
        "one",
        "--json",
    ]));
    wait_state(&env, first["id"].as_str().unwrap(), "sent");
    let second = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550101",
        "--body",
        "two",
        "--json",
    ]));
    assert_eq!(second["state"], "pending_approval");
    let reason = second["policy"]["holdReason"].as_str().unwrap();
    assert!(
        reason.contains("hourly cap of 1 sms") && reason.contains("policy.caps[0]"),
        "{reason}"
    );
    // Approved by a human, it still waits for the window: never over the cap.
    assert_eq!(
        env.commsctl(&["approve", second["id"].as_str().unwrap()])
            .code,
        0
    );
    std::thread::sleep(Duration::from_millis(300));
    let held = show(&env, second["id"].as_str().unwrap());
    assert_eq!(held["state"], "approved");
    assert!(
        held["policy"]["holdReason"]
            .as_str()
            .unwrap()
            .contains("cap"),
        "{held:#}"
    );
    let lines = std::fs::read_to_string(env.data.join("sandbox/sms.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1);
}

#[test]
fn edit_after_approval_needs_a_new_approval() {
    // A long hold window keeps the approved item from being dispatched.
    let env = with_config("[outbox]\nhold_window = \"1h\"\n");
    let _daemon = env.start();
    let item = stage_email(&env, &[]);
    let id = item["id"].as_str().unwrap();
    assert_eq!(env.commsctl(&["approve", id]).code, 0);
    let approved = show(&env, id);
    assert_eq!(approved["state"], "approved");
    assert!(approved["dispatchAfter"].is_string());

    let edited = json(&env.commsctl(&[
        "outbox",
        "edit",
        id,
        "--subject",
        "Your appointment on Wednesday",
        "--json",
    ]));
    assert_eq!(edited["state"], "pending_approval");
    assert_eq!(edited["approval"], Value::Null);
    assert_ne!(edited["contentHash"], item["contentHash"]);
    assert_eq!(
        edited["content"]["subject"],
        "Your appointment on Wednesday"
    );
    let audit = json(&env.commsctl(&["audit", "list", "--item", id, "--json"]));
    assert_eq!(audit[0]["action"], "edited");
    assert!(
        audit[0]["result"]
            .as_str()
            .unwrap()
            .contains("approval no longer applies")
    );
    // A priority change is not a content change: the approval stays.
    assert_eq!(env.commsctl(&["approve", id]).code, 0);
    let reprioritised = json(&env.commsctl(&["outbox", "edit", id, "--priority", "low", "--json"]));
    assert_eq!(reprioritised["state"], "approved");
    assert_eq!(reprioritised["priority"], "low");
}

#[test]
fn reject_cancel_and_approve_all_pending() {
    let env = Env::new();
    let _daemon = env.start();
    let a = stage_email(&env, &[]);
    let b = stage_email(&env, &["--subject", "Second"]);
    let c = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550100",
        "--body",
        "Reminder",
        "--json",
    ]));
    let d = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550100",
        "--body",
        "Other",
        "--json",
    ]));

    let reject_without_reason =
        env.commsctl(&["reject", a["id"].as_str().unwrap(), "--reason", "  "]);
    assert_eq!(reject_without_reason.code, 2);
    assert!(
        reject_without_reason.stderr.contains("reason:"),
        "{}",
        reject_without_reason.stderr
    );
    let reject = env.commsctl(&[
        "reject",
        a["id"].as_str().unwrap(),
        "--reason",
        "Wrong patient",
    ]);
    assert_eq!(reject.code, 0, "{}", reject.stderr);
    let rejected = show(&env, a["id"].as_str().unwrap());
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["rejection"]["reason"], "Wrong patient");

    let cancel = env.commsctl(&["outbox", "cancel", d["id"].as_str().unwrap()]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert_eq!(show(&env, d["id"].as_str().unwrap())["state"], "cancelled");

    let all = json(&env.commsctl(&["approve", "--all-pending", "--json"]));
    let ids: Vec<_> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "{all:#}");
    assert!(ids.contains(&b["id"]) && ids.contains(&c["id"]));
    wait_state(&env, b["id"].as_str().unwrap(), "sent");
    wait_state(&env, c["id"].as_str().unwrap(), "sent");

    // A rejected item cannot be approved afterwards.
    let late = env.commsctl(&["approve", a["id"].as_str().unwrap()]);
    assert_eq!(late.code, 2);
    assert!(
        late.stdout.contains("[failed_precondition]"),
        "{}",
        late.stdout
    );

    assert_eq!(
        maildir_new(&env).len(),
        1,
        "only the approved email was delivered"
    );
    let sms = std::fs::read_to_string(env.data.join("sandbox/sms.jsonl")).unwrap();
    let line: Value = serde_json::from_str(sms.lines().next().unwrap()).unwrap();
    assert_eq!(line["to"], "+14155550100");
    assert_eq!(line["body"], "Reminder");
    assert_eq!(sms.lines().count(), 1);
}

#[test]
fn pending_items_expire() {
    let env = with_config("[outbox]\npending_ttl = \"1s\"\n");
    let _daemon = env.start();
    let item = stage_email(&env, &[]);
    let id = item["id"].as_str().unwrap();
    let expired = wait_state(&env, id, "expired");
    assert_eq!(expired["approval"], Value::Null);
    let approve = env.commsctl(&["approve", id]);
    assert_eq!(approve.code, 2);
}

#[test]
fn list_filters_orders_by_priority_and_pages() {
    let env = Env::new();
    let _daemon = env.start();
    let low = stage_email(&env, &["--priority", "low"]);
    let normal = stage_email(&env, &[]);
    let high = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550100",
        "--body",
        "x",
        "--priority",
        "high",
        "--json",
    ]));
    let page = json(&env.commsctl(&[
        "outbox", "list", "--state", "pending", "--limit", "2", "--json",
    ]));
    let ids: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, vec![high["id"].clone(), normal["id"].clone()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let rest = json(&env.commsctl(&[
        "outbox", "list", "--state", "pending", "--limit", "2", "--cursor", cursor, "--json",
    ]));
    assert_eq!(rest["items"][0]["id"], low["id"]);
    assert_eq!(rest["nextCursor"], Value::Null);
    let sms = json(&env.commsctl(&["outbox", "list", "--channel", "sms", "--json"]));
    assert_eq!(sms["items"].as_array().unwrap().len(), 1);
    let text = env.commsctl(&["outbox", "list"]);
    assert!(text.stdout.starts_with("ID "), "{}", text.stdout);
    assert_eq!(text.stdout.lines().count(), 4);
    let bad = env.commsctl(&["outbox", "list", "--state", "pendng"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--state"), "{}", bad.stderr);
}

#[test]
fn attachments_are_copied_at_staging_time() {
    let env = Env::new();
    let _daemon = env.start();
    let file = env.root.path().join("results.pdf");
    let original = b"%PDF-1.4\n% lab results for Jane\n".to_vec();
    std::fs::write(&file, &original).unwrap();
    let item = stage_email(&env, &["--attach", file.to_str().unwrap()]);
    let attachment = &item["content"]["attachments"][0];
    assert_eq!(attachment["filename"], "results.pdf");
    assert_eq!(attachment["mimeType"], "application/pdf");
    assert_eq!(attachment["size"], original.len());
    // Changing the original afterwards changes nothing.
    std::fs::write(&file, b"tampered").unwrap();
    assert_eq!(
        env.commsctl(&["approve", item["id"].as_str().unwrap()])
            .code,
        0
    );
    wait_state(&env, item["id"].as_str().unwrap(), "sent");
    let message = std::fs::read(&maildir_new(&env)[0]).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&message)
        .unwrap();
    let part = parsed.attachments().next().expect("an attachment part");
    assert_eq!(part.contents(), &original[..]);
    assert_eq!(part.attachment_name(), Some("results.pdf"));
}

#[test]
fn audit_verify_catches_a_row_altered_with_sqlite3() {
    let env = Env::new();
    let daemon = env.start();
    let item = stage_email(&env, &[]);
    assert_eq!(
        env.commsctl(&["approve", item["id"].as_str().unwrap()])
            .code,
        0
    );
    wait_state(&env, item["id"].as_str().unwrap(), "sent");
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 0);

    let db = env.data.join("commsd.db");
    let sqlite = |sql: &str| {
        let out = std::process::Command::new("sqlite3")
            .arg(&db)
            .arg(sql)
            .output()
            .expect("sqlite3 is installed by scripts/test (Debian package sqlite3)");
        assert!(
            out.status.success(),
            "sqlite3 {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The trigger refuses the edit; a tamperer drops it first.
    let refused = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the append-only trigger must refuse UPDATE"
    );
    sqlite(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 2;",
    );

    let _daemon = env.start();
    let verify = env.commsctl(&["audit", "verify"]);
    assert_eq!(verify.code, 2, "{verify:?}");
    assert!(
        verify.stderr.contains("audit log broken at row 2"),
        "{}",
        verify.stderr
    );
    assert!(verify.stderr.contains("altered"), "{}", verify.stderr);
}

#[test]
fn kill_9_while_sending_gives_unknown_and_no_second_delivery() {
    let env = Env::new();
    let daemon = env.start();
    // A FIFO with no reader where the sandbox appends SMS: the transport
    // blocks in open(2), like a provider that never answers.
    let sandbox = env.data.join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    let fifo = sandbox.join("sms.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let item = json(&env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+14155550100",
        "--body",
        "Reminder",
        "--json",
    ]));
    let id = item["id"].as_str().unwrap();
    assert_eq!(env.commsctl(&["approve", id]).code, 0);
    wait_state(&env, id, "sending");

    daemon.signal("KILL");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 137);
    std::fs::remove_file(&fifo).unwrap();

    let daemon = env.start();
    let after = show(&env, id);
    assert_eq!(after["state"], "unknown");
    assert!(
        after["error"]
            .as_str()
            .unwrap()
            .contains("may or may not have been delivered")
    );
    // Nothing resends it on its own.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(show(&env, id)["state"], "unknown");
    assert!(!fifo.exists(), "no second delivery was attempted");
    let audit = json(&env.commsctl(&["audit", "list", "--item", id, "--json"]));
    assert_eq!(audit[0]["action"], "marked_unknown");
    drop(daemon);
}

#[test]
fn events_stream_outbox_changes() {
    let env = Env::new();
    let _daemon = env.start();
    let events = env
        .commsctl_command(&["events", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(
        Duration::from_secs(5),
        || env.status_json()["counts"]["event_subscribers"] == 1
    ));
    let item = stage_email(&env, &[]);
    assert_eq!(env.commsctl(&["daemon", "stop"]).code, 0);
    let out = events.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outbox: Vec<_> = lines
        .iter()
        .filter(|e| e["kind"] == "outbox_changed")
        .collect();
    assert_eq!(outbox[0]["detail"]["id"], item["id"]);
    assert_eq!(outbox[0]["detail"]["state"], "pending_approval");
    assert!(
        lines
            .iter()
            .any(|e| e["kind"] == "audit_appended" && e["detail"]["action"] == "staged")
    );
}

/// commsd killed during an item's hold window and started again after the
/// window would have ended: the item still waits what was left of its
/// window when commsd was last seen alive, so a human can cancel it, then
/// goes once. (Unit tests in clock_tests.rs jump the clock while stopped.)
#[test]
fn a_hold_window_cut_by_a_stop_is_given_again_at_the_restart() {
    let env = with_config("[outbox]\nhold_window = \"4s\"\n");
    let daemon = env.start();
    let item = stage_email(&env, &[]);
    let id = item["id"].as_str().unwrap();
    assert_eq!(env.commsctl(&["approve", id]).code, 0);
    daemon.signal("KILL");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 137);
    // Longer than the window: by the wall clock alone it would be due.
    std::thread::sleep(Duration::from_secs(5));

    let _daemon = env.start();
    let after = show(&env, id);
    assert_eq!(after["state"], "approved", "{after:#}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(show(&env, id)["state"], "approved", "still in its window");
    assert!(
        maildir_new(&env).is_empty(),
        "nothing sent during the window"
    );
    let audit = json(&env.commsctl(&["audit", "list", "--item", id, "--json"]));
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "held"
                && e["result"]
                    .as_str()
                    .is_some_and(|r| r.contains("commsd stopped during the hold window"))),
        "{audit:#}"
    );
    wait_state(&env, id, "sent");
    assert_eq!(maildir_new(&env).len(), 1);
}
