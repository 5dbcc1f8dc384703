//! The MCP resources (design.md §11): accounts, the pending queue, cache
//! statistics and the newest mail.

use serde_json::{Value, json};

use super::{
    RESOURCE_ACCOUNTS, RESOURCE_CACHE_STATS, RESOURCE_INBOX, RESOURCE_MAIL_INBOX,
    RESOURCE_OUTBOX_PENDING, RESOURCE_SMS_INBOX, Tools, UnknownTool, brief,
};
use crate::auth::Caller;
use crate::error::Error;
use crate::outbox::model::State;
use crate::outbox::request::ListFilter;

/// How many messages per account `commsd://mail/inbox` holds; more through
/// `email_list_messages`.
const MAIL_INBOX_LIMIT: u64 = 10;
/// How many messages `commsd://inbox` holds; more through `inbox_list`.
const INBOX_LIMIT: u64 = 20;

impl Tools {
    /// Reads one of the resources of design.md §11.
    pub async fn read_resource(&self, caller: &Caller, uri: &str) -> Result<Value, Error> {
        match uri {
            RESOURCE_ACCOUNTS => {
                caller.require(crate::auth::Grant::Read, "read accounts")?;
                Ok(json!({ "accounts": self.outbox.accounts().list() }))
            }
            RESOURCE_OUTBOX_PENDING => {
                let filter = ListFilter {
                    states: vec![State::Draft, State::PendingApproval],
                    ..ListFilter::default()
                };
                let page = self.outbox.list(caller, filter, None, 100).await?;
                Ok(json!({
                    "items": page.items.iter().map(brief).collect::<Vec<_>>(),
                    "truncated": page.next_cursor.is_some(),
                    "reviewUrl": format!("{}/review", self.dashboard_url),
                }))
            }
            RESOURCE_CACHE_STATS => {
                caller.require(crate::auth::Grant::Read, "read cache statistics")?;
                let providers: serde_json::Map<String, Value> = self
                    .providers
                    .iter()
                    .filter_map(|p| p.cache_stats())
                    .map(|(name, stats)| (name.to_owned(), stats))
                    .collect();
                Ok(json!({
                    "providers": providers,
                    "outbox": self.outbox.counts(),
                }))
            }
            RESOURCE_INBOX => {
                caller.require(crate::auth::Grant::Read, "read the inbox")?;
                let listed = match self
                    .invoke(caller, "inbox_list", json!({ "limit": INBOX_LIMIT }))
                    .await
                {
                    Ok(outcome) if !outcome.is_error => outcome.structured,
                    Ok(outcome) => {
                        return Err(Error::internal(
                            "inbox resource",
                            outcome.structured["message"].to_string(),
                        ));
                    }
                    Err(UnknownTool(name)) => {
                        return Err(Error::internal(
                            "inbox resource",
                            format!("{name} is not in the catalog"),
                        ));
                    }
                };
                Ok(json!({
                    "messages": listed["messages"],
                    "more": "inbox_list with nextCursor pages on; inbox_search finds older messages",
                    "untrusted": true,
                }))
            }
            RESOURCE_MAIL_INBOX | RESOURCE_SMS_INBOX => {
                let sms = uri == RESOURCE_SMS_INBOX;
                caller.require(
                    crate::auth::Grant::Read,
                    if sms {
                        "read text messages"
                    } else {
                        "read mail"
                    },
                )?;
                let mut accounts = Vec::new();
                for account in self.outbox.accounts().list() {
                    use crate::accounts::Kind;
                    let kinds: &[Kind] = if sms {
                        &[Kind::Twilio, Kind::Sandbox]
                    } else {
                        &[Kind::Imap, Kind::Sandbox]
                    };
                    if !kinds.contains(&account.kind) {
                        continue;
                    }
                    let (tool, args) = if sms {
                        let args = json!({ "accountId": account.id, "limit": MAIL_INBOX_LIMIT });
                        ("sms_list_messages", args)
                    } else {
                        let args = json!({ "accountId": account.id, "folder": "INBOX", "limit": MAIL_INBOX_LIMIT });
                        ("email_list_messages", args)
                    };
                    let inbox = match self.invoke(caller, tool, args).await {
                        Ok(outcome) if !outcome.is_error => outcome.structured,
                        // One account's server being down does not hide the others.
                        Ok(outcome) => {
                            json!({ "accountId": account.id, "error": outcome.structured["error"] })
                        }
                        Err(UnknownTool(name)) => {
                            return Err(Error::internal(
                                "mail resource",
                                format!("{name} is not in the catalog"),
                            ));
                        }
                    };
                    accounts.push(inbox);
                }
                let more = if sms {
                    "sms_list_messages with a cursor pages on; sms_get_thread reads one conversation"
                } else {
                    "email_list_messages with a cursor pages on; Gmail accounts: gmail_search_messages"
                };
                Ok(json!({
                    "accounts": accounts,
                    "perAccount": MAIL_INBOX_LIMIT,
                    "more": more,
                    "untrusted": true,
                }))
            }
            other => Err(Error::new(
                crate::error::Code::NotFound,
                format!("resource {other} does not exist"),
            )
            .with_details(json!({ "uri": other }))),
        }
    }
}
