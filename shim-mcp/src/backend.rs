//! What the MCP server needs from commsd, whatever the transport to it.
//!
//! Two implementations: [`crate::grpc::GrpcBackend`] (comms-mcp, over the
//! daemon's Unix socket) and the daemon's in-process backend behind `/mcp`.
//! The tool catalog is data that comes from here; this crate never knows a
//! tool by name.

use futures_util::stream::BoxStream;
use serde_json::Value;

/// The MCP client a request comes from (its `clientInfo.name`, cleaned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    /// Keeps `[A-Za-z0-9._-]` (others become `-`), at most 64 characters;
    /// `unknown` when nothing is left.
    pub fn new(raw: &str) -> ClientName {
        let cleaned: String = raw
            .trim()
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let cleaned = cleaned.trim_matches('-').to_owned();
        if cleaned.is_empty() {
            ClientName("unknown".to_owned())
        } else {
            ClientName(cleaned)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a request comes from: the MCP client's name and the transport's
/// request extensions (over HTTP, the daemon finds the authenticated caller
/// in the `http::request::Parts` stored there).
#[derive(Debug, Clone)]
pub struct Client {
    pub name: ClientName,
    pub extensions: rmcp::model::Extensions,
}

impl Client {
    pub fn named(name: &str) -> Client {
        Client {
            name: ClientName::new(name),
            extensions: rmcp::model::Extensions::default(),
        }
    }
}

/// One tool as the daemon's catalog defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    /// MCP `annotations` (readOnlyHint, destructiveHint, ...).
    pub annotations: Value,
}

impl ToolSpec {
    /// Reads the catalog's JSON form of a tool.
    pub fn from_json(v: &Value) -> Result<ToolSpec, BackendError> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let name = text("name")
            .ok_or_else(|| BackendError::Internal("a catalog tool has no name".to_owned()))?;
        Ok(ToolSpec {
            title: text("title"),
            description: text("description").unwrap_or_default(),
            input_schema: v
                .get("inputSchema")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({ "type": "object" })),
            output_schema: v.get("outputSchema").cloned(),
            annotations: v.get("annotations").cloned().unwrap_or(Value::Null),
            name,
        })
    }
}

/// The result of a tool that ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// structuredContent: the result, or the error envelope when `is_error`.
    pub structured: Value,
    /// The text block (the structured content serialised).
    pub text: String,
    pub is_error: bool,
    /// The call staged an item that waits for a human's approval.
    pub approval: Option<PendingApproval>,
}

/// An item waiting for a human, as an approval request shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    pub item_id: String,
    /// Recipients, subject and first lines.
    pub summary: String,
    /// The dashboard page of the item.
    pub review_url: String,
}

/// A resource's content.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceText {
    pub mime_type: String,
    pub text: String,
}

/// Something changed in the daemon that MCP clients may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendEvent {
    /// The tool list may differ (accounts or scopes changed, daemon restarted).
    ToolsChanged,
    /// The content of this resource changed.
    ResourceUpdated(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// No such tool (or its toolset is off): a JSON-RPC error for the client.
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// commsd cannot be reached; the message says what to do.
    #[error("{0}")]
    Unavailable(String),
    /// commsd answered with its error envelope `{code, message, details}`.
    #[error("{}", .0["message"].as_str().unwrap_or("commsd refused the request"))]
    Service(Value),
    /// Something unexpected (a malformed answer).
    #[error("{0}")]
    Internal(String),
}

impl BackendError {
    /// The error envelope of design.md §8 for this failure.
    pub fn envelope(&self) -> Value {
        match self {
            BackendError::Service(envelope) => envelope.clone(),
            BackendError::UnknownTool(name) => serde_json::json!({
                "code": "not_found", "message": self.to_string(), "details": { "tool": name },
            }),
            BackendError::Unavailable(message) => serde_json::json!({
                "code": "daemon_unavailable", "message": message, "details": {},
            }),
            BackendError::Internal(message) => serde_json::json!({
                "code": "internal", "message": message, "details": {},
            }),
        }
    }
}

/// What the MCP server needs from commsd. Every method acts for `client`.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn tools(&self, client: &Client) -> Result<Vec<ToolSpec>, BackendError>;

    async fn call_tool(
        &self,
        client: &Client,
        name: &str,
        arguments: Value,
    ) -> Result<ToolOutcome, BackendError>;

    async fn read_resource(&self, client: &Client, uri: &str)
    -> Result<ResourceText, BackendError>;

    /// The human at `client` accepted the approval request for `item_id`;
    /// returns the tool result to show instead of the pending one.
    async fn approve_by_human(
        &self,
        client: &Client,
        item_id: &str,
    ) -> Result<ToolOutcome, BackendError>;

    /// Changes, for list_changed and resources/updated notifications. The
    /// stream ends when the backend does (daemon shutdown for in-process).
    fn events(&self) -> BoxStream<'static, BackendEvent>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_cleaned() {
        assert_eq!(ClientName::new("claude-code").as_str(), "claude-code");
        assert_eq!(ClientName::new("Claude Code").as_str(), "Claude-Code");
        assert_eq!(ClientName::new(" ").as_str(), "unknown");
        assert_eq!(ClientName::new("a\u{0}b/c").as_str(), "a-b-c");
        assert_eq!(ClientName::new(&"x".repeat(100)).as_str().len(), 64);
    }
}
