//! `commsctl status`: is the daemon running, which version, where it listens.
//! Never starts the daemon.

use std::collections::BTreeMap;

use commsd_proto::v1::StatusResponse;
use serde::Serialize;

use crate::client::{self, Socket};
use crate::output;

/// Show whether commsd is running, its version, pid, uptime and listeners.
///
/// Exits 0 when the daemon runs and 3 when it does not (with a hint on
/// stderr). Never starts the daemon.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  commsctl status\n  commsctl status --json | jq .api_url")]
pub struct Args {
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The `--json` shape; field names are a stable interface for scripts.
#[derive(Debug, Serialize)]
pub struct StatusJson {
    running: bool,
    version: String,
    protocol: u32,
    pid: u32,
    uptime_s: u64,
    started_at_unix_ms: i64,
    socket: String,
    data_dir: String,
    config: Option<String>,
    dashboard_url: String,
    api_url: String,
    webhook_url: String,
    counts: BTreeMap<String, u64>,
    warnings: Vec<String>,
}

impl From<StatusResponse> for StatusJson {
    fn from(s: StatusResponse) -> Self {
        StatusJson {
            running: true,
            version: s.version,
            protocol: s.protocol,
            pid: s.pid,
            uptime_s: s.uptime_ms / 1000,
            started_at_unix_ms: s.started_at_unix_ms,
            socket: s.socket,
            data_dir: s.data_dir,
            config: Some(s.config_path).filter(|p| !p.is_empty()),
            dashboard_url: s.dashboard_url,
            api_url: s.api_url,
            webhook_url: s.webhook_url,
            counts: s.counts.into_iter().collect(),
            warnings: s.warnings,
        }
    }
}

pub async fn execute(socket: &Socket, args: Args) -> anyhow::Result<()> {
    let status = client::connect(socket).await?.daemon;
    if args.json {
        return output::json(&StatusJson::from(status));
    }
    let mut text = render(&status);
    for warning in &status.warnings {
        text.push_str(&format!("  warning    {warning}\n"));
    }
    output::text(&text)
}

fn render(s: &StatusResponse) -> String {
    let config = if s.config_path.is_empty() {
        "(none: embedded default)".to_owned()
    } else {
        s.config_path.clone()
    };
    let counts: BTreeMap<_, _> = s.counts.iter().collect();
    let daemon_counts = counts
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("outbox_") && !k.starts_with("gmail_") && !k.starts_with("inbox_")
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ");
    let outbox = counts
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("outbox_")?, **v)))
        .filter(|(_, v)| *v > 0)
        .map(|(state, v)| format!("{v} {}", state.replace('_', " ")))
        .collect::<Vec<_>>();
    let outbox = if outbox.is_empty() {
        "empty".to_owned()
    } else {
        outbox.join(", ")
    };
    format!(
        "commsd {} is running (pid {}, up {}, protocol {})\n\
         \x20 socket     {}\n\
         \x20 data dir   {}\n\
         \x20 config     {}\n\
         \x20 dashboard  {}\n\
         \x20 api        {}\n\
         \x20 webhooks   {}\n\
         \x20 outbox     {}\n\
         {}\
         {}\
         \x20 counts     {}\n",
        s.version,
        s.pid,
        output::duration_ms(s.uptime_ms),
        s.protocol,
        s.socket,
        s.data_dir,
        config,
        s.dashboard_url,
        s.api_url,
        s.webhook_url,
        outbox,
        gmail_line(&counts),
        inbox_line(&counts),
        daemon_counts
    )
}

/// The unified inbox, once it holds messages or a source fails: size,
/// messages per account, each source's last sync.
fn inbox_line(counts: &BTreeMap<&String, &u64>) -> String {
    let total = counts.get(&"inbox_messages".to_owned()).map_or(0, |v| **v);
    let failing: Vec<&str> = counts
        .keys()
        .filter_map(|k| k.strip_prefix("inbox_failing:"))
        .collect();
    if total == 0 && failing.is_empty() {
        return String::new();
    }
    let kb = counts.get(&"inbox_bytes".to_owned()).map_or(0, |v| **v) / 1024;
    let per: Vec<String> = counts
        .iter()
        .filter_map(|(k, v)| Some(format!("{} {v}", k.strip_prefix("inbox_messages:")?)))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let synced: Vec<String> = counts
        .iter()
        .filter_map(|(k, v)| {
            let which = k.strip_prefix("inbox_synced:")?.replacen(':', "/", 1);
            Some(format!("{which} {}s ago", now.saturating_sub(**v)))
        })
        .collect();
    let mut line = format!("  inbox      {total} messages, {kb} KB");
    if !per.is_empty() {
        line.push_str(&format!(" ({})", per.join(", ")));
    }
    if !synced.is_empty() {
        line.push_str(&format!("; synced {}", synced.join(", ")));
    }
    if !failing.is_empty() {
        let failing: Vec<String> = failing.iter().map(|f| f.replacen(':', "/", 1)).collect();
        line.push_str(&format!(
            "; failing {} (see the dashboard's status)",
            failing.join(", ")
        ));
    }
    line.push('\n');
    line
}

/// The Gmail cache and quota counters, when the daemon has Gmail.
fn gmail_line(counts: &BTreeMap<&String, &u64>) -> String {
    let n = |k: &str| counts.get(&k.to_owned()).map_or(0, |v| **v);
    if !counts.keys().any(|k| k.starts_with("gmail_")) {
        return String::new();
    }
    format!(
        "  gmail      {} cache hits, {} misses, {} upstream requests, {} quota units, {} requests saved\n",
        n("gmail_cache_hits"),
        n("gmail_cache_misses"),
        n("gmail_upstream_requests"),
        n("gmail_quota_units"),
        n("gmail_requests_saved"),
    )
}
