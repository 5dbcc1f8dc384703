//! What the sandbox account sends, the embedded default: nothing leaves
//! the machine. Emails are delivered into a Maildir, SMS and chat messages
//! are appended as JSON lines, all under `<data dir>/sandbox`:
//!
//! ```text
//! sandbox/Maildir/{tmp,new,cur}/   one file per email (open it with mutt -f)
//! sandbox/sms.jsonl                one JSON object per SMS
//! sandbox/chat.jsonl               one JSON object per chat message
//! ```
//!
//! What the sandbox receives is kept apart, under `sandbox/inbox` (see
//! [`super::inbox`]), so that sent mail never shows up in the INBOX.
//!
//! All calls are blocking std::fs code; run them on a blocking thread.

use std::io;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::lines;
use super::maildir::{self, private_dir};
use crate::outbox::model::{ChatContent, SmsContent};

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

    /// Delivers a built message into the Maildir's `new/` (see
    /// [`maildir::deliver`]). Returns the path of the delivered file.
    pub fn deliver_email(&self, message: &[u8]) -> io::Result<PathBuf> {
        maildir::deliver(&self.maildir(), message).map(|(_, path)| path)
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
                // What a real space would show: the numbered parts, in order.
                "parts": chat.parts(crate::outbox::validate::Limits::default().max_chat_chars),
            }),
        )
    }

    /// Appends `record` as one line to `root/<name>` (see [`lines::append`]).
    ///
    /// The file is opened plainly: whatever is at that path receives the
    /// line, so a FIFO there blocks until someone reads it (the daemon's
    /// tests use this to simulate a transport that hangs).
    fn append_line(&self, name: &str, record: &Value) -> io::Result<()> {
        private_dir(&self.root)?;
        lines::append(&self.root.join(name), record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

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
            split: false,
            space_name: None,
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
}
