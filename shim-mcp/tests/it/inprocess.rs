//! The MCP server with the gRPC backend against a real daemon, driven by
//! rmcp's own client over an in-memory duplex pipe, in both eras.

use std::sync::{Arc, Mutex};

use commsd_mcp::grpc::{Autostart, GrpcBackend};
use commsd_mcp::{Consent, McpServer};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProtocolVersion, ResourceUpdatedNotificationParam,
    SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt as _, ErrorData, ServiceExt as _};
use serde_json::{Value, json};

use super::{ALL_TOOLSETS, daemon_with, harness};

/// A test client: its name, whether it declares elicitation and how its
/// human answers, and what it was asked and told.
#[derive(Clone)]
struct TestClient {
    name: &'static str,
    answer: Option<ElicitationAction>,
    asked: Arc<Mutex<Vec<String>>>,
    updated: Arc<Mutex<Vec<String>>>,
    tools_changed: Arc<std::sync::atomic::AtomicUsize>,
}

impl TestClient {
    fn new(name: &'static str, answer: Option<ElicitationAction>) -> TestClient {
        TestClient {
            name,
            answer,
            asked: Arc::default(),
            updated: Arc::default(),
            tools_changed: Arc::default(),
        }
    }
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities = if self.answer.is_some() {
            serde_json::from_value(json!({ "elicitation": { "form": {} } })).unwrap()
        } else {
            ClientCapabilities::default()
        };
        let mut info = ClientConfig::new(capabilities, Implementation::new(self.name, "1.0"));
        info.protocol_version = ProtocolVersion::V_2025_06_18;
        info
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        let action = self.answer.clone().unwrap_or(ElicitationAction::Decline);
        let accept = action == ElicitationAction::Accept;
        let mut result = ElicitResult::new(action);
        if accept {
            result = result.with_content(json!({ "approve": true }));
        }
        Ok(result)
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.updated.lock().unwrap().push(params.uri);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn connect(
    env: &harness::Env,
    client: TestClient,
    modern: bool,
) -> RunningService<RoleClient, TestClient> {
    let backend = Arc::new(GrpcBackend::new(env.socket.clone(), Autostart::Disabled));
    let server = McpServer::new(backend, Arc::new(Consent::new().unwrap()));
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(a).await {
            let _ = running.waiting().await;
        }
    });
    let mode = if modern {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        }
    } else {
        ClientLifecycleMode::Initialize
    };
    client
        .serve_with_lifecycle(b, mode)
        .await
        .expect("client connects")
}

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(name.to_owned());
    p.arguments = args.as_object().cloned();
    p
}

fn email() -> Value {
    json!({ "to": ["Jane Roe <jane@example.org>"], "subject": "Tuesday", "bodyText": "Dear Jane,\nsee you on Tuesday.\nBest" })
}

/// The tools/list result as JSON, pretty, for the golden file.
async fn tools_json(client: &RunningService<RoleClient, TestClient>) -> Value {
    let tools = client.list_all_tools().await.expect("tools/list");
    serde_json::to_value(tools).unwrap()
}

#[tokio::test]
async fn tool_list_matches_the_golden_file_and_fits_the_budgets() {
    let (env, _daemon) = daemon_with(ALL_TOOLSETS);
    let client = connect(&env, TestClient::new("it-client", None), false).await;
    let tools = tools_json(&client).await;
    let compact = serde_json::to_string(&tools).unwrap();
    let pretty = serde_json::to_string_pretty(&tools).unwrap() + "\n";
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tools_list.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden, &pretty).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_default();
    assert!(
        expected == pretty,
        "tools/list differs from {golden}; if the change is intended, run with UPDATE_GOLDEN=1 and review the diff.\nactual:\n{pretty}"
    );
    let count = tools.as_array().map_or(0, Vec::len);
    println!(
        "tools/list, every toolset: {} bytes for {count} tools (budget 1000 a tool on average)",
        compact.len()
    );
    assert!(
        compact.len() <= 1_000 * count,
        "tools/list with every toolset is {} bytes for {count} tools: over 1000 a tool on average",
        compact.len()
    );

    let (env, _daemon) = daemon_with("");
    let client = connect(&env, TestClient::new("it-client", None), false).await;
    let tools = tools_json(&client).await;
    let compact = serde_json::to_string(&tools).unwrap();
    println!(
        "tools/list, default toolsets: {} bytes (budget 20000)",
        compact.len()
    );
    // The default toolsets (accounts, gmail_read, gmail_compose, email, outbox)
    // hold 22 tools since [gmail] and [mail]; ARCHITECTURE.md explains the
    // figure and how a config trims it.
    assert!(
        compact.len() <= 20_000,
        "tools/list by default is {} bytes",
        compact.len()
    );
    let names: Vec<_> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.contains(&"sms_send".to_owned()),
        "sms is off by default: {names:?}"
    );
    assert!(names.contains(&"email_stage".to_owned()), "{names:?}");
}

#[tokio::test]
async fn staging_returns_structured_content_matching_the_output_schema() {
    let (env, _daemon) = daemon_with(ALL_TOOLSETS);
    let client = connect(&env, TestClient::new("it-client", None), false).await;
    let tools = tools_json(&client).await;
    for (tool, args) in [
        ("email_stage", email()),
        (
            "sms_send",
            json!({ "to": "+14155550100", "body": "Reminder: 9:00 tomorrow" }),
        ),
        (
            "chat_send_message",
            json!({ "space": "spaces/AAAA1234", "text": "The 3pm patient is here" }),
        ),
        ("outbox_list", json!({ "mine": true })),
        ("google_list_accounts", json!({})),
    ] {
        let result = client.call_tool(call(tool, args)).await.expect(tool);
        assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
        let structured = result
            .structured_content
            .clone()
            .expect("structuredContent");
        let schema = tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == tool)
            .unwrap()["outputSchema"]
            .clone();
        let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
        let problems: Vec<String> = validator
            .iter_errors(&structured)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(problems.is_empty(), "{tool}: {problems:?}\n{structured:#}");
        let text = result.content[0]
            .as_text()
            .expect("a text block")
            .text
            .clone();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            structured,
            "{tool}"
        );
        if tool.ends_with("stage") || tool.ends_with("send") || tool == "chat_send_message" {
            assert_eq!(structured["item"]["requester"], "mcp:it-client");
            assert_eq!(structured["item"]["state"], "pending_approval");
            // One text block (Claude Code shows the model only the first):
            // the note on why nobody was asked is in `next`.
            assert_eq!(result.content.len(), 1, "{result:?}");
            let next = structured["next"].as_str().unwrap();
            assert!(
                next.starts_with(
                    "This client cannot ask the human (it-client did not declare elicitation)"
                ) && next.contains("/review/"),
                "{next}"
            );
        }
    }
    let list = client
        .call_tool(call("outbox_list", json!({ "mine": true })))
        .await
        .unwrap();
    assert_eq!(
        list.structured_content.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let accounts = client
        .call_tool(call("google_list_accounts", json!({})))
        .await
        .unwrap();
    assert_eq!(
        accounts.structured_content.unwrap(),
        json!({ "accounts": [] }),
        "the sandbox is not a Google account"
    );
}

#[tokio::test]
async fn bad_arguments_are_error_results_and_unknown_tools_rpc_errors() {
    let (env, _daemon) = daemon_with("");
    let client = connect(&env, TestClient::new("it-client", None), false).await;
    let result = client
        .call_tool(call("email_stage", json!({ "to": 7, "subject": "x" })))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let envelope = result.structured_content.unwrap();
    assert_eq!(envelope["code"], "invalid_argument", "{envelope}");
    assert_eq!(envelope["details"]["field"], "to", "{envelope}");

    let result = client
        .call_tool(call("outbox_get", json!({ "itemId": "ob_0000000000" })))
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(result.structured_content.unwrap()["code"], "not_found");

    for unknown in [
        "no_such_tool",
        "sms_send", /* its toolset is off by default */
    ] {
        let err = client
            .call_tool(call(unknown, json!({})))
            .await
            .unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("-32602")
                || text.contains("InvalidParams")
                || text.contains("unknown tool"),
            "{unknown}: {text}"
        );
    }
}

async fn item(client: &RunningService<RoleClient, TestClient>, id: &str) -> Value {
    let r = client
        .call_tool(call("outbox_get", json!({ "itemId": id })))
        .await
        .unwrap();
    r.structured_content.unwrap()["item"].clone()
}

#[tokio::test]
async fn elicitation_accept_approves_as_the_human_and_decline_leaves_pending_legacy() {
    elicitation(false).await;
}

#[tokio::test]
async fn elicitation_accept_approves_as_the_human_and_decline_leaves_pending_modern() {
    elicitation(true).await;
}

async fn elicitation(modern: bool) {
    let (env, _daemon) = daemon_with("");
    let yes = TestClient::new("claude-code", Some(ElicitationAction::Accept));
    let client = connect(&env, yes.clone(), modern).await;
    let result = client
        .call_tool(call("email_stage", email()))
        .await
        .expect("stage");
    let structured = result.structured_content.unwrap();
    let id = structured["item"]["id"].as_str().unwrap().to_owned();
    assert_eq!(structured["item"]["state"], "approved", "{structured:#}");
    let asked = yes.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("To: Jane Roe <jane@example.org>")
            && asked[0].contains("Subject: Tuesday")
            && asked[0].contains("see you on Tuesday"),
        "{}",
        asked[0]
    );
    let got = item(&client, &id).await;
    // comms-mcp runs as the socket's own user: the record names the uid.
    assert_eq!(
        got["approval"]["by"],
        format!(
            "human via elicitation in mcp:claude-code (uid {})",
            harness::current_uid()
        ),
        "{got:#}"
    );

    let no = TestClient::new("claude-code", Some(ElicitationAction::Decline));
    let client = connect(&env, no.clone(), modern).await;
    let result = client
        .call_tool(call("email_stage", email()))
        .await
        .expect("stage");
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.content.len(), 1, "{result:?}");
    let structured = result.structured_content.unwrap();
    assert_eq!(structured["item"]["state"], "pending_approval");
    let next = structured["next"].as_str().unwrap();
    assert!(
        next.contains("declined") && next.contains("/review/"),
        "{next}"
    );
    let id = structured["item"]["id"].as_str().unwrap();
    assert_eq!(item(&client, id).await["state"], "pending_approval");
    assert_eq!(no.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
#[allow(deprecated)] // resources/subscribe is the legacy era's way, tested here
async fn prompts_resources_and_resource_updates() {
    let (env, _daemon) = daemon_with("");
    let tc = TestClient::new("it-client", None);
    let client = connect(&env, tc.clone(), false).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.clone().unwrap().name, "commsd");
    assert!(info.capabilities.prompts.is_some() && info.capabilities.resources.is_some());

    let prompts = client.list_all_prompts().await.unwrap();
    let names: Vec<_> = prompts.iter().map(|p| p.name.clone()).collect();
    assert_eq!(
        names,
        ["gmail_safe_draft", "gmail_reply_triage", "outbox_review"]
    );
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<_> = resources.iter().map(|r| r.uri.clone()).collect();
    assert_eq!(
        uris,
        [
            "commsd://accounts",
            "commsd://outbox/pending",
            "commsd://cache/stats",
            "commsd://mail/inbox",
            "commsd://sms/inbox",
            "commsd://inbox"
        ]
    );
    // No account yet: the sandbox's INBOX, empty.
    let inbox = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "commsd://mail/inbox",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&inbox).unwrap()["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let inbox: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(inbox["accounts"][0]["accountId"], "sandbox", "{inbox}");
    assert_eq!(inbox["accounts"][0]["messages"], json!([]), "{inbox}");
    assert_eq!(inbox["accounts"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["untrusted"], true, "{inbox}");
    let stats = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "commsd://cache/stats",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&stats).unwrap()["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let stats: Value = serde_json::from_str(&text).unwrap();
    // Counters per caching provider (Gmail once Google accounts are wired).
    assert!(stats["providers"].is_object(), "{stats}");
    assert!(stats["outbox"].is_object(), "{stats}");

    // A text received by the sandbox: the SMS resource is updated and holds it.
    client
        .subscribe(SubscribeRequestParams::new("commsd://sms/inbox"))
        .await
        .unwrap();
    client
        .subscribe(SubscribeRequestParams::new("commsd://inbox"))
        .await
        .unwrap();
    let received = env.commsctl(&[
        "sandbox",
        "receive",
        "sms",
        "--from",
        "+14155550123",
        "--body",
        "Running 10 minutes late",
    ]);
    assert_eq!(received.code, 0, "{}", received.stderr);
    let mut seen = false;
    for _ in 0..500 {
        seen = tc
            .updated
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == "commsd://sms/inbox");
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen, "no resources/updated for a received SMS");
    let texts = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "commsd://sms/inbox",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&texts).unwrap()["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let texts: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(texts["accounts"][0]["accountId"], "sandbox", "{texts}");
    assert_eq!(
        texts["accounts"][0]["messages"][0]["body"], "Running 10 minutes late",
        "{texts}"
    );
    assert_eq!(texts["untrusted"], true, "{texts}");
    // The unified inbox indexed it, and said so.
    let mut seen = false;
    for _ in 0..500 {
        seen = tc
            .updated
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == "commsd://inbox");
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "no resources/updated of commsd://inbox for a received SMS"
    );
    let inbox = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "commsd://inbox",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&inbox).unwrap()["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let inbox: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        inbox["messages"][0]["text"], "Running 10 minutes late",
        "{inbox}"
    );
    assert_eq!(inbox["messages"][0]["channel"], "sms", "{inbox}");
    assert_eq!(inbox["untrusted"], true, "{inbox}");

    client
        .subscribe(SubscribeRequestParams::new("commsd://outbox/pending"))
        .await
        .unwrap();
    client
        .call_tool(call("email_stage", email()))
        .await
        .unwrap();
    // Wait without blocking: the notification is handled on this runtime.
    let mut seen = false;
    for _ in 0..500 {
        seen = tc
            .updated
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == "commsd://outbox/pending");
        if seen {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "no resources/updated after staging: {:?}",
        tc.updated.lock().unwrap()
    );
}

/// An agent starts a Google sign-in, the human completes it in the browser,
/// and the client hears tools/list_changed and sees the new account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_google_sign_in_started_by_the_agent_sends_tools_list_changed() {
    use std::sync::atomic::Ordering;
    let oauth = Arc::new(
        tokio::task::spawn_blocking(super::oauth::OAuthServer::start)
            .await
            .unwrap(),
    );
    let env = harness::Env::new();
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str("[vault]\nbackend = \"file\"\n");
    config.push_str(&oauth.endpoints_toml(""));
    std::fs::write(&env.config, config).unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", "a test passphrase");
    let _daemon = env.spawn(cmd);
    super::oauth::set_client(&env);

    for modern in [false, true] {
        let tc = TestClient::new("it-client", None);
        let client = connect(&env, tc.clone(), modern).await;
        // 2026-07-28: notifications flow on a subscriptions/listen request;
        // the 2025 revisions get them unsolicited after initialize.
        let mut subscription = if modern {
            let mut filter = rmcp::model::SubscriptionFilter::new();
            filter.tools_list_changed = Some(true);
            let subscription = client.peer().listen(filter).await.unwrap();
            assert_eq!(subscription.acknowledged().tools_list_changed, Some(true));
            Some(subscription)
        } else {
            None
        };
        let listed = client
            .call_tool(call("google_list_accounts", json!({})))
            .await
            .unwrap();
        let before = listed.structured_content.unwrap()["accounts"]
            .as_array()
            .unwrap()
            .len();
        let login = if modern {
            "modern@example.org"
        } else {
            "legacy@example.org"
        };
        let started = client
            .call_tool(call(
                "google_add_account",
                json!({ "scopesTier": 1, "labels": ["work"] }),
            ))
            .await
            .unwrap();
        assert_ne!(started.is_error, Some(true), "{started:?}");
        let auth_url = started.structured_content.unwrap()["authUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        let server = oauth.clone();
        let login_owned = login.to_owned();
        let page = tokio::task::spawn_blocking(move || server.sign_in(&auth_url, &login_owned))
            .await
            .unwrap();
        assert!(page.contains("Signed in"), "{page}");
        let mut changed = false;
        if let Some(subscription) = subscription.as_mut() {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), subscription.next())
                .await
                .expect("a notification on the subscription within 5 s")
                .unwrap();
            changed = matches!(
                next,
                Some(rmcp::model::ServerNotification::ToolListChangedNotification(_))
            );
        }
        for _ in 0..500 {
            if changed {
                break;
            }
            changed = tc.tools_changed.load(Ordering::SeqCst) > 0;
            if changed {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            changed,
            "no tools/list_changed after the sign-in (modern: {modern})"
        );
        let listed = client
            .call_tool(call("google_list_accounts", json!({})))
            .await
            .unwrap();
        let accounts = listed.structured_content.unwrap()["accounts"].clone();
        assert_eq!(accounts.as_array().unwrap().len(), before + 1, "{accounts}");
        assert!(accounts.to_string().contains(login), "{accounts}");

        // Labels are the agent's to keep tidy (`draft`, which comms-mcp's
        // agents hold): the change is made, not refused one layer down.
        let label = if modern { "modern" } else { "legacy" };
        let labelled = client
            .call_tool(call(
                "google_set_account_labels",
                json!({ "accountId": login, "labels": ["front-desk", label] }),
            ))
            .await
            .unwrap();
        assert_ne!(labelled.is_error, Some(true), "{labelled:?}");
        let listed = client
            .call_tool(call("google_list_accounts", json!({})))
            .await
            .unwrap();
        let text = listed.structured_content.unwrap()["accounts"].to_string();
        assert!(
            text.contains("front-desk") && text.contains(label),
            "{text}"
        );
    }
}
