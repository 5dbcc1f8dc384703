//! The contacts tools (toolset `contacts`): compact schemas, since every
//! byte is in each agent's context.

use std::sync::Arc;

use serde_json::{Value, json};

use super::service::{ContactsService, GetInput, ListInput, ResolveInput, SearchInput, SyncInput};
use super::write::{CreateInput, DeleteInput, UpdateInput};
use crate::auth::Caller;
use crate::error::Error;
use crate::tools::kit::{object, out, s, strings};
use crate::tools::{Outcome, ToolDef, ToolProvider, args};

fn handles() -> Value {
    json!({ "type": "array", "items": { "anyOf": [s(), object(json!({ "value": s(), "type": s(), "primary": { "type": "boolean" } }), &["value"])] } })
}

fn fields() -> Value {
    json!({ "name": s(), "nicknames": strings(), "emails": handles(), "phones": handles(),
            "organization": s(), "groups": { "type": "array", "items": s(), "description": "Group names or contactGroups/..." } })
}

fn in_search() -> Value {
    object(
        json!({ "query": { "type": "string", "description": "Any part of a name, email or phone; 2+ chars." },
                   "accountId": s(), "limit": { "type": "integer", "minimum": 1, "maximum": 200 } }),
        &["query"],
    )
}

fn in_get() -> Value {
    object(json!({ "personId": s() }), &["personId"])
}

fn in_list() -> Value {
    object(
        json!({ "group": s(), "accountId": s(), "query": s(), "limit": { "type": "integer", "minimum": 1, "maximum": 500 }, "cursor": s() }),
        &[],
    )
}

fn in_resolve() -> Value {
    object(
        json!({ "query": { "type": "string", "description": "A name, partial address, or contact:<id>." },
                   "channel": { "enum": ["email", "sms", "chat"] }, "accountId": s() }),
        &["query"],
    )
}

fn in_create() -> Value {
    let mut f = fields();
    f["accountId"] = s();
    object(f, &[])
}

fn in_update() -> Value {
    object(
        json!({ "personId": s(), "accountId": s(), "patch": object(fields(), &[]) }),
        &["personId", "patch"],
    )
}

fn in_delete() -> Value {
    object(json!({ "personId": s(), "accountId": s() }), &["personId"])
}

fn person() -> Value {
    out(
        json!({ "id": s(), "name": s(), "emails": { "type": "array" }, "phones": { "type": "array" },
                "groups": strings(), "sources": { "type": "array" } }),
        &["id", "name", "emails", "phones", "sources"],
    )
}

fn people() -> Value {
    out(
        json!({ "people": { "type": "array", "items": person() }, "nextCursor": {} }),
        &["people"],
    )
}

fn out_resolve() -> Value {
    out(
        json!({ "status": { "enum": ["resolved", "ambiguous", "not_found"] }, "query": s(), "channel": s(),
                "personId": s(), "address": s(), "description": s(), "candidates": { "type": "array" } }),
        &["status", "query", "channel"],
    )
}

fn in_sync() -> Value {
    object(json!({ "accountId": s() }), &[])
}

fn out_sync() -> Value {
    out(
        json!({ "accounts": { "type": "array" }, "people": { "type": "integer" } }),
        &["accounts"],
    )
}

fn out_delete() -> Value {
    out(
        json!({ "deleted": { "type": "boolean" }, "personId": s(), "accountId": s() }),
        &["deleted", "personId"],
    )
}

const fn def(
    name: &'static str,
    title: &'static str,
    description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
    read_only: bool,
    destructive: bool,
) -> ToolDef {
    ToolDef {
        name,
        title,
        toolset: "contacts",
        description,
        input,
        output,
        read_only,
        destructive,
        idempotent: read_only,
        open_world: !read_only,
    }
}

pub static TOOLS: &[ToolDef] = &[
    def(
        "contacts_search",
        "Search contacts",
        "Local search of synced contacts by any part of a name, email or phone (accents and punctuation ignored).",
        in_search,
        people,
        true,
        false,
    ),
    def(
        "contacts_get",
        "Get a contact",
        "One person: names, emails, phones, groups, and the account and source of each.",
        in_get,
        person,
        true,
        false,
    ),
    def(
        "contacts_list",
        "List contacts",
        "People, optionally of one group or account; also lists the groups.",
        in_list,
        people,
        true,
        false,
    ),
    def(
        "contacts_resolve",
        "Resolve a name to an address",
        "Name or partial address + channel → resolved (exactly one person and address), ambiguous (candidates) or not_found. Never guesses.",
        in_resolve,
        out_resolve,
        true,
        false,
    ),
    def(
        "contacts_sync",
        "Sync contacts now",
        "Syncs Google contacts now (one account, or every account with the contacts module).",
        in_sync,
        out_sync,
        false,
        false,
    ),
    def(
        "contacts_create",
        "Create a contact",
        "Creates a contact in a Google account with the contacts module (or the sandbox). Needs the draft grant.",
        in_create,
        person,
        false,
        false,
    ),
    def(
        "contacts_update",
        "Update a contact",
        "Changes only the fields in patch (groups replaces memberships). Needs the draft grant.",
        in_update,
        person,
        false,
        false,
    ),
    def(
        "contacts_delete",
        "Delete a contact",
        "Deletes a saved contact. Needs the draft grant.",
        in_delete,
        out_delete,
        false,
        true,
    ),
];

pub struct ContactsTools {
    pub service: Arc<ContactsService>,
}

#[async_trait::async_trait]
impl ToolProvider for ContactsTools {
    fn tools(&self) -> &'static [ToolDef] {
        TOOLS
    }

    async fn call(&self, caller: &Caller, name: &str, arguments: &Value) -> Result<Outcome, Error> {
        let s = &self.service;
        let v = match name {
            "contacts_search" => s.search(caller, args::<SearchInput>(arguments)?).await?,
            "contacts_get" => s.get(caller, args::<GetInput>(arguments)?).await?,
            "contacts_list" => s.list(caller, args::<ListInput>(arguments)?).await?,
            "contacts_resolve" => s.resolve(caller, args::<ResolveInput>(arguments)?).await?,
            "contacts_create" => s.create(caller, args::<CreateInput>(arguments)?).await?,
            "contacts_update" => s.update(caller, args::<UpdateInput>(arguments)?).await?,
            "contacts_delete" => s.delete(caller, args::<DeleteInput>(arguments)?).await?,
            "contacts_sync" => s.sync(caller, args::<SyncInput>(arguments)?, &None).await?,
            other => return Err(Error::invalid("name", format!("unknown tool {other}"))),
        };
        Ok(Outcome::ok(v))
    }

    fn cache_stats(&self) -> Option<(&'static str, Value)> {
        Some(("contacts", self.service.contacts.details()))
    }
}
