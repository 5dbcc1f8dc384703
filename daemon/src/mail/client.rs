//! One IMAP/SMTP account at run time: pooled IMAP sessions (reconnect with
//! backoff, a timeout on every command) and the reading operations the
//! tools, the HTTP API and the CLI share.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use super::imap::{self, ImapSession};
use super::message::{self, Full, MessageId, Summary};
use super::net::{self, Role, StepError, Timeouts};
use super::settings::{CredentialSource, MailSettings};
use crate::error::{Code, Error, Result};

/// IMAP sessions kept open per account, and the most used at once.
const POOL: usize = 4;
/// Attempts to open a session when the server cannot be reached.
const CONNECT_ATTEMPTS: u32 = 3;

/// Why an IMAP command failed.
#[derive(Debug)]
pub enum OpError {
    /// The connection broke: open a new one and try again.
    Lost(String),
    /// The server answered NO or BAD.
    Server(String),
    /// Our own error (not found, invalid input).
    Fail(Error),
}

impl From<async_imap::error::Error> for OpError {
    fn from(e: async_imap::error::Error) -> Self {
        use async_imap::error::Error as E;
        match e {
            E::Io(io) => OpError::Lost(io.to_string()),
            E::ConnectionLost => OpError::Lost("connection lost".to_owned()),
            E::No(t) | E::Bad(t) => OpError::Server(t.trim().to_owned()),
            other => OpError::Server(other.to_string()),
        }
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Fail(e)
    }
}

pub type OpFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, OpError>> + Send + 'a>>;

/// How a folder is open: EXAMINE (reading) or SELECT (flags, moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// A pooled, signed-in session and the folder it has open. Opening a
/// folder costs the server a full resync (Dovecot: ~190 ms for a 5,000-
/// message Maildir, against ~2 ms for the search and fetch after it), so a
/// session keeps its folder open between operations; the server reports
/// changes with the next command anyway.
pub struct Conn {
    pub session: ImapSession,
    /// (wire name, access, UIDVALIDITY)
    open: Option<(String, Access, u32)>,
}

impl Conn {
    fn new(session: ImapSession) -> Conn {
        Conn {
            session,
            open: None,
        }
    }

    /// Opens `wire` with at least `access`, unless it is open already;
    /// returns the folder's UIDVALIDITY.
    pub async fn open(&mut self, wire: &str, access: Access) -> std::result::Result<u32, OpError> {
        if let Some((folder, open_as, validity)) = &self.open
            && folder == wire
            && (*open_as == Access::ReadWrite || access == Access::ReadOnly)
        {
            return Ok(*validity);
        }
        // A failed SELECT leaves no folder open.
        self.open = None;
        let mailbox = match access {
            Access::ReadOnly => self.session.examine(wire).await?,
            Access::ReadWrite => self.session.select(wire).await?,
        };
        let validity = mailbox.uid_validity.unwrap_or(0);
        self.open = Some((wire.to_owned(), access, validity));
        Ok(validity)
    }
}

/// The folders with a special use, found by LIST (RFC 6154).
#[derive(Debug, Clone, Default)]
pub struct Folders {
    /// Names as people read them (decoded from modified UTF-7).
    pub names: Vec<String>,
    pub special: BTreeMap<&'static str, String>,
    /// Each name as the server spells it, by the name people read.
    wire: BTreeMap<String, String>,
}

/// Search criteria (all optional; none lists everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Criteria {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// Messages dated on or after this day.
    pub since: Option<jiff::civil::Date>,
    /// Messages dated before this day.
    pub before: Option<jiff::civil::Date>,
    pub unseen: bool,
}

impl Criteria {
    /// The IMAP SEARCH key (with `CHARSET UTF-8` when a value is not ASCII).
    pub fn to_imap(&self) -> Result<String> {
        let mut keys = Vec::new();
        let mut utf8 = false;
        for (field, key, value) in [
            ("from", "FROM", &self.from),
            ("to", "TO", &self.to),
            ("subject", "SUBJECT", &self.subject),
            ("text", "TEXT", &self.text),
        ] {
            if let Some(v) = value {
                if v.chars().any(|c| c.is_control()) {
                    return Err(Error::invalid(
                        field,
                        "expected text without control characters",
                    ));
                }
                utf8 |= !v.is_ascii();
                keys.push(format!("{key} {}", quote(v)));
            }
        }
        if let Some(d) = self.since {
            keys.push(format!("SINCE {}", imap_date(d)));
        }
        if let Some(d) = self.before {
            keys.push(format!("BEFORE {}", imap_date(d)));
        }
        if self.unseen {
            keys.push("UNSEEN".to_owned());
        }
        if keys.is_empty() {
            keys.push("ALL".to_owned());
        }
        let keys = keys.join(" ");
        Ok(if utf8 {
            format!("CHARSET UTF-8 {keys}")
        } else {
            keys
        })
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn imap_date(d: jiff::civil::Date) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[usize::try_from(d.month() - 1).unwrap_or(0).min(11)];
    format!("{}-{month}-{}", d.day(), d.year())
}

/// A page of messages, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub folder: String,
    pub messages: Vec<Summary>,
    /// How many messages match in the folder.
    pub total: usize,
    /// Pass back as `cursor` for the next (older) page.
    pub next_cursor: Option<String>,
}

/// Where to move a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Archive,
    Trash,
    Inbox,
    Folder(String),
}

/// An IMAP/SMTP account at run time.
pub struct MailClient {
    pub account: String,
    pub settings: MailSettings,
    pub tls: Arc<rustls::ClientConfig>,
    pub credentials: Arc<dyn CredentialSource>,
    pub timeouts: Timeouts,
    /// Where attachments are saved on request (0700, files 0600).
    attachments_dir: PathBuf,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    folders: Mutex<Option<Folders>>,
}

impl MailClient {
    pub fn new(
        account: String,
        settings: MailSettings,
        credentials: Arc<dyn CredentialSource>,
        data_dir: &std::path::Path,
    ) -> Result<MailClient> {
        settings.validate()?;
        let tls =
            super::trust::tls_config(settings.ca_file.as_deref(), settings.pin_sha256.as_deref())?;
        let attachments_dir = data_dir
            .join("mail")
            .join("attachments")
            .join(hex::encode(account.as_bytes()));
        Ok(MailClient {
            account,
            settings,
            tls,
            credentials,
            timeouts: Timeouts::default(),
            attachments_dir,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(POOL),
            folders: Mutex::new(None),
        })
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> MailClient {
        self.timeouts = timeouts;
        self
    }

    fn imap_error(&self, e: &StepError, oauth: bool) -> Error {
        e.to_error(
            Role::Imap,
            &self.settings.imap.host,
            self.settings.imap.port,
            oauth,
        )
    }

    /// A new signed-in session; unreachable servers are retried with backoff.
    /// A refused OAuth token is dropped and the sign-in tried once more with
    /// a fresh one (whose refresh may say the account needs a new sign-in).
    pub async fn open(&self) -> Result<ImapSession> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let credential = self.credentials.credential().await?;
            match imap::connect(&self.settings, &self.tls, &credential, self.timeouts).await {
                Ok(session) => return Ok(session),
                Err(e) => {
                    if e.step == net::Step::Authentication && !e.transient {
                        self.credentials.rejected(&credential).await;
                        if credential.is_oauth() && !refreshed {
                            refreshed = true;
                            continue;
                        }
                    }
                    attempt += 1;
                    if !e.transient || attempt >= CONNECT_ATTEMPTS {
                        return Err(self.imap_error(&e, credential.is_oauth()));
                    }
                    tracing::info!(account = %self.account, step = e.step.as_str(), reason = %e.reason, attempt, "IMAP connect failed; retrying");
                    tokio::time::sleep(net::backoff(
                        attempt - 1,
                        Duration::from_millis(250),
                        Duration::from_secs(5),
                    ))
                    .await;
                }
            }
        }
    }

    /// Runs `op` on a pooled session. A broken connection (a server restart,
    /// a timeout) is dropped and `op` runs again on a new one.
    pub async fn run<T: Send>(
        &self,
        op: impl for<'a> Fn(&'a mut Conn) -> OpFuture<'a, T> + Send + Sync,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::internal("IMAP pool", e))?;
        let mut attempt = 0;
        loop {
            let pooled = self.idle.lock().await.pop();
            let mut session = match pooled {
                Some(s) => s,
                None => Conn::new(self.open().await?),
            };
            let outcome = tokio::time::timeout(self.timeouts.command, op(&mut session)).await;
            let lost = match outcome {
                Ok(Ok(v)) => {
                    self.idle.lock().await.push(session);
                    return Ok(v);
                }
                Ok(Err(OpError::Server(text))) => {
                    self.idle.lock().await.push(session);
                    return Err(Error::new(
                        Code::UpstreamError,
                        format!("IMAP server {}: {text}", self.settings.imap.host),
                    )
                    .with_details(json!({ "server": "imap", "step": "command", "reason": text })));
                }
                Ok(Err(OpError::Fail(e))) => {
                    self.idle.lock().await.push(session);
                    return Err(e);
                }
                Ok(Err(OpError::Lost(why))) => why,
                Err(_) => format!("no answer within {} s", self.timeouts.command.as_secs()),
            };
            drop(session);
            attempt += 1;
            if attempt >= CONNECT_ATTEMPTS {
                return Err(Error::new(
                    Code::UpstreamUnavailable,
                    format!("IMAP server {}: {lost}", self.settings.imap.host),
                )
                .with_details(json!({ "server": "imap", "step": "command", "reason": lost, "transient": true })));
            }
            tracing::info!(account = %self.account, reason = %lost, "IMAP connection lost; reconnecting");
            tokio::time::sleep(net::backoff(
                attempt - 1,
                Duration::from_millis(100),
                Duration::from_secs(2),
            ))
            .await;
        }
    }

    /// The folders and their special uses (cached after the first call).
    pub async fn folders(&self) -> Result<Folders> {
        if let Some(f) = self.folders.lock().await.clone() {
            return Ok(f);
        }
        let folders = self
            .run(|s| {
                Box::pin(async move {
                    let names: Vec<async_imap::types::Name> = s
                        .session
                        .list(Some(""), Some("*"))
                        .await?
                        .try_collect()
                        .await?;
                    let mut folders = Folders::default();
                    for n in &names {
                        use async_imap::types::NameAttribute as A;
                        let name = super::utf7::display(n.name());
                        for a in n.attributes() {
                            let key = match a {
                                A::Sent => "sent",
                                A::Trash => "trash",
                                A::Archive => "archive",
                                A::All => "all",
                                A::Drafts => "drafts",
                                A::Junk => "junk",
                                _ => continue,
                            };
                            folders.special.entry(key).or_insert_with(|| name.clone());
                        }
                        folders.wire.insert(name.clone(), n.name().to_owned());
                        folders.names.push(name);
                    }
                    Ok(folders)
                })
            })
            .await?;
        *self.folders.lock().await = Some(folders.clone());
        Ok(folders)
    }

    /// `folder` as the server spells it: as LIST named it, else encoded in
    /// modified UTF-7. Plain ASCII names need no lookup.
    async fn wire(&self, folder: &str) -> Result<String> {
        if folder.chars().all(|c| (' '..='~').contains(&c) && c != '&') {
            return Ok(folder.to_owned());
        }
        Ok(self
            .folders()
            .await?
            .wire
            .get(folder)
            .cloned()
            .unwrap_or_else(|| super::utf7::encode(folder)))
    }

    /// The folder of a special use, else a folder of that name (created
    /// when missing).
    async fn special_folder(&self, key: &'static str, fallback: &'static str) -> Result<String> {
        let folders = self.folders().await?;
        if let Some(name) = folders.special.get(key) {
            return Ok(name.clone());
        }
        if key == "archive"
            && let Some(all) = folders.special.get("all")
        {
            return Ok(all.clone());
        }
        if let Some(name) = folders
            .names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(fallback))
        {
            return Ok(name.clone());
        }
        // The fallbacks ("Archive", "Trash", "Sent") are plain ASCII: the
        // name is its own wire form.
        let name = fallback.to_owned();
        self.run(|s| {
            let name = name.clone();
            Box::pin(async move { Ok(s.session.create(&name).await?) })
        })
        .await?;
        *self.folders.lock().await = None;
        Ok(name)
    }

    /// Messages matching `criteria` in `folder`, newest first, `limit` at a time.
    pub async fn list(
        &self,
        folder: &str,
        criteria: &Criteria,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page> {
        let query = criteria.to_imap()?;
        let cursor = cursor.map(parse_cursor).transpose()?;
        let wire = self.wire(folder).await?;
        let folder = folder.to_owned();
        self.run(|s| {
            let (folder, wire) = (folder.clone(), wire.clone());
            let query = query.clone();
            Box::pin(async move {
                let uid_validity = s.open(&wire, Access::ReadOnly).await?;
                let mut uids: Vec<u32> = s.session.uid_search(&query).await?.into_iter().collect();
                uids.sort_unstable_by(|a, b| b.cmp(a));
                if let Some((validity, before)) = cursor {
                    if validity != uid_validity {
                        return Err(Error::invalid(
                            "cursor",
                            "the folder changed (UIDVALIDITY); list again without a cursor",
                        )
                        .into());
                    }
                    uids.retain(|u| *u < before);
                }
                let total = uids.len();
                let page: Vec<u32> = uids.iter().copied().take(limit).collect();
                let mut messages =
                    fetch_summaries(&mut s.session, &folder, uid_validity, &page).await?;
                messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
                let next_cursor = (total > limit)
                    .then(|| page.last().map(|last| format!("{uid_validity}.{last}")))
                    .flatten();
                Ok(Page {
                    folder,
                    messages,
                    total,
                    next_cursor,
                })
            })
        })
        .await
    }

    /// One message in full; attachments saved under the data directory when asked.
    pub async fn get(&self, id: &str, max_chars: usize, save_attachments: bool) -> Result<Full> {
        let mid = MessageId::parse(id).ok_or_else(|| {
            Error::invalid(
                "id",
                "expected a message id from email_list_messages or email_search_messages",
            )
        })?;
        let wire = self.wire(&mid.folder).await?;
        let (mut full, attachments) = self
            .run(|s| {
                let (mid, wire) = (mid.clone(), wire.clone());
                Box::pin(async move {
                    check_validity(&mid, s.open(&wire, Access::ReadOnly).await?)?;
                    let fetches: Vec<async_imap::types::Fetch> = s
                        .session
                        .uid_fetch(
                            mid.uid.to_string(),
                            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
                        )
                        .await?
                        .try_collect()
                        .await?;
                    let fetch = fetches
                        .iter()
                        .find(|f| f.uid == Some(mid.uid))
                        .ok_or_else(|| not_found(&mid))?;
                    let raw = fetch.body().unwrap_or_default();
                    let summary = summary_of(&mid, fetch, raw);
                    Ok(message::full(summary, raw, max_chars))
                })
            })
            .await?;
        if save_attachments && !attachments.is_empty() {
            let dir = self.attachments_dir.join(id);
            let saved = tokio::task::spawn_blocking(move || save_all(&dir, attachments))
                .await
                .map_err(|e| Error::internal("saving attachments", e))??;
            for (info, path) in full.attachments.iter_mut().zip(saved) {
                info.saved_path = Some(path);
            }
        }
        Ok(full)
    }

    /// Sets or clears \Seen on messages.
    pub async fn mark(&self, ids: &[String], read: bool) -> Result<usize> {
        let mut by_folder: BTreeMap<(String, u32), Vec<u32>> = BTreeMap::new();
        for (i, id) in ids.iter().enumerate() {
            let m = MessageId::parse(id)
                .ok_or_else(|| Error::invalid(format!("ids[{i}]"), "expected a message id"))?;
            by_folder
                .entry((m.folder, m.uid_validity))
                .or_default()
                .push(m.uid);
        }
        let mut n = 0;
        for ((folder, validity), uids) in by_folder {
            let set = uid_set(&uids);
            let flag = if read {
                "+FLAGS.SILENT (\\Seen)"
            } else {
                "-FLAGS.SILENT (\\Seen)"
            };
            let wire = self.wire(&folder).await?;
            self.run(|s| {
                let (folder, set, wire) = (folder.clone(), set.clone(), wire.clone());
                Box::pin(async move {
                    let mid = MessageId {
                        folder: folder.clone(),
                        uid_validity: validity,
                        uid: 1,
                    };
                    check_validity(&mid, s.open(&wire, Access::ReadWrite).await?)?;
                    let _: Vec<_> = s.session.uid_store(&set, flag).await?.try_collect().await?;
                    Ok(())
                })
            })
            .await?;
            n += uids.len();
        }
        Ok(n)
    }

    /// Moves a message; returns the folder it went to.
    pub async fn move_to(&self, id: &str, to: &Destination) -> Result<String> {
        let mid =
            MessageId::parse(id).ok_or_else(|| Error::invalid("id", "expected a message id"))?;
        let target = match to {
            Destination::Archive => self.special_folder("archive", "Archive").await?,
            Destination::Trash => self.special_folder("trash", "Trash").await?,
            Destination::Inbox => "INBOX".to_owned(),
            Destination::Folder(name) => {
                if !self.folders().await?.names.iter().any(|n| n == name) {
                    return Err(Error::invalid(
                        "destination",
                        format!("no folder {name:?} in this account"),
                    ));
                }
                name.clone()
            }
        };
        if target == mid.folder {
            return Ok(target);
        }
        let (from_wire, to_wire) = (self.wire(&mid.folder).await?, self.wire(&target).await?);
        self.run(|s| {
            let mid = mid.clone();
            let (from_wire, target) = (from_wire.clone(), to_wire.clone());
            Box::pin(async move {
                check_validity(&mid, s.open(&from_wire, Access::ReadWrite).await?)?;
                let uid = mid.uid.to_string();
                let s = &mut s.session;
                let caps = s.capabilities().await?;
                if caps.has_str("MOVE") {
                    s.uid_mv(&uid, &target).await?;
                } else {
                    s.uid_copy(&uid, &target).await?;
                    let _: Vec<_> = s
                        .uid_store(&uid, "+FLAGS.SILENT (\\Deleted)")
                        .await?
                        .try_collect()
                        .await?;
                    let _: Vec<_> = s.uid_expunge(&uid).await?.try_collect().await?;
                }
                Ok(())
            })
        })
        .await?;
        Ok(target)
    }

    /// Appends a sent message to the Sent folder, marked read.
    pub async fn append_sent(&self, bytes: Arc<Vec<u8>>) -> Result<String> {
        let sent = self.special_folder("sent", "Sent").await?;
        let wire = self.wire(&sent).await?;
        self.run(|s| {
            let (wire, bytes) = (wire.clone(), bytes.clone());
            Box::pin(async move {
                s.session
                    .append(&wire, Some("(\\Seen)"), None, bytes.as_slice())
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(sent)
    }
}

async fn fetch_summaries(
    s: &mut ImapSession,
    folder: &str,
    uid_validity: u32,
    uids: &[u32],
) -> std::result::Result<Vec<Summary>, OpError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let fetches: Vec<async_imap::types::Fetch> = s
        .uid_fetch(
            uid_set(uids),
            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])",
        )
        .await?
        .try_collect()
        .await?;
    Ok(fetches
        .iter()
        .filter_map(|f| {
            let uid = f.uid?;
            let mid = MessageId {
                folder: folder.to_owned(),
                uid_validity,
                uid,
            };
            Some(summary_of(&mid, f, f.header().unwrap_or_default()))
        })
        .collect())
}

fn summary_of(mid: &MessageId, f: &async_imap::types::Fetch, header: &[u8]) -> Summary {
    use async_imap::types::Flag;
    let seen = f.flags().any(|fl| fl == Flag::Seen);
    let flagged = f.flags().any(|fl| fl == Flag::Flagged);
    message::summary(
        mid.clone(),
        header,
        seen,
        flagged,
        f.size,
        f.internal_date().map(|d| d.to_rfc3339()),
    )
}

fn check_validity(mid: &MessageId, current: u32) -> std::result::Result<(), Error> {
    if current != mid.uid_validity {
        return Err(Error::new(
            Code::NotFound,
            format!(
                "folder {:?} was renumbered by the server (UIDVALIDITY changed): list it again",
                mid.folder
            ),
        )
        .with_details(json!({ "id": mid.encode() })));
    }
    Ok(())
}

fn not_found(mid: &MessageId) -> Error {
    Error::new(
        Code::NotFound,
        format!(
            "no message {} in {:?} (deleted or moved?)",
            mid.uid, mid.folder
        ),
    )
    .with_details(json!({ "id": mid.encode() }))
}

fn parse_cursor(c: &str) -> Result<(u32, u32)> {
    c.split_once('.')
        .and_then(|(v, u)| Some((v.parse().ok()?, u.parse().ok()?)))
        .ok_or_else(|| Error::invalid("cursor", "expected the next_cursor of a previous page"))
}

/// `1,5,7` as an IMAP sequence set.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Writes each attachment as `<dir>/<index>-<safe name>`, 0600 in a 0700 directory.
fn save_all(
    dir: &std::path::Path,
    attachments: Vec<message::AttachmentBytes>,
) -> Result<Vec<String>> {
    attachments
        .into_iter()
        .map(|a| {
            crate::fsprivate::write_private_file(
                dir,
                &format!("{}-{}", a.index, a.filename),
                &a.bytes,
            )
            .map(|p| p.display().to_string())
            .map_err(|e| Error::internal("saving an attachment", e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_become_an_imap_search_key() {
        assert_eq!(Criteria::default().to_imap().unwrap(), "ALL");
        let c = Criteria {
            from: Some("ann@example.org".into()),
            subject: Some("say \"hi\"".into()),
            since: Some(jiff::civil::date(2026, 3, 5)),
            unseen: true,
            ..Criteria::default()
        };
        assert_eq!(
            c.to_imap().unwrap(),
            r#"FROM "ann@example.org" SUBJECT "say \"hi\"" SINCE 5-Mar-2026 UNSEEN"#
        );
        let c = Criteria {
            text: Some("Grüße".into()),
            ..Criteria::default()
        };
        assert_eq!(c.to_imap().unwrap(), "CHARSET UTF-8 TEXT \"Grüße\"");
        let c = Criteria {
            to: Some("a\r\nb".into()),
            ..Criteria::default()
        };
        assert_eq!(c.to_imap().unwrap_err().details["field"], "to");
    }
}
