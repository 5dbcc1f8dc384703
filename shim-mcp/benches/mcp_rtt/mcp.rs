//! The MCP client over comms-mcp's stdio

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commsd_mcp::grpc::{Autostart, GrpcBackend};
use commsd_mcp::{
    Backend, BackendError, BackendEvent, Client, Consent, McpServer, ResourceText, ToolOutcome,
    ToolSpec,
};
use futures_util::stream::BoxStream;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt as _, ServiceExt as _};

use crate::daemon::ShimEnv;
use crate::{
    ARGS, BoxError, CALLS, CLIENT_NAME, Result, STARTS, TOOL, WARMUP, current_thread,
    proc_status_field,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Era {
    /// 2026-07-28: server/discover, then per-request `_meta`.
    Modern,
    /// 2025-06-18: initialize / notifications/initialized.
    Legacy,
}

impl Era {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Era::Modern => "2026-07-28",
            Era::Legacy => "2025-06-18",
        }
    }

    pub(crate) fn handshake(self) -> &'static str {
        match self {
            Era::Modern => "server/discover",
            Era::Legacy => "initialize",
        }
    }

    fn client(self) -> ClientConfig {
        let mut info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(CLIENT_NAME, commsd_proto::VERSION),
        );
        if self == Era::Legacy {
            info.protocol_version = ProtocolVersion::V_2025_06_18;
        }
        info
    }

    fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Modern => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
            Era::Legacy => ClientLifecycleMode::Initialize,
        }
    }
}

type McpClient = RunningService<RoleClient, ClientConfig>;

/// Spawns comms-mcp and completes the era's handshake; returns the client,
/// the shim's pid and the time from spawn to the handshake's answer.
async fn connect_shim(env: &ShimEnv, shim: &Path, era: Era) -> Result<(McpClient, u32, Duration)> {
    let t = Instant::now();
    let transport = TokioChildProcess::new(env.command(shim))?;
    let pid = transport.id().ok_or("comms-mcp has no pid")?;
    let client = era
        .client()
        .serve_with_lifecycle(transport, era.lifecycle())
        .await
        .map_err(|e| format!("{} handshake with {}: {e}", era.handshake(), shim.display()))?;
    Ok((client, pid, t.elapsed()))
}

fn call_params() -> Result<CallToolRequestParams> {
    let mut params = CallToolRequestParams::new(TOOL.to_owned());
    params.arguments = Some(serde_json::from_str(ARGS)?);
    Ok(params)
}

async fn call_once(client: &McpClient, params: CallToolRequestParams) -> Result<()> {
    let r = client.call_tool(params).await?;
    if r.is_error == Some(true) {
        return Err(format!(
            "{TOOL} through comms-mcp failed: {:?}",
            r.structured_content
        )
        .into());
    }
    black_box(r);
    Ok(())
}

#[derive(Debug, Default)]
pub(crate) struct McpRun {
    pub(crate) samples: Vec<Duration>,
    pub(crate) rss_after_kb: u64,
    pub(crate) hwm_kb: u64,
    pub(crate) threads: u64,
    /// VmRSS after the calls and 1 s idle.
    pub(crate) rss_idle_kb: Option<u64>,
}

/// `WARMUP` then `CALLS` sequential tools/call; returns the timed ones.
async fn call_loop(client: &McpClient) -> Result<Vec<Duration>> {
    let params = call_params()?;
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let p = params.clone();
        let t = Instant::now();
        call_once(client, p).await?;
        if i >= WARMUP {
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

/// One fresh child (comms-mcp, or the reference server), the call loop,
/// its memory, then stdin EOF.
pub(crate) fn mcp_rtt(env: &ShimEnv, shim: &Path, era: Era, idle: bool) -> Result<McpRun> {
    current_thread()?.block_on(async {
        let (client, pid, _) = connect_shim(env, shim, era).await?;
        let mut run = McpRun {
            samples: call_loop(&client).await?,
            ..McpRun::default()
        };
        run.rss_after_kb = proc_status_field(pid, "VmRSS")?;
        run.hwm_kb = proc_status_field(pid, "VmHWM")?;
        run.threads = proc_status_field(pid, "Threads")?;
        if idle {
            tokio::time::sleep(Duration::from_secs(1)).await;
            run.rss_idle_kb = Some(proc_status_field(pid, "VmRSS")?);
        }
        client.cancel().await?;
        Ok(run)
    })
}

/// comms-mcp's `McpServer` over `backend` in this process, reached over an
/// in-memory duplex pipe: the shim's work without its process and stdio.
pub(crate) fn in_process_rtt(backend: Arc<dyn Backend>) -> Result<Vec<Duration>> {
    let server = McpServer::new(backend, Arc::new(Consent::new()?));
    current_thread()?.block_on(async {
        let (a, b) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(a).await {
                let _ = running.waiting().await;
            }
        });
        let client = Era::Modern
            .client()
            .serve_with_lifecycle(b, Era::Modern.lifecycle())
            .await?;
        let samples = call_loop(&client).await?;
        client.cancel().await?;
        Ok(samples)
    })
}

/// comms-mcp's backend alone: `GrpcBackend::call_tool`, no MCP.
pub(crate) fn backend_rtt(socket: &Path) -> Result<Vec<Duration>> {
    let backend = GrpcBackend::new(socket.to_owned(), Autostart::Disabled);
    let client = Client::named(CLIENT_NAME);
    let args: serde_json::Value = serde_json::from_str(ARGS)?;
    current_thread()?.block_on(async {
        let mut samples = Vec::with_capacity(CALLS);
        for i in 0..WARMUP + CALLS {
            let a = args.clone();
            let t = Instant::now();
            let outcome = backend.call_tool(&client, TOOL, a).await?;
            let took = t.elapsed();
            if outcome.is_error {
                return Err(format!("{TOOL} failed: {}", outcome.text).into());
            }
            black_box(outcome);
            if i >= WARMUP {
                samples.push(took);
            }
        }
        Ok(samples)
    })
}

/// A backend that answers every call with one fixed outcome: the MCP
/// server's own cost, without the daemon.
pub(crate) struct FixedBackend(pub(crate) ToolOutcome);

#[async_trait::async_trait]
impl Backend for FixedBackend {
    async fn tools(&self, _client: &Client) -> Result<Vec<ToolSpec>, BackendError> {
        Ok(Vec::new())
    }

    async fn call_tool(
        &self,
        _client: &Client,
        _name: &str,
        _arguments: serde_json::Value,
    ) -> Result<ToolOutcome, BackendError> {
        Ok(self.0.clone())
    }

    async fn read_resource(
        &self,
        _client: &Client,
        uri: &str,
    ) -> Result<ResourceText, BackendError> {
        Err(BackendError::Internal(format!("no resource {uri} here")))
    }

    async fn approve_by_human(
        &self,
        _client: &Client,
        item_id: &str,
    ) -> Result<ToolOutcome, BackendError> {
        Err(BackendError::Internal(format!("no item {item_id} here")))
    }

    fn events(&self) -> BoxStream<'static, BackendEvent> {
        Box::pin(futures_util::stream::pending())
    }
}

/// Fresh shims: spawn -> handshake answered, spawn -> first tools/call
/// answered, and stdin EOF -> exit.
pub(crate) fn start_up(env: &ShimEnv, shim: &Path, era: Era) -> Result<[Vec<Duration>; 3]> {
    let rt = current_thread()?;
    let params = call_params()?;
    let mut handshake = Vec::with_capacity(STARTS);
    let mut first_call = Vec::with_capacity(STARTS);
    let mut exit = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        rt.block_on(async {
            let t = Instant::now();
            let (client, _, hs) = connect_shim(env, shim, era).await?;
            call_once(&client, params.clone()).await?;
            first_call.push(t.elapsed());
            handshake.push(hs);
            // Closes the shim's stdin and waits for it to exit.
            let t = Instant::now();
            client.cancel().await?;
            exit.push(t.elapsed());
            Ok::<_, BoxError>(())
        })?;
    }
    Ok([handshake, first_call, exit])
}
