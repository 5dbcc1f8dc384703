//! Reference: a bare rmcp stdio server

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _};

use crate::{Result, current_thread};

/// Answers every tools/call with one fixed result: rmcp and the pipes, no
/// backend.
#[derive(Clone)]
struct EchoServer {
    result: CallToolResult,
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        Ok(self.result.clone().into())
    }
}

/// The child's main: serve like comms-mcp (current_thread, stdio pipes).
pub(crate) fn echo_server(structured_json: &str) -> Result<()> {
    let structured: serde_json::Value = serde_json::from_str(structured_json)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(structured_json)]);
    result.structured_content = Some(structured);
    current_thread()?.block_on(async {
        let running = EchoServer { result }
            .serve(rmcp::transport::io::stdio_pipes())
            .await?;
        running.waiting().await?;
        Ok(())
    })
}
