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

use std::net::IpAddr;

use lettre::message::Mailbox;
use serde_json::json;

use crate::error::{Code, Error, Result};
use crate::outbox::model::{Attachment, ChatContent, EmailContent, SmsContent};

const MIB: usize = 1024 * 1024;

const ADDRESS_EXPECTED: &str =
    "expected an email address such as jane@example.org or Jane Roe <jane@example.org>";
const PHONE_EXPECTED: &str = "expected a phone number in E.164 form such as +14155550100";
const SPACE_EXPECTED: &str = "expected a Google Chat space name such as spaces/AAAAbCdEfGh";
const THREAD_EXPECTED: &str =
    "expected a Google Chat thread name such as spaces/AAAAbCdEfGh/threads/XyZ123";

/// The longest mailbox (display name and address) accepted, in bytes.
const MAX_MAILBOX_BYTES: usize = 512;

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
// Addresses

/// Validates one RFC 5322 mailbox and returns lettre's normalised form
/// (`jane@x.org`, `Jane <jane@x.org>`, `"Dr. Jane Roe" <jane@x.org>`).
///
/// Display names may use any Unicode (`Zoë Ångström <zoe@x.org>`); they are
/// RFC 2047-encoded when the message is built. The address itself must be
/// ASCII: non-ASCII local parts need SMTPUTF8, which commsd does not rely on,
/// and internationalised domains must be given in their `xn--` form.
///
/// Refused: empty input, control characters anywhere (CR and LF would allow
/// header injection), several addresses in one entry, IP addresses as the
/// domain, and domains without a dot other than `localhost`. A dotless domain
/// such as `jane@clinic` is nearly always a typo, and a misaddressed email
/// from a medical practice is a privacy incident; `localhost` stays allowed
/// for local test setups.
pub fn mailbox(field: &str, input: &str) -> Result<String> {
    if input.trim().is_empty() {
        return Err(Error::invalid(
            field,
            format!("is empty; {ADDRESS_EXPECTED}"),
        ));
    }
    if input.len() > MAX_MAILBOX_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes long; a mailbox is at most {MAX_MAILBOX_BYTES} bytes; {ADDRESS_EXPECTED}",
                input.len()
            ),
        ));
    }
    if let Some(c) = input.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!("must not contain {}; {ADDRESS_EXPECTED}", control_kind(c)),
        ));
    }
    let parsed: Mailbox = input
        .parse()
        .map_err(|_| Error::invalid(field, unparsable_mailbox(input)))?;
    check_address(field, parsed.email.user(), parsed.email.domain())?;
    let normalised = parsed.to_string();
    // The stored form must parse back to itself: the MIME builder re-parses it.
    match normalised.parse::<Mailbox>() {
        Ok(again) if again.to_string() == normalised => Ok(normalised),
        _ => Err(Error::invalid(
            field,
            format!(
                "{} cannot be used as given; {ADDRESS_EXPECTED}",
                shown(input)
            ),
        )),
    }
}

/// The message for input lettre cannot parse, with a hint for common slips.
fn unparsable_mailbox(input: &str) -> String {
    let mut message = format!(
        "{} is not an email address; {ADDRESS_EXPECTED}",
        shown(input)
    );
    if input.contains(',') || input.contains(';') {
        message.push_str(
            "; give one address per entry, and quote a display name that contains a comma \
             (\"Roe, Jane\" <jane@example.org>)",
        );
    }
    message
}

/// Checks the address part of a parsed mailbox.
fn check_address(field: &str, user: &str, domain: &str) -> Result<()> {
    let problem = if !user.is_ascii() {
        "non-ASCII characters before the @ are not supported".to_owned()
    } else if !domain.is_ascii() {
        format!(
            "the domain {domain} must be written in its ASCII form \
             (internationalised domains start with xn--)"
        )
    } else if domain.parse::<IpAddr>().is_ok() {
        format!("the domain is an IP address ({domain}); use the domain name")
    } else if !domain.contains('.') && !domain.eq_ignore_ascii_case("localhost") {
        format!("the domain {domain} has no dot; is part of it missing (as in example.org)?")
    } else {
        return Ok(());
    };
    Err(Error::invalid(
        field,
        format!("{problem}; {ADDRESS_EXPECTED}"),
    ))
}

/// Validates every mailbox; errors name `field[i]`.
pub fn mailboxes(field: &str, inputs: &[String]) -> Result<Vec<String>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| mailbox(&format!("{field}[{i}]"), input))
        .collect()
}

/// Validates a phone number in E.164 form and returns it without separators.
///
/// The leading `+` and country code are required; spaces, dashes, dots and
/// parentheses are accepted and removed (`+1 (415) 555-0100` becomes
/// `+14155550100`). The number has 7 to 15 digits, the first not 0.
pub fn e164(field: &str, input: &str) -> Result<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(field, format!("is empty; {PHONE_EXPECTED}")));
    }
    let Some(rest) = trimmed.strip_prefix('+') else {
        return Err(Error::invalid(
            field,
            format!(
                "{} does not start with + and the country code; {PHONE_EXPECTED}",
                shown(trimmed)
            ),
        ));
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(Error::invalid(
                    field,
                    format!("{} contains {c:?}; {PHONE_EXPECTED}", shown(trimmed)),
                ));
            }
        }
    }
    if digits.starts_with('0') {
        return Err(Error::invalid(
            field,
            format!("country codes never start with 0; {PHONE_EXPECTED}"),
        ));
    }
    if !(7..=15).contains(&digits.len()) {
        return Err(Error::invalid(
            field,
            format!(
                "has {} digits, but E.164 numbers have 7 to 15; {PHONE_EXPECTED}",
                digits.len()
            ),
        ));
    }
    Ok(format!("+{digits}"))
}

/// A Google Chat resource id: 1 to 128 of `[A-Za-z0-9_-]`.
fn is_resource_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates a Google Chat space name, `spaces/<id>` with an id of 1 to 128
/// characters from `[A-Za-z0-9_-]`. Surrounding whitespace is removed.
pub fn chat_space(field: &str, input: &str) -> Result<String> {
    let trimmed = input.trim();
    match trimmed.strip_prefix("spaces/") {
        Some(id) if is_resource_id(id) => Ok(format!("spaces/{id}")),
        _ => Err(Error::invalid(
            field,
            format!("{} is not a space name; {SPACE_EXPECTED}", shown(trimmed)),
        )),
    }
}

/// Validates a thread name `spaces/<space id>/threads/<thread id>` that must
/// belong to `space` (already validated).
fn chat_thread(field: &str, input: &str, space: &str) -> Result<String> {
    let trimmed = input.trim();
    let (thread_space, thread_id) = trimmed.split_once("/threads/").ok_or_else(|| {
        Error::invalid(
            field,
            format!("{} is not a thread name; {THREAD_EXPECTED}", shown(trimmed)),
        )
    })?;
    let thread_space = chat_space(field, thread_space).map_err(|_| {
        Error::invalid(
            field,
            format!("{} is not a thread name; {THREAD_EXPECTED}", shown(trimmed)),
        )
    })?;
    if !is_resource_id(thread_id) {
        return Err(Error::invalid(
            field,
            format!("{} is not a thread name; {THREAD_EXPECTED}", shown(trimmed)),
        ));
    }
    if thread_space != space {
        return Err(Error::invalid(
            field,
            format!("the thread belongs to {thread_space}, not to {space}"),
        ));
    }
    Ok(format!("{thread_space}/threads/{thread_id}"))
}

// ---------------------------------------------------------------------------
// Text

/// Validates a subject: one line (no CR, LF, NUL or other control character
/// but tab), at most `limits.max_subject_chars` characters. Surrounding
/// whitespace is removed.
pub fn subject(field: &str, s: &str, limits: &Limits) -> Result<String> {
    if let Some(c) = s.chars().find(|&c| c.is_control() && c != '\t') {
        return Err(Error::invalid(
            field,
            format!("must be a single line without {}", control_kind(c)),
        ));
    }
    let trimmed = s.trim();
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
    Ok(trimmed.to_owned())
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

/// Beyond this many counted start tags, HTML is converted by [`strip_tags`]:
/// html2text's time grows with the square of the nesting depth (200,000
/// nested `<div>`s take minutes), and the count bounds the depth.
const MAX_HTML_TAGS: usize = 4000;

/// Elements that never nest (void) or that the HTML parser closes by itself
/// when the next one starts (so they can only nest through counted ones).
const UNCOUNTED_TAGS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option",
];

/// Readable plain text from HTML, wrapped at 78 columns, with links as
/// numbered footnotes. Used for the text part when only HTML is given.
///
/// Pathologically nested HTML (more than [`MAX_HTML_TAGS`] start tags of
/// elements that can nest) gets a simpler tag-stripping conversion instead,
/// so a hostile body cannot keep a thread busy for minutes.
pub fn html_to_text(html: &str) -> String {
    let text = if count_nesting_tags(html) > MAX_HTML_TAGS {
        strip_tags(html)
    } else {
        html2text::config::plain()
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), 78)
            .unwrap_or_else(|_| strip_tags(html))
    };
    text.trim_end().to_owned()
}

/// The number of start tags of elements that can nest. Anything that looks
/// like a start tag counts, even in comments or scripts: overcounting only
/// selects the simpler conversion.
fn count_nesting_tags(html: &str) -> usize {
    html.split('<')
        .skip(1)
        .filter(|rest| {
            let name = tag_name(rest);
            !name.is_empty() && !UNCOUNTED_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
        })
        .count()
}

/// The tag name at the start of `rest` (the text after `<`); empty for end
/// tags, comments and text.
fn tag_name(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        ""
    }
}

/// A plain conversion in one pass: drops tags, comments, scripts and styles,
/// breaks lines at block elements, decodes the common entities.
fn strip_tags(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "blockquote",
        "pre",
        "hr",
    ];
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name = tag_name(after.trim_start_matches('/'));
        let skip_to = if after.starts_with("!--") {
            after.find("-->").map(|i| i + 3)
        } else if name.eq_ignore_ascii_case("script") || name.eq_ignore_ascii_case("style") {
            let closing = format!("</{}", name.to_ascii_lowercase());
            find_ascii_case_insensitive(after, &closing)
                .and_then(|i| after[i..].find('>').map(|j| i + j + 1))
        } else {
            after.find('>').map(|i| i + 1)
        };
        if BLOCKS.iter().any(|b| b.eq_ignore_ascii_case(name)) {
            out.push('\n');
        }
        rest = match skip_to {
            Some(i) => &after[i..],
            None => "",
        };
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    tidy_lines(&decoded)
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

fn decode_entities(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Collapses runs of spaces and blank lines.
fn tidy_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(&words.join(" "));
    }
    out
}

// ---------------------------------------------------------------------------
// Messages

/// An email as a client sends it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailInput {
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Validates an email and its (already imported) attachments.
///
/// At least one recipient in to, cc or bcc (error field `to`), at most
/// `max_recipients` together; at least one of text and HTML with content
/// (error field `text`). When the text is missing or blank it is derived from
/// the HTML with [`html_to_text`].
pub fn email(
    input: EmailInput,
    attachments: Vec<Attachment>,
    limits: &Limits,
) -> Result<EmailContent> {
    let recipients = input.to.len() + input.cc.len() + input.bcc.len();
    if recipients == 0 {
        return Err(Error::invalid(
            "to",
            "at least one recipient is required in to, cc or bcc",
        ));
    }
    if recipients > limits.max_recipients {
        return Err(too_large(
            "to",
            format!(
                "{recipients} recipients in to, cc and bcc together; the limit is {}",
                limits.max_recipients
            ),
            limits.max_recipients as u64,
        ));
    }
    let from = mailbox("from", &input.from)?;
    let to = mailboxes("to", &input.to)?;
    let cc = mailboxes("cc", &input.cc)?;
    let bcc = mailboxes("bcc", &input.bcc)?;
    let subject = subject("subject", &input.subject, limits)?;
    let html = match input.html {
        Some(html) if !html.trim().is_empty() => {
            Some(text_body("html", &html, limits.max_body_bytes)?)
        }
        _ => None,
    };
    let text = match (input.text, &html) {
        (Some(text), _) if !text.trim().is_empty() => {
            text_body("text", &text, limits.max_body_bytes)?
        }
        (_, Some(html)) => derived_text(html, limits)?,
        (_, None) => {
            return Err(Error::invalid(
                "text",
                "the email has no body; give text, html or both",
            ));
        }
    };
    check_attachments(&attachments, limits)?;
    Ok(EmailContent {
        from,
        to,
        cc,
        bcc,
        subject,
        text,
        html,
        attachments,
    })
}

/// The text part derived from the HTML part.
fn derived_text(html: &str, limits: &Limits) -> Result<String> {
    let text = html_to_text(html);
    if text.trim().is_empty() {
        return Err(Error::invalid(
            "html",
            "has no readable text to derive the plain-text part from; give a text body too",
        ));
    }
    if text.len() > limits.max_body_bytes {
        return Err(too_large(
            "html",
            format!(
                "its plain-text version is {} bytes; the limit is {}; give a shorter text body",
                text.len(),
                limits.max_body_bytes
            ),
            limits.max_body_bytes as u64,
        ));
    }
    Ok(text)
}

/// Counts, sizes and well-formedness of the attachment list.
fn check_attachments(attachments: &[Attachment], limits: &Limits) -> Result<()> {
    if attachments.len() > limits.max_attachments {
        return Err(too_large(
            "attachments",
            format!(
                "{} attachments; the limit is {}",
                attachments.len(),
                limits.max_attachments
            ),
            limits.max_attachments as u64,
        ));
    }
    let mut total: u64 = 0;
    for (i, a) in attachments.iter().enumerate() {
        let field = format!("attachments[{i}]");
        if !is_sha256_hex(&a.sha256) {
            return Err(Error::invalid(
                field,
                "is not an imported attachment (its sha256 is not 64 lowercase hex digits)",
            ));
        }
        check_filename(&field, &a.filename)?;
        if a.size > limits.max_attachment_bytes {
            return Err(too_large(
                &field,
                format!(
                    "is {} bytes; an attachment may be at most {} bytes",
                    a.size, limits.max_attachment_bytes
                ),
                limits.max_attachment_bytes,
            ));
        }
        total = total.saturating_add(a.size);
    }
    if total > limits.max_attachments_total_bytes {
        return Err(too_large(
            "attachments",
            format!(
                "are {total} bytes together; the limit is {}",
                limits.max_attachments_total_bytes
            ),
            limits.max_attachments_total_bytes,
        ));
    }
    Ok(())
}

/// Validates an SMS: an E.164 recipient (field `to`) and a non-empty body of
/// at most `max_sms_chars` characters (field `body`).
pub fn sms(to: &str, body: &str, limits: &Limits) -> Result<SmsContent> {
    Ok(SmsContent {
        to: e164("to", to)?,
        body: short_text("body", body, limits.max_sms_chars)?,
    })
}

/// Validates a Google Chat message: a space (field `space`), a non-empty text
/// of at most `max_chat_chars` characters (field `text`), and optionally a
/// thread of that space, `spaces/<id>/threads/<id>` (field `thread`). A blank
/// thread counts as none.
pub fn chat(space: &str, text: &str, thread: Option<&str>, limits: &Limits) -> Result<ChatContent> {
    let space = chat_space("space", space)?;
    let text = short_text("text", text, limits.max_chat_chars)?;
    let thread = match thread {
        Some(t) if !t.trim().is_empty() => Some(chat_thread("thread", t, &space)?),
        _ => None,
    };
    Ok(ChatContent {
        space,
        text,
        thread,
    })
}

// ---------------------------------------------------------------------------
// Attachments

/// 64 lowercase hex digits.
pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The name a recipient sees: non-empty, no control characters, no slash.
pub(super) fn check_filename(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(field, "the file name is empty"));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            field,
            format!(
                "the file name {} contains {}; rename the file",
                shown(name),
                control_kind(c)
            ),
        ));
    }
    if name.contains('/') {
        return Err(Error::invalid(field, "the file name must not contain /"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: &Error) -> &str {
        e.details["field"].as_str().unwrap_or_default()
    }

    fn assert_invalid<T: std::fmt::Debug>(r: Result<T>, field: &str, needle: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{e:?}");
        assert_eq!(field_of(&e), field, "{e:?}");
        assert!(
            e.message.contains(needle),
            "{:?} does not contain {needle:?}",
            e.message
        );
    }

    fn assert_too_large<T: std::fmt::Debug>(r: Result<T>, field: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::PayloadTooLarge, "{e:?}");
        assert_eq!(field_of(&e), field, "{e:?}");
    }

    // -- mailboxes ---------------------------------------------------------

    #[test]
    fn mailbox_accepts_and_normalises_common_forms() {
        let cases = [
            ("jane@x.org", "jane@x.org"),
            ("  jane@x.org  ", "jane@x.org"),
            ("<jane@x.org>", "jane@x.org"),
            ("Jane <jane@x.org>", "Jane <jane@x.org>"),
            (
                "\"Dr. Jane Roe\" <jane@clinic.example>",
                "\"Dr. Jane Roe\" <jane@clinic.example>",
            ),
            (
                "Dr. Jane Roe <jane@clinic.example>",
                "\"Dr. Jane Roe\" <jane@clinic.example>",
            ),
            ("Zoë Ångström <zoe@x.org>", "Zoë Ångström <zoe@x.org>"),
            ("\"Roe, Jane\" <jane@x.org>", "\"Roe, Jane\" <jane@x.org>"),
            ("O'Brien <ob@x.org>", "O'Brien <ob@x.org>"),
            ("\"\" <jane@x.org>", "jane@x.org"),
            ("user@localhost", "user@localhost"),
            ("jane+tag@sub.x.org", "jane+tag@sub.x.org"),
            ("john@xn--mller-kva.de", "john@xn--mller-kva.de"),
        ];
        for (input, expected) in cases {
            assert_eq!(mailbox("from", input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn mailbox_output_is_stable() {
        for input in [
            "Dr. Jane Roe <jane@x.org>",
            "\"a\\\"b\" <jane@x.org>",
            "Zoë <z@x.org>",
        ] {
            let once = mailbox("to", input).unwrap();
            assert_eq!(mailbox("to", &once).unwrap(), once);
        }
    }

    #[test]
    fn mailbox_refuses_header_injection() {
        for input in [
            "jane@x.org\r\nBcc: evil@x.org",
            "jane@x.org\nBcc: evil@x.org",
            "Jane\r <jane@x.org>",
            "jane@x.org\0",
        ] {
            let e = mailbox("to[0]", input).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert_eq!(field_of(&e), "to[0]");
        }
        assert_invalid(mailbox("to", "jane@x.org\r\n"), "to", "line breaks");
        assert_invalid(mailbox("to", "jane@x.org\0"), "to", "NUL");
        assert_invalid(mailbox("to", "Ja\x07ne <jane@x.org>"), "to", "control");
    }

    #[test]
    fn mailbox_refuses_malformed_input_with_a_helpful_message() {
        for input in [
            "jane",
            "jane@",
            "@x.org",
            "jane@x..org",
            "jane@x.org.",
            "jane@-x.org",
            "jane@x.org <jane@x.org>",
            "Jane (comment) <jane@x.org>",
            "Jane <jane@x.org",
        ] {
            assert_invalid(mailbox("cc[3]", input), "cc[3]", ADDRESS_EXPECTED);
        }
        assert_invalid(mailbox("to", ""), "to", "is empty");
        assert_invalid(mailbox("to", "   "), "to", "is empty");
        assert_invalid(
            mailbox("to", "a@x.org, b@x.org"),
            "to",
            "one address per entry",
        );
        assert_invalid(
            mailbox("to", "Roe, Jane <jane@x.org>"),
            "to",
            "quote a display name",
        );
        let long = format!("{}@x.org", "a".repeat(600));
        assert_invalid(mailbox("to", &long), "to", "at most 512 bytes");
    }

    #[test]
    fn mailbox_refuses_questionable_domains_and_non_ascii_addresses() {
        assert_invalid(mailbox("to", "jane@clinic"), "to", "has no dot");
        assert_invalid(mailbox("to", "jane@127.0.0.1"), "to", "IP address");
        assert_invalid(mailbox("to", "jane@[127.0.0.1]"), "to", ADDRESS_EXPECTED);
        assert_invalid(mailbox("to", "jöhn@x.org"), "to", "non-ASCII");
        assert_invalid(mailbox("to", "john@müller.de"), "to", "xn--");
    }

    #[test]
    fn mailboxes_name_the_failing_index() {
        let inputs = vec!["a@x.org".to_owned(), "nope".to_owned()];
        assert_invalid(mailboxes("to", &inputs), "to[1]", "nope");
        let ok = vec!["a@x.org".to_owned(), "B <b@x.org>".to_owned()];
        assert_eq!(mailboxes("cc", &ok).unwrap(), ok);
        assert!(mailboxes("bcc", &[]).unwrap().is_empty());
    }

    // -- phone numbers, spaces ----------------------------------------------

    #[test]
    fn e164_strips_what_humans_type() {
        let cases = [
            ("+14155550100", "+14155550100"),
            ("+1 (415) 555-0100", "+14155550100"),
            (" +49 30 1234.5678 ", "+493012345678"),
            ("+6834002", "+6834002"),
            ("+123456789012345", "+123456789012345"),
        ];
        for (input, expected) in cases {
            assert_eq!(e164("to", input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn e164_refuses_what_is_not_a_full_number() {
        assert_invalid(e164("to", "4155550100"), "to", "does not start with +");
        assert_invalid(e164("to", "(415) 555-0100"), "to", PHONE_EXPECTED);
        assert_invalid(e164("to", "+0155550100"), "to", "never start with 0");
        assert_invalid(e164("to", "+123456"), "to", "has 6 digits");
        assert_invalid(e164("to", "+1234567890123456"), "to", "has 16 digits");
        assert_invalid(e164("to", "+1 415 555 0100 x12"), "to", "'x'");
        assert_invalid(e164("to", "+1415555\n0100"), "to", "'\\n'");
        assert_invalid(e164("to", "++14155550100"), "to", "'+'");
        assert_invalid(e164("to", "+١٤١٥٥٥٥٠١٠٠"), "to", PHONE_EXPECTED);
        assert_invalid(e164("to", ""), "to", "is empty");
        assert_invalid(e164("to", "+"), "to", "has 0 digits");
    }

    #[test]
    fn chat_space_accepts_resource_names_only() {
        assert_eq!(
            chat_space("space", "spaces/AAAA_b-9").unwrap(),
            "spaces/AAAA_b-9"
        );
        assert_eq!(chat_space("space", " spaces/X ").unwrap(), "spaces/X");
        let max = format!("spaces/{}", "a".repeat(128));
        assert_eq!(chat_space("space", &max).unwrap(), max);
        for bad in [
            "",
            "spaces/",
            "AAAA",
            "space/AAAA",
            "spaces/AA/AA",
            "spaces/AA AA",
            "spaces/../x",
            "spaces/Ä",
            "spaces/AA\nAA",
        ] {
            assert_invalid(chat_space("space", bad), "space", SPACE_EXPECTED);
        }
        let long = format!("spaces/{}", "a".repeat(129));
        assert_invalid(chat_space("space", &long), "space", SPACE_EXPECTED);
    }

    // -- text ------------------------------------------------------------------

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
        let at_limit = "ü".repeat(998);
        assert!(subject("subject", &at_limit, &limits).is_ok());
        assert_too_large(subject("subject", &"ü".repeat(999), &limits), "subject");
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
    fn html_to_text_is_readable() {
        let html = "<html><head><style>p { color: red }</style><script>alert(1)</script></head>\
                    <body><h1>Reminder</h1><p>Your appointment is on <b>Tuesday</b>.</p>\
                    <ul><li>Bring your card</li><li>Arrive early</li></ul>\
                    <p><a href=\"https://clinic.example/a\">Reschedule</a></p></body></html>";
        let text = html_to_text(html);
        assert!(text.contains("Reminder"), "{text}");
        assert!(text.contains("Your appointment is on"), "{text}");
        assert!(text.contains("Tuesday"), "{text}");
        assert!(text.contains("Bring your card"), "{text}");
        assert!(text.contains("https://clinic.example/a"), "{text}");
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains('<'), "{text}");
    }

    #[test]
    fn html_to_text_wraps_at_78_columns() {
        let html = format!("<p>{}</p>", "word ".repeat(100));
        let text = html_to_text(&html);
        assert!(text.lines().count() > 5, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 78), "{text}");
    }

    #[test]
    fn deeply_nested_html_takes_the_simple_conversion() {
        let html = format!(
            "{}Hello &amp; welcome<!-- <div> --><script>x()</script>",
            "<div>".repeat(MAX_HTML_TAGS + 1)
        );
        let started = std::time::Instant::now();
        let text = html_to_text(&html);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(text, "Hello & welcome");
    }

    #[test]
    fn counting_nesting_tags_skips_void_and_self_closing_elements() {
        assert_eq!(count_nesting_tags("<p>a</p><br><img src=x><td>"), 0);
        assert_eq!(
            count_nesting_tags("<div><SPAN>a</span></div><!-- x --> a < b"),
            2
        );
        // Closing tags never reduce the count, wherever they appear.
        assert_eq!(count_nesting_tags("<div title=\"</div>\"></b><div>"), 2);
        // A long flat table stays with html2text.
        let table = format!("<table>{}</table>", "<tr><td>x</td></tr>".repeat(10_000));
        assert_eq!(count_nesting_tags(&table), 1);
    }

    #[test]
    fn strip_tags_keeps_text_and_lines() {
        let text = strip_tags(
            "<h1>Title</h1><p>One &lt;two&gt;</p><STYLE>x{}</STYLE><p>Three&nbsp;four</p><br>end",
        );
        assert_eq!(text, "Title\n\nOne <two>\n\nThree four\n\nend");
        assert_eq!(strip_tags("unterminated <b"), "unterminated");
        assert_eq!(strip_tags("<script>never closed"), "");
    }

    // -- messages --------------------------------------------------------------

    fn email_input() -> EmailInput {
        EmailInput {
            from: "Praxis <praxis@clinic.example>".to_owned(),
            to: vec!["Jane Roe <jane@x.org>".to_owned()],
            subject: "Reminder".to_owned(),
            text: Some("Hello\r\nJane".to_owned()),
            ..EmailInput::default()
        }
    }

    fn attachment(size: u64) -> Attachment {
        Attachment {
            filename: "a.pdf".to_owned(),
            mime_type: "application/pdf".to_owned(),
            size,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn email_normalises_a_valid_message() {
        let mut input = email_input();
        input.cc = vec!["c@x.org".to_owned()];
        input.bcc = vec!["Dr. B <b@x.org>".to_owned()];
        let email = email(input, vec![attachment(10)], &Limits::default()).unwrap();
        assert_eq!(email.from, "Praxis <praxis@clinic.example>");
        assert_eq!(email.to, ["Jane Roe <jane@x.org>"]);
        assert_eq!(email.cc, ["c@x.org"]);
        assert_eq!(email.bcc, ["\"Dr. B\" <b@x.org>"]);
        assert_eq!(email.text, "Hello\nJane");
        assert_eq!(email.html, None);
        assert_eq!(email.attachments.len(), 1);
    }

    #[test]
    fn email_needs_a_recipient_and_respects_the_total() {
        let mut input = email_input();
        input.to.clear();
        assert_invalid(
            email(input.clone(), vec![], &Limits::default()),
            "to",
            "at least one recipient",
        );
        input.bcc = vec!["b@x.org".to_owned()];
        assert!(email(input, vec![], &Limits::default()).is_ok());

        let limits = Limits {
            max_recipients: 3,
            ..Limits::default()
        };
        let mut input = email_input();
        input.cc = vec!["c@x.org".to_owned()];
        input.bcc = vec!["d@x.org".to_owned()];
        assert!(email(input.clone(), vec![], &limits).is_ok());
        input.bcc.push("e@x.org".to_owned());
        assert_too_large(email(input, vec![], &limits), "to");
    }

    #[test]
    fn email_errors_name_the_field() {
        let limits = Limits::default();
        let mut input = email_input();
        input.from = "nobody".to_owned();
        assert_invalid(email(input, vec![], &limits), "from", "nobody");

        let mut input = email_input();
        input.to.push("bad\n@x.org".to_owned());
        assert_invalid(email(input, vec![], &limits), "to[1]", "line breaks");

        let mut input = email_input();
        input.cc = vec!["ok@x.org".to_owned(), "x".to_owned()];
        assert_invalid(email(input, vec![], &limits), "cc[1]", ADDRESS_EXPECTED);

        let mut input = email_input();
        input.bcc = vec!["x@".to_owned()];
        assert_invalid(email(input, vec![], &limits), "bcc[0]", ADDRESS_EXPECTED);

        let mut input = email_input();
        input.subject = "a\nb".to_owned();
        assert_invalid(email(input, vec![], &limits), "subject", "line breaks");

        let mut input = email_input();
        input.html = Some("<p>a\0</p>".to_owned());
        assert_invalid(email(input, vec![], &limits), "html", "NUL");
    }

    #[test]
    fn email_needs_a_body_and_derives_text_from_html() {
        let limits = Limits::default();
        for (text, html) in [(None, None), (Some(""), None), (Some("  \n"), Some(""))] {
            let mut input = email_input();
            input.text = text.map(str::to_owned);
            input.html = html.map(str::to_owned);
            assert_invalid(email(input, vec![], &limits), "text", "no body");
        }

        let mut input = email_input();
        input.text = Some(" ".to_owned());
        input.html = Some("<p>Hello <b>Jane</b></p>".to_owned());
        let email_content = email(input, vec![], &limits).unwrap();
        assert_eq!(email_content.text, "Hello **Jane**");
        assert_eq!(
            email_content.html.as_deref(),
            Some("<p>Hello <b>Jane</b></p>")
        );

        let mut input = email_input();
        input.text = None;
        input.html = Some("<img src=\"cid:logo\">".to_owned());
        assert_invalid(email(input, vec![], &limits), "html", "no readable text");

        let mut input = email_input();
        input.html = Some("<p>HTML</p>".to_owned());
        let both = email(input, vec![], &limits).unwrap();
        assert_eq!(both.text, "Hello\nJane");
    }

    #[test]
    fn email_body_sizes_are_limited() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let mut input = email_input();
        input.text = Some("x".repeat(11));
        assert_too_large(email(input, vec![], &limits), "text");

        let mut input = email_input();
        input.html = Some(format!("<p>{}</p>", "x".repeat(10)));
        assert_too_large(email(input, vec![], &limits), "html");

        // A table's plain-text form (with its borders) is larger than its HTML.
        let html = format!("<table><tr>{}</table>", "<td>a".repeat(10));
        let limits = Limits {
            max_body_bytes: html.len(),
            ..Limits::default()
        };
        assert!(html_to_text(&html).len() > html.len());
        let mut input = email_input();
        input.text = None;
        input.html = Some(html.clone());
        assert_too_large(email(input.clone(), vec![], &limits), "html");
        // Given a text body, nothing is derived.
        input.text = Some("a b c".to_owned());
        assert!(email(input, vec![], &limits).is_ok());
    }

    #[test]
    fn email_attachment_limits() {
        let limits = Limits {
            max_attachments: 2,
            max_attachment_bytes: 100,
            max_attachments_total_bytes: 150,
            ..Limits::default()
        };
        assert!(
            email(
                email_input(),
                vec![attachment(100), attachment(50)],
                &limits
            )
            .is_ok()
        );
        assert_too_large(
            email(
                email_input(),
                vec![attachment(1), attachment(1), attachment(1)],
                &limits,
            ),
            "attachments",
        );
        assert_too_large(
            email(email_input(), vec![attachment(1), attachment(101)], &limits),
            "attachments[1]",
        );
        assert_too_large(
            email(
                email_input(),
                vec![attachment(100), attachment(51)],
                &limits,
            ),
            "attachments",
        );
        let mut bad = attachment(1);
        bad.sha256 = "../../etc/passwd".to_owned();
        assert_invalid(
            email(email_input(), vec![attachment(1), bad], &limits),
            "attachments[1]",
            "sha256",
        );
        let mut bad = attachment(1);
        bad.filename = "a\r\nb.pdf".to_owned();
        assert_invalid(
            email(email_input(), vec![bad], &limits),
            "attachments[0]",
            "line breaks",
        );
    }

    #[test]
    fn sms_validates_recipient_and_body() {
        let limits = Limits::default();
        let sms_content = sms("+1 415 555 0100", "Your appointment: Tue 9:00", &limits).unwrap();
        assert_eq!(sms_content.to, "+14155550100");
        assert_eq!(sms_content.body, "Your appointment: Tue 9:00");
        assert_invalid(sms("4155550100", "hi", &limits), "to", "E.164");
        assert_invalid(sms("+14155550100", "", &limits), "body", "is empty");
        assert_invalid(sms("+14155550100", " \n ", &limits), "body", "is empty");
        assert_invalid(sms("+14155550100", "a\0", &limits), "body", "NUL");
        assert!(sms("+14155550100", &"é".repeat(1600), &limits).is_ok());
        assert_too_large(sms("+14155550100", &"é".repeat(1601), &limits), "body");
    }

    #[test]
    fn chat_validates_space_text_and_thread() {
        let limits = Limits::default();
        let c = chat("spaces/AAA", "Hello team", None, &limits).unwrap();
        assert_eq!(c.space, "spaces/AAA");
        assert_eq!(c.text, "Hello team");
        assert_eq!(c.thread, None);
        let c = chat("spaces/AAA", "Hi", Some("spaces/AAA/threads/t-1"), &limits).unwrap();
        assert_eq!(c.thread.as_deref(), Some("spaces/AAA/threads/t-1"));
        assert_eq!(
            chat("spaces/AAA", "Hi", Some(" "), &limits).unwrap().thread,
            None
        );

        assert_invalid(chat("AAA", "Hi", None, &limits), "space", SPACE_EXPECTED);
        assert_invalid(chat("spaces/AAA", "", None, &limits), "text", "is empty");
        assert_too_large(chat("spaces/AAA", &"x".repeat(4097), None, &limits), "text");
        assert_invalid(
            chat("spaces/AAA", "Hi", Some("t-1"), &limits),
            "thread",
            THREAD_EXPECTED,
        );
        assert_invalid(
            chat("spaces/AAA", "Hi", Some("spaces/AAA/threads/a/b"), &limits),
            "thread",
            THREAD_EXPECTED,
        );
        assert_invalid(
            chat("spaces/AAA", "Hi", Some("spaces/BBB/threads/t"), &limits),
            "thread",
            "belongs to spaces/BBB",
        );
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
