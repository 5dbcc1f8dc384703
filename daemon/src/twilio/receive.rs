//! The receiving side of the Twilio provider, registered by
//! [`register`]: the webhook routes, the inbound store, media downloads
//! (pending ones retried at start), the polling fallback when
//! `[twilio] poll_interval` is set (started at start, stopped at shutdown),
//! removal of an account's messages, and the counters
//! (`twilio_webhooks_accepted`, `twilio_webhooks_refused`,
//! `twilio_inbound_stored`, `twilio_inbound_duplicates`, and with polling
//! `twilio_poll_requests`, `twilio_poll_stored`, `twilio_poll_errors`).
//!
//! The webhooks find an account's auth token through
//! `accounts::by_account_sid` and `accounts::auth_token`; media are fetched
//! with the account's REST client (`accounts::client`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::client::Media;
use super::inbound::Inbound;
use super::media::{MediaSaver, MediaSource};
use super::poll::Poller;
use super::read::SmsRead;
use super::webhook::{
    self, KeywordSink, StatusSink, TokenLookup, TokenSource, WebhookCounts, Webhooks,
};
use crate::accounts::Accounts;
use crate::accounts::service::AccountData;
use crate::error::{Error, Result};
use crate::providers::{Context, Registry, StatusCounters};
use crate::vault::Vault;

/// What the rest of the daemon reads: the store of received messages.
pub struct Receiving {
    pub inbound: Arc<Inbound>,
    /// What the tools, `/api/v1/sms` and the dashboard read through.
    pub read: Arc<SmsRead>,
    pub webhooks: Arc<Webhooks>,
    pub media: Arc<MediaSaver>,
    /// The polling fallback, when `[twilio] poll_interval` is set.
    pub poller: Option<Arc<Poller>>,
}

/// Where keywords and status callbacks go.
pub struct Sinks {
    pub keywords: Arc<dyn KeywordSink>,
    pub status: Arc<dyn StatusSink>,
}

/// Registers the webhook routes, the counters, the account-data hook and
/// the start-up media retry.
pub fn register(ctx: &Context<'_>, registry: &mut Registry, sinks: Sinks) -> Arc<Receiving> {
    let inbound = Arc::new(Inbound::new(ctx.store.clone(), ctx.bus.clone()));
    let lookup = Arc::new(VaultLookup {
        accounts: ctx.accounts.clone(),
        vault: ctx.vault.clone(),
        api_base: ctx.config.twilio.api_base.clone(),
        timeout: ctx.config.twilio.request_timeout,
    });
    let media = Arc::new(MediaSaver::new(
        ctx.data_dir,
        inbound.clone(),
        lookup.clone(),
        ctx.config.twilio.media_max_bytes,
    ));
    let poller = (!ctx.config.twilio.poll_interval.is_zero()).then(|| {
        Arc::new(Poller::new(
            ctx.accounts.clone(),
            ctx.vault.clone(),
            ctx.config.twilio.api_base.clone(),
            ctx.config.twilio.request_timeout,
            inbound.clone(),
            sinks.keywords.clone(),
        ))
    });
    let webhooks = Arc::new(Webhooks {
        config: ctx.config.twilio.clone(),
        tokens: lookup,
        inbound: inbound.clone(),
        keywords: sinks.keywords,
        status: sinks.status,
        media: Some(media.clone()),
        store: ctx.store.clone(),
        bus: ctx.bus.clone(),
        counts: WebhookCounts::default(),
    });
    registry.webhooks(webhook::router(webhooks.clone()));
    let read = Arc::new(SmsRead::new(
        ctx.account_service.clone(),
        inbound.clone(),
        ctx.data_dir.to_owned(),
    ));
    let receiving = Arc::new(Receiving {
        inbound,
        read,
        webhooks,
        media: media.clone(),
        poller: poller.clone(),
    });
    registry.tools(Arc::new(super::tools::SmsTools {
        read: receiving.read.clone(),
    }));
    registry.api(super::api::routes(), receiving.read.clone());
    registry.status(receiving.clone());
    registry.account_data(receiving.clone());
    if ctx.config.twilio.public_url.is_none() && ctx.config.twilio.trusted_proxies.is_empty() {
        tracing::info!(
            "`twilio.public_url` is not set: every Twilio webhook will be refused (set it to the URL Twilio calls, e.g. the tunnel's https URL)"
        );
    }
    if let Some(poller) = poller {
        let (interval, shutdown) = (ctx.config.twilio.poll_interval, ctx.shutdown.clone());
        registry.on_start(move || {
            tokio::spawn(poller.run(interval, shutdown));
        });
    }
    let shutdown = ctx.shutdown.clone();
    registry.on_start(move || {
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                done = media.fetch_pending() => match done {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(files = n, "retried MMS media downloads left from the last run"),
                    Err(e) => tracing::warn!(error = %e, "MMS media downloads left from the last run were not retried"),
                },
            }
        });
    });
    receiving
}

/// Auth tokens and REST clients from the account registry and the vault.
struct VaultLookup {
    accounts: Arc<Accounts>,
    vault: Vault,
    api_base: String,
    timeout: std::time::Duration,
}

#[async_trait::async_trait]
impl TokenSource for VaultLookup {
    async fn token(&self, account_sid: &str) -> Result<TokenLookup> {
        let Some(account) = super::accounts::by_account_sid(&self.accounts, account_sid) else {
            return Ok(TokenLookup::UnknownAccount);
        };
        Ok(
            match super::accounts::auth_token(&self.vault, &account).await? {
                Some(token) => TokenLookup::Found {
                    account_id: account.id,
                    token,
                },
                None => TokenLookup::NoToken {
                    account_id: account.id,
                },
            },
        )
    }
}

#[async_trait::async_trait]
impl MediaSource for VaultLookup {
    async fn download(&self, account_id: &str, url: &str, max_bytes: u64) -> Result<Media> {
        let account = self.accounts.resolve(Some(account_id))?;
        let (client, _) =
            super::accounts::client(&self.vault, &self.api_base, self.timeout, &account).await?;
        client.download_media(url, max_bytes).await
    }
}

impl AccountData for Receiving {
    fn forget(&self, account_id: &str) {
        let (inbound, media, id) = (
            self.inbound.clone(),
            self.media.clone(),
            account_id.to_owned(),
        );
        tokio::spawn(async move {
            match inbound.forget(&id).await {
                Ok(n) => {
                    tracing::info!(account = %id, messages = n, "dropped the SMS of a removed account")
                }
                Err(e) => {
                    tracing::warn!(account = %id, error = %e, "the SMS of a removed account were not dropped")
                }
            }
            media.remove_account(&id);
        });
    }
}

impl StatusCounters for Receiving {
    fn counters(&self) -> Vec<(String, u64)> {
        let hooks = &self.webhooks.counts;
        let stored = self.inbound.counts();
        let mut counters: Vec<(String, u64)> = [
            (
                "twilio_webhooks_accepted",
                hooks.accepted.load(Ordering::Relaxed),
            ),
            (
                "twilio_webhooks_refused",
                hooks.refused.load(Ordering::Relaxed),
            ),
            (
                "twilio_inbound_stored",
                stored.stored.load(Ordering::Relaxed),
            ),
            (
                "twilio_inbound_duplicates",
                stored.duplicates.load(Ordering::Relaxed),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(poller) = &self.poller {
            let c = &poller.counts;
            counters.extend(
                [
                    ("twilio_poll_requests", &c.requests),
                    ("twilio_poll_stored", &c.stored),
                    ("twilio_poll_errors", &c.errors),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.load(Ordering::Relaxed))),
            );
        }
        counters
    }
}

/// Inbound keywords go to the opt-out register.
#[async_trait::async_trait]
impl KeywordSink for super::optouts::OptOuts {
    async fn record_keyword(
        &self,
        account_id: &str,
        sender: &str,
        their_number: &str,
        keyword: super::keywords::Keyword,
        opt_out_type: Option<&str>,
    ) -> Result<()> {
        super::optouts::OptOuts::record_keyword(
            self,
            account_id,
            sender,
            their_number,
            keyword,
            opt_out_type,
        )
        .await
    }
}

/// Verified status callbacks go to the delivery tracker.
#[async_trait::async_trait]
impl StatusSink for super::delivery::Deliveries {
    async fn apply_status(&self, status: webhook::StatusParams) -> Result<()> {
        let error_code = status
            .error_code
            .as_deref()
            .map(|c| {
                c.trim()
                    .parse::<u32>()
                    .map_err(|_| Error::invalid("ErrorCode", "expected a Twilio error code"))
            })
            .transpose()?;
        let callback = super::delivery::StatusCallback {
            message_sid: status.message_sid,
            message_status: status.message_status,
            error_code,
            account_sid: status.account_sid,
            from: status.from,
            to: status.to,
            messaging_service_sid: None,
        };
        super::delivery::Deliveries::apply_status(self, callback)
            .await
            .map(|_| ())
    }
}
