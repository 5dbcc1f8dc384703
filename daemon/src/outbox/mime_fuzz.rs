//! Fuzz tier of the MIME builder (README, Fuzzing): arbitrary subjects,
//! display names, bodies and attachment names, built and parsed back with
//! mail-parser.

use std::time::{Duration, UNIX_EPOCH};

use mail_parser::{MessageParser, MimeHeaders as _};
use proptest::prelude::*;

use super::*;
use crate::outbox::model::EmailContent;
use crate::outbox::validate::{self, EmailInput, Limits};
use crate::util::fuzz;

const MESSAGE_ID: &str = "<ob_fuzz.1795261321@commsd.local>";

/// The only header names a built message may have, at the top and in its
/// parts: anything else was injected.
const HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

/// Text that trips builders: quotes, brackets, specials, encoded-word
/// look-alikes, non-ASCII, tabs and line breaks, and long runs.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 äöüÅßé漢🦷\"\\\\<>(),;:@=?.!#'_\t\r\n-]{0,60}",
        1 => "=\\?utf-8\\?[bBqQ]\\?[a-zA-Z0-9=+/_]{0,20}\\?= ?[a-z ]{0,10}",
        1 => any::<String>(),
        1 => "[a-zäö🦷 ]{900,1300}",
        1 => "[a-z]{990,1010}",
    ]
}

/// A store in a temp dir, kept for the whole property run.
struct Store {
    _root: tempfile::TempDir,
    store: AttachmentStore,
}

fn store() -> Store {
    let root = tempfile::tempdir().unwrap();
    Store {
        store: AttachmentStore::new(root.path().join("attachments")),
        _root: root,
    }
}

/// Every header line of every header block of the built message.
fn header_names(bytes: &[u8]) -> Vec<String> {
    let parsed = MessageParser::default().parse(bytes).unwrap();
    parsed
        .parts
        .iter()
        .flat_map(|p| p.headers.iter().map(|h| h.name().to_ascii_lowercase()))
        .collect()
}

/// No header the builder does not write, and none twice at the top.
fn assert_no_injected_header(bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut top = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let name = line.split(':').next().unwrap().to_ascii_lowercase();
        assert!(HEADERS.contains(&name.as_str()), "header line {line:?}");
        assert!(!top.contains(&name), "a second {name} header: {head}");
        top.push(name);
    }
    for name in header_names(bytes) {
        assert!(HEADERS.contains(&name.as_str()), "parsed header {name}");
    }
}

/// 7-bit, CRLF only, no line over RFC 5322's 998 characters.
fn assert_wire_format(bytes: &[u8]) {
    assert!(bytes.is_ascii());
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for line in bytes.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "a line of {} bytes", line.len());
    }
}

/// LF line endings, without the line break a quoted-printable body may end
/// with (mail-parser keeps the encoder's last CRLF; readers do not show it).
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end_matches('\n').to_owned()
}

proptest! {
    #![proptest_config(fuzz::cases())]

    /// What validation accepts builds, is well-formed, has no injected
    /// header, and parses back to the same subject, display name, bodies
    /// (line endings normalised to LF by validation) and attachments.
    /// What it refuses names a field of the input.
    #[test]
    fn fuzz_mime_round_trips_through_mail_parser(
        subject in odd_text(),
        name in odd_text(),
        quoted in any::<bool>(),
        text in odd_text(),
        html in proptest::option::of(odd_text()),
        files in proptest::collection::vec((odd_text(), any::<Vec<u8>>()), 0..3),
    ) {
        let s = store();
        let limits = Limits::default();
        let name = if quoted {
            format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            name
        };
        let mut attachments = Vec::new();
        for (i, (filename, bytes)) in files.iter().enumerate() {
            let field = format!("attachments[{i}]");
            match s.store.import_bytes(&field, filename, "", bytes, &limits) {
                Ok(a) => attachments.push(a),
                Err(e) => prop_assert_eq!(e.details["field"].as_str(), Some(field.as_str())),
            }
        }
        let input = EmailInput {
            from: format!("{name} <sender@clinic.example>"),
            to: vec!["Jane <jane@patient.example>".to_owned()],
            subject,
            text: Some(text),
            html,
            ..EmailInput::default()
        };
        let content = match validate::email(input, attachments, &limits) {
            Ok(content) => content,
            Err(e) => {
                let field = e.details["field"].as_str().unwrap_or_default().to_owned();
                prop_assert!(
                    ["from", "subject", "bodyText", "bodyHtml", "attachments"].contains(&field.as_str()),
                    "{e:?}"
                );
                return Ok(());
            }
        };
        let date = UNIX_EPOCH + Duration::from_secs(1_794_907_800);
        let built = build(&content, &s.store, MESSAGE_ID, date).unwrap();
        assert_wire_format(&built.bytes);
        assert_no_injected_header(&built.bytes);

        let parsed = MessageParser::default().parse(&built.bytes).unwrap();
        prop_assert_eq!(parsed.subject().unwrap_or(""), content.subject.as_str());
        let sent: Mailbox = content.from.parse().unwrap();
        let from = parsed.from().unwrap().first().unwrap();
        prop_assert_eq!(from.name().unwrap_or(""), sent.name.as_deref().unwrap_or(""));
        prop_assert_eq!(from.address(), Some("sender@clinic.example"));
        prop_assert_eq!(lf(&parsed.body_text(0).unwrap_or_default()), lf(&content.text));
        if let Some(html) = &content.html {
            prop_assert_eq!(lf(&parsed.body_html(0).unwrap_or_default()), lf(html));
        }
        let received: Vec<_> = parsed.attachments().collect();
        prop_assert_eq!(received.len(), content.attachments.len());
        for (got, sent) in received.iter().zip(&content.attachments) {
            prop_assert_eq!(got.attachment_name(), Some(sent.filename.as_str()));
            let stored = s.store.read(sent).unwrap();
            prop_assert_eq!(got.contents(), stored.as_slice());
        }
    }

    /// Content that skipped validation (a tampered database row) never
    /// injects a header: the builder refuses it or encodes it.
    #[test]
    fn fuzz_mime_never_injects_headers(
        subject in odd_text(),
        name in odd_text(),
        filename in odd_text(),
    ) {
        let s = store();
        let attachment = s
            .store
            .import_bytes("attachments[0]", "a.txt", "text/plain", b"x", &Limits::default())
            .unwrap();
        let content = EmailContent {
            from: format!("{name} <sender@clinic.example>"),
            to: vec!["jane@patient.example".to_owned()],
            cc: vec![],
            bcc: vec![],
            subject,
            text: "hello".to_owned(),
            html: None,
            attachments: vec![Attachment { filename, ..attachment }],
        };
        let date = UNIX_EPOCH + Duration::from_secs(1_794_907_800);
        if let Ok(built) = build(&content, &s.store, MESSAGE_ID, date) {
            assert_wire_format(&built.bytes);
            assert_no_injected_header(&built.bytes);
        }
    }
}
