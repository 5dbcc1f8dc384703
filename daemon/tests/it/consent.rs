//! A human's approval relayed by an MCP client (elicitation), at the
//! service and through the in-process backend behind `/mcp`: it counts only
//! where the client is the human's (the socket's own user) or the caller
//! holds `admin`. A key holder's client is the key holder, who could answer
//! `accept` themselves.

use std::sync::Arc;

use commsd::auth::{Caller, Grant, Grants};
use commsd::events::Bus;
use commsd::outbox::model::{Decision, State};
use commsd::tools::Tools;
use commsd::tools::backend::InProcessBackend;
use commsd_mcp::{Backend, BackendError, Client};
use serde_json::{Value, json};

use crate::gmail::outbox;

fn email() -> Value {
    json!({ "to": ["jane@example.org"], "subject": "Tuesday", "bodyText": "See you on Tuesday." })
}

/// The MCP client `name` over `/mcp`, authenticated as `caller` (what the
/// `/mcp` middleware leaves in the request's extensions).
fn http_client(name: &str, caller: Caller) -> Client {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.extensions.insert(caller);
    let mut client = Client::named(name);
    client.extensions.insert(parts);
    client
}

fn key(name: &str, grants: &[Grant]) -> Caller {
    Caller::key(name, grants.iter().copied().collect::<Grants>())
}

struct Setup {
    outbox: Arc<commsd::outbox::service::Outbox>,
    backend: InProcessBackend,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (outbox, _store) = outbox(dir.path(), Decision::Approve).await;
    let tools = Arc::new(Tools::new(
        outbox.clone(),
        Vec::new(),
        Some(&["email".to_owned(), "outbox".to_owned()]),
        "http://127.0.0.1:1".to_owned(),
    ));
    let backend = InProcessBackend {
        tools,
        bus: Arc::new(Bus::default()),
        shutdown: tokio_util::sync::CancellationToken::new(),
    };
    Setup {
        outbox,
        backend,
        _dir: dir,
    }
}

#[tokio::test]
async fn an_http_key_without_admin_gets_no_approval_request_and_cannot_relay_one() {
    let s = setup().await;
    let agent = key("gemini", &[Grant::Read, Grant::Stage]);
    let client = http_client("hostile", agent.clone());
    let staged = s
        .backend
        .call_tool(&client, "email_stage", email())
        .await
        .unwrap();
    assert!(!staged.is_error, "{}", staged.text);
    assert_eq!(staged.structured["item"]["state"], "pending_approval");
    // No approval request: the frontend has nobody to ask.
    assert_eq!(staged.approval, None);
    let id = staged.structured["item"]["id"].as_str().unwrap().to_owned();
    let next = staged.structured["next"].as_str().unwrap();
    assert!(
        next.contains(&format!("http://127.0.0.1:1/review/{id}"))
            && next.contains("not asked")
            && next.contains("key:gemini lacks the `admin` grant"),
        "{next}"
    );
    assert_eq!(staged.text, staged.structured.to_string());

    // A client that forges the human's accept gets nothing, through the
    // backend or at the service itself.
    let refused = s.backend.approve_by_human(&client, &id).await.unwrap_err();
    let BackendError::Service(envelope) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(envelope["code"], "permission_denied", "{envelope}");
    let refused = s
        .outbox
        .approve_by_human(&agent, &id, "hostile")
        .await
        .unwrap_err();
    assert_eq!(refused.code, commsd::error::Code::PermissionDenied);
    assert!(
        refused
            .message
            .contains("key:gemini cannot pass on a human's approval"),
        "{}",
        refused.message
    );
    let item = s.outbox.get(&Caller::dashboard(), &id).await.unwrap();
    assert_eq!(item.state, State::PendingApproval);
    assert_eq!(item.approval, None);
}

#[tokio::test]
async fn an_http_key_with_admin_is_asked_and_the_record_names_key_and_client() {
    let s = setup().await;
    let ops = key("ops", &[Grant::Read, Grant::Stage, Grant::Admin]);
    let client = http_client("claude-code", ops);
    let staged = s
        .backend
        .call_tool(&client, "email_stage", email())
        .await
        .unwrap();
    let pending = staged.approval.expect("an approval request to show");
    let approved = s
        .backend
        .approve_by_human(&client, &pending.item_id)
        .await
        .unwrap();
    assert_eq!(approved.structured["item"]["state"], "approved");
    let item = s
        .outbox
        .get(&Caller::dashboard(), &pending.item_id)
        .await
        .unwrap();
    assert_eq!(
        item.approval.unwrap().by,
        "human via elicitation in mcp:claude-code (key ops)"
    );
}

#[tokio::test]
async fn comms_mcp_on_the_socket_relays_and_the_record_names_the_uid() {
    let s = setup().await;
    let agent = Caller::mcp("claude-code", 1000);
    assert!(!agent.has(Grant::Admin));
    let staged = s
        .backend
        .tools
        .call(&agent, "email_stage", email())
        .await
        .unwrap();
    let pending = staged.approval.expect("an approval request to show");
    let item = s
        .outbox
        .approve_by_human(&agent, &pending.item_id, "claude-code")
        .await
        .unwrap();
    assert_eq!(item.state, State::Approved);
    assert_eq!(
        item.approval.unwrap().by,
        "human via elicitation in mcp:claude-code (uid 1000)"
    );
}
