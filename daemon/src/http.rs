//! The three loopback HTTP listeners: dashboard, API and webhooks.
//!
//! Each is bound before the daemon reports ready, so a port conflict stops
//! start-up with an error naming the listener and the address.

use std::net::SocketAddr;

use axum::{Json, Router, routing::get};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

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

/// `app` plus this listener's `/healthz`, which needs no authentication.
fn with_healthz(kind: Listener, app: Router) -> Router {
    let name = kind.name();
    app.route(
        "/healthz",
        get(move || async move { Json(json!({ "status": "ok", "listener": name })) }),
    )
}

/// Serves `app` until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(bound: Bound, app: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = with_healthz(bound.kind, app);
    axum::serve(bound.listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
