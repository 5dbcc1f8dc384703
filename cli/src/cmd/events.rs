//! `commsctl events`: follow the daemon's event stream.

use commsd_proto::v1::{self, event::Kind, events_client::EventsClient};
use serde_json::json;

use crate::client::{self, Socket};
use crate::output;

/// Follow the daemon's events as they happen, until it stops or you press Ctrl-C.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  commsctl events\n  commsctl events --json | jq -c .kind")]
pub struct Args {
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
}

pub async fn execute(socket: &Socket, args: Args) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let mut stream = EventsClient::new(connected.channel)
        .watch(v1::WatchRequest {})
        .await?
        .into_inner();
    while let Some(event) = stream.message().await? {
        let (kind, detail) = describe(&event);
        if args.json {
            output::text(&format!(
                "{}\n",
                json!({ "seq": event.seq, "at_unix_ms": event.at_unix_ms, "kind": kind, "detail": detail })
            ))?;
        } else {
            output::text(&format!("{:>6}  {kind:<18} {detail}\n", event.seq))?;
        }
    }
    Ok(())
}

fn describe(event: &v1::Event) -> (&'static str, serde_json::Value) {
    match &event.kind {
        Some(Kind::ShutdownStarted(s)) => ("shutdown_started", json!({ "reason": s.reason })),
        Some(Kind::Lagged(l)) => ("lagged", json!({ "missed": l.missed })),
        Some(Kind::OutboxChanged(o)) => (
            "outbox_changed",
            json!({ "id": o.id, "state": o.state, "channel": o.channel, "accountId": o.account, "priority": o.priority }),
        ),
        Some(Kind::AccountsChanged(a)) => ("accounts_changed", json!({ "accounts": a.accounts })),
        Some(Kind::MailReceived(m)) => (
            "mail_received",
            json!({ "accountId": m.account, "folder": m.folder, "newMessages": m.new_messages }),
        ),
        Some(Kind::MessageReceived(m)) => (
            "message_received",
            json!({ "channel": m.channel, "accountId": m.account, "id": m.id }),
        ),
        Some(Kind::InboxChanged(i)) => (
            "inbox_changed",
            json!({ "accountId": i.account, "source": i.source, "added": i.added, "changed": i.changed }),
        ),
        Some(Kind::AuditAppended(a)) => (
            "audit_appended",
            json!({ "seq": a.seq, "action": a.action, "itemId": a.item_id }),
        ),
        None => (
            "unknown",
            json!({ "note": "newer daemon; upgrade commsctl" }),
        ),
    }
}
