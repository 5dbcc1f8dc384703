//! The outbox's [`AddressResolver`]: a name or `contact:<id>` in a stage
//! request's recipients becomes an address only when exactly one person and
//! one address match; otherwise staging fails with the candidates in the
//! error's details and nothing is stored. Staging on the sandbox resolves in
//! its own book, on any other account among every account but the sandbox.

use std::sync::Arc;

use serde_json::json;

use super::Contacts;
use super::book::Channel as BookChannel;
use super::resolve::{Resolution, check_query, describe, resolve};
use crate::accounts::{Account, SANDBOX};
use crate::error::{Error, Result};
use crate::outbox::model::Channel;
use crate::outbox::resolver::{AddressResolver, Addressed};

pub struct Resolver {
    pub contacts: Arc<Contacts>,
}

#[async_trait::async_trait]
impl AddressResolver for Resolver {
    async fn resolve(
        &self,
        account: &Account,
        channel: Channel,
        field: &str,
        entry: &str,
    ) -> Result<Addressed> {
        check_query(field, entry)?;
        let ch = match channel {
            Channel::Email => BookChannel::Email,
            Channel::Sms => BookChannel::Sms,
            Channel::Chat => BookChannel::Chat,
        };
        let scope = (account.id == SANDBOX).then_some(SANDBOX);
        self.contacts.ready().await;
        let book = self.contacts.book();
        let name = |id: &str| self.contacts.account_name(id);
        let r = resolve(&book, entry, ch, scope);
        match &r {
            Resolution::Resolved { person, address } => Ok(Addressed {
                field: field.to_owned(),
                asked: entry.trim().to_owned(),
                address: address.value.clone(),
                description: describe(person, address, &name),
            }),
            Resolution::Ambiguous { .. } => Err(Error::invalid(
                field,
                format!("{entry:?} matches more than one {} address; name one (an address, or contact:<id>)", ch.as_str()),
            )
            .with_details(json!({ "field": field, "resolution": r.view(entry.trim(), ch, &name) }))),
            Resolution::NotFound => Err(Error::invalid(
                field,
                format!("no contact matches {entry:?} with a {} address", ch.as_str()),
            )
            .with_details(json!({ "field": field, "resolution": r.view(entry.trim(), ch, &name) }))),
        }
    }
}
