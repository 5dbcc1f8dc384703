//! Accounts that items are sent from. Today: the embedded sandbox account;
//! the [accounts] work adds Google and IMAP accounts behind the same lookup.

use serde::Serialize;

use crate::error::{Code, Error};

/// The id of the embedded sandbox account.
pub const SANDBOX: &str = "sandbox";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Sandbox,
}

/// An account as every frontend lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: String,
    pub kind: Kind,
    /// The address mail is sent from.
    pub email: String,
    pub labels: Vec<String>,
    pub default: bool,
    /// Channels this account can send on.
    #[schema(value_type = Vec<String>)]
    pub channels: Vec<&'static str>,
}

/// The accounts the daemon knows.
#[derive(Debug, Clone)]
pub struct Accounts {
    accounts: Vec<Account>,
}

impl Accounts {
    /// The embedded default: one sandbox account that delivers into local files.
    pub fn with_sandbox(from: &str) -> Accounts {
        Accounts {
            accounts: vec![Account {
                id: SANDBOX.to_owned(),
                kind: Kind::Sandbox,
                email: from.to_owned(),
                labels: vec!["sandbox".to_owned()],
                default: true,
                channels: vec!["email", "sms", "chat"],
            }],
        }
    }

    pub fn list(&self) -> &[Account] {
        &self.accounts
    }

    /// The named account, or the explicit default when none is named. An
    /// account is never guessed: no default and no name is an error.
    pub fn resolve(&self, id: Option<&str>) -> Result<&Account, Error> {
        match id.filter(|s| !s.is_empty()) {
            Some(id) => self.accounts.iter().find(|a| a.id == id).ok_or_else(|| {
                let known: Vec<_> = self.accounts.iter().map(|a| a.id.as_str()).collect();
                Error::new(
                    Code::AccountNotFound,
                    format!(
                        "account {id:?} does not exist; known accounts: {}",
                        known.join(", ")
                    ),
                )
                .with_details(serde_json::json!({ "account": id, "known": known }))
            }),
            None => self.accounts.iter().find(|a| a.default).ok_or_else(|| {
                Error::invalid(
                    "account",
                    "no default account is set; name the account to use",
                )
            }),
        }
    }
}
