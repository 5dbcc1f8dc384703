//! `commsctl keys ...`: API keys for HTTP clients such as Gemini CLI.

use std::time::Duration;

use anyhow::Context;
use commsd_proto::v1::{self, keys_client::KeysClient};

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;
use crate::render;

/// Create, list, revoke and rotate API keys (one per AI client).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key; the token is printed once and only its hash is kept.
    #[command(
        after_help = "Examples:\n  commsctl keys create gemini-cli --grants read,stage\n  commsctl keys create nightly-report --grants read --expires 30d --json\n\nGrants: read (outbox, audit, accounts), draft, stage (stage items), send (confirm items\nwhose policy lets the agent confirm), admin (approve and reject: give it to no agent)."
    )]
    Create(CreateArgs),
    /// List keys with their grants, expiry and last use.
    List(ListArgs),
    /// Revoke a key: it stops working at once.
    Revoke(NameArgs),
    /// Replace a key with a new one with the same grants; the old one stops working at once.
    Rotate(RotateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The client the key is for, e.g. gemini-cli.
    name: String,
    /// Comma-separated grants: read, draft, stage, send, admin.
    #[arg(long, value_delimiter = ',', required = true)]
    grants: Vec<String>,
    /// Lifetime, e.g. 90d, 12h [default: 90d].
    #[arg(long)]
    expires: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    name: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    name: String,
    /// Lifetime of the new key [default: 90d].
    #[arg(long)]
    expires: Option<String>,
    #[arg(long)]
    json: bool,
}

fn lifetime(expires: Option<&str>) -> anyhow::Result<u64> {
    match expires {
        None => Ok(0),
        Some(text) => {
            let d: Duration = humantime::parse_duration(text).with_context(|| {
                format!("--expires {text:?}: expected a lifetime such as 90d or 12h")
            })?;
            Ok(d.as_secs().max(1))
        }
    }
}

fn key_json(k: &v1::ApiKey) -> serde_json::Value {
    serde_json::json!({
        "id": k.id,
        "name": k.name,
        "grants": k.grants,
        "state": k.state,
        "created_at": render::rfc3339(k.created_at_unix_ms),
        "expires_at": render::rfc3339(k.expires_at_unix_ms),
        "last_used_at": k.last_used_at_unix_ms.map(render::rfc3339),
        "revoked_at": k.revoked_at_unix_ms.map(render::rfc3339),
    })
}

fn issued(issued: v1::IssuedKey, json: bool, verb: &str) -> anyhow::Result<()> {
    let key = issued.key.context("the daemon returned no key")?;
    if json {
        let mut value = key_json(&key);
        value["token"] = serde_json::Value::String(issued.token);
        return output::json(&value);
    }
    output::text(&format!(
        "{verb} API key {} ({}), valid until {}\n\n  {}\n\nThis is the only time the key is shown: store it where the client reads it now.\n",
        key.name,
        key.grants.join(","),
        render::rfc3339(key.expires_at_unix_ms),
        issued.token
    ))
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let mut keys = KeysClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    match command {
        Command::Create(a) => {
            let request = v1::CreateKeyRequest {
                name: a.name,
                grants: a.grants,
                expires_in_s: lifetime(a.expires.as_deref())?,
            };
            let response = keys
                .create(request)
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            issued(response, a.json, "created")
        }
        Command::Rotate(a) => {
            let request = v1::RotateKeyRequest {
                name: a.name,
                expires_in_s: lifetime(a.expires.as_deref())?,
            };
            let response = keys
                .rotate(request)
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            issued(response, a.json, "rotated")
        }
        Command::Revoke(a) => {
            let key = keys
                .revoke(v1::KeyName { name: a.name })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&key_json(&key));
            }
            output::text(&format!("revoked API key {}\n", key.name))
        }
        Command::List(a) => {
            let list = keys
                .list(v1::ListKeysRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner()
                .keys;
            if a.json {
                return output::json(&list.iter().map(key_json).collect::<Vec<_>>());
            }
            if list.is_empty() {
                return output::text(
                    "no API keys; create one with `commsctl keys create NAME --grants read,stage`\n",
                );
            }
            let mut text = format!(
                "{:<20} {:<8} {:<24} {:<20} {}\n",
                "NAME", "STATE", "GRANTS", "EXPIRES", "LAST USED"
            );
            for k in &list {
                text.push_str(&format!(
                    "{:<20} {:<8} {:<24} {:<20} {}\n",
                    render::clip(&k.name, 20),
                    k.state,
                    k.grants.join(","),
                    render::rfc3339(k.expires_at_unix_ms)
                        .get(..16)
                        .unwrap_or_default(),
                    k.last_used_at_unix_ms
                        .map_or("never".to_owned(), |t| format!("{} ago", render::age(t)))
                ));
            }
            output::text(&text)
        }
    }
}
