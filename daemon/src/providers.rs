//! The provider registry: what each provider brings, registered once.
//!
//! A provider (the sandbox, Gmail, IMAP/SMTP, and the channels to come) is
//! one module folder with a `register(&Context, &mut Registry)` function;
//! [`crate::run`] lists the providers in one place. What a provider may
//! register (see ARCHITECTURE.md, "How to add a provider"):
//!
//! - transports, keyed by (account kind, channel); an account's sendable
//!   channels follow from them (`accounts::Sendable`);
//! - a tool provider (its MCP tools, also run by `Tools.Invoke`);
//! - an account-data hook (`AccountData`: an account added or removed);
//! - `/api/v1` routes (`Registry::api`) and webhook routes;
//! - status counters (`commsctl status`, the dashboard);
//! - work awaited before the daemon serves (loading a store), and start-up
//!   work (watchers) run once it serves;
//! - message sources feeding the unified inbox (`inbox::MessageSource`).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::accounts::service::{AccountData, AccountService};
use crate::accounts::{Accounts, Kind};
use crate::api::ApiState;
use crate::config::Config;
use crate::events::Bus;
use crate::inbox::MessageSource;
use crate::outbox::model::Channel;
use crate::outbox::service::Outbox;
use crate::outbox::transport::{Transport, Transports};
use crate::store::Store;
use crate::tools::ToolProvider;
use crate::vault::Vault;

/// What a provider may use while it registers.
pub struct Context<'a> {
    pub config: &'a Config,
    pub data_dir: &'a Path,
    pub store: &'a Store,
    pub bus: &'a Arc<Bus>,
    pub vault: &'a Vault,
    pub accounts: &'a Arc<Accounts>,
    pub account_service: &'a Arc<AccountService>,
    pub outbox: &'a Arc<Outbox>,
    pub shutdown: &'a CancellationToken,
    pub dashboard_url: &'a str,
}

/// A provider's counters for `commsctl status` (`name` → value).
pub trait StatusCounters: Send + Sync {
    fn counters(&self) -> Vec<(String, u64)>;

    /// Structured statistics shown under the provider's name (the
    /// dashboard's status page), if any.
    fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        None
    }
}

/// Everything the providers registered.
pub struct Registry {
    transports: Transports,
    tools: Vec<Arc<dyn ToolProvider>>,
    status: Vec<Arc<dyn StatusCounters>>,
    webhooks: axum::Router,
    api: OpenApiRouter<ApiState>,
    on_start: Vec<Box<dyn FnOnce() + Send>>,
    before_serving: Vec<BoxFuture<'static, ()>>,
    message_sources: Vec<Arc<dyn MessageSource>>,
    account_service: Arc<AccountService>,
}

impl Registry {
    /// An empty registry; the sandbox's transport is built into the outbox.
    pub fn new(transports: Transports, account_service: Arc<AccountService>) -> Registry {
        Registry {
            transports,
            tools: Vec::new(),
            status: Vec::new(),
            webhooks: axum::Router::new(),
            api: OpenApiRouter::new(),
            on_start: Vec::new(),
            before_serving: Vec::new(),
            message_sources: Vec::new(),
            account_service,
        }
    }

    /// `channel` items of accounts of `kind` go out through `transport`.
    pub fn transport(&mut self, kind: Kind, channel: Channel, transport: Arc<dyn Transport>) {
        self.transports.register(kind, channel, transport);
    }

    pub fn tools(&mut self, tools: Arc<dyn ToolProvider>) {
        self.tools.push(tools);
    }

    /// Told when an account is added or removed (drop caches, start watchers).
    pub fn account_data(&mut self, data: Arc<dyn AccountData>) {
        self.account_service.on_remove(data);
    }

    pub fn status(&mut self, counters: Arc<dyn StatusCounters>) {
        self.status.push(counters);
    }

    /// Routes on the webhook listener (`/webhooks/<provider>/...`): the one
    /// listener a user may expose through a tunnel, so every route verifies
    /// its requests (e.g. a signature) before it stores anything.
    pub fn webhooks(&mut self, routes: axum::Router) {
        self.webhooks = std::mem::take(&mut self.webhooks).merge(routes);
    }

    /// Routes under `/api/v1` (authenticated, rate-limited, in the OpenAPI
    /// document), declared by the provider without their service, which is
    /// given here and reaches the handlers as `Extension<T>`.
    pub fn api<T: Clone + Send + Sync + 'static>(
        &mut self,
        routes: OpenApiRouter<ApiState>,
        service: T,
    ) {
        let routes = routes.layer(axum::Extension(service));
        self.api = std::mem::take(&mut self.api).merge(routes);
    }

    /// Runs once everything is registered and the daemon serves.
    pub fn on_start(&mut self, f: impl FnOnce() + Send + 'static) {
        self.on_start.push(Box::new(f));
    }

    /// Work the daemon awaits before it serves anything (e.g. loading a
    /// store into memory), so what the first request sees is complete.
    /// Keep it short: it delays `commsd ready`.
    pub fn before_serving(&mut self, f: impl Future<Output = ()> + Send + 'static) {
        self.before_serving.push(Box::pin(f));
    }

    /// Feeds the unified inbox (`inbox/`): what came in on the provider's
    /// channels, as it arrives.
    pub fn message_source(&mut self, source: Arc<dyn MessageSource>) {
        self.message_sources.push(source);
    }

    /// The message sources registered so far (the inbox takes them when
    /// it registers, after every provider).
    pub fn take_message_sources(&mut self) -> Vec<Arc<dyn MessageSource>> {
        std::mem::take(&mut self.message_sources)
    }

    /// Splits the registry into what the daemon keeps.
    pub fn finish(self) -> Registered {
        Registered {
            transports: Arc::new(self.transports),
            tools: self.tools,
            status: self.status,
            webhooks: self.webhooks,
            api: self.api,
            on_start: self.on_start,
            before_serving: self.before_serving,
        }
    }
}

/// The registrations, as the daemon uses them.
pub struct Registered {
    pub transports: Arc<Transports>,
    pub tools: Vec<Arc<dyn ToolProvider>>,
    pub status: Vec<Arc<dyn StatusCounters>>,
    pub webhooks: axum::Router,
    pub api: OpenApiRouter<ApiState>,
    pub on_start: Vec<Box<dyn FnOnce() + Send>>,
    pub before_serving: Vec<BoxFuture<'static, ()>>,
}
