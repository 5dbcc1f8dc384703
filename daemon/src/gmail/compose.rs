//! Drafts and replies: validated content → RFC 5322 (the outbox's one MIME
//! builder, plus reply headers and the Bcc header Gmail reads), and a Gmail
//! draft's raw message → the content an approval binds to.

use std::path::PathBuf;
use std::time::SystemTime;

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use serde_json::Value;

use super::render;
use crate::error::{Code, Error, Result};
use crate::outbox::attachments::{AttachFrom, AttachmentStore};
use crate::outbox::mime::{self, Extra};
use crate::outbox::model::{Attachment, EmailContent, bare_address};
use crate::outbox::validate::{self, EmailInput, Limits};

/// Headers a reply needs from the message it answers.
pub const REPLY_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "References",
    "In-Reply-To",
];

/// A draft as an agent gives it.
#[derive(Debug, Clone, Default)]
pub struct DraftInput {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<PathBuf>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

/// A built draft.
#[derive(Debug, Clone)]
pub struct BuiltDraft {
    pub raw: Vec<u8>,
    pub content: EmailContent,
    pub message_id: String,
}

/// Validates `input` (attachments as `from` allows) and builds it.
/// Blocking (reads attachment files).
pub fn build(
    input: DraftInput,
    store: &AttachmentStore,
    from: AttachFrom,
    now: SystemTime,
) -> Result<BuiltDraft> {
    build_keeping(input, Vec::new(), store, from, now)
}

/// [`build`] with attachments already in the store (`kept`, a patched
/// draft's) before those `input` names.
pub fn build_keeping(
    input: DraftInput,
    kept: Vec<Attachment>,
    store: &AttachmentStore,
    from: AttachFrom,
    now: SystemTime,
) -> Result<BuiltDraft> {
    let limits = Limits::default();
    if kept.len() + input.attachments.len() > limits.max_attachments {
        return Err(Error::invalid(
            "attachments",
            format!("at most {} attachments are allowed", limits.max_attachments),
        ));
    }
    validate::mailboxes("to", &input.to)?;
    validate::mailboxes("cc", &input.cc)?;
    validate::mailboxes("bcc", &input.bcc)?;
    let mut stored = kept;
    for (i, p) in input.attachments.iter().enumerate() {
        stored.push(store.import(&format!("attachments[{i}]"), p, from, &limits)?);
    }
    let content = validate::email(
        EmailInput {
            from: input.from,
            to: input.to,
            cc: input.cc,
            bcc: input.bcc,
            subject: input.subject,
            text: input.text,
            html: input.html,
        },
        stored,
        &limits,
    )?;
    let message_id = new_message_id(&content.from);
    let extra = Extra {
        in_reply_to: input.in_reply_to,
        references: input.references,
        bcc_header: true,
    };
    let built = mime::build_with(&content, store, &message_id, now, &extra)?;
    Ok(BuiltDraft {
        raw: built.bytes,
        content,
        message_id,
    })
}

/// `<random@domain of the sender>`.
pub fn new_message_id(from: &str) -> String {
    let domain = bare_address(from)
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .filter(|d| {
            !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        })
        .unwrap_or_else(|| "commsd.invalid".to_owned());
    let mut r = [0u8; 12];
    let _ = getrandom::fill(&mut r);
    format!("<commsd.{}@{domain}>", hex::encode(r))
}

/// "Re: " once: a subject that already starts with Re: (any case, or Re[2]:) is kept.
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let lower = s.to_ascii_lowercase();
    let is_re = lower.starts_with("re:")
        || (lower.starts_with("re[")
            && lower
                .find("]:")
                .is_some_and(|i| lower[3..i].bytes().all(|b| b.is_ascii_digit())))
        || lower.starts_with("aw:");
    if is_re {
        s.to_owned()
    } else {
        format!("Re: {s}")
    }
}

/// Message-IDs in a References/In-Reply-To value, each in angle brackets.
pub fn message_ids(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let id = &rest[start..start + end + 1];
        if id.len() > 2 && !id.contains(char::is_whitespace) {
            out.push(id.to_owned());
        }
        rest = &rest[start + end + 1..];
    }
    out
}

/// What a reply to `original` (a Gmail message with REPLY_HEADERS) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHeaders {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub in_reply_to: String,
    pub references: Vec<String>,
    pub thread_id: String,
}

/// Reply headers: to the Reply-To (else From), with reply_all the other
/// recipients in Cc (never ourselves); In-Reply-To the original's Message-ID;
/// References the original's chain plus its Message-ID.
pub fn reply_headers(original: &Value, own: &[String], reply_all: bool) -> Result<ReplyHeaders> {
    let p = &original["payload"];
    let h = |n: &str| render::header(p, n).unwrap_or_default().to_owned();
    let message_id = message_ids(&h("Message-ID"))
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::new(
                Code::FailedPrecondition,
                "the message has no Message-ID to reply to",
            )
            .with_details(serde_json::json!({ "field": "replyToMessageId" }))
        })?;
    let mut references = message_ids(&h("References"));
    if references.is_empty() {
        references = message_ids(&h("In-Reply-To"));
    }
    if !references.contains(&message_id) {
        references.push(message_id.clone());
    }
    let is_own = |m: &str| {
        own.iter()
            .any(|o| bare_address(o).eq_ignore_ascii_case(bare_address(m)))
    };
    let from = split_addresses(&h("From"));
    let reply_to = split_addresses(&h("Reply-To"));
    let sent_by_us = from.iter().all(|m| is_own(m));
    let mut to = if !reply_to.is_empty() {
        reply_to
    } else if sent_by_us {
        // Replying to our own message continues to its recipients.
        split_addresses(&h("To"))
    } else {
        from
    };
    to.retain(|m| !is_own(m));
    let mut cc = Vec::new();
    if reply_all {
        for m in split_addresses(&h("To"))
            .into_iter()
            .chain(split_addresses(&h("Cc")))
        {
            let dup = to
                .iter()
                .chain(&cc)
                .any(|x| bare_address(x).eq_ignore_ascii_case(bare_address(&m)));
            if !is_own(&m) && !dup {
                cc.push(m);
            }
        }
    }
    if to.is_empty() {
        return Err(Error::new(
            Code::FailedPrecondition,
            "the message has no one to reply to but this account",
        )
        .with_details(serde_json::json!({ "field": "replyToMessageId" })));
    }
    Ok(ReplyHeaders {
        to,
        cc,
        subject: reply_subject(&h("Subject")),
        in_reply_to: message_id,
        references,
        thread_id: original["threadId"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Splits an address list at commas outside quotes and angle brackets.
pub fn split_addresses(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut angle) = (false, false);
    for c in v.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_owned());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// A draft's raw message as outbox content: what an approval binds to
/// (from, to, cc, bcc, subject, text, HTML, attachments by SHA-256, stored
/// in the attachment store). Blocking.
pub fn parse_raw(raw: &[u8], store: &AttachmentStore) -> Result<(EmailContent, Option<String>)> {
    let limits = Limits::default();
    let msg = MessageParser::default().parse(raw).ok_or_else(|| {
        Error::new(
            Code::UpstreamError,
            "the Gmail draft is not a parsable message",
        )
    })?;
    let addrs = |a: Option<&Address<'_>>| -> Vec<String> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| {
                    let email = x.address.as_deref()?;
                    Some(match x.name.as_deref().filter(|n| !n.is_empty()) {
                        Some(n) => format!("{} <{email}>", quote_name(n)),
                        None => email.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let from = addrs(msg.from()).into_iter().next().unwrap_or_default();
    let text = msg.body_text(0).map(|t| t.into_owned());
    let html = (msg.html_body_count() > 0 && msg.html_part(0).is_some_and(|p| p.is_text_html()))
        .then(|| msg.body_html(0).map(|t| t.into_owned()))
        .flatten();
    let mut attachments = Vec::new();
    for (i, part) in msg.attachments().enumerate() {
        let name = part.attachment_name().unwrap_or("attachment").to_owned();
        let mime_type = part
            .content_type()
            .map(|ct| {
                format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream"))
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        attachments.push(store.import_bytes(
            &format!("attachments[{i}]"),
            &name,
            &mime_type,
            part.contents(),
            &limits,
        )?);
    }
    let in_reply_to = match msg.in_reply_to() {
        HeaderValue::Text(t) => Some(format!("<{t}>")),
        HeaderValue::TextList(l) => l.first().map(|t| format!("<{t}>")),
        _ => None,
    };
    let content = validate::email(
        EmailInput {
            from,
            to: addrs(msg.to()),
            cc: addrs(msg.cc()),
            bcc: addrs(msg.bcc()),
            subject: msg.subject().unwrap_or_default().to_owned(),
            text,
            html,
        },
        attachments,
        &limits,
    )?;
    Ok((content, in_reply_to))
}

/// A display name as a quoted string when it needs one.
fn quote_name(n: &str) -> String {
    if n.chars()
        .all(|c| c.is_alphanumeric() || c == ' ' || c == '-' || c == '.' || c == '\'')
        && !n.contains("  ")
    {
        n.to_owned()
    } else {
        format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn re_is_never_stacked() {
        assert_eq!(reply_subject("Lab results"), "Re: Lab results");
        assert_eq!(reply_subject("Re: Lab results"), "Re: Lab results");
        assert_eq!(reply_subject("RE: Lab results"), "RE: Lab results");
        assert_eq!(reply_subject("Re[2]: x"), "Re[2]: x");
        assert_eq!(reply_subject("Regarding x"), "Re: Regarding x");
    }

    #[test]
    fn reply_headers_extend_the_chain() {
        let original = json!({
            "threadId": "t1",
            "payload": { "headers": [
                {"name": "From", "value": "Jane Roe <jane@example.org>"},
                {"name": "To", "value": "me@practice.example, \"Doe, John\" <john@example.org>"},
                {"name": "Subject", "value": "Re: Appointment"},
                {"name": "Message-ID", "value": "<c@example.org>"},
                {"name": "References", "value": "<a@x> <b@y>"},
            ]}
        });
        let r = reply_headers(&original, &["me@practice.example".to_owned()], true).unwrap();
        assert_eq!(r.to, vec!["Jane Roe <jane@example.org>"]);
        assert_eq!(r.cc, vec!["\"Doe, John\" <john@example.org>"]);
        assert_eq!(r.subject, "Re: Appointment");
        assert_eq!(r.in_reply_to, "<c@example.org>");
        assert_eq!(r.references, vec!["<a@x>", "<b@y>", "<c@example.org>"]);
        assert_eq!(r.thread_id, "t1");
    }

    // ------------------------------------------------------------ golden MIME

    /// Tuesday, 17 November 2026, 09:30:00 UTC.
    fn date() -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_794_907_800)
    }

    struct Files {
        _root: tempfile::TempDir,
        files: PathBuf,
        store: AttachmentStore,
    }

    fn files() -> Files {
        let root = tempfile::tempdir().unwrap();
        let files = root.path().join("files");
        std::fs::create_dir(&files).unwrap();
        Files {
            store: AttachmentStore::new(root.path().join("data/attachments")),
            files,
            _root: root,
        }
    }

    impl Files {
        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.files.join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }
    }

    fn draft() -> DraftInput {
        DraftInput {
            from: "\"Praxis Dr. Roe\" <praxis@clinic.example>".to_owned(),
            to: vec!["Jane Doe <jane@patient.example>".to_owned()],
            subject: "Your appointment on Tuesday".to_owned(),
            text: Some("Dear Jane,\n\nsee you on Tuesday at 9:30.\n\nPraxis Dr. Roe".to_owned()),
            ..DraftInput::default()
        }
    }

    /// Builds, checks the wire format, and returns the text with the
    /// random parts (Message-ID, boundaries) normalised; Date is fixed.
    fn golden(input: DraftInput, f: &Files) -> (String, BuiltDraft) {
        let built = build(input, &f.store, AttachFrom::Anywhere, date()).unwrap();
        assert!(built.raw.is_ascii(), "7-bit clean");
        for (i, &b) in built.raw.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && built.raw[i - 1] == b'\r', "bare LF at byte {i}");
            }
        }
        let text = String::from_utf8(built.raw.clone()).unwrap();
        assert!(
            text.contains(&format!("Message-ID: {}\r\n", built.message_id)),
            "{text}"
        );
        assert!(
            text.contains("Date: Tue, 17 Nov 2026 09:30:00 +0000\r\n"),
            "{text}"
        );
        (text, built)
    }

    macro_rules! assert_golden {
        ($name:expr, $text:expr) => {
            insta::with_settings!({
                filters => vec![
                    (r"commsd-(alt|mixed)-[0-9a-f]{32}", "commsd-$1-[BOUNDARY]"),
                    (r"Message-ID: <[^>]+>", "Message-ID: <[MESSAGE-ID]>"),
                ],
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!(concat!("gmail_mime__", $name), $text);
            });
        };
    }

    #[test]
    fn golden_reply_headers() {
        let f = files();
        let original = json!({
            "threadId": "t1",
            "payload": { "headers": [
                {"name": "From", "value": "Jane Doe <jane@patient.example>"},
                {"name": "To", "value": "praxis@clinic.example"},
                {"name": "Subject", "value": "Re: Your appointment on Tuesday"},
                {"name": "Message-ID", "value": "<c3@patient.example>"},
                {"name": "In-Reply-To", "value": "<b2@clinic.example>"},
                {"name": "References", "value": "<a1@clinic.example> <b2@clinic.example>"},
            ]}
        });
        let h = reply_headers(&original, &["praxis@clinic.example".to_owned()], false).unwrap();
        let (text, _) = golden(
            DraftInput {
                to: h.to.clone(),
                subject: h.subject.clone(),
                in_reply_to: Some(h.in_reply_to.clone()),
                references: h.references.clone(),
                text: Some("Dear Jane,\n\n10:00 works as well.\n\nPraxis Dr. Roe".to_owned()),
                ..draft()
            },
            &f,
        );
        assert!(
            text.contains("In-Reply-To: <c3@patient.example>\r\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "References: <a1@clinic.example> <b2@clinic.example> <c3@patient.example>\r\n"
            ),
            "the whole chain, in angle brackets: {text}"
        );
        assert!(
            text.contains("Subject: Re: Your appointment on Tuesday\r\n"),
            "Re: once: {text}"
        );
        assert_golden!("reply_headers", text);
    }

    #[test]
    fn golden_html_and_text_with_bcc() {
        let f = files();
        let (text, _) = golden(
            DraftInput {
                html: Some("<p>Dear Jane,</p><p>see you on <b>Tuesday</b> at 9:30.</p>".to_owned()),
                bcc: vec!["records@clinic.example".to_owned()],
                ..draft()
            },
            &f,
        );
        assert!(
            text.contains("Content-Type: multipart/alternative;"),
            "{text}"
        );
        // Gmail reads Bcc from the draft's header and strips it when sending.
        assert!(text.contains("Bcc: records@clinic.example\r\n"), "{text}");
        assert_golden!("html_and_text_with_bcc", text);
    }

    #[test]
    fn golden_attachments() {
        let f = files();
        let pdf = f.file(
            "Befund.pdf",
            b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
        );
        let txt = f.file("notes.txt", b"Fasting from 8pm.\n");
        let (text, built) = golden(
            DraftInput {
                html: Some("<p>Dear Jane,</p><p>your results are attached.</p>".to_owned()),
                text: Some("Dear Jane,\n\nyour results are attached.".to_owned()),
                attachments: vec![pdf, txt],
                ..draft()
            },
            &f,
        );
        assert_eq!(built.content.attachments.len(), 2);
        assert!(text.contains("Content-Type: multipart/mixed;"), "{text}");
        assert!(text.contains("filename=\"Befund.pdf\""), "{text}");
        assert_golden!("attachments", text);
    }

    #[test]
    fn golden_non_ascii_subject_names_and_file_name() {
        let f = files();
        let doc = f.file("Überweisung für Zoë.txt", "Grüße".as_bytes());
        let (text, _) = golden(
            DraftInput {
                from: "Praxis Müller <praxis@mueller.example>".to_owned(),
                to: vec!["Zoë Ångström <zoe@patient.example>".to_owned()],
                subject: "Terminerinnerung: Zahnreinigung am Dienstag 🦷".to_owned(),
                text: Some("Liebe Zoë,\n\nbis Dienstag.\n\nIhre Praxis Müller".to_owned()),
                attachments: vec![doc],
                ..draft()
            },
            &f,
        );
        assert!(
            !text.contains("Zoë"),
            "headers and names are encoded: {text}"
        );
        assert!(text.contains("=?utf-8?"), "{text}");
        assert!(text.contains("filename*"), "RFC 2231 file name: {text}");
        assert_golden!("non_ascii", text);
    }
}
