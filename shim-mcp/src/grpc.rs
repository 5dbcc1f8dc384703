//! The backend of comms-mcp: the daemon's `Tools` and `Events` services over
//! its Unix socket.
//!
//! The channel is opened on first use and kept; tonic reconnects it when the
//! daemon restarts on the same socket. While the daemon is away, every call
//! fails with [`BackendError::Unavailable`] carrying the connect hint, which
//! the server turns into an isError tool result, never a crash.

use std::path::PathBuf;
use std::time::Duration;

use commsd_proto::client::{self, ConnectError};
use commsd_proto::v1::{self, events_client::EventsClient, tools_client::ToolsClient};
use futures_util::stream::BoxStream;
use serde_json::Value;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::backend::{
    Backend, BackendError, BackendEvent, Client, PendingApproval, ResourceText, ToolOutcome,
    ToolSpec,
};

/// How the shim reaches a daemon that is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autostart {
    /// Start it (as `commsctl` does), unless `COMMSD_AUTOSTART=0`.
    Enabled,
    Disabled,
}

impl Autostart {
    pub fn from_env() -> Autostart {
        match std::env::var_os("COMMSD_AUTOSTART") {
            Some(v) if v == "0" => Autostart::Disabled,
            _ => Autostart::Enabled,
        }
    }
}

pub struct GrpcBackend {
    socket: PathBuf,
    autostart: Autostart,
    channel: Mutex<Option<Channel>>,
}

impl GrpcBackend {
    pub fn new(socket: PathBuf, autostart: Autostart) -> GrpcBackend {
        GrpcBackend {
            socket,
            autostart,
            channel: Mutex::new(None),
        }
    }

    /// The channel, connecting (and starting the daemon) when there is none.
    async fn channel(&self) -> Result<Channel, BackendError> {
        let mut guard = self.channel.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let connected = match client::connect(&self.socket).await {
            Ok(c) => c,
            Err(e) if e.is_not_running() && self.autostart == Autostart::Enabled => {
                commsd_proto::autostart::start(&self.socket)
                    .await
                    .map_err(|e| BackendError::Unavailable(e.to_string()))?;
                client::connect(&self.socket).await.map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        *guard = Some(connected.channel.clone());
        Ok(connected.channel)
    }

    async fn tools_client(&self) -> Result<ToolsClient<Channel>, BackendError> {
        Ok(ToolsClient::new(self.channel().await?))
    }

    /// Maps a failed RPC: the envelope when the daemon answered, else the
    /// connection failure (and forget the channel so the next call reconnects).
    async fn status_error(&self, status: tonic::Status) -> BackendError {
        if let Ok(envelope) = serde_json::from_slice::<Value>(status.details())
            && envelope.get("code").is_some()
        {
            return BackendError::Service(envelope);
        }
        let e = client::classify_status(&self.socket, &status);
        if matches!(
            e,
            ConnectError::NotRunning { .. }
                | ConnectError::Dropped { .. }
                | ConnectError::Io { .. }
        ) {
            *self.channel.lock().await = None;
        }
        unavailable(e)
    }
}

fn unavailable(e: ConnectError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn mcp_client(client: &Client) -> Option<v1::McpClient> {
    Some(v1::McpClient {
        name: client.name.as_str().to_owned(),
    })
}

fn parse(what: &str, text: &str) -> Result<Value, BackendError> {
    serde_json::from_str(text)
        .map_err(|e| BackendError::Internal(format!("commsd sent malformed {what}: {e}")))
}

fn outcome(
    structured_json: &str,
    text: String,
    is_error: bool,
    approval: Option<v1::PendingApproval>,
) -> Result<ToolOutcome, BackendError> {
    Ok(ToolOutcome {
        structured: parse("a tool result", structured_json)?,
        text,
        is_error,
        approval: approval.map(|a| PendingApproval {
            item_id: a.item_id,
            summary: a.summary,
            review_url: a.review_url,
        }),
    })
}

#[async_trait::async_trait]
impl Backend for GrpcBackend {
    async fn tools(&self, client: &Client) -> Result<Vec<ToolSpec>, BackendError> {
        let response = self
            .tools_client()
            .await?
            .list(v1::ListToolsRequest {
                client: mcp_client(client),
            })
            .await;
        let response = match response {
            Ok(r) => r.into_inner(),
            Err(s) => return Err(self.status_error(s).await),
        };
        let tools = parse("a tool list", &response.tools_json)?;
        tools
            .as_array()
            .ok_or_else(|| BackendError::Internal("the tool list is not an array".to_owned()))?
            .iter()
            .map(ToolSpec::from_json)
            .collect()
    }

    async fn call_tool(
        &self,
        client: &Client,
        name: &str,
        arguments: Value,
    ) -> Result<ToolOutcome, BackendError> {
        let response = self
            .tools_client()
            .await?
            .call(v1::CallToolRequest {
                client: mcp_client(client),
                name: name.to_owned(),
                arguments_json: arguments.to_string(),
            })
            .await;
        match response {
            Ok(r) => {
                let r = r.into_inner();
                outcome(&r.structured_json, r.text, r.is_error, r.approval)
            }
            Err(s) if s.code() == tonic::Code::NotFound => {
                Err(BackendError::UnknownTool(name.to_owned()))
            }
            Err(s) => Err(self.status_error(s).await),
        }
    }

    async fn read_resource(
        &self,
        client: &Client,
        uri: &str,
    ) -> Result<ResourceText, BackendError> {
        let response = self
            .tools_client()
            .await?
            .read_resource(v1::ReadResourceRequest {
                client: mcp_client(client),
                uri: uri.to_owned(),
            })
            .await;
        match response {
            Ok(r) => {
                let r = r.into_inner();
                Ok(ResourceText {
                    mime_type: r.mime_type,
                    text: r.text,
                })
            }
            Err(s) => Err(self.status_error(s).await),
        }
    }

    async fn approve_by_human(
        &self,
        client: &Client,
        item_id: &str,
    ) -> Result<ToolOutcome, BackendError> {
        let response = self
            .tools_client()
            .await?
            .approve_by_human(v1::ApproveByHumanRequest {
                client: mcp_client(client),
                item_id: item_id.to_owned(),
            })
            .await;
        match response {
            Ok(r) => {
                let r = r.into_inner();
                outcome(&r.structured_json, r.text, false, None)
            }
            Err(s) => Err(self.status_error(s).await),
        }
    }

    /// Follows Events.Watch, reconnecting after a daemon restart (and then
    /// announcing ToolsChanged: the new daemon's catalog may differ).
    fn events(&self) -> BoxStream<'static, BackendEvent> {
        let socket = self.socket.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                if let Ok(connected) = client::connect(&socket).await {
                    if !first && tx.send(BackendEvent::ToolsChanged).await.is_err() {
                        return;
                    }
                    first = false;
                    if let Ok(stream) = EventsClient::new(connected.channel)
                        .watch(v1::WatchRequest {})
                        .await
                    {
                        let mut stream = stream.into_inner();
                        while let Ok(Some(event)) = stream.message().await {
                            for e in translate(&event) {
                                if tx.send(e).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// The MCP notifications a daemon event calls for.
pub fn translate(event: &v1::Event) -> Vec<BackendEvent> {
    use v1::event::Kind;
    match &event.kind {
        Some(Kind::OutboxChanged(_)) => vec![BackendEvent::ResourceUpdated(
            "commsd://outbox/pending".to_owned(),
        )],
        Some(Kind::AccountsChanged(_)) => vec![
            BackendEvent::ToolsChanged,
            BackendEvent::ResourceUpdated("commsd://accounts".to_owned()),
        ],
        Some(Kind::MailReceived(_)) => vec![BackendEvent::ResourceUpdated(
            "commsd://mail/inbox".to_owned(),
        )],
        Some(Kind::MessageReceived(m)) if m.channel == "email" => {
            vec![BackendEvent::ResourceUpdated(
                "commsd://mail/inbox".to_owned(),
            )]
        }
        Some(Kind::MessageReceived(m)) if m.channel == "sms" => {
            vec![BackendEvent::ResourceUpdated(
                "commsd://sms/inbox".to_owned(),
            )]
        }
        Some(Kind::InboxChanged(_)) => {
            vec![BackendEvent::ResourceUpdated("commsd://inbox".to_owned())]
        }
        // After a gap, anything may have changed.
        Some(Kind::Lagged(_)) => vec![
            BackendEvent::ToolsChanged,
            BackendEvent::ResourceUpdated("commsd://outbox/pending".to_owned()),
        ],
        _ => Vec::new(),
    }
}
