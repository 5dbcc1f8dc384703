//! Chat's registration: chat items of Google accounts go out through the
//! Chat API and those of `chat_webhook` accounts through their webhook; the
//! read tools, `/api/v1/chat`, the counters, the account hook, and the
//! pollers of followed spaces.

use std::sync::Arc;

use super::service::ChatService;
use super::tools::ChatTools;
use super::transport::{ApiTransport, WebhookTransport};
use super::{Chat, follow};
use crate::accounts::Kind;
use crate::accounts::service::AccountData;
use crate::outbox::model::Channel;
use crate::providers::{Context, Registry, StatusCounters};

impl StatusCounters for Chat {
    fn counters(&self) -> Vec<(String, u64)> {
        Chat::counters(self)
    }

    fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        Some(("chat", Chat::details(self)))
    }
}

impl AccountData for Chat {
    fn forget(&self, account_id: &str) {
        Chat::forget(self, account_id);
    }
}

pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> anyhow::Result<()> {
    let chat = Arc::new(Chat::new(
        &ctx.config.google.endpoints.chat,
        ctx.account_service.tokens.clone(),
        &ctx.config.chat,
        ctx.vault.clone(),
        ctx.accounts.clone(),
        ctx.store.clone(),
    )?);
    registry.transport(
        Kind::Google,
        Channel::Chat,
        Arc::new(ApiTransport { chat: chat.clone() }),
    );
    registry.transport(
        Kind::ChatWebhook,
        Channel::Chat,
        Arc::new(WebhookTransport { chat: chat.clone() }),
    );
    registry.account_data(chat.clone());
    registry.status(chat.clone());
    let service = Arc::new(ChatService { chat: chat.clone() });
    registry.tools(Arc::new(ChatTools {
        service: service.clone(),
    }));
    registry.api(super::api::routes(), service);
    registry.message_source(Arc::new(super::inbox_source::ChatSource {
        store: ctx.store.clone(),
        accounts: ctx.accounts.clone(),
    }));
    let (config, bus, shutdown) = (
        ctx.config.chat.clone(),
        ctx.bus.clone(),
        ctx.shutdown.clone(),
    );
    registry.on_start(move || follow::start(chat, &config, bus, shutdown));
    Ok(())
}
