//! IMAP folder names in modified UTF-7 (RFC 3501 §5.1.3): printable ASCII
//! stands for itself, `&` is `&-`, and any other run of characters is
//! `&` + their UTF-16BE in base64 (`,` for `/`, no padding) + `-`. Servers
//! name a German "Entwürfe" `Entw&APw-rfe`; people and agents see the
//! decoded name and commsd encodes it again for the server.
//!
//! Written here rather than taken from the one crate for it (`utf7-imap`),
//! which panics on a malformed name: folder names come from the server and
//! must never crash a reader.

use base64::Engine as _;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const MUTF7: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// The name as the server wants it.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u8> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut run);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                run.extend_from_slice(&unit.to_be_bytes());
            }
        }
    }
    flush(&mut out, &mut run);
    out
}

fn flush(out: &mut String, run: &mut Vec<u8>) {
    if !run.is_empty() {
        out.push('&');
        out.push_str(&MUTF7.encode(&run));
        out.push('-');
        run.clear();
    }
}

/// The name a person reads, or `None` when the server's name is not valid
/// modified UTF-7 (the caller then shows it as it came).
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = MUTF7.decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            for c in char::decode_utf16(units) {
                let c = c.ok()?;
                // Printable ASCII must not be encoded (RFC 3501): a name
                // that does is not in canonical form.
                if (' '..='~').contains(&c) {
                    return None;
                }
                out.push(c);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The name a person reads, the server's own when it cannot be decoded.
pub fn display(wire: &str) -> String {
    decode(wire).unwrap_or_else(|| wire.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_and_common_server_names() {
        // RFC 3501 §5.1.3's example.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        for (name, wire) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Gelöschte Elemente", "Gel&APY-schte Elemente"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("Befunde 😀", "Befunde &2D3eAA-"),
        ] {
            assert_eq!(encode(name), wire, "{name}");
            assert_eq!(decode(wire).as_deref(), Some(name), "{wire}");
        }
    }

    #[test]
    fn malformed_names_are_refused_not_a_crash() {
        for wire in [
            "Entw&APw",   // no closing '-'
            "&AGEAYgBj-", // printable ASCII encoded
            "&Jjo!-",     // not base64
            "&2D0-",      // a lone surrogate
            "&AP-",       // an odd number of bytes
        ] {
            assert_eq!(decode(wire), None, "{wire}");
            assert_eq!(display(wire), wire);
        }
    }

    #[test]
    fn every_name_survives_the_round_trip() {
        let samples = [
            "",
            "&",
            "&&",
            "a&b",
            "ü",
            "üü&ü",
            "a\u{1F600}b",
            "日本",
            "Ünïcödé/Sub",
            "x-y&-z",
        ];
        for name in samples {
            assert_eq!(decode(&encode(name)).as_deref(), Some(name), "{name}");
            assert!(encode(name).is_ascii());
        }
    }
}
