//! Addresses: RFC 5322 mailboxes (via lettre), E.164 phone numbers, Google
//! Chat spaces and threads.

use std::net::IpAddr;

use lettre::message::Mailbox;

use super::{control_kind, shown};
use crate::error::{Error, Result};

pub(super) const ADDRESS_EXPECTED: &str =
    "expected an email address such as jane@example.org or Jane Roe <jane@example.org>";
const PHONE_EXPECTED: &str = "expected a phone number in E.164 form such as +14155550100";
pub(super) const SPACE_EXPECTED: &str =
    "expected a Google Chat space name such as spaces/AAAAbCdEfGh";
pub(super) const THREAD_EXPECTED: &str = "expected a Google Chat thread name such as spaces/AAAAbCdEfGh/threads/XyZ123, or a thread key such as rota-2026-06";

/// The longest mailbox (display name and address) accepted, in bytes.
const MAX_MAILBOX_BYTES: usize = 512;

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
    if parsed.name.as_deref().is_some_and(super::looks_encoded) {
        return Err(super::encoded_refusal(field));
    }
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
/// belong to `space` (already validated), or a thread key (1 to 128 of
/// `[A-Za-z0-9_-]`): a thread commsd starts and later replies in.
pub(super) fn chat_thread(field: &str, input: &str, space: &str) -> Result<String> {
    let trimmed = input.trim();
    if !trimmed.contains('/') && is_resource_id(trimmed) {
        return Ok(trimmed.to_owned());
    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_invalid, field_of};
    use super::*;
    use crate::error::Code;

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
}
