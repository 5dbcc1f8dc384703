//! The OS keyring through keyring-core: Secret Service on Linux, the
//! Keychain on macOS, Credential Manager on Windows. Each secret is one
//! entry with service `commsd` and user = the secret's name.
//!
//! Every call blocks (D-Bus, Security framework, Win32), so each runs on
//! `spawn_blocking` and under a deadline: a keyring that shows a prompt
//! nobody answers must not hang a request for ever.

use std::sync::Arc;
use std::time::Duration;

use keyring_core::CredentialStore;

use super::Secret;

/// The keyring service name of every commsd entry.
pub const SERVICE: &str = "commsd";
/// The entry read (never written) to see whether the keyring answers.
const PROBE_USER: &str = "commsd-vault-probe";
/// How long one keyring call may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// Where the entries are, for `vault status`.
pub fn location() -> String {
    let store = if cfg!(target_os = "linux") {
        "Secret Service"
    } else if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else {
        "no OS keyring on this platform"
    };
    format!("{store} (service \"{SERVICE}\")")
}

/// Why the keyring cannot be used, and what to do about it.
#[derive(Debug, Clone)]
pub struct Unusable {
    pub reason: String,
    pub hint: String,
}

/// A connected platform store.
#[derive(Clone)]
pub struct Keyring {
    store: Arc<StoreHandle>,
}

/// Owns the platform store. The Secret Service store closes its D-Bus
/// connection by blocking on a runtime of its own, which panics on an async
/// thread; so the last reference is dropped on a plain thread.
struct StoreHandle(Option<Arc<CredentialStore>>);

impl StoreHandle {
    fn get(&self) -> Result<Arc<CredentialStore>, Unusable> {
        self.0.clone().ok_or_else(|| Unusable {
            reason: "the keyring connection is closed".to_owned(),
            hint: hint(),
        })
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("keyring-close".to_owned())
                .spawn(move || drop(store));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "cannot close the keyring connection");
            }
        }
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring")
    }
}

#[cfg(target_os = "linux")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    Ok(store)
}

#[cfg(target_os = "windows")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "commsd knows no OS keyring on this platform".to_owned(),
    ))
}

fn hint() -> String {
    if cfg!(target_os = "linux") {
        "start a Secret Service (gnome-keyring, KeePassXC) in your session and unlock it, \
         or set `[vault] backend = \"file\"`"
            .to_owned()
    } else {
        "unlock the OS keyring, or set `[vault] backend = \"file\"`".to_owned()
    }
}

/// Describes a keyring error without ever including secret bytes
/// (`BadEncoding` and `BadDataFormat` carry the stored data).
fn describe(e: &keyring_core::Error) -> String {
    use keyring_core::Error as K;
    match e {
        K::BadEncoding(_) => "the stored value is not UTF-8 text".to_owned(),
        K::BadDataFormat(_, _) => "the stored value is malformed".to_owned(),
        K::Ambiguous(entries) => format!("{} entries match the name", entries.len()),
        other => other.to_string(),
    }
}

/// Runs `f` on the blocking pool within the deadline.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, Unusable> + Send + 'static,
) -> Result<T, Unusable> {
    match tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Unusable {
            reason: format!("the keyring call to {what} failed: {join}"),
            hint: hint(),
        }),
        Err(_) => Err(Unusable {
            reason: format!(
                "the OS keyring did not answer within {} s ({what}); is it waiting for a prompt?",
                DEADLINE.as_secs()
            ),
            hint: hint(),
        }),
    }
}

fn unusable(what: &str, e: &keyring_core::Error) -> Unusable {
    Unusable {
        reason: format!("the OS keyring refused to {what}: {}", describe(e)),
        hint: hint(),
    }
}

impl Keyring {
    /// Connects to the platform store and reads one entry that does not
    /// exist: a keyring that answers that is usable.
    pub async fn probe() -> Result<Keyring, Unusable> {
        blocking("connect", || {
            let store = platform_store().map_err(|e| Unusable {
                reason: format!("no OS keyring answers: {}", describe(&e)),
                hint: hint(),
            })?;
            let entry = store
                .build(SERVICE, PROBE_USER, None)
                .map_err(|e| unusable("create an entry", &e))?;
            match entry.get_password() {
                Ok(_) | Err(keyring_core::Error::NoEntry) => Ok(Keyring {
                    store: Arc::new(StoreHandle(Some(store))),
                }),
                Err(e) => Err(unusable("read", &e)),
            }
        })
        .await
    }

    pub async fn get(&self, name: &str) -> Result<Option<Secret>, Unusable> {
        let store = self.store.get()?;
        let name = name.to_owned();
        blocking("read", move || {
            let entry = store
                .build(SERVICE, &name, None)
                .map_err(|e| unusable("create an entry", &e))?;
            match entry.get_password() {
                Ok(value) => Ok(Some(Secret::from(value))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(unusable("read", &e)),
            }
        })
        .await
    }

    pub async fn put(&self, name: &str, secret: &Secret) -> Result<(), Unusable> {
        let store = self.store.get()?;
        let name = name.to_owned();
        let secret = secret.clone();
        blocking("store", move || {
            let entry = store
                .build(SERVICE, &name, None)
                .map_err(|e| unusable("create an entry", &e))?;
            entry
                .set_password(secret.expose())
                .map_err(|e| unusable("store", &e))
        })
        .await
    }

    /// Deletes the entry; an absent one is fine.
    pub async fn delete(&self, name: &str) -> Result<(), Unusable> {
        let store = self.store.get()?;
        let name = name.to_owned();
        blocking("delete", move || {
            let entry = store
                .build(SERVICE, &name, None)
                .map_err(|e| unusable("create an entry", &e))?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(unusable("delete", &e)),
            }
        })
        .await
    }
}
