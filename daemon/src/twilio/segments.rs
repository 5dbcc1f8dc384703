//! How an SMS body travels: its encoding (GSM-7 or UCS-2), how many segments
//! it is billed as, which characters forced UCS-2, and what it would cost.
//!
//! GSM-7 (3GPP TS 23.038, default alphabet and its extension table): 160
//! septets in one segment, 153 per part once split; the extension
//! characters `^ { } \ [ ~ ] | €` and form feed cost two septets (escape +
//! character), and a part never ends between the two. One character outside
//! the alphabet (a smart quote, an emoji) switches the whole message to
//! UCS-2: 70 UTF-16 code units in one segment, 67 per part, a surrogate pair
//! never split across parts.

use serde::Serialize;

use crate::error::Error;

/// Twilio's limit on `Body`, in characters.
pub const MAX_BODY_CHARS: usize = 1_600;

const GSM_SINGLE: usize = 160;
const GSM_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

/// The GSM 03.38 default alphabet (one septet each), escape excluded.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The extension table: escape + character, two septets each.
const GSM_EXTENDED: &str = "\u{c}^{}\\[~]|€";

/// How a body is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// What a preview shows about a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    pub encoding: Encoding,
    /// Segments the message is billed as (0 for an empty body).
    pub segments: u32,
    /// Characters (Unicode scalar values).
    pub characters: usize,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Each character that forced UCS-2, once, in order of appearance.
    pub ucs2_characters: Vec<char>,
}

/// The septets `c` costs in GSM-7, or `None` if it is outside the alphabet.
pub fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENDED.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Encoding, segment count and the characters that forced UCS-2.
pub fn analyze(body: &str) -> Analysis {
    let mut ucs2_characters = Vec::new();
    for c in body.chars() {
        if gsm_septets(c).is_none() && !ucs2_characters.contains(&c) {
            ucs2_characters.push(c);
        }
    }
    let (encoding, sizes): (Encoding, Vec<usize>) = if ucs2_characters.is_empty() {
        (
            Encoding::Gsm7,
            body.chars().map(|c| gsm_septets(c).unwrap_or(1)).collect(),
        )
    } else {
        (Encoding::Ucs2, body.chars().map(char::len_utf16).collect())
    };
    let (single, part) = match encoding {
        Encoding::Gsm7 => (GSM_SINGLE, GSM_PART),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_PART),
    };
    let units: usize = sizes.iter().sum();
    Analysis {
        encoding,
        segments: count_parts(&sizes, units, single, part),
        characters: sizes.len(),
        units,
        ucs2_characters,
    }
}

/// Parts filled greedily: a character (an escape pair, a surrogate pair)
/// that does not fit in what is left of a part starts the next one.
fn count_parts(sizes: &[usize], units: usize, single: usize, part: usize) -> u32 {
    if units == 0 {
        return 0;
    }
    if units <= single {
        return 1;
    }
    let mut parts = 1u32;
    let mut used = 0;
    for &size in sizes {
        if used + size > part {
            parts += 1;
            used = 0;
        }
        used += size;
    }
    parts
}

/// Typographic characters and their GSM-7 equivalents, for the optional
/// replacement (what Twilio calls Smart Encoding).
const SMART: &[(char, &str)] = &[
    ('\u{2018}', "'"),   // ‘
    ('\u{2019}', "'"),   // ’
    ('\u{201A}', "'"),   // ‚
    ('\u{201B}', "'"),   // ‛
    ('\u{2032}', "'"),   // ′
    ('\u{00B4}', "'"),   // ´
    ('\u{02BC}', "'"),   // ʼ
    ('\u{201C}', "\""),  // “
    ('\u{201D}', "\""),  // ”
    ('\u{201E}', "\""),  // „
    ('\u{201F}', "\""),  // ‟
    ('\u{2033}', "\""),  // ″
    ('\u{00AB}', "\""),  // «
    ('\u{00BB}', "\""),  // »
    ('\u{2010}', "-"),   // ‐
    ('\u{2011}', "-"),   // non-breaking hyphen
    ('\u{2012}', "-"),   // ‒
    ('\u{2013}', "-"),   // –
    ('\u{2014}', "-"),   // —
    ('\u{2015}', "-"),   // ―
    ('\u{2212}', "-"),   // −
    ('\u{2026}', "..."), // …
    ('\u{00A0}', " "),   // no-break space
    ('\u{2002}', " "),   // en space
    ('\u{2003}', " "),   // em space
    ('\u{2009}', " "),   // thin space
    ('\u{202F}', " "),   // narrow no-break space
    ('\u{200B}', ""),    // zero-width space
    ('\u{FEFF}', ""),    // zero-width no-break space
    ('\u{2022}', "-"),   // •
];

/// `body` with smart quotes, dashes, ellipses and odd spaces replaced by
/// their GSM-7 equivalents; every other character is kept.
pub fn replace_smart(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        match SMART.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// `[twilio] price_per_segment`, set once at start-up (previews are
/// rendered where no config is at hand: item views, preview text).
static PRICE_PER_SEGMENT: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

pub fn set_price_per_segment(price: Option<f64>) {
    if let Some(p) = price {
        let _ = PRICE_PER_SEGMENT.set(p);
    }
}

/// What an SMS preview shows: the analysis and, with a configured price,
/// the estimated cost.
pub fn preview(body: &str) -> serde_json::Value {
    let analysis = analyze(body);
    let mut v = serde_json::to_value(&analysis).unwrap_or_default();
    if let Some(price) = PRICE_PER_SEGMENT.get() {
        v["estimatedCost"] = estimated_cost(analysis.segments, *price).into();
    }
    v
}

/// The preview's lines for people: encoding, segments, cost and what
/// forced UCS-2.
pub fn preview_text(body: &str) -> String {
    let a = analyze(body);
    let encoding = match a.encoding {
        Encoding::Gsm7 => "GSM-7",
        Encoding::Ucs2 => "UCS-2",
    };
    let mut out = format!(
        "Length:  {} characters, {encoding}, {} segment{}",
        a.characters,
        a.segments,
        if a.segments == 1 { "" } else { "s" }
    );
    if let Some(price) = PRICE_PER_SEGMENT.get() {
        out.push_str(&format!(
            ", about {} at {price} a segment",
            estimated_cost(a.segments, *price)
        ));
    }
    out.push('\n');
    if !a.ucs2_characters.is_empty() {
        let chars: Vec<String> = a
            .ucs2_characters
            .iter()
            .map(|c| format!("{c} (U+{:04X})", u32::from(*c)))
            .collect();
        out.push_str(&format!(
            "UCS-2:   forced by {}; without them it would be GSM-7\n",
            chars.join(", ")
        ));
    }
    out
}

/// The estimated price of `segments` at `price_per_segment` (in the
/// account's currency), rounded to a millionth.
pub fn estimated_cost(segments: u32, price_per_segment: f64) -> f64 {
    (f64::from(segments) * price_per_segment * 1e6).round() / 1e6
}

/// A body Twilio would take: not empty unless media goes with it, at most
/// [`MAX_BODY_CHARS`] characters. Errors name the field `body`.
pub fn validate_body(body: &str, has_media: bool) -> Result<(), Error> {
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(Error::invalid(
            "body",
            format!(
                "{chars} characters is more than Twilio's limit of {MAX_BODY_CHARS} for one message; shorten it or send it as several messages"
            ),
        ));
    }
    if body.trim().is_empty() && !has_media {
        return Err(Error::invalid(
            "body",
            "an SMS needs a text (or media); this one is empty",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabets_are_complete() {
        // 128 code points minus the escape, and the ten-entry extension table.
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_EXTENDED.chars().count(), 10);
    }

    /// (what, body, encoding, segments, units)
    #[test]
    fn segment_table() {
        let x = |n: usize| "x".repeat(n);
        let quote_150 = format!("{}\u{2019}", x(149));
        let emoji_70 = format!("{}😀", x(68));
        // 306 septets fit two parts of 153 only if the escape pair were split.
        let ext_split = format!("{}€{}", x(152), x(152));
        // 134 units fit two parts of 67 only if the surrogate pair were split.
        let pair_split = format!("{}😀{}", x(66), x(66));
        let table: Vec<(&str, String, Encoding, u32, usize)> = vec![
            ("empty", String::new(), Encoding::Gsm7, 0, 0),
            ("one", x(1), Encoding::Gsm7, 1, 1),
            ("160 GSM", x(160), Encoding::Gsm7, 1, 160),
            ("161 GSM", x(161), Encoding::Gsm7, 2, 161),
            ("306 GSM", x(306), Encoding::Gsm7, 2, 306),
            ("307 GSM", x(307), Encoding::Gsm7, 3, 307),
            ("80 braces", "{}".repeat(40), Encoding::Gsm7, 1, 160),
            ("81 carets", "^".repeat(81), Encoding::Gsm7, 2, 162),
            ("escape not split", ext_split, Encoding::Gsm7, 3, 306),
            ("form feed", "\u{c}".repeat(80), Encoding::Gsm7, 1, 160),
            (
                "accents in GSM",
                "éèùìòÇÑÜ¿¡".to_owned(),
                Encoding::Gsm7,
                1,
                10,
            ),
            ("smart quote, 150", quote_150, Encoding::Ucs2, 3, 150),
            ("70 UCS-2", format!("{}’", x(69)), Encoding::Ucs2, 1, 70),
            ("71 UCS-2", format!("{}’", x(70)), Encoding::Ucs2, 2, 71),
            ("134 UCS-2", format!("{}’", x(133)), Encoding::Ucs2, 2, 134),
            ("135 UCS-2", format!("{}’", x(134)), Encoding::Ucs2, 3, 135),
            ("emoji, 70 units", emoji_70, Encoding::Ucs2, 1, 70),
            ("surrogate not split", pair_split, Encoding::Ucs2, 3, 134),
            ("cyrillic", "Привет".to_owned(), Encoding::Ucs2, 1, 6),
        ];
        for (what, body, encoding, segments, units) in table {
            let a = analyze(&body);
            assert_eq!(
                (a.encoding, a.segments, a.units),
                (encoding, segments, units),
                "{what}"
            );
        }
    }

    #[test]
    fn names_what_forced_ucs2_once_each() {
        let a = analyze("It’s “fine” – isn’t it? 😀");
        assert_eq!(a.encoding, Encoding::Ucs2);
        assert_eq!(
            a.ucs2_characters,
            vec!['\u{2019}', '\u{201C}', '\u{201D}', '\u{2013}', '😀']
        );
        assert!(analyze("plain {text} €5").ucs2_characters.is_empty());
    }

    #[test]
    fn smart_replacement_brings_text_back_to_gsm() {
        let body = format!("{}\u{2019}", "x".repeat(149));
        let replaced = replace_smart(&body);
        let a = analyze(&replaced);
        assert_eq!((a.encoding, a.segments), (Encoding::Gsm7, 1));
        assert_eq!(
            replace_smart("“Hi” – it’s 5…\u{a0}ok 😀"),
            "\"Hi\" - it's 5... ok 😀"
        );
    }

    #[test]
    fn cost_is_segments_times_price() {
        assert_eq!(estimated_cost(3, 0.0083), 0.0249);
        assert_eq!(estimated_cost(0, 0.0083), 0.0);
    }

    #[test]
    fn body_limit_names_the_field() {
        assert!(validate_body(&"a".repeat(1600), false).is_ok());
        let e = validate_body(&"a".repeat(1601), false).unwrap_err();
        assert_eq!(e.details["field"], "body");
        assert!(
            e.message.starts_with("body: 1601 characters"),
            "{}",
            e.message
        );
        // Characters, not bytes: 1,600 emoji are within the limit.
        assert!(validate_body(&"😀".repeat(1600), false).is_ok());
        assert_eq!(
            validate_body(" ", false).unwrap_err().details["field"],
            "body"
        );
        assert!(validate_body("", true).is_ok());
    }

    #[test]
    fn encodings_serialise_as_people_write_them() {
        assert_eq!(serde_json::to_value(Encoding::Gsm7).unwrap(), "GSM-7");
        assert_eq!(serde_json::to_value(Encoding::Ucs2).unwrap(), "UCS-2");
    }
}
