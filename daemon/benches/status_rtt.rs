//! Status round-trip latency over the control socket, against the real
//! daemon and two references, plus transport-setting experiments, daemon
//! start-up time and idle memory.
//!
//! Run with `cargo bench -p commsd --bench status_rtt`. Prints one plain
//! table; no external harness. `STATUS_RTT_ROUNDS` (default 3) repeats every
//! latency measurement that many times, in interleaved rounds; each row
//! reports its least disturbed round (lowest p50) and lists every round's
//! p50, so noise on a busy machine shows up as spread instead of hiding.
//!
//! What is measured:
//! 1. `Control/Status` against the `commsd` binary (separate process).
//! 2. Reference A: a do-nothing tonic `Control` service on a Unix socket,
//!    in-process on its own runtime thread, reached through the same client.
//! 3. Reference B (the floor): 64-byte echo over a std `UnixStream`.
//! 4. Variations of client runtime, client `Endpoint` and server builder.
//! 5. Daemon spawn-to-first-successful-Status, 20 fresh starts.
//! 6. Daemon idle RSS.

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{self, Read as _, Write as _};
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commsd_proto::v1::control_client::ControlClient;
use commsd_proto::v1::control_server::{Control, ControlServer};
use commsd_proto::v1::{ShutdownRequest, ShutdownResponse, StatusRequest, StatusResponse};
use commsd_proto::{PROTOCOL_VERSION, VERSION};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Request, Response, Status};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const WARMUP: usize = 500;
const CALLS: usize = 10_000;
const STARTS: usize = 20;
const CONNECTS: usize = 200;
const CONFIG: &str =
    "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n";

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

/// Nearest-rank percentiles, in microseconds.
fn stats(samples: &[Duration]) -> Stats {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * us.len() as f64).ceil() as usize;
        us[rank.clamp(1, us.len()) - 1]
    };
    Stats {
        p50: pick(50.0),
        p90: pick(90.0),
        p99: pick(99.0),
        min: us.first().copied().unwrap_or(f64::NAN),
        max: us.last().copied().unwrap_or(f64::NAN),
    }
}

// ---------------------------------------------------------------------------
// The real daemon, as a child process

struct DaemonProc {
    child: Child,
    socket: PathBuf,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl DaemonProc {
    /// Spawns `commsd` on a fresh temp directory (itself 0700: the daemon
    /// creates the socket directory inside it). Does not wait for readiness.
    fn spawn(extra_env: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, CONFIG)?;
        let socket = dir.path().join("run").join("commsd.sock");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_commsd"));
        cmd.env("COMMSD_DATA_DIR", dir.path().join("data"))
            .env("COMMSD_SOCKET", &socket)
            .env("COMMSD_CONFIG", &config)
            .env("COMMSD_LOG", "warn")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        Ok(DaemonProc {
            child,
            socket,
            stderr_path,
            _dir: dir,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Polls connect + Status every 1 ms until it succeeds; returns the time
    /// since `since`.
    ///
    /// Takes the runtime by value and drops it on return: the channel's
    /// background tasks live on it, and a connection left open on a runtime
    /// nobody drives never answers the daemon's GOAWAY, which holds the
    /// daemon's graceful shutdown for its whole drain timeout.
    fn wait_ready(&mut self, rt: tokio::runtime::Runtime, since: Instant) -> Result<Duration> {
        let deadline = since + Duration::from_secs(20);
        loop {
            match rt.block_on(commsd_proto::client::connect(&self.socket)) {
                Ok(_) => return Ok(since.elapsed()),
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
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGTERM through `kill(1)` (the workspace forbids unsafe code), then
    /// waits for the exit; returns how long the graceful stop took.
    fn stop(mut self) -> Result<Duration> {
        let t = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed: {status}", self.pid()).into());
        }
        let deadline = t + Duration::from_secs(15);
        loop {
            if let Some(exit) = self.child.try_wait()? {
                if !exit.success() {
                    eprintln!("warning: commsd exited with {exit}: {}", self.stderr());
                }
                return Ok(t.elapsed());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "commsd did not exit within 15 s of SIGTERM:\n{}",
                    self.stderr()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
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

// ---------------------------------------------------------------------------
// Reference A: a do-nothing tonic Control service, in-process

struct EchoControl(StatusResponse);

#[tonic::async_trait]
impl Control for EchoControl {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.0.clone()))
    }

    async fn shutdown(
        &self,
        _request: Request<ShutdownRequest>,
    ) -> Result<Response<ShutdownResponse>, Status> {
        Ok(Response::new(ShutdownResponse {}))
    }
}

/// A response shaped like the daemon's (same fields, similar sizes), so that
/// the payload is not what differs.
fn constant_status(socket: &Path) -> StatusResponse {
    StatusResponse {
        version: VERSION.to_owned(),
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        uptime_ms: 12_345,
        socket: socket.display().to_string(),
        data_dir: "/tmp/.tmpAAAAAA/data".to_owned(),
        config_path: "/tmp/.tmpAAAAAA/config.toml".to_owned(),
        dashboard_url: "http://127.0.0.1:40001".to_owned(),
        api_url: "http://127.0.0.1:40002".to_owned(),
        webhook_url: "http://127.0.0.1:40003".to_owned(),
        counts: HashMap::from([
            ("daemon_starts".to_owned(), 1),
            ("unclean_stops".to_owned(), 0),
            ("event_subscribers".to_owned(), 0),
        ]),
        started_at_unix_ms: 1_700_000_000_000,
        warnings: Vec::new(),
    }
}

#[derive(Debug, Clone, Default)]
struct ServerCfg {
    /// `None`: a current_thread runtime on one dedicated thread; `Some(n)`:
    /// multi_thread with n workers (the daemon uses multi_thread, one worker per core).
    workers: Option<usize>,
    stream_window: Option<u32>,
    conn_window: Option<u32>,
    max_frame: Option<u32>,
    adaptive: Option<bool>,
    concurrency: Option<usize>,
}

struct RefServer {
    socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    _dir: tempfile::TempDir,
}

impl RefServer {
    fn start(cfg: &ServerCfg) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("ref.sock");
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let cfg = cfg.clone();
        let path = socket.clone();
        let thread = std::thread::Builder::new()
            .name("ref-a-server".to_owned())
            .spawn(move || -> Result<()> {
                let rt = match cfg.workers {
                    None => tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?,
                    Some(n) => tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(n)
                        .enable_all()
                        .build()?,
                };
                rt.block_on(async move {
                    let listener = match UnixListener::bind(&path) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return Err(e.into());
                        }
                    };
                    let mut builder = Server::builder();
                    if let Some(v) = cfg.stream_window {
                        builder = builder.initial_stream_window_size(v);
                    }
                    if let Some(v) = cfg.conn_window {
                        builder = builder.initial_connection_window_size(v);
                    }
                    if let Some(v) = cfg.max_frame {
                        builder = builder.max_frame_size(v);
                    }
                    if let Some(v) = cfg.adaptive {
                        builder = builder.http2_adaptive_window(Some(v));
                    }
                    if let Some(v) = cfg.concurrency {
                        builder = builder.concurrency_limit_per_connection(v);
                    }
                    let _ = ready_tx.send(Ok(()));
                    builder
                        .add_service(ControlServer::new(EchoControl(constant_status(&path))))
                        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                            let _ = stop_rx.await;
                        })
                        .await?;
                    Ok(())
                })
            })?;
        ready_rx.recv()??;
        Ok(RefServer {
            socket,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        })
    }

    fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| "reference server thread panicked")??;
        }
        Ok(())
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------
// Reference B: the floor, a raw 64-byte echo

fn floor_std() -> Result<Vec<Duration>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let listener = StdUnixListener::bind(&path)?;
    let server = std::thread::spawn(move || -> io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        loop {
            match conn.read_exact(&mut buf) {
                Ok(()) => conn.write_all(&buf)?,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    });
    let mut conn = StdUnixStream::connect(&path)?;
    let msg = [7u8; 64];
    let mut buf = [0u8; 64];
    for _ in 0..WARMUP {
        conn.write_all(&msg)?;
        conn.read_exact(&mut buf)?;
    }
    let mut out = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        conn.write_all(&msg)?;
        conn.read_exact(&mut buf)?;
        out.push(t.elapsed());
        black_box(&buf);
    }
    drop(conn);
    server.join().map_err(|_| "echo thread panicked")??;
    Ok(out)
}

/// The same echo with tokio on both sides (each a current_thread runtime on
/// its own thread): the cost of the async reactor alone, without HTTP/2.
fn floor_tokio() -> Result<Vec<Duration>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("echo.sock");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let server_path = path.clone();
    let server = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let listener = UnixListener::bind(&server_path)?;
            let _ = ready_tx.send(());
            let (mut conn, _) = listener.accept().await?;
            let mut buf = [0u8; 64];
            loop {
                match conn.read_exact(&mut buf).await {
                    Ok(_) => conn.write_all(&buf).await?,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
        })
    });
    ready_rx.recv()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let mut conn = UnixStream::connect(&path).await?;
        let msg = [7u8; 64];
        let mut buf = [0u8; 64];
        for _ in 0..WARMUP {
            conn.write_all(&msg).await?;
            conn.read_exact(&mut buf).await?;
        }
        let mut out = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let t = Instant::now();
            conn.write_all(&msg).await?;
            conn.read_exact(&mut buf).await?;
            out.push(t.elapsed());
            black_box(&buf);
        }
        Ok::<_, BoxError>(out)
    })?;
    server.join().map_err(|_| "tokio echo thread panicked")??;
    Ok(out)
}

// ---------------------------------------------------------------------------
// The gRPC client side

#[derive(Debug, Clone, Copy)]
enum ClientRt {
    /// What commsctl uses.
    CurrentThread,
    /// multi_thread with `workers`; the call loop either runs in `block_on`
    /// (off the workers, like `#[tokio::main]`) or is spawned onto a worker.
    MultiThread { workers: usize, on_worker: bool },
}

impl ClientRt {
    fn label(self) -> String {
        match self {
            ClientRt::CurrentThread => "current_thread".to_owned(),
            ClientRt::MultiThread { workers, on_worker } => format!(
                "multi_thread({workers}){}",
                if on_worker { " spawned" } else { " block_on" }
            ),
        }
    }
}

/// Client `Endpoint` settings. The default equals `proto/src/client.rs`.
#[derive(Debug, Clone)]
struct EndpointCfg {
    keepalive: bool,
    stream_window: Option<u32>,
    conn_window: Option<u32>,
    adaptive: Option<bool>,
    buffer: Option<usize>,
    max_frame: Option<u32>,
}

impl Default for EndpointCfg {
    fn default() -> Self {
        EndpointCfg {
            keepalive: true,
            stream_window: None,
            conn_window: None,
            adaptive: None,
            buffer: None,
            max_frame: None,
        }
    }
}

/// The connector of `proto/src/client.rs`, with configurable settings.
async fn custom_channel(socket: &Path, cfg: &EndpointCfg) -> Result<Channel> {
    let mut endpoint =
        Endpoint::from_static("http://commsd.sock").connect_timeout(Duration::from_secs(2));
    if cfg.keepalive {
        endpoint = endpoint.http2_keep_alive_interval(Duration::from_secs(30));
    }
    if let Some(v) = cfg.stream_window {
        endpoint = endpoint.initial_stream_window_size(v);
    }
    if let Some(v) = cfg.conn_window {
        endpoint = endpoint.initial_connection_window_size(v);
    }
    if let Some(v) = cfg.adaptive {
        endpoint = endpoint.http2_adaptive_window(v);
    }
    if let Some(v) = cfg.buffer {
        endpoint = endpoint.buffer_size(v);
    }
    if let Some(v) = cfg.max_frame {
        endpoint = endpoint.max_frame_size(v);
    }
    let path = socket.to_owned();
    let channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await?;
    Ok(channel)
}

async fn status_loop(socket: PathBuf, endpoint: Option<EndpointCfg>) -> Result<Vec<Duration>> {
    let channel = match endpoint {
        None => commsd_proto::client::connect(&socket).await?.channel,
        Some(cfg) => custom_channel(&socket, &cfg).await?,
    };
    let mut client = ControlClient::new(channel);
    let request = StatusRequest {
        client_protocol: PROTOCOL_VERSION,
        client_version: VERSION.to_owned(),
    };
    for _ in 0..WARMUP {
        black_box(client.status(request.clone()).await?);
    }
    let mut out = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let response = client.status(request.clone()).await?;
        out.push(t.elapsed());
        black_box(response);
    }
    Ok(out)
}

/// `CALLS` sequential Status calls on one channel, after `WARMUP` calls.
fn measure_grpc(
    socket: &Path,
    rt: ClientRt,
    endpoint: Option<&EndpointCfg>,
) -> Result<Vec<Duration>> {
    let fut = status_loop(socket.to_owned(), endpoint.cloned());
    match rt {
        ClientRt::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut),
        ClientRt::MultiThread { workers, on_worker } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()?;
            if on_worker {
                runtime.block_on(runtime.spawn(fut))?
            } else {
                runtime.block_on(fut)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Scenarios

#[derive(Debug, Clone)]
enum Target {
    /// The shared daemon (index into the spawned daemons).
    Daemon(usize),
    RefA(ServerCfg),
    FloorStd,
    FloorTokio,
}

#[derive(Debug, Clone)]
struct Scenario {
    group: &'static str,
    name: String,
    target: Target,
    rt: ClientRt,
    endpoint: Option<EndpointCfg>,
}

fn scenario(group: &'static str, name: &str, target: Target) -> Scenario {
    Scenario {
        group,
        name: name.to_owned(),
        target,
        rt: ClientRt::CurrentThread,
        endpoint: None,
    }
}

fn scenarios() -> Vec<Scenario> {
    let mib = 1024 * 1024;
    let mut v = vec![
        scenario("core", "floor: std UnixStream 64 B echo", Target::FloorStd),
        scenario(
            "core",
            "floor: tokio UnixStream 64 B echo",
            Target::FloorTokio,
        ),
        scenario(
            "core",
            "reference A: tonic echo (current_thread srv)",
            Target::RefA(ServerCfg::default()),
        ),
        scenario("core", "daemon: commsd Status", Target::Daemon(0)),
    ];

    // Client runtime flavour, against both servers.
    for (target, tname) in [
        (Target::Daemon(0), "daemon"),
        (Target::RefA(ServerCfg::default()), "ref A"),
    ] {
        for rt in [
            ClientRt::MultiThread {
                workers: 2,
                on_worker: false,
            },
            ClientRt::MultiThread {
                workers: 2,
                on_worker: true,
            },
            ClientRt::MultiThread {
                workers: 1,
                on_worker: true,
            },
        ] {
            let mut s = scenario(
                "client rt",
                &format!("{tname}, client {}", rt.label()),
                target.clone(),
            );
            s.rt = rt;
            v.push(s);
        }
    }

    // Server runtime flavour: the daemon is multi_thread (2 workers here).
    v.push(scenario(
        "server rt",
        "ref A, server multi_thread(2) like the daemon",
        Target::RefA(ServerCfg {
            workers: Some(2),
            ..ServerCfg::default()
        }),
    ));
    v.push(scenario(
        "server rt",
        "ref A, server multi_thread(1)",
        Target::RefA(ServerCfg {
            workers: Some(1),
            ..ServerCfg::default()
        }),
    ));
    v.push(scenario(
        "server rt",
        "daemon, TOKIO_WORKER_THREADS=1",
        Target::Daemon(1),
    ));

    // Client Endpoint settings, against the daemon.
    let endpoints: Vec<(&str, EndpointCfg)> = vec![
        (
            "same as client.rs (custom connector)",
            EndpointCfg::default(),
        ),
        (
            "no http2_keep_alive_interval",
            EndpointCfg {
                keepalive: false,
                ..EndpointCfg::default()
            },
        ),
        (
            "stream+conn window 1 MiB",
            EndpointCfg {
                stream_window: Some(mib),
                conn_window: Some(mib),
                ..EndpointCfg::default()
            },
        ),
        (
            "http2_adaptive_window(true)",
            EndpointCfg {
                adaptive: Some(true),
                ..EndpointCfg::default()
            },
        ),
        (
            "buffer_size(16)",
            EndpointCfg {
                buffer: Some(16),
                ..EndpointCfg::default()
            },
        ),
        (
            "buffer_size(65536)",
            EndpointCfg {
                buffer: Some(65536),
                ..EndpointCfg::default()
            },
        ),
        (
            "max_frame_size(1 MiB)",
            EndpointCfg {
                max_frame: Some(mib),
                ..EndpointCfg::default()
            },
        ),
    ];
    for (name, cfg) in endpoints {
        let mut s = scenario(
            "endpoint",
            &format!("daemon, client {name}"),
            Target::Daemon(0),
        );
        s.endpoint = Some(cfg);
        v.push(s);
    }
    // Re-check the one setting that moved, in another position in the round
    // and against the in-process server too.
    for (target, tname) in [
        (Target::Daemon(0), "daemon"),
        (Target::RefA(ServerCfg::default()), "ref A"),
    ] {
        for (name, keepalive) in [
            ("same as client.rs (again)", true),
            ("no http2_keep_alive_interval (again)", false),
        ] {
            let mut s = scenario(
                "endpoint",
                &format!("{tname}, client {name}"),
                target.clone(),
            );
            s.endpoint = Some(EndpointCfg {
                keepalive,
                ..EndpointCfg::default()
            });
            v.push(s);
        }
    }

    // Server builder settings, reference A (current_thread server).
    let servers: Vec<(&str, ServerCfg)> = vec![
        (
            "stream+conn window 1 MiB",
            ServerCfg {
                stream_window: Some(mib),
                conn_window: Some(mib),
                ..ServerCfg::default()
            },
        ),
        (
            "max_frame_size(1 MiB)",
            ServerCfg {
                max_frame: Some(mib),
                ..ServerCfg::default()
            },
        ),
        (
            "http2_adaptive_window(true)",
            ServerCfg {
                adaptive: Some(true),
                ..ServerCfg::default()
            },
        ),
        (
            "concurrency_limit_per_connection(32)",
            ServerCfg {
                concurrency: Some(32),
                ..ServerCfg::default()
            },
        ),
    ];
    for (name, cfg) in servers {
        v.push(scenario(
            "server",
            &format!("ref A, server {name}"),
            Target::RefA(cfg),
        ));
    }
    v
}

fn run_scenario(s: &Scenario, daemons: &[DaemonProc]) -> Result<Vec<Duration>> {
    match &s.target {
        Target::FloorStd => floor_std(),
        Target::FloorTokio => floor_tokio(),
        Target::Daemon(i) => {
            let daemon = daemons.get(*i).ok_or("no such daemon")?;
            measure_grpc(&daemon.socket, s.rt, s.endpoint.as_ref())
        }
        Target::RefA(cfg) => {
            let server = RefServer::start(cfg)?;
            let samples = measure_grpc(&server.socket, s.rt, s.endpoint.as_ref());
            server.stop()?;
            samples
        }
    }
}

/// `/proc/loadavg`'s first three fields, to show how busy the machine was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; accept and ignore harness arguments.
    let rounds: usize = std::env::var("STATUS_RTT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let bench_start = Instant::now();
    let poll_rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };

    println!(
        "status_rtt: {CALLS} sequential calls after {WARMUP} warm-up per row, {rounds} round(s); times in µs"
    );
    println!(
        "cores: {}; commsd: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env!("CARGO_BIN_EXE_commsd")
    );

    // Two long-lived daemons: default, and one forced to a single worker.
    let mut daemons = Vec::new();
    for env in [&[][..], &[("TOKIO_WORKER_THREADS", "1")][..]] {
        let rt = poll_rt()?;
        let t = Instant::now();
        let mut d = DaemonProc::spawn(env)?;
        d.wait_ready(rt, t)?;
        daemons.push(d);
    }
    let threads: Vec<u64> = daemons
        .iter()
        .map(|d| proc_status_field(d.pid(), "Threads"))
        .collect::<Result<_>>()?;

    // Every round runs every scenario, so a burst of outside load lands on
    // whole rounds; each row then reports its least disturbed round.
    let list = scenarios();
    let mut per_round: Vec<Vec<Stats>> = vec![Vec::new(); list.len()];
    let mut loads = Vec::new();
    for _ in 0..rounds {
        loads.push(loadavg());
        for (i, s) in list.iter().enumerate() {
            let got = run_scenario(s, &daemons).map_err(|e| format!("{}: {e}", s.name))?;
            per_round[i].push(stats(&got));
        }
    }
    // What every commsctl invocation pays before its first real call.
    let mut connects = Vec::with_capacity(CONNECTS);
    for _ in 0..CONNECTS {
        let rt = poll_rt()?;
        let t = Instant::now();
        let connected = rt.block_on(commsd_proto::client::connect(&daemons[0].socket))?;
        connects.push(t.elapsed());
        drop(connected);
        drop(rt);
    }

    let rss_after_calls_kb = proc_status_field(daemons[0].pid(), "VmRSS")?;
    let hwm_after_calls_kb = proc_status_field(daemons[0].pid(), "VmHWM")?;
    for d in daemons {
        d.stop()?;
    }

    let all: Vec<Stats> = per_round
        .iter()
        .map(|rounds| {
            rounds
                .iter()
                .copied()
                .min_by(|a, b| a.p50.total_cmp(&b.p50))
                .unwrap_or_else(|| stats(&[]))
        })
        .collect();
    let p50_of = |pred: &dyn Fn(&Scenario) -> bool| -> f64 {
        list.iter().position(pred).map_or(f64::NAN, |i| all[i].p50)
    };
    let floor = p50_of(&|s| matches!(s.target, Target::FloorStd));
    let ref_a = p50_of(&|s| s.group == "core" && matches!(s.target, Target::RefA(_)));
    let daemon = p50_of(&|s| s.group == "core" && matches!(s.target, Target::Daemon(_)));

    // 5. Start-up: spawn to first successful Status, then SIGTERM.
    let mut ready = Vec::with_capacity(STARTS);
    let mut stops = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let rt = poll_rt()?;
        let t = Instant::now();
        let mut d = DaemonProc::spawn(&[])?;
        ready.push(d.wait_ready(rt, t)?);
        stops.push(d.stop()?);
    }

    // 6. Idle RSS after 1 s.
    let rt = poll_rt()?;
    let t = Instant::now();
    let mut d = DaemonProc::spawn(&[])?;
    d.wait_ready(rt, t)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss_kb = proc_status_field(d.pid(), "VmRSS")?;
    let idle_threads = proc_status_field(d.pid(), "Threads")?;
    d.stop()?;

    // ---- The table
    println!();
    println!(
        "{:<10} {:<52} {:<26} {:>8} {:>8} {:>8} {:>8} {:>9}  {:<20} {:>8}",
        "group",
        "scenario",
        "client runtime",
        "p50",
        "p90",
        "p99",
        "min",
        "max",
        "p50 per round",
        "p50/flr"
    );
    println!("{}", "-".repeat(170));
    let mut last_group = "";
    for (i, s) in list.iter().enumerate() {
        if s.group != last_group && !last_group.is_empty() {
            println!();
        }
        last_group = s.group;
        let st = all[i];
        let rounds_txt = per_round[i]
            .iter()
            .map(|r| format!("{:.1}", r.p50))
            .collect::<Vec<_>>()
            .join("/");
        let rt = match s.target {
            Target::FloorStd => "blocking std".to_owned(),
            _ => s.rt.label(),
        };
        println!(
            "{:<10} {:<52} {:<26} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {:<20} {:>7.2}x",
            s.group,
            s.name,
            rt,
            st.p50,
            st.p90,
            st.p99,
            st.min,
            st.max,
            rounds_txt,
            st.p50 / floor
        );
    }
    println!();
    println!("ratios (p50 of the best round):");
    println!("  daemon / reference A      = {:.2}x", daemon / ref_a);
    println!("  daemon / floor (std)      = {:.2}x", daemon / floor);
    println!("  reference A / floor (std) = {:.2}x", ref_a / floor);

    let connect_stats = stats(&connects);
    println!();
    println!(
        "fresh client::connect() (socket connect + HTTP/2 handshake + Status) on a running daemon, {CONNECTS} times: p50 {:.1} µs, p99 {:.1} µs",
        connect_stats.p50, connect_stats.p99
    );
    let ready_stats = stats(&ready);
    let stop_stats = stats(&stops);
    println!(
        "start-up, spawn -> first successful Status ({STARTS} fresh starts): median {:.1} ms, max {:.1} ms, min {:.1} ms",
        ready_stats.p50 / 1000.0,
        ready_stats.max / 1000.0,
        ready_stats.min / 1000.0
    );
    println!(
        "graceful stop, SIGTERM -> exit:                                   median {:.1} ms, max {:.1} ms",
        stop_stats.p50 / 1000.0,
        stop_stats.max / 1000.0
    );
    println!(
        "idle RSS after ready + 1 s: {:.1} MB ({idle_threads} threads; default daemon had {} threads, TOKIO_WORKER_THREADS=1 daemon {})",
        idle_rss_kb as f64 / 1024.0,
        threads.first().copied().unwrap_or(0),
        threads.get(1).copied().unwrap_or(0),
    );
    println!(
        "RSS of the benchmarked daemon after all calls: {:.1} MB (VmHWM {:.1} MB)",
        rss_after_calls_kb as f64 / 1024.0,
        hwm_after_calls_kb as f64 / 1024.0
    );
    println!(
        "load average at the start of each round: {}",
        loads.join(" | ")
    );
    println!(
        "total bench time: {:.1} s",
        bench_start.elapsed().as_secs_f64()
    );
    Ok(())
}
