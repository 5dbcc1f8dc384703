//! `commsctl vault migrate`: every secret moved to the other backend.

use serde_json::json;

use super::file::Entries;
use super::{Backend, FileState, MigrateReport, State, Vault, unavailable};
use crate::error::{Code, Error};

impl Vault {
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
}
