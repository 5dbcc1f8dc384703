//! `commsctl approve` and `commsctl reject`: the human's decisions.

use commsd_proto::v1::{self, batch_result::Outcome};

use crate::client::{self, Socket, rpc_error};
use crate::output;
use crate::render;

/// Approve items for sending (only a human can: agents never hold this power).
///
/// An approval covers the exact content: an edit afterwards needs a new approval.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  commsctl approve ob_7k2m9x4q1z\n  commsctl approve --all-pending --channel sms"
)]
pub struct ApproveArgs {
    /// Item ids.
    #[arg(
        required_unless_present = "all_pending",
        conflicts_with = "all_pending"
    )]
    ids: Vec<String>,
    /// Approve every item waiting for approval (optionally of one channel or account).
    #[arg(long)]
    all_pending: bool,
    #[arg(long, requires = "all_pending", value_parser = ["email", "sms", "chat"])]
    channel: Option<String>,
    #[arg(long, requires = "all_pending")]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Reject items with a reason; nothing is sent.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  commsctl reject ob_7k2m9x4q1z --reason 'Wrong patient'")]
pub struct RejectArgs {
    #[arg(required = true)]
    ids: Vec<String>,
    /// Why (recorded in the audit log and shown to the requester).
    #[arg(long)]
    reason: String,
    #[arg(long)]
    json: bool,
}

fn pending_filter(channel: Option<&str>, account: Option<String>) -> v1::ItemFilter {
    v1::ItemFilter {
        states: vec![v1::State::PendingApproval as i32],
        channel: crate::cmd::outbox::channel(channel),
        account: account.unwrap_or_default(),
        requester: String::new(),
    }
}

pub async fn approve(socket: &Socket, args: ApproveArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let request = v1::ApproveRequest {
        matching: args
            .all_pending
            .then(|| pending_filter(args.channel.as_deref(), args.account)),
        ids: args.ids,
    };
    let response = client::outbox(&connected)
        .approve(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    report(response, "approved", args.json)
}

pub async fn reject(socket: &Socket, args: RejectArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let request = v1::RejectRequest {
        ids: args.ids,
        matching: None,
        reason: args.reason,
    };
    let response = client::outbox(&connected)
        .reject(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    report(response, "rejected", args.json)
}

/// Prints each outcome; fails (exit 2) when any item failed.
fn report(response: v1::BatchResponse, verb: &str, json: bool) -> anyhow::Result<()> {
    let failed = response
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Some(Outcome::Error(_))))
        .count();
    if json {
        let results: Vec<_> = response
            .results
            .iter()
            .map(|r| match &r.outcome {
                Some(Outcome::Item(i)) => serde_json::json!({ "id": r.id, "ok": true, "item": render::item_json(i) }),
                Some(Outcome::Error(e)) => serde_json::json!({
                    "id": r.id, "ok": false,
                    "error": { "code": e.code, "message": e.message,
                               "details": serde_json::from_str::<serde_json::Value>(&e.details_json).unwrap_or_default() },
                }),
                None => serde_json::json!({ "id": r.id, "ok": false }),
            })
            .collect();
        output::json(&serde_json::json!({ "results": results }))?;
    } else {
        let mut text = String::new();
        for r in &response.results {
            match &r.outcome {
                Some(Outcome::Item(i)) => {
                    text.push_str(&format!("{verb} {}: {}\n", i.id, render::state(i.state)))
                }
                Some(Outcome::Error(e)) => text.push_str(&format!(
                    "not {verb} {}: {} [{}]\n",
                    r.id, e.message, e.code
                )),
                None => {}
            }
        }
        if response.results.is_empty() {
            text.push_str("nothing matched\n");
        }
        output::text(&text)?;
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} items were not {verb}",
            response.results.len()
        );
    }
    Ok(())
}
