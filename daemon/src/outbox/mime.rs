//! The one MIME builder every email transport uses (sandbox now, SMTP and
//! Gmail later), on top of lettre's `MessageBuilder`.
//!
//! Structure: text only is a single `text/plain` part; text and HTML are a
//! `multipart/alternative` (text first); attachments wrap either in a
//! `multipart/mixed` with one base64 part per attachment. Bcc recipients are
//! in the envelope only, never in a header.

use std::time::SystemTime;

use lettre::Address;
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, Message, MultiPart, SinglePart};

use crate::error::{Error, Result};
use crate::outbox::attachments::AttachmentStore;
use crate::outbox::model::{Attachment, EmailContent};

/// A built message and its SMTP envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The RFC 5322 message, CRLF line endings, 7-bit clean.
    pub bytes: Vec<u8>,
    /// The Message-ID header's value, with angle brackets.
    pub message_id: String,
    /// The bare address of the sender (SMTP `MAIL FROM`).
    pub envelope_from: String,
    /// The bare addresses of to, cc and bcc, in that order, without
    /// duplicates (SMTP `RCPT TO`).
    pub envelope_to: Vec<String>,
}

/// Builds the message for a validated email.
///
/// `message_id` is the Message-ID with its angle brackets, such as
/// `<ob_abc123.1795261321@commsd.local>`; `date` becomes the Date header.
/// Attachment bytes come from [`AttachmentStore::read`], so a stored file
/// that no longer matches its SHA-256 fails the build (an internal error)
/// instead of sending the wrong content. Content that does not pass
/// validation again here (it was validated when staged) is an internal error.
pub fn build(
    content: &EmailContent,
    attachments: &AttachmentStore,
    message_id: &str,
    date: SystemTime,
) -> Result<Built> {
    build_with(content, attachments, message_id, date, &Extra::default())
}

/// What some transports add to [`build`]: reply headers, and a Bcc header
/// for providers that read recipients from the message (Gmail drops it when
/// sending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// The Message-ID replied to, with angle brackets.
    pub in_reply_to: Option<String>,
    /// The whole chain, oldest first, each with angle brackets.
    pub references: Vec<String>,
    pub bcc_header: bool,
}

/// [`build`] with reply headers and, optionally, the Bcc header.
pub fn build_with(
    content: &EmailContent,
    attachments: &AttachmentStore,
    message_id: &str,
    date: SystemTime,
    extra: &Extra,
) -> Result<Built> {
    check_message_id(message_id)?;
    if let Some(id) = &extra.in_reply_to {
        check_message_id(id)?;
    }
    for id in &extra.references {
        check_message_id(id)?;
    }
    check_header_text("subject", &content.subject)?;
    let from = parse_mailbox("from", &content.from)?;
    let to = parse_mailboxes("to", &content.to)?;
    let cc = parse_mailboxes("cc", &content.cc)?;
    let bcc = parse_mailboxes("bcc", &content.bcc)?;

    let envelope_to = envelope_recipients(to.iter().chain(&cc).chain(&bcc));
    let envelope = Envelope::new(Some(from.email.clone()), envelope_to.clone())
        .map_err(|e| Error::internal("the email has no recipient", e))?;

    // Bcc is deliberately never added to the builder: with an explicit
    // envelope there is no Bcc header for lettre to keep or drop.
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(content.subject.clone())
        .date(date)
        .message_id(Some(message_id.to_owned()))
        .envelope(envelope);
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    for mailbox in cc {
        builder = builder.cc(mailbox);
    }
    if extra.bcc_header && !bcc.is_empty() {
        for mailbox in bcc {
            builder = builder.bcc(mailbox);
        }
        builder = builder.keep_bcc();
    }
    if let Some(id) = &extra.in_reply_to {
        builder = builder.in_reply_to(id.clone());
    }
    if !extra.references.is_empty() {
        builder = builder.references(extra.references.join(" "));
    }
    let message = match body(content, attachments)? {
        Part::Single(part) => builder.singlepart(part),
        Part::Multi(part) => builder.multipart(part),
    }
    .map_err(|e| Error::internal("cannot build the email", e))?;

    Ok(Built {
        bytes: message.formatted(),
        message_id: message_id.to_owned(),
        envelope_from: from.email.to_string(),
        envelope_to: envelope_to.iter().map(ToString::to_string).collect(),
    })
}

/// A body part: lettre has no common type for single and multipart bodies.
enum Part {
    Single(SinglePart),
    Multi(MultiPart),
}

/// The whole body: text, text + HTML, optionally wrapped with attachments.
fn body(content: &EmailContent, store: &AttachmentStore) -> Result<Part> {
    let text = SinglePart::plain(content.text.clone());
    let main = match &content.html {
        None => Part::Single(text),
        Some(html) => Part::Multi(
            MultiPart::alternative()
                .boundary(boundary("alt")?)
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
        ),
    };
    if content.attachments.is_empty() {
        return Ok(main);
    }
    let mixed = MultiPart::mixed().boundary(boundary("mixed")?);
    let mut mixed = match main {
        Part::Single(part) => mixed.singlepart(part),
        Part::Multi(part) => mixed.multipart(part),
    };
    for a in &content.attachments {
        mixed = mixed.singlepart(attachment_part(a, store)?);
    }
    Ok(Part::Multi(mixed))
}

/// One attachment, always base64 so its bytes round-trip exactly (lettre
/// would pick 7bit or quoted-printable for text files and rewrite their line
/// endings).
fn attachment_part(a: &Attachment, store: &AttachmentStore) -> Result<SinglePart> {
    check_header_text("attachment file name", &a.filename)?;
    let bytes = store.read(a).map_err(|e| {
        Error::internal(
            &format!(
                "attachment {:?} cannot be read from the data directory",
                a.filename
            ),
            e,
        )
    })?;
    let content_type = ContentType::parse(&a.mime_type).map_err(|e| {
        Error::internal(
            &format!("attachment {:?} has an invalid MIME type", a.filename),
            e,
        )
    })?;
    let body = Body::new_with_encoding(bytes, ContentTransferEncoding::Base64).map_err(|_| {
        Error::internal("cannot encode an attachment", "base64 encoding was refused")
    })?;
    Ok(lettre::message::Attachment::new(a.filename.clone()).body(body, content_type))
}

/// A MIME boundary: a recognisable prefix and 128 bits from the OS, so no
/// message content can predict (and so contain) it.
fn boundary(kind: &str) -> Result<String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random)
        .map_err(|e| Error::internal("cannot generate a MIME boundary", e))?;
    Ok(format!("commsd-{kind}-{}", hex::encode(random)))
}

fn parse_mailbox(field: &str, mailbox: &str) -> Result<Mailbox> {
    check_header_text(&format!("{field} address"), mailbox)?;
    mailbox.parse().map_err(|e| {
        Error::internal(
            &format!("the stored email has an invalid {field} address"),
            e,
        )
    })
}

fn parse_mailboxes(field: &str, mailboxes: &[String]) -> Result<Vec<Mailbox>> {
    mailboxes.iter().map(|m| parse_mailbox(field, m)).collect()
}

/// Bare addresses in order, each once (domains compare case-insensitively).
fn envelope_recipients<'a>(mailboxes: impl Iterator<Item = &'a Mailbox>) -> Vec<Address> {
    let mut seen: Vec<Address> = Vec::new();
    for mailbox in mailboxes {
        let address = &mailbox.email;
        let duplicate = seen.iter().any(|s| {
            s.user() == address.user() && s.domain().eq_ignore_ascii_case(address.domain())
        });
        if !duplicate {
            seen.push(address.clone());
        }
    }
    seen
}

/// Refuses text that would break a header (validation already did; this
/// keeps a stored value that bypassed it from injecting headers).
fn check_header_text(what: &str, s: &str) -> Result<()> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::internal(
            &format!("the stored email's {what} contains control characters"),
            format!("{s:?}"),
        ));
    }
    if s.split_whitespace()
        .any(|w| w.chars().count() > crate::outbox::validate::MAX_HEADER_WORD_CHARS)
    {
        return Err(Error::internal(
            &format!("the stored email's {what} has a word too long for a header line"),
            "over the validation limit",
        ));
    }
    Ok(())
}

/// `<left@right>` where both sides are RFC 5322 dot-atoms.
fn check_message_id(id: &str) -> Result<()> {
    let valid = id
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .and_then(|inner| inner.split_once('@'))
        .is_some_and(|(left, right)| is_dot_atom(left) && is_dot_atom(right));
    if valid {
        Ok(())
    } else {
        Err(Error::internal(
            "invalid Message-ID",
            format!("{id:?} is not of the form <left@right>"),
        ))
    }
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b))
        })
}

#[cfg(test)]
#[path = "mime_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;
    use std::fs;
    use std::path::PathBuf;
    use std::time::{Duration, UNIX_EPOCH};

    use crate::outbox::attachments::AttachFrom;
    use crate::outbox::validate::{self, EmailInput, Limits};

    const MESSAGE_ID: &str = "<ob_abc123.1795261321@commsd.local>";
    /// 2026-11-17 09:30:00 UTC, a Tuesday.
    const DATE_SECS: u64 = 1_794_907_800;
    const PDF: &[u8] =
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n\x00\xff\r\n%%EOF\n";
    const TXT: &[u8] = b"Line one\nLine two without CR\r\nline three\n";

    fn date() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(DATE_SECS)
    }

    struct Fixture {
        _root: tempfile::TempDir,
        files: PathBuf,
        store: AttachmentStore,
    }

    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let files = root.path().join("files");
        fs::create_dir(&files).unwrap();
        fs::create_dir(root.path().join("data")).unwrap();
        Fixture {
            store: AttachmentStore::new(root.path().join("data/attachments")),
            files,
            _root: root,
        }
    }

    impl Fixture {
        fn attach(&self, name: &str, bytes: &[u8]) -> Attachment {
            let path = self.files.join(name);
            fs::write(&path, bytes).unwrap();
            self.store
                .import(
                    "attachments[0]",
                    &path,
                    AttachFrom::Anywhere,
                    &Limits::default(),
                )
                .unwrap()
        }
    }

    fn input() -> EmailInput {
        EmailInput {
            from: "Praxis Dr. Roe <praxis@clinic.example>".to_owned(),
            to: vec!["Jane Doe <jane@patient.example>".to_owned()],
            subject: "Your appointment on Tuesday".to_owned(),
            text: Some(
                "Dear Jane,\n\nthis is a reminder of your appointment on Tuesday at 9:30.\n\n\
                 Kind regards,\nPraxis Dr. Roe"
                    .to_owned(),
            ),
            ..EmailInput::default()
        }
    }

    fn content(input: EmailInput, attachments: Vec<Attachment>) -> EmailContent {
        validate::email(input, attachments, &Limits::default()).unwrap()
    }

    fn build_ok(content: &EmailContent, store: &AttachmentStore) -> Built {
        build(content, store, MESSAGE_ID, date()).unwrap()
    }

    fn text(built: &Built) -> String {
        String::from_utf8(built.bytes.clone()).unwrap()
    }

    /// Snapshots with the random boundaries replaced.
    macro_rules! assert_mime_snapshot {
        ($name:expr, $built:expr) => {
            insta::with_settings!({
                filters => vec![(r"commsd-(alt|mixed)-[0-9a-f]{32}", "commsd-$1-[BOUNDARY]")],
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!(concat!("mime__", $name), text(&$built));
            });
        };
    }

    /// What every message must satisfy on the wire.
    fn assert_wire_format(built: &Built) {
        assert!(built.bytes.is_ascii(), "the message must be 7-bit clean");
        for (i, &b) in built.bytes.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && built.bytes[i - 1] == b'\r', "bare LF at byte {i}");
            }
            if b == b'\r' {
                assert_eq!(built.bytes.get(i + 1), Some(&b'\n'), "bare CR at byte {i}");
            }
        }
        let message = text(built);
        for line in message.split("\r\n") {
            assert!(line.len() <= 998, "line longer than 998: {line}");
        }
        let headers = message.split("\r\n\r\n").next().unwrap();
        assert!(headers.contains("\r\nMIME-Version: 1.0\r\n"), "{headers}");
        assert!(
            headers.contains(&format!("Message-ID: {MESSAGE_ID}\r\n")),
            "{headers}"
        );
        assert!(
            headers.contains("Date: Tue, 17 Nov 2026 09:30:00 +0000\r\n"),
            "{headers}"
        );
        assert!(
            !headers.to_ascii_lowercase().contains("\r\nbcc:"),
            "{headers}"
        );
    }

    #[test]
    fn plain_text() {
        let f = fixture();
        let built = build_ok(&content(input(), vec![]), &f.store);
        assert_wire_format(&built);
        assert_eq!(built.message_id, MESSAGE_ID);
        assert_eq!(built.envelope_from, "praxis@clinic.example");
        assert_eq!(built.envelope_to, ["jane@patient.example"]);
        assert!(text(&built).contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(!text(&built).contains("multipart"));
        assert_mime_snapshot!("plain_text", built);
    }

    #[test]
    fn text_and_html() {
        let f = fixture();
        let mut input = input();
        input.html = Some(
            "<p>Dear Jane,</p><p>this is a reminder of your appointment on <b>Tuesday</b> \
             at 9:30.</p><p>Kind regards,<br>Praxis Dr. Roe</p>"
                .to_owned(),
        );
        let built = build_ok(&content(input, vec![]), &f.store);
        assert_wire_format(&built);
        let message = text(&built);
        let plain = message.find("Content-Type: text/plain").unwrap();
        let html = message.find("Content-Type: text/html").unwrap();
        assert!(plain < html, "the text part comes first");
        assert!(message.contains("Content-Type: multipart/alternative;"));
        assert_mime_snapshot!("text_and_html", built);
    }

    #[test]
    fn text_html_and_two_attachments() {
        let f = fixture();
        let pdf = f.attach("Befund.pdf", PDF);
        let txt = f.attach("notes.txt", TXT);
        let mut input = input();
        input.html = Some("<p>Dear Jane,</p><p>please find your results attached.</p>".to_owned());
        input.text = Some("Dear Jane,\n\nplease find your results attached.".to_owned());
        let built = build_ok(&content(input, vec![pdf, txt]), &f.store);
        assert_wire_format(&built);
        let message = text(&built);
        assert!(message.contains("Content-Type: multipart/mixed;"));
        assert!(message.contains("Content-Disposition: attachment; filename=\"Befund.pdf\""));
        assert!(message.contains("Content-Type: application/pdf"));
        assert!(message.contains("Content-Disposition: attachment; filename=\"notes.txt\""));
        assert!(message.contains("Content-Type: text/plain\r\n"));
        assert_mime_snapshot!("text_html_and_two_attachments", built);
    }

    #[test]
    fn non_ascii_subject_and_names_are_encoded() {
        let f = fixture();
        let doc = f.attach("Überweisung für Zoë.txt", "Grüße".as_bytes());
        let input = EmailInput {
            from: "Praxis Müller <praxis@mueller.example>".to_owned(),
            to: vec!["Zoë Ångström <zoe@patient.example>".to_owned()],
            subject: "Terminerinnerung: Zahnreinigung am Dienstag 🦷".to_owned(),
            text: Some(
                "Liebe Zoë,\n\nwir freuen uns auf Ihren Besuch am Dienstag.\n\nIhre Praxis Müller"
                    .to_owned(),
            ),
            ..EmailInput::default()
        };
        let built = build_ok(&content(input, vec![doc]), &f.store);
        assert_wire_format(&built);
        let message = text(&built);
        // lettre encodes the words that need it, as RFC 2047 encoded-words.
        assert!(
            message.contains(
                "Subject: Terminerinnerung: Zahnreinigung am Dienstag =?utf-8?b?8J+mtw==?=\r\n"
            ),
            "{message}"
        );
        assert!(
            message.contains("From: =?utf-8?b?UHJheGlzIE3DvGxsZXI=?= <praxis@mueller.example>\r\n"),
            "{message}"
        );
        assert!(
            message.contains("filename*"),
            "RFC 2231 file name: {message}"
        );
        assert_mime_snapshot!("non_ascii", built);
    }

    #[test]
    fn bcc_is_in_the_envelope_only() {
        let f = fixture();
        let mut input = input();
        input.cc = vec!["Dr. Smith <smith@referral.example>".to_owned()];
        input.bcc = vec![
            "Archive <archive@clinic.example>".to_owned(),
            "jane@PATIENT.example".to_owned(),
        ];
        let built = build_ok(&content(input, vec![]), &f.store);
        assert_wire_format(&built);
        assert_eq!(
            built.envelope_to,
            [
                "jane@patient.example",
                "smith@referral.example",
                "archive@clinic.example"
            ]
        );
        let message = text(&built);
        assert!(!message.contains("archive@clinic.example"), "{message}");
        assert!(!message.to_ascii_lowercase().contains("bcc"), "{message}");
        assert!(message.contains("Cc: \"Dr. Smith\" <smith@referral.example>\r\n"));
        assert_mime_snapshot!("bcc", built);
    }

    #[test]
    fn bcc_only_has_no_to_header() {
        let f = fixture();
        let mut input = input();
        input.to.clear();
        input.bcc = vec!["hidden@x.org".to_owned()];
        let built = build_ok(&content(input, vec![]), &f.store);
        assert_eq!(built.envelope_to, ["hidden@x.org"]);
        let message = text(&built);
        assert!(!message.contains("hidden@x.org"));
        assert!(!message.contains("\r\nTo:"));
    }

    #[test]
    fn round_trips_through_a_parser() {
        let f = fixture();
        let pdf = f.attach("Befund März.pdf", PDF);
        let txt = f.attach("notes.txt", TXT);
        let subject = "Terminerinnerung: Zahnreinigung am Dienstag 🦷";
        let text_body = format!(
            "Liebe Zoë,\n\n{}\nTschüß\n.\nFrom the practice\n",
            "eine sehr lange Zeile mit Umlauten äöü, ".repeat(10)
        );
        let html = "<p>Liebe Zoë,</p><p>bis Dienstag! 🦷</p>".to_owned();
        let input = EmailInput {
            from: "Praxis Müller <praxis@mueller.example>".to_owned(),
            to: vec!["\"Ångström, Zoë\" <zoe@patient.example>".to_owned()],
            cc: vec!["Dr. O'Brien <ob@x.org>".to_owned()],
            bcc: vec!["secret@x.org".to_owned()],
            subject: subject.to_owned(),
            text: Some(text_body.clone()),
            html: Some(html.clone()),
        };
        let built = build_ok(&content(input, vec![pdf, txt]), &f.store);
        use mail_parser::MimeHeaders as _;
        let parsed = mail_parser::MessageParser::default()
            .parse(&built.bytes)
            .unwrap();

        assert_eq!(parsed.subject(), Some(subject));
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Praxis Müller"));
        assert_eq!(from.address(), Some("praxis@mueller.example"));
        let to = parsed.to().unwrap().first().unwrap();
        assert_eq!(to.name(), Some("Ångström, Zoë"));
        assert_eq!(to.address(), Some("zoe@patient.example"));
        assert_eq!(
            parsed.cc().unwrap().first().unwrap().name(),
            Some("Dr. O'Brien")
        );
        assert!(parsed.bcc().is_none());
        assert_eq!(
            parsed.message_id(),
            Some("ob_abc123.1795261321@commsd.local")
        );

        let decoded_text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(decoded_text, text_body);
        assert_eq!(parsed.body_html(0).unwrap(), html);

        let attachments: Vec<_> = parsed.attachments().collect();
        assert_eq!(attachments.len(), 2);
        assert_eq!(attachments[0].attachment_name(), Some("Befund März.pdf"));
        assert_eq!(attachments[0].contents(), PDF);
        assert_eq!(attachments[1].attachment_name(), Some("notes.txt"));
        assert_eq!(attachments[1].contents(), TXT);
    }

    #[test]
    fn a_corrupted_attachment_fails_the_build() {
        let f = fixture();
        let pdf = f.attach("Befund.pdf", PDF);
        let email = content(input(), vec![pdf.clone()]);
        fs::write(
            f.store.path(&pdf.sha256),
            b"%PDF-1.4 someone else's results",
        )
        .unwrap();
        let e = build(&email, &f.store, MESSAGE_ID, date()).unwrap_err();
        assert_eq!(e.code, Code::Internal);
        assert!(e.message.contains("Befund.pdf"), "{}", e.message);

        fs::remove_file(f.store.path(&pdf.sha256)).unwrap();
        let e = build(&email, &f.store, MESSAGE_ID, date()).unwrap_err();
        assert_eq!(e.code, Code::Internal);
    }

    #[test]
    fn invalid_message_ids_and_tampered_content_are_refused() {
        let f = fixture();
        let email = content(input(), vec![]);
        for id in [
            "",
            "ob_abc@commsd.local",
            "<ob_abc>",
            "<@commsd.local>",
            "<a@b>\r\nBcc: x@y.org",
            "<a b@c>",
            "<a..b@c>",
        ] {
            let e = build(&email, &f.store, id, date()).unwrap_err();
            assert_eq!(e.code, Code::Internal, "{id:?}");
        }
        let mut tampered = email.clone();
        tampered.subject = "Hi\r\nBcc: evil@x.org".to_owned();
        assert_eq!(
            build(&tampered, &f.store, MESSAGE_ID, date())
                .unwrap_err()
                .code,
            Code::Internal
        );
        let mut tampered = email.clone();
        tampered.to = vec!["not an address".to_owned()];
        assert_eq!(
            build(&tampered, &f.store, MESSAGE_ID, date())
                .unwrap_err()
                .code,
            Code::Internal
        );
        let mut tampered = email;
        tampered.to.clear();
        assert_eq!(
            build(&tampered, &f.store, MESSAGE_ID, date())
                .unwrap_err()
                .code,
            Code::Internal
        );
    }

    #[test]
    fn boundaries_are_fresh_for_every_build() {
        let f = fixture();
        let mut input = input();
        input.html = Some("<p>x</p>".to_owned());
        let email = content(input, vec![]);
        let a = text(&build_ok(&email, &f.store));
        let b = text(&build_ok(&email, &f.store));
        assert_ne!(a, b);
        let boundary = |s: &str| {
            let start = s.find("commsd-alt-").unwrap();
            s[start..start + "commsd-alt-".len() + 32].to_owned()
        };
        assert_ne!(boundary(&a), boundary(&b));
    }

    #[test]
    fn envelope_recipients_are_deduplicated() {
        let list: Vec<Mailbox> = ["a@x.org", "A <a@X.ORG>", "A@x.org", "b@x.org"]
            .iter()
            .map(|m| m.parse().unwrap())
            .collect();
        let addresses: Vec<String> = envelope_recipients(list.iter())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(addresses, ["a@x.org", "A@x.org", "b@x.org"]);
    }

    #[test]
    fn message_id_syntax() {
        assert!(check_message_id(MESSAGE_ID).is_ok());
        assert!(check_message_id("<a.b-c_d@e.f>").is_ok());
        assert!(check_message_id("<a@b@c>").is_err());
        assert!(check_message_id("<.a@b>").is_err());
    }
}
