//! Twilio's registration: what the SMS provider brings to the daemon.

use std::sync::Arc;

use super::delivery::Deliveries;
use super::optouts::OptOuts;
use super::quiet::{Quiet, QuietHours};
use super::transport::TwilioTransport;
use crate::accounts::Kind;
use crate::outbox::model::Channel;
use crate::providers::{Context, Registry};

/// What the rest of the daemon reaches of the SMS provider: the opt-outs
/// (inbound keywords, `commsctl sms optouts`) and the deliveries (status
/// callbacks).
pub struct Twilio {
    pub optouts: OptOuts,
    pub deliveries: Arc<Deliveries>,
    pub quiet: Arc<Quiet>,
    /// The receiving side: webhooks, the inbound store, reading.
    pub receiving: Arc<super::receive::Receiving>,
}

/// Registers Twilio accounts' SMS transport and the receiving side (the
/// webhooks, the inbound store, the read tools and routes). Returns the
/// provider's services for the adapters.
pub fn register(ctx: &Context<'_>, registry: &mut Registry) -> anyhow::Result<Arc<Twilio>> {
    super::segments::set_price_per_segment(ctx.config.twilio.price_per_segment);
    let optouts = OptOuts::new(ctx.store.clone());
    let deliveries = Arc::new(Deliveries::new(
        ctx.outbox.clone(),
        ctx.accounts.clone(),
        optouts.clone(),
    ));
    let hours = match &ctx.config.sms.quiet_hours {
        Some(text) => Some(
            QuietHours::parse(text, ctx.config.sms.time_zone.as_deref())
                .map_err(|why| anyhow::anyhow!("key `sms.quiet_hours`: {why}"))?,
        ),
        None => None,
    };
    let quiet = Arc::new(Quiet::new(hours, ctx.outbox.clone()));
    registry.transport(
        Kind::Twilio,
        Channel::Sms,
        Arc::new(TwilioTransport {
            accounts: ctx.accounts.clone(),
            vault: ctx.vault.clone(),
            config: ctx.config.twilio.clone(),
            sms: ctx.config.sms.clone(),
            optouts: optouts.clone(),
            deliveries: deliveries.clone(),
            quiet: quiet.clone(),
        }),
    );
    registry.message_source(Arc::new(super::inbox_source::SmsSource {
        store: ctx.store.clone(),
        accounts: ctx.accounts.clone(),
    }));
    let receiving = super::receive::register(
        ctx,
        registry,
        super::receive::Sinks {
            keywords: Arc::new(optouts.clone()),
            status: deliveries.clone(),
        },
    );
    Ok(Arc::new(Twilio {
        optouts,
        deliveries,
        quiet,
        receiving,
    }))
}
