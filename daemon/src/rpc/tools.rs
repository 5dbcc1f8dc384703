//! The Tools gRPC service, for comms-mcp: the MCP catalog over the socket.
//!
//! Whoever is on the socket runs as the daemon's uid, but this service acts
//! for the MCP client's agent: `mcp:<client>` with the grants read, draft,
//! stage and send, never admin. Approval is never a tool; ApproveByHuman
//! relays a human's answer to the client's approval request, which counts
//! because the client application runs as the socket's own user and shows
//! the form to the person at it (`Caller::require_consent_relay`).

use std::sync::Arc;

use commsd_mcp::ClientName;
use commsd_proto::v1::{self, tools_server};
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::error::{Code, Error};
use crate::tools::Tools;

pub struct ToolsService(pub Arc<Tools>);

/// The caller an MCP client's requests act as, on the socket of peer uid `uid`.
pub fn mcp_caller(client: Option<&v1::McpClient>, uid: u32) -> (Caller, String) {
    let name = ClientName::new(client.map(|c| c.name.as_str()).unwrap_or(""));
    (Caller::mcp(name.as_str(), uid), name.as_str().to_owned())
}

fn unknown_tool(e: crate::tools::UnknownTool) -> Status {
    Status::from(
        Error::new(Code::NotFound, e.to_string()).with_details(serde_json::json!({ "tool": e.0 })),
    )
}

fn response(outcome: crate::tools::Outcome) -> v1::CallToolResponse {
    v1::CallToolResponse {
        structured_json: outcome.structured.to_string(),
        text: outcome.text,
        is_error: outcome.is_error,
        approval: outcome.approval.map(|a| v1::PendingApproval {
            item_id: a.item_id,
            summary: a.summary,
            review_url: a.review_url,
        }),
    }
}

fn arguments(json: &str) -> Result<serde_json::Value, Error> {
    if json.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(json)
        .map_err(|e| Error::invalid("arguments", format!("not valid JSON: {e}")))
}

#[tonic::async_trait]
impl tools_server::Tools for ToolsService {
    async fn list(
        &self,
        _request: Request<v1::ListToolsRequest>,
    ) -> Result<Response<v1::ListToolsResponse>, Status> {
        let tools = serde_json::Value::Array(self.0.list());
        Ok(Response::new(v1::ListToolsResponse {
            tools_json: tools.to_string(),
        }))
    }

    async fn call(
        &self,
        request: Request<v1::CallToolRequest>,
    ) -> Result<Response<v1::CallToolResponse>, Status> {
        let uid = super::peer_uid(&request);
        let r = request.into_inner();
        let (caller, _) = mcp_caller(r.client.as_ref(), uid);
        let outcome = match arguments(&r.arguments_json) {
            Ok(args) => self
                .0
                .call(&caller, &r.name, args)
                .await
                .map_err(unknown_tool)?,
            Err(e) => crate::tools::Outcome::from_error(&e),
        };
        Ok(Response::new(response(outcome)))
    }

    async fn invoke(
        &self,
        request: Request<v1::InvokeRequest>,
    ) -> Result<Response<v1::CallToolResponse>, Status> {
        let caller = super::caller(&request);
        let r = request.into_inner();
        let outcome = match arguments(&r.arguments_json) {
            Ok(args) => self
                .0
                .invoke(&caller, &r.name, args)
                .await
                .map_err(unknown_tool)?,
            Err(e) => crate::tools::Outcome::from_error(&e),
        };
        Ok(Response::new(response(outcome)))
    }

    async fn read_resource(
        &self,
        request: Request<v1::ReadResourceRequest>,
    ) -> Result<Response<v1::ReadResourceResponse>, Status> {
        let uid = super::peer_uid(&request);
        let r = request.into_inner();
        let (caller, _) = mcp_caller(r.client.as_ref(), uid);
        let value = self.0.read_resource(&caller, &r.uri).await?;
        Ok(Response::new(v1::ReadResourceResponse {
            mime_type: "application/json".to_owned(),
            text: serde_json::to_string_pretty(&value).unwrap_or_default(),
        }))
    }

    async fn approve_by_human(
        &self,
        request: Request<v1::ApproveByHumanRequest>,
    ) -> Result<Response<v1::ApproveByHumanResponse>, Status> {
        let uid = super::peer_uid(&request);
        let r = request.into_inner();
        let (caller, client) = mcp_caller(r.client.as_ref(), uid);
        let outcome = self
            .0
            .approve_by_human(&caller, &client, &r.item_id)
            .await?;
        Ok(Response::new(v1::ApproveByHumanResponse {
            structured_json: outcome.structured.to_string(),
            text: outcome.text,
        }))
    }
}
