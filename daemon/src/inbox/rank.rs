//! Ranking search results: relevance by where each term occurs, then
//! recency. FTS5's `bm25()` would weigh every match of a common word against
//! the whole index before the first result (tens of milliseconds on 100,000
//! messages, whatever the page size), so the index hands over the most
//! recently indexed matches ([`CANDIDATES`], more for deep pages) in rowid
//! order, which FTS5 streams, and they are ranked here. A search with fewer
//! matches than that ranks all of them.

/// How many of the most recently indexed matches a search ranks.
pub const CANDIDATES: usize = 1000;

/// Weights of a term found in the subject, the names, the addresses (and
/// numbers) and the text: the subject counts most, as in a mail client.
const SUBJECT: u32 = 8;
const NAMES: u32 = 4;
const ADDRESSES: u32 = 4;
const TEXT: u32 = 2;

/// Lower case with accents folded and combining marks dropped, as the
/// index's tokenizer compares.
pub fn fold(s: &str) -> String {
    let mut folded = crate::contacts::record::fold(s);
    folded.retain(|c| !super::query::is_combining_mark(c));
    folded
}

/// The fields of a message a search looks in, folded.
pub struct Fields {
    pub subject: String,
    pub names: String,
    pub addresses: String,
    pub text: String,
}

impl Fields {
    pub fn new(subject: &str, names: &str, addresses: &str, text: &str) -> Fields {
        Fields {
            subject: fold(subject),
            names: fold(names),
            addresses: fold(addresses),
            text: fold(text),
        }
    }
}

/// The relevance of `fields` to `terms` (each with its alternatives): per
/// term, the weight of each field it occurs in, a text that repeats it
/// scoring a little more, and a short text more than a long one.
pub fn score(terms: &[Vec<String>], fields: &Fields) -> u32 {
    let short_text = u32::from(fields.text.split_whitespace().count() <= 30);
    let mut total = 0;
    for alternatives in terms {
        let found = |hay: &str| alternatives.iter().any(|t| hay.contains(t.as_str()));
        let mut s = 0;
        if found(&fields.subject) {
            s += SUBJECT;
        }
        if found(&fields.names) {
            s += NAMES;
        }
        if found(&fields.addresses) {
            s += ADDRESSES;
        }
        let repeats = alternatives
            .iter()
            .map(|t| fields.text.matches(t.as_str()).count())
            .max()
            .unwrap_or(0)
            .min(3) as u32;
        if repeats > 0 {
            s += TEXT + repeats - 1 + short_text;
        }
        total += s;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(words: &[&str]) -> Vec<Vec<String>> {
        words.iter().map(|w| vec![fold(w)]).collect()
    }

    #[test]
    fn the_subject_outranks_the_text_and_accents_fold() {
        let t = terms(&["refill"]);
        let subject = score(&t, &Fields::new("Refill", "", "", ""));
        let text = score(
            &t,
            &Fields::new("other", "", "", "a long text that mentions refill once"),
        );
        assert!(subject > text && text > 0, "{subject} {text}");
        let t = terms(&["resume"]);
        assert!(score(&t, &Fields::new("Résumé", "", "", "")) > 0);
        assert_eq!(score(&t, &Fields::new("other", "", "", "")), 0);
        // A decomposed accent is a letter and a combining mark.
        assert!(score(&t, &Fields::new("Re\u{301}sume\u{301}", "", "", "")) > 0);
    }

    #[test]
    fn more_terms_found_and_repeats_score_more() {
        let t = terms(&["invoice", "payment"]);
        let both = score(&t, &Fields::new("", "", "", "invoice payment"));
        let one = score(&t, &Fields::new("", "", "", "invoice only"));
        assert!(both > one);
        let t = terms(&["refill"]);
        let twice = score(&t, &Fields::new("", "", "", "refill refill"));
        let once = score(&t, &Fields::new("", "", "", "refill"));
        assert!(twice > once);
    }

    #[test]
    fn a_phone_number_matches_by_its_digits() {
        let t = vec![vec![fold("(415) 555-0123"), "4155550123".to_owned()]];
        assert!(score(&t, &Fields::new("", "", "+14155550123 14155550123", "")) > 0);
    }
}
