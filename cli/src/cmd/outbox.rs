//! `commsctl outbox ...`: stage, list, show, edit and cancel outbox items.

use std::path::PathBuf;

use anyhow::Context;
use commsd_proto::v1::{self, item::Content};

use crate::client::{self, Socket, rpc_error};
use crate::output;
use crate::render;

/// Stage messages for approval and look at the outbox.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    #[command(subcommand)]
    Stage(Stage),
    List(ListArgs),
    Show(ShowArgs),
    Edit(EditArgs),
    Cancel(IdArgs),
}

/// Stage an email, SMS or chat message. Nothing is sent until the policy or a human allows it.
#[derive(Debug, clap::Subcommand)]
pub enum Stage {
    #[command(
        after_help = "Examples:\n  commsctl outbox stage email --to 'Jane Roe <jane@example.org>' --subject 'Your appointment' --body 'Dear Jane, ...'\n  commsctl outbox stage email --to jane@example.org --subject Results --body-file letter.txt --html letter.html --attach results.pdf --priority high"
    )]
    Email(EmailArgs),
    #[command(
        after_help = "Example:\n  commsctl outbox stage sms --to +14155550100 --body 'Reminder: your appointment is tomorrow at 9:00'"
    )]
    Sms(SmsArgs),
    #[command(
        after_help = "Example:\n  commsctl outbox stage chat --space spaces/AAAA1234 --text 'Front desk: the 3pm patient is here'"
    )]
    Chat(ChatArgs),
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// The account to send from [default: the default account].
    #[arg(long)]
    account: Option<String>,
    /// Queue priority.
    #[arg(long, value_parser = ["high", "normal", "low"], default_value = "normal")]
    priority: String,
    /// Repeating a stage with the same request id returns the first item instead of a duplicate.
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,
    /// Print the staged item as JSON.
    #[arg(long)]
    json: bool,
}

/// Stage an email.
#[derive(Debug, clap::Args)]
pub struct EmailArgs {
    /// Recipient, e.g. 'Jane Roe <jane@example.org>' (repeatable).
    #[arg(long, required = true)]
    to: Vec<String>,
    #[arg(long)]
    cc: Vec<String>,
    /// Hidden recipients (repeatable).
    #[arg(long)]
    bcc: Vec<String>,
    #[arg(long, default_value = "")]
    subject: String,
    /// The plain-text body.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the plain-text body from a file ("-" for stdin).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// An HTML body from a file; the text part is derived from it when no text is given.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A file to attach (repeatable); commsd copies it at staging time.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// Stage an SMS.
#[derive(Debug, clap::Args)]
pub struct SmsArgs {
    /// The recipient in E.164 form, e.g. +14155550100.
    #[arg(long)]
    to: String,
    #[arg(long)]
    body: String,
    #[command(flatten)]
    common: Common,
}

/// Stage a Google Chat message.
#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The space, e.g. spaces/AAAA1234.
    #[arg(long)]
    space: String,
    #[arg(long)]
    text: String,
    /// Reply in this thread.
    #[arg(long)]
    thread: Option<String>,
    /// Longer than 4,096 characters: post it as numbered parts (at most 10).
    #[arg(long)]
    split: bool,
    #[command(flatten)]
    common: Common,
}

/// List outbox items, high priority and oldest first.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  commsctl outbox list --state pending\n  commsctl outbox list --state sent,failed --channel sms --json"
)]
pub struct ListArgs {
    /// Comma-separated states: draft, pending (pending_approval), approved, sending, sent,
    /// rejected, expired, failed, cancelled, unknown [default: every state].
    #[arg(long)]
    state: Option<String>,
    #[arg(long, value_parser = ["email", "sms", "chat"])]
    channel: Option<String>,
    #[arg(long)]
    account: Option<String>,
    /// Only items staged by this requester, e.g. key:gemini-cli.
    #[arg(long)]
    requester: Option<String>,
    /// Items per page (1-500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Continue after a previous page (its next_cursor).
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Show one item: what will be sent, its state, policy decision and history.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    id: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    id: String,
    #[arg(long)]
    json: bool,
}

/// Change a pending item. A change of content drops any approval.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  commsctl outbox edit ob_7k2m9x4q1z --subject 'Your appointment on Wednesday'"
)]
pub struct EditArgs {
    id: String,
    /// Replace the To recipients (repeatable).
    #[arg(long)]
    to: Vec<String>,
    #[arg(long)]
    subject: Option<String>,
    /// New plain-text body (email) or body (SMS) or text (chat).
    #[arg(long)]
    body: Option<String>,
    #[arg(long, value_parser = ["high", "normal", "low"])]
    priority: Option<String>,
    #[arg(long)]
    json: bool,
}

fn priority(p: &str) -> v1::Priority {
    match p {
        "high" => v1::Priority::High,
        "low" => v1::Priority::Low,
        _ => v1::Priority::Normal,
    }
}

pub fn parse_states(states: &str) -> anyhow::Result<Vec<i32>> {
    states
        .split(',')
        .map(|s| {
            let state = match s.trim() {
                "draft" => v1::State::Draft,
                "pending" | "pending_approval" => v1::State::PendingApproval,
                "approved" => v1::State::Approved,
                "sending" => v1::State::Sending,
                "sent" => v1::State::Sent,
                "rejected" => v1::State::Rejected,
                "expired" => v1::State::Expired,
                "failed" => v1::State::Failed,
                "cancelled" => v1::State::Cancelled,
                "unknown" => v1::State::Unknown,
                other => anyhow::bail!(
                    "--state: unknown state {other:?}; expected draft, pending, approved, sending, sent, rejected, expired, failed, cancelled or unknown"
                ),
            };
            Ok(state as i32)
        })
        .collect()
}

pub fn channel(c: Option<&str>) -> i32 {
    match c {
        Some("email") => v1::Channel::Email as i32,
        Some("sms") => v1::Channel::Sms as i32,
        Some("chat") => v1::Channel::Chat as i32,
        _ => v1::Channel::Unspecified as i32,
    }
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Stage(stage) => self::stage(socket, stage).await,
        Command::List(args) => list(socket, args).await,
        Command::Show(args) => show(socket, args).await,
        Command::Edit(args) => edit(socket, args).await,
        Command::Cancel(args) => cancel(socket, args).await,
    }
}

fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        return std::io::read_to_string(std::io::stdin()).context("cannot read stdin");
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

async fn stage(socket: &Socket, stage: Stage) -> anyhow::Result<()> {
    let (content, common) = match stage {
        Stage::Email(a) => {
            let text = match (&a.body, &a.body_file) {
                (Some(b), _) => Some(b.clone()),
                (None, Some(f)) => Some(read_text(f)?),
                (None, None) => None,
            };
            let html = a.html.as_ref().map(read_text).transpose()?;
            // The daemon reads attachments itself: send absolute paths.
            let attachment_paths = a
                .attach
                .iter()
                .map(|p| {
                    std::path::absolute(p)
                        .map(|p| p.display().to_string())
                        .with_context(|| format!("--attach {}", p.display()))
                })
                .collect::<anyhow::Result<_>>()?;
            let email = v1::StageEmail {
                to: a.to,
                cc: a.cc,
                bcc: a.bcc,
                subject: a.subject,
                text,
                html,
                attachment_paths,
            };
            (v1::stage_request::Content::Email(email), a.common)
        }
        Stage::Sms(a) => (
            v1::stage_request::Content::Sms(v1::SmsContent {
                to: a.to,
                body: a.body,
            }),
            a.common,
        ),
        Stage::Chat(a) => (
            v1::stage_request::Content::Chat(v1::ChatContent {
                space: a.space,
                text: a.text,
                thread: a.thread,
                split: a.split,
            }),
            a.common,
        ),
    };
    let connected = client::connect_or_start(socket).await?;
    let request = v1::StageRequest {
        account: common.account.unwrap_or_default(),
        priority: priority(&common.priority) as i32,
        client_request_id: common.request_id.unwrap_or_default(),
        content: Some(content),
    };
    let response = client::outbox(&connected)
        .stage(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    let item = response.item.context("the daemon returned no item")?;
    // An SMS shows how it goes out: encoding, segments, cost.
    let preview = if item.channel == v1::Channel::Sms as i32 {
        let preview = client::outbox(&connected)
            .preview(v1::ItemRef {
                id: item.id.clone(),
            })
            .await
            .map_err(|s| rpc_error(socket, s))?
            .into_inner();
        Some(preview.text)
    } else {
        None
    };
    if common.json {
        let mut v = render::item_json(&item);
        if let Some(p) = &preview {
            v["preview"] = p.clone().into();
        }
        return output::json(&v);
    }
    let verb = if response.existing {
        "already staged"
    } else {
        "staged"
    };
    let mut text = format!(
        "{verb} {}: {} ({} by {})\n",
        item.id,
        render::state(item.state),
        render::decision(item.decision),
        item.rule
    );
    if let Some(reason) = &item.hold_reason {
        text.push_str(&format!("  on hold: {reason}\n"));
    }
    // Recipients given by name: what was asked and what the approval covers.
    for a in &item.addressing {
        text.push_str(&format!("  By name: {}\n", a.description));
    }
    if let Some(p) = &preview {
        // The header lines only (the body is what was given), the
        // addressing once.
        for line in p
            .lines()
            .take_while(|l| !l.is_empty())
            .filter(|l| !l.starts_with("By name: "))
        {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if item.state == v1::State::PendingApproval as i32 {
        text.push_str(&format!(
            "  approve it with `commsctl approve {}` or at {}/review/{}\n",
            item.id, connected.daemon.dashboard_url, item.id
        ));
    }
    output::text(&text)
}

async fn list(socket: &Socket, args: ListArgs) -> anyhow::Result<()> {
    let states = args
        .state
        .as_deref()
        .map(parse_states)
        .transpose()?
        .unwrap_or_default();
    let connected = client::connect_or_start(socket).await?;
    let request = v1::ListItemsRequest {
        filter: Some(v1::ItemFilter {
            states,
            channel: channel(args.channel.as_deref()),
            account: args.account.unwrap_or_default(),
            requester: args.requester.unwrap_or_default(),
        }),
        limit: args.limit,
        cursor: args.cursor.unwrap_or_default(),
    };
    let page = client::outbox(&connected)
        .list(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if args.json {
        let next = Some(page.next_cursor).filter(|c| !c.is_empty());
        return output::json(&serde_json::json!({
            "items": page.items.iter().map(render::item_json).collect::<Vec<_>>(),
            "nextCursor": next,
        }));
    }
    if page.items.is_empty() {
        return output::text("no items\n");
    }
    let mut text = render::items_table(&page.items);
    if !page.next_cursor.is_empty() {
        text.push_str(&format!("more: --cursor {}\n", page.next_cursor));
    }
    output::text(&text)
}

async fn show(socket: &Socket, args: ShowArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let preview = client::outbox(&connected)
        .preview(v1::ItemRef { id: args.id })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    let item = preview.item.context("the daemon returned no item")?;
    if args.json {
        return output::json(&render::item_json(&item));
    }
    let mut text = format!(
        "{}  {}  {} via {}  priority {}\n",
        item.id,
        render::state(item.state),
        render::channel(item.channel),
        item.account,
        render::priority(item.priority)
    );
    text.push_str(&format!(
        "staged by {} at {}\n",
        item.requester,
        render::rfc3339(item.created_at_unix_ms)
    ));
    text.push_str(&format!(
        "policy: {} ({})\n",
        render::decision(item.decision),
        item.rule
    ));
    if let Some(reason) = &item.hold_reason {
        text.push_str(&format!("on hold: {reason}\n"));
    }
    if let Some(a) = &item.approval {
        text.push_str(&format!(
            "approved by {} at {}\n",
            a.by,
            render::rfc3339(a.at_unix_ms)
        ));
    }
    if let Some(r) = &item.rejection {
        text.push_str(&format!(
            "rejected by {} at {}: {}\n",
            r.by,
            render::rfc3339(r.at_unix_ms),
            r.reason
        ));
    }
    if let Some(d) = &item.delivery {
        text.push_str(&format!(
            "delivered at {}: {}\n",
            render::rfc3339(d.at_unix_ms),
            d.detail
        ));
    }
    if let Some(e) = &item.error {
        text.push_str(&format!("error: {e}\n"));
    }
    text.push_str(&format!("content hash: {}\n\n", item.content_hash));
    text.push_str(&preview.text);
    output::text(&text)
}

async fn edit(socket: &Socket, args: EditArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let current = client::outbox(&connected)
        .get(v1::ItemRef {
            id: args.id.clone(),
        })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    let is_email = matches!(current.content, Some(Content::Email(_)));
    let request = v1::EditRequest {
        id: args.id,
        to: (!args.to.is_empty()).then_some(v1::StringList { values: args.to }),
        cc: None,
        bcc: None,
        subject: args.subject,
        text: if is_email { args.body.clone() } else { None },
        html: None,
        body: if is_email { None } else { args.body },
        priority: args.priority.as_deref().map_or(0, |p| priority(p) as i32),
    };
    let item = client::outbox(&connected)
        .edit(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if args.json {
        return output::json(&render::item_json(&item));
    }
    output::text(&format!(
        "edited {}: {}\n",
        item.id,
        render::state(item.state)
    ))
}

async fn cancel(socket: &Socket, args: IdArgs) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let item = client::outbox(&connected)
        .cancel(v1::ItemRef { id: args.id })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if args.json {
        return output::json(&render::item_json(&item));
    }
    output::text(&format!("cancelled {}\n", item.id))
}
