//! The backend behind a `Vault`: resolved at first use (the recorded
//! backend, else `[vault] backend`, probing the keyring for `auto`), the
//! encrypted file unlocked, written atomically and read back, the index of
//! names saved; and the status built from that state.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::file::{Entries, FileError, Key};
use super::keyring::{Keyring, Unusable};
use super::secret::Secret;
use super::{
    Backend, BackendChoice, FileState, FileStatus, Index, MIN_NEW_PASSPHRASE, PASSPHRASE_ENV,
    Shared, State, Vault, VaultStatus, blocking, file, file_error, keyring, unavailable,
    unlock_hint,
};
use crate::error::{Code, Error};

impl Vault {
    /// Locks the state, resolves the backend, and refuses when the vault is broken.
    pub(super) async fn ready(&self) -> Result<tokio::sync::MutexGuard<'_, Shared>, Error> {
        let mut s = self.inner.state.lock().await;
        self.resolve(&mut s).await;
        if let Some(u) = &s.broken {
            return Err(unavailable(u, s.active, State::Unavailable));
        }
        Ok(s)
    }

    /// The connected keyring, probing again when it did not answer before
    /// (the user may have unlocked it since).
    pub(super) async fn keyring(&self, s: &mut Shared) -> Result<Keyring, Error> {
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

    /// A keyring call failed: the connection is dropped, so the status says
    /// why and the next use probes again (a Secret Service that stopped
    /// and came back, a session bus restarted, answers a new connection).
    pub(super) fn keyring_failed(&self, s: &mut Shared, u: Unusable) -> Error {
        tracing::warn!(reason = %u.reason, "the OS keyring failed; probing it again at next use");
        let e = unavailable(&u, Backend::Keyring, State::Unavailable);
        s.keyring = None;
        s.keyring_unusable = Some(u);
        e
    }

    /// First use: read the index, choose the backend, take the passphrase
    /// from the environment.
    pub(super) async fn resolve(&self, s: &mut Shared) {
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

    pub(super) async fn unlock_file(
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
    pub(super) async fn write_file(&self, s: &mut Shared, entries: Entries) -> Result<(), Error> {
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
    pub(super) async fn verify_file(&self, s: &Shared, expected: &Entries) -> Result<(), Error> {
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

    pub(super) async fn save_index(&self, s: &mut Shared, index: Index) -> Result<(), Error> {
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
    pub(super) fn file_lock_reason(&self, s: &Shared) -> String {
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

    pub(super) fn locked_error(&self, s: &Shared) -> Error {
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

    pub(super) fn status_of(&self, s: &Shared) -> VaultStatus {
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

pub(super) fn read_index(path: &Path) -> Result<Index, Error> {
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
