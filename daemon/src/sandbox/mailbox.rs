//! The sandbox account's mailbox: the Maildir at
//! `<data dir>/sandbox/inbox/Maildir` that `commsctl sandbox receive email`
//! delivers into, read and filed through [`MailStore`] exactly as an IMAP
//! account is: the same `Summary` and `Full` (mail-parser and
//! `mail::message`), search criteria applied in memory, newest first with a
//! cursor, folders INBOX, Archive and Trash (Maildir++), seen as the `S` flag.
//!
//! Message ids are `<hex folder>.<hex unique name>`; like an IMAP id, a
//! moved message has a new one.

use std::path::{Path, PathBuf};

use mail_parser::MessageParser;
use serde_json::json;

use super::maildir::{Entry, INBOX, Maildir};
use crate::error::{Code, Error, Result};
use crate::mail::client::{Criteria, Destination, Page};
use crate::mail::message::{self, Full, MessageId, Summary};
use crate::mail::store::MailStore;

/// The sandbox account's mailbox.
pub struct SandboxMailbox {
    account: String,
    maildir: Maildir,
    attachments_dir: PathBuf,
}

impl SandboxMailbox {
    /// The mailbox of sandbox account `account` under `data_dir`.
    pub fn new(account: &str, data_dir: &Path) -> SandboxMailbox {
        SandboxMailbox {
            account: account.to_owned(),
            maildir: Maildir::new(super::inbox_maildir(data_dir)),
            attachments_dir: data_dir
                .join("mail")
                .join("attachments")
                .join(hex::encode(account.as_bytes())),
        }
    }

    /// Runs blocking Maildir work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Maildir) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let maildir = self.maildir.clone();
        tokio::task::spawn_blocking(move || f(&maildir))
            .await
            .map_err(|e| Error::internal("the sandbox mailbox", e))?
    }
}

/// A message's place: its folder and unique name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SandboxId {
    folder: String,
    name: String,
}

impl SandboxId {
    fn encode(&self) -> String {
        format!(
            "{}.{}",
            hex::encode(self.folder.as_bytes()),
            hex::encode(self.name.as_bytes())
        )
    }

    fn parse(field: &str, s: &str) -> Result<SandboxId> {
        let decode = |part: &str| {
            hex::decode(part)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| !s.is_empty())
        };
        s.split_once('.')
            .and_then(|(folder, name)| {
                Some(SandboxId {
                    folder: decode(folder)?,
                    name: decode(name)?,
                })
            })
            .filter(|id| {
                !id.name.contains(['/', '\0'])
                    && !id.folder.starts_with('.')
                    && !id.folder.contains(['/', '\0'])
            })
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    "expected a message id from email_list_messages or email_search_messages",
                )
            })
    }
}

/// The message id of `name` in `folder`.
pub fn message_id(folder: &str, name: &str) -> String {
    SandboxId {
        folder: folder.to_owned(),
        name: name.to_owned(),
    }
    .encode()
}

fn io_error(e: std::io::Error) -> Error {
    Error::io("the sandbox mailbox", e)
}

fn not_found(id: &str) -> Error {
    Error::new(
        Code::NotFound,
        "no such message in the sandbox mailbox (deleted or moved?)",
    )
    .with_details(json!({ "id": id }))
}

/// The folder as it is listed (`INBOX` in capitals), if it exists.
fn existing_folder(maildir: &Maildir, folder: &str) -> Result<String> {
    if folder.eq_ignore_ascii_case(INBOX) {
        return Ok(INBOX.to_owned());
    }
    if maildir.dir(folder).is_none() {
        return Err(Error::invalid(
            "folder",
            "expected a folder name such as INBOX, Archive or Trash",
        ));
    }
    let folders = maildir.folders().map_err(io_error)?;
    folders.into_iter().find(|f| f == folder).ok_or_else(|| {
        Error::new(
            Code::NotFound,
            format!("no folder {folder:?} in the sandbox mailbox"),
        )
        .with_details(json!({ "field": "folder" }))
    })
}

/// Newest first: later delivery, then the greater name.
fn newer_first(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    (b.delivered_us, &b.name).cmp(&(a.delivered_us, &a.name))
}

fn parse_cursor(c: &str) -> Result<(i64, String)> {
    c.split_once('.')
        .and_then(|(us, name)| {
            let name = String::from_utf8(hex::decode(name).ok()?).ok()?;
            Some((us.parse().ok()?, name))
        })
        .ok_or_else(|| Error::invalid("cursor", "expected the next_cursor of a previous page"))
}

fn delivered_rfc3339(us: i64) -> Option<String> {
    jiff::Timestamp::from_microsecond(us)
        .ok()
        .map(|t| t.to_string())
}

fn summary(folder: &str, entry: &Entry, raw: &[u8]) -> Summary {
    let place = MessageId {
        folder: folder.to_owned(),
        uid_validity: 0,
        uid: 0,
    };
    let mut s = message::summary(
        place,
        raw,
        entry.seen(),
        entry.flagged(),
        u32::try_from(entry.size).ok(),
        delivered_rfc3339(entry.delivered_us),
    );
    // A Maildir has no UIDs: the id names the file, `uid` stays 0.
    s.id = SandboxId {
        folder: folder.to_owned(),
        name: entry.name.clone(),
    }
    .encode();
    s
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Whether a message matches, as IMAP SEARCH would decide: substrings
/// without regard to case; dates are the delivery day (UTC), like IMAP's
/// internal date.
fn matches(criteria: &Criteria, entry: &Entry, raw: &[u8]) -> bool {
    if criteria.unseen && entry.seen() {
        return false;
    }
    let day = jiff::Timestamp::from_microsecond(entry.delivered_us)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .ok();
    if let Some(since) = criteria.since
        && day.is_none_or(|d| d < since)
    {
        return false;
    }
    if let Some(before) = criteria.before
        && day.is_none_or(|d| d >= before)
    {
        return false;
    }
    if criteria.from.is_none()
        && criteria.to.is_none()
        && criteria.subject.is_none()
        && criteria.text.is_none()
    {
        return true;
    }
    let Some(m) = MessageParser::default().parse(raw) else {
        return false;
    };
    let from = message::addresses(m.from()).join(", ");
    let to = message::addresses(m.to()).join(", ");
    let subject = m.subject().unwrap_or_default();
    let field = |value: &Option<String>, haystack: &str| {
        value.as_deref().is_none_or(|v| contains(haystack, v))
    };
    if !field(&criteria.from, &from) || !field(&criteria.to, &to) {
        return false;
    }
    if !field(&criteria.subject, subject) {
        return false;
    }
    if let Some(text) = &criteria.text {
        let header_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
            .unwrap_or(raw.len());
        let mut haystack = String::from_utf8_lossy(&raw[..header_end]).into_owned();
        for part in [m.body_text(0), m.body_html(0)].into_iter().flatten() {
            haystack.push('\n');
            haystack.push_str(&part);
        }
        if !contains(&haystack, text) {
            return false;
        }
    }
    true
}

fn list_blocking(
    maildir: &Maildir,
    folder: &str,
    criteria: &Criteria,
    limit: usize,
    cursor: Option<(i64, String)>,
) -> Result<Page> {
    let folder = existing_folder(maildir, folder)?;
    let mut entries = maildir.entries(&folder).map_err(io_error)?;
    entries.sort_by(newer_first);
    if let Some((us, name)) = &cursor {
        entries.retain(|e| (e.delivered_us, &e.name) < (*us, name));
    }
    let mut matching = Vec::new();
    for entry in entries {
        // A message moved away since it was listed is no longer here.
        let Ok(raw) = std::fs::read(&entry.path) else {
            continue;
        };
        if matches(criteria, &entry, &raw) {
            matching.push((entry, raw));
        }
    }
    let total = matching.len();
    let next_cursor = (total > limit)
        .then(|| matching.get(limit - 1))
        .flatten()
        .map(|(e, _)| format!("{}.{}", e.delivered_us, hex::encode(e.name.as_bytes())));
    let messages = matching
        .iter()
        .take(limit)
        .map(|(entry, raw)| summary(&folder, entry, raw))
        .collect();
    Ok(Page {
        folder,
        messages,
        total,
        next_cursor,
    })
}

#[async_trait::async_trait]
impl MailStore for SandboxMailbox {
    fn account(&self) -> &str {
        &self.account
    }

    async fn list(
        &self,
        folder: &str,
        criteria: &Criteria,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page> {
        // The same checks (and errors) as an IMAP search.
        criteria.to_imap()?;
        let cursor = cursor.map(parse_cursor).transpose()?;
        let (folder, criteria) = (folder.to_owned(), criteria.clone());
        self.blocking(move |m| list_blocking(m, &folder, &criteria, limit, cursor))
            .await
    }

    async fn get(&self, id: &str, max_chars: usize, save_attachments: bool) -> Result<Full> {
        let place = SandboxId::parse("id", id)?;
        let id = id.to_owned();
        let (mut full, attachments) = self
            .blocking({
                let id = id.clone();
                move |m| {
                    let entry = m
                        .find(&place.folder, &place.name)
                        .map_err(io_error)?
                        .ok_or_else(|| not_found(&id))?;
                    let raw = std::fs::read(&entry.path).map_err(|_| not_found(&id))?;
                    let summary = summary(&place.folder, &entry, &raw);
                    Ok(message::full(summary, &raw, max_chars))
                }
            })
            .await?;
        if save_attachments && !attachments.is_empty() {
            let dir = self.attachments_dir.join(&id);
            let saved = tokio::task::spawn_blocking(move || {
                attachments
                    .into_iter()
                    .map(|a| {
                        crate::fsprivate::write_private_file(
                            &dir,
                            &format!("{}-{}", a.index, a.filename),
                            &a.bytes,
                        )
                        .map(|p| p.display().to_string())
                        .map_err(|e| Error::internal("saving an attachment", e))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .await
            .map_err(|e| Error::internal("saving attachments", e))??;
            for (info, path) in full.attachments.iter_mut().zip(saved) {
                info.saved_path = Some(path);
            }
        }
        Ok(full)
    }

    async fn mark(&self, ids: &[String], read: bool) -> Result<usize> {
        let places = ids
            .iter()
            .enumerate()
            .map(|(i, id)| SandboxId::parse(&format!("ids[{i}]"), id))
            .collect::<Result<Vec<_>>>()?;
        let ids = ids.to_vec();
        self.blocking(move |m| {
            // Every message is found before any changes.
            let mut found = Vec::new();
            for (place, id) in places.iter().zip(&ids) {
                let entry = m
                    .find(&place.folder, &place.name)
                    .map_err(io_error)?
                    .ok_or_else(|| not_found(id))?;
                found.push((place, entry));
            }
            for (place, entry) in &found {
                m.set_seen(&place.folder, entry, read).map_err(io_error)?;
            }
            Ok(found.len())
        })
        .await
    }

    async fn move_to(&self, id: &str, to: &Destination) -> Result<String> {
        let place = SandboxId::parse("id", id)?;
        let (id, to) = (id.to_owned(), to.clone());
        self.blocking(move |m| {
            let target = match &to {
                Destination::Archive => "Archive".to_owned(),
                Destination::Trash => "Trash".to_owned(),
                Destination::Inbox => INBOX.to_owned(),
                Destination::Folder(name) => {
                    let folders = m.folders().map_err(io_error)?;
                    if !folders.iter().any(|f| f == name) {
                        return Err(Error::invalid(
                            "destination",
                            format!("no folder {name:?} in the sandbox mailbox"),
                        ));
                    }
                    name.clone()
                }
            };
            let entry = m
                .find(&place.folder, &place.name)
                .map_err(io_error)?
                .ok_or_else(|| not_found(&id))?;
            let same = target == place.folder
                || (target == INBOX && place.folder.eq_ignore_ascii_case(INBOX));
            if !same {
                m.move_entry(&entry, &target).map_err(io_error)?;
            }
            Ok(target)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
        format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Tue, 3 Mar 2026 09:30:00 +0000\r\nMessage-ID: <{subject}@test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        )
        .into_bytes()
    }

    fn mailbox() -> (tempfile::TempDir, SandboxMailbox) {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = SandboxMailbox::new("sandbox", dir.path());
        (dir, mailbox)
    }

    #[tokio::test]
    async fn lists_newest_first_with_a_cursor_and_searches_in_memory() {
        let (_dir, mailbox) = mailbox();
        let empty = mailbox
            .list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap();
        assert_eq!((empty.total, empty.messages.len()), (0, 0));
        for (i, from) in [
            "Ann <ann@example.org>",
            "bob@example.org",
            "ann@example.org",
        ]
        .iter()
        .enumerate()
        {
            let raw = email(
                from,
                "me@example.org",
                &format!("n{i}"),
                &format!("Grüße {i}"),
            );
            mailbox.maildir.deliver(INBOX, &raw).unwrap();
        }
        let first = mailbox
            .list("inbox", &Criteria::default(), 2, None)
            .await
            .unwrap();
        assert_eq!(first.folder, "INBOX");
        assert_eq!(first.total, 3);
        let subjects: Vec<_> = first.messages.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(subjects, ["n2", "n1"]);
        assert!(first.messages.iter().all(|m| m.unread && m.uid == 0));
        assert_eq!(first.messages[1].from, ["bob@example.org"]);
        assert_eq!(first.messages[0].message_id.as_deref(), Some("<n2@test>"));
        let second = mailbox
            .list(
                "INBOX",
                &Criteria::default(),
                2,
                first.next_cursor.as_deref(),
            )
            .await
            .unwrap();
        assert_eq!(second.messages.len(), 1);
        assert_eq!(second.messages[0].subject, "n0");
        assert_eq!(second.next_cursor, None);

        let by = |c: Criteria| {
            let mailbox = &mailbox;
            async move {
                mailbox
                    .list("INBOX", &c, 10, None)
                    .await
                    .unwrap()
                    .messages
                    .into_iter()
                    .map(|m| m.subject)
                    .collect::<Vec<_>>()
            }
        };
        let from = Criteria {
            from: Some("ANN@".into()),
            ..Criteria::default()
        };
        assert_eq!(by(from).await, ["n2", "n0"]);
        let text = Criteria {
            text: Some("grüße 1".into()),
            ..Criteria::default()
        };
        assert_eq!(by(text).await, ["n1"]);
        let today = jiff::Zoned::now()
            .with_time_zone(jiff::tz::TimeZone::UTC)
            .date();
        let since_today = Criteria {
            since: Some(today),
            subject: Some("N0".into()),
            ..Criteria::default()
        };
        assert_eq!(by(since_today).await, ["n0"]);
        let before_today = Criteria {
            before: Some(today),
            ..Criteria::default()
        };
        assert!(by(before_today).await.is_empty());
        let bad = Criteria {
            to: Some("a\nb".into()),
            ..Criteria::default()
        };
        let e = mailbox.list("INBOX", &bad, 10, None).await.unwrap_err();
        assert_eq!(e.details["field"], "to");
        let e = mailbox
            .list("INBOX", &Criteria::default(), 10, Some("junk"))
            .await
            .unwrap_err();
        assert_eq!(e.details["field"], "cursor");
        let e = mailbox
            .list("Projects", &Criteria::default(), 10, None)
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::NotFound);
    }

    #[tokio::test]
    async fn get_mark_and_move_like_imap() {
        let (_dir, mailbox) = mailbox();
        let raw = email(
            "ann@example.org",
            "me@example.org",
            "hello",
            "Body text here.",
        );
        mailbox.maildir.deliver(INBOX, &raw).unwrap();
        let page = mailbox
            .list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap();
        let id = page.messages[0].id.clone();

        let full = mailbox.get(&id, 1000, false).await.unwrap();
        assert_eq!(full.summary.id, id);
        assert_eq!(full.text.trim_end(), "Body text here.");
        assert_eq!(full.text_source, "text_part");
        assert!(full.summary.unread, "reading never marks read");

        assert_eq!(
            mailbox.mark(std::slice::from_ref(&id), true).await.unwrap(),
            1
        );
        let unread = Criteria {
            unseen: true,
            ..Criteria::default()
        };
        let page = mailbox.list("INBOX", &unread, 10, None).await.unwrap();
        assert_eq!(page.total, 0);
        assert!(!mailbox.get(&id, 1000, false).await.unwrap().summary.unread);

        assert_eq!(
            mailbox.move_to(&id, &Destination::Archive).await.unwrap(),
            "Archive"
        );
        let e = mailbox.get(&id, 1000, false).await.unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        let archived = mailbox
            .list("Archive", &Criteria::default(), 10, None)
            .await
            .unwrap();
        assert_eq!(archived.messages.len(), 1);
        assert!(!archived.messages[0].unread, "the flag moves with it");
        let moved = archived.messages[0].id.clone();
        assert_ne!(moved, id);
        let e = mailbox
            .move_to(&moved, &Destination::Folder("Projects".into()))
            .await
            .unwrap_err();
        assert_eq!(e.details["field"], "destination");
        assert_eq!(
            mailbox.move_to(&moved, &Destination::Inbox).await.unwrap(),
            "INBOX"
        );
        let e = mailbox
            .mark(&["nonsense".to_owned()], true)
            .await
            .unwrap_err();
        assert_eq!(e.details["field"], "ids[0]");
        let e = mailbox.get("41.2e2e2f78", 10, false).await.unwrap_err();
        assert_eq!(e.details["field"], "id");
    }
}
