//! Contacts for every frontend (tools, `/api/v1/contacts`, commsctl): search,
//! one person, a group's people, resolution, sync on demand. Grants are
//! checked here; writes are in `write`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Contacts;
use super::book::Channel;
use super::resolve::{self, check_query};
use super::sync::ProgressSink;
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct SearchInput {
    /// Any part of a name, email or phone (at least 2 characters).
    #[serde(alias = "q")]
    pub query: String,
    /// Only people with a record of this account (id or address).
    pub account_id: Option<String>,
    /// At most this many (default 25, at most 200).
    pub limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetInput {
    pub person_id: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListInput {
    /// Only members of this group (its name or `contactGroups/...`).
    pub group: Option<String>,
    pub account_id: Option<String>,
    /// People per page (default 50, at most 500).
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// A search query instead of a list (as `contacts_search`).
    #[serde(alias = "q")]
    pub query: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ResolveInput {
    /// A name or a partial address (at least 2 characters), or `contact:<id>`.
    #[serde(alias = "q")]
    pub query: String,
    /// email (default), sms or chat.
    pub channel: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncInput {
    /// One account (id or address); every account with the contacts module when absent.
    pub account_id: Option<String>,
}

pub struct ContactsService {
    pub contacts: Arc<Contacts>,
}

pub fn channel(v: Option<&str>) -> Result<Channel> {
    match v {
        None => Ok(Channel::Email),
        Some(c) => Channel::parse(c.trim())
            .ok_or_else(|| Error::invalid("channel", "expected email, sms or chat")),
    }
}

impl ContactsService {
    /// The accounts a read looks at: the one named, else (`None`) every
    /// account but the sandbox, or the sandbox when it is the default.
    pub fn account(&self, account_id: Option<&str>) -> Result<Option<String>> {
        match account_id.map(str::trim).filter(|a| !a.is_empty()) {
            None => {
                let default = self.contacts.accounts.resolve(None)?;
                Ok((default.id == crate::accounts::SANDBOX).then_some(default.id))
            }
            Some(a) => Ok(Some(self.contacts.accounts.resolve(Some(a))?.id)),
        }
    }

    pub async fn search(&self, caller: &Caller, a: SearchInput) -> Result<Value> {
        caller.require(Grant::Read, "read contacts")?;
        self.contacts.ready().await;
        check_query("query", &a.query)?;
        let account = self.account(a.account_id.as_deref())?;
        let limit = a.limit.unwrap_or(25).clamp(1, 200) as usize;
        let book = self.contacts.book();
        let people: Vec<Value> = book
            .search(&a.query, account.as_deref(), limit)
            .into_iter()
            .map(|p| p.view())
            .collect();
        Ok(json!({ "people": people }))
    }

    pub async fn get(&self, caller: &Caller, a: GetInput) -> Result<Value> {
        caller.require(Grant::Read, "read contacts")?;
        self.contacts.ready().await;
        let id = a.person_id.trim().trim_start_matches("contact:");
        self.contacts
            .book()
            .get(id)
            .map(|p| p.view())
            .ok_or_else(|| {
                Error::new(Code::NotFound, format!("no contact {id}"))
                    .with_details(json!({ "field": "personId" }))
            })
    }

    pub async fn list(&self, caller: &Caller, a: ListInput) -> Result<Value> {
        caller.require(Grant::Read, "read contacts")?;
        self.contacts.ready().await;
        if let Some(q) = a.query.as_deref().filter(|q| !q.trim().is_empty()) {
            return Box::pin(self.search(
                caller,
                SearchInput {
                    query: q.to_owned(),
                    account_id: a.account_id,
                    limit: a.limit,
                },
            ))
            .await;
        }
        let account = self.account(a.account_id.as_deref())?;
        let book = self.contacts.book();
        let group = match a.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            None => None,
            Some(g) if g.starts_with("contactGroups/") => Some(g.to_owned()),
            Some(g) => Some(
                book.groups
                    .iter()
                    .find(|((acc, _), name)| {
                        name.eq_ignore_ascii_case(g) && account.as_deref().is_none_or(|a| a == acc)
                    })
                    .map(|((_, rn), _)| rn.clone())
                    .ok_or_else(|| {
                        Error::invalid("group", format!("no contact group named {g:?}"))
                    })?,
            ),
        };
        let limit = a.limit.unwrap_or(50).clamp(1, 500) as usize;
        let start: usize = match a.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid("cursor", "expected a nextCursor"))?,
        };
        let matching: Vec<_> = book
            .people
            .iter()
            .filter(|p| {
                p.records
                    .iter()
                    .any(|r| super::book::in_scope(account.as_deref(), &r.account_id))
            })
            .filter(|p| group.as_deref().is_none_or(|g| p.in_group(g)))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(limit)
            .map(|p| p.view())
            .collect();
        let next = (start + limit < matching.len()).then(|| (start + limit).to_string());
        let groups: Vec<Value> = book
            .groups
            .iter()
            .filter(|((acc, _), _)| super::book::in_scope(account.as_deref(), acc))
            .map(|((acc, rn), name)| json!({ "accountId": acc, "resourceName": rn, "name": name }))
            .collect();
        Ok(json!({ "people": page, "groups": groups, "nextCursor": next }))
    }

    pub async fn resolve(&self, caller: &Caller, a: ResolveInput) -> Result<Value> {
        caller.require(Grant::Read, "read contacts")?;
        self.contacts.ready().await;
        check_query("query", &a.query)?;
        let channel = channel(a.channel.as_deref())?;
        let account = self.account(a.account_id.as_deref())?;
        let book = self.contacts.book();
        let r = resolve::resolve(&book, &a.query, channel, account.as_deref());
        Ok(r.view(a.query.trim(), channel, &|id| {
            self.contacts.account_name(id)
        }))
    }

    /// Syncs now; each stored page goes to `progress` (`Contacts.Sync`
    /// streams it to `commsctl contacts sync`).
    pub async fn sync(
        &self,
        caller: &Caller,
        a: SyncInput,
        progress: &ProgressSink,
    ) -> Result<Value> {
        caller.require(Grant::Read, "sync contacts")?;
        let named = a
            .account_id
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let accounts = match named {
            Some(id) => {
                let acc = self.contacts.accounts.resolve(Some(id))?;
                if acc.id == crate::accounts::SANDBOX {
                    return Ok(
                        json!({ "accounts": [{ "accountId": acc.id, "sources": { "local": { "requests": 0 } } }] }),
                    );
                }
                if acc.kind != crate::accounts::Kind::Google {
                    return Err(Error::invalid(
                        "accountId",
                        format!(
                            "{} is not a Google account; only Google contacts sync",
                            acc.id
                        ),
                    ));
                }
                if !acc.modules.contains(&"contacts") {
                    return Err(crate::accounts::tokens::Tokens::insufficient(
                        &acc,
                        crate::google::Need::Contacts,
                    ));
                }
                vec![acc]
            }
            None => super::sync::syncing(&self.contacts.accounts.list()),
        };
        let mut out = Vec::new();
        for acc in accounts {
            out.push(self.contacts.sync_account(&acc, progress).await?);
        }
        Ok(json!({ "accounts": out, "people": self.contacts.book().people.len() }))
    }
}
