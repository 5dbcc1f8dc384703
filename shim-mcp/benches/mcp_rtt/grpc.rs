//! The bare gRPC call

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use commsd_proto::v1::{self, tools_client::ToolsClient};

use crate::{ARGS, CALLS, CLIENT_NAME, Result, STAGED, TOOL, WARMUP, current_thread};

fn grpc_request(name: &str, arguments_json: &str) -> v1::CallToolRequest {
    v1::CallToolRequest {
        client: Some(v1::McpClient {
            name: CLIENT_NAME.to_owned(),
        }),
        name: name.to_owned(),
        arguments_json: arguments_json.to_owned(),
    }
}

/// Stages `STAGED` sandbox emails; returns outbox_list's structuredContent.
pub(crate) fn seed(socket: &Path) -> Result<String> {
    current_thread()?.block_on(async {
        let connected = commsd_proto::client::connect(socket).await?;
        let mut tools = ToolsClient::new(connected.channel);
        for i in 0..STAGED {
            let args = serde_json::json!({
                "to": ["Jane Roe <jane@example.org>"],
                "subject": format!("Tuesday {i}"),
                "text": "Dear Jane,\nsee you on Tuesday.\nBest",
            });
            let r = tools
                .call(grpc_request("email_stage", &args.to_string()))
                .await?
                .into_inner();
            if r.is_error {
                return Err(format!("email_stage failed: {}", r.structured_json).into());
            }
        }
        let r = tools.call(grpc_request(TOOL, ARGS)).await?.into_inner();
        if r.is_error {
            return Err(format!("{TOOL} failed: {}", r.structured_json).into());
        }
        Ok(r.structured_json)
    })
}

/// `WARMUP` then `CALLS` sequential Tools.Call on one channel, the way the
/// shim calls it (a `ToolsClient` on a kept channel).
pub(crate) fn grpc_rtt(socket: &Path) -> Result<Vec<Duration>> {
    current_thread()?.block_on(async {
        let connected = commsd_proto::client::connect(socket).await?;
        let channel = connected.channel;
        let request = grpc_request(TOOL, ARGS);
        let mut out = Vec::with_capacity(CALLS);
        for i in 0..WARMUP + CALLS {
            let req = request.clone();
            let t = Instant::now();
            let r = ToolsClient::new(channel.clone()).call(req).await?;
            let took = t.elapsed();
            if r.get_ref().is_error {
                return Err(format!("{TOOL} failed: {}", r.get_ref().structured_json).into());
            }
            black_box(r);
            if i >= WARMUP {
                out.push(took);
            }
        }
        Ok(out)
    })
}
