//! Turning fetched IMAP messages into what tools return: summaries for
//! lists, and full messages (headers, text and HTML bodies, attachments).

use mail_parser::{Address, MessageParser, MimeHeaders};
use serde::Serialize;

use crate::util::html::html_to_text;

/// A message's address in its account: folder, UIDVALIDITY and UID,
/// written `<hex folder>.<uidvalidity>.<uid>` so that it fits in a URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId {
    pub folder: String,
    pub uid_validity: u32,
    pub uid: u32,
}

impl MessageId {
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}",
            hex::encode(self.folder.as_bytes()),
            self.uid_validity,
            self.uid
        )
    }

    pub fn parse(s: &str) -> Option<MessageId> {
        let mut parts = s.split('.');
        let folder = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let uid_validity = parts.next()?.parse().ok()?;
        let uid = parts.next()?.parse().ok()?;
        if parts.next().is_some() || folder.is_empty() || uid == 0 {
            return None;
        }
        Some(MessageId {
            folder,
            uid_validity,
            uid,
        })
    }
}

/// One message in a list.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub id: String,
    pub folder: String,
    pub uid: u32,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// The Date header as RFC 3339, else the server's arrival time.
    pub date: Option<String>,
    pub message_id: Option<String>,
    pub unread: bool,
    pub flagged: bool,
    pub size: Option<u32>,
}

/// An attachment as listed (and where it was saved, when asked).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AttachmentInfo {
    pub index: usize,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_path: Option<String>,
}

/// A message in full.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Full {
    #[serde(flatten)]
    pub summary: Summary,
    pub reply_to: Vec<String>,
    pub in_reply_to: Option<String>,
    /// The text body; converted from HTML when the message has no real text part.
    pub text: String,
    /// `text_part` (the sender's text), `html` (converted) or `none`.
    #[schema(value_type = String)]
    pub text_source: &'static str,
    pub html: Option<String>,
    /// True when `text` or `html` were clipped to the limit.
    pub truncated: bool,
    pub attachments: Vec<AttachmentInfo>,
}

/// An attachment's bytes, to save on request.
pub struct AttachmentBytes {
    pub index: usize,
    pub filename: String,
    pub bytes: Vec<u8>,
}

pub fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let email = addr.address()?;
            Some(match addr.name() {
                Some(name) if !name.is_empty() => format!("{name} <{email}>"),
                _ => email.to_owned(),
            })
        })
        .collect()
}

/// Flags and header bytes of a fetched message to a summary.
pub fn summary(
    id: MessageId,
    header: &[u8],
    seen: bool,
    flagged: bool,
    size: Option<u32>,
    internal_date: Option<String>,
) -> Summary {
    let parsed = MessageParser::default().parse_headers(header);
    let (from, to, cc, subject, date, message_id) = match &parsed {
        Some(m) => (
            addresses(m.from()),
            addresses(m.to()),
            addresses(m.cc()),
            m.subject().unwrap_or_default().to_owned(),
            m.date().map(|d| d.to_rfc3339()),
            m.message_id().map(|s| format!("<{s}>")),
        ),
        None => Default::default(),
    };
    Summary {
        folder: id.folder.clone(),
        uid: id.uid,
        id: id.encode(),
        from,
        to,
        cc,
        subject,
        date: date.or(internal_date),
        message_id,
        unread: !seen,
        flagged,
        size,
    }
}

/// The full message from its raw bytes; bodies clipped at `max_chars`.
pub fn full(summary: Summary, raw: &[u8], max_chars: usize) -> (Full, Vec<AttachmentBytes>) {
    let parsed = MessageParser::default().parse(raw);
    let Some(m) = parsed else {
        return (
            Full {
                summary,
                reply_to: Vec::new(),
                in_reply_to: None,
                text: String::new(),
                text_source: "none",
                html: None,
                truncated: false,
                attachments: Vec::new(),
            },
            Vec::new(),
        );
    };
    let text_part = (m.text_body_count() > 0)
        .then(|| m.body_text(0).map(|t| t.into_owned()))
        .flatten()
        // mail-parser offers a text view of an HTML-only message; only a
        // real text/plain part counts as the sender's text.
        .filter(|_| m.text_part(0).is_some_and(|p| !p.is_text_html()));
    let html = m
        .body_html(0)
        .map(|h| h.into_owned())
        .filter(|_| m.html_body_count() > 0)
        .filter(|_| m.html_part(0).is_some_and(|p| p.is_text_html()));
    let html_text = html.as_deref().map(html_to_text);
    let (text, source) = match (&text_part, &html_text) {
        (Some(t), Some(h)) if crate::gmail::render::is_stub(t, Some(h)) => (h.clone(), "html"),
        (Some(t), _) => (t.clone(), "text_part"),
        (None, Some(h)) => (h.clone(), "html"),
        (None, None) => (String::new(), "none"),
    };
    let (text, clipped_text) = clip(text, max_chars);
    let (html, clipped_html) = match html {
        Some(h) => {
            let (h, c) = clip(h, max_chars);
            (Some(h), c)
        }
        None => (None, false),
    };
    let mut attachments = Vec::new();
    let mut bytes = Vec::new();
    for (index, part) in m.attachments().enumerate() {
        let filename = part
            .attachment_name()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("attachment-{}", index + 1));
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let contents = part.contents();
        attachments.push(AttachmentInfo {
            index,
            filename: filename.clone(),
            content_type,
            size: contents.len(),
            saved_path: None,
        });
        bytes.push(AttachmentBytes {
            index,
            filename,
            bytes: contents.to_vec(),
        });
    }
    let full = Full {
        summary,
        reply_to: addresses(m.reply_to()),
        in_reply_to: m.in_reply_to().as_text().map(|s| format!("<{s}>")),
        text,
        text_source: source,
        html,
        truncated: clipped_text || clipped_html,
        attachments,
    };
    (full, bytes)
}

/// `s` cut to at most `max` characters (on a character boundary).
fn clip(s: String, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (s[..at].to_owned(), true),
        None => (s, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip_and_reject_garbage() {
        let id = MessageId {
            folder: "Archives/2026 é".into(),
            uid_validity: 7,
            uid: 42,
        };
        assert_eq!(MessageId::parse(&id.encode()), Some(id));
        for bad in [
            "",
            "494e424f58",
            "494e424f58.1",
            "zz.1.2",
            "494e424f58.1.0",
            "494e424f58.1.2.3",
        ] {
            assert_eq!(MessageId::parse(bad), None, "{bad}");
        }
    }

    fn summary0() -> Summary {
        summary(
            MessageId {
                folder: "INBOX".into(),
                uid_validity: 1,
                uid: 1,
            },
            b"",
            false,
            false,
            None,
            None,
        )
    }

    #[test]
    fn html_only_and_stub_text_become_text_from_html() {
        let raw = b"From: a@example.org\r\nSubject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee HTML.\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b>, the results are in.</p>\r\n--b--\r\n";
        let (full, _) = full(summary0(), raw, 10_000);
        assert_eq!(full.text_source, "html");
        assert!(
            full.text.contains("Hello") && full.text.contains("the results are in."),
            "{}",
            full.text
        );
        let raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nA real text body, long enough to count: gr\xc3\xbc\xc3\x9fe.\r\n";
        let (full, _) = super::full(summary0(), raw, 10_000);
        assert_eq!(full.text_source, "text_part");
        assert!(full.text.contains("grüße"));
        assert_eq!(full.html, None);
        let (clipped, _) = super::full(summary0(), raw, 6);
        assert_eq!(clipped.text, "A real");
        assert!(clipped.truncated);
    }

    #[test]
    fn filenames_cannot_escape_their_directory() {
        use crate::fsprivate::safe_filename;
        assert_eq!(safe_filename("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_filename("..."), "attachment");
        assert_eq!(safe_filename("report.pdf"), "report.pdf");
    }
}
