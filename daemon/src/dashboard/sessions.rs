//! Dashboard sessions: one-time login tokens (from `commsctl dashboard`)
//! become HttpOnly, SameSite=Strict session cookies with a CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::events::now_unix_ms;

/// How long a login link stays usable.
pub const LOGIN_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct Login {
    pub token: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Who asked for the login link (e.g. `cli:alice`); recorded on login.
    pub issued_to: String,
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    logins: HashMap<String, (String, i64)>,
    sessions: HashMap<String, Session>,
}

/// 32 random bytes, hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // Without an entropy source nothing here is safe; make tokens unusable.
        return String::new();
    }
    hex::encode(bytes)
}

impl Sessions {
    pub fn create_login(&self, issued_to: &str) -> Login {
        let token = random_token();
        let expires_at_ms = now_unix_ms() + LOGIN_TTL.as_millis() as i64;
        if let Ok(mut inner) = self.inner.lock() {
            let now = now_unix_ms();
            inner.logins.retain(|_, (_, exp)| *exp > now);
            if !token.is_empty() {
                inner
                    .logins
                    .insert(token.clone(), (issued_to.to_owned(), expires_at_ms));
            }
        }
        Login {
            token,
            expires_at_ms,
        }
    }

    /// Exchanges a login token for a session; a token works once.
    pub fn redeem(&self, token: &str) -> Option<Session> {
        let mut inner = self.inner.lock().ok()?;
        let (issued_to, expires) = inner.logins.remove(token)?;
        let now = now_unix_ms();
        if expires <= now {
            return None;
        }
        let session = Session {
            id: random_token(),
            issued_to,
            csrf_token: random_token(),
            expires_at_ms: now + SESSION_TTL.as_millis() as i64,
        };
        if session.id.is_empty() || session.csrf_token.is_empty() {
            return None;
        }
        inner.sessions.retain(|_, s| s.expires_at_ms > now);
        inner.sessions.insert(session.id.clone(), session.clone());
        Some(session)
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        let inner = self.inner.lock().ok()?;
        inner
            .sessions
            .get(id)
            .filter(|s| s.expires_at_ms > now_unix_ms())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_token_works_once() {
        let sessions = Sessions::default();
        let login = sessions.create_login("cli:alice");
        assert_eq!(login.token.len(), 64);
        let session = sessions.redeem(&login.token).unwrap();
        assert_eq!(session.issued_to, "cli:alice");
        assert!(sessions.redeem(&login.token).is_none());
        assert_eq!(sessions.get(&session.id), Some(session));
        assert!(sessions.get("nope").is_none());
    }
}
