//! The sandbox account's transports, the embedded default: nothing leaves
//! the machine. Emails are delivered into a Maildir, SMS and chat messages
//! are appended as JSON lines, all under `<data dir>/sandbox`:
//!
//! ```text
//! sandbox/Maildir/{tmp,new,cur}/   one file per email (open it with mutt -f)
//! sandbox/sms.jsonl                one JSON object per SMS
//! sandbox/chat.jsonl               one JSON object per chat message
//! ```
//!
//! All calls are blocking std::fs code; run them on a blocking thread.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::outbox::model::{ChatContent, SmsContent};

/// Distinguishes deliveries within one process (the `Q` part of a Maildir name).
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// How often a colliding Maildir name is retried with the next counter.
const NAME_ATTEMPTS: usize = 8;

/// The sandbox's delivery root, `<data dir>/sandbox`.
#[derive(Debug, Clone)]
pub struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    /// A sandbox rooted at `root`; directories are created (0700) on first delivery.
    pub fn new(root: PathBuf) -> Self {
        Sandbox { root }
    }

    /// `root/Maildir`.
    pub fn maildir(&self) -> PathBuf {
        self.root.join("Maildir")
    }

    /// Delivers a built message into the Maildir as the Maildir spec says:
    /// written to `tmp/<unique>`, fsynced, renamed into `new/`, and `new/`
    /// fsynced. The name is `<secs>.M<micros>P<pid>Q<counter>.<hostname>`.
    /// Returns the path of the delivered file.
    pub fn deliver_email(&self, message: &[u8]) -> io::Result<PathBuf> {
        let maildir = self.maildir();
        for sub in ["tmp", "new", "cur"] {
            private_dir(&maildir.join(sub))?;
        }
        let (name, mut file) = create_unique(&maildir.join("tmp"))?;
        let tmp = maildir.join("tmp").join(&name);
        let delivered = maildir.join("new").join(&name);
        let result = (|| {
            file.write_all(message)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &delivered)?;
            File::open(maildir.join("new"))?.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(delivered)
    }

    /// Appends the SMS to `root/sms.jsonl` as one JSON line with `id`,
    /// `account`, `delivered_at` (RFC 3339, UTC), `to` and `body`.
    pub fn deliver_sms(&self, item_id: &str, account: &str, sms: &SmsContent) -> io::Result<()> {
        self.append_line(
            "sms.jsonl",
            &json!({
                "id": item_id,
                "account": account,
                "delivered_at": jiff::Timestamp::now().to_string(),
                "to": sms.to,
                "body": sms.body,
            }),
        )
    }

    /// Appends the chat message to `root/chat.jsonl` as one JSON line with
    /// `id`, `account`, `delivered_at` (RFC 3339, UTC), `space`, `text` and
    /// `thread` (null when none).
    pub fn deliver_chat(&self, item_id: &str, account: &str, chat: &ChatContent) -> io::Result<()> {
        self.append_line(
            "chat.jsonl",
            &json!({
                "id": item_id,
                "account": account,
                "delivered_at": jiff::Timestamp::now().to_string(),
                "space": chat.space,
                "text": chat.text,
                "thread": chat.thread,
            }),
        )
    }

    /// Appends `record` and a newline with a single write to `root/<name>`,
    /// opened `O_APPEND` (created 0600), then fsyncs it.
    ///
    /// The file is opened plainly: whatever is at that path receives the
    /// line, so a FIFO there blocks until someone reads it (the daemon's
    /// tests use this to simulate a transport that hangs).
    fn append_line(&self, name: &str, record: &Value) -> io::Result<()> {
        private_dir(&self.root)?;
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(self.root.join(name))?;
        file.write_all(&line)?;
        // Only regular files can be fsynced; a pipe has nothing to make durable.
        if file.metadata()?.is_file() {
            file.sync_all()?;
        }
        Ok(())
    }
}

/// Creates `dir` and its missing parents with mode 0700.
fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates a new 0600 file in `tmp` under a fresh Maildir name.
fn create_unique(tmp: &Path) -> io::Result<(String, File)> {
    let mut last_error = None;
    for _ in 0..NAME_ATTEMPTS {
        let name = unique_name();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp.join(&name))
        {
            Ok(file) => return Ok((name, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no unique Maildir name")))
}

/// `<secs>.M<micros>P<pid>Q<counter>.<hostname>`.
fn unique_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        DELIVERIES.fetch_add(1, Ordering::Relaxed),
        hostname()
    )
}

/// The host name for Maildir names, with `/` and `:` escaped as the spec
/// says; `commsd` when it cannot be read.
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| fs::read_to_string(path).ok())
            .map(|name| maildir_safe(name.trim()))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "commsd".to_owned())
    })
}

/// Escapes `/` as `\057` and `:` as `\072`; drops anything else unsafe in a
/// file name (control characters, spaces, backslashes).
fn maildir_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_control() || c.is_whitespace() || c == '\\' => {}
            c => out.push(c),
        }
    }
    out
}

/// `[sandbox]`
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// The From of sandbox email.
    pub from: String,
}

impl SandboxConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            format!(
                "key `sandbox.from`: {e}; expected a mailbox such as \"Praxis <praxis@example.org>\""
            )
        })?;
        Ok(())
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            from: "commsd sandbox <sandbox@commsd.invalid>".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn sandbox() -> (tempfile::TempDir, Sandbox) {
        let root = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(root.path().join("data/sandbox"));
        (root, sandbox)
    }

    fn lines(path: &Path) -> Vec<Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn email_lands_in_maildir_new() {
        let (_root, sandbox) = sandbox();
        let message = b"From: a@x.org\r\nTo: b@x.org\r\nSubject: Hi\r\n\r\nHello\r\n";
        let path = sandbox.deliver_email(message).unwrap();

        let maildir = sandbox.maildir();
        assert_eq!(maildir, sandbox.root.join("Maildir"));
        assert_eq!(path.parent().unwrap(), maildir.join("new"));
        assert_eq!(fs::read(&path).unwrap(), message);
        for sub in ["tmp", "new", "cur"] {
            assert!(maildir.join(sub).is_dir(), "{sub}");
            assert_eq!(mode(&maildir.join(sub)), 0o700, "{sub}");
        }
        assert_eq!(mode(&maildir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(maildir.join("cur")).unwrap().count(), 0);
    }

    #[test]
    fn maildir_names_follow_the_spec_and_are_distinct() {
        let (_root, sandbox) = sandbox();
        let a = sandbox.deliver_email(b"one").unwrap();
        let b = sandbox.deliver_email(b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(sandbox.maildir().join("new")).unwrap().count(),
            2
        );

        let name = a.file_name().unwrap().to_str().unwrap();
        let (secs, rest) = name.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_700_000_000, "{name}");
        let rest = rest.strip_prefix('M').unwrap();
        let (micros, rest) = rest.split_once('P').unwrap();
        assert!(micros.parse::<u32>().unwrap() < 1_000_000, "{name}");
        let (pid, rest) = rest.split_once('Q').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        let (counter, host) = rest.split_once('.').unwrap();
        counter.parse::<u64>().unwrap();
        assert!(!host.is_empty() && !host.contains(['/', ':']), "{name}");
    }

    #[test]
    fn concurrent_deliveries_never_collide() {
        let (_root, sandbox) = sandbox();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let sandbox = sandbox.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .map(|j| {
                            sandbox
                                .deliver_email(format!("{i}-{j}").as_bytes())
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut paths: Vec<PathBuf> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 80);
        assert_eq!(
            fs::read_dir(sandbox.maildir().join("new")).unwrap().count(),
            80
        );
    }

    #[test]
    fn sms_lines_parse_back() {
        let (_root, sandbox) = sandbox();
        let first = SmsContent {
            to: "+14155550100".to_owned(),
            body: "Your appointment: Tue 9:30\n\"Praxis\" Müller 🦷".to_owned(),
        };
        let second = SmsContent {
            to: "+493012345678".to_owned(),
            body: "Second".to_owned(),
        };
        sandbox.deliver_sms("ob_1", "sandbox", &first).unwrap();
        sandbox.deliver_sms("ob_2", "sandbox", &second).unwrap();

        let path = sandbox.root.join("sms.jsonl");
        let records = lines(&path);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["id"], "ob_1");
        assert_eq!(records[0]["account"], "sandbox");
        assert_eq!(records[0]["to"], "+14155550100");
        assert_eq!(records[0]["body"], first.body.as_str());
        assert_eq!(records[1]["id"], "ob_2");
        assert_eq!(records[1]["body"], "Second");
        let at = records[0]["delivered_at"].as_str().unwrap();
        let parsed: jiff::Timestamp = at.parse().unwrap();
        assert!(at.ends_with('Z'), "{at}");
        assert!((jiff::Timestamp::now() - parsed).get_seconds().abs() < 60);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&sandbox.root), 0o700);
    }

    #[test]
    fn chat_lines_parse_back() {
        let (_root, sandbox) = sandbox();
        let threaded = ChatContent {
            space: "spaces/AAA".to_owned(),
            text: "Hello\nteam".to_owned(),
            thread: Some("spaces/AAA/threads/t1".to_owned()),
        };
        let plain = ChatContent {
            thread: None,
            ..threaded.clone()
        };
        sandbox
            .deliver_chat("ob_3", "team-chat", &threaded)
            .unwrap();
        sandbox.deliver_chat("ob_4", "team-chat", &plain).unwrap();

        let path = sandbox.root.join("chat.jsonl");
        let records = lines(&path);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["id"], "ob_3");
        assert_eq!(records[0]["account"], "team-chat");
        assert_eq!(records[0]["space"], "spaces/AAA");
        assert_eq!(records[0]["text"], "Hello\nteam");
        assert_eq!(records[0]["thread"], "spaces/AAA/threads/t1");
        assert!(records[1]["thread"].is_null());
        records[1]["delivered_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(!sandbox.root.join("sms.jsonl").exists());
    }

    #[test]
    fn appends_keep_existing_lines() {
        let (_root, sandbox) = sandbox();
        fs::create_dir_all(&sandbox.root).unwrap();
        let path = sandbox.root.join("sms.jsonl");
        fs::write(&path, "{\"id\":\"old\"}\n").unwrap();
        let sms = SmsContent {
            to: "+14155550100".to_owned(),
            body: "new".to_owned(),
        };
        sandbox.deliver_sms("ob_5", "sandbox", &sms).unwrap();
        let records = lines(&path);
        assert_eq!(records[0]["id"], "old");
        assert_eq!(records[1]["id"], "ob_5");
    }

    #[test]
    fn a_fifo_receives_the_line_once_read() {
        let (_root, sandbox) = sandbox();
        fs::create_dir_all(&sandbox.root).unwrap();
        let fifo = sandbox.root.join("sms.jsonl");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = std::thread::spawn(move || fs::read_to_string(fifo).unwrap());
        let sms = SmsContent {
            to: "+14155550100".to_owned(),
            body: "through a pipe".to_owned(),
        };
        sandbox.deliver_sms("ob_6", "sandbox", &sms).unwrap();
        let line = reader.join().unwrap();
        let record: Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(record["body"], "through a pipe");
    }

    #[test]
    fn hostnames_are_made_safe_for_maildir_names() {
        assert_eq!(maildir_safe("host.example"), "host.example");
        assert_eq!(maildir_safe("a/b:c"), "a\\057b\\072c");
        assert_eq!(maildir_safe("a b\n"), "ab");
        assert!(!hostname().is_empty());
    }
}
