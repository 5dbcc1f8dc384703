//! The secret vault: where commsd keeps refresh tokens, app passwords,
//! the Twilio auth token and webhook URLs (design.md §6).
//!
//! Two backends: the OS keyring ([`keyring`]) and, where none is usable, an
//! encrypted file ([`file`]) unlocked with a passphrase. `[vault] backend`
//! picks one for a new vault (`auto`: the keyring when it answers a probe).
//! Once the vault holds a secret, the backend is recorded in
//! `<data>/vault.json` and stays until `commsctl vault migrate` moves the
//! secrets: a keyring that is merely locked one morning must not make the
//! daemon look for secrets in an empty file.
//!
//! `vault.json` (0600) is also the index of names, never values: keyrings
//! cannot list their entries portably, and status and migrate must know
//! what exists. A file rather than a table: it lives beside the encrypted
//! file, is read before the database matters, and a migrate touches only
//! vault files.
//!
//! Nothing here logs a secret: [`Secret`] prints `***`, keyring errors are
//! described without their data, and passphrases arrive as [`Secret`].

mod file;
mod keyring;
mod secret;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use self::file::{Entries, Key};
pub use self::file::{FileError, KdfParams};
use self::keyring::{Keyring, Unusable};
pub use self::secret::Secret;
use crate::error::{Code, Error};

/// The environment variable that unlocks the file backend at start.
pub const PASSPHRASE_ENV: &str = "COMMSD_VAULT_PASSPHRASE";
/// The shortest passphrase a new vault file accepts.
pub const MIN_NEW_PASSPHRASE: usize = 8;

/// Where secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Keyring,
    File,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Keyring => "keyring",
            Backend::File => "file",
        }
    }

    /// Parses a request's `field`.
    pub fn parse(field: &str, value: &str) -> Result<Backend, Error> {
        match value {
            "keyring" => Ok(Backend::Keyring),
            "file" => Ok(Backend::File),
            other => Err(Error::invalid(
                field,
                format!("unknown vault backend {other:?}; expected \"keyring\" or \"file\""),
            )),
        }
    }
}

/// `[vault] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// The OS keyring when it answers a probe, else the encrypted file.
    #[default]
    Auto,
    Keyring,
    File,
}

/// Whether the vault can be used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Ready,
    /// The file backend waits for its passphrase.
    Locked,
    /// The backend cannot be used; `reason` and `hint` say why and what to do.
    Unavailable,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ready => "ready",
            State::Locked => "locked",
            State::Unavailable => "unavailable",
        }
    }
}

/// `commsctl vault status`.
#[derive(Debug, Clone, Serialize)]
pub struct VaultStatus {
    /// The backend in use.
    pub backend: Backend,
    /// What `[vault] backend` asks for.
    pub configured: BackendChoice,
    pub state: State,
    pub reason: Option<String>,
    pub hint: Option<String>,
    /// Where the secrets are: the keyring's name or the file's path.
    pub location: String,
    /// How many secrets the vault holds.
    pub entries: usize,
    /// The encrypted file, whichever backend is in use (migrate needs it).
    pub file: FileStatus,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub path: String,
    pub exists: bool,
    pub unlocked: bool,
}

/// What `migrate` did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub from: Backend,
    pub to: Backend,
    /// Names copied to `to` and then deleted from `from`.
    pub moved: Vec<String>,
    /// Names in the index that `from` did not hold (nothing to move).
    pub missing: Vec<String>,
}

/// The vault. Cheap to clone; every clone is the same vault.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("configured", &self.inner.configured)
            .field("file", &self.inner.file_path)
            .finish_non_exhaustive()
    }
}

struct Inner {
    configured: BackendChoice,
    file_path: PathBuf,
    index_path: PathBuf,
    kdf: KdfParams,
    state: tokio::sync::Mutex<Shared>,
}

/// Everything mutable, behind one lock: vault operations are rare, and one
/// at a time keeps the file, the keyring and the index consistent.
struct Shared {
    /// Taken (once) from the environment at open, used at first use.
    env_passphrase: Option<Secret>,
    resolved: bool,
    active: Backend,
    /// The index could not be read: nothing can be trusted.
    broken: Option<Unusable>,
    keyring: Option<Keyring>,
    keyring_unusable: Option<Unusable>,
    file: FileState,
    index: Index,
    notes: Vec<String>,
}

enum FileState {
    Locked { reason: Option<String> },
    Open { key: Arc<Key>, entries: Entries },
}

/// `<data>/vault.json`: the recorded backend and the names, never values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Index {
    backend: Option<Backend>,
    names: BTreeSet<String>,
}

/// Checks a secret's name: `kind/id/what`, e.g. `google/<accountId>/refresh_token`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .split('/')
            .all(|part| !part.is_empty() && part.chars().all(ok_char));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            format!(
                "{name:?} is not a vault name; expected segments of letters, digits and \
                 ._@+- separated by '/', such as \"google/<accountId>/refresh_token\" \
                 (at most 200 characters)"
            ),
        ))
    }
}

fn unavailable(u: &Unusable, backend: Backend, state: State) -> Error {
    Error::new(
        Code::VaultUnavailable,
        format!("the secret vault cannot be used: {}", u.reason),
    )
    .with_details(json!({
        "hint": u.hint,
        "backend": backend.as_str(),
        "state": state.as_str(),
    }))
}

fn unlock_hint() -> String {
    format!("run `commsctl vault unlock`, or start commsd with {PASSPHRASE_ENV} set")
}

fn file_error(e: FileError) -> Error {
    match e {
        FileError::WrongPassphrase => Error::invalid("passphrase", e.to_string()),
        FileError::Damaged(_) => Error::new(Code::VaultUnavailable, e.to_string()).with_details(
            json!({ "hint": "restore the vault file from a backup; it was left as it is" }),
        ),
        FileError::Io(_) | FileError::Crypto(_) => Error::internal("vault file error", e),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("vault task failed", e))?
}

impl Vault {
    /// Never fails the daemon's start: a vault that cannot be used says so on use
    /// (`vault_unavailable` with a hint) and in status. Nothing blocks here: the
    /// keyring probe and the key derivation happen at first use.
    pub fn open(config: &VaultConfig, data_dir: &Path) -> Vault {
        let env_passphrase = std::env::var(PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::from);
        Vault::open_with(config, data_dir, env_passphrase, KdfParams::DEFAULT)
    }

    /// [`Vault::open`] with the passphrase and KDF cost given (tests).
    pub fn open_with(
        config: &VaultConfig,
        data_dir: &Path,
        env_passphrase: Option<Secret>,
        kdf: KdfParams,
    ) -> Vault {
        let file_path = config
            .file
            .clone()
            .unwrap_or_else(|| data_dir.join("vault.enc"));
        Vault {
            inner: Arc::new(Inner {
                configured: config.backend,
                file_path,
                index_path: data_dir.join("vault.json"),
                kdf,
                state: tokio::sync::Mutex::new(Shared {
                    env_passphrase,
                    resolved: false,
                    active: Backend::File,
                    broken: None,
                    keyring: None,
                    keyring_unusable: None,
                    file: FileState::Locked { reason: None },
                    index: Index::default(),
                    notes: Vec::new(),
                }),
            }),
        }
    }

    /// Reads a secret; `None` when the vault has none by that name.
    pub async fn get(&self, name: &str) -> Result<Option<Secret>, Error> {
        check_name(name)?;
        let mut s = self.ready().await?;
        match s.active {
            Backend::Keyring => {
                let keyring = self.keyring(&mut s).await?;
                keyring
                    .get(name)
                    .await
                    .map_err(|u| unavailable(&u, Backend::Keyring, State::Unavailable))
            }
            Backend::File => match &s.file {
                FileState::Open { entries, .. } => Ok(entries.get(name).cloned()),
                FileState::Locked { .. } => Err(self.locked_error(&s)),
            },
        }
    }

    /// Stores (or replaces) a secret.
    pub async fn put(&self, name: &str, secret: &Secret) -> Result<(), Error> {
        check_name(name)?;
        if secret.is_empty() {
            return Err(Error::invalid("secret", "expected a non-empty secret"));
        }
        let mut s = self.ready().await?;
        match s.active {
            Backend::Keyring => {
                let keyring = self.keyring(&mut s).await?;
                // Index first: a name without an entry is harmless, an
                // entry nobody knows of would be missed by migrate.
                let mut index = s.index.clone();
                index.backend = Some(Backend::Keyring);
                index.names.insert(name.to_owned());
                self.save_index(&mut s, index).await?;
                keyring
                    .put(name, secret)
                    .await
                    .map_err(|u| unavailable(&u, Backend::Keyring, State::Unavailable))
            }
            Backend::File => {
                let mut entries = match &s.file {
                    FileState::Open { entries, .. } => entries.clone(),
                    FileState::Locked { .. } => return Err(self.locked_error(&s)),
                };
                entries.insert(name.to_owned(), secret.clone());
                self.write_file(&mut s, entries).await
            }
        }
    }

    /// Deletes a secret; deleting one that does not exist is fine.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        check_name(name)?;
        let mut s = self.ready().await?;
        match s.active {
            Backend::Keyring => {
                let keyring = self.keyring(&mut s).await?;
                keyring
                    .delete(name)
                    .await
                    .map_err(|u| unavailable(&u, Backend::Keyring, State::Unavailable))?;
                if s.index.names.contains(name) {
                    let mut index = s.index.clone();
                    index.names.remove(name);
                    self.save_index(&mut s, index).await?;
                }
                Ok(())
            }
            Backend::File => {
                let mut entries = match &s.file {
                    FileState::Open { entries, .. } => entries.clone(),
                    FileState::Locked { .. } => return Err(self.locked_error(&s)),
                };
                if entries.remove(name).is_none() {
                    return Ok(());
                }
                self.write_file(&mut s, entries).await
            }
        }
    }

    /// The backend, whether it can be used, where, and how many secrets it holds.
    pub async fn status(&self) -> VaultStatus {
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        if s.active == Backend::Keyring && s.keyring.is_none() && s.broken.is_none() {
            let _ = self.keyring(&mut s).await;
        }
        self.status_of(&s)
    }

    /// Unlocks the encrypted file with `passphrase`, creating it when it does
    /// not exist yet. Works whichever backend is in use (a migrate to the
    /// file needs it open). A wrong passphrase changes nothing.
    pub async fn unlock(&self, passphrase: Secret) -> Result<(), Error> {
        if passphrase.is_empty() {
            return Err(Error::invalid(
                "passphrase",
                "expected a non-empty passphrase",
            ));
        }
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        self.unlock_file(&mut s, passphrase, true).await
    }

    /// Moves every secret to `to`: copies each one, checks the copy, records
    /// `to` as the backend, then deletes the originals. A failure part-way
    /// leaves the vault on its old backend with every secret in place.
    pub async fn migrate(&self, to: Backend) -> Result<MigrateReport, Error> {
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        if let Some(u) = &s.broken {
            return Err(unavailable(u, s.active, State::Unavailable));
        }
        let from = s.active;
        if from == to {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!("the vault already uses the {} backend", to.as_str()),
            )
            .with_details(json!({ "backend": to.as_str() })));
        }
        let file_entries = match &s.file {
            FileState::Open { entries, .. } => entries.clone(),
            FileState::Locked { .. } => {
                let mut e = self.locked_error(&s);
                e.message = format!(
                    "migrating {} the file backend needs the file unlocked: {}",
                    if to == Backend::File { "to" } else { "from" },
                    e.message
                );
                return Err(e);
            }
        };
        let keyring = self.keyring(&mut s).await?;

        let mut moved = Vec::new();
        let mut missing = Vec::new();
        match to {
            Backend::File => {
                // Keyring → file: read every indexed name, write the file once.
                let mut entries = file_entries;
                for name in s.index.names.clone() {
                    match keyring
                        .get(&name)
                        .await
                        .map_err(|u| unavailable(&u, from, State::Unavailable))?
                    {
                        Some(secret) => {
                            entries.insert(name.clone(), secret);
                            moved.push(name);
                        }
                        None => missing.push(name),
                    }
                }
                let check = entries.clone();
                self.write_file(&mut s, entries).await?;
                self.verify_file(&s, &check).await?;
                let mut index = s.index.clone();
                index.backend = Some(Backend::File);
                index.names = check.keys().cloned().collect();
                self.save_index(&mut s, index).await?;
                s.active = Backend::File;
                for name in &moved {
                    if let Err(u) = keyring.delete(name).await {
                        tracing::warn!(name = %name, reason = %u.reason, "could not delete a migrated keyring entry");
                    }
                }
            }
            Backend::Keyring => {
                // File → keyring: index first (names), then each entry, checked.
                let mut index = s.index.clone();
                index.names.extend(file_entries.keys().cloned());
                self.save_index(&mut s, index).await?;
                for (name, secret) in &file_entries {
                    keyring
                        .put(name, secret)
                        .await
                        .map_err(|u| unavailable(&u, to, State::Unavailable))?;
                    let back = keyring
                        .get(name)
                        .await
                        .map_err(|u| unavailable(&u, to, State::Unavailable))?;
                    if back.as_ref() != Some(secret) {
                        return Err(Error::new(
                            Code::VaultUnavailable,
                            format!(
                                "the OS keyring did not return {name} as stored; nothing was \
                                 deleted and the vault stays on the file"
                            ),
                        ));
                    }
                    moved.push(name.clone());
                }
                for name in &s.index.names {
                    if !file_entries.contains_key(name) {
                        missing.push(name.clone());
                    }
                }
                let mut index = s.index.clone();
                index.backend = Some(Backend::Keyring);
                index.names = file_entries.keys().cloned().collect();
                self.save_index(&mut s, index).await?;
                s.active = Backend::Keyring;
                self.write_file(&mut s, Entries::new()).await?;
            }
        }
        s.notes.clear();
        tracing::info!(
            from = from.as_str(),
            to = to.as_str(),
            moved = moved.len(),
            "vault migrated"
        );
        Ok(MigrateReport {
            from,
            to,
            moved,
            missing,
        })
    }

    /// A short line for `commsctl status` warnings when the vault holds
    /// secrets it cannot serve; `None` when all is well or not yet known.
    pub fn warning(&self) -> Option<String> {
        let s = self.inner.state.try_lock().ok()?;
        if !s.resolved || s.index.names.is_empty() {
            return None;
        }
        let status = self.status_of(&s);
        (status.state != State::Ready).then(|| {
            format!(
                "the secret vault is {} ({} secrets): {}",
                status.state.as_str(),
                status.entries,
                status.hint.unwrap_or_default()
            )
        })
    }

    // --- internals ---------------------------------------------------------

    /// Locks the state, resolves the backend, and refuses when the vault is broken.
    async fn ready(&self) -> Result<tokio::sync::MutexGuard<'_, Shared>, Error> {
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        if let Some(u) = &s.broken {
            return Err(unavailable(u, s.active, State::Unavailable));
        }
        Ok(s)
    }

    /// The connected keyring, probing again when it did not answer before
    /// (the user may have unlocked it since).
    async fn keyring(&self, s: &mut Shared) -> Result<Keyring, Error> {
        if let Some(k) = &s.keyring {
            return Ok(k.clone());
        }
        match Keyring::probe().await {
            Ok(k) => {
                s.keyring = Some(k.clone());
                s.keyring_unusable = None;
                Ok(k)
            }
            Err(u) => {
                let e = unavailable(&u, Backend::Keyring, State::Unavailable);
                s.keyring_unusable = Some(u);
                Err(e)
            }
        }
    }

    /// First use: read the index, choose the backend, take the passphrase
    /// from the environment.
    async fn resolve(&self, s: &mut Shared) {
        if s.resolved {
            return;
        }
        s.resolved = true;
        let index_path = self.inner.index_path.clone();
        let loaded = blocking(move || read_index(&index_path)).await;
        match loaded {
            Ok(index) => s.index = index,
            Err(e) => {
                s.broken = Some(Unusable {
                    reason: e.message,
                    hint: format!(
                        "restore {} from a backup, or remove it if the vault holds nothing",
                        self.inner.index_path.display()
                    ),
                });
                return;
            }
        }
        let configured = self.inner.configured;
        s.active = match (s.index.backend, configured) {
            (Some(recorded), choice) => {
                let asked = match choice {
                    BackendChoice::Auto => None,
                    BackendChoice::Keyring => Some(Backend::Keyring),
                    BackendChoice::File => Some(Backend::File),
                };
                if let Some(asked) = asked.filter(|a| *a != recorded) {
                    s.notes.push(format!(
                        "the config asks for backend \"{}\", but the secrets are in the {}: \
                         run `commsctl vault migrate --to {}` to move them",
                        asked.as_str(),
                        recorded.as_str(),
                        asked.as_str()
                    ));
                }
                recorded
            }
            (None, BackendChoice::Keyring) => Backend::Keyring,
            (None, BackendChoice::File) => Backend::File,
            (None, BackendChoice::Auto) => match self.keyring(s).await {
                Ok(_) => Backend::Keyring,
                Err(_) => {
                    let why = s
                        .keyring_unusable
                        .as_ref()
                        .map(|u| u.reason.clone())
                        .unwrap_or_default();
                    s.notes
                        .push(format!("backend \"auto\": {why}; using the encrypted file"));
                    Backend::File
                }
            },
        };
        // The environment's passphrase opens an existing file; it creates
        // one only when the file is the backend in use.
        if let Some(passphrase) = s.env_passphrase.take()
            && (s.active == Backend::File || self.inner.file_path.exists())
            && let Err(e) = self.unlock_file(s, passphrase, false).await
        {
            tracing::warn!(
                error = %e.message,
                "{PASSPHRASE_ENV} did not unlock the vault file; it stays locked"
            );
            s.file = FileState::Locked {
                reason: Some(format!("{PASSPHRASE_ENV} did not unlock it: {}", e.message)),
            };
        }
        tracing::info!(
            backend = s.active.as_str(),
            secrets = s.index.names.len(),
            "vault opened"
        );
    }

    async fn unlock_file(
        &self,
        s: &mut Shared,
        passphrase: Secret,
        from_human: bool,
    ) -> Result<(), Error> {
        if let FileState::Open { key, .. } = &s.file {
            let key = key.clone();
            let matches = blocking(move || key.matches(&passphrase).map_err(file_error)).await?;
            return if matches {
                Ok(())
            } else {
                Err(file_error(FileError::WrongPassphrase))
            };
        }
        let path = self.inner.file_path.clone();
        let kdf = self.inner.kdf;
        let opened = blocking(move || match std::fs::read(&path) {
            Ok(bytes) => file::unseal(&bytes, &passphrase)
                .map(|(key, entries)| (key, entries, false))
                .map_err(file_error),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if passphrase.expose().chars().count() < MIN_NEW_PASSPHRASE {
                    return Err(Error::invalid(
                        "passphrase",
                        format!(
                            "a new vault file needs a passphrase of at least \
                                 {MIN_NEW_PASSPHRASE} characters"
                        ),
                    ));
                }
                let key = Key::create(&passphrase, kdf).map_err(file_error)?;
                let bytes = file::seal(&key, &Entries::new()).map_err(file_error)?;
                if let Some(dir) = path.parent() {
                    crate::fsprivate::ensure_private_dir(
                        dir,
                        "vault directory",
                        crate::fsprivate::TooOpen::Refuse,
                    )
                    .map_err(|e| Error::new(Code::VaultUnavailable, e))?;
                }
                file::write_atomically(&path, |f| f.write_all(&bytes))
                    .map_err(|e| Error::internal("cannot write the vault file", e))?;
                Ok((key, Entries::new(), true))
            }
            Err(e) => Err(Error::new(
                Code::VaultUnavailable,
                format!("cannot read the vault file {}: {e}", path.display()),
            )
            .with_details(json!({ "hint": "check the file's permissions" }))),
        })
        .await?;
        let (key, entries, created) = opened;
        tracing::info!(
            created,
            by = if from_human {
                "commsctl"
            } else {
                PASSPHRASE_ENV
            },
            "vault file unlocked"
        );
        let names: BTreeSet<String> = entries.keys().cloned().collect();
        s.file = FileState::Open {
            key: Arc::new(key),
            entries,
        };
        // The file is the truth about its own names.
        if s.active == Backend::File && s.index.names != names && !names.is_empty() {
            let mut index = s.index.clone();
            index.names = names;
            index.backend = Some(Backend::File);
            if let Err(e) = self.save_index(s, index).await {
                tracing::warn!(error = %e.message, "could not update the vault index");
            }
        }
        Ok(())
    }

    /// Writes `entries` as the whole file, then records them in memory and in the index.
    async fn write_file(&self, s: &mut Shared, entries: Entries) -> Result<(), Error> {
        let key = match &s.file {
            FileState::Open { key, .. } => key.clone(),
            FileState::Locked { .. } => return Err(self.locked_error(s)),
        };
        let path = self.inner.file_path.clone();
        let to_write = entries.clone();
        let key_for_write = key.clone();
        blocking(move || {
            let bytes = file::seal(&key_for_write, &to_write).map_err(file_error)?;
            file::write_atomically(&path, |f| f.write_all(&bytes))
                .map_err(|e| Error::internal("cannot write the vault file", e))
        })
        .await?;
        let names: BTreeSet<String> = entries.keys().cloned().collect();
        s.file = FileState::Open { key, entries };
        if s.active == Backend::File
            && (s.index.names != names || s.index.backend != Some(Backend::File))
        {
            let mut index = s.index.clone();
            index.names = names;
            index.backend = Some(Backend::File);
            // The file holds the secrets and its own names; a stale index
            // only makes status count wrong until the next unlock.
            if let Err(e) = self.save_index(s, index).await {
                tracing::warn!(error = %e.message, "could not update the vault index");
            }
        }
        Ok(())
    }

    /// Reads the file back and compares it with what was written.
    async fn verify_file(&self, s: &Shared, expected: &Entries) -> Result<(), Error> {
        let key = match &s.file {
            FileState::Open { key, .. } => key.clone(),
            FileState::Locked { .. } => return Err(self.locked_error(s)),
        };
        let path = self.inner.file_path.clone();
        let read = blocking(move || {
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::internal("cannot read the vault file back", e))?;
            file::unseal_with(&bytes, &key).map_err(file_error)
        })
        .await?;
        if &read != expected {
            return Err(Error::new(
                Code::VaultUnavailable,
                "the vault file did not read back as written; nothing was deleted",
            ));
        }
        Ok(())
    }

    async fn save_index(&self, s: &mut Shared, index: Index) -> Result<(), Error> {
        if s.index == index {
            return Ok(());
        }
        let path = self.inner.index_path.clone();
        let bytes = serde_json::to_vec_pretty(&index)
            .map_err(|e| Error::internal("cannot encode the vault index", e))?;
        blocking(move || {
            file::write_atomically(&path, |f| f.write_all(&bytes))
                .map_err(|e| Error::internal("cannot write the vault index", e))
        })
        .await?;
        s.index = index;
        Ok(())
    }

    /// Why the file is locked (the file backend's reason, whichever backend is in use).
    fn file_lock_reason(&self, s: &Shared) -> String {
        match &s.file {
            FileState::Open { .. } => "it is unlocked".to_owned(),
            FileState::Locked {
                reason: Some(reason),
            } => reason.clone(),
            FileState::Locked { reason: None } if self.inner.file_path.exists() => {
                "no passphrase has been given yet".to_owned()
            }
            FileState::Locked { reason: None } => {
                "the vault file does not exist yet: the first passphrase given creates it"
                    .to_owned()
            }
        }
    }

    fn locked_error(&self, s: &Shared) -> Error {
        Error::new(
            Code::VaultUnavailable,
            format!("the vault file is locked: {}", self.file_lock_reason(s)),
        )
        .with_details(json!({
            "hint": unlock_hint(),
            "backend": "file",
            "state": "locked",
        }))
    }

    fn status_of(&self, s: &Shared) -> VaultStatus {
        let exists = self.inner.file_path.exists();
        let file = FileStatus {
            path: self.inner.file_path.display().to_string(),
            exists,
            unlocked: matches!(s.file, FileState::Open { .. }),
        };
        let (state, reason, hint) = if let Some(u) = &s.broken {
            (
                State::Unavailable,
                Some(u.reason.clone()),
                Some(u.hint.clone()),
            )
        } else {
            match s.active {
                Backend::Keyring => match (&s.keyring, &s.keyring_unusable) {
                    (Some(_), _) => (State::Ready, None, None),
                    (None, Some(u)) => (
                        State::Unavailable,
                        Some(u.reason.clone()),
                        Some(u.hint.clone()),
                    ),
                    (None, None) => (
                        State::Unavailable,
                        Some("the OS keyring has not been reached yet".to_owned()),
                        None,
                    ),
                },
                Backend::File => match &s.file {
                    FileState::Open { .. } => (State::Ready, None, None),
                    FileState::Locked { .. } => (
                        State::Locked,
                        Some(self.file_lock_reason(s)),
                        Some(unlock_hint()),
                    ),
                },
            }
        };
        let entries = match (&s.active, &s.file) {
            (Backend::File, FileState::Open { entries, .. }) => entries.len(),
            _ => s.index.names.len(),
        };
        VaultStatus {
            backend: s.active,
            configured: self.inner.configured,
            state,
            reason,
            hint,
            location: match s.active {
                Backend::Keyring => keyring::location(),
                Backend::File => file.path.clone(),
            },
            entries,
            file,
            warnings: s.notes.clone(),
        }
    }
}

fn read_index(path: &Path) -> Result<Index, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Code::VaultUnavailable,
                format!("the vault index {} is damaged: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(Error::new(
            Code::VaultUnavailable,
            format!("cannot read the vault index {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests;

/// `[vault]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// `auto` (the OS keyring when it answers, else the encrypted file),
    /// `keyring` or `file`. Chooses the backend of a new vault; once secrets
    /// are stored, `commsctl vault migrate` moves them.
    pub backend: BackendChoice,
    /// The encrypted file [default: `<data dir>/vault.enc`]; an absolute path.
    pub file: Option<PathBuf>,
}

impl VaultConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(file) = &self.file
            && !file.is_absolute()
        {
            return Err(format!(
                "key `vault.file`: {} is not an absolute path",
                file.display()
            ));
        }
        Ok(())
    }
}
