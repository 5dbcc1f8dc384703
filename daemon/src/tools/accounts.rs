//! The `accounts` toolset: list Google accounts, start a sign-in for a new
//! one (or a higher tier), label and remove them.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::kit::{object, out, s, strings};
use super::{Outcome, ToolDef, ToolProvider, args};
use crate::accounts::Kind;
use crate::accounts::oauth::FlowRequest;
use crate::accounts::service::AccountService;
use crate::auth::Caller;
use crate::error::{Code, Error};

pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "google_list_accounts",
        title: "List Google accounts",
        toolset: "accounts",
        description: "The Google accounts: accountId, email, labels, scopesTier (Gmail: 1 read, 2 send, 3 modify), state. Other tools take an accountId or email as accountId. All accounts: commsd://accounts.",
        input: super::schemas::no_arguments,
        output: google_accounts_output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "google_add_account",
        title: "Add a Google account",
        toolset: "accounts",
        description: "Start a Google sign-in: show the human authUrl. Nothing is granted until they consent. Call again with flowId alone to get { accountId, email } once they have. Also upgrades an account (its email as loginHint).",
        input: add_input,
        output: add_output,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "google_remove_account",
        title: "Remove a Google account",
        toolset: "accounts",
        description: "Remove a Google account: revokes its token, deletes its secrets and cached mail. Needs the admin grant; else ask the human to run `commsctl accounts remove`.",
        input: account_input,
        output: removed_output,
        read_only: false,
        destructive: true,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "google_set_account_labels",
        title: "Set a Google account's labels",
        toolset: "accounts",
        description: "Replace a Google account's labels (short tags such as work).",
        input: labels_input,
        output: account_output,
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
];

/// An account as these tools answer it (`brief`); more fields may come.
fn account_schema() -> Value {
    json!({ "type": "object", "required": ["accountId", "email", "labels", "scopesGranted", "state"] })
}

fn google_accounts_output() -> Value {
    out(
        json!({ "accounts": { "type": "array", "items": account_schema() } }),
        &["accounts"],
    )
}

fn account_output() -> Value {
    out(json!({ "account": account_schema() }), &["account"])
}

fn removed_output() -> Value {
    out(
        json!({ "account": account_schema(), "revoked": { "type": "boolean" } }),
        &["account", "revoked"],
    )
}

fn add_input() -> Value {
    object(
        json!({
            "scopesTier": { "enum": [1, 2, 3], "description": "Gmail: 1 read (default), 2 send, 3 modify labels. The least the task needs." },
            "with": { "type": "array", "items": { "enum": ["contacts", "directory", "chat", "mail"] },
                      "description": "Modules (mail: IMAP/SMTP, full mailbox)." },
            "label": s(),
            "labels": strings(),
            "loginHint": s(),
            "flowId": s(),
        }),
        &[],
    )
}

/// Signed in: `accountId`, `email`; while the human signs in: `flowId`,
/// `authUrl`, `expiresAt`. `next` either way.
fn add_output() -> Value {
    out(
        json!({ "accountId": s(), "email": s(), "flowId": s(), "authUrl": s(), "next": s() }),
        &["next"],
    )
}

fn account_id() -> Value {
    s()
}

fn account_input() -> Value {
    object(json!({ "accountId": account_id() }), &["accountId"])
}

fn labels_input() -> Value {
    let label = json!({ "type": "string", "pattern": "^[a-z0-9_-]{1,32}$" });
    object(
        json!({ "accountId": account_id(), "labels": { "type": "array", "items": label } }),
        &["accountId", "labels"],
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AddArgs {
    scopes_tier: Option<u8>,
    #[serde(default)]
    with: Vec<String>,
    label: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    login_hint: Option<String>,
    /// Follow a sign-in this tool started.
    flow_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountArgs {
    account_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LabelsArgs {
    account_id: String,
    labels: Vec<String>,
}

fn brief(a: &crate::accounts::Account) -> Value {
    json!({
        "accountId": a.id,
        "email": a.email,
        "labels": a.labels,
        "default": a.default,
        "scopesTier": a.tier.unwrap_or(0),
        "modules": a.modules,
        "scopesGranted": a.scopes,
        "state": a.state.as_str(),
        "stateReason": a.state_reason,
        "createdAt": a.created_at,
        "lastUsedAt": a.last_used_at,
    })
}

/// How long an agent-started sign-in waits for the human.
const AGENT_FLOW_TIMEOUT: Duration = Duration::from_secs(900);

/// How long a call with `flowId` waits for the human before it answers
/// that the sign-in still runs.
const FOLLOW_WAIT: Duration = Duration::from_secs(20);

/// A finished sign-in: the account, in the contract's `{ accountId, email }`.
fn signed_in(done: &crate::accounts::oauth::FlowDone) -> Value {
    json!({
        "accountId": done.account.id,
        "email": done.account.email,
        "existed": done.existed,
        "warnings": done.warnings,
        "account": brief(&done.account),
        "next": "Signed in: pass accountId to the Gmail tools.",
    })
}

pub struct AccountTools {
    pub service: Arc<AccountService>,
}

impl AccountTools {
    fn google_only(&self, account: &str) -> Result<(), Error> {
        let a = self.service.accounts.resolve(Some(account))?;
        if a.kind != Kind::Google {
            return Err(Error::invalid(
                "accountId",
                format!(
                    "{} is a {} account, not a Google account",
                    a.id,
                    a.kind.as_str()
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ToolProvider for AccountTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        self.run(caller, name, arguments)
            .await
            .map_err(|e| e.renaming_field(&FIELDS))
    }
}

/// Fields the services name their own way → the tools' names.
const FIELDS: [(&str, &str); 4] = [
    ("account", "accountId"),
    ("tier", "scopesTier"),
    ("login_hint", "loginHint"),
    ("flow_id", "flowId"),
];

impl AccountTools {
    /// A sign-in this tool started: the account once the human has signed
    /// in, else (after [`FOLLOW_WAIT`]) that it still runs.
    async fn follow(&self, caller: &Caller, flow_id: &str) -> Result<Outcome, Error> {
        let done = match self.service.google_flow(caller, flow_id)? {
            Some(outcome) => outcome?,
            None => {
                match tokio::time::timeout(FOLLOW_WAIT, self.service.wait_google(flow_id)).await {
                    Ok(outcome) => outcome?,
                    Err(_) => {
                        return Ok(Outcome::ok(json!({
                            "flowId": flow_id,
                            "next": "The human has not finished signing in: call again with this flowId later.",
                        })));
                    }
                }
            }
        };
        Ok(Outcome::ok(signed_in(&done)))
    }

    async fn run(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        match name {
            "google_list_accounts" => {
                let NoArguments {} = args(arguments)?;
                let accounts: Vec<Value> = self
                    .service
                    .list(caller)?
                    .iter()
                    .filter(|a| a.kind == Kind::Google)
                    .map(brief)
                    .collect();
                Ok(Outcome::ok(json!({ "accounts": accounts })))
            }
            "google_add_account" => {
                let mut a: AddArgs = args(arguments)?;
                if let Some(flow_id) = a.flow_id {
                    return self.follow(caller, &flow_id).await;
                }
                a.labels.extend(a.label.take());
                let started = self
                    .service
                    .add_google(
                        caller,
                        FlowRequest {
                            labels: a.labels,
                            tier: a.scopes_tier.unwrap_or(1),
                            modules: a.with,
                            login_hint: a.login_hint,
                            timeout: Some(AGENT_FLOW_TIMEOUT),
                        },
                    )
                    .await?;
                Ok(Outcome::ok(json!({
                    "authUrl": started.auth_url,
                    "flowId": started.flow_id,
                    "expiresAt": started.expires_at,
                    "scopes": started.scopes,
                    "next": format!("Show the human authUrl to open in a browser on the machine running commsd; the sign-in waits until {}. Then call google_add_account with only this flowId: it answers accountId and email once they have signed in.", started.expires_at),
                })))
            }
            "google_remove_account" => {
                let a: AccountArgs = args(arguments)?;
                self.google_only(&a.account_id)?;
                let removed = self.service.remove(caller, &a.account_id).await?;
                Ok(Outcome::ok(json!({
                    "account": brief(&removed.account),
                    "revoked": removed.revoked,
                    "revokeError": removed.revoke_error,
                })))
            }
            "google_set_account_labels" => {
                let a: LabelsArgs = args(arguments)?;
                self.google_only(&a.account_id)?;
                let account = self
                    .service
                    .set_labels(caller, &a.account_id, a.labels)
                    .await?;
                Ok(Outcome::ok(json!({ "account": brief(&account) })))
            }
            other => Err(Error::new(
                Code::NotFound,
                format!("tool {other} is not an accounts tool"),
            )),
        }
    }
}
