//! The inbox's registration, after every provider: it takes their message
//! sources, and brings its tools, routes, status and account-data hook, and
//! starts the runners once the daemon serves.

use std::sync::Arc;

use super::Inbox;
use crate::accounts::service::AccountData;
use crate::providers::{Context, Registry, StatusCounters};

/// What `commsctl status` shows: the statistics as of the last sync (status
/// is answered from memory, never waiting for the store).
struct InboxStatus {
    inbox: Arc<Inbox>,
}

impl StatusCounters for InboxStatus {
    /// `inbox_messages`; once there are messages, the size, messages per
    /// account (`inbox_messages:<account>`) and each source's last sync of
    /// those accounts in Unix seconds (`inbox_synced:<source>:<account>`);
    /// a source whose last sync failed, always (`inbox_failing:<source>:<account>`).
    fn counters(&self) -> Vec<(String, u64)> {
        let stats = self.inbox.cached_stats();
        let mut out = vec![("inbox_messages".to_owned(), stats.messages)];
        if stats.messages > 0 {
            out.push(("inbox_bytes".to_owned(), stats.bytes));
        }
        for a in &stats.accounts {
            out.push((format!("inbox_messages:{}", a.account_id), a.messages));
        }
        for s in &stats.sources {
            if s.last_error.is_some() {
                out.push((format!("inbox_failing:{}:{}", s.source, s.account_id), 1));
            }
            let has_messages = stats.accounts.iter().any(|a| a.account_id == s.account_id);
            if let (true, Some(ms)) = (has_messages, s.last_sync_ms) {
                out.push((
                    format!("inbox_synced:{}:{}", s.source, s.account_id),
                    (ms / 1000) as u64,
                ));
            }
        }
        out
    }

    fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        serde_json::to_value(self.inbox.cached_stats())
            .ok()
            .map(|v| ("inbox", v))
    }
}

struct Forget(Arc<Inbox>);

impl AccountData for Forget {
    fn forget(&self, account_id: &str) {
        let (inbox, account) = (self.0.clone(), account_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = inbox.forget(&account).await {
                tracing::warn!(
                    account,
                    code = e.code.as_str(),
                    "could not drop the account's inbox rows"
                );
            }
        });
    }
}

pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> Arc<Inbox> {
    let inbox = Arc::new(Inbox::new(
        ctx.store.clone(),
        ctx.bus.clone(),
        ctx.account_service.clone(),
        ctx.config.inbox.clone(),
        registry.take_message_sources(),
    ));
    registry.tools(Arc::new(super::tools::InboxTools {
        inbox: inbox.clone(),
        outbox: ctx.outbox.clone(),
        dashboard_url: ctx.dashboard_url.to_owned(),
    }));
    registry.api(super::api::routes(), inbox.clone());
    registry.account_data(Arc::new(Forget(inbox.clone())));
    registry.status(Arc::new(InboxStatus {
        inbox: inbox.clone(),
    }));
    let (started, bus, shutdown) = (inbox.clone(), ctx.bus.clone(), ctx.shutdown.clone());
    registry.on_start(move || started.start(&bus, &shutdown));
    inbox
}
