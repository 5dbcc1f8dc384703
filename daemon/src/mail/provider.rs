//! IMAP/SMTP's registration: what the mail provider brings to the daemon.

use std::sync::Arc;

use crate::accounts::Kind;
use crate::outbox::model::Channel;
use crate::providers::{Context, Registry};
use crate::tools::email::EmailTools;

use super::{ImapTransport, Mailboxes};

/// Registers IMAP/SMTP accounts: email for IMAP accounts goes out through
/// SMTP, the email tools, the account hook (sessions rebuilt or dropped),
/// and the IDLE watchers, started once the daemon serves. Returns the
/// mailboxes, which `/api/v1/email` and the inbox resource read.
pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> Arc<Mailboxes> {
    let mailboxes = Arc::new(Mailboxes::new(
        ctx.accounts.clone(),
        ctx.vault.clone(),
        ctx.account_service.tokens.clone(),
        ctx.data_dir.to_owned(),
        ctx.outbox.attachments().clone(),
        ctx.bus.clone(),
        ctx.shutdown.clone(),
    ));
    registry.transport(
        Kind::Imap,
        Channel::Email,
        Arc::new(ImapTransport(mailboxes.clone())),
    );
    registry.account_data(mailboxes.clone());
    registry.tools(Arc::new(EmailTools {
        mail: mailboxes.clone(),
    }));
    registry.message_source(Arc::new(super::inbox_source::ImapSource {
        mailboxes: mailboxes.clone(),
        accounts: ctx.accounts.clone(),
    }));
    let watched = mailboxes.clone();
    registry.on_start(move || watched.watch_all());
    mailboxes
}
