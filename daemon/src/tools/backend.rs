//! The in-process MCP backend behind `/mcp`: the catalog called directly,
//! as the key that authenticated the HTTP request.

use std::sync::Arc;

use commsd_mcp::{
    Backend, BackendError, BackendEvent, Client, PendingApproval, ResourceText, ToolOutcome,
    ToolSpec,
};
use futures_util::stream::BoxStream;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{Outcome, Tools};
use crate::auth::Caller;
use crate::events::{Bus, Event};

pub struct InProcessBackend {
    pub tools: Arc<Tools>,
    pub bus: Arc<Bus>,
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The caller the `/mcp` middleware authenticated, from the request parts
/// rmcp keeps in the request's extensions. No caller means no access.
fn caller(client: &Client) -> Result<Caller, BackendError> {
    client
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| {
            BackendError::Service(
                crate::error::Error::new(
                    crate::error::Code::Unauthenticated,
                    "no authenticated caller for this MCP request",
                )
                .envelope(),
            )
        })
}

pub fn to_backend(o: Outcome) -> ToolOutcome {
    ToolOutcome {
        structured: o.structured,
        text: o.text,
        is_error: o.is_error,
        approval: o.approval.map(|a| PendingApproval {
            item_id: a.item_id,
            summary: a.summary,
            review_url: a.review_url,
        }),
    }
}

/// The MCP notifications a daemon event calls for (the same mapping as
/// comms-mcp applies to the gRPC event stream).
pub fn translate(event: &Event) -> Vec<BackendEvent> {
    match event {
        Event::OutboxChanged { .. } => vec![BackendEvent::ResourceUpdated(
            super::RESOURCE_OUTBOX_PENDING.to_owned(),
        )],
        Event::AccountsChanged { .. } => vec![
            BackendEvent::ToolsChanged,
            BackendEvent::ResourceUpdated(super::RESOURCE_ACCOUNTS.to_owned()),
        ],
        Event::MailReceived { .. } => vec![BackendEvent::ResourceUpdated(
            super::RESOURCE_MAIL_INBOX.to_owned(),
        )],
        Event::MessageReceived { channel, .. }
            if *channel == crate::outbox::model::Channel::Email =>
        {
            vec![BackendEvent::ResourceUpdated(
                super::RESOURCE_MAIL_INBOX.to_owned(),
            )]
        }
        Event::MessageReceived { channel, .. }
            if *channel == crate::outbox::model::Channel::Sms =>
        {
            vec![BackendEvent::ResourceUpdated(
                super::RESOURCE_SMS_INBOX.to_owned(),
            )]
        }
        Event::InboxChanged { .. } => vec![BackendEvent::ResourceUpdated(
            super::RESOURCE_INBOX.to_owned(),
        )],
        Event::MessageReceived { .. }
        | Event::AuditAppended { .. }
        | Event::ShutdownStarted { .. } => Vec::new(),
    }
}

#[async_trait::async_trait]
impl Backend for InProcessBackend {
    async fn tools(&self, client: &Client) -> Result<Vec<ToolSpec>, BackendError> {
        caller(client)?;
        self.tools.list().iter().map(ToolSpec::from_json).collect()
    }

    async fn call_tool(
        &self,
        client: &Client,
        name: &str,
        arguments: Value,
    ) -> Result<ToolOutcome, BackendError> {
        let caller = caller(client)?;
        self.tools
            .call(&caller, name, arguments)
            .await
            .map(to_backend)
            .map_err(|e| BackendError::UnknownTool(e.0))
    }

    async fn read_resource(
        &self,
        client: &Client,
        uri: &str,
    ) -> Result<ResourceText, BackendError> {
        let caller = caller(client)?;
        let value = self
            .tools
            .read_resource(&caller, uri)
            .await
            .map_err(|e| BackendError::Service(e.envelope()))?;
        Ok(ResourceText {
            mime_type: "application/json".to_owned(),
            text: serde_json::to_string_pretty(&value).unwrap_or_default(),
        })
    }

    async fn approve_by_human(
        &self,
        client: &Client,
        item_id: &str,
    ) -> Result<ToolOutcome, BackendError> {
        let caller = caller(client)?;
        self.tools
            .approve_by_human(&caller, client.name.as_str(), item_id)
            .await
            .map(to_backend)
            .map_err(|e| BackendError::Service(e.envelope()))
    }

    fn events(&self) -> BoxStream<'static, BackendEvent> {
        let rx = self.bus.subscribe();
        let shutdown = self.shutdown.clone();
        Box::pin(futures_util::stream::unfold(
            (rx, shutdown, Vec::<BackendEvent>::new()),
            |(mut rx, shutdown, mut queued)| async move {
                loop {
                    if let Some(e) = queued.pop() {
                        return Some((e, (rx, shutdown, queued)));
                    }
                    let next = tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return None,
                        next = rx.recv() => next,
                    };
                    match next {
                        Ok(envelope) => {
                            queued = translate(&envelope.event);
                            queued.reverse();
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            queued = vec![
                                BackendEvent::ResourceUpdated(
                                    super::RESOURCE_OUTBOX_PENDING.to_owned(),
                                ),
                                BackendEvent::ToolsChanged,
                            ];
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
