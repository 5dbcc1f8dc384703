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
            "to": ["jane@example.org"], "subject": "Hi", "text": "Hello" } }),
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
            "to": ["jane@example.org"], "subject": "Hi", "text": "Hello" } }),
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
#[test]
fn mcp_over_http_result_type_and_sessionless_legacy_consent() {
    let api = Api::start();
    let token = api.key("k", "read,stage");
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
            "to": ["jane@example.org"], "subject": "Hi", "text": "Hello" } }),
            ),
        )
        .json()
        .unwrap();
    assert_eq!(
        staged["result"]["structuredContent"]["item"]["state"],
        "pending_approval"
    );
    let note = staged["result"]["content"][1]["text"].as_str().unwrap();
    assert!(note.contains("no session"), "{note}");
    assert!(!note.contains("rmcp"), "{note}");
}
