//! /mcp on the daemon's API listener: bearer keys, Host and Origin checks,
//! and the same catalog as comms-mcp.

use reqwest::blocking::Client;
use serde_json::{Value, json};

use super::harness::Env;

struct Api {
    env: Env,
    _daemon: super::harness::Daemon,
    url: String,
    http: Client,
}

impl Api {
    fn start() -> Api {
        let env = Env::new();
        let daemon = env.start();
        let url = env.status_json()["api_url"].as_str().unwrap().to_owned();
        Api {
            env,
            _daemon: daemon,
            url,
            http: Client::new(),
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

    fn post(&self, token: Option<&str>, body: Value) -> reqwest::blocking::Response {
        let mut r = self
            .http
            .post(format!("{}/mcp", self.url))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap()
    }
}

/// The protocol era a request speaks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Era {
    /// 2026-07-28: stateless, the client's name and capabilities in `_meta`,
    /// approval asked as an `input_required` result.
    Modern,
    /// 2025-06-18: over stateless HTTP there is no session to ask through.
    Legacy,
}

impl Api {
    /// A tools/call as an MCP client named `client` that declares
    /// elicitation, in `era`.
    fn call_tool(&self, token: &str, era: Era, client: &str, params: Value) -> Value {
        let mut params = params;
        let version = match era {
            Era::Modern => {
                params["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": { "elicitation": { "form": {} } },
                    "io.modelcontextprotocol/clientInfo": { "name": client, "version": "1" },
                });
                "2026-07-28"
            }
            Era::Legacy => "2025-06-18",
        };
        let name = params["name"].as_str().unwrap().to_owned();
        let response = self
            .http
            .post(format!("{}/mcp", self.url))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .bearer_auth(token)
            .json(&rpc(1, "tools/call", params))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().unwrap();
        assert!(body["error"].is_null(), "{body}");
        body["result"].clone()
    }

    /// Stages an email as a client whose human would accept any approval
    /// request (or a client forging that answer: over HTTP nobody can tell).
    /// Returns the final result and whether the client was asked.
    fn stage_accepting(&self, token: &str, era: Era, client: &str) -> (Value, bool) {
        let call = json!({ "name": "email_stage", "arguments": {
            "to": ["jane@example.org"], "subject": "Tuesday", "bodyText": "See you on Tuesday." } });
        let first = self.call_tool(token, era, client, call.clone());
        if first["resultType"] != "input_required" {
            return (first, false);
        }
        assert!(first["inputRequests"]["approval"].is_object(), "{first}");
        let mut retry = call;
        retry["requestState"] = first["requestState"].clone();
        retry["inputResponses"] =
            json!({ "approval": { "action": "accept", "content": { "approve": true } } });
        (self.call_tool(token, era, client, retry), true)
    }

    fn show(&self, id: &str) -> Value {
        let run = self.env.commsctl(&["outbox", "show", id, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    }

    /// Every file the sandbox transport delivered (Maildir, JSON lines).
    fn sandbox_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.env.data.join("sandbox"), &mut files);
        files
    }
}

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

#[test]
fn mcp_over_http_needs_a_key_and_acts_as_it() {
    let api = Api::start();
    let r = api.post(None, rpc(1, "tools/list", json!({})));
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().unwrap();
    assert_eq!(body["code"], "unauthenticated", "{body}");

    let token = api.key("gemini-cli", "read,stage");
    let init = api.post(
        Some(&token),
        rpc(
            1,
            "initialize",
            json!({
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": { "name": "gemini-cli-mcp-client", "version": "0.61" },
            }),
        ),
    );
    assert_eq!(init.status(), 200);
    assert!(
        init.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "JSON, not SSE, for Gemini CLI"
    );
    let init: Value = init.json().unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "commsd", "{init}");

    let list: Value = api
        .post(Some(&token), rpc(2, "tools/list", json!({})))
        .json()
        .unwrap();
    let names: Vec<_> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert!(names.contains(&json!("email_stage")), "{list}");

    let staged: Value = api
        .post(
            Some(&token),
            rpc(
                3,
                "tools/call",
                json!({ "name": "email_stage", "arguments": {
            "to": ["jane@example.org"], "subject": "Hi", "bodyText": "Hello" } }),
            ),
        )
        .json()
        .unwrap();
    let item = &staged["result"]["structuredContent"]["item"];
    assert_eq!(item["requester"], "key:gemini-cli", "{staged}");
    assert_eq!(item["state"], "pending_approval");

    // A key without `stage` gets the service's refusal as an error result.
    let reader = api.key("reader", "read");
    let refused: Value = api
        .post(
            Some(&reader),
            rpc(
                4,
                "tools/call",
                json!({ "name": "email_stage", "arguments": {
            "to": ["jane@example.org"], "subject": "Hi", "bodyText": "Hello" } }),
            ),
        )
        .json()
        .unwrap();
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert_eq!(
        refused["result"]["structuredContent"]["code"],
        "permission_denied"
    );
}

#[test]
fn mcp_refuses_foreign_hosts_and_origins() {
    let api = Api::start();
    let token = api.key("k", "read");
    let foreign_host = api
        .http
        .post(format!("{}/mcp", api.url))
        .header("host", "evil.example")
        .bearer_auth(&token)
        .json(&rpc(1, "tools/list", json!({})))
        .send()
        .unwrap();
    assert_eq!(foreign_host.status(), 403);
    let foreign_origin = api
        .http
        .post(format!("{}/mcp", api.url))
        .header("origin", "https://evil.example")
        .bearer_auth(&token)
        .json(&rpc(1, "tools/list", json!({})))
        .send()
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
}

/// Found by the conformance suite (caching, wire-schema-valid): a modern
/// resources/read result must carry `resultType`. And found by the Python SDK:
/// a 2025-era tools/call over stateless HTTP has no session, so the approval
/// cannot be asked for and the note must not name rmcp's placeholder client.
/// (Only a key holding `admin` could be asked at all.)
#[test]
fn mcp_over_http_result_type_and_sessionless_legacy_consent() {
    let api = Api::start();
    let token = api.key("k", "read,stage,admin");
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "it", "version": "1" },
    });
    let read: Value = api
        .http
        .post(format!("{}/mcp", api.url))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "resources/read")
        .header("mcp-name", "commsd://accounts")
        .bearer_auth(&token)
        .json(&rpc(
            1,
            "resources/read",
            json!({ "uri": "commsd://accounts", "_meta": meta }),
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["result"]["resultType"], "complete", "{read}");

    let staged: Value = api
        .post(
            Some(&token),
            rpc(
                2,
                "tools/call",
                json!({ "name": "email_stage", "arguments": {
            "to": ["jane@example.org"], "subject": "Hi", "bodyText": "Hello" } }),
            ),
        )
        .json()
        .unwrap();
    assert_eq!(
        staged["result"]["structuredContent"]["item"]["state"],
        "pending_approval"
    );
    let next = staged["result"]["structuredContent"]["next"]
        .as_str()
        .unwrap();
    assert!(next.contains("no session"), "{next}");
    assert!(!next.contains("rmcp"), "{next}");
}

/// The [safety] issue: a key with only `read,stage` approved its own item
/// over `/mcp` (2026-07-28) by answering the elicitation itself. Over HTTP
/// the client is the key holder, so it must not be asked, in either era,
/// and the item must wait for a human in the dashboard.
#[test]
fn a_key_without_admin_is_never_asked_and_its_item_waits_for_a_human() {
    let api = Api::start();
    let token = api.key("gemini", "read,draft,stage,send");
    let mut ids = Vec::new();
    for era in [Era::Modern, Era::Legacy] {
        let (result, asked) = api.stage_accepting(&token, era, "hostile");
        assert!(!asked, "{era:?}: the client was asked: {result}");
        let structured = &result["structuredContent"];
        let id = structured["item"]["id"].as_str().unwrap().to_owned();
        assert_eq!(structured["item"]["state"], "pending_approval", "{era:?}");
        // What the model reads: one text block, saying where the item waits
        // and why nobody was asked.
        let content = result["content"].as_array().unwrap();
        assert_eq!(content.len(), 1, "{era:?}: {result}");
        let text: Value = serde_json::from_str(content[0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(&text, structured, "{era:?}");
        let next = structured["next"].as_str().unwrap();
        assert!(
            next.contains(&format!("/review/{id}"))
                && next.contains("not asked")
                && next.contains("key:gemini lacks the `admin` grant"),
            "{era:?}: {next}"
        );
        let item = api.show(&id);
        assert_eq!(item["state"], "pending_approval", "{era:?}: {item:#}");
        assert!(item["approval"].is_null(), "{era:?}: {item:#}");
        ids.push(id);
    }
    // Nothing left: the hold window is zero, so an approval would have
    // reached the sandbox by now.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(api.sandbox_files(), Vec::<std::path::PathBuf>::new());
    // The human approves in their own place; then it goes.
    let run = api.env.commsctl(&["approve", &ids[0]]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        super::harness::eventually(std::time::Duration::from_secs(10), || !api
            .sandbox_files()
            .is_empty()),
        "the human's approval was not delivered"
    );
}

/// A key a human gave `admin` can approve anyway, so its client may ask;
/// the record says how the approval was given, in which client, under
/// which key.
#[test]
fn a_key_with_admin_is_asked_and_the_record_names_key_and_client() {
    let api = Api::start();
    let token = api.key("ops", "read,stage,admin");
    let (result, asked) = api.stage_accepting(&token, Era::Modern, "claude-code");
    assert!(asked, "{result}");
    let id = result["structuredContent"]["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let item = api.show(&id);
    assert_eq!(
        item["approval"]["by"], "human via elicitation in mcp:claude-code (key ops)",
        "{item:#}"
    );
    assert!(
        super::harness::eventually(std::time::Duration::from_secs(10), || !api
            .sandbox_files()
            .is_empty()),
        "the approved item was not delivered"
    );
}
