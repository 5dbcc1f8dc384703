//! The Chat errors users actually hit, mapped to the envelope with what to
//! do: the project has no Chat app (404 "Google Chat app not found"), a
//! consumer account, an admin's block, a missing scope.

use serde_json::json;

use crate::error::{Code, Error, Result};

/// Where the Chat app of a Cloud project is configured.
pub const CONFIG_PAGE: &str =
    "https://console.cloud.google.com/apis/api/chat.googleapis.com/hangouts-chat";

/// The Chat API serves Google Workspace accounts only; Gmail keeps working
/// for consumer accounts.
pub fn workspace_only(account_id: &str, email: &str) -> Result<()> {
    if crate::accounts::google::consumer(email) {
        return Err(Error::new(
            Code::WorkspaceRequired,
            format!(
                "{email} is a consumer Google account: the Chat API serves Google Workspace accounts only (Gmail keeps working). Post through an incoming webhook instead: commsctl accounts add chat-webhook"
            ),
        )
        .with_details(json!({ "accountId": account_id, "email": email })));
    }
    Ok(())
}

/// A webhook account asked for mail.
pub fn not_mail(account_id: &str) -> Error {
    Error::new(
        Code::FailedPrecondition,
        format!("account {account_id} is a Google Chat webhook: it posts chat messages and has no mailbox"),
    )
    .with_details(json!({ "field": "accountId", "accountId": account_id, "kind": "chat_webhook" }))
}

/// A failed Chat call as the user can act on it.
pub fn map(e: Error, account_id: &str, email: &str) -> Error {
    match e.code {
        Code::NotFound if e.message.contains("Chat app not found") => Error::new(
            Code::ChatAppNotConfigured,
            format!(
                "the Google Cloud project of commsd's OAuth client has no Chat app configured, so Google refuses Chat calls for {email}. Open {CONFIG_PAGE} (APIs & Services > Google Chat API > Configuration), fill in App name, Avatar URL and Description, untick \"Build this Chat app as a Workspace add-on\" if offered, choose any Connection setting, save, then retry"
            ),
        )
        .with_details(json!({
            "accountId": account_id,
            "url": CONFIG_PAGE,
            "steps": [
                "Open the Google Chat API's Configuration page of the project that owns commsd's OAuth client",
                "Fill in App name, Avatar URL and Description",
                "Under Functionality and Connection settings any choice works: commsd calls the API as the user",
                "Under Visibility, make the app available to the people who use commsd",
                "Save, then retry",
            ],
        })),
        Code::DomainBlocked => Error::new(
            Code::DomainBlocked,
            format!(
                "{email}'s Workspace admin blocks Google Chat for this app: {}. Ask the admin to allow it (Admin console > Apps > Google Workspace > Google Chat, and Security > API controls); the item stays editable",
                e.message
            ),
        )
        .with_details(json!({ "accountId": account_id, "upstream": e.details })),
        Code::InsufficientScope => {
            let command = format!("commsctl accounts add google --login-hint {email} --with chat");
            let mut details = e.details.clone();
            if let Some(d) = details.as_object_mut() {
                d.entry("command").or_insert(json!(command));
                d.insert("accountId".into(), json!(account_id));
            }
            Error::new(
                Code::InsufficientScope,
                format!("{}. Run `{command}`", e.message.trim_end_matches('.')),
            )
            .with_details(details)
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_not_found_names_the_configuration_page() {
        let e = Error::new(
            Code::NotFound,
            "Chat has no such object (spaces.messages.create): Google Chat app not found. To create a Chat app, you must turn on the Chat API and configure the app in the Google Cloud console.",
        );
        let m = map(e, "a1", "ada@practice.example");
        assert_eq!(m.code, Code::ChatAppNotConfigured);
        assert!(m.message.contains(CONFIG_PAGE));
        assert!(m.details["steps"].as_array().unwrap().len() >= 3);
        // Another 404 stays a 404.
        let e = Error::new(Code::NotFound, "Chat has no such object: Space not found");
        assert_eq!(map(e, "a1", "x@y").code, Code::NotFound);
    }

    #[test]
    fn consumer_accounts_are_refused_by_name() {
        let e = workspace_only("a1", "someone@gmail.com").unwrap_err();
        assert_eq!(e.code, Code::WorkspaceRequired);
        assert!(workspace_only("a1", "ada@practice.example").is_ok());
    }
}
