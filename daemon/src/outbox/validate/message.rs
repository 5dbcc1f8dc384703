//! Whole messages (email, SMS, chat) validated from their parts.

use super::address::{chat_space, chat_thread, e164, mailbox, mailboxes};
use super::attachment::check_attachments;
use super::{Limits, parts, short_text, subject, text_body, too_large};
use crate::error::{Error, Result};
use crate::outbox::model::Attachment;
use crate::outbox::model::{ChatContent, EmailContent, SmsContent};
use crate::util::html::html_to_text;

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
            Some(text_body("bodyHtml", &html, limits.max_body_bytes)?)
        }
        _ => None,
    };
    let text = match (input.text, &html) {
        (Some(text), _) if !text.trim().is_empty() => {
            text_body("bodyText", &text, limits.max_body_bytes)?
        }
        (_, Some(html)) => derived_text(html, limits)?,
        (_, None) => {
            return Err(Error::invalid(
                "bodyText",
                "the email has no body; give bodyText, bodyHtml or both",
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
            "bodyHtml",
            "has no readable text to derive the plain-text part from; give bodyText too",
        ));
    }
    if text.len() > limits.max_body_bytes {
        return Err(too_large(
            "bodyHtml",
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
/// With `split`, a longer text is accepted when it fits in
/// [`parts::MAX_PARTS`] numbered parts.
pub fn chat(
    space: &str,
    text: &str,
    thread: Option<&str>,
    split: bool,
    limits: &Limits,
) -> Result<ChatContent> {
    let space = match space.trim().strip_prefix("users/") {
        // The direct message with a person, found (or opened) when staged.
        Some(person) => {
            let person = mailbox("space", person)?;
            format!(
                "users/{}",
                crate::outbox::model::bare_address(&person).to_ascii_lowercase()
            )
        }
        None => chat_space("space", space)?,
    };
    let text = if split {
        let text = short_text("text", text, limits.max_chat_chars * parts::MAX_PARTS)?;
        let n = parts::split(&text, limits.max_chat_chars).len();
        if n > parts::MAX_PARTS {
            return Err(too_large(
                "text",
                format!(
                    "needs {n} parts of {} characters; at most {} parts are posted",
                    limits.max_chat_chars,
                    parts::MAX_PARTS
                ),
                (limits.max_chat_chars * parts::MAX_PARTS) as u64,
            ));
        }
        text
    } else {
        short_text("text", text, limits.max_chat_chars).map_err(|mut e| {
            e.message = format!(
                "{}; shorten it, or set split (commsctl chat send --split) to post it as numbered parts",
                e.message
            );
            e
        })?
    };
    let thread = match thread {
        Some(t) if !t.trim().is_empty() => Some(chat_thread("thread", t, &space)?),
        _ => None,
    };
    let split = split && text.chars().count() > limits.max_chat_chars;
    Ok(ChatContent {
        space,
        text,
        thread,
        split,
        space_name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::address::{ADDRESS_EXPECTED, SPACE_EXPECTED, THREAD_EXPECTED};
    use super::super::tests::{assert_invalid, assert_too_large};
    use super::*;

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
        assert_invalid(email(input, vec![], &limits), "bodyHtml", "NUL");
    }

    #[test]
    fn email_needs_a_body_and_derives_text_from_html() {
        let limits = Limits::default();
        for (text, html) in [(None, None), (Some(""), None), (Some("  \n"), Some(""))] {
            let mut input = email_input();
            input.text = text.map(str::to_owned);
            input.html = html.map(str::to_owned);
            assert_invalid(email(input, vec![], &limits), "bodyText", "no body");
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
        assert_invalid(
            email(input, vec![], &limits),
            "bodyHtml",
            "no readable text",
        );

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
        assert_too_large(email(input, vec![], &limits), "bodyText");

        let mut input = email_input();
        input.html = Some(format!("<p>{}</p>", "x".repeat(10)));
        assert_too_large(email(input, vec![], &limits), "bodyHtml");

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
        assert_too_large(email(input.clone(), vec![], &limits), "bodyHtml");
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
        let c = chat("spaces/AAA", "Hello team", None, false, &limits).unwrap();
        assert_eq!(c.space, "spaces/AAA");
        assert_eq!(c.text, "Hello team");
        assert_eq!(c.thread, None);
        let c = chat(
            "spaces/AAA",
            "Hi",
            Some("spaces/AAA/threads/t-1"),
            false,
            &limits,
        )
        .unwrap();
        assert_eq!(c.thread.as_deref(), Some("spaces/AAA/threads/t-1"));
        assert_eq!(
            chat("spaces/AAA", "Hi", Some(" "), false, &limits)
                .unwrap()
                .thread,
            None
        );

        assert_invalid(
            chat("AAA", "Hi", None, false, &limits),
            "space",
            SPACE_EXPECTED,
        );
        assert_invalid(
            chat("spaces/AAA", "", None, false, &limits),
            "text",
            "is empty",
        );
        assert_too_large(
            chat("spaces/AAA", &"x".repeat(4097), None, false, &limits),
            "text",
        );
        // A bare key is a thread commsd starts (thread.threadKey).
        assert_eq!(
            chat("spaces/AAA", "Hi", Some("t-1"), false, &limits)
                .unwrap()
                .thread
                .as_deref(),
            Some("t-1")
        );
        assert_invalid(
            chat("spaces/AAA", "Hi", Some("t 1"), false, &limits),
            "thread",
            THREAD_EXPECTED,
        );
        assert_invalid(
            chat(
                "spaces/AAA",
                "Hi",
                Some("spaces/AAA/threads/a/b"),
                false,
                &limits,
            ),
            "thread",
            THREAD_EXPECTED,
        );
        assert_invalid(
            chat(
                "spaces/AAA",
                "Hi",
                Some("spaces/BBB/threads/t"),
                false,
                &limits,
            ),
            "thread",
            "belongs to spaces/BBB",
        );
    }
}
