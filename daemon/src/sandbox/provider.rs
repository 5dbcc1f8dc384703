//! The sandbox's registration. Its transport is built into the outbox
//! (`Transports::new`: the sandbox account sends on every channel); what it
//! adds here is its inbox: the receiving service, its route
//! (`/api/v1/sandbox/receive`) and its counters.

use std::sync::Arc;

use super::SandboxInbox;
use crate::providers::{Context, Registry, StatusCounters};

/// Registers the sandbox inbox's counters; returns the inbox, which
/// `Sandbox.Receive` and `/api/v1/sandbox/receive` call.
pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> Arc<SandboxInbox> {
    let inbox = Arc::new(SandboxInbox::new(
        ctx.data_dir,
        ctx.accounts.clone(),
        ctx.bus.clone(),
        ctx.outbox.attachments().clone(),
    ));
    registry.status(inbox.clone());
    registry.api(super::api::routes(), inbox.clone());
    registry.message_source(Arc::new(super::inbox_source::SandboxSource {
        data_dir: ctx.data_dir.to_owned(),
    }));
    inbox
}

impl StatusCounters for SandboxInbox {
    fn counters(&self) -> Vec<(String, u64)> {
        self.counts()
            .into_iter()
            .map(|(channel, n)| (format!("sandbox_received_{}", channel.as_str()), n))
            .collect()
    }
}
