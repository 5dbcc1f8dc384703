//! The outbox's own tools: staging (email, SMS, chat), listing, reading and
//! cancelling items, and the stage result every staging tool shares.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Outcome, PendingApproval, ToolDef, ToolProvider, args, schemas};
use crate::auth::Caller;
use crate::error::Error;
use crate::outbox::item::Item;
use crate::outbox::model::{Content, State};
use crate::outbox::request::{ChatStage, EmailStage, SmsStage, list_filter, list_limit};
use crate::outbox::service::{Outbox, StageRequest};
use crate::outbox::view::ItemView;

/// The outbox's own tools (and the account listing), in listing order.
pub const CORE: &[ToolDef] = &[
    ToolDef {
        name: "email_stage",
        title: "Stage an email",
        toolset: "email",
        description: "Stage an email in the outbox; nothing is sent now. The send policy decides; usually a human approves it (in this client when it can ask, else at reviewUrl). Returns the item, a preview and what happens next.",
        input: schemas::email_stage,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "outbox_list",
        title: "List outbox items",
        toolset: "outbox",
        description: "List outbox items in queue order; filter by state, channel, account or mine; page with cursor.",
        input: schemas::outbox_list,
        output: schemas::item_page,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "outbox_get",
        title: "Get an outbox item",
        toolset: "outbox",
        description: "One outbox item: content, policy decision, approval, delivery.",
        input: schemas::item_id,
        output: schemas::item_result,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "outbox_cancel",
        title: "Cancel an outbox item",
        toolset: "outbox",
        description: "Cancel an item you staged before it starts sending. Cannot be undone. Only a human approves: no tool does.",
        input: schemas::item_id,
        output: schemas::item_result,
        read_only: false,
        destructive: true,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "chat_send_message",
        title: "Stage a Google Chat message",
        toolset: "chat",
        description: "Stage a Google Chat message in the outbox; nothing is sent now. It leaves when the send policy or a human allows it.",
        input: schemas::chat_send_message,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
    ToolDef {
        name: "sms_send",
        title: "Stage an SMS",
        toolset: "sms",
        description: "Stage an SMS in the outbox; nothing is sent now. It leaves when the send policy or a human allows it.",
        input: schemas::sms_send,
        output: schemas::staged,
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    },
];

/// The outbox's tools: staging, listing, reading and cancelling items.
pub(super) struct CoreTools {
    pub(super) outbox: Arc<Outbox>,
    pub(super) dashboard_url: String,
}

#[async_trait::async_trait]
impl ToolProvider for CoreTools {
    fn tools(&self) -> &'static [ToolDef] {
        CORE
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        match name {
            "email_stage" => self.stage(caller, email_request(arguments)).await,
            "sms_send" => self.stage(caller, sms_request(arguments)).await,
            "chat_send_message" => self.stage(caller, chat_request(arguments)).await,
            "outbox_list" => self.outbox_list(caller, arguments).await,
            "outbox_get" => self.outbox_get(caller, arguments).await,
            "outbox_cancel" => self.outbox_cancel(caller, arguments).await,
            other => Err(Error::new(
                crate::error::Code::NotFound,
                format!("tool {other} is not an outbox tool"),
            )),
        }
    }
}

impl CoreTools {
    async fn stage(
        &self,
        caller: &Caller,
        request: Result<StageRequest, Error>,
    ) -> Result<Outcome, Error> {
        let staged = self.outbox.stage(caller, request?).await?;
        Ok(staged_outcome(
            &self.dashboard_url,
            caller,
            &staged.item,
            staged.existing,
        ))
    }

    async fn outbox_list(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: ListArgs = args(arguments)?;
        let requester = a.mine.unwrap_or(false).then(|| caller.actor.clone());
        let filter = list_filter(
            &a.state,
            a.channel.as_deref(),
            a.account_id.as_deref(),
            requester,
        )?;
        let limit = list_limit(a.limit.map(|l| l.to_string()).as_deref())?;
        let page = self
            .outbox
            .list(caller, filter, a.cursor.as_deref(), limit)
            .await?;
        Ok(Outcome::ok(json!({
            "items": page.items.iter().map(brief).collect::<Vec<_>>(),
            "nextCursor": page.next_cursor,
        })))
    }

    async fn outbox_get(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: IdArgs = args(arguments)?;
        let item = self.outbox.get(caller, &a.item_id).await?;
        Ok(Outcome::ok(json!({ "item": ItemView::from(&item) })))
    }

    async fn outbox_cancel(&self, caller: &Caller, arguments: &Value) -> Result<Outcome, Error> {
        let a: IdArgs = args(arguments)?;
        let item = self.outbox.cancel(caller, &a.item_id).await?;
        Ok(Outcome::ok(json!({ "item": ItemView::from(&item) })))
    }
}

/// The result of a tool that staged `item` for `caller`: the item in brief,
/// its preview and what happens next, with the approval request when it
/// waits for a human (so MCP clients that can ask, ask). There is no
/// approval request when the caller's client cannot speak for a human
/// (`Caller::require_consent_relay`): then nobody is asked, and `next` says
/// that the item waits for a human in the dashboard, and why. Shared by
/// every staging tool.
pub fn staged_outcome(
    dashboard_url: &str,
    caller: &Caller,
    item: &Item,
    existing: bool,
) -> Outcome {
    let mut structured = staged_json(dashboard_url, item, existing);
    let mut approval = None;
    if item.state == State::PendingApproval {
        match caller.require_consent_relay() {
            Ok(()) => {
                approval = Some(PendingApproval {
                    item_id: item.id.clone(),
                    summary: approval_summary(item),
                    review_url: review_url(dashboard_url, &item.id),
                });
            }
            Err(_) => {
                structured["next"] = json!(format!(
                    "Waiting for a human's approval ({}) in the dashboard ({}) or with `commsctl approve {}`; nothing is sent before that. Your client was not asked to approve it: over HTTP it answers for the holder of {}, not for a human, and {} lacks the `admin` grant. Do not stage it again.",
                    item.rule,
                    review_url(dashboard_url, &item.id),
                    item.id,
                    caller.via,
                    caller.actor
                ));
            }
        }
    }
    let mut outcome = Outcome::ok(structured);
    outcome.approval = approval;
    outcome
}

fn review_url(dashboard_url: &str, id: &str) -> String {
    format!("{dashboard_url}/review/{id}")
}

/// The output of the stage tools: the item in brief, its preview and
/// what happens next.
pub(super) fn staged_json(dashboard_url: &str, item: &Item, existing: bool) -> Value {
    let next = match item.state {
        State::PendingApproval => format!(
            "Waiting for a human's approval ({}). It stays pending until a human approves it in the dashboard ({}) or with `commsctl approve {}`; nothing is sent before that. Do not stage it again.",
            item.rule,
            review_url(dashboard_url, &item.id),
            item.id
        ),
        State::Draft => format!(
            "A draft: the policy ({}) lets you confirm it after checking the preview; a human may also approve it.",
            item.rule
        ),
        State::Approved => match &item.approval {
            Some(a) => format!(
                "Approved by {}; it is sent after the hold window unless someone cancels it.",
                a.by
            ),
            None => "Approved; it is sent after the hold window.".to_owned(),
        },
        other => format!("The item is {}.", other.as_str()),
    };
    json!({
        "item": brief(item),
        "existing": existing,
        "preview": Outbox::preview_text(item),
        "reviewUrl": review_url(dashboard_url, &item.id),
        "next": next,
    })
}

/// An item in brief: what an agent needs to follow it up.
pub fn brief(item: &Item) -> Value {
    let mut v = json!({
        "id": item.id,
        "state": item.state.as_str(),
        "channel": item.channel.as_str(),
        "accountId": item.account,
        "recipients": item.recipients,
        "summary": item.summary,
        "priority": item.priority.as_str(),
        "requester": item.requester,
        "decision": item.decision.as_str(),
        "rule": item.rule,
        "createdAt": crate::outbox::item::rfc3339(item.created_at_ms),
        "expiresAt": item.expires_at_ms.map(crate::outbox::item::rfc3339),
    });
    // Names in the recipients: what each became, so the agent can check it.
    if !item.addressing.is_empty() {
        v["addressing"] = json!(item.addressing);
    }
    v
}

/// What the approval form shows: recipients, subject and the first lines.
fn approval_summary(item: &Item) -> String {
    const LINES: usize = 6;
    let first_lines = |text: &str| {
        let mut out: Vec<&str> = text.lines().take(LINES).collect();
        if text.lines().count() > LINES {
            out.push("…");
        }
        out.join("\n")
    };
    match &item.content {
        Content::Email(e) => {
            let mut s = format!(
                "Send this email from {}?\nTo: {}\n",
                e.from,
                e.to.join(", ")
            );
            if !e.cc.is_empty() {
                s.push_str(&format!("Cc: {}\n", e.cc.join(", ")));
            }
            if !e.bcc.is_empty() {
                s.push_str(&format!("Bcc: {}\n", e.bcc.join(", ")));
            }
            for a in &item.addressing {
                s.push_str(&format!("By name: {}\n", a.description));
            }
            s.push_str(&format!("Subject: {}\n", e.subject));
            if !e.attachments.is_empty() {
                s.push_str(&format!("Attachments: {}\n", e.attachments.len()));
            }
            s.push('\n');
            s.push_str(&first_lines(&e.text));
            s
        }
        Content::Sms(m) => {
            let by_name: String = item
                .addressing
                .iter()
                .map(|a| format!("By name: {}\n", a.description))
                .collect();
            format!(
                "Send this SMS to {}?\n{by_name}\n{}",
                m.to,
                first_lines(&m.body)
            )
        }
        Content::Chat(c) => format!(
            "Post this Google Chat message to {}?\n\n{}",
            c.space,
            first_lines(&c.text)
        ),
    }
}

fn email_request(arguments: &Value) -> Result<StageRequest, Error> {
    args::<EmailStage>(arguments)?.try_into()
}

fn sms_request(arguments: &Value) -> Result<StageRequest, Error> {
    Ok(args::<SmsStage>(arguments)?.into())
}

fn chat_request(arguments: &Value) -> Result<StageRequest, Error> {
    Ok(args::<ChatStage>(arguments)?.into())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListArgs {
    #[serde(default, deserialize_with = "crate::de::one_or_many")]
    state: Vec<String>,
    channel: Option<String>,
    account_id: Option<String>,
    mine: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdArgs {
    item_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_errors_name_the_field() {
        let e = email_request(&json!({ "to": 7 })).unwrap_err();
        assert_eq!(e.code, crate::error::Code::InvalidArgument);
        assert_eq!(e.details["field"], "to", "{e:?}");
        let e = email_request(&json!({ "to": [], "bogus": 1 })).unwrap_err();
        assert!(e.message.contains("bogus"), "{e:?}");
        let e = args::<IdArgs>(&json!([1])).err().unwrap();
        assert_eq!(e.details["field"], "arguments");
    }
}
