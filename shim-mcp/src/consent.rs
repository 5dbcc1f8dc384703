//! A human's consent through the MCP client (design.md §5).
//!
//! When a tool staged an item that waits for approval and the client
//! declared elicitation, the human at the client is asked with a form that
//! shows the recipients, subject and first lines. Accept approves the item
//! (recorded as `human via elicitation in mcp:<client> (uid N)`, or `(key
//! <name>)`); decline, cancel, a timeout or a client without elicitation
//! leave it pending, and the result says so with the dashboard link.
//!
//! The backend attaches an approval request ([`PendingApproval`]) only when
//! the client's answer can be a human's: the socket's own user (comms-mcp
//! over stdio) or a caller holding `admin`. Over HTTP the client is the key
//! holder, so a key without `admin` gets none, nobody is asked, and the
//! result's `next` says that the item waits for a human in the dashboard.
//! The daemon's service refuses a relayed approval from such a caller too.
//!
//! - 2025 revisions: a server-to-client `elicitation/create` request while
//!   the tool call is open.
//! - 2026-07-28: an `input_required` result carrying the form and a sealed
//!   `requestState` (HMAC-SHA256 with a per-process key, bound to the client,
//!   the tool and its arguments, expiring after [`STATE_TTL`], single use);
//!   the client retries the call with the human's answer.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitationAction,
    ElicitationSchema, InputRequest, InputRequests, InputRequiredResult, ProtocolVersion,
    RequestStateCodec, SealOptions,
};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use crate::backend::{Backend, BackendError, Client, PendingApproval, ToolOutcome};
use crate::server::tool_result;

/// How long a sealed approval request stays valid (modern era), and how long
/// a legacy elicitation waits for the human.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// The key of the approval form in `inputRequests`.
const INPUT_KEY: &str = "approval";

/// What an open approval request remembers (server side, keyed by nonce).
struct Open {
    item_id: String,
    outcome: ToolOutcome,
    expires: Instant,
}

/// Consent state shared by every session of a process (stdio) or of the
/// daemon (/mcp), so that a retry on another HTTP request finds it.
pub struct Consent {
    codec: RequestStateCodec,
    open: Mutex<HashMap<String, Open>>,
}

impl Consent {
    /// A fresh per-process signing key: sealed states do not survive a
    /// restart, which only means the human is asked again.
    pub fn new() -> std::io::Result<Consent> {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        let codec = RequestStateCodec::try_new(key.to_vec()).map_err(std::io::Error::other)?;
        Ok(Consent {
            codec,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn nonce() -> String {
        let mut bytes = [0u8; 16];
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .is_ok();
        if !ok {
            // Still unique within the process (the HMAC keeps it unforgeable).
            let n = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
            bytes = n.to_le_bytes();
        }
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The tool staged an item that waits for a human: ask them through the
    /// client if it can, else return the pending result.
    #[allow(clippy::too_many_arguments)]
    pub async fn ask(
        &self,
        backend: &dyn Backend,
        client: &Client,
        context: &RequestContext<RoleServer>,
        stateless_http: bool,
        tool: &str,
        arguments: &Value,
        pending: &PendingApproval,
        outcome: &ToolOutcome,
    ) -> Result<CallToolResponse, McpError> {
        let capabilities = if stateless_http {
            context.meta.client_capabilities()
        } else {
            context.client_capabilities()
        };
        let can_elicit = capabilities.is_some_and(|c| c.elicitation.is_some());
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if stateless_http && !modern {
            // A 2025-era request over stateless HTTP has no session: the
            // server cannot send the client a request, whatever it declared.
            let note = format!(
                "commsd cannot ask the human through this client: over HTTP with a 2025 protocol version there is no session to carry the question (the 2026-07-28 protocol can). The item stays pending until a human approves it at {}.",
                pending.review_url
            );
            return Ok(tool_result(outcome, &[note]).into());
        }
        if !can_elicit {
            let note = format!(
                "This client cannot ask the human ({} did not declare elicitation): the item stays pending until a human approves it at {}.",
                client.name.as_str(),
                pending.review_url
            );
            return Ok(tool_result(outcome, &[note]).into());
        }
        if modern {
            let nonce = Self::nonce();
            let sealed = self.codec.seal_with(
                json!({ "nonce": nonce, "item": pending.item_id })
                    .to_string()
                    .as_bytes(),
                &SealOptions::new()
                    .associated_data(binding(client, tool, arguments).as_bytes())
                    .ttl(STATE_TTL),
            );
            if let Ok(mut open) = self.open.lock() {
                let now = Instant::now();
                open.retain(|_, o| o.expires > now);
                open.insert(
                    nonce,
                    Open {
                        item_id: pending.item_id.clone(),
                        outcome: outcome.clone(),
                        expires: now + STATE_TTL,
                    },
                );
            }
            let mut requests = InputRequests::new();
            requests.insert(
                INPUT_KEY.to_owned(),
                InputRequest::Elicitation(ElicitRequest::new(form(pending)?)),
            );
            return Ok(InputRequiredResult::new(Some(requests), Some(sealed)).into());
        }
        let answer = context
            .peer
            .create_elicitation_with_timeout(form(pending)?, Some(STATE_TTL))
            .await;
        match answer {
            Ok(result) if accepted(&result.action, result.content.as_ref()) => {
                self.approve(backend, client, &pending.item_id, outcome)
                    .await
            }
            Ok(result) => Ok(tool_result(outcome, &[declined(&result.action, pending)]).into()),
            Err(e) => {
                tracing::warn!(error = %e, "the approval request got no answer");
                let note = format!(
                    "The client did not answer the approval request ({e}); the item stays pending until a human approves it at {}.",
                    pending.review_url
                );
                Ok(tool_result(outcome, &[note]).into())
            }
        }
    }

    /// The retry of a modern approval request with the human's answer.
    pub async fn resume(
        &self,
        backend: &dyn Backend,
        client: &Client,
        request: &CallToolRequestParams,
        arguments: &Value,
    ) -> Result<CallToolResponse, McpError> {
        let sealed = request
            .request_state
            .as_deref()
            .ok_or_else(|| McpError::invalid_params("inputResponses without requestState", None))?;
        let opened = self
            .codec
            .open_with(sealed, binding(client, &request.name, arguments).as_bytes())
            .map_err(|e| {
                McpError::invalid_params(
                    format!("requestState is not valid for this call: {e}"),
                    None,
                )
            })?;
        let state: Value = serde_json::from_slice(&opened)
            .map_err(|e| McpError::invalid_params(format!("requestState: {e}"), None))?;
        let nonce = state["nonce"].as_str().unwrap_or_default();
        let open = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(nonce))
            .filter(|o| {
                o.expires > Instant::now() && Some(o.item_id.as_str()) == state["item"].as_str()
            })
            .ok_or_else(|| {
                McpError::invalid_params(
                    "this approval request was already answered or has expired",
                    None,
                )
            })?;
        let answer = request
            .input_responses
            .as_ref()
            .and_then(|r| r.get(INPUT_KEY))
            .cloned()
            .unwrap_or(Value::Null);
        let action: Option<ElicitationAction> =
            serde_json::from_value(answer["action"].clone()).ok();
        let pending = PendingApproval {
            item_id: open.item_id.clone(),
            summary: String::new(),
            review_url: open
                .outcome
                .structured
                .get("reviewUrl")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        match action {
            Some(a) if accepted(&a, answer.get("content")) => {
                self.approve(backend, client, &open.item_id, &open.outcome)
                    .await
            }
            Some(a) => Ok(tool_result(&open.outcome, &[declined(&a, &pending)]).into()),
            None => Err(McpError::invalid_params(
                format!("inputResponses.{INPUT_KEY} must be an elicitation result"),
                None,
            )),
        }
    }

    async fn approve(
        &self,
        backend: &dyn Backend,
        client: &Client,
        item_id: &str,
        pending_outcome: &ToolOutcome,
    ) -> Result<CallToolResponse, McpError> {
        match backend.approve_by_human(client, item_id).await {
            Ok(outcome) => Ok(tool_result(&outcome, &[]).into()),
            Err(e @ (BackendError::Service(_) | BackendError::Unavailable(_))) => {
                let note = format!(
                    "The human accepted, but commsd could not record the approval: {e}. The item stays pending."
                );
                Ok(tool_result(pending_outcome, &[note]).into())
            }
            Err(e) => Err(McpError::internal_error(e.to_string(), None)),
        }
    }
}

/// Accept, and the form's `approve` box not unticked.
fn accepted(action: &ElicitationAction, content: Option<&Value>) -> bool {
    *action == ElicitationAction::Accept
        && content
            .and_then(|c| c.get("approve"))
            .and_then(Value::as_bool)
            != Some(false)
}

/// What became of an approval request that was not accepted. A `cancel`
/// is the client's (a headless client answers it at once, with nobody
/// asked); a `decline` is the human saying no in the client, which leaves
/// the decision to the dashboard rather than rejecting the item.
fn declined(action: &ElicitationAction, pending: &PendingApproval) -> String {
    let url = &pending.review_url;
    match action {
        ElicitationAction::Accept => format!(
            "The approval request was accepted without ticking approve, so nothing was approved: the item stays pending and waits for a human in the dashboard ({url})."
        ),
        ElicitationAction::Decline => format!(
            "The human declined the approval request in the client: the item is not rejected, it stays pending and waits in the dashboard ({url}), where a human can approve or reject it."
        ),
        _ => format!(
            "The approval request was cancelled by the client (clients without a human at hand cancel at once), so nobody approved it: the item stays pending and waits for a human in the dashboard ({url})."
        ),
    }
}

/// The approval form: the summary as its message, one checkbox.
fn form(pending: &PendingApproval) -> Result<ElicitRequestParams, McpError> {
    let schema: ElicitationSchema = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "approve": {
                "type": "boolean",
                "title": "Approve sending",
                "description": "Tick to let commsd send it. Decline to leave it pending.",
                "default": true,
            },
        },
        "required": ["approve"],
    }))
    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "{}\n\nItem {} waits for your approval.",
            pending.summary, pending.item_id
        ),
        requested_schema: schema,
    })
}

/// What a sealed state is bound to: the client, the tool and its arguments
/// (canonical JSON, keys sorted at every level).
fn binding(client: &Client, tool: &str, arguments: &Value) -> String {
    format!(
        "commsd/approval/v1|{}|{tool}|{}",
        client.name.as_str(),
        canonical(arguments)
    )
}

fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({ "b": 1, "a": { "y": [1, { "d": 2, "c": 3 }], "x": "s" } });
        let b = json!({ "a": { "x": "s", "y": [1, { "c": 3, "d": 2 }] }, "b": 1 });
        assert_eq!(canonical(&a), canonical(&b));
        assert_ne!(canonical(&a), canonical(&json!({ "b": 2 })));
    }

    #[test]
    fn accept_needs_the_box_left_ticked() {
        assert!(accepted(&ElicitationAction::Accept, None));
        assert!(accepted(
            &ElicitationAction::Accept,
            Some(&json!({ "approve": true }))
        ));
        assert!(!accepted(
            &ElicitationAction::Accept,
            Some(&json!({ "approve": false }))
        ));
        assert!(!accepted(&ElicitationAction::Decline, None));
    }

    #[test]
    fn cancel_is_the_clients_and_decline_the_humans() {
        let pending = PendingApproval {
            item_id: "it_1".into(),
            summary: String::new(),
            review_url: "http://127.0.0.1:3001/review/it_1".into(),
        };
        let cancel = declined(&ElicitationAction::Cancel, &pending);
        assert!(cancel.contains("cancelled by the client"), "{cancel}");
        assert!(!cancel.contains("human dismissed"), "{cancel}");
        assert!(cancel.contains("/review/it_1"), "{cancel}");
        let decline = declined(&ElicitationAction::Decline, &pending);
        assert!(decline.contains("human declined"), "{decline}");
        assert!(
            decline.contains("stays pending") && decline.contains("dashboard"),
            "{decline}"
        );
    }
}
