//! The commsd daemon as a library: [`run`] is the whole program; `main.rs`
//! only parses arguments and sets up logging.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod config;
pub mod contacts;
pub mod dashboard;
pub mod de;
pub mod error;
pub mod events;
pub mod extract;
pub mod fsprivate;
pub mod gmail;
pub mod google;
pub mod http;
pub mod inbox;
pub mod localguard;
pub mod lockfile;
pub mod mail;
pub mod mcp;
pub mod outbox;
pub mod providers;
pub mod rpc;
pub mod runs;
pub mod sandbox;
pub mod socket;
pub mod status;
pub mod store;
pub mod tools;
pub mod twilio;
pub mod util;
pub mod vault;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use commsd_proto::v1::{
    accounts_server::AccountsServer, audit_server::AuditServer, control_server::ControlServer,
    dashboard_server::DashboardServer, events_server::EventsServer, keys_server::KeysServer,
    outbox_server::OutboxServer, sandbox_server::SandboxServer,
    sms_opt_outs_server::SmsOptOutsServer, tools_server::ToolsServer, vault_server::VaultServer,
};
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::config::{Config, Origin};
use crate::dashboard::Sessions;
use crate::events::{Bus, Event};
use crate::fsprivate::{TooOpen, ensure_private_dir};
use crate::lockfile::LockError;
use crate::outbox::dispatch::Dispatcher;
use crate::outbox::service::Outbox;
use crate::outbox::transport::{SandboxTransport, Transports};
use crate::runs::RunHistory;
use crate::store::Store;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the daemon keeps and finds things; resolved by `main`.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub socket: PathBuf,
}

/// The state shared by every service.
pub struct Daemon {
    pub bus: Arc<Bus>,
    pub shutdown: CancellationToken,
    pub store: Store,
    pub audit: audit::service::AuditLog,
    pub outbox: Arc<Outbox>,
    pub sessions: Arc<Sessions>,
    pub keys: Arc<api::keys::Keys>,
    pub vault: vault::Vault,
    pub accounts: Arc<accounts::service::AccountService>,
    pub mail: Arc<mail::Mailboxes>,
    /// The Gmail service: the tools, `/api/v1/gmail` and `/api/v1/email` call it.
    pub gmail: Arc<gmail::GmailService>,
    /// The sandbox's inbox: `Sandbox.Receive` and `/api/v1/sandbox/receive` call it.
    pub sandbox: Arc<sandbox::SandboxInbox>,
    /// SMS through Twilio: opt-outs and deliveries.
    pub twilio: Arc<twilio::provider::Twilio>,
    /// The unified inbox: `Inbox.Reindex` calls it.
    pub inbox: Arc<inbox::Inbox>,
    /// Contacts: the dashboard's contacts page reads through it.
    pub contacts: Arc<contacts::service::ContactsService>,
    /// Every provider's counters, for status.
    status_counters: Vec<Arc<dyn providers::StatusCounters>>,
    shutdown_requested: AtomicBool,
    started: Instant,
    started_unix_ms: i64,
    socket: PathBuf,
    data_dir: PathBuf,
    config_path: Option<PathBuf>,
    urls: Urls,
    history: RunHistory,
}

#[derive(Debug, Clone, Default)]
struct Urls {
    dashboard: String,
    api: String,
    webhooks: String,
}

impl Daemon {
    pub fn status(&self) -> status::Status {
        let mut counts = std::collections::BTreeMap::from([
            ("daemon_starts".to_owned(), self.history.starts),
            ("unclean_stops".to_owned(), self.history.unclean_stops),
            (
                "event_subscribers".to_owned(),
                self.bus.subscribers() as u64,
            ),
        ]);
        let outbox = self.outbox.counts();
        for (state, n) in &outbox {
            counts.insert(format!("outbox_{state}"), *n);
        }
        let mut providers = std::collections::BTreeMap::new();
        for provider in &self.status_counters {
            counts.extend(provider.counters());
            if let Some((name, details)) = provider.details() {
                providers.insert(name, details);
            }
        }
        status::Status {
            version: commsd_proto::VERSION,
            protocol: commsd_proto::PROTOCOL_VERSION,
            pid: std::process::id(),
            uptime: self.started.elapsed(),
            started_at_unix_ms: self.started_unix_ms,
            socket: self.socket.clone(),
            data_dir: self.data_dir.clone(),
            config_path: self.config_path.clone(),
            dashboard_url: self.urls.dashboard.clone(),
            api_url: self.urls.api.clone(),
            webhook_url: self.urls.webhooks.clone(),
            counts,
            outbox,
            providers,
            warnings: self
                .keys
                .warnings()
                .into_iter()
                .chain(self.vault.warning())
                .chain(self.accounts.warnings())
                .collect(),
        }
    }

    /// Starts a graceful shutdown (idempotent): publishes the event, then
    /// stops every listener from accepting.
    pub fn request_shutdown(&self, reason: &str) {
        if self.shutdown_requested.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(reason, "shutting down");
        self.bus.publish(Event::ShutdownStarted {
            reason: reason.to_owned(),
        });
        self.shutdown.cancel();
    }
}

/// Runs the daemon until a signal or the Shutdown RPC stops it.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    // Install the handlers first: a SIGTERM that arrives once the socket
    // accepts connections must shut down gracefully, not kill the process.
    let signals = Signals::install().context("cannot install signal handlers")?;
    let (config, origin) = Config::load(options.config.as_deref())?;
    tools::check_toolsets(config.mcp.toolsets.as_deref()).map_err(anyhow::Error::msg)?;
    let config_path = match &origin {
        Origin::File(path) => {
            tracing::info!(config = %path.display(), "loaded config");
            Some(path.clone())
        }
        Origin::Default(path) => {
            tracing::info!(config = %path.display(), "no config file; using the embedded default");
            None
        }
        Origin::Embedded => None,
    };

    http::raise_open_files_limit();
    // Claim the socket first: a second daemon stops here, before touching anything.
    let claimed = socket::claim(&options.socket)?;

    let (data_lock, store, store_thread, history) = open_data_dir(&options.data_dir).await?;

    let dashboard = http::bind(http::Listener::Dashboard, config.listen.dashboard).await?;
    let api = http::bind(http::Listener::Api, config.listen.api).await?;
    let webhooks = http::bind(http::Listener::Webhooks, config.listen.webhooks).await?;
    let urls = Urls {
        dashboard: dashboard.url(),
        api: api.url(),
        webhooks: webhooks.url(),
    };

    let bus = Arc::new(Bus::default());
    let vault = vault::Vault::open(&config.vault, &options.data_dir);
    let accounts =
        Arc::new(Accounts::load(store.clone(), bus.clone(), &config.sandbox.from).await?);
    let account_count = accounts.list().len();
    let account_service = Arc::new(
        accounts::service::AccountService::new(
            accounts.clone(),
            config.google.endpoints.clone(),
            vault.clone(),
        )?
        .with_twilio_api(&config.twilio.api_base, config.twilio.request_timeout),
    );
    let outbox = Arc::new(
        Outbox::new(
            store.clone(),
            bus.clone(),
            accounts.clone(),
            options.data_dir.clone(),
            config.outbox.clone(),
            config.policy.clone(),
        )
        .await?,
    );
    let unknown = outbox.recover().await?;
    if unknown > 0 {
        tracing::warn!(
            items = unknown,
            "items were being sent when commsd stopped; they are marked unknown for a human to resolve"
        );
    }
    if let Some(seen) = history.previous_seen_ms {
        let resumed = outbox.resume_holds(seen, events::now_unix_ms()).await?;
        if resumed > 0 {
            tracing::info!(
                items = resumed,
                "approved items were in their hold window when commsd stopped; the rest of it starts now"
            );
        }
    }
    let shutdown = CancellationToken::new();
    let keys = Arc::new(api::keys::Keys::load(store.clone()).await?);

    // The providers, each registering what it brings (providers.rs). A new
    // provider is one folder and one line here.
    let transports = Transports::new(
        Arc::new(SandboxTransport::new(
            &options.data_dir,
            outbox.attachments().clone(),
        )),
        accounts.sendable(),
    );
    let mut registry = providers::Registry::new(transports, account_service.clone());
    let ctx = providers::Context {
        config: &config,
        data_dir: &options.data_dir,
        store: &store,
        bus: &bus,
        vault: &vault,
        accounts: &accounts,
        account_service: &account_service,
        outbox: &outbox,
        shutdown: &shutdown,
        dashboard_url: &urls.dashboard,
    };
    let services = register_providers(&ctx, &mut registry)?;
    let mut registered = registry.finish();
    for work in std::mem::take(&mut registered.before_serving) {
        work.await;
    }
    outbox.use_transports(registered.transports.clone());
    outbox.use_vault(vault.clone());

    let tools = Arc::new(tools::Tools::new(
        outbox.clone(),
        registered.tools.clone(),
        config.mcp.toolsets.as_deref(),
        urls.dashboard.clone(),
    ));
    let consent =
        Arc::new(commsd_mcp::Consent::new().context("cannot create the MCP approval signing key")?);

    let bound_socket = claimed.bind()?;
    let daemon = Arc::new(Daemon {
        bus,
        shutdown,
        store: store.clone(),
        audit: audit::service::AuditLog::new(store.clone()),
        outbox: outbox.clone(),
        sessions: Arc::new(Sessions::default()),
        keys: keys.clone(),
        vault: vault.clone(),
        accounts: account_service.clone(),
        mail: services.mail,
        gmail: services.gmail,
        sandbox: services.sandbox.clone(),
        twilio: services.twilio,
        inbox: services.inbox,
        contacts: services.contacts,
        status_counters: registered.status.clone(),
        shutdown_requested: AtomicBool::new(false),
        started,
        started_unix_ms: events::now_unix_ms() - started.elapsed().as_millis() as i64,
        socket: bound_socket.path.clone(),
        data_dir: options.data_dir.clone(),
        config_path,
        urls: urls.clone(),
        history,
    });

    let uid = rustix::process::getuid().as_raw();
    let (listener, socket_file) = bound_socket.into_parts();
    let grpc = grpc_services(&daemon, &tools, services.sandbox).serve_with_incoming_shutdown(
        socket::incoming(listener, uid),
        daemon.shutdown.clone().cancelled_owned(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move { grpc.await.context("gRPC server failed") });
    let routers = [
        (dashboard, dashboard::router(daemon.clone())),
        (
            api,
            api::router(
                daemon.clone(),
                keys.clone(),
                config.api.requests_per_minute,
                config.api.max_body_bytes,
                mcp::service(&daemon, tools.clone(), consent, config.api.max_body_bytes),
                registered.api,
            ),
        ),
        (webhooks, registered.webhooks),
    ];
    for (bound, app) in routers {
        let shutdown = daemon.shutdown.clone();
        let name = bound.kind.name();
        let limits = config.http.clone();
        tasks.spawn(async move {
            http::serve(bound, app, &limits, shutdown)
                .await
                .with_context(|| format!("{name} listener failed"))
        });
    }
    let dispatcher = Dispatcher::new(outbox.clone(), registered.transports.clone());
    let dispatch_shutdown = daemon.shutdown.clone();
    tasks.spawn(async move {
        dispatcher.run(dispatch_shutdown).await;
        Ok(())
    });
    let (beat_store, run_id, stop) = (
        daemon.store.clone(),
        daemon.history.run_id,
        daemon.shutdown.clone(),
    );
    tasks.spawn(async move {
        runs::heartbeat(beat_store, run_id, stop).await;
        Ok(())
    });
    tokio::spawn(signals.watch(Arc::downgrade(&daemon)));
    // Providers' start-up work: IDLE watchers for every IMAP account, ...
    for start in registered.on_start {
        start();
    }
    // The account set is loaded: MCP clients re-list tools. The registry
    // publishes it again whenever accounts are added, changed or removed.
    daemon.bus.publish(Event::AccountsChanged {
        accounts: account_count,
    });

    tracing::info!(
        pid = std::process::id(),
        socket = %socket_file.path().display(),
        dashboard = %urls.dashboard,
        api = %urls.api,
        webhooks = %urls.webhooks,
        startup_ms = started.elapsed().as_millis() as u64,
        "commsd ready"
    );
    notify_systemd(&[sd_notify::NotifyState::Ready]);

    // Serve until shutdown is requested or a server fails.
    let mut failure = None;
    tokio::select! {
        () = daemon.shutdown.cancelled() => {}
        Some(result) = tasks.join_next() => {
            failure = flatten(result).err();
            daemon.request_shutdown("a listener stopped unexpectedly");
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);

    drain(tasks).await;

    drop((store, outbox, keys, tools));
    close_store(daemon, store_thread).await;
    // Logged before the socket file (and with it the lock `commsctl daemon
    // stop` waits on) goes away, so whoever sees the daemon gone sees this line.
    tracing::info!("commsd stopped");
    // The data directory's lock first: once the socket's lock is gone a new
    // daemon may start, and it takes the socket's lock before the data's.
    data_lock.remove();
    socket_file.remove();
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Takes the data directory (private, locked against a second daemon) and
/// opens its database, recording this run.
async fn open_data_dir(
    data_dir: &std::path::Path,
) -> anyhow::Result<(
    lockfile::LockFile,
    Store,
    store::StoreThread,
    runs::RunHistory,
)> {
    ensure_private_dir(data_dir, "data directory", TooOpen::Tighten).map_err(anyhow::Error::msg)?;
    let data_lock_path = data_dir.join("commsd.lock");
    let data_lock = match lockfile::try_lock(&data_lock_path) {
        Ok(lock) => lock,
        Err(LockError::Held { pid }) => anyhow::bail!(
            "commsd is already running (pid {}) on data directory {}",
            pid.map_or("unknown".to_owned(), |p| p.to_string()),
            data_dir.display()
        ),
        Err(LockError::Io(e)) => anyhow::bail!(
            "data directory {} is not writable: cannot create {}: {e}",
            data_dir.display(),
            data_lock_path.display()
        ),
    };

    let db_path = data_dir.join("commsd.db");
    let (store, store_thread) = tokio::task::spawn_blocking(move || Store::open(&db_path))
        .await
        .context("database open task failed")??;
    let history = store
        .call(|conn| runs::record_start(conn, std::process::id(), commsd_proto::VERSION))
        .await?;
    if let Some(pid) = history.last_unclean_pid {
        tracing::warn!(pid, "the previous commsd run did not shut down cleanly");
    }

    Ok((data_lock, store, store_thread, history))
}

/// Stops accepting and lets in-flight work finish, for at most
/// [`DRAIN_TIMEOUT`].
async fn drain(mut tasks: tokio::task::JoinSet<anyhow::Result<()>>) {
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(result) = tasks.join_next().await {
            if let Err(e) = flatten(result) {
                tracing::error!(error = format!("{e:#}"), "server error during shutdown");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "in-flight requests did not finish within {DRAIN_TIMEOUT:?}; stopping anyway"
        );
        tasks.abort_all();
    }
}

/// The services `run()` keeps from the providers' registrations.
struct Services {
    gmail: Arc<gmail::GmailService>,
    mail: Arc<mail::Mailboxes>,
    sandbox: Arc<sandbox::SandboxInbox>,
    twilio: Arc<twilio::provider::Twilio>,
    inbox: Arc<inbox::Inbox>,
    contacts: Arc<contacts::service::ContactsService>,
}

/// Every provider, in one place: each registers what it brings
/// (providers.rs, ARCHITECTURE.md "How to add a provider"). A new provider
/// is one folder and one line here.
fn register_providers(
    ctx: &providers::Context<'_>,
    registry: &mut providers::Registry,
) -> anyhow::Result<Services> {
    registry.tools(Arc::new(tools::accounts::AccountTools {
        service: ctx.account_service.clone(),
    }));
    let gmail = gmail::provider::register(ctx, registry)?;
    let mail = mail::provider::register(ctx, registry);
    let sandbox = sandbox::provider::register(ctx, registry);
    chat::provider::register(ctx, registry)?;
    let contacts = contacts::provider::register(ctx, registry)?;
    let twilio = twilio::provider::register(ctx, registry)?;
    // Last: it takes the message sources the providers registered.
    let inbox = inbox::provider::register(ctx, registry);
    Ok(Services {
        inbox,
        gmail,
        mail,
        sandbox,
        twilio,
        contacts,
    })
}

/// The gRPC services on the Unix socket, each a thin adapter over `Daemon`.
fn grpc_services(
    daemon: &Arc<Daemon>,
    tools: &Arc<tools::Tools>,
    sandbox: Arc<sandbox::SandboxInbox>,
) -> tonic::transport::server::Router {
    tonic::transport::Server::builder()
        .add_service(ControlServer::new(rpc::control::ControlService(
            daemon.clone(),
        )))
        .add_service(EventsServer::new(rpc::control::EventsService(
            daemon.clone(),
        )))
        .add_service(OutboxServer::new(rpc::outbox::OutboxService(
            daemon.outbox.clone(),
        )))
        .add_service(AuditServer::new(rpc::audit::AuditService(
            daemon.audit.clone(),
        )))
        .add_service(KeysServer::new(rpc::keys::KeysService(daemon.keys.clone())))
        .add_service(AccountsServer::new(rpc::accounts::AccountsService(
            daemon.accounts.clone(),
        )))
        .add_service(ToolsServer::new(rpc::tools::ToolsService(tools.clone())))
        .add_service(VaultServer::new(rpc::vault::VaultService(
            daemon.vault.clone(),
        )))
        .add_service(SandboxServer::new(rpc::sandbox::SandboxService(sandbox)))
        .add_service(commsd_proto::v1::inbox_server::InboxServer::new(
            rpc::inbox::InboxService(daemon.inbox.clone()),
        ))
        .add_service(commsd_proto::v1::contacts_server::ContactsServer::new(
            rpc::contacts::ContactsRpc {
                service: daemon.contacts.clone(),
                shutdown: daemon.shutdown.clone(),
            },
        ))
        .add_service(SmsOptOutsServer::new(rpc::sms::SmsOptOutsService {
            optouts: daemon.twilio.optouts.clone(),
            accounts: daemon.accounts.accounts.clone(),
        }))
        .add_service(
            commsd_proto::v1::sms_quiet_hours_server::SmsQuietHoursServer::new(
                rpc::sms::SmsQuietHoursService(daemon.twilio.quiet.clone()),
            ),
        )
        .add_service(DashboardServer::new(rpc::dashboard::DashboardService {
            sessions: daemon.sessions.clone(),
            base_url: daemon.urls.dashboard.clone(),
        }))
}

/// Closes the database: records the clean stop, drops the last handle (the
/// daemon's, once every task holding one has ended), joins the thread.
async fn close_store(daemon: Arc<Daemon>, store_thread: store::StoreThread) {
    let store = daemon.store.clone();
    let run_id = daemon.history.run_id;
    if let Err(e) = store
        .call(move |conn| runs::record_stop(conn, run_id))
        .await
    {
        tracing::error!(error = %e, "could not record the clean stop");
    }
    store.close();
    drop(store);
    drop(daemon);
    let joined = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || store_thread.join()),
    )
    .await;
    if joined.is_err() {
        tracing::warn!("database thread did not close within 5 s");
    }
}

fn flatten(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    result.context("server task panicked")?
}

fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// SIGTERM and SIGINT start a graceful shutdown; a second one exits at once.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Holds only a weak reference so it never keeps the store open at shutdown.
    async fn watch(mut self, daemon: std::sync::Weak<Daemon>) {
        let mut seen = 0;
        loop {
            let name = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            };
            seen += 1;
            if seen > 1 {
                tracing::warn!(
                    signal = name,
                    "second signal: exiting without finishing shutdown"
                );
                std::process::exit(130);
            }
            if let Some(daemon) = daemon.upgrade() {
                daemon.request_shutdown(name);
            }
        }
    }
}
