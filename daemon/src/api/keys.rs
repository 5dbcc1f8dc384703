//! API keys: `cmsd_<id>_<secret>`, one per AI client, with grants and an expiry.
//!
//! Only the SHA-256 of the secret is stored. The secret is 200 random bits,
//! so a fast hash is enough: nothing short of the key itself matches it, and
//! a pepper would add nothing. Keys are cached in memory, so authenticating a
//! request touches no database; `last_used` is written back at most once a
//! minute per key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use crate::audit;
use crate::auth::{Caller, Grant, Grants};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;
use crate::store::{Store, StoreError};

pub const PREFIX: &str = "cmsd_";
/// Default lifetime of a new key.
pub const DEFAULT_TTL: Duration = Duration::from_secs(90 * 86_400);
/// `status` and the dashboard warn this long before a key expires.
pub const WARN_BEFORE: Duration = Duration::from_secs(14 * 86_400);
const MAX_TTL: Duration = Duration::from_secs(3650 * 86_400);
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub grants: Grants,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    secret_hash: String,
}

impl KeyRecord {
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at_ms.is_some() {
            "revoked"
        } else if self.expires_at_ms <= now {
            "expired"
        } else {
            "active"
        }
    }
}

/// Why a bearer token was not accepted. Each has its own message; none says
/// whether another part was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl AuthFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Unknown => "unknown",
            AuthFailure::Revoked => "revoked",
            AuthFailure::Expired => "expired",
        }
    }

    pub fn error(self) -> Error {
        let message = match self {
            AuthFailure::Missing => {
                "missing `Authorization: Bearer <key>`; create a key with `commsctl keys create NAME --grants ...`"
            }
            AuthFailure::Malformed => "the Authorization header is not `Bearer cmsd_...`",
            AuthFailure::Unknown => "unknown API key",
            AuthFailure::Revoked => {
                "this API key was revoked; ask for a new one (`commsctl keys create` or `keys rotate`)"
            }
            AuthFailure::Expired => {
                "this API key has expired; rotate it with `commsctl keys rotate NAME`"
            }
        };
        Error::new(Code::Unauthenticated, message)
            .with_details(serde_json::json!({ "reason": self.as_str() }))
    }
}

pub struct Keys {
    store: Store,
    /// By key id.
    /// Updated on the store thread right after each commit
    /// (`Store::write_then`): a revocation whose caller hung up still takes
    /// effect at once.
    cache: Arc<RwLock<HashMap<String, KeyRecord>>>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_base32(len: usize) -> Result<String> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal("no randomness for a key", e))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect())
}

/// Splits `cmsd_<id>_<secret>`.
fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok(id, 8) && ok(secret, 40)).then_some((id, secret))
}

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            "expected 1 to 64 of a-z, 0-9, '-', '_' and '.', e.g. gemini-cli",
        ))
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let grants: String = r.get(3)?;
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        grants: grants.split(',').filter_map(Grant::parse).collect(),
        created_at_ms: r.get(4)?,
        expires_at_ms: r.get(5)?,
        last_used_at_ms: r.get(6)?,
        revoked_at_ms: r.get(7)?,
    })
}

fn insert(conn: &Connection, k: &KeyRecord) -> std::result::Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, name, secret_hash, grants, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![k.id, k.name, k.secret_hash, k.grants.to_string(), k.created_at_ms, k.expires_at_ms],
    )?;
    Ok(())
}

impl Keys {
    pub async fn load(store: Store) -> Result<Keys> {
        let records = store
            .call(|c| {
                let mut stmt = c.prepare(
                    "SELECT id, name, secret_hash, grants, created_at_ms, expires_at_ms, last_used_at_ms, revoked_at_ms FROM api_keys",
                )?;
                let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(Keys {
            store,
            cache: Arc::new(RwLock::new(
                records.into_iter().map(|k| (k.id.clone(), k)).collect(),
            )),
        })
    }

    fn cache_put(cache: &RwLock<HashMap<String, KeyRecord>>, record: KeyRecord) {
        if let Ok(mut cache) = cache.write() {
            cache.insert(record.id.clone(), record);
        }
    }

    fn live_by_name(&self, name: &str) -> Option<KeyRecord> {
        self.cache
            .read()
            .ok()?
            .values()
            .find(|k| k.name == name && k.revoked_at_ms.is_none())
            .cloned()
    }

    /// Creates a key and returns it with the token, which is shown this once.
    pub async fn create(
        &self,
        caller: &Caller,
        name: &str,
        grants: Grants,
        ttl: Option<Duration>,
    ) -> Result<(KeyRecord, String)> {
        caller.require(Grant::Admin, "create API keys")?;
        validate_name(name)?;
        if grants == Grants::default() {
            return Err(Error::invalid(
                "grants",
                "give at least one of read, draft, stage, send, admin",
            ));
        }
        if self.live_by_name(name).is_some() {
            return Err(Error::new(Code::Conflict, format!("a key named {name} exists; rotate it with `commsctl keys rotate {name}` or revoke it first"))
                .with_details(serde_json::json!({ "field": "name" })));
        }
        self.issue(caller, name, grants, ttl, None, "key_created")
            .await
    }

    /// Replaces the named key by a new one with the same grants; the old one stops working at once.
    pub async fn rotate(
        &self,
        caller: &Caller,
        name: &str,
        ttl: Option<Duration>,
    ) -> Result<(KeyRecord, String)> {
        caller.require(Grant::Admin, "rotate API keys")?;
        let old = self
            .live_by_name(name)
            .ok_or_else(|| Error::not_found("API key", name))?;
        self.issue(caller, name, old.grants, ttl, Some(old.id), "key_rotated")
            .await
    }

    async fn issue(
        &self,
        caller: &Caller,
        name: &str,
        grants: Grants,
        ttl: Option<Duration>,
        replaces: Option<String>,
        action: &str,
    ) -> Result<(KeyRecord, String)> {
        let ttl = ttl.unwrap_or(DEFAULT_TTL);
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(Error::invalid(
                "expires",
                "expected a lifetime from 1s to 3650d, e.g. 90d",
            ));
        }
        let now = now_unix_ms();
        let id = random_base32(8)?;
        let secret = random_base32(40)?;
        let token = format!("{PREFIX}{id}_{secret}");
        let record = KeyRecord {
            id,
            name: name.to_owned(),
            grants,
            created_at_ms: now,
            expires_at_ms: now + ttl.as_millis() as i64,
            last_used_at_ms: None,
            revoked_at_ms: None,
            secret_hash: hash(&secret),
        };
        let stored = record.clone();
        let entry = audit::Entry {
            actor: caller.actor.clone(),
            action: action.to_owned(),
            result: Some(format!("{} ({})", name, grants)),
            ..audit::Entry::default()
        };
        let revoked = replaces.clone();
        let cache = self.cache.clone();
        let cached = record.clone();
        self.store
            .write_then(
                move |conn| {
                    if let Some(old) = &revoked {
                        conn.execute(
                            "UPDATE api_keys SET revoked_at_ms = ?1 WHERE id = ?2",
                            params![now, old],
                        )?;
                    }
                    insert(conn, &stored)?;
                    audit::append(conn, entry)?;
                    Ok(())
                },
                move |()| {
                    if let Some(old) = replaces
                        && let Ok(mut cache) = cache.write()
                        && let Some(k) = cache.get_mut(&old)
                    {
                        k.revoked_at_ms = Some(now);
                    }
                    Keys::cache_put(&cache, cached);
                },
            )
            .await?;
        Ok((record, token))
    }

    pub async fn revoke(&self, caller: &Caller, name: &str) -> Result<KeyRecord> {
        caller.require(Grant::Admin, "revoke API keys")?;
        let mut key = self
            .live_by_name(name)
            .ok_or_else(|| Error::not_found("API key", name))?;
        let now = now_unix_ms();
        let id = key.id.clone();
        let entry = audit::Entry {
            actor: caller.actor.clone(),
            action: "key_revoked".to_owned(),
            result: Some(name.to_owned()),
            ..audit::Entry::default()
        };
        key.revoked_at_ms = Some(now);
        let cache = self.cache.clone();
        let cached = key.clone();
        self.store
            .write_then(
                move |conn| {
                    conn.execute(
                        "UPDATE api_keys SET revoked_at_ms = ?1 WHERE id = ?2",
                        params![now, id],
                    )?;
                    audit::append(conn, entry)?;
                    Ok(())
                },
                move |()| Keys::cache_put(&cache, cached),
            )
            .await?;
        Ok(key)
    }

    /// Every key, newest first.
    pub fn list(&self, caller: &Caller) -> Result<Vec<KeyRecord>> {
        caller.require(Grant::Admin, "list API keys")?;
        let mut keys: Vec<_> = self
            .cache
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at_ms));
        Ok(keys)
    }

    /// Checks a bearer token; on success the caller acts as `key:<name>` with the key's grants.
    pub fn authenticate(&self, token: &str) -> std::result::Result<(Caller, String), AuthFailure> {
        let (id, secret) = parse_token(token).ok_or(AuthFailure::Malformed)?;
        let cache = self.cache.read().map_err(|_| AuthFailure::Unknown)?;
        let key = cache.get(id).ok_or(AuthFailure::Unknown)?;
        if !crate::util::constant_time_eq(hash(secret).as_bytes(), key.secret_hash.as_bytes()) {
            return Err(AuthFailure::Unknown);
        }
        if key.revoked_at_ms.is_some() {
            return Err(AuthFailure::Revoked);
        }
        if key.expires_at_ms <= now_unix_ms() {
            return Err(AuthFailure::Expired);
        }
        Ok((Caller::key(&key.name, key.grants), key.id.clone()))
    }

    /// Records a use; written to the database at most once a minute per key.
    pub fn touch(&self, id: &str) {
        let now = now_unix_ms();
        let due = match self.cache.write() {
            Ok(mut cache) => match cache.get_mut(id) {
                Some(k) if k.last_used_at_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) => {
                    k.last_used_at_ms = Some(now);
                    true
                }
                _ => false,
            },
            Err(_) => false,
        };
        if due {
            let store = self.store.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                let result = store
                    .write(move |c| {
                        Ok(c.execute(
                            "UPDATE api_keys SET last_used_at_ms = ?1 WHERE id = ?2",
                            params![now, id],
                        )?)
                    })
                    .await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "could not record an API key's last use");
                }
            });
        }
    }

    /// Active keys that expire within [`WARN_BEFORE`], as warnings for status and the dashboard.
    pub fn warnings(&self) -> Vec<String> {
        let now = now_unix_ms();
        let soon = now + WARN_BEFORE.as_millis() as i64;
        let mut out: Vec<_> = self
            .cache
            .read()
            .map(|c| {
                c.values()
                    .filter(|k| k.revoked_at_ms.is_none() && k.expires_at_ms > now && k.expires_at_ms <= soon)
                    .map(|k| {
                        let days = (k.expires_at_ms - now) / 86_400_000;
                        format!(
                            "API key {} expires in {} day{}: rotate it with `commsctl keys rotate {}`",
                            k.name,
                            days,
                            if days == 1 { "" } else { "s" },
                            k.name
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn keys() -> (Keys, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join("k.db")).unwrap();
        (Keys::load(store).await.unwrap(), dir)
    }

    fn grants(list: &[Grant]) -> Grants {
        list.iter().copied().collect()
    }

    #[tokio::test]
    async fn create_authenticate_rotate_revoke() {
        let (keys, _dir) = keys().await;
        let human = Caller::cli("alice", 1000);
        let (record, token) = keys
            .create(
                &human,
                "gemini-cli",
                grants(&[Grant::Read, Grant::Stage]),
                None,
            )
            .await
            .unwrap();
        assert!(token.starts_with("cmsd_"));
        assert_eq!(token.len(), 5 + 8 + 1 + 40);
        assert!(
            !record.secret_hash.contains(&token[14..]),
            "only the hash is kept"
        );
        let (caller, id) = keys.authenticate(&token).unwrap();
        assert_eq!(caller.actor, "key:gemini-cli");
        assert!(caller.has(Grant::Stage) && !caller.has(Grant::Admin));
        assert_eq!(id, record.id);

        let err = keys
            .create(&human, "gemini-cli", grants(&[Grant::Read]), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Conflict);

        let (_, rotated) = keys.rotate(&human, "gemini-cli", None).await.unwrap();
        assert_eq!(keys.authenticate(&token).unwrap_err(), AuthFailure::Revoked);
        assert!(keys.authenticate(&rotated).is_ok());
        keys.revoke(&human, "gemini-cli").await.unwrap();
        assert_eq!(
            keys.authenticate(&rotated).unwrap_err(),
            AuthFailure::Revoked
        );
    }

    #[tokio::test]
    async fn bad_tokens_and_expiry() {
        let (keys, _dir) = keys().await;
        let human = Caller::cli("alice", 1000);
        assert_eq!(
            keys.authenticate("nope").unwrap_err(),
            AuthFailure::Malformed
        );
        let forged = format!("cmsd_{}_{}", "a".repeat(8), "b".repeat(40));
        assert_eq!(
            keys.authenticate(&forged).unwrap_err(),
            AuthFailure::Unknown
        );
        let (_, token) = keys
            .create(
                &human,
                "short",
                grants(&[Grant::Read]),
                Some(Duration::from_millis(1)),
            )
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(keys.authenticate(&token).unwrap_err(), AuthFailure::Expired);
        let (_, token) = keys
            .create(
                &human,
                "soon",
                grants(&[Grant::Read]),
                Some(Duration::from_secs(3 * 86_400)),
            )
            .await
            .unwrap();
        let wrong = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(keys.authenticate(&wrong).unwrap_err(), AuthFailure::Unknown);
        assert_eq!(keys.warnings().len(), 1);
        assert!(
            keys.warnings()[0].contains("soon expires in 2 days")
                || keys.warnings()[0].contains("soon expires in 3 days")
        );
        let agent = Caller::key("x", grants(&[Grant::Stage]));
        assert_eq!(
            keys.create(&agent, "y", grants(&[Grant::Admin]), None)
                .await
                .unwrap_err()
                .code,
            Code::PermissionDenied
        );
        assert_eq!(
            keys.create(&human, "Bad Name", grants(&[Grant::Read]), None)
                .await
                .unwrap_err()
                .code,
            Code::InvalidArgument
        );
    }
}
