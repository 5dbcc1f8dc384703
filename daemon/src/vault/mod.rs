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
//!
//! Here: the types, `Vault` and its everyday calls (get, put, delete,
//! status, unlock). `backend.rs`: resolving and opening the backend at first
//! use, the file's unlock, write and check, the index. `migrate.rs`: moving
//! every secret to the other backend.

mod backend;
mod file;
mod keyring;
mod migrate;
mod secret;

use std::collections::BTreeSet;
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
                let got = keyring.get(name).await;
                got.map_err(|u| self.keyring_failed(&mut s, u))
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
                let put = keyring.put(name, secret).await;
                put.map_err(|u| self.keyring_failed(&mut s, u))
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
                let deleted = keyring.delete(name).await;
                deleted.map_err(|u| self.keyring_failed(&mut s, u))?;
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

    /// Locks the encrypted file: its key leaves memory, and every secret is
    /// refused until someone unlocks it again (approved messages wait,
    /// naming `commsctl vault unlock`). The OS keyring is locked with the
    /// keyring's own tools, so a keyring vault is refused here.
    pub async fn lock(&self) -> Result<(), Error> {
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        if s.active != Backend::File {
            return Err(Error::new(
                crate::error::Code::FailedPrecondition,
                "the vault is the OS keyring: lock it with the keyring itself (e.g. your desktop's \
                 lock screen); `commsctl vault lock` locks the encrypted file",
            ));
        }
        if matches!(s.file, FileState::Open { .. }) {
            s.file = FileState::Locked {
                reason: Some("it was locked with `commsctl vault lock`".to_owned()),
            };
            tracing::info!("the vault file was locked");
        }
        Ok(())
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
