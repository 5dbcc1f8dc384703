//! What a person typed into a search box, made safe for SQLite FTS5.
//!
//! User input is never FTS5 syntax: every term is quoted (a `"` inside is
//! doubled), so `INV-20931`, `"`, `a OR b`, `NEAR(x y)`, `col:value` and `*`
//! are all plain text to find, never operators. The index's tokenizer is
//! trigram (accents folded), so a quoted term matches wherever it occurs as a
//! substring; terms shorter than three characters cannot use the trigram
//! index and are matched with `LIKE` instead. A run of digits that looks like
//! a phone number (`+1 (415) 555-0123`) also matches its digits alone, which
//! is how numbers are indexed.

/// A search, ready for SQL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    /// The FTS5 MATCH expression (all terms must match), or `None` when no
    /// term is long enough for the trigram index.
    pub fts: Option<String>,
    /// Short terms, each to be found with `LIKE '%term%'` (already escaped
    /// with `\` for `%`, `_` and `\`).
    pub like: Vec<String>,
    /// Every term, folded (lower case, accents removed), with its
    /// alternatives (a phone number's digits): what ranking looks for.
    pub terms: Vec<Vec<String>>,
}

impl Search {
    pub fn is_empty(&self) -> bool {
        self.fts.is_none() && self.like.is_empty()
    }
}

/// The fewest digits that make a run a phone number.
const PHONE_DIGITS: usize = 7;

/// Splits `input` into terms and builds the MATCH expression.
pub fn sanitise(input: &str) -> Search {
    let mut phrases = Vec::new();
    let mut like = Vec::new();
    let mut folded = Vec::new();
    for term in terms(input) {
        let digits: String = term.chars().filter(char::is_ascii_digit).collect();
        let phone = is_phone(&term) && digits.len() >= PHONE_DIGITS;
        let mut alternatives = vec![super::rank::fold(&term)];
        if phone && digits != term {
            alternatives.push(digits.clone());
        }
        folded.push(alternatives);
        if indexed_chars(&term) < 3 {
            like.push(escape_like(&term));
        } else if phone && digits != term {
            phrases.push(format!("({} OR {})", quote(&term), quote(&digits)));
        } else {
            phrases.push(quote(&term));
        }
    }
    Search {
        fts: (!phrases.is_empty()).then(|| phrases.join(" AND ")),
        like,
        terms: folded,
    }
}

/// The characters of `term` the trigram index sees: `remove_diacritics`
/// drops combining marks, so `\u{301}ſÜ` is two characters there (and a
/// phrase of fewer than three matches nothing).
fn indexed_chars(term: &str) -> usize {
    term.chars().filter(|c| !is_combining_mark(*c)).count()
}

/// The combining mark blocks (diacritical marks, their extensions and
/// supplement, for symbols, half marks).
pub(super) fn is_combining_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

/// An FTS5 string: the term in double quotes, a quote inside doubled.
pub fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// `LIKE` with `\` as the escape character.
pub fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whitespace-separated terms, except that a phone number written with
/// spaces (`+1 415 555 0123`, `(415) 555-0123`) stays one term. A NUL
/// separates terms too: FTS5 ends a string at a NUL, so a quoted term
/// holding one is an "unterminated string" syntax error.
fn terms(input: &str) -> Vec<String> {
    let input = input.replace('\0', " ");
    let words: Vec<&str> = input.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if is_phone(words[i]) {
            let mut j = i + 1;
            while j < words.len() && is_phone(words[j]) {
                j += 1;
            }
            let joined = words[i..j].join(" ");
            let digits = joined.chars().filter(char::is_ascii_digit).count();
            if j - i > 1 && digits >= PHONE_DIGITS {
                out.push(joined);
                i = j;
                continue;
            }
        }
        out.push(words[i].to_owned());
        i += 1;
    }
    out
}

/// Only digits and the punctuation of written numbers, with a digit.
fn is_phone(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit())
        && word
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '(' | ')' | '-' | '.' | ' '))
}

/// A sender or recipient as the index keeps it for comparison: a phone
/// number's digits, an email address lowercased (from `Name <a@b>`), else
/// the text lowercased.
pub fn normalise_address(value: &str) -> String {
    let value = value.trim();
    if is_phone(value) {
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= PHONE_DIGITS {
            return digits;
        }
    }
    let inner = match (value.rfind('<'), value.rfind('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    };
    inner.trim().to_lowercase()
}

/// The display name of `Name <a@b>`, if any.
pub fn display_name(value: &str) -> Option<String> {
    let a = value.rfind('<')?;
    let name = value[..a].trim().trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(input: &str) -> Option<String> {
        sanitise(input).fts
    }

    #[test]
    fn every_term_is_quoted_and_operators_are_text() {
        assert_eq!(fts("INV-20931").as_deref(), Some("\"INV-20931\""));
        assert_eq!(
            fts("invoice AND NOT refund").as_deref(),
            Some("\"invoice\" AND \"AND\" AND \"NOT\" AND \"refund\"")
        );
        // Too short for the trigram index: matched with LIKE, still as text.
        let s = sanitise("invoice OR refund");
        assert_eq!(s.fts.as_deref(), Some("\"invoice\" AND \"refund\""));
        assert_eq!(s.like, ["OR"]);
        assert_eq!(fts("NEAR(a bc)").as_deref(), Some("\"NEAR(a\" AND \"bc)\""));
        assert_eq!(fts("subject:x*").as_deref(), Some("\"subject:x*\""));
        assert_eq!(
            fts("say \"hi\"").as_deref(),
            Some("\"say\" AND \"\"\"hi\"\"\"")
        );
    }

    #[test]
    fn a_lone_quote_and_short_terms_go_to_like() {
        let s = sanitise("\"");
        assert_eq!(s.fts, None);
        assert_eq!(s.like, ["\""]);
        let s = sanitise("Dr 5% a_b");
        assert_eq!(s.fts.as_deref(), Some("\"a_b\""));
        assert_eq!(s.like, ["Dr", "5\\%"]);
        assert!(sanitise("   ").is_empty());
    }

    /// Found by `fuzz_inbox_query_never_breaks_the_search`: `"¡\0\""` was
    /// quoted whole, and FTS5 stopped reading at the NUL ("unterminated
    /// string").
    #[test]
    fn a_nul_separates_terms() {
        let s = sanitise("¡\0\"");
        assert_eq!(s.fts, None);
        assert_eq!(s.like, ["¡", "\""]);
        assert_eq!(
            fts("invoice\0INV-20931").as_deref(),
            Some("\"invoice\" AND \"INV-20931\"")
        );
    }

    /// Found by `fuzz_inbox_query_finds_a_stored_word`: `\u{301}ſÜ` was
    /// three characters, so a trigram phrase, which found nothing: the
    /// index drops the combining mark and sees two.
    #[test]
    fn combining_marks_do_not_count_towards_a_trigram() {
        let s = sanitise("\u{301}ſÜ e\u{301}t\u{301}e\u{301}");
        assert_eq!(s.fts.as_deref(), Some("\"e\u{301}t\u{301}e\u{301}\""));
        assert_eq!(s.like, ["\u{301}ſÜ"]);
    }

    #[test]
    fn phone_numbers_also_match_their_digits() {
        assert_eq!(
            fts("(415) 555-0123").as_deref(),
            Some("(\"(415) 555-0123\" OR \"4155550123\")")
        );
        assert_eq!(
            fts("+1 415 555 0123 refill").as_deref(),
            Some("(\"+1 415 555 0123\" OR \"14155550123\") AND \"refill\"")
        );
        // Digits alone stay one term; a short number is not a phone number.
        assert_eq!(fts("4155550123").as_deref(), Some("\"4155550123\""));
        assert_eq!(fts("12-34").as_deref(), Some("\"12-34\""));
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            normalise_address("Ann <Ann@Example.ORG>"),
            "ann@example.org"
        );
        assert_eq!(normalise_address("+1 (415) 555-0123"), "14155550123");
        assert_eq!(normalise_address("Front Desk"), "front desk");
        assert_eq!(display_name("\"Ann B\" <a@b>").as_deref(), Some("Ann B"));
        assert_eq!(display_name("a@b"), None);
    }
}
