//! Reference A: a do-nothing tonic Control service, in-process

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use commsd_proto::v1::control_server::{Control, ControlServer};
use commsd_proto::v1::{ShutdownRequest, ShutdownResponse, StatusRequest, StatusResponse};
use commsd_proto::{PROTOCOL_VERSION, VERSION};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::Result;

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
pub(crate) struct ServerCfg {
    /// `None`: a current_thread runtime on one dedicated thread; `Some(n)`:
    /// multi_thread with n workers (the daemon uses multi_thread, one worker per core).
    pub(crate) workers: Option<usize>,
    pub(crate) stream_window: Option<u32>,
    pub(crate) conn_window: Option<u32>,
    pub(crate) max_frame: Option<u32>,
    pub(crate) adaptive: Option<bool>,
    pub(crate) concurrency: Option<usize>,
}

pub(crate) struct RefServer {
    pub(crate) socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    _dir: tempfile::TempDir,
}

impl RefServer {
    pub(crate) fn start(cfg: &ServerCfg) -> Result<Self> {
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

    pub(crate) fn stop(mut self) -> Result<()> {
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
