//! Google scope tiers (README "Scope tiers"): what each tier and module asks
//! Google for, and what a granted set of scopes covers.
//!
//! Tiers are cumulative, so a tier 3 account can do what tier 1 and 2 can.
//! `openid` and `email` are always asked for: commsd reads the account's
//! address from the userinfo endpoint and asks for nothing else.

use crate::google::Need;

pub const OPENID: &str = "openid";
pub const EMAIL: &str = "email";
pub const GMAIL_READONLY: &str = "https://www.googleapis.com/auth/gmail.readonly";
pub const GMAIL_COMPOSE: &str = "https://www.googleapis.com/auth/gmail.compose";
pub const GMAIL_SEND: &str = "https://www.googleapis.com/auth/gmail.send";
pub const GMAIL_MODIFY: &str = "https://www.googleapis.com/auth/gmail.modify";
/// Full mailbox access. commsd never asks for it, but an account granted it
/// (by another app with include_granted_scopes) can do everything Gmail tiers cover.
pub const GMAIL_FULL: &str = "https://mail.google.com/";
pub const CONTACTS: &str = "https://www.googleapis.com/auth/contacts";
/// `otherContacts.*`: `contacts` alone gets 403 there.
pub const CONTACTS_OTHER_READONLY: &str = "https://www.googleapis.com/auth/contacts.other.readonly";
/// Workspace: the domain's directory (`people.listDirectoryPeople`).
pub const DIRECTORY_READONLY: &str = "https://www.googleapis.com/auth/directory.readonly";
/// Read and write Chat messages; covers every Chat need but listing spaces.
/// commsd asks for the narrower scopes below; an account granted this by an
/// earlier sign-in keeps working.
pub const CHAT_MESSAGES: &str = "https://www.googleapis.com/auth/chat.messages";
pub const CHAT_MESSAGES_CREATE: &str = "https://www.googleapis.com/auth/chat.messages.create";
pub const CHAT_MESSAGES_READONLY: &str = "https://www.googleapis.com/auth/chat.messages.readonly";
pub const CHAT_SPACES_READONLY: &str = "https://www.googleapis.com/auth/chat.spaces.readonly";
pub const CHAT_SPACES: &str = "https://www.googleapis.com/auth/chat.spaces";
/// Create spaces: `spaces.setup`, to open a direct message with a person
/// (module `chat-dm`, used only when `[chat] create_direct_messages`).
pub const CHAT_SPACES_CREATE: &str = "https://www.googleapis.com/auth/chat.spaces.create";

/// The opt-in modules and their scopes.
pub const MODULES: [(&str, &[&str]); 5] = [
    // Saved contacts and groups (read and write), and "other contacts".
    ("contacts", &[CONTACTS, CONTACTS_OTHER_READONLY]),
    // Optional, Workspace: the domain directory for contacts.
    ("directory", &[DIRECTORY_READONLY]),
    // Per method, from chat.v1.json: messages.create, messages.list/get, spaces.list.
    (
        "chat",
        &[
            CHAT_MESSAGES_CREATE,
            CHAT_MESSAGES_READONLY,
            CHAT_SPACES_READONLY,
        ],
    ),
    // Open a direct message with a person by email (spaces.setup).
    ("chat-dm", &[CHAT_SPACES_CREATE]),
    // IMAP/SMTP with XOAUTH2 (an IMAP account linked with --oauth-account).
    ("mail", &[GMAIL_FULL]),
];

/// The scopes a tier asks for (cumulative).
pub fn tier_scopes(tier: u8) -> Vec<&'static str> {
    let mut scopes = vec![GMAIL_READONLY];
    if tier >= 2 {
        scopes.extend([GMAIL_COMPOSE, GMAIL_SEND]);
    }
    if tier >= 3 {
        scopes.push(GMAIL_MODIFY);
    }
    scopes
}

/// Everything a sign-in for `tier` and `modules` asks for.
pub fn requested_scopes(tier: u8, modules: &[String]) -> Vec<&'static str> {
    let mut scopes = vec![OPENID, EMAIL];
    scopes.extend(tier_scopes(tier));
    for (name, module_scopes) in MODULES {
        if modules.iter().any(|m| m == name) {
            scopes.extend(module_scopes);
        }
    }
    scopes
}

/// The scopes any one of which covers `need`.
pub fn covering(need: Need) -> &'static [&'static str] {
    match need {
        Need::GmailRead => &[GMAIL_READONLY, GMAIL_MODIFY, GMAIL_FULL],
        Need::GmailCompose => &[GMAIL_COMPOSE, GMAIL_MODIFY, GMAIL_FULL],
        Need::GmailSend => &[GMAIL_SEND, GMAIL_COMPOSE, GMAIL_MODIFY, GMAIL_FULL],
        Need::GmailModify => &[GMAIL_MODIFY, GMAIL_FULL],
        Need::Contacts => &[CONTACTS],
        Need::ContactsOther => &[CONTACTS_OTHER_READONLY],
        Need::Directory => &[DIRECTORY_READONLY],
        Need::Chat => &[CHAT_MESSAGES_CREATE, CHAT_MESSAGES],
        Need::ChatRead => &[CHAT_MESSAGES_READONLY, CHAT_MESSAGES],
        Need::ChatSpaces => &[CHAT_SPACES_READONLY, CHAT_SPACES],
        Need::ChatCreateSpace => &[CHAT_SPACES_CREATE, CHAT_SPACES],
        // IMAP/SMTP with XOAUTH2 ([mail]) needs Gmail's full scope.
        Need::MailProtocols => &[GMAIL_FULL],
    }
}

pub fn covers(granted: &[String], need: Need) -> bool {
    covering(need)
        .iter()
        .any(|s| granted.iter().any(|g| g == s))
}

/// What a sign-in must ask for to cover `need`: the tier, or the module.
pub fn upgrade_for(need: Need) -> (Option<u8>, Option<&'static str>) {
    match need {
        Need::GmailRead => (Some(1), None),
        Need::GmailCompose | Need::GmailSend => (Some(2), None),
        Need::GmailModify => (Some(3), None),
        Need::Contacts | Need::ContactsOther => (None, Some("contacts")),
        Need::Directory => (None, Some("directory")),
        Need::Chat | Need::ChatRead | Need::ChatSpaces => (None, Some("chat")),
        Need::ChatCreateSpace => (None, Some("chat-dm")),
        Need::MailProtocols => (None, Some("mail")),
    }
}

/// The highest Gmail tier the granted scopes fully cover (0: none).
pub fn tier_of(granted: &[String]) -> u8 {
    let has = |need| covers(granted, need);
    if has(Need::GmailModify) {
        3
    } else if has(Need::GmailCompose) && has(Need::GmailSend) && has(Need::GmailRead) {
        2
    } else if has(Need::GmailRead) {
        1
    } else {
        0
    }
}

/// The opt-in modules whose scopes were all granted.
pub fn modules_of(granted: &[String]) -> Vec<&'static str> {
    MODULES
        .iter()
        .filter(|(_, scopes)| scopes.iter().all(|s| granted.iter().any(|g| g == s)))
        .map(|(name, _)| *name)
        .collect()
}

/// The modules a `--with` list names; unknown names are an error naming the field.
/// A consumer Google account (@gmail.com, @googlemail.com): Gmail works,
/// Google Workspace APIs such as Chat do not.
pub fn consumer(email: &str) -> bool {
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase());
    matches!(domain.as_deref(), Some("gmail.com" | "googlemail.com"))
}

/// What a sign-in asked for that `email` cannot have: the Chat API serves
/// Google Workspace accounts only.
pub fn chat_unavailable(email: &str, modules: &[String]) -> Option<String> {
    (consumer(email) && modules.iter().any(|m| m == "chat")).then(|| {
        format!(
            "workspace_required: {email} is a consumer Google account; the Chat API serves Google Workspace accounts only, so the chat module will not work (Gmail does). Post to a space through an incoming webhook instead: commsctl accounts add chat-webhook"
        )
    })
}

pub fn parse_modules(with: &[String]) -> crate::error::Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, m) in with.iter().enumerate() {
        let m = m.trim();
        if !MODULES.iter().any(|(name, _)| *name == m) {
            return Err(crate::error::Error::invalid(
                format!("with[{i}]"),
                format!(
                    "unknown module {m:?}; expected contacts, directory, chat, chat-dm or mail"
                ),
            ));
        }
        if !out.iter().any(|o: &String| o == m) {
            out.push(m.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn tiers_are_cumulative_and_read_back() {
        for tier in 1..=3 {
            let granted = owned(&tier_scopes(tier));
            assert_eq!(tier_of(&granted), tier);
        }
        assert_eq!(tier_of(&owned(&[GMAIL_FULL])), 3);
        assert_eq!(tier_of(&owned(&[OPENID, EMAIL])), 0);
        // compose alone does not read mail: not tier 2
        assert_eq!(tier_of(&owned(&[GMAIL_COMPOSE, GMAIL_SEND])), 0);
    }

    #[test]
    fn needs_map_to_covering_scopes() {
        let t1 = owned(&tier_scopes(1));
        assert!(covers(&t1, Need::GmailRead));
        assert!(!covers(&t1, Need::GmailSend));
        assert!(!covers(&t1, Need::GmailModify));
        let t2 = owned(&tier_scopes(2));
        assert!(covers(&t2, Need::GmailSend) && covers(&t2, Need::GmailCompose));
        assert!(!covers(&t2, Need::GmailModify));
        assert!(!covers(&t2, Need::Contacts));
    }

    #[test]
    fn modules_are_opt_in() {
        let scopes = requested_scopes(1, &["chat".to_owned()]);
        assert!(scopes.contains(&CHAT_MESSAGES_CREATE) && !scopes.contains(&CONTACTS));
        // Per method: sending, reading and listing spaces, nothing broader.
        assert!(!scopes.contains(&CHAT_MESSAGES));
        let granted = owned(&scopes);
        assert_eq!(modules_of(&granted), vec!["chat"]);
        assert!(covers(&granted, Need::Chat) && covers(&granted, Need::ChatRead));
        assert!(covers(&granted, Need::ChatSpaces));
        // An account granted the broader chat.messages earlier still sends and reads.
        let older = owned(&[CHAT_MESSAGES]);
        assert!(covers(&older, Need::Chat) && covers(&older, Need::ChatRead));
        assert!(parse_modules(&["contacts".into(), "fax".into()]).is_err());
    }
}
