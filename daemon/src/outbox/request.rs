//! The requests that stage items, in the contract's names (camelCase).
//!
//! One type per channel, shared by every adapter: REST bodies and MCP tool
//! arguments deserialise into them (the OpenAPI document is generated from
//! them; the tools' hand-written schemas are tested against them), and gRPC
//! converts its messages into [`StageRequest`] through the same `From`.

use serde::Deserialize;
use utoipa::ToSchema;

pub use super::db::ListFilter;
use super::model::{Channel, Priority, State};
use super::service::{StageContent, StageRequest};
use crate::de::one_or_many;
use crate::error::{Error, Result};

/// One address, or a list of addresses.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum Addresses {
    One(String),
    Many(Vec<String>),
}

/// An email to stage.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"to": "Jane Roe <jane@example.org>", "subject": "Your appointment", "bodyText": "Dear Jane, see you on Tuesday at 9:00."}))]
pub struct EmailStage {
    /// The account to send from (an id or its unique address); the default account when absent.
    pub account_id: Option<String>,
    /// Recipients such as `Jane Roe <jane@example.org>`: one, or a list.
    #[serde(deserialize_with = "one_or_many")]
    #[schema(value_type = Addresses)]
    pub to: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Option<Addresses>)]
    pub cc: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    #[schema(value_type = Option<Addresses>)]
    pub bcc: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 998)]
    pub subject: String,
    /// Plain text; derived from `bodyHtml` when absent.
    pub body_text: Option<String>,
    pub body_html: Option<String>,
    /// The plain-text body, as `bodyText` (give one of the two).
    pub body: Option<String>,
    /// Absolute paths of files on this machine; copied when staged.
    #[serde(default)]
    pub attachments: Vec<String>,
    #[schema(value_type = Option<String>, pattern = "^(high|normal|low)$")]
    pub priority: Option<Priority>,
    /// Repeating it returns the first item instead of a duplicate.
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

/// An SMS to stage.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"to": "+14155550100", "body": "Reminder: your appointment is tomorrow at 9:00"}))]
pub struct SmsStage {
    pub account_id: Option<String>,
    /// E.164, e.g. +14155550100 (spaces, dashes, dots and parentheses are removed).
    pub to: String,
    #[schema(min_length = 1, max_length = 1600)]
    pub body: String,
    #[schema(value_type = Option<String>, pattern = "^(high|normal|low)$")]
    pub priority: Option<Priority>,
    /// Repeating it returns the first item instead of a duplicate.
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

/// A Google Chat message to stage.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"space": "spaces/AAAA1234", "text": "Front desk: the 3pm patient is here"}))]
pub struct ChatStage {
    pub account_id: Option<String>,
    /// `spaces/` and 1 to 128 of `A-Z a-z 0-9 _ -`; or `users/<email>`: the
    /// direct message with that person (Chat API accounts).
    #[schema(example = "spaces/AAAA1234")]
    pub space: String,
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
    /// `spaces/<space id>/threads/<thread id>`, of the same space.
    pub thread: Option<String>,
    /// Longer than 4,096 characters: post it as numbered parts `(1/3) ...`
    /// (at most 10) in one thread instead of refusing it.
    #[serde(default)]
    pub split: bool,
    #[schema(value_type = Option<String>, pattern = "^(high|normal|low)$")]
    pub priority: Option<Priority>,
    /// Repeating it returns the first item instead of a duplicate.
    #[schema(min_length = 1, max_length = 200)]
    pub client_request_id: Option<String>,
}

impl TryFrom<EmailStage> for StageRequest {
    type Error = Error;

    fn try_from(e: EmailStage) -> Result<StageRequest> {
        let text = match (e.body_text, e.body) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "body",
                    "give the plain-text body once: `bodyText` or `body`, not both",
                ));
            }
            (text, body) => text.or(body),
        };
        Ok(StageRequest {
            account: e.account_id,
            priority: e.priority.unwrap_or_default(),
            client_request_id: e.client_request_id,
            content: StageContent::Email {
                to: e.to,
                cc: e.cc,
                bcc: e.bcc,
                subject: e.subject,
                text,
                html: e.body_html,
                attachments: e.attachments.into_iter().map(Into::into).collect(),
            },
        })
    }
}

impl From<SmsStage> for StageRequest {
    fn from(s: SmsStage) -> StageRequest {
        StageRequest {
            account: s.account_id,
            priority: s.priority.unwrap_or_default(),
            client_request_id: s.client_request_id,
            content: StageContent::Sms {
                to: s.to,
                body: s.body,
            },
        }
    }
}

impl From<ChatStage> for StageRequest {
    fn from(c: ChatStage) -> StageRequest {
        StageRequest {
            account: c.account_id,
            priority: c.priority.unwrap_or_default(),
            client_request_id: c.client_request_id,
            content: StageContent::Chat {
                space: c.space,
                text: c.text,
                thread: c.thread,
                split: c.split,
            },
        }
    }
}

/// Items per page when a list does not say.
pub const LIST_LIMIT_DEFAULT: usize = 50;
/// The most items a page may hold, for every adapter.
pub const LIST_LIMIT_MAX: usize = 500;

/// The one reading of a list request, whatever the adapter: `states` may
/// hold comma-separated names (`pending` is `pending_approval`), empty
/// strings mean "not given", and `requester` limits the list to one
/// requester's items.
pub fn list_filter(
    states: &[String],
    channel: Option<&str>,
    account: Option<&str>,
    requester: Option<String>,
) -> Result<ListFilter> {
    let states = states
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            State::parse(s).ok_or_else(|| {
                Error::invalid(
                    "state",
                    format!(
                        "unknown state {s:?}; expected one of pending, {}",
                        State::ALL.map(State::as_str).join(", ")
                    ),
                )
            })
        })
        .collect::<Result<_>>()?;
    let channel = channel
        .filter(|c| !c.is_empty())
        .map(|c| {
            Channel::parse(c)
                .ok_or_else(|| Error::invalid("channel", "expected email, sms or chat"))
        })
        .transpose()?;
    Ok(ListFilter {
        states,
        channel,
        account: account.filter(|a| !a.is_empty()).map(str::to_owned),
        requester,
    })
}

/// The page size asked for, within the one set of bounds.
pub fn list_limit(limit: Option<&str>) -> Result<usize> {
    match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(LIST_LIMIT_DEFAULT),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIST_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "limit",
                    format!("expected a number from 1 to {LIST_LIMIT_MAX}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::parse_json;

    fn email(json: &str) -> Result<StageRequest> {
        parse_json::<EmailStage>(json.as_bytes())?.try_into()
    }

    #[test]
    fn the_documented_curl_body_stages() {
        let r = email(r#"{"to": "patient@example.com", "subject": "Appointment Reminder", "body": "Your appointment is tomorrow at 2 PM"}"#).unwrap();
        let StageContent::Email { to, text, .. } = r.content else {
            panic!("not an email")
        };
        assert_eq!(to, ["patient@example.com"]);
        assert_eq!(
            text.as_deref(),
            Some("Your appointment is tomorrow at 2 PM")
        );
    }

    #[test]
    fn errors_name_the_field() {
        let field = |json: &str| {
            email(json).unwrap_err().details["field"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            field(r#"{"to": "a@x.org", "bodyText": "a", "body": "b"}"#),
            "body"
        );
        assert_eq!(field(r#"{"to": 7}"#), "to");
        assert_eq!(
            field(r#"{"to": "a@x.org", "priority": "urgent"}"#),
            "priority"
        );
        assert_eq!(field(r#"{"to": "a@x.org", "text": "old name"}"#), "text");
        assert_eq!(field(r#"{"subject": "x"}"#), "to");
    }

    #[test]
    fn list_requests_read_the_same_everywhere() {
        let f = list_filter(
            &["pending,sent".into(), "failed".into()],
            Some("sms"),
            Some(""),
            None,
        )
        .unwrap();
        assert_eq!(
            f.states,
            [State::PendingApproval, State::Sent, State::Failed]
        );
        assert_eq!(f.channel, Some(Channel::Sms));
        assert_eq!(f.account, None);
        let e = list_filter(&["bogus".into()], None, None, None).unwrap_err();
        assert_eq!(e.details["field"], "state");
        assert_eq!(list_limit(None).unwrap(), LIST_LIMIT_DEFAULT);
        assert_eq!(list_limit(Some("500")).unwrap(), 500);
        assert_eq!(list_limit(Some("0")).unwrap_err().details["field"], "limit");
        assert_eq!(
            list_limit(Some("501")).unwrap_err().details["field"],
            "limit"
        );
    }
}
