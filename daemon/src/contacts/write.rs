//! Contact writes: create, update (a real patch: unspecified fields keep
//! their value; group membership included), delete. Google accounts go
//! through the People API one write at a time per account; a stale etag is
//! re-read, only the changed fields re-applied, and retried once before a
//! conflict is reported. The sandbox's book is written locally. Writes need
//! the `draft` grant and each is audited in the transaction that stores it.

use serde::Deserialize;
use serde_json::{Value, json};

use super::book::person_id;
use super::record::{Fields, Handle, Record, Source, phone};
use super::service::ContactsService;
use super::{client, db};
use crate::accounts::{Account, Kind, SANDBOX};
use crate::audit;
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::events::now_unix_ms;

/// An email or phone: the address alone, or with its type and primary flag.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HandleArg {
    Plain(String),
    Full {
        value: String,
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        primary: Option<bool>,
    },
}

/// The fields a write sets; absent ones are left as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPatch {
    pub name: Option<String>,
    pub nicknames: Option<Vec<String>>,
    pub emails: Option<Vec<HandleArg>>,
    pub phones: Option<Vec<HandleArg>>,
    pub organization: Option<String>,
    /// Group names or `contactGroups/...`; replaces the memberships.
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    /// The account to create it in (id or address); the default when absent.
    pub account_id: Option<String>,
    pub name: Option<String>,
    pub nicknames: Option<Vec<String>>,
    pub emails: Option<Vec<HandleArg>>,
    pub phones: Option<Vec<HandleArg>>,
    pub organization: Option<String>,
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInput {
    pub person_id: String,
    /// Which account's saved contact, when the person has several.
    pub account_id: Option<String>,
    pub patch: ContactPatch,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteInput {
    pub person_id: String,
    pub account_id: Option<String>,
}

fn handles(field: &str, list: &[HandleArg], email: bool) -> Result<Vec<Handle>> {
    let mut out = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let (value, kind, primary) = match h {
            HandleArg::Plain(v) => (v.clone(), None, None),
            HandleArg::Full {
                value,
                kind,
                primary,
            } => (value.clone(), kind.clone(), *primary),
        };
        let value = if email {
            let v = value.trim().to_lowercase();
            crate::outbox::validate::mailbox(&format!("{field}[{i}]"), &v)?;
            v
        } else {
            let v = phone(&value);
            if !v.starts_with('+') || v.len() < 8 {
                return Err(Error::invalid(
                    format!("{field}[{i}]"),
                    "expected a phone number in E.164, such as +14155550100",
                ));
            }
            v
        };
        out.push(Handle {
            value,
            kind: kind.unwrap_or_default().to_lowercase(),
            primary: primary.unwrap_or(false),
        });
    }
    Ok(out)
}

/// Applies `patch` to `f`; the People API field masks it changed.
fn apply(
    f: &mut Fields,
    patch: &ContactPatch,
    group_of: &dyn Fn(&str) -> Result<String>,
) -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    if let Some(n) = &patch.name {
        f.names = vec![n.trim().to_owned()];
        changed.push("names");
    }
    if let Some(n) = &patch.nicknames {
        f.nicknames = n.clone();
        changed.push("nicknames");
    }
    if let Some(e) = &patch.emails {
        f.emails = handles("emails", e, true)?;
        changed.push("emailAddresses");
    }
    if let Some(p) = &patch.phones {
        f.phones = handles("phones", p, false)?;
        changed.push("phoneNumbers");
    }
    if let Some(o) = &patch.organization {
        f.organization = Some(o.trim().to_owned()).filter(|o| !o.is_empty());
        changed.push("organizations");
    }
    if let Some(g) = &patch.groups {
        let mine = f.groups.iter().any(|g| g == "contactGroups/myContacts");
        f.groups = g.iter().map(|g| group_of(g)).collect::<Result<_>>()?;
        if mine && !f.groups.iter().any(|g| g == "contactGroups/myContacts") {
            f.groups.push("contactGroups/myContacts".into());
        }
        changed.push("memberships");
    }
    Ok(changed)
}

/// The People body holding only the `changed` fields and the etag.
fn body(f: &Fields, changed: &[&str], etag: Option<&str>) -> Value {
    let full = f.to_person();
    let mut b = serde_json::Map::new();
    for k in changed {
        b.insert((*k).to_owned(), full[*k].clone());
    }
    if let Some(e) = etag {
        b.insert("etag".into(), json!(e));
    }
    Value::Object(b)
}

fn stale(e: &Error) -> bool {
    e.details["status"] == 400
        && (e.message.contains("etag") || e.details["reason"] == "failedPrecondition")
}

impl ContactsService {
    fn writable(&self, caller: &Caller, account_id: Option<&str>) -> Result<Account> {
        caller.require(Grant::Draft, "change contacts")?;
        let acc = self.contacts.accounts.resolve(account_id)?;
        if acc.id == SANDBOX {
            return Ok(acc);
        }
        if acc.kind != Kind::Google {
            return Err(Error::invalid(
                "accountId",
                format!(
                    "{} is a {} account and cannot hold contacts: a Google account with the contacts module can (commsctl accounts add google --with contacts)",
                    acc.id,
                    acc.kind.as_str()
                ),
            ));
        }
        if !acc.modules.contains(&"contacts") {
            // As Gmail does: the error names the command that grants it.
            return Err(crate::accounts::tokens::Tokens::insufficient(
                &acc,
                crate::google::Need::Contacts,
            ));
        }
        if let Some(e) = acc.unusable() {
            return Err(e);
        }
        Ok(acc)
    }

    fn group_of(&self, account: &str) -> impl Fn(&str) -> Result<String> + '_ {
        let book = self.contacts.book();
        let account = account.to_owned();
        move |g: &str| {
            let g = g.trim();
            if g.starts_with("contactGroups/") {
                return Ok(g.to_owned());
            }
            book.groups
                .iter()
                .find(|((acc, _), name)| *acc == account && name.eq_ignore_ascii_case(g))
                .map(|((_, rn), _)| rn.clone())
                .ok_or_else(|| Error::invalid("groups", format!("no contact group named {g:?}")))
        }
    }

    /// Stores `record` (or deletes `resource_name`) with its audit row, then
    /// rebuilds the book.
    async fn commit(
        &self,
        caller: &Caller,
        action: &str,
        account: &str,
        record: Option<Record>,
        gone: Option<String>,
    ) -> Result<String> {
        let entry = audit::Entry {
            actor: caller.actor.clone(),
            action: action.to_owned(),
            item_id: None,
            account: Some(account.to_owned()),
            channel: None,
            recipients: record
                .iter()
                .flat_map(|r| r.fields.emails.iter().map(|e| e.value.clone()))
                .collect(),
            content_hash: None,
            decision: None,
            result: Some(
                record
                    .as_ref()
                    .map(|r| r.resource_name.clone())
                    .or(gone.clone())
                    .unwrap_or_default(),
            ),
        };
        let acc = account.to_owned();
        let id = record
            .as_ref()
            .map(|r| person_id(&r.account_id, &r.resource_name))
            .unwrap_or_default();
        self.contacts
            .store
            .write(move |c| {
                if let Some(r) = &record {
                    // The source's current generation: a later full sync
                    // that no longer sees it removes it.
                    let generation = db::state(c, &r.account_id, r.source)?.generation;
                    db::upsert(c, r, generation, now_unix_ms())?;
                }
                if let Some(rn) = &gone {
                    db::delete(c, &acc, rn)?;
                }
                audit::append(c, entry)?;
                Ok(())
            })
            .await?;
        self.contacts
            .stats
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.contacts.reload().await?;
        Ok(id)
    }

    fn view_of(&self, id: &str) -> Value {
        self.contacts
            .book()
            .get(id)
            .map(|p| p.view())
            .unwrap_or(json!({ "id": id }))
    }

    pub async fn create(&self, caller: &Caller, a: CreateInput) -> Result<Value> {
        let acc = self.writable(caller, a.account_id.as_deref())?;
        self.contacts.ready().await;
        let patch = ContactPatch {
            name: a.name,
            nicknames: a.nicknames,
            emails: a.emails,
            phones: a.phones,
            organization: a.organization,
            groups: a.groups,
        };
        let mut f = Fields::default();
        let changed = apply(&mut f, &patch, &self.group_of(&acc.id))?;
        if f.names.is_empty() && f.emails.is_empty() && f.phones.is_empty() {
            return Err(Error::invalid(
                "name",
                "a contact needs a name, an email or a phone",
            ));
        }
        let record = if acc.id == SANDBOX {
            Record {
                account_id: SANDBOX.into(),
                source: Source::Local,
                resource_name: format!("local/{}", uuid::Uuid::new_v4().simple()),
                etag: Some("1".into()),
                fields: f,
            }
        } else {
            let turn = self.contacts.turn(&acc.id);
            let _turn = turn.lock().await;
            let p = self
                .contacts
                .call(&acc.id, &client::create(body(&f, &changed, None)))
                .await?;
            google_record(&acc.id, &p)?
        };
        let id = self
            .commit(caller, "contact_create", &acc.id, Some(record), None)
            .await?;
        Ok(self.view_of(&id))
    }

    /// The person's writable record in `account_id` (or its only one).
    fn target(&self, person: &str, account_id: Option<&str>) -> Result<Record> {
        let id = person.trim().trim_start_matches("contact:");
        let book = self.contacts.book();
        let p = book.get(id).ok_or_else(|| {
            Error::new(Code::NotFound, format!("no contact {id}"))
                .with_details(json!({ "field": "personId" }))
        })?;
        let account = match account_id.map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => Some(self.contacts.accounts.resolve(Some(a))?.id),
            None => None,
        };
        let mut writable: Vec<&Record> = p
            .records
            .iter()
            .filter(|r| matches!(r.source, Source::Saved | Source::Local))
            .filter(|r| account.as_deref().is_none_or(|a| a == r.account_id))
            .collect();
        match writable.len() {
            1 => Ok(writable.remove(0).clone()),
            0 => Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{id} has no saved contact to change{}: other contacts and the directory are read-only",
                    account.map(|a| format!(" in {a}")).unwrap_or_default()
                ),
            )),
            _ => Err(Error::invalid(
                "accountId",
                format!(
                    "{id} is a saved contact of several accounts; name one: {}",
                    writable
                        .iter()
                        .map(|r| r.account_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    pub async fn update(&self, caller: &Caller, a: UpdateInput) -> Result<Value> {
        caller.require(Grant::Draft, "change contacts")?;
        self.contacts.ready().await;
        let mut rec = self.target(&a.person_id, a.account_id.as_deref())?;
        self.writable(caller, Some(&rec.account_id))?;
        let group_of = self.group_of(&rec.account_id);
        if rec.source == Source::Local {
            apply(&mut rec.fields, &a.patch, &group_of)?;
            let id = self
                .commit(
                    caller,
                    "contact_update",
                    &rec.account_id.clone(),
                    Some(rec),
                    None,
                )
                .await?;
            return Ok(self.view_of(&id));
        }
        let turn = self.contacts.turn(&rec.account_id);
        let _turn = turn.lock().await;
        let mut retried = false;
        loop {
            let mut f = rec.fields.clone();
            let changed = apply(&mut f, &a.patch, &group_of)?;
            if changed.is_empty() {
                return Err(Error::invalid("patch", "nothing to change"));
            }
            let call = client::update(
                &rec.resource_name,
                body(&f, &changed, rec.etag.as_deref()),
                &changed.join(","),
            );
            match self.contacts.call(&rec.account_id, &call).await {
                Ok(p) => {
                    let fresh = google_record(&rec.account_id, &p)?;
                    let id = self
                        .commit(
                            caller,
                            "contact_update",
                            &rec.account_id.clone(),
                            Some(fresh),
                            None,
                        )
                        .await?;
                    return Ok(self.view_of(&id));
                }
                Err(e) if stale(&e) && !retried => {
                    // Someone changed it meanwhile: re-read, re-apply only our fields.
                    retried = true;
                    let p = self
                        .contacts
                        .call(&rec.account_id, &client::get(&rec.resource_name))
                        .await?;
                    rec = google_record(&rec.account_id, &p)?;
                }
                Err(e) if stale(&e) => {
                    return Err(Error::new(Code::Conflict, format!("{} changed at Google while it was being updated, twice; read it again and retry", rec.resource_name))
                        .with_details(json!({ "field": "personId", "resourceName": rec.resource_name })));
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn delete(&self, caller: &Caller, a: DeleteInput) -> Result<Value> {
        caller.require(Grant::Draft, "change contacts")?;
        self.contacts.ready().await;
        let rec = self.target(&a.person_id, a.account_id.as_deref())?;
        self.writable(caller, Some(&rec.account_id))?;
        if rec.source == Source::Saved {
            let turn = self.contacts.turn(&rec.account_id);
            let _turn = turn.lock().await;
            match self
                .contacts
                .call(&rec.account_id, &client::delete(&rec.resource_name))
                .await
            {
                Ok(_) => {}
                // Already gone at Google: remove it here too.
                Err(e) if e.code == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.commit(
            caller,
            "contact_delete",
            &rec.account_id.clone(),
            None,
            Some(rec.resource_name.clone()),
        )
        .await?;
        Ok(
            json!({ "deleted": true, "personId": a.person_id.trim(), "accountId": rec.account_id, "resourceName": rec.resource_name }),
        )
    }
}

fn google_record(account: &str, p: &Value) -> Result<Record> {
    let rn = p["resourceName"].as_str().ok_or_else(|| {
        crate::google::error::malformed("People answered without a resourceName".into())
    })?;
    Ok(Record {
        account_id: account.to_owned(),
        source: Source::Saved,
        resource_name: rn.to_owned(),
        etag: p["etag"].as_str().map(str::to_owned),
        fields: Fields::from_person(p),
    })
}
