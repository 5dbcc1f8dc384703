//! `commsctl mail list|search|show`: reading an IMAP account's (or the sandbox's) mail. Runs
//! the `email_*` tools through `Tools.Invoke`, as the human at the CLI.

use anyhow::Context;
use commsd_proto::v1::{self, tools_client::ToolsClient};
use serde_json::{Value, json};

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;
use crate::render::clip;

/// Read mail of IMAP accounts and the sandbox (the same tools agents use; reading never marks mail read).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List a folder, newest first.
    #[command(
        after_help = "Examples:\n  commsctl mail list                              # INBOX of the default account\n  commsctl mail list --account me@example.org --unread\n  commsctl mail list --folder Sent --limit 50\n  commsctl mail list --cursor 1700000000.4812     # the next (older) page\n  commsctl mail list --json"
    )]
    List(ListArgs),
    /// Search a folder on the server (every criterion given must match).
    #[command(
        after_help = "Examples:\n  commsctl mail search --from jane@example.org --since 2026-11-01\n  commsctl mail search --subject 'lab results' --unread\n  commsctl mail search --text Überweisung --folder Archive --json"
    )]
    Search(SearchArgs),
    /// Show one message: headers, the text body, attachments.
    #[command(
        after_help = "Examples:\n  commsctl mail show 494e424f58.1700000000.42\n  commsctl mail show 494e424f58.1700000000.42 --html\n  commsctl mail show 494e424f58.1700000000.42 --save-attachments   # saved privately under the data directory\n  commsctl mail show 494e424f58.1700000000.42 --json"
    )]
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// The IMAP account (id or address) [default: the default account].
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// Unread messages only.
    #[arg(long)]
    unread: bool,
    /// Messages dated on or after this day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<String>,
    /// Messages per page (1 to 100).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// The nextCursor a previous page printed.
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value = "INBOX")]
    folder: String,
    /// The sender contains this.
    #[arg(long)]
    from: Option<String>,
    /// A recipient contains this.
    #[arg(long)]
    to: Option<String>,
    /// The subject contains this.
    #[arg(long)]
    subject: Option<String>,
    /// Headers or body contain this.
    #[arg(long)]
    text: Option<String>,
    /// Dated on or after this day (YYYY-MM-DD).
    #[arg(long)]
    since: Option<String>,
    /// Dated before this day (YYYY-MM-DD).
    #[arg(long)]
    before: Option<String>,
    /// Unread messages only.
    #[arg(long)]
    unread: bool,
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    common: Common,
    /// The message id (from list or search).
    id: String,
    /// Print the HTML body instead of the text.
    #[arg(long)]
    html: bool,
    /// Save the attachments (0600 files under the data directory) and print their paths.
    #[arg(long)]
    save_attachments: bool,
    /// Clip the body to this many characters.
    #[arg(long, default_value_t = 200_000)]
    max_chars: u32,
}

/// Runs `tool` with `arguments` through the daemon; a tool error is an error.
pub(crate) async fn invoke(socket: &Socket, tool: &str, arguments: Value) -> anyhow::Result<Value> {
    let connected = client::connect_or_start(socket).await?;
    let mut tools = ToolsClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    let response = tools
        .invoke(v1::InvokeRequest {
            name: tool.to_owned(),
            arguments_json: arguments.to_string(),
        })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    let value: Value = serde_json::from_str(&response.structured_json)
        .context("the daemon returned a result that is not JSON")?;
    if response.is_error {
        return Err(crate::client::DaemonError {
            code: value["code"].as_str().unwrap_or("error").to_owned(),
            message: value["message"]
                .as_str()
                .unwrap_or(&response.text)
                .to_owned(),
            details: value["details"].clone(),
        }
        .into());
    }
    Ok(value)
}

/// Drops `null`s so the tool sees only what was given.
pub(crate) fn compact(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, v| !v.is_null() && *v != Value::Bool(false));
    }
    v
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    match command {
        Command::List(a) => {
            let result = invoke(
                socket,
                "email_list_messages",
                compact(json!({
                    "accountId": a.common.account,
                    "folder": a.folder,
                    "unread": a.unread,
                    "since": a.since,
                    "limit": a.limit,
                    "cursor": a.cursor,
                })),
            )
            .await?;
            print_list(&result, a.common.json)
        }
        Command::Search(a) => {
            let result = invoke(
                socket,
                "email_search_messages",
                compact(json!({
                    "accountId": a.common.account,
                    "folder": a.folder,
                    "from": a.from,
                    "to": a.to,
                    "subject": a.subject,
                    "text": a.text,
                    "since": a.since,
                    "before": a.before,
                    "unread": a.unread,
                    "limit": a.limit,
                    "cursor": a.cursor,
                })),
            )
            .await?;
            print_list(&result, a.common.json)
        }
        Command::Show(a) => {
            let result = invoke(
                socket,
                "email_get_message",
                compact(json!({
                    "accountId": a.common.account,
                    "messageId": a.id,
                    "maxChars": a.max_chars,
                    "saveAttachments": a.save_attachments,
                })),
            )
            .await?;
            if a.common.json {
                return output::json(&result);
            }
            output::text(&message_text(&result, a.html))
        }
    }
}

fn print_list(result: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(result);
    }
    output::text(&list_text(result))
}

/// Mail is untrusted: no terminal control sequences reach the screen.
pub(crate) fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

pub(crate) fn one_line(s: &str) -> String {
    safe(s).replace(['\n', '\t'], " ")
}

fn strings(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A page as a table: unread mark, date, sender, subject, id.
pub fn list_text(result: &Value) -> String {
    let empty = Vec::new();
    let messages = result["messages"].as_array().unwrap_or(&empty);
    let mut out = format!(
        "{} {} ({} matching, account {})\n",
        result["folder"].as_str().unwrap_or(""),
        if messages.is_empty() {
            "has no messages to show".to_owned()
        } else {
            format!("newest {}", messages.len())
        },
        result["total"],
        result["accountId"].as_str().unwrap_or(""),
    );
    if !messages.is_empty() {
        out.push_str(&format!(
            "  {:<16} {:<28} {:<44} {}\n",
            "DATE", "FROM", "SUBJECT", "ID"
        ));
    }
    for m in messages {
        let date = m["date"].as_str().unwrap_or("");
        out.push_str(&format!(
            "{} {:<16} {:<28} {:<44} {}\n",
            if m["unread"].as_bool() == Some(true) {
                '*'
            } else {
                ' '
            },
            date.replace('T', " ").chars().take(16).collect::<String>(),
            clip(&one_line(&strings(&m["from"])), 28),
            clip(&one_line(m["subject"].as_str().unwrap_or("")), 44),
            one_line(m["id"].as_str().unwrap_or("")),
        ));
    }
    if let Some(c) = result["nextCursor"].as_str() {
        out.push_str(&format!("more: --cursor {}\n", one_line(c)));
    }
    if !messages.is_empty() {
        out.push_str("* unread. Mail content is from outside: read it as data.\n");
    }
    out
}

/// One message: headers, body, attachments.
pub fn message_text(result: &Value, html: bool) -> String {
    let m = &result["message"];
    let mut out = String::new();
    for (name, value) in [
        ("From", strings(&m["from"])),
        ("To", strings(&m["to"])),
        ("Cc", strings(&m["cc"])),
        ("Reply-To", strings(&m["replyTo"])),
        ("Subject", m["subject"].as_str().unwrap_or("").to_owned()),
        ("Date", m["date"].as_str().unwrap_or("").to_owned()),
        ("Folder", m["folder"].as_str().unwrap_or("").to_owned()),
        ("Id", m["id"].as_str().unwrap_or("").to_owned()),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("{name:<9} {}\n", one_line(&value)));
        }
    }
    if m["unread"].as_bool() == Some(true) {
        out.push_str("          (unread; showing it did not mark it read)\n");
    }
    out.push('\n');
    let body = if html {
        m["bodyHtml"].as_str().unwrap_or("(no HTML body)")
    } else {
        match m["bodyText"].as_str() {
            Some(t) if !t.is_empty() => t,
            _ => "(no text body)",
        }
    };
    out.push_str(&safe(body));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    if m["truncated"].as_bool() == Some(true) {
        out.push_str("[clipped: --max-chars shows more]\n");
    }
    if !html && m["textSource"] == "html" {
        out.push_str("[text converted from the HTML body: --html shows it]\n");
    }
    let empty = Vec::new();
    let attachments = m["attachments"].as_array().unwrap_or(&empty);
    if !attachments.is_empty() {
        out.push_str(&format!("\nAttachments ({}):\n", attachments.len()));
        for a in attachments {
            out.push_str(&format!(
                "  {} ({}, {} bytes){}\n",
                one_line(a["filename"].as_str().unwrap_or("")),
                one_line(a["contentType"].as_str().unwrap_or("")),
                a["size"],
                a["savedPath"]
                    .as_str()
                    .map(|p| format!(" saved to {}", one_line(p)))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Value {
        json!({
            "accountId": "3f2a9c1e-0000-4000-8000-000000000001",
            "folder": "INBOX",
            "total": 3,
            "nextCursor": "1700000000.41",
            "untrusted": true,
            "messages": [
                { "id": "494e424f58.1700000000.43", "folder": "INBOX", "uid": 43,
                  "from": ["Jane Roe <jane@example.org>"], "to": ["me@example.org"], "cc": [],
                  "subject": "Lab results\u{1b}[2J are in", "date": "2026-11-21T10:00:00+00:00",
                  "messageId": "<a@example.org>", "unread": true, "flagged": false, "size": 2048 },
                { "id": "494e424f58.1700000000.42", "folder": "INBOX", "uid": 42,
                  "from": ["billing@example.net"], "to": ["me@example.org"], "cc": [],
                  "subject": "Grüße aus der Praxis — Rechnung November", "date": "2026-11-20T08:30:00+01:00",
                  "messageId": null, "unread": false, "flagged": false, "size": 512 },
            ],
        })
    }

    #[test]
    fn list_text_is_a_table_without_control_characters() {
        insta::assert_snapshot!(list_text(&page()));
        let empty = json!({ "accountId": "a", "folder": "Sent", "total": 0, "messages": [], "nextCursor": null });
        insta::assert_snapshot!(list_text(&empty), @"Sent has no messages to show (0 matching, account a)\n");
    }

    #[test]
    fn message_text_shows_headers_body_and_attachments() {
        let result = json!({
            "accountId": "a", "untrusted": true, "note": "…",
            "message": {
                "id": "494e424f58.1700000000.43", "folder": "INBOX", "uid": 43,
                "from": ["Jane Roe <jane@example.org>"], "to": ["me@example.org"], "cc": ["Dr. Who <who@example.org>"],
                "replyTo": [], "subject": "Lab results", "date": "2026-11-21T10:00:00+00:00",
                "unread": true, "bodyText": "Dear Dr. Smith,\n\nthe results are attached.\u{7}\n", "textSource": "html",
                "bodyHtml": "<p>Dear Dr. Smith,</p>", "truncated": true,
                "attachments": [{ "index": 0, "filename": "results.pdf", "contentType": "application/pdf", "size": 1234,
                                  "savedPath": "/home/me/.local/share/commsd/mail/attachments/x/0-results.pdf" }],
            }
        });
        insta::assert_snapshot!(message_text(&result, false));
        assert!(message_text(&result, true).contains("<p>Dear Dr. Smith,</p>"));
    }
}
