//! Fuzz tier of the search sanitiser (README, Fuzzing): whatever a person
//! types, `query::sanitise` gives SQL that a real FTS5 index (migration
//! 0010, trigram tokenizer) runs without a syntax error or a panic, and a
//! word stored in a message is found by searching for exactly that word.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::inbox::query::sanitise;
use crate::util::fuzz;

fn db() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(include_str!("../../store/migrations/0010_inbox.sql"))
        .unwrap();
    c
}

fn message(id: &str, subject: &str, text: &str, at_ms: i64) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        account_id: "acct".to_owned(),
        provider_id: id.to_owned(),
        thread_id: None,
        from: "Ann Example <ann@example.org>".to_owned(),
        to: vec!["Desk <desk@clinic.example>".to_owned()],
        at_ms,
        subject: subject.to_owned(),
        text: text.to_owned(),
        has_attachments: false,
        unread: true,
    }
}

/// An index with a few ordinary messages.
fn index() -> Connection {
    let c = db();
    let messages = [
        message("e1", "Appointment tomorrow", "See you at 10:00.", 1),
        message("e2", "Invoice INV-20931", "Attached: \"quoted\" text", 2),
        message("e3", "Résumé", "Crème brûlée, NEAR(a b) subject:x*", 3),
        message("e4", "", "Call +1 (415) 555-0123 back", 4),
    ];
    upsert(&c, "fuzz", &messages, 10_000, 0).unwrap();
    c
}

/// What FTS5's query language and LIKE give meaning to, and text around it.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"",
            "\"\"",
            "*",
            "^",
            ":",
            "(",
            ")",
            "{",
            "}",
            "+",
            "-",
            "%",
            "_",
            "\\",
            "'",
            ",",
            "AND",
            "OR",
            "NOT",
            "NEAR",
            "NEAR(",
            "subject:",
            "{subject text}:",
            "text:",
            "\0",
            "\u{301}",
            "\u{200b}",
            "\u{feff}",
            " ",
            "\t",
            "\n",
            "\u{a0}",
            "\u{3000}",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9]{1,6}",
        "[éüßÉÜ漢字🦷ÆøİıſK]{1,3}",
        "[+()0-9 .-]{1,16}",
        any::<char>().prop_map(String::from),
    ]
}

/// A search box's input: pieces run together, or anything at all.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(piece(), 0..10).prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

/// One word: no whitespace, so the search box keeps it whole.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => vec(piece(), 1..5).prop_map(|v| v.concat()),
        1 => "[^\\s]{1,12}",
    ]
    .prop_map(|w| w.split_whitespace().collect::<String>())
    .prop_filter("a word", |w| !w.is_empty())
}

proptest! {
    #![proptest_config(fuzz::cases())]

    #[test]
    fn fuzz_inbox_query_never_breaks_the_search(q in query()) {
        let c = index();
        let search = sanitise(&q);
        let found = super::search(&c, &search, &Filter::default(), 0, 10);
        prop_assert!(found.is_ok(), "{q:?} → {search:?}: {:?}", found.err());
        // With a filter and a page offset too (the other SQL shape).
        let filter = Filter { unread: Some(true), from: Some(q.clone()), ..Filter::default() };
        let found = super::search(&c, &search, &filter, 5, 10);
        prop_assert!(found.is_ok(), "{q:?} → {search:?}: {:?}", found.err());
    }

    #[test]
    fn fuzz_inbox_query_finds_a_stored_word(w in word(), in_subject in any::<bool>()) {
        let c = index();
        let (subject, text) = if in_subject {
            (format!("Re: {w} again"), "nothing to see".to_owned())
        } else {
            ("Note".to_owned(), format!("before {w} after"))
        };
        upsert(&c, "fuzz", &[message("target", &subject, &text, 9)], 10_000, 0).unwrap();
        let search = sanitise(&w);
        let found = super::search(&c, &search, &Filter::default(), 0, 50);
        prop_assert!(found.is_ok(), "{w:?} → {search:?}: {:?}", found.err());
        let ids: Vec<String> = found.unwrap().into_iter().map(|m| m.id).collect();
        prop_assert!(
            ids.iter().any(|id| id == "target"),
            "{w:?} (in the {}) → {search:?} found {ids:?}",
            if in_subject { "subject" } else { "text" }
        );
    }
}
