//! `commsctl contacts ...`: contacts for the human at the terminal, through
//! the daemon's contacts tools (`Tools.Invoke`): the same search,
//! resolution and writes as agents and the API.

use serde_json::{Value, json};

use commsd_proto::v1::{self, contacts_client::ContactsClient, contacts_sync_update::Update};

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::cmd::gmail::invoke;
use crate::output;

/// Search, show, resolve, change and sync contacts.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// People (of a group or an account).
    #[command(
        after_help = "Examples:\n  commsctl contacts list\n  commsctl contacts list --group Patients --account work"
    )]
    List(ListArgs),
    /// Any part of a name, email or phone (accents and punctuation ignored).
    #[command(
        after_help = "Examples:\n  commsctl contacts search 'jose muller'\n  commsctl contacts search 8675309"
    )]
    Search(SearchArgs),
    /// One person: every address, with its account and source.
    Show(ShowArgs),
    /// A name or partial address → one address, the candidates, or nothing.
    #[command(
        after_help = "Examples:\n  commsctl contacts resolve 'John Doe'\n  commsctl contacts resolve 'Ann Lee' --channel sms"
    )]
    Resolve(ResolveArgs),
    /// Create a contact.
    #[command(
        after_help = "Examples:\n  commsctl contacts add --name 'John Doe' --email john@example.com --phone +14155550100 --account work"
    )]
    Add(EditArgs),
    /// Change the fields given; the others keep their value.
    #[command(
        after_help = "Examples:\n  commsctl contacts edit p0123456789abcdef --email john@new.example"
    )]
    Edit(EditArgs),
    /// Delete a saved contact.
    Rm(ShowArgs),
    /// Sync Google contacts now.
    Sync(SyncArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    group: Option<String>,
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    query: String,
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The person's id (`p...`, as search shows it).
    id: String,
    /// The account whose saved contact is meant (rm), when several hold it.
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    query: String,
    /// email (default), sms or chat.
    #[arg(long)]
    channel: Option<String>,
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// The person's id (edit only).
    id: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// Repeatable; replaces the emails.
    #[arg(long)]
    email: Vec<String>,
    /// Repeatable, E.164; replaces the phones.
    #[arg(long)]
    phone: Vec<String>,
    #[arg(long)]
    organization: Option<String>,
    /// Repeatable group name; replaces the memberships.
    #[arg(long)]
    group: Vec<String>,
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[arg(long, env = "COMMSD_ACCOUNT")]
    account: Option<String>,
    #[arg(long)]
    json: bool,
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        v => v,
    }
}

fn people_text(v: &Value) -> String {
    let mut text = String::new();
    for p in v["people"].as_array().into_iter().flatten() {
        text.push_str(&person_line(p));
    }
    if let Some(c) = v["nextCursor"].as_str() {
        text.push_str(&format!("more: --cursor {c}\n"));
    }
    text
}

fn person_line(p: &Value) -> String {
    let list = |k: &str| {
        p[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["value"].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}  {}  {}  {}\n",
        p["id"].as_str().unwrap_or_default(),
        p["name"].as_str().unwrap_or_default(),
        list("emails"),
        list("phones")
    )
}

fn fields(a: &EditArgs) -> Value {
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| json!(v));
    strip_nulls(json!({
        "name": a.name, "emails": some(&a.email), "phones": some(&a.phone),
        "organization": a.organization, "groups": some(&a.group),
    }))
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let (v, as_json, text) = match command {
        Command::List(a) => {
            let v = invoke(socket, "contacts_list", strip_nulls(json!({ "group": a.group, "accountId": a.account, "limit": a.limit, "cursor": a.cursor }))).await?;
            let t = people_text(&v);
            (v, a.json, t)
        }
        Command::Search(a) => {
            let v = invoke(
                socket,
                "contacts_search",
                strip_nulls(json!({ "query": a.query, "accountId": a.account, "limit": a.limit })),
            )
            .await?;
            let t = people_text(&v);
            (v, a.json, t)
        }
        Command::Show(a) => {
            let v = invoke(socket, "contacts_get", json!({ "personId": a.id })).await?;
            let mut t = person_line(&v);
            for kind in ["emails", "phones"] {
                for e in v[kind].as_array().into_iter().flatten() {
                    t.push_str(&format!(
                        "  {} {}{}  ({}, {})\n",
                        e["type"].as_str().unwrap_or_default(),
                        e["value"].as_str().unwrap_or_default(),
                        if e["primary"] == true {
                            " (primary)"
                        } else {
                            ""
                        },
                        e["from"]["source"].as_str().unwrap_or_default(),
                        e["from"]["accountId"].as_str().unwrap_or_default()
                    ));
                }
            }
            (v, a.json, t)
        }
        Command::Resolve(a) => {
            let v = invoke(
                socket,
                "contacts_resolve",
                strip_nulls(
                    json!({ "query": a.query, "channel": a.channel, "accountId": a.account }),
                ),
            )
            .await?;
            let mut t = match v["status"].as_str() {
                Some("resolved") => format!("{}\n", v["description"].as_str().unwrap_or_default()),
                Some("ambiguous") => {
                    "ambiguous: name one of these (an address, or contact:<id>)\n".to_owned()
                }
                _ => "not found\n".to_owned(),
            };
            t.push_str(&crate::render::candidates(&v));
            (v, a.json, t)
        }
        Command::Add(a) => {
            let mut args = fields(&a);
            if let Some(acc) = &a.account {
                args["accountId"] = json!(acc);
            }
            let v = invoke(socket, "contacts_create", args).await?;
            let t = format!("created {}", person_line(&v));
            (v, a.json, t)
        }
        Command::Edit(a) => {
            let id =
                a.id.clone()
                    .ok_or_else(|| anyhow::anyhow!("edit needs the person's id"))?;
            let args =
                strip_nulls(json!({ "personId": id, "accountId": a.account, "patch": fields(&a) }));
            let v = invoke(socket, "contacts_update", args).await?;
            let t = format!("updated {}", person_line(&v));
            (v, a.json, t)
        }
        Command::Rm(a) => {
            let v = invoke(
                socket,
                "contacts_delete",
                strip_nulls(json!({ "personId": a.id, "accountId": a.account })),
            )
            .await?;
            let t = format!(
                "deleted {} from {}\n",
                a.id,
                v["accountId"].as_str().unwrap_or_default()
            );
            (v, a.json, t)
        }
        Command::Sync(a) => {
            let v = sync(socket, a.account).await?;
            let mut t = String::new();
            for acc in v["accounts"].as_array().into_iter().flatten() {
                t.push_str(&format!(
                    "{}:",
                    acc["accountId"].as_str().unwrap_or_default()
                ));
                for (source, r) in acc["sources"].as_object().into_iter().flatten() {
                    if let Some(e) = r["error"]["message"].as_str() {
                        t.push_str(&format!(" {source} not synced: {e};"));
                        continue;
                    }
                    t.push_str(&format!(
                        " {source} {} stored, {} deleted, {} requests{}{};",
                        r["stored"],
                        r["deleted"],
                        r["requests"],
                        if r["full"] == true { " (full)" } else { "" },
                        if r["resumed"] == true {
                            " (resumed)"
                        } else {
                            ""
                        }
                    ));
                }
                t.push('\n');
            }
            t.push_str(&format!("{} people\n", v["people"]));
            (v, a.json, t)
        }
    };
    if as_json {
        return output::json(&v);
    }
    output::text(&text)
}

/// `Contacts.Sync`: one line on stderr per stored page (stdout keeps only
/// the result, so `--json` stays parseable), then the summary.
async fn sync(socket: &Socket, account: Option<String>) -> anyhow::Result<Value> {
    let connected = client::connect_or_start(socket).await?;
    let mut contacts =
        ContactsClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    let mut stream = contacts
        .sync(v1::ContactsSyncRequest {
            account: account.unwrap_or_default(),
        })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    eprintln!("syncing contacts...");
    while let Some(update) = stream.message().await.map_err(|s| rpc_error(socket, s))? {
        match update.update {
            Some(Update::Progress(p)) => eprintln!("{}", progress_line(&p)),
            Some(Update::SummaryJson(j)) => {
                return serde_json::from_str(&j)
                    .map_err(|e| anyhow::anyhow!("the daemon's sync summary is not JSON: {e}"));
            }
            None => {}
        }
    }
    anyhow::bail!("the daemon ended the contacts sync without a summary")
}

/// "ada@x: saved page 3, 1500 of 2500 stored"; a run that went on after an
/// interruption counts from where it resumed: "ada@x: saved page 1 after
/// resuming, 500 more stored (the source holds 2500)".
fn progress_line(p: &v1::ContactsSyncProgress) -> String {
    let deleted = if p.deleted > 0 {
        format!(", {} deleted", p.deleted)
    } else {
        String::new()
    };
    if p.resumed {
        let holds = p
            .total
            .map(|t| format!(" (the source holds {t})"))
            .unwrap_or_default();
        return format!(
            "{}: {} page {} after resuming, {} more stored{deleted}{holds}",
            p.account, p.source, p.page, p.stored
        );
    }
    let of = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
    format!(
        "{}: {} page {}, {}{of} stored{deleted}",
        p.account, p.source, p.page, p.stored
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: u32, stored: u64, total: Option<u64>, resumed: bool) -> v1::ContactsSyncProgress {
        v1::ContactsSyncProgress {
            account: "ada@practice.example".into(),
            source: "saved".into(),
            page,
            stored,
            deleted: 0,
            total,
            resumed,
        }
    }

    #[test]
    fn progress_lines_count_from_where_a_run_resumed() {
        assert_eq!(
            progress_line(&page(3, 1500, Some(2500), false)),
            "ada@practice.example: saved page 3, 1500 of 2500 stored"
        );
        assert_eq!(
            progress_line(&page(1, 500, Some(2500), true)),
            "ada@practice.example: saved page 1 after resuming, 500 more stored (the source holds 2500)"
        );
        let mut p = page(2, 7, None, false);
        p.deleted = 2;
        assert_eq!(
            progress_line(&p),
            "ada@practice.example: saved page 2, 7 stored, 2 deleted"
        );
    }

    #[test]
    fn candidates_list_each_address_and_drop_control_characters() {
        let resolution = json!({ "candidates": [
            { "personId": "p1", "name": "Sam\u{1b}[31m Taylor", "addresses": [
                { "value": "sam@a.example", "source": "saved", "account": "work account" },
                { "value": "sam@b.example", "source": "other", "account": "work account" },
            ]},
            { "personId": "p2", "name": "Sam Taylor", "addresses": [
                { "value": "st@c.example", "source": "local", "account": "sandbox account" },
            ]},
        ]});
        assert_eq!(
            crate::render::candidates(&resolution),
            "  contact:p1  Sam[31m Taylor  sam@a.example  (saved, work account)\n\
             \x20 contact:p1  Sam[31m Taylor  sam@b.example  (other, work account)\n\
             \x20 contact:p2  Sam Taylor  st@c.example  (local, sandbox account)\n"
        );
        assert_eq!(crate::render::candidates(&json!({})), "");
    }
}
