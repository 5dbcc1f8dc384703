//! MCP round trip through comms-mcp to the real daemon, beside the bare gRPC
//! call the shim makes for it, plus the shim's start-up time and memory.
//!
//! Run with `cargo bench -p commsd-mcp --bench mcp_rtt` after
//! `cargo build --release --bins` (commsd lives in another package, so
//! `cargo bench` here does not build it). Prints one plain table; no external
//! harness. `MCP_RTT_ROUNDS` (default 3) repeats every latency row that many
//! times, in interleaved rounds; each row reports its least disturbed round
//! (lowest p50) and lists every round's p50, so noise on a busy machine shows
//! up as spread instead of hiding.
//!
//! What is measured:
//! 1. `tools/call outbox_list` from rmcp's client (current_thread runtime)
//!    over the stdio of a `comms-mcp` child, relayed to `commsd` over its
//!    Unix socket; in the 2026-07-28 era (server/discover, `_meta` on every
//!    request) and the 2025-06-18 era (initialize handshake).
//! 2. The bare gRPC call the shim makes for it: `Tools.Call` with the same
//!    request through commsd_proto's client, and the ratio of the two.
//! 3. Its parts, to see where the time goes: a bare rmcp stdio server (this
//!    bench re-run as a child) answering the same result with no backend;
//!    comms-mcp's `McpServer` + `GrpcBackend` in this process over an
//!    in-memory duplex (no shim process, no stdio); the same server over a
//!    backend with a fixed answer (no daemon); `GrpcBackend::call_tool`
//!    alone (no MCP).
//! 4. Experiments: the core rows again beside a `nice -n 19` busy loop
//!    that keeps a CPU out of idle (this VM's idle vCPUs halt, and every
//!    cross-process wake-up then pays for it: the gap between these rows
//!    and the core ones is the machine, not the code); and any other
//!    comms-mcp builds named in `MCP_RTT_SHIMS` (`label=/path,...`), to try
//!    a change of the shim against the current one in the same run.
//! 5. Shim start-up: 20 fresh spawns per era against the running daemon,
//!    spawn -> handshake answered (initialize or server/discover) and
//!    spawn -> first tools/call answered (which includes the shim's gRPC
//!    connect to the daemon); and stdin EOF -> exit.
//! 6. Shim RSS after the calls, and after 1 s idle.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use commsd_mcp::grpc::{Autostart, GrpcBackend};
use commsd_mcp::{
    Backend, BackendError, BackendEvent, Client, Consent, McpServer, ResourceText, ToolOutcome,
    ToolSpec,
};
use commsd_proto::v1::{self, tools_client::ToolsClient};
use futures_util::stream::BoxStream;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ContentBlock, Implementation, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleClient, RoleServer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientLifecycleMode, ClientServiceExt as _, ErrorData, ServerHandler, ServiceExt as _};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const WARMUP: usize = 500;
const CALLS: usize = 5_000;
const STARTS: usize = 20;
/// Items staged before measuring, so that outbox_list returns real rows.
const STAGED: usize = 5;
const TOOL: &str = "outbox_list";
const ARGS: &str = "{}";
const CLIENT_NAME: &str = "mcp-rtt";
/// Set in the child that serves as the bare rmcp reference: the
/// structuredContent it answers every tools/call with.
const ECHO_ENV: &str = "MCP_RTT_ECHO_RESULT";
const CONFIG: &str =
    "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n";

// Targets of issue 5.
const TARGET_P50_MS: f64 = 0.6;
const TARGET_P99_MS: f64 = 3.0;
const TARGET_START_MS: f64 = 20.0;
const TARGET_RSS_MB: f64 = 10.0;

// ---------------------------------------------------------------------------
// Statistics

#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
    min: f64,
    max: f64,
}

/// Nearest-rank percentiles, in milliseconds.
fn stats(samples: &[Duration]) -> Stats {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if ms.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        ms[rank.clamp(1, ms.len()) - 1]
    };
    Stats {
        p50: pick(50.0),
        p90: pick(90.0),
        p99: pick(99.0),
        min: ms.first().copied().unwrap_or(f64::NAN),
        max: ms.last().copied().unwrap_or(f64::NAN),
    }
}

/// A `/proc/<pid>/status` field, e.g. `VmRSS` (kB) or `Threads`.
fn proc_status_field(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

/// `/proc/loadavg`'s first three fields, to show how busy the machine was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn current_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

// ---------------------------------------------------------------------------
// Binaries

/// `target/<profile>/`: the bench runs from `target/<profile>/deps/`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| format!("no target directory above {}", exe.display()).into())
}

/// A binary beside the bench's target directory, or a clear error.
fn binary(name: &str) -> Result<PathBuf> {
    let path = target_dir()?.join(name);
    if !path.is_file() {
        return Err(format!(
            "{} is not built; run `cargo build --release --bins` first \
             (`cargo bench -p commsd-mcp` builds only this package's binaries)",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// "path (built 3 min ago)", to notice a stale binary.
fn describe(path: &Path) -> String {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or_else(String::new, |d| {
            let s = d.as_secs();
            if s < 120 {
                format!(" (built {s} s ago)")
            } else if s < 7200 {
                format!(" (built {} min ago)", s / 60)
            } else {
                format!(" (built {} h ago)", s / 3600)
            }
        });
    format!("{}{age}", path.display())
}

// ---------------------------------------------------------------------------
// The real daemon, as a child process

struct DaemonProc {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    shim_env: ShimEnv,
}

/// What comms-mcp needs to reach this daemon: its socket, data directory and
/// config, and never autostart.
#[derive(Debug, Clone)]
struct ShimEnv {
    socket: PathBuf,
    data: PathBuf,
    config: PathBuf,
    extra: Vec<(&'static str, String)>,
}

impl ShimEnv {
    fn command(&self, shim: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(shim);
        cmd.env("COMMSD_SOCKET", &self.socket)
            .env("COMMSD_DATA_DIR", &self.data)
            .env("COMMSD_CONFIG", &self.config)
            .env("COMMSD_AUTOSTART", "0")
            .env("COMMSD_LOG", "warn")
            .stderr(Stdio::inherit());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }
}

impl DaemonProc {
    /// Starts `commsd` on a fresh temp directory and waits until it answers.
    fn start(binary: &Path) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, CONFIG)?;
        let socket = dir.path().join("run").join("commsd.sock");
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let child = Command::new(binary)
            .env("COMMSD_DATA_DIR", dir.path().join("data"))
            .env("COMMSD_SOCKET", &socket)
            .env("COMMSD_CONFIG", &config)
            .env("COMMSD_LOG", "warn")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let shim_env = ShimEnv {
            socket: socket.clone(),
            data: dir.path().join("data"),
            config,
            extra: Vec::new(),
        };
        let mut daemon = DaemonProc {
            child,
            dir,
            socket,
            shim_env,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<()> {
        // Dropped on return: a channel left on an undriven runtime would hold
        // the daemon's graceful shutdown for its drain timeout.
        let rt = current_thread()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rt.block_on(commsd_proto::client::connect(&self.socket)) {
                Ok(_) => return Ok(()),
                Err(e) => {
                    if let Some(status) = self.child.try_wait()? {
                        return Err(format!(
                            "commsd exited ({status}) before it was ready: {e}\n{}",
                            self.stderr()
                        )
                        .into());
                    }
                    if Instant::now() > deadline {
                        return Err(
                            format!("commsd not ready after 20 s: {e}\n{}", self.stderr()).into(),
                        );
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGTERM through `kill(1)` (the workspace forbids unsafe code), then
    /// waits up to 15 s for the exit.
    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                return Err(format!("commsd did not exit within 15 s:\n{}", self.stderr()).into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        // Only reached without a clean `stop` (an error path): do not leak it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The bare gRPC call

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
fn seed(socket: &Path) -> Result<String> {
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
fn grpc_rtt(socket: &Path) -> Result<Vec<Duration>> {
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

// ---------------------------------------------------------------------------
// The MCP client over comms-mcp's stdio

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    /// 2026-07-28: server/discover, then per-request `_meta`.
    Modern,
    /// 2025-06-18: initialize / notifications/initialized.
    Legacy,
}

impl Era {
    fn label(self) -> &'static str {
        match self {
            Era::Modern => "2026-07-28",
            Era::Legacy => "2025-06-18",
        }
    }

    fn handshake(self) -> &'static str {
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
struct McpRun {
    samples: Vec<Duration>,
    rss_after_kb: u64,
    hwm_kb: u64,
    threads: u64,
    /// VmRSS after the calls and 1 s idle.
    rss_idle_kb: Option<u64>,
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
fn mcp_rtt(env: &ShimEnv, shim: &Path, era: Era, idle: bool) -> Result<McpRun> {
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
fn in_process_rtt(backend: Arc<dyn Backend>) -> Result<Vec<Duration>> {
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
fn backend_rtt(socket: &Path) -> Result<Vec<Duration>> {
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
struct FixedBackend(ToolOutcome);

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
fn start_up(env: &ShimEnv, shim: &Path, era: Era) -> Result<[Vec<Duration>; 3]> {
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

// ---------------------------------------------------------------------------
// Reference: a bare rmcp stdio server

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
fn echo_server(structured_json: &str) -> Result<()> {
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

// ---------------------------------------------------------------------------
// A CPU kept busy

/// A `nice -n 19` shell busy loop: keeps one vCPU out of idle while taking
/// almost no time from the measured processes. Killed on drop.
struct BusyLoop(Child);

impl BusyLoop {
    fn start() -> Result<Self> {
        let child = Command::new("nice")
            .args(["-n", "19", "sh", "-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start `nice -n 19 sh`: {e}"))?;
        Ok(BusyLoop(child))
    }
}

impl Drop for BusyLoop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The cpuidle driver and guest halt polling, which decide what a wake-up
/// of an idle vCPU costs.
fn cpuidle() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned())
    };
    format!(
        "cpuidle driver {}, guest_halt_poll_ns {}",
        read("/sys/devices/system/cpu/cpuidle/current_driver"),
        read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    )
}

// ---------------------------------------------------------------------------
// Rows

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// tools/call through a comms-mcp child.
    Mcp(Era),
    /// The bare gRPC call.
    Grpc,
    /// The reference rmcp server (this executable as a child), 2026-07-28.
    Echo,
    /// `McpServer` + `GrpcBackend` in this process, 2026-07-28.
    InProcess,
    /// `McpServer` + `FixedBackend` in this process, 2026-07-28.
    InProcessFixed,
    /// `GrpcBackend::call_tool` alone.
    Backend,
    /// tools/call through another comms-mcp build (`MCP_RTT_SHIMS`).
    Other(usize),
}

#[derive(Debug, Clone)]
struct Row {
    group: &'static str,
    name: String,
    kind: Kind,
    /// Run beside a `BusyLoop`.
    busy: bool,
}

/// Other comms-mcp builds to compare: `MCP_RTT_SHIMS=label=/path,...`.
fn extra_shims() -> Result<Vec<(String, PathBuf)>> {
    let Ok(list) = std::env::var("MCP_RTT_SHIMS") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (label, path) = item
                .split_once('=')
                .ok_or_else(|| format!("MCP_RTT_SHIMS: expected label=/path, got {item:?}"))?;
            let path = PathBuf::from(path.trim());
            if !path.is_file() {
                return Err(format!("MCP_RTT_SHIMS: {} is not a file", path.display()).into());
            }
            Ok((label.trim().to_owned(), path))
        })
        .collect()
}

fn rows(extra: &[(String, PathBuf)]) -> Vec<Row> {
    let row = |group, name: &str, kind, busy| Row {
        group,
        name: name.to_owned(),
        kind,
        busy,
    };
    let mut v = vec![
        row(
            "core",
            &format!("MCP tools/call {TOOL} via comms-mcp, 2026-07-28"),
            Kind::Mcp(Era::Modern),
            false,
        ),
        row(
            "core",
            &format!("MCP tools/call {TOOL} via comms-mcp, 2025-06-18"),
            Kind::Mcp(Era::Legacy),
            false,
        ),
        row(
            "core",
            &format!("bare gRPC Tools.Call {TOOL} (the shim's call)"),
            Kind::Grpc,
            false,
        ),
        row(
            "parts",
            "bare rmcp stdio server, same result, no backend",
            Kind::Echo,
            false,
        ),
        row(
            "parts",
            "McpServer+GrpcBackend in process (duplex, no stdio)",
            Kind::InProcess,
            false,
        ),
        row(
            "parts",
            "McpServer+fixed answer in process (no daemon)",
            Kind::InProcessFixed,
            false,
        ),
        row(
            "parts",
            "GrpcBackend::call_tool alone (no MCP)",
            Kind::Backend,
            false,
        ),
        row(
            "busy",
            "MCP 2026-07-28 via comms-mcp, niced busy loop",
            Kind::Mcp(Era::Modern),
            true,
        ),
        row("busy", "bare gRPC, niced busy loop", Kind::Grpc, true),
    ];
    for (i, (label, _)) in extra.iter().enumerate() {
        v.push(row(
            "shim",
            &format!("MCP 2026-07-28 via {label}"),
            Kind::Other(i),
            false,
        ));
    }
    v
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let outcome = match std::env::var(ECHO_ENV) {
        Ok(result) => echo_server(&result),
        Err(_) => run(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp_rtt: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    // `cargo bench` passes `--bench`; accept and ignore harness arguments.
    let rounds: usize = std::env::var("MCP_RTT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let bench_start = Instant::now();
    let commsd = binary("commsd")?;
    let shim = PathBuf::from(env!("CARGO_BIN_EXE_comms-mcp"));
    let this = std::env::current_exe()?;
    let extra = extra_shims()?;

    println!(
        "mcp_rtt: {CALLS} sequential calls after {WARMUP} warm-up per row, {rounds} round(s); times in ms"
    );
    println!(
        "cores: {}; load average at start: {}; {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        cpuidle()
    );
    println!("commsd:    {}", describe(&commsd));
    println!("comms-mcp: {}", describe(&shim));
    for (label, path) in &extra {
        println!("{label}: {}", describe(path));
    }

    let daemon = DaemonProc::start(&commsd)?;
    let listed = seed(&daemon.socket)?;
    println!(
        "{TOOL} {ARGS} lists {STAGED} staged sandbox emails: structuredContent {} bytes",
        listed.len()
    );
    // What the daemon answers, for the references without it.
    let fixed = current_thread()?.block_on(async {
        GrpcBackend::new(daemon.socket.clone(), Autostart::Disabled)
            .call_tool(
                &Client::named(CLIENT_NAME),
                TOOL,
                serde_json::from_str(ARGS)?,
            )
            .await
            .map_err(BoxError::from)
    })?;
    let mut echo_env = daemon.shim_env.clone();
    echo_env.extra.push((ECHO_ENV, listed));

    // Every round runs every row, so a burst of outside load lands on whole
    // rounds; each row then reports its least disturbed round.
    let list = rows(&extra);
    let mut per_round: Vec<Vec<Stats>> = vec![Vec::new(); list.len()];
    let mut loads = Vec::new();
    let mut primary: Option<McpRun> = None;
    for round in 0..rounds {
        loads.push(loadavg());
        for (i, row) in list.iter().enumerate() {
            let busy = if row.busy {
                Some(BusyLoop::start()?)
            } else {
                None
            };
            // The first row's last round also measures idle memory.
            let idle = i == 0 && round + 1 == rounds;
            let samples = match row.kind {
                Kind::Mcp(era) => mcp_rtt(&daemon.shim_env, &shim, era, idle).map(|run| {
                    let samples = run.samples.clone();
                    if idle {
                        primary = Some(run);
                    }
                    samples
                }),
                Kind::Grpc => grpc_rtt(&daemon.socket),
                Kind::Echo => mcp_rtt(&echo_env, &this, Era::Modern, false).map(|r| r.samples),
                Kind::InProcess => in_process_rtt(Arc::new(GrpcBackend::new(
                    daemon.socket.clone(),
                    Autostart::Disabled,
                ))),
                Kind::InProcessFixed => in_process_rtt(Arc::new(FixedBackend(fixed.clone()))),
                Kind::Backend => backend_rtt(&daemon.socket),
                Kind::Other(n) => {
                    let path = &extra[n].1;
                    mcp_rtt(&daemon.shim_env, path, Era::Modern, false).map(|r| r.samples)
                }
            }
            .map_err(|e| format!("{}: {e}", row.name))?;
            drop(busy);
            per_round[i].push(stats(&samples));
        }
    }

    let mut starts = Vec::new();
    for era in [Era::Modern, Era::Legacy] {
        starts.push((era, start_up(&daemon.shim_env, &shim, era)?));
    }
    daemon.stop()?;

    // ---- The table
    let best: Vec<Stats> = per_round
        .iter()
        .map(|r| {
            r.iter()
                .copied()
                .min_by(|a, b| a.p50.total_cmp(&b.p50))
                .unwrap_or_else(|| stats(&[]))
        })
        .collect();
    println!();
    println!(
        "{:<6} {:<54} {:>7} {:>7} {:>7} {:>7} {:>8}  {:<20}",
        "group", "row", "p50", "p90", "p99", "min", "max", "p50 per round"
    );
    println!("{}", "-".repeat(125));
    let mut last_group = "";
    for (i, row) in list.iter().enumerate() {
        if row.group != last_group && !last_group.is_empty() {
            println!();
        }
        last_group = row.group;
        let s = best[i];
        let rounds_txt = per_round[i]
            .iter()
            .map(|r| format!("{:.3}", r.p50))
            .collect::<Vec<_>>()
            .join("/");
        println!(
            "{:<6} {:<54} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>8.3}  {:<20}",
            row.group, row.name, s.p50, s.p90, s.p99, s.min, s.max, rounds_txt
        );
    }

    let find = |kind: Kind, busy: bool| {
        list.iter()
            .position(|r| r.kind == kind && r.busy == busy)
            .map_or_else(|| stats(&[]), |i| best[i])
    };
    let modern = find(Kind::Mcp(Era::Modern), false);
    let legacy = find(Kind::Mcp(Era::Legacy), false);
    let grpc = find(Kind::Grpc, false);
    let echo = find(Kind::Echo, false);
    let in_process = find(Kind::InProcess, false);
    println!();
    println!("ratios (best round):");
    for (name, mcp, grpc) in [
        ("2026-07-28", modern, grpc),
        ("2025-06-18", legacy, grpc),
        (
            "2026-07-28 with a busy loop",
            find(Kind::Mcp(Era::Modern), true),
            find(Kind::Grpc, true),
        ),
    ] {
        println!(
            "  MCP {name} / bare gRPC: p50 {:.2}x, p99 {:.2}x; MCP adds {:.0} µs at p50",
            mcp.p50 / grpc.p50,
            mcp.p99 / grpc.p99,
            (mcp.p50 - grpc.p50) * 1e3
        );
    }
    println!(
        "  MCP 2026-07-28 / (bare rmcp server + bare gRPC): p50 {:.2}x ({:.3} ms vs {:.3} + {:.3} ms)",
        modern.p50 / (echo.p50 + grpc.p50),
        modern.p50,
        echo.p50,
        grpc.p50
    );
    println!(
        "  comms-mcp's process and stdio: {:.0} µs at p50 (via comms-mcp - in process)",
        (modern.p50 - in_process.p50) * 1e3
    );

    println!();
    for (era, [handshake, first_call, exit]) in &starts {
        let (h, f, x) = (stats(handshake), stats(first_call), stats(exit));
        println!(
            "start-up {} ({STARTS} fresh comms-mcp): spawn -> {} answered median {:.1} ms, max {:.1} ms; \
             spawn -> first tools/call answered median {:.1} ms, max {:.1} ms; stdin EOF -> exit median {:.1} ms",
            era.label(),
            era.handshake(),
            h.p50,
            h.max,
            f.p50,
            f.max,
            x.p50
        );
    }

    let mb = |kb: u64| kb as f64 / 1024.0;
    let run = primary.ok_or("the first row did not run")?;
    let idle_kb = run.rss_idle_kb.unwrap_or(run.rss_after_kb);
    println!(
        "comms-mcp RSS after {} calls: {:.1} MB, after 1 s idle: {:.1} MB (VmHWM {:.1} MB, {} threads)",
        WARMUP + CALLS,
        mb(run.rss_after_kb),
        mb(idle_kb),
        mb(run.hwm_kb),
        run.threads
    );

    let p50 = modern.p50.max(legacy.p50);
    let p99 = modern.p99.max(legacy.p99);
    let first_call = starts
        .iter()
        .map(|(_, [_, f, _])| stats(f).p50)
        .fold(0.0, f64::max);
    let rss = mb(run.rss_after_kb.max(idle_kb));
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!("targets (issue 5; the worse era):");
    let busy = find(Kind::Mcp(Era::Modern), true);
    println!(
        "  p50 <= {TARGET_P50_MS} ms: {p50:.3} ms, {} (2026-07-28 beside the busy loop: {:.3} ms, {})",
        verdict(p50 <= TARGET_P50_MS),
        busy.p50,
        verdict(busy.p50 <= TARGET_P50_MS)
    );
    println!(
        "  p99 <= {TARGET_P99_MS} ms: {p99:.3} ms, {} (2026-07-28 beside the busy loop: {:.3} ms, {})",
        verdict(p99 <= TARGET_P99_MS),
        busy.p99,
        verdict(busy.p99 <= TARGET_P99_MS)
    );
    println!(
        "  start to first answered tools/call <= {TARGET_START_MS} ms (median): {first_call:.1} ms, {}",
        verdict(first_call <= TARGET_START_MS)
    );
    println!(
        "  RSS <= {TARGET_RSS_MB} MB: {rss:.1} MB, {}",
        verdict(rss <= TARGET_RSS_MB)
    );
    println!();
    println!(
        "load average at the start of each round: {}; at the end: {}",
        loads.join(" | "),
        loadavg()
    );
    println!(
        "total bench time: {:.1} s",
        bench_start.elapsed().as_secs_f64()
    );
    Ok(())
}
