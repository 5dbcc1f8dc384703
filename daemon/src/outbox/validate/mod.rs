//! Input validation for everything the outbox stages.
//!
//! Every function here either returns the normalised value or an [`Error`]
//! that names the offending field with a path such as `to[1]`, `cc[0]`,
//! `attachments[2]` or `subject`, and says what was expected. Nothing is
//! stored when validation fails: callers validate the whole request first and
//! only then write. The one exception is
//! [`AttachmentStore::import`](super::attachments::AttachmentStore::import),
//! which copies the file into the content-addressed store; an unreferenced
//! copy is harmless (it is named by its hash and holds no more than the
//! original).
//!
//! `address.rs`: mailboxes, phone numbers, chat spaces and threads.
//! `message.rs`: whole messages (email, SMS, chat) from their parts.
//! `attachment.rs`: the attachment list and the names and hashes the
//! attachment store relies on. Text limits and the shared error helpers are
//! here. HTML to text lives in [`crate::util::html`].

mod address;
mod attachment;
#[cfg(test)]
mod fuzz;
mod message;
pub mod parts;

use serde_json::json;

use crate::error::{Code, Error, Result};

pub use address::{chat_space, e164, mailbox, mailboxes};
pub(in crate::outbox) use attachment::{check_filename, is_sha256_hex};
pub use message::{EmailInput, chat, email, sms};

const MIB: usize = 1024 * 1024;

/// Size limits for staged messages. Sizes beyond them are refused with
/// [`Code::PayloadTooLarge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Subject length in characters (998, the RFC 5322 line limit).
    pub max_subject_chars: usize,
    /// Size of the text and of the HTML body, each, in bytes.
    pub max_body_bytes: usize,
    /// Recipients of one email, to, cc and bcc together.
    pub max_recipients: usize,
    /// Attachments of one email.
    pub max_attachments: usize,
    /// Size of one attachment in bytes.
    pub max_attachment_bytes: u64,
    /// Size of all attachments of one email together, in bytes.
    pub max_attachments_total_bytes: u64,
    /// SMS body length in characters.
    pub max_sms_chars: usize,
    /// Chat message length in characters.
    pub max_chat_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_subject_chars: 998,
            max_body_bytes: 2 * MIB,
            max_recipients: 100,
            max_attachments: 20,
            max_attachment_bytes: 25 * MIB as u64,
            max_attachments_total_bytes: 25 * MIB as u64,
            max_sms_chars: 1600,
            max_chat_chars: 4096,
        }
    }
}

/// A size-limit error for `field`.
pub(super) fn too_large(field: &str, message: String, limit: u64) -> Error {
    Error {
        code: Code::PayloadTooLarge,
        message: format!("{field}: {message}"),
        details: json!({ "field": field, "limit": limit }),
    }
}

/// `input` quoted and escaped for an error message, shortened when long.
fn shown(input: &str) -> String {
    const MAX_CHARS: usize = 60;
    if input.chars().count() <= MAX_CHARS {
        format!("{input:?}")
    } else {
        let head: String = input.chars().take(MAX_CHARS).collect();
        format!("{head:?}...")
    }
}

/// What kind of forbidden character `c` is, for error messages.
fn control_kind(c: char) -> &'static str {
    match c {
        '\r' | '\n' => "line breaks",
        '\0' => "NUL characters",
        _ => "control characters",
    }
}

// ---------------------------------------------------------------------------
// Text

/// The longest word (a run without whitespace) of a header text: lettre
/// folds header lines between words only, and RFC 5322 lines end at 998.
pub const MAX_HEADER_WORD_CHARS: usize = 900;

/// True when `s` holds `=?...?=`: mail programs decode that as an RFC 2047
/// encoded word, so the recipient would read something else than was
/// approved (`=?utf-8?b?SGk=?=` arrives as `Hi`).
pub fn looks_encoded(s: &str) -> bool {
    s.find("=?").is_some_and(|at| s[at + 2..].contains("?="))
}

/// The refusal for [`looks_encoded`] text.
pub fn encoded_refusal(field: &str) -> Error {
    Error::invalid(
        field,
        "contains =?...?=, which mail programs decode as an encoded word, so the recipient would \
         read something else; write it differently (e.g. with a space after =?)",
    )
}

/// Validates a subject: one line (no CR, LF, NUL or other control character
/// but tab), at most `limits.max_subject_chars` characters, no word over
/// [`MAX_HEADER_WORD_CHARS`]. Surrounding whitespace is removed and inner
/// runs of two or more whitespace characters become one space.
pub fn subject(field: &str, s: &str, limits: &Limits) -> Result<String> {
    if let Some(c) = s.chars().find(|&c| c.is_control() && c != '\t') {
        return Err(Error::invalid(
            field,
            format!("must be a single line without {}", control_kind(c)),
        ));
    }
    let trimmed = s.trim();
    if looks_encoded(trimmed) {
        return Err(encoded_refusal(field));
    }
    if let Some(word) = trimmed
        .split_whitespace()
        .find(|w| w.chars().count() > MAX_HEADER_WORD_CHARS)
    {
        return Err(Error::invalid(
            field,
            format!(
                "has a word of {} characters; a header line holds at most 998, so a word \
                 may be at most {MAX_HEADER_WORD_CHARS}",
                word.chars().count()
            ),
        ));
    }
    let chars = trimmed.chars().count();
    if chars > limits.max_subject_chars {
        return Err(too_large(
            field,
            format!(
                "is {chars} characters long; the limit is {}",
                limits.max_subject_chars
            ),
            limits.max_subject_chars as u64,
        ));
    }
    // Runs of spaces and tabs become one space: RFC 2047 decoders drop the
    // whitespace between two encoded words, so "Grüße  Zoë" would arrive
    // as "GrüßeZoë" (found by fuzz_mime_round_trips_through_mail_parser).
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if c.is_whitespace() && out.ends_with(char::is_whitespace) {
            out.pop();
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Validates a message body of at most `max_bytes` bytes (UTF-8) without NUL
/// characters. Line endings are normalised to `\n` (CRLF and lone CR alike);
/// the MIME builder writes CRLF on the wire.
pub fn text_body(field: &str, s: &str, max_bytes: usize) -> Result<String> {
    if s.len() > max_bytes {
        return Err(too_large(
            field,
            format!("is {} bytes; the limit is {max_bytes}", s.len()),
            max_bytes as u64,
        ));
    }
    if s.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    if s.contains('\r') {
        Ok(s.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Ok(s.to_owned())
    }
}

/// A non-empty body of at most `max_chars` characters (SMS, chat).
fn short_text(field: &str, s: &str, max_chars: usize) -> Result<String> {
    let chars = s.chars().count();
    if chars > max_chars {
        return Err(too_large(
            field,
            format!("is {chars} characters long; the limit is {max_chars}"),
            max_chars as u64,
        ));
    }
    let text = text_body(field, s, usize::MAX)?;
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "is empty; write the message text"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn field_of(e: &Error) -> &str {
        e.details["field"].as_str().unwrap_or_default()
    }

    pub(super) fn assert_invalid<T: std::fmt::Debug>(r: Result<T>, field: &str, needle: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{e:?}");
        assert_eq!(field_of(&e), field, "{e:?}");
        assert!(
            e.message.contains(needle),
            "{:?} does not contain {needle:?}",
            e.message
        );
    }

    pub(super) fn assert_too_large<T: std::fmt::Debug>(r: Result<T>, field: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::PayloadTooLarge, "{e:?}");
        assert_eq!(field_of(&e), field, "{e:?}");
    }

    // -- text ------------------------------------------------------------------

    #[test]
    fn text_that_mail_programs_would_decode_is_refused_in_headers() {
        let limits = Limits::default();
        assert_invalid(
            subject("subject", "Invoice =?utf-8?b?SGk=?= due", &limits),
            "subject",
            "encoded word",
        );
        assert_invalid(
            address::mailbox("to[0]", "\"=?utf-8?q?Dr_Who?=\" <who@clinic.example>"),
            "to[0]",
            "encoded word",
        );
        // Half of one is plain text; `=?` before `?=` is refused, spaces or not.
        assert!(subject("subject", "What =? now", &limits).is_ok());
        assert!(subject("subject", "Price =? 5 ?= total", &limits).is_err());
        assert!(subject("subject", "?= before =?", &limits).is_ok());
    }

    #[test]
    fn subject_is_one_line_within_the_limit() {
        let limits = Limits::default();
        assert_eq!(
            subject("subject", "  Terminerinnerung 🦷 ", &limits).unwrap(),
            "Terminerinnerung 🦷"
        );
        assert_eq!(subject("subject", "", &limits).unwrap(), "");
        assert_eq!(subject("subject", "a\tb", &limits).unwrap(), "a\tb");
        assert_invalid(
            subject("subject", "Hi\r\nBcc: x@y.org", &limits),
            "subject",
            "line breaks",
        );
        assert_invalid(
            subject("subject", "Hi\n", &limits),
            "subject",
            "line breaks",
        );
        assert_invalid(subject("subject", "Hi\0", &limits), "subject", "NUL");
        assert_invalid(
            subject("subject", "Hi\x1b[31m", &limits),
            "subject",
            "control",
        );
        // The limit counts characters, not bytes.
        let at_limit = format!("{}üü", "üü ".repeat(332));
        assert_eq!(at_limit.chars().count(), 998);
        assert!(subject("subject", &at_limit, &limits).is_ok());
        assert_too_large(
            subject("subject", &format!("{at_limit}ü"), &limits),
            "subject",
        );
        // A header line ends at 998: one word of 901 characters cannot be
        // folded (found by fuzz_mime_round_trips_through_mail_parser).
        assert!(subject("subject", &"a".repeat(900), &limits).is_ok());
        assert_invalid(
            subject("subject", &"a".repeat(901), &limits),
            "subject",
            "word",
        );
        // Runs of whitespace become one space (RFC 2047 decoders drop the
        // whitespace between encoded words).
        assert_eq!(
            subject("subject", "Grüße  \t Zoë", &limits).unwrap(),
            "Grüße Zoë"
        );
    }

    #[test]
    fn text_body_limits_bytes_refuses_nul_and_normalises_line_endings() {
        assert_eq!(
            text_body("text", "a\r\nb\rc\nd", 100).unwrap(),
            "a\nb\nc\nd"
        );
        assert_eq!(text_body("text", "", 100).unwrap(), "");
        assert_invalid(text_body("text", "a\0b", 100), "text", "NUL");
        assert!(text_body("text", &"x".repeat(100), 100).is_ok());
        let e = text_body("html", &"x".repeat(101), 100).unwrap_err();
        assert_eq!(e.code, Code::PayloadTooLarge);
        assert_eq!(e.details["field"], "html");
        assert_eq!(e.details["limit"], 100);
        assert!(e.message.contains("101 bytes"), "{}", e.message);
    }

    #[test]
    fn default_limits() {
        let l = Limits::default();
        assert_eq!(l.max_subject_chars, 998);
        assert_eq!(l.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(l.max_recipients, 100);
        assert_eq!(l.max_attachments, 20);
        assert_eq!(l.max_attachment_bytes, 25 * 1024 * 1024);
        assert_eq!(l.max_attachments_total_bytes, 25 * 1024 * 1024);
        assert_eq!(l.max_sms_chars, 1600);
        assert_eq!(l.max_chat_chars, 4096);
    }
}
