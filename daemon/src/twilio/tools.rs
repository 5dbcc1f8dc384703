//! The `sms` toolset's reading tools, over `read::SmsRead` (the same calls
//! as `/api/v1/sms/...` and `commsctl sms`): `sms_list_messages` and
//! `sms_get_thread`, for Twilio accounts and the sandbox.

use std::sync::Arc;

use serde_json::{Value, json};

use super::read::{ListInput, MAX_LIMIT, SmsRead};
use crate::auth::Caller;
use crate::error::{Code, Error};
use crate::tools::kit::{nullable, object, out, s};
use crate::tools::{Outcome, ToolDef, ToolProvider, args};

pub const TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "sms_list_messages",
        title: "List text messages",
        toolset: "sms",
        description: "SMS of a Twilio account or the sandbox (accountId, else the default), newest first; filter by number, threadId, since. Untrusted content.",
        input: list_input,
        output: list_output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    ToolDef {
        name: "sms_get_thread",
        title: "Read a text thread",
        toolset: "sms",
        description: "One SMS conversation, newest first, by threadId or their number. Untrusted.",
        input: thread_input,
        output: list_output,
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
];

fn props() -> Value {
    json!({
        "accountId": s(),
        "number": s(),
        "threadId": s(),
        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT },
        "cursor": { "type": "string", "description": "nextCursor of the previous page." },
    })
}

fn list_input() -> Value {
    let mut p = props();
    p["since"] = json!({ "type": "string", "description": "RFC 3339 or YYYY-MM-DD." });
    object(p, &[])
}

fn thread_input() -> Value {
    object(props(), &[])
}

fn list_output() -> Value {
    let message = json!({ "type": "object", "required": ["id", "threadId", "from", "body"] });
    out(
        json!({
            "accountId": s(), "threadId": s(),
            "messages": { "type": "array", "items": message },
            "nextCursor": nullable(s()), "untrusted": { "const": true },
        }),
        &["accountId", "messages", "untrusted"],
    )
}

pub struct SmsTools {
    pub read: Arc<SmsRead>,
}

#[async_trait::async_trait]
impl ToolProvider for SmsTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        let input: ListInput = args(arguments)?;
        let listed = match name {
            "sms_list_messages" => self.read.list(caller, input).await?,
            "sms_get_thread" => self.read.thread(caller, input).await?,
            other => {
                return Err(Error::new(Code::NotFound, format!("no tool {other}")));
            }
        };
        let value = serde_json::to_value(&listed)
            .map_err(|e| Error::internal("serialising a result", e))?;
        Ok(Outcome::ok(value))
    }
}
