//! `commsctl sandbox receive email|sms|chat`: puts a message into the
//! built-in sandbox account's inbox (gRPC `Sandbox.Receive`), so reading
//! (`commsctl mail`, the email tools, `/api/v1/email`) can be tried with no
//! real account.

use std::io::Read as _;

use anyhow::Context;
use commsd_proto::v1::{self, sandbox_client::SandboxClient};
use serde_json::json;

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;

/// The sandbox account: nothing leaves the machine, and it has an inbox of its own.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Deliver a message into the sandbox's inbox, as if someone had sent it.
    #[command(subcommand)]
    Receive(Receive),
}

#[derive(Debug, clap::Subcommand)]
pub enum Receive {
    /// An email into the sandbox mailbox's INBOX (read it with `commsctl mail`).
    #[command(
        after_help = "Examples:\n  commsctl sandbox receive email --from 'Ann <ann@example.org>' --subject 'Lab results' --body 'All normal.'\n  commsctl sandbox receive email --from ann@example.org --to me@example.org --subject Notes --body - < notes.txt\n  commsctl mail list                      # the sandbox is the default account\n  commsctl mail show ID"
    )]
    Email(EmailArgs),
    /// An SMS into `<data dir>/sandbox/inbox/sms.jsonl`.
    #[command(
        after_help = "Examples:\n  commsctl sandbox receive sms --from +14155550100 --body 'Running 10 minutes late'\n  echo 'Confirmed' | commsctl sandbox receive sms --from +493012345678 --body - --json"
    )]
    Sms(SmsArgs),
    /// A chat message into `<data dir>/sandbox/inbox/chat.jsonl`.
    #[command(
        after_help = "Examples:\n  commsctl sandbox receive chat --from 'Ann Example' --space spaces/team --body 'Standup moved to 10:00'"
    )]
    Chat(ChatArgs),
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// The text; `-` reads it from stdin.
    #[arg(long)]
    body: String,
    /// Print the receipt as JSON (`channel`, `accountId`, `id`, `receivedAt`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EmailArgs {
    /// The sender's mailbox (`Name <address>` or an address).
    #[arg(long)]
    from: String,
    /// The recipient [default: the sandbox's own address].
    #[arg(long)]
    to: Option<String>,
    /// The subject line.
    #[arg(long)]
    subject: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct SmsArgs {
    /// The sender's number in E.164 form (+14155550100).
    #[arg(long)]
    from: String,
    /// The number it was sent to (E.164).
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The sender's name.
    #[arg(long)]
    from: String,
    /// The space, `spaces/<id>`.
    #[arg(long)]
    space: String,
    #[command(flatten)]
    common: Common,
}

fn body(value: String) -> anyhow::Result<String> {
    if value != "-" {
        return Ok(value);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("--body -: cannot read stdin as UTF-8 text")?;
    Ok(text)
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let Command::Receive(receive) = command;
    let (request, json) = match receive {
        Receive::Email(a) => (
            v1::ReceiveRequest {
                channel: "email".into(),
                from: a.from,
                to: a.to,
                subject: Some(a.subject),
                body: body(a.common.body)?,
                space: None,
            },
            a.common.json,
        ),
        Receive::Sms(a) => (
            v1::ReceiveRequest {
                channel: "sms".into(),
                from: a.from,
                to: a.to,
                subject: None,
                body: body(a.common.body)?,
                space: None,
            },
            a.common.json,
        ),
        Receive::Chat(a) => (
            v1::ReceiveRequest {
                channel: "chat".into(),
                from: a.from,
                to: None,
                subject: None,
                body: body(a.common.body)?,
                space: Some(a.space),
            },
            a.common.json,
        ),
    };
    let connected = client::connect_or_start(socket).await?;
    let mut sandbox =
        SandboxClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    let r = sandbox
        .receive(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if json {
        return output::json(&json!({
            "channel": r.channel,
            "accountId": r.account_id,
            "id": r.id,
            "receivedAt": r.received_at,
        }));
    }
    let next = if r.channel == "email" {
        format!("\nRead it: commsctl mail show {}\n", r.id)
    } else {
        "\n".to_owned()
    };
    output::text(&format!(
        "received {} {} into account {}{next}",
        r.channel, r.id, r.account_id
    ))
}
