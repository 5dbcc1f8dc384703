//! The gRPC client side

use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use commsd_proto::v1::StatusRequest;
use commsd_proto::v1::control_client::ControlClient;
use commsd_proto::{PROTOCOL_VERSION, VERSION};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{CALLS, Result, WARMUP};

#[derive(Debug, Clone, Copy)]
pub(crate) enum ClientRt {
    /// What commsctl uses.
    CurrentThread,
    /// multi_thread with `workers`; the call loop either runs in `block_on`
    /// (off the workers, like `#[tokio::main]`) or is spawned onto a worker.
    MultiThread { workers: usize, on_worker: bool },
}

impl ClientRt {
    pub(crate) fn label(self) -> String {
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
pub(crate) struct EndpointCfg {
    pub(crate) keepalive: bool,
    pub(crate) stream_window: Option<u32>,
    pub(crate) conn_window: Option<u32>,
    pub(crate) adaptive: Option<bool>,
    pub(crate) buffer: Option<usize>,
    pub(crate) max_frame: Option<u32>,
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
pub(crate) fn measure_grpc(
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
