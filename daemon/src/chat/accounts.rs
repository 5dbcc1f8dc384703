//! Adding a `chat_webhook` account: the URL is checked, stored in the vault
//! (never in the database: the account row holds the space, its display
//! name and the redacted URL), and test-posted only when the human asks.

use serde_json::json;

use super::webhook::{self, WebhookUrl};
use crate::accounts::service::AccountService;
use crate::accounts::{Account, Accounts, Kind, NewAccount, validate_labels};
use crate::auth::{Caller, Grant};
use crate::error::{Error, Result};
use crate::vault::Secret;

/// `commsctl accounts add chat-webhook`.
pub struct AddWebhook {
    /// The account's label (`team`): agents name the account by it.
    pub label: String,
    /// The space's display name ("Front desk"), shown with its items.
    pub space_name: Option<String>,
    pub url: Secret,
    /// Post a test message after saving.
    pub test: bool,
}

pub struct AddedWebhook {
    pub account: Account,
    pub existed: bool,
    /// The test message's name, when one was posted.
    pub test_message: Option<String>,
}

/// Checks the URL, stores it in the vault, then the account.
pub async fn add_webhook(
    service: &AccountService,
    caller: &Caller,
    request: AddWebhook,
) -> Result<AddedWebhook> {
    caller.require(Grant::Admin, "add a Chat webhook account")?;
    let labels = vec![request.label.trim().to_owned()];
    validate_labels(&labels).map_err(|e| Error::invalid("label", e.message))?;
    let endpoint = service.oauth.endpoints().chat.clone();
    let hook = WebhookUrl::parse(request.url.expose(), &endpoint)?;
    let space_name = request
        .space_name
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Some(name) = &space_name
        && (name.chars().count() > 128 || name.chars().any(char::is_control))
    {
        return Err(Error::invalid(
            "spaceName",
            "at most 128 characters, no control characters",
        ));
    }
    let existing = service.accounts.id_for(Kind::ChatWebhook, hook.space());
    let id = existing.clone().unwrap_or_else(Accounts::new_id);
    let entry = webhook::vault_entry(&id);
    service.vault.put(&entry, &request.url).await?;
    let upserted = service
        .accounts
        .upsert(
            &caller.actor,
            NewAccount {
                id: id.clone(),
                kind: Kind::ChatWebhook,
                email: hook.space().to_owned(),
                labels,
                scopes: Vec::new(),
                settings: json!({
                    "space": hook.space(),
                    "space_name": space_name,
                    "url": hook.redacted(),
                }),
            },
        )
        .await;
    let (account, existed) = match upserted {
        Ok(done) => done,
        Err(e) => {
            if existing.is_none() {
                let _ = service.vault.delete(&entry).await;
            }
            return Err(e);
        }
    };
    tracing::info!(account = %account.id, space = %hook.space(), "Chat webhook account saved");
    service.notify_added(&account);
    let test_message = if request.test {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal("cannot build the HTTP client", e))?;
        let retry = crate::google::RetryPolicy {
            max_attempts: 3,
            base: std::time::Duration::from_millis(250),
            cap: std::time::Duration::from_secs(5),
        };
        let body = json!({ "text": "commsd can post to this space (test message)." });
        let rid = format!("commsd-test-{}", uuid::Uuid::new_v4());
        match webhook::post(&http, &hook, &body, &rid, false, &retry).await {
            Ok(v) => Some(v["name"].as_str().unwrap_or_default().to_owned()),
            Err(webhook::PostError::NotSent(e) | webhook::PostError::Unknown(e)) => {
                return Err(Error::new(
                    e.code,
                    format!(
                        "the account was saved, but the test post failed: {}",
                        e.message
                    ),
                )
                .with_details(json!({ "accountId": account.id })));
            }
        }
    } else {
        None
    };
    Ok(AddedWebhook {
        account,
        existed,
        test_message,
    })
}
