//! `commsctl sms ...`: text messages through Twilio accounts. `optouts`:
//! who opted out of which sender (gRPC `SmsOptOuts`).

use commsd_proto::v1::{self, sms_opt_outs_client::SmsOptOutsClient};
use serde_json::json;

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;

/// Text messages (SMS) through Twilio accounts.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List messages (received and sent), newest first.
    #[command(
        after_help = "Examples:\n  commsctl sms list                          # the default account (the sandbox when there is none)\n  commsctl sms list --account clinic --number +15552223333\n  commsctl sms list --since 2026-11-01 --json"
    )]
    List(super::sms_read::ListArgs),
    /// Show one conversation: by their number or a threadId.
    #[command(
        after_help = "Examples:\n  commsctl sms thread +15552223333\n  commsctl sms thread '+15550001111:+15552223333' --json"
    )]
    Thread(super::sms_read::ThreadArgs),
    /// Stage a text message; it goes out once a human approves it (or the policy lets it).
    #[command(
        after_help = "Examples:\n  commsctl sms send --to +14155550100 'Reminder: your appointment is tomorrow at 9:00'\n  commsctl sms send --account clinic --to +14155550100 'See you at 9:00' --json\n\nThe answer shows the encoding, the segments and the estimated cost, and names characters\nthat force UCS-2 (a curly quote can triple the segments)."
    )]
    Send(SendArgs),
    /// Numbers that opted out (STOP, or Twilio's error 21610) of one of our senders.
    #[command(subcommand)]
    Optouts(Optouts),
    /// Let an SMS go out during [sms] quiet_hours (approved: at once; approve it first
    /// otherwise). Audited.
    #[command(after_help = "Examples:\n  commsctl sms quiet-override ob_7k2m9x4q1z")]
    QuietOverride(QuietOverrideArgs),
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The Twilio account (id or address) [default: the default account].
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    /// Their number (E.164, e.g. +14155550100).
    #[arg(long)]
    to: String,
    /// The message (up to 1,600 characters).
    body: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct QuietOverrideArgs {
    /// The outbox item.
    item_id: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Optouts {
    /// List opted-out numbers; SMS to them are refused before any call to Twilio.
    #[command(
        after_help = "Examples:\n  commsctl sms optouts list\n  commsctl sms optouts list --account clinic --json"
    )]
    List(ListArgs),
    /// Stop refusing SMS to a number (audited, with your reason). Twilio keeps its own
    /// block until the person texts START.
    #[command(
        after_help = "Examples:\n  commsctl sms optouts remove +14155550100 --account clinic --sender MG... --reason 'texted START to the front desk'"
    )]
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this account (id or address).
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Their number (E.164).
    number: String,
    /// The Twilio account (id or address).
    #[arg(long)]
    account: String,
    /// Our sender they opted out of (number or Messaging Service SID), as `list` shows it.
    #[arg(long)]
    sender: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    reason: String,
    #[arg(long)]
    json: bool,
}

fn opt_out_json(o: &v1::OptOut) -> serde_json::Value {
    json!({
        "accountId": o.account_id,
        "sender": o.sender,
        "number": o.number,
        "source": o.source,
        "updatedAt": o.updated_at,
    })
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    use super::sms_read::{self, Command as Read};
    match command {
        Command::List(a) => sms_read::execute(socket, Read::List(a)).await,
        Command::Thread(a) => sms_read::execute(socket, Read::Thread(a)).await,
        Command::Send(a) => send(socket, a).await,
        Command::QuietOverride(a) => quiet_override(socket, a).await,
        Command::Optouts(o) => optouts(socket, o).await,
    }
}

/// Stages through `sms_send`, as the human at the CLI.
async fn send(socket: &Socket, a: SendArgs) -> anyhow::Result<()> {
    let mut args = json!({ "to": a.to, "body": a.body });
    if let Some(account) = a.account {
        args["accountId"] = json!(account);
    }
    let v = super::mail::invoke(socket, "sms_send", args).await?;
    if a.json {
        return output::json(&v);
    }
    let preview = v["preview"].as_str().unwrap_or_default();
    output::text(&format!(
        "{} {}\n{preview}\n{}\n",
        v["item"]["id"].as_str().unwrap_or_default(),
        v["item"]["state"].as_str().unwrap_or_default(),
        v["next"].as_str().unwrap_or_default()
    ))
}

async fn quiet_override(socket: &Socket, a: QuietOverrideArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let mut quiet = v1::sms_quiet_hours_client::SmsQuietHoursClient::with_interceptor(
        connected.channel.clone(),
        UserHeader::current(),
    );
    let r = quiet
        .r#override(v1::QuietOverrideRequest { item_id: a.item_id })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if a.json {
        return output::json(&json!({ "itemId": r.item_id, "state": r.state }));
    }
    output::text(&format!(
        "{} may go out during quiet hours ({})\n",
        r.item_id, r.state
    ))
}

async fn optouts(socket: &Socket, command: Optouts) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let mut optouts =
        SmsOptOutsClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    match command {
        Optouts::List(a) => {
            let list = optouts
                .list(v1::ListOptOutsRequest {
                    account: a.account.unwrap_or_default(),
                })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner()
                .opt_outs;
            if a.json {
                return output::json(&json!({
                    "optOuts": list.iter().map(opt_out_json).collect::<Vec<_>>()
                }));
            }
            let mut text = format!(
                "{:<16} {:<36} {:<36} {:<20} {}\n",
                "NUMBER", "SENDER", "ACCOUNT", "SOURCE", "SINCE"
            );
            for o in &list {
                text.push_str(&format!(
                    "{:<16} {:<36} {:<36} {:<20} {}\n",
                    o.number, o.sender, o.account_id, o.source, o.updated_at
                ));
            }
            if list.is_empty() {
                text = "no opt-outs\n".to_owned();
            }
            output::text(&text)
        }
        Optouts::Remove(a) => {
            let removed = optouts
                .remove(v1::RemoveOptOutRequest {
                    account: a.account,
                    sender: a.sender,
                    number: a.number,
                    reason: a.reason,
                })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&opt_out_json(&removed));
            }
            output::text(&format!(
                "{} may get messages from {} again (was: {})\n",
                removed.number, removed.sender, removed.source
            ))
        }
    }
}
