//! The `accounts` toolset: list Google accounts, start a sign-in for a new
//! one (or a higher tier), label and remove them.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

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
        description: "List the Google accounts commsd can use: id, email, labels, default, Gmail tier (1 read, 2 compose+send, 3 modify), modules (contacts, chat) and state (active, reauth_required, domain_blocked). Use an account's id or email as `account` in other tools. The built-in sandbox account is not listed (see the commsd://accounts resource).",
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
        description: "Start a Google sign-in and return the URL for the human to open. Nothing is granted until they sign in and consent in their browser; the account then appears in google_list_accounts (tools/list_changed is sent). Also the way to grant a higher tier or a module to an existing account (pass its email as login_hint): commsd never escalates access on its own.",
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
        description: "Remove a Google account: revoke its token at Google, delete its secrets and cached mail. Needs the admin grant (a human's key); agents get permission_denied and should ask the human to run `commsctl accounts remove`.",
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
        description: "Replace the labels of a Google account (short tags such as work or personal, a-z 0-9 - _) that you and the human can name it by.",
        input: labels_input,
        output: account_output,
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
];

fn account_schema() -> Value {
    let s = json!({ "type": "string" });
    json!({
        "type": "object",
        "properties": {
            "id": s, "email": s,
            "labels": { "type": "array", "items": s },
            "default": { "type": "boolean" },
            "tier": { "type": "integer", "minimum": 0, "maximum": 3 },
            "modules": { "type": "array", "items": s },
            "state": { "type": "string", "enum": ["active", "reauth_required", "domain_blocked"] },
            "state_reason": s,
        },
        "required": ["id", "email", "labels", "default", "tier", "modules", "state"],
    })
}

fn google_accounts_output() -> Value {
    json!({
        "type": "object",
        "properties": { "accounts": { "type": "array", "items": account_schema() } },
        "required": ["accounts"],
    })
}

fn account_output() -> Value {
    json!({
        "type": "object",
        "properties": { "account": account_schema() },
        "required": ["account"],
    })
}

fn removed_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "account": account_schema(),
            "revoked": { "type": "boolean" },
            "revoke_error": { "type": "string" },
        },
        "required": ["account", "revoked"],
    })
}

fn add_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "tier": { "type": "integer", "minimum": 1, "maximum": 3, "default": 1,
                      "description": "Gmail access: 1 read, 2 compose and send, 3 modify labels. Ask for the least the task needs." },
            "with": { "type": "array", "items": { "type": "string", "enum": ["contacts", "chat", "mail"] },
                      "description": "Opt-in modules (mail: IMAP/SMTP with XOAUTH2, full mailbox access)." },
            "labels": { "type": "array", "items": { "type": "string" } },
            "login_hint": { "type": "string", "description": "The address to sign in as; an existing account's email to upgrade it." },
        },
        "additionalProperties": false,
    })
}

fn add_output() -> Value {
    let s = json!({ "type": "string" });
    json!({
        "type": "object",
        "properties": {
            "auth_url": s, "flow_id": s, "expires_at": s,
            "scopes": { "type": "array", "items": s },
            "next": s,
        },
        "required": ["auth_url", "flow_id", "expires_at", "scopes", "next"],
    })
}

fn account_input() -> Value {
    json!({
        "type": "object",
        "properties": { "account": { "type": "string", "description": "Account id or email." } },
        "required": ["account"],
        "additionalProperties": false,
    })
}

fn labels_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "account": { "type": "string", "description": "Account id or email." },
            "labels": { "type": "array", "items": { "type": "string", "pattern": "^[a-z0-9_-]{1,32}$" } },
        },
        "required": ["account", "labels"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    tier: Option<u8>,
    #[serde(default)]
    with: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    login_hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountArgs {
    account: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsArgs {
    account: String,
    labels: Vec<String>,
}

fn brief(a: &crate::accounts::Account) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "labels": a.labels,
        "default": a.default,
        "tier": a.tier.unwrap_or(0),
        "modules": a.modules,
        "state": a.state.as_str(),
        "state_reason": a.state_reason,
    })
}

/// How long an agent-started sign-in waits for the human.
const AGENT_FLOW_TIMEOUT: Duration = Duration::from_secs(900);

pub struct AccountTools {
    pub service: Arc<AccountService>,
}

impl AccountTools {
    fn google_only(&self, account: &str) -> Result<(), Error> {
        let a = self.service.accounts.resolve(Some(account))?;
        if a.kind != Kind::Google {
            return Err(Error::invalid(
                "account",
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
                let a: AddArgs = args(arguments)?;
                let started = self
                    .service
                    .add_google(
                        caller,
                        FlowRequest {
                            labels: a.labels,
                            tier: a.tier.unwrap_or(1),
                            modules: a.with,
                            login_hint: a.login_hint,
                            timeout: Some(AGENT_FLOW_TIMEOUT),
                        },
                    )
                    .await?;
                Ok(Outcome::ok(json!({
                    "auth_url": started.auth_url,
                    "flow_id": started.flow_id,
                    "expires_at": started.expires_at,
                    "scopes": started.scopes,
                    "next": format!("Show the human this URL to open in a browser on the machine running commsd and sign in; the sign-in waits until {}. When it completes, the account appears in google_list_accounts (you get tools/list_changed). Do not call this again while they sign in.", started.expires_at),
                })))
            }
            "google_remove_account" => {
                let a: AccountArgs = args(arguments)?;
                self.google_only(&a.account)?;
                let removed = self.service.remove(caller, &a.account).await?;
                Ok(Outcome::ok(json!({
                    "account": brief(&removed.account),
                    "revoked": removed.revoked,
                    "revoke_error": removed.revoke_error,
                })))
            }
            "google_set_account_labels" => {
                let a: LabelsArgs = args(arguments)?;
                self.google_only(&a.account)?;
                let account = self
                    .service
                    .set_labels(caller, &a.account, a.labels)
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
