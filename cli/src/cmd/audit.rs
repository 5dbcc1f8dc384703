//! `commsctl audit list|verify`: the tamper-evident audit trail.

use std::time::Duration;

use anyhow::Context;
use commsd_proto::v1;

use crate::client::{self, Socket, rpc_error};
use crate::output;
use crate::render;

/// Read and verify the audit log.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Audit events, newest first.
    #[command(
        after_help = "Examples:\n  commsctl audit list --since 24h\n  commsctl audit list --item ob_7k2m9x4q1z --json"
    )]
    List(ListArgs),
    /// Recompute the hash chain; exits 2 naming the first bad row when it is broken.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only events newer than this: a duration ("24h", "15m") or an RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Only events about this item.
    #[arg(long)]
    item: Option<String>,
    /// At most this many events (1-1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long)]
    json: bool,
}

fn since_ms(since: &str) -> anyhow::Result<i64> {
    if let Ok(t) = since.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let ago: Duration = humantime::parse_duration(since).with_context(|| {
        format!("--since {since:?}: expected a duration such as 24h or an RFC 3339 time")
    })?;
    Ok(jiff::Timestamp::now().as_millisecond() - ago.as_millis() as i64)
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    match command {
        Command::List(args) => {
            let request = v1::ListAuditRequest {
                since_unix_ms: args
                    .since
                    .as_deref()
                    .map(since_ms)
                    .transpose()?
                    .unwrap_or(0),
                before_seq: 0,
                item_id: args.item.unwrap_or_default(),
                limit: args.limit,
            };
            let events = client::audit(&connected)
                .list(request)
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner()
                .events;
            if args.json {
                return output::json(&events.iter().map(render::audit_json).collect::<Vec<_>>());
            }
            let mut text = format!(
                "{:>6}  {:<24} {:<18} {:<18} {:<14} {}\n",
                "SEQ", "AT", "ACTOR", "ACTION", "ITEM", "DETAIL"
            );
            for e in &events {
                let detail = [
                    e.result.clone(),
                    Some(e.recipients.join(", ")).filter(|r| !r.is_empty()),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
                text.push_str(&format!(
                    "{:>6}  {:<24} {:<18} {:<18} {:<14} {}\n",
                    e.seq,
                    render::rfc3339(e.at_unix_ms),
                    render::clip(&e.actor, 18),
                    e.action,
                    e.item_id.as_deref().unwrap_or("-"),
                    render::clip(&detail, 80)
                ));
            }
            output::text(&text)
        }
        Command::Verify(args) => {
            let v = client::audit(&connected)
                .verify(v1::VerifyAuditRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if args.json {
                output::json(&serde_json::json!({
                    "rows": v.rows, "ok": v.ok,
                    "first_bad_seq": (!v.ok).then_some(v.first_bad_seq),
                    "reason": (!v.ok).then_some(&v.reason),
                }))?;
            } else if v.ok {
                output::text(&format!(
                    "audit log intact: {} rows, hash chain verified\n",
                    v.rows
                ))?;
            }
            if !v.ok {
                anyhow::bail!("audit log broken at row {}: {}", v.first_bad_seq, v.reason);
            }
            Ok(())
        }
    }
}
