//! The three loopback HTTP listeners: dashboard, API and webhooks.
//!
//! Each is bound before the daemon reports ready, so a port conflict stops
//! start-up with an error naming the listener and the address.
//!
//! Connections are served here rather than by `axum::serve`, because the
//! listeners must hold up against clients that are slow on purpose: a
//! connection has [`HttpConfig::header_read_timeout`] to send its request
//! head, and each listener serves at most [`HttpConfig::max_connections`] at
//! once (further clients wait in the kernel's accept queue until one ends,
//! instead of costing a task and buffers each). `/healthz`, like every route
//! of the dashboard and the API, answers only requests whose Host names this
//! machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::{Code, Error};
use crate::localguard;

/// `[http]`: limits shared by the three listeners.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Time a client has to send a request's head (request line and
    /// headers), for the first request and each one after it on a kept-alive
    /// connection; slower connections are closed.
    #[serde(deserialize_with = "crate::de::duration")]
    pub header_read_timeout: Duration,
    /// Connections each listener serves at once.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout.is_zero() {
            return Err("key `http.header_read_timeout`: must be more than 0s".to_owned());
        }
        if self.max_connections == 0 || self.max_connections > 65_536 {
            return Err("key `http.max_connections`: expected 1 to 65536".to_owned());
        }
        Ok(())
    }
}

/// Raises the soft limit on open files to the hard limit: three listeners at
/// [`HttpConfig::max_connections`] each, plus the store, the socket and
/// provider connections, need more than the usual soft limit of 1,024.
pub fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the open files limit");
        }
    }
}

/// `[listen]`: where the HTTP listeners bind. Loopback only; port 0 picks a free port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// The review dashboard (`/review`).
    pub dashboard: SocketAddr,
    /// The REST API (`/api/v1`) and MCP over HTTP (`/mcp`).
    pub api: SocketAddr,
    /// Provider webhooks (`/webhooks/...`), the one port a user may expose through a tunnel.
    pub webhooks: SocketAddr,
}

impl Listen {
    pub fn validate(&self) -> Result<(), String> {
        for (key, addr) in [
            ("listen.dashboard", self.dashboard),
            ("listen.api", self.api),
            ("listen.webhooks", self.webhooks),
        ] {
            if !addr.ip().is_loopback() {
                return Err(format!(
                    "key `{key}`: {addr} is not a loopback address; expected 127.0.0.1 or [::1] \
                     with any port (commsd never listens beyond this machine: expose the \
                     webhook port through a tunnel instead)"
                ));
            }
        }
        Ok(())
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            dashboard: SocketAddr::from(([127, 0, 0, 1], 3001)),
            api: SocketAddr::from(([127, 0, 0, 1], 3002)),
            webhooks: SocketAddr::from(([127, 0, 0, 1], 3003)),
        }
    }
}

/// How long shutdown waits for in-flight requests (long-lived streams end by
/// themselves at shutdown) before it closes what is left.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Which listener, for messages and routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Dashboard,
    Api,
    Webhooks,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Dashboard => "dashboard",
            Listener::Api => "api",
            Listener::Webhooks => "webhooks",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot bind the {} listener on {addr} (config key `listen.{}`): {source}", listener.name(), listener.name())]
pub struct BindError {
    pub listener: Listener,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// A bound, not yet serving, listener.
pub struct Bound {
    pub kind: Listener,
    pub listener: TcpListener,
    pub addr: SocketAddr,
}

impl Bound {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn bind(kind: Listener, addr: SocketAddr) -> Result<Bound, BindError> {
    let err = |source| BindError {
        listener: kind,
        addr,
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    Ok(Bound {
        kind,
        listener,
        addr,
    })
}

/// `app` plus this listener's `/healthz` (no authentication), behind the
/// same Host check as the dashboard's and the API's routes (which run it in
/// their own middleware, after the request id): a page on another site that
/// rebinds its name to 127.0.0.1 learns nothing, not even that commsd runs.
fn with_healthz(kind: Listener, app: Router) -> Router {
    let name = kind.name();
    app.route(
        "/healthz",
        get(move || async move { Json(json!({ "status": "ok", "listener": name })) })
            .route_layer(axum::middleware::from_fn(loopback_host)),
    )
}

async fn loopback_host(request: Request, next: Next) -> Response {
    if !localguard::host(request.headers()).is_some_and(localguard::host_is_loopback) {
        return Error::new(
            Code::PermissionDenied,
            "the Host header must name this machine (127.0.0.1, localhost or [::1])",
        )
        .into_response();
    }
    next.run(request).await
}

/// Serves `app` until `shutdown` is cancelled, then finishes in-flight
/// requests (for at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    bound: Bound,
    app: Router,
    limits: &HttpConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let Bound { kind, listener, .. } = bound;
    let app = with_healthz(kind, app);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut full_logged = false;
    loop {
        // Wait for a free slot before accepting: beyond the limit, clients
        // queue in the kernel rather than in our memory.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if slots.available_permits() == 0 && !full_logged {
            tracing::warn!(
                listener = kind.name(),
                limit = limits.max_connections,
                "connection limit reached; new connections wait (config key http.max_connections)"
            );
        }
        full_logged = slots.available_permits() == 0;
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!(listener = kind.name(), error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The peer's address, as `ConnectInfo` (webhooks believe forwarded
        // headers only from configured proxies).
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |mut request: axum::extract::Request<_>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            ));
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => log_connection_end(result),
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    log_connection_end(conn.await);
                }
            }
        });
    }
    drop(listener);
    // Every connection holds a slot: all slots back means all connections ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            listener = kind.name(),
            "connections still open {DRAIN_TIMEOUT:?} after shutdown; closing them"
        );
    }
    Ok(())
}

fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        // Timeouts, resets and malformed requests: the client's doing.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
