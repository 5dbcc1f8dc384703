//! The Control and Events services.

use std::pin::Pin;
use std::sync::Arc;

use commsd_proto::v1::{
    self, ShutdownRequest, ShutdownResponse, StatusRequest, StatusResponse, WatchRequest,
    control_server::Control, events_server::Events,
};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::Daemon;
use crate::events::Event;

pub struct ControlService(pub Arc<Daemon>);

#[tonic::async_trait]
impl Control for ControlService {
    async fn status(
        &self,
        request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let req = request.into_inner();
        if req.client_protocol != commsd_proto::PROTOCOL_VERSION {
            tracing::warn!(
                client_protocol = req.client_protocol,
                client_version = %req.client_version,
                "client speaks another protocol version"
            );
        }
        Ok(Response::new(status_to_proto(self.0.status())))
    }

    async fn shutdown(
        &self,
        request: Request<ShutdownRequest>,
    ) -> Result<Response<ShutdownResponse>, Status> {
        let reason = request.into_inner().reason;
        let reason = if reason.is_empty() {
            "Shutdown RPC".to_owned()
        } else {
            reason
        };
        self.0.request_shutdown(&reason);
        Ok(Response::new(ShutdownResponse {}))
    }
}

fn status_to_proto(s: crate::status::Status) -> StatusResponse {
    let path = |p: &std::path::Path| p.display().to_string();
    StatusResponse {
        version: s.version.to_owned(),
        protocol: s.protocol,
        pid: s.pid,
        uptime_ms: s.uptime.as_millis() as u64,
        socket: path(&s.socket),
        data_dir: path(&s.data_dir),
        config_path: s.config_path.as_deref().map(path).unwrap_or_default(),
        dashboard_url: s.dashboard_url,
        api_url: s.api_url,
        webhook_url: s.webhook_url,
        counts: s.counts.into_iter().collect(),
        started_at_unix_ms: s.started_at_unix_ms,
        warnings: s.warnings,
    }
}

pub struct EventsService(pub Arc<Daemon>);

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::Event, Status>> + Send>>;

#[tonic::async_trait]
impl Events for EventsService {
    type WatchStream = EventStream;

    async fn watch(
        &self,
        _request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut rx = self.0.bus.subscribe();
        let shutdown = self.0.shutdown.clone();
        let (tx, out) = mpsc::channel(64);
        // Forward until the subscriber leaves or the daemon stops; the stream
        // must end at shutdown, or graceful shutdown would wait for it forever.
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    next = rx.recv() => next,
                    () = shutdown.cancelled() => break,
                };
                let (message, last) = match next {
                    Ok(envelope) => {
                        let last = matches!(envelope.event, Event::ShutdownStarted { .. });
                        (v1::Event::from(&envelope), last)
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => (
                        v1::Event {
                            seq: 0,
                            at_unix_ms: crate::events::now_unix_ms(),
                            kind: Some(v1::event::Kind::Lagged(v1::Lagged { missed })),
                        },
                        false,
                    ),
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if tx.send(Ok(message)).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }
}
