//! The accounts commsd sends and reads from: the embedded sandbox, plus the
//! Google and IMAP accounts a human adds at run time (stored in SQLite,
//! their secrets in the vault).
//!
//! Every call names its account or uses the explicit default; an account is
//! never guessed. With no stored default, the sandbox is the default, so a
//! fresh install never sends anything real by accident.

pub mod google;
pub mod oauth;
pub mod service;
pub mod tokens;

use std::sync::{Arc, RwLock};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit;

use crate::error::{Code, Error, Result};
use crate::events::{Bus, Event, now_unix_ms};
use crate::store::{Store, StoreError};

/// The id of the embedded sandbox account.
pub const SANDBOX: &str = "sandbox";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Sandbox,
    Google,
    Imap,
    Twilio,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sandbox => "sandbox",
            Kind::Google => "google",
            Kind::Imap => "imap",
            Kind::Twilio => "twilio",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "sandbox" => Some(Kind::Sandbox),
            "google" => Some(Kind::Google),
            "imap" => Some(Kind::Imap),
            "twilio" => Some(Kind::Twilio),
            _ => None,
        }
    }
}

/// Whether an account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    /// The refresh token stopped working (revoked, expired, password
    /// changed): a human must sign in again.
    ReauthRequired,
    /// A Workspace admin blocks this app or a scope for the domain.
    DomainBlocked,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::ReauthRequired => "reauth_required",
            State::DomainBlocked => "domain_blocked",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "reauth_required" => State::ReauthRequired,
            "domain_blocked" => State::DomainBlocked,
            _ => State::Active,
        }
    }
}

/// An account as every frontend lists it.
/// Serialised in the contract's names: `accountId`, `scopesTier`,
/// `scopesGranted`, `createdAt`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(rename = "accountId")]
    pub id: String,
    pub kind: Kind,
    /// The address mail is sent from.
    pub email: String,
    pub labels: Vec<String>,
    pub default: bool,
    /// Channels this account can send on.
    #[schema(value_type = Vec<String>)]
    pub channels: Vec<&'static str>,
    /// Google: the Gmail tier its scopes cover (0: none, 1 read, 2 compose
    /// and send, 3 modify). Absent for other kinds.
    #[serde(skip_serializing_if = "Option::is_none", rename = "scopesTier")]
    pub tier: Option<u8>,
    /// Google: opt-in modules granted (`contacts`, `chat`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<&'static str>,
    /// OAuth scopes granted (Google), exactly as Google granted them.
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "scopesGranted")]
    pub scopes: Vec<String>,
    pub state: State,
    /// Why the account is not active, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// Kind-specific settings (servers and ports for IMAP); never secrets.
    #[serde(
        skip_serializing_if = "Value::is_null",
        serialize_with = "camel_settings"
    )]
    #[schema(value_type = Object)]
    pub settings: Value,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// RFC 3339; when a call last used the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// Settings are stored as their kind writes them; the wire spells them camelCase.
fn camel_settings<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&crate::util::camel_keys(v), s)
}

impl Account {
    fn sandbox(from: &str, default: bool, channels: Vec<&'static str>) -> Account {
        Account {
            id: SANDBOX.to_owned(),
            kind: Kind::Sandbox,
            email: from.to_owned(),
            labels: vec!["sandbox".to_owned()],
            default,
            channels,
            tier: None,
            modules: Vec::new(),
            scopes: Vec::new(),
            state: State::Active,
            state_reason: None,
            settings: Value::Null,
            created_at: None,
            last_used_at: None,
        }
    }

    /// The error every call on an account that is not active returns.
    pub fn unusable(&self) -> Option<Error> {
        let reason = self.state_reason.clone().unwrap_or_default();
        match self.state {
            State::Active => None,
            State::ReauthRequired => Some(
                Error::new(
                    Code::ReauthRequired,
                    format!(
                        "account {} ({}) must be signed in again: {reason}. Run `commsctl accounts add google --login-hint {}`. OAuth apps in Google's \"Testing\" publishing status get refresh tokens that expire after 7 days; publish the app (In production) to keep them.",
                        self.id, self.email, self.email
                    ),
                )
                .with_details(json!({
                    "account": self.id,
                    "email": self.email,
                    "command": format!("commsctl accounts add google --login-hint {}", self.email),
                    "tool": "google_add_account",
                })),
            ),
            State::DomainBlocked => Some(
                Error::new(
                    Code::DomainBlocked,
                    format!(
                        "account {} ({}) is blocked by its Google Workspace admin: {reason}. Ask the admin to trust this OAuth client (Admin console > Security > API controls > App access control) or to allow the Gmail scopes it asks for.",
                        self.id, self.email
                    ),
                )
                .with_details(json!({ "account": self.id, "email": self.email })),
            ),
        }
    }
}

/// A stored account as read from the table.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    kind: Kind,
    email: String,
    labels: Vec<String>,
    default: bool,
    scopes: Vec<String>,
    state: State,
    state_reason: Option<String>,
    settings: Value,
    created_at_ms: i64,
    last_used_at_ms: Option<i64>,
}

impl Row {
    fn to_account(&self, sendable: &Sendable) -> Account {
        let (tier, modules) = match self.kind {
            Kind::Google => (
                Some(google::tier_of(&self.scopes)),
                google::modules_of(&self.scopes),
            ),
            _ => (None, Vec::new()),
        };
        Account {
            id: self.id.clone(),
            kind: self.kind,
            email: self.email.clone(),
            labels: self.labels.clone(),
            default: self.default,
            channels: sendable.channels(self.kind),
            tier,
            modules,
            scopes: self.scopes.clone(),
            state: self.state,
            state_reason: self.state_reason.clone(),
            settings: self.settings.clone(),
            created_at: Some(crate::outbox::item::rfc3339(self.created_at_ms)),
            last_used_at: self.last_used_at_ms.map(crate::outbox::item::rfc3339),
        }
    }
}

/// Which channels each kind of account can send on. The outbox's transport
/// registry fills it as providers register their transports, so an
/// account's channels follow from what is registered, never from a second
/// table; a kind with no transport for a channel is refused at staging
/// rather than queueing items that could never leave. The built-in sandbox
/// sends on every channel from the start.
#[derive(Debug, Clone)]
pub struct Sendable(Arc<RwLock<Vec<(Kind, &'static str)>>>);

impl Default for Sendable {
    fn default() -> Self {
        Sendable(Arc::new(RwLock::new(
            ["email", "sms", "chat"]
                .into_iter()
                .map(|c| (Kind::Sandbox, c))
                .collect(),
        )))
    }
}

impl Sendable {
    /// Accounts of `kind` can now send on `channel`.
    pub fn add(&self, kind: Kind, channel: &'static str) {
        if let Ok(mut routes) = self.0.write()
            && !routes.contains(&(kind, channel))
        {
            routes.push((kind, channel));
        }
    }

    /// The channels of `kind`, in the order email, sms, chat.
    pub fn channels(&self, kind: Kind) -> Vec<&'static str> {
        let routes = self.0.read().map(|r| r.clone()).unwrap_or_default();
        ["email", "sms", "chat"]
            .into_iter()
            .filter(|c| routes.contains(&(kind, *c)))
            .collect()
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let kind: String = r.get(1)?;
    let labels: String = r.get(3)?;
    let scopes: String = r.get(5)?;
    let state: String = r.get(6)?;
    let settings: String = r.get(8)?;
    Ok(Row {
        id: r.get(0)?,
        kind: Kind::parse(&kind).unwrap_or(Kind::Imap),
        email: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        default: r.get::<_, i64>(4)? != 0,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        state: State::parse(&state),
        state_reason: r.get(7)?,
        settings: serde_json::from_str(&settings).unwrap_or(Value::Null),
        created_at_ms: r.get(9)?,
        last_used_at_ms: r.get(10)?,
    })
}

const COLUMNS: &str = "id, kind, email, labels, is_default, scopes, state, state_reason, settings, created_at_ms, last_used_at_ms";

fn load_rows(conn: &Connection) -> std::result::Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM accounts ORDER BY created_at_ms, id"
    ))?;
    let rows = stmt
        .query_map([], read_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What a finished sign-in (or a new IMAP account) stores.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The id to use when the account is new: [`Accounts::id_for`] or a
    /// fresh UUID. An existing account of the same kind and address keeps its id.
    pub id: String,
    pub kind: Kind,
    pub email: String,
    pub labels: Vec<String>,
    pub scopes: Vec<String>,
    pub settings: Value,
}

/// Labels are short tags an agent can name an account by.
pub fn validate_labels(labels: &[String]) -> Result<()> {
    for (i, label) in labels.iter().enumerate() {
        let ok = !label.is_empty()
            && label.len() <= 32
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b));
        if !ok {
            return Err(Error::invalid(
                format!("labels[{i}]"),
                format!(
                    "{label:?} is not a label: expected 1 to 32 of a-z, 0-9, '-' and '_', e.g. work"
                ),
            ));
        }
    }
    Ok(())
}

/// The registry: every account, cached in memory, changed through the store.
pub struct Accounts {
    store: Option<Store>,
    bus: Option<Arc<Bus>>,
    sandbox_from: String,
    rows: Arc<RwLock<Vec<Row>>>,
    sendable: Sendable,
}

impl Accounts {
    /// The embedded default alone: one sandbox account that delivers into
    /// local files (used where no store exists, e.g. unit tests).
    pub fn with_sandbox(from: &str) -> Accounts {
        Accounts {
            store: None,
            bus: None,
            sandbox_from: from.to_owned(),
            rows: Arc::new(RwLock::new(Vec::new())),
            sendable: Sendable::default(),
        }
    }

    /// The sandbox plus every stored account.
    pub async fn load(store: Store, bus: Arc<Bus>, sandbox_from: &str) -> Result<Accounts> {
        let rows = store.call(|c| load_rows(c)).await?;
        Ok(Accounts {
            store: Some(store),
            bus: Some(bus),
            sandbox_from: sandbox_from.to_owned(),
            rows: Arc::new(RwLock::new(rows)),
            sendable: Sendable::default(),
        })
    }

    /// The table of sendable channels, for the transport registry to fill.
    pub fn sendable(&self) -> Sendable {
        self.sendable.clone()
    }

    fn rows(&self) -> Vec<Row> {
        self.rows.read().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every account: the sandbox first, then stored accounts oldest first.
    pub fn list(&self) -> Vec<Account> {
        let rows = self.rows();
        let stored_default = rows.iter().any(|r| r.default);
        let sandbox = Account::sandbox(
            &self.sandbox_from,
            !stored_default,
            self.sendable.channels(Kind::Sandbox),
        );
        std::iter::once(sandbox)
            .chain(rows.iter().map(|r| r.to_account(&self.sendable)))
            .collect()
    }

    /// The named account (by id, or by email when exactly one account has
    /// it), or the explicit default when none is named. An account is never
    /// guessed: an unknown name is an error that lists the known ones.
    pub fn resolve(&self, id: Option<&str>) -> Result<Account> {
        let accounts = self.list();
        match id.filter(|s| !s.is_empty()) {
            Some(name) => {
                if let Some(a) = accounts.iter().find(|a| a.id == name) {
                    return Ok(a.clone());
                }
                let by_email: Vec<_> = accounts
                    .iter()
                    .filter(|a| a.kind != Kind::Sandbox && a.email.eq_ignore_ascii_case(name))
                    .collect();
                match by_email.as_slice() {
                    [one] => Ok((*one).clone()),
                    [] => Err(not_found(name, &accounts)),
                    many => Err(Error::invalid(
                        "account",
                        format!(
                            "{name} is the address of several accounts ({}); name one by id",
                            many.iter()
                                .map(|a| format!("{} ({})", a.id, a.kind.as_str()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                }
            }
            None => accounts.into_iter().find(|a| a.default).ok_or_else(|| {
                Error::invalid(
                    "account",
                    "no default account is set; name the account to use",
                )
            }),
        }
    }

    /// One line per account that needs a human (status, dashboard).
    pub fn attention(&self) -> Vec<String> {
        self.list()
            .iter()
            .filter_map(|a| {
                let e = a.unusable()?;
                Some(format!(
                    "account {} needs attention ({}): {}",
                    a.email,
                    a.state.as_str(),
                    e.message
                ))
            })
            .collect()
    }

    /// A stored account of `kind`, usable now (state active).
    pub fn usable(&self, id: Option<&str>, kind: Kind) -> Result<Account> {
        let account = self.resolve(id)?;
        if account.kind != kind {
            return Err(Error::invalid(
                "account",
                format!(
                    "account {} is a {} account; this needs a {} account (see `commsctl accounts list`)",
                    account.id,
                    account.kind.as_str(),
                    kind.as_str()
                ),
            )
            .with_details(json!({ "field": "account", "account": account.id, "kind": account.kind.as_str() })));
        }
        if let Some(e) = account.unusable() {
            return Err(e);
        }
        Ok(account)
    }

    fn store(&self) -> Result<&Store> {
        self.store
            .as_ref()
            .ok_or_else(|| Error::new(Code::Internal, "this account registry has no database"))
    }

    /// Runs `f` in one durable write that also reads the accounts table
    /// back; the in-memory copy is replaced and the change announced on the
    /// store thread right after the commit, so a caller that hangs up
    /// mid-request cannot leave them behind the database.
    async fn write_rows<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> std::result::Result<(T, Vec<Row>), StoreError> + Send + 'static,
    {
        let store = self.store()?;
        let cached = self.rows.clone();
        let bus = self.bus.clone();
        let value = store
            .write_then(f, move |(value, rows)| {
                // The sandbox is always there besides the stored accounts.
                let accounts = rows.len() + 1;
                if let Ok(mut cached) = cached.write() {
                    *cached = rows;
                }
                if let Some(bus) = bus {
                    bus.publish(Event::AccountsChanged { accounts });
                }
                value
            })
            .await?;
        Ok(value)
    }

    /// Adds an account, or updates the one of the same kind and address
    /// (keeping its id, labels unless new ones are given, and default flag).
    /// Returns the account and whether it already existed.
    pub async fn upsert(&self, actor: &str, new: NewAccount) -> Result<(Account, bool)> {
        validate_labels(&new.labels)?;
        let actor = actor.to_owned();
        let (id, existed) = self
            .write_rows(move |conn| {
                let existing: Option<String> = conn
                    .query_row(
                        "SELECT id FROM accounts WHERE kind = ?1 AND email = ?2 COLLATE NOCASE",
                        params![new.kind.as_str(), new.email],
                        |r| r.get(0),
                    )
                    .optional()?;
                let scopes = new.scopes.join(" ");
                let settings = new.settings.to_string();
                let id = match &existing {
                    Some(id) => {
                        conn.execute(
                            "UPDATE accounts SET scopes = ?2, settings = ?3, state = 'active', state_reason = NULL WHERE id = ?1",
                            params![id, scopes, settings],
                        )?;
                        if !new.labels.is_empty() {
                            conn.execute(
                                "UPDATE accounts SET labels = ?2 WHERE id = ?1",
                                params![id, serde_json::to_string(&new.labels).unwrap_or_default()],
                            )?;
                        }
                        id.clone()
                    }
                    None => {
                        let id = new.id.clone();
                        conn.execute(
                            "INSERT INTO accounts (id, kind, email, labels, scopes, settings, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![
                                id,
                                new.kind.as_str(),
                                new.email,
                                serde_json::to_string(&new.labels).unwrap_or_default(),
                                scopes,
                                settings,
                                now_unix_ms()
                            ],
                        )?;
                        id
                    }
                };
                audit::append(
                    conn,
                    audit::Entry {
                        actor,
                        action: if existing.is_some() { "account_updated" } else { "account_added" }.to_owned(),
                        account: Some(id.clone()),
                        result: Some(format!("{} {} ({})", new.kind.as_str(), new.email, scopes)),
                        ..audit::Entry::default()
                    },
                )?;
                Ok(((id, existing.is_some()), load_rows(conn)?))
            })
            .await?;
        let account = self.resolve(Some(&id))?;
        Ok((account, existed))
    }

    /// The id of the stored account of `kind` with address `email`, if any.
    pub fn id_for(&self, kind: Kind, email: &str) -> Option<String> {
        self.rows()
            .into_iter()
            .find(|r| r.kind == kind && r.email.eq_ignore_ascii_case(email))
            .map(|r| r.id)
    }

    /// A fresh account id.
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Replaces an account's labels, recorded as `actor`. The service
    /// (`AccountService::set_labels`) decides who may.
    pub async fn set_labels(&self, actor: &str, id: &str, labels: Vec<String>) -> Result<Account> {
        validate_labels(&labels)?;
        let account = self.stored(id)?;
        let actor = actor.to_owned();
        let account_id = account.id.clone();
        self.write_rows(move |conn| {
            conn.execute(
                "UPDATE accounts SET labels = ?2 WHERE id = ?1",
                params![
                    account_id,
                    serde_json::to_string(&labels).unwrap_or_default()
                ],
            )?;
            audit::append(
                conn,
                audit::Entry {
                    actor,
                    action: "account_labels_set".to_owned(),
                    account: Some(account_id.clone()),
                    result: Some(labels.join(",")),
                    ..audit::Entry::default()
                },
            )?;
            Ok(((), load_rows(conn)?))
        })
        .await?;
        self.resolve(Some(&account.id))
    }

    /// Makes `id` the default account (`sandbox` makes the sandbox default
    /// again), recorded as `actor`. The service decides who may.
    pub async fn set_default(&self, actor: &str, id: &str) -> Result<Account> {
        let account = self.resolve(Some(id))?;
        let actor = actor.to_owned();
        let account_id = account.id.clone();
        self.write_rows(move |conn| {
            conn.execute(
                "UPDATE accounts SET is_default = 0 WHERE is_default = 1",
                [],
            )?;
            if account_id != SANDBOX {
                conn.execute(
                    "UPDATE accounts SET is_default = 1 WHERE id = ?1",
                    params![account_id],
                )?;
            }
            audit::append(
                conn,
                audit::Entry {
                    actor,
                    action: "account_default_set".to_owned(),
                    account: Some(account_id.clone()),
                    ..audit::Entry::default()
                },
            )?;
            Ok(((), load_rows(conn)?))
        })
        .await?;
        self.resolve(Some(&account.id))
    }

    /// Deletes a stored account's row (the caller has revoked its tokens
    /// and deleted its secrets and cached items first).
    pub async fn delete(&self, actor: &str, id: &str) -> Result<Account> {
        let account = self.stored(id)?;
        let actor = actor.to_owned();
        let account_id = account.id.clone();
        let email = account.email.clone();
        self.write_rows(move |conn| {
            conn.execute("DELETE FROM accounts WHERE id = ?1", params![account_id])?;
            audit::append(
                conn,
                audit::Entry {
                    actor,
                    action: "account_removed".to_owned(),
                    account: Some(account_id.clone()),
                    result: Some(email),
                    ..audit::Entry::default()
                },
            )?;
            Ok(((), load_rows(conn)?))
        })
        .await?;
        Ok(account)
    }

    /// Records that an account stopped working (or works again).
    pub async fn set_state(&self, id: &str, state: State, reason: Option<String>) -> Result<()> {
        let current = self.stored(id)?;
        if current.state == state && current.state_reason == reason {
            return Ok(());
        }
        let account_id = id.to_owned();
        self.write_rows(move |conn| {
            conn.execute(
                "UPDATE accounts SET state = ?2, state_reason = ?3 WHERE id = ?1",
                params![account_id, state.as_str(), reason],
            )?;
            audit::append(
                conn,
                audit::Entry {
                    actor: "commsd".to_owned(),
                    action: "account_state_changed".to_owned(),
                    account: Some(account_id.clone()),
                    result: Some(state.as_str().to_owned()),
                    ..audit::Entry::default()
                },
            )?;
            Ok(((), load_rows(conn)?))
        })
        .await?;
        tracing::warn!(
            account = id,
            state = state.as_str(),
            "account state changed"
        );
        Ok(())
    }

    /// Notes that a call used the account (at most once a minute per account).
    pub fn touch(&self, id: &str) {
        let now = now_unix_ms();
        let due = self
            .rows
            .write()
            .ok()
            .and_then(|mut rows| {
                let row = rows.iter_mut().find(|r| r.id == id)?;
                let due = row.last_used_at_ms.is_none_or(|t| now - t > 60_000);
                if due {
                    row.last_used_at_ms = Some(now);
                }
                Some(due)
            })
            .unwrap_or(false);
        if let (true, Some(store)) = (due, self.store.clone()) {
            let id = id.to_owned();
            tokio::spawn(async move {
                let _ = store
                    .write(move |conn| {
                        conn.execute(
                            "UPDATE accounts SET last_used_at_ms = ?2 WHERE id = ?1",
                            params![id, now],
                        )?;
                        Ok(())
                    })
                    .await;
            });
        }
    }

    /// A stored (not sandbox) account.
    fn stored(&self, id: &str) -> Result<Account> {
        let account = self.resolve(Some(id))?;
        if account.kind == Kind::Sandbox {
            return Err(Error::invalid(
                "account",
                "the sandbox account is built in and cannot be changed or removed",
            ));
        }
        Ok(account)
    }
}

fn not_found(name: &str, accounts: &[Account]) -> Error {
    let known: Vec<String> = accounts
        .iter()
        .map(|a| {
            if a.kind == Kind::Sandbox {
                a.id.clone()
            } else {
                format!("{} ({})", a.id, a.email)
            }
        })
        .collect();
    Error::new(
        Code::AccountNotFound,
        format!(
            "account {name:?} does not exist; known accounts: {}",
            known.join(", ")
        ),
    )
    .with_details(json!({ "account": name, "known": accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>() }))
}
