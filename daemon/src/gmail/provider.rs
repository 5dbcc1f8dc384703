//! Gmail's registration: what the Gmail provider brings to the daemon.

use std::sync::Arc;

use crate::accounts::Kind;
use crate::outbox::model::Channel;
use crate::providers::{Context, Registry, StatusCounters};
use crate::tools::gmail::GmailTools;

use super::transport::GmailTransport;
use super::{Gmail, GmailService};

impl StatusCounters for Gmail {
    fn counters(&self) -> Vec<(String, u64)> {
        self.status_counts()
    }

    fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        Some(("gmail", self.stats()))
    }
}

/// Registers Gmail: email for Google accounts goes out through Gmail, the
/// Gmail tools, the account hook that drops an account's caches, the
/// counters. Returns the service, which `/api/v1/gmail` and `/api/v1/email`
/// call too.
pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> anyhow::Result<Arc<GmailService>> {
    let gmail = Arc::new(Gmail::new(
        &ctx.config.google.endpoints.gmail,
        ctx.account_service.tokens.clone(),
        ctx.config.gmail.clone(),
        ctx.data_dir,
    )?);
    registry.transport(
        Kind::Google,
        Channel::Email,
        Arc::new(GmailTransport::new(
            gmail.clone(),
            ctx.outbox.attachments().clone(),
        )),
    );
    registry.account_data(gmail.clone());
    registry.status(gmail.clone());
    registry.message_source(Arc::new(super::inbox_source::GmailSource {
        gmail: gmail.clone(),
        accounts: ctx.accounts.clone(),
    }));
    let service = Arc::new(GmailService::new(
        gmail,
        ctx.outbox.clone(),
        ctx.dashboard_url.to_owned(),
    ));
    registry.tools(Arc::new(GmailTools::new(service.clone())));
    registry.api(super::api::routes(), service.clone());
    Ok(service)
}
