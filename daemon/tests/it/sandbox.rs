//! The sandbox account's inbox on a fresh install, no account added:
//! `commsctl sandbox receive` and `POST /api/v1/sandbox/receive` deliver into
//! it, and every email read tool, `/api/v1/email` and `commsctl mail` read it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::process::Stdio;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::harness::{Daemon, Env};

struct Sandbox {
    env: Env,
    _daemon: Daemon,
    url: String,
    http: Client,
}

impl Sandbox {
    fn start() -> Sandbox {
        let env = Env::new();
        let daemon = env.spawn_traced(env.commsd());
        let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
        Sandbox {
            env,
            _daemon: daemon,
            url,
            http: Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    fn key(&self, name: &str, grants: &str) -> String {
        let run = self
            .env
            .commsctl(&["keys", "create", name, "--grants", grants, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let created: Value = serde_json::from_str(&run.stdout).unwrap();
        created["token"].as_str().unwrap().to_owned()
    }

    fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// A JSON-RPC call on `/mcp`; the result.
    fn mcp(&self, key: &str, id: u64, method: &str, params: Value) -> Value {
        let r: Value = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        r["result"].clone()
    }

    /// `commsctl ... --json` with `stdin`, parsed.
    fn commsctl_json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut child = self
            .env
            .commsctl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "commsctl {args:?}: {stderr}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The name of `tool`'s argument among `candidates` (the tools' argument
/// names are being renamed to the contract's camelCase).
fn arg<'a>(tools: &Value, tool: &str, candidates: &[&'a str]) -> &'a str {
    let spec = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tool)
        .unwrap_or_else(|| panic!("no tool {tool}"));
    candidates
        .iter()
        .copied()
        .find(|c| spec["inputSchema"]["properties"][*c].is_object())
        .unwrap_or_else(|| panic!("{tool} takes none of {candidates:?}"))
}

fn structured(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "{result}");
    &result["structuredContent"]
}

fn subjects(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {page}"))
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn sandbox_inbox_is_read_by_every_email_tool_route_and_the_cli() {
    let s = Sandbox::start();
    let admin = s.key("tester", "admin,read");
    let agent = s.key("agent", "read,draft");

    // The event stream sees what arrives (without content).
    let mut events = s
        .env
        .commsctl_command(&["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // One email through the CLI (body from stdin), one through the API.
    let lab_body = "Your HbA1c is 6.1 %, nothing to worry about.";
    let first = s.commsctl_json(
        &[
            "sandbox",
            "receive",
            "email",
            "--from",
            "Ann Example <ann@example.org>",
            "--subject",
            "Lab results",
            "--body",
            "-",
            "--json",
        ],
        Some(lab_body),
    );
    assert_eq!(first["channel"], "email");
    assert_eq!(first["accountId"], "sandbox");
    let first_id = first["id"].as_str().unwrap().to_owned();
    let (status, second) = s.post(
        "/api/v1/sandbox/receive",
        &admin,
        json!({ "channel": "email", "from": "bob@example.org", "to": "me@example.org",
                "subject": "Invoice 42", "body": "Please find the invoice details below." }),
    );
    assert_eq!(status, 201, "{second}");
    let second_id = second["id"].as_str().unwrap().to_owned();

    let stdout = events.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let received = (0..20)
        .filter_map(|_| lines.next()?.ok())
        .map(|l| serde_json::from_str::<Value>(&l).unwrap())
        .find(|e| e["kind"] == "message_received")
        .expect("a message_received event");
    assert_eq!(
        received["detail"],
        json!({ "channel": "email", "accountId": "sandbox", "id": first_id })
    );
    events.kill().unwrap();
    events.wait().unwrap();

    // Refusals name the field; receiving needs admin.
    let (status, e) = s.post(
        "/api/v1/sandbox/receive",
        &agent,
        json!({ "channel": "sms", "from": "+14155550100", "body": "x" }),
    );
    assert_eq!(
        (status, e["code"].as_str()),
        (403, Some("permission_denied")),
        "{e}"
    );
    for (body, field) in [
        (
            json!({ "channel": "email", "from": "ann@example.org", "body": "x" }),
            "subject",
        ),
        (
            json!({ "channel": "email", "from": "not an address", "subject": "s", "body": "x" }),
            "from",
        ),
        (
            json!({ "channel": "sms", "from": "0415 555", "body": "x" }),
            "from",
        ),
        (
            json!({ "channel": "chat", "from": "Ann", "space": "team", "body": "x" }),
            "space",
        ),
        (
            json!({ "channel": "fax", "from": "Ann", "body": "x" }),
            "channel",
        ),
    ] {
        let (status, e) = s.post("/api/v1/sandbox/receive", &admin, body.clone());
        assert_eq!(status, 400, "{body}: {e}");
        assert_eq!(e["details"]["field"], field, "{body}: {e}");
    }

    // REST: the INBOX, newest first, and one message.
    let (status, inbox) = s.get("/api/v1/email/inbox", &agent);
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(subjects(&inbox), ["Invoice 42", "Lab results"]);
    assert_eq!(inbox["accountId"], "sandbox");
    assert_eq!(inbox["untrusted"], true);
    assert_eq!(
        inbox["messages"][1]["from"],
        json!(["Ann Example <ann@example.org>"])
    );
    assert_eq!(
        inbox["messages"][1]["to"],
        json!(["commsd sandbox <sandbox@commsd.invalid>"])
    );
    assert_eq!(inbox["messages"][0]["to"], json!(["me@example.org"]));
    let (status, page) = s.get("/api/v1/email/inbox?limit=1", &agent);
    assert_eq!(status, 200);
    assert_eq!(subjects(&page), ["Invoice 42"]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, older) = s.get(
        &format!("/api/v1/email/inbox?limit=1&cursor={cursor}"),
        &agent,
    );
    assert_eq!(subjects(&older), ["Lab results"]);
    let (status, message) = s.get(&format!("/api/v1/email/read/{first_id}"), &agent);
    assert_eq!(status, 200, "{message}");
    assert_eq!(
        message["message"]["bodyText"].as_str().unwrap().trim_end(),
        lab_body
    );
    assert!(
        message["message"]["messageId"]
            .as_str()
            .is_some_and(|m| m.ends_with("@sandbox.commsd.invalid>"))
    );
    assert!(message["message"]["date"].is_string());

    // The CLI.
    let listed = s.commsctl_json(&["mail", "list", "--json"], None);
    assert_eq!(subjects(&listed), ["Invoice 42", "Lab results"]);
    let searched = s.commsctl_json(&["mail", "search", "--from", "ann@", "--json"], None);
    assert_eq!(subjects(&searched), ["Lab results"]);
    let shown = s.commsctl_json(&["mail", "show", &second_id, "--json"], None);
    assert!(shown.to_string().contains("invoice details"), "{shown}");
    let text = s.env.commsctl(&["mail", "list"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("Lab results"), "{}", text.stdout);

    // The MCP tools.
    let init = s.mcp(
        &agent,
        1,
        "initialize",
        json!({ "protocolVersion": "2025-06-18",
        "capabilities": {}, "clientInfo": { "name": "sandbox-test", "version": "1" } }),
    );
    assert!(init["serverInfo"].is_object(), "{init}");
    let tools = s.mcp(&agent, 2, "tools/list", json!({}));
    let call = |id: u64, name: &str, arguments: Value| {
        s.mcp(
            &agent,
            id,
            "tools/call",
            json!({ "name": name, "arguments": arguments }),
        )
    };
    let listed = call(3, "email_list_messages", json!({}));
    assert_eq!(subjects(structured(&listed)), ["Invoice 42", "Lab results"]);
    let searched = call(4, "email_search_messages", json!({ "subject": "invoice" }));
    assert_eq!(subjects(structured(&searched)), ["Invoice 42"]);
    let searched = call(5, "email_search_messages", json!({ "text": "HbA1c" }));
    assert_eq!(subjects(structured(&searched)), ["Lab results"]);
    let id_arg = arg(&tools, "email_get_message", &["messageId", "id"]);
    let got = call(6, "email_get_message", json!({ id_arg: first_id }));
    assert!(structured(&got).to_string().contains("HbA1c"), "{got}");
    assert_eq!(structured(&got)["untrusted"], true);
    // Reading did not mark it read.
    let unread_arg = arg(&tools, "email_search_messages", &["unread", "unseen"]);
    let unread = call(7, "email_search_messages", json!({ unread_arg: true }));
    assert_eq!(structured(&unread)["messages"].as_array().unwrap().len(), 2);

    let ids_arg = arg(&tools, "email_mark_read_unread", &["messageIds", "ids"]);
    let marked = call(
        8,
        "email_mark_read_unread",
        json!({ ids_arg: [first_id], "read": true }),
    );
    assert_eq!(structured(&marked)["updated"], 1, "{marked}");
    let unread = call(9, "email_search_messages", json!({ unread_arg: true }));
    assert_eq!(subjects(structured(&unread)), ["Invoice 42"]);

    let move_id = arg(&tools, "email_move", &["messageId", "id"]);
    let moved = call(
        10,
        "email_move",
        json!({ move_id: second_id, "destination": "archive" }),
    );
    assert_eq!(structured(&moved)["folder"], "Archive", "{moved}");
    let inbox = call(11, "email_list_messages", json!({}));
    assert_eq!(subjects(structured(&inbox)), ["Lab results"]);
    let archive = call(12, "email_list_messages", json!({ "folder": "Archive" }));
    assert_eq!(subjects(structured(&archive)), ["Invoice 42"]);
    let (status, unread_only) = s.get("/api/v1/email/inbox?unread=true", &agent);
    assert_eq!(status, 200, "{unread_only}");
    assert!(subjects(&unread_only).is_empty(), "{unread_only}");

    // Files: a private Maildir, seen as a flag in the file name.
    let maildir = s.env.data.join("sandbox/inbox/Maildir");
    assert_eq!(mode(&maildir), 0o700);
    let cur: Vec<_> = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cur.len(), 1);
    assert!(cur[0].to_str().unwrap().ends_with(":2,S"), "{cur:?}");
    assert_eq!(mode(&cur[0]), 0o600);
    assert_eq!(
        std::fs::read_dir(maildir.join(".Archive/new"))
            .unwrap()
            .count(),
        1
    );
    // Sent mail stays apart from the inbox.
    assert!(!s.env.data.join("sandbox/Maildir").exists());

    // SMS and chat land as JSON lines.
    let sms_body = "Running 10 minutes late";
    let sms = s.commsctl_json(
        &[
            "sandbox",
            "receive",
            "sms",
            "--from",
            "+1 415 555 0100",
            "--body",
            sms_body,
            "--json",
        ],
        None,
    );
    assert_eq!(sms["channel"], "sms");
    let chat = s.commsctl_json(
        &[
            "sandbox",
            "receive",
            "chat",
            "--from",
            "Ann Example",
            "--space",
            "spaces/team",
            "--body",
            "-",
            "--json",
        ],
        Some("Standup moved to 10:00"),
    );
    let (status, api_chat) = s.post(
        "/api/v1/sandbox/receive",
        &admin,
        json!({ "channel": "chat", "from": "Bob", "space": "spaces/team", "body": "ok" }),
    );
    assert_eq!(status, 201, "{api_chat}");
    let inbox_dir = s.env.data.join("sandbox/inbox");
    let line = |name: &str| -> Vec<Value> {
        let path = inbox_dir.join(name);
        assert_eq!(mode(&path), 0o600);
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let sms_lines = line("sms.jsonl");
    assert_eq!(sms_lines.len(), 1);
    assert_eq!(sms_lines[0]["id"], sms["id"]);
    assert_eq!(sms_lines[0]["from"], "+14155550100");
    assert_eq!(sms_lines[0]["body"], sms_body);
    assert!(sms_lines[0]["receivedAt"].as_str().unwrap().ends_with('Z'));
    let chat_lines = line("chat.jsonl");
    assert_eq!(chat_lines.len(), 2);
    assert_eq!(chat_lines[0]["id"], chat["id"]);
    assert_eq!(
        (
            &chat_lines[0]["from"],
            &chat_lines[0]["space"],
            &chat_lines[0]["text"]
        ),
        (
            &json!("Ann Example"),
            &json!("spaces/team"),
            &json!("Standup moved to 10:00")
        )
    );
    assert_eq!(chat_lines[1]["text"], "ok");

    let counts = &s.env.status_json()["counts"];
    assert_eq!(
        (
            &counts["sandbox_received_email"],
            &counts["sandbox_received_sms"],
            &counts["sandbox_received_chat"]
        ),
        (&json!(2), &json!(1), &json!(2)),
        "{counts}"
    );

    // The OpenAPI document describes the route.
    let (_, doc) = s.get("/api/v1/openapi.json", &agent);
    assert!(doc["paths"]["/api/v1/sandbox/receive"]["post"].is_object());

    crate::harness::assert_log_holds_no_secret(
        &s.env.log_path(),
        "the sandbox received a message",
        &[
            ("email body", lab_body),
            ("email body", "invoice details"),
            ("SMS body", sms_body),
            ("chat text", "Standup moved"),
        ],
    );
}
