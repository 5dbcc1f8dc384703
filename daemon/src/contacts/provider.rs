//! Contacts' registration: the tools, `/api/v1/contacts`, the counters, the
//! account hook, the outbox's resolver of names, and the sync task.

use std::sync::Arc;

use super::addressing::Resolver;
use super::service::ContactsService;
use super::tools::ContactsTools;
use super::{Contacts, db, sync};
use crate::accounts::service::AccountData;
use crate::providers::{Context, Registry, StatusCounters};

impl StatusCounters for Contacts {
    fn counters(&self) -> Vec<(String, u64)> {
        Contacts::counters(self)
    }

    fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        Some(("contacts", Contacts::details(self)))
    }
}

impl AccountData for Contacts {
    fn forget(&self, account_id: &str) {
        Contacts::forget(self, account_id);
        let (store, id) = (self.store.clone(), account_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = store.write(move |c| db::forget(c, &id)).await {
                tracing::warn!(error = %e, "cannot drop a removed account's contacts");
            }
        });
    }
}

pub fn register(
    ctx: &Context<'_>,
    registry: &mut Registry,
) -> anyhow::Result<Arc<ContactsService>> {
    let contacts = Arc::new(Contacts::new(
        &ctx.config.google.endpoints.people,
        ctx.account_service.tokens.clone(),
        &ctx.config.contacts,
        ctx.accounts.clone(),
        ctx.store.clone(),
    )?);
    registry.account_data(contacts.clone());
    registry.status(contacts.clone());
    ctx.outbox.use_resolver(Arc::new(Resolver {
        contacts: contacts.clone(),
    }));
    let service = Arc::new(ContactsService {
        contacts: contacts.clone(),
    });
    registry.tools(Arc::new(ContactsTools {
        service: service.clone(),
    }));
    registry.api(super::api::routes(), service.clone());
    // The sandbox's book written and the store loaded before the first
    // request: status and search never see a half-loaded book.
    let c = contacts.clone();
    registry.before_serving(async move { c.ready().await });
    let (c, shutdown) = (contacts.clone(), ctx.shutdown.clone());
    registry.on_start(move || sync::start(c, shutdown));
    Ok(service)
}
