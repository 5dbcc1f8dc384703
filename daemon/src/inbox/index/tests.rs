use super::*;
use crate::inbox::query::sanitise;

fn db() -> Connection {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(include_str!("../../store/migrations/0010_inbox.sql"))
        .unwrap();
    c
}

fn msg(
    channel: Channel,
    account: &str,
    id: &str,
    from: &str,
    subject: &str,
    text: &str,
    at_ms: i64,
) -> NewMessage {
    NewMessage {
        channel,
        account_id: account.to_owned(),
        provider_id: id.to_owned(),
        thread_id: None,
        from: from.to_owned(),
        to: vec!["Desk <desk@clinic.example>".to_owned()],
        at_ms,
        subject: subject.to_owned(),
        text: text.to_owned(),
        has_attachments: false,
        unread: true,
    }
}

fn fixture() -> Connection {
    let c = db();
    let mut with_file = msg(
        Channel::Email,
        "gmail1",
        "e2",
        "Billing <billing@lab.example>",
        "Invoice INV-20931",
        "Your invoice is attached.",
        2_000,
    );
    with_file.has_attachments = true;
    let mut read = msg(
        Channel::Email,
        "imap1",
        "e3",
        "Zoë Müller <zoe@example.de>",
        "Résumé",
        "Crème brûlée recipe \"quoted\" text",
        3_000,
    );
    read.unread = false;
    let messages = vec![
        msg(
            Channel::Email,
            "gmail1",
            "e1",
            "Ann Example <ann@example.org>",
            "Appointment tomorrow",
            "See you at the clinic at 10:00.",
            1_000,
        ),
        with_file,
        read,
        msg(
            Channel::Sms,
            "twilio1",
            "SM1",
            "+14155550123",
            "",
            "Can I come at 11 instead?",
            4_000,
        ),
        msg(
            Channel::Chat,
            "gmail1",
            "spaces/A/messages/1",
            "Front Desk",
            "",
            "Is the 10:00 patient here? OR NOT",
            5_000,
        ),
    ];
    let done = upsert(&c, "test", &messages, 1000, 0).unwrap();
    assert_eq!(
        done,
        Upserted {
            added: 5,
            changed: 0
        }
    );
    c
}

fn ids(c: &Connection, query: &str, filter: &Filter) -> Vec<String> {
    search(c, &sanitise(query), filter, 0, 50)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

fn all() -> Filter {
    Filter::default()
}

#[test]
fn accents_fold_both_ways_and_parts_of_words_match() {
    let c = fixture();
    assert_eq!(ids(&c, "resume", &all()), ["e3"]);
    assert_eq!(ids(&c, "CREME brulee", &all()), ["e3"]);
    assert_eq!(
        ids(&c, "müll", &all()),
        ["e3"],
        "a part of a name, with its accent"
    );
    assert_eq!(ids(&c, "mull", &all()), ["e3"]);
    assert_eq!(ids(&c, "ointm", &all()), ["e1"], "the middle of a word");
}

#[test]
fn user_input_is_never_fts_syntax() {
    let c = fixture();
    assert_eq!(ids(&c, "INV-20931", &all()), ["e2"]);
    assert_eq!(
        ids(&c, "\"", &all()),
        ["e3"],
        "a lone quote is a character to find"
    );
    assert_eq!(ids(&c, "\"quoted\"", &all()), ["e3"]);
    // `OR` is a word here, not an operator: only the message with it matches.
    assert_eq!(ids(&c, "patient OR NOT", &all()), ["spaces/A/messages/1"]);
    assert!(ids(&c, "invoice OR appointment", &all()).is_empty());
    for hostile in [
        "NEAR(a b)",
        "subject:x",
        "*",
        "\"unterminated",
        "a AND",
        "(",
        "^x",
        "-x",
    ] {
        search(&c, &sanitise(hostile), &all(), 0, 10).unwrap();
    }
}

#[test]
fn phone_numbers_match_as_written_or_as_digits() {
    let c = fixture();
    for q in [
        "(415) 555-0123",
        "+1 415 555 0123",
        "4155550123",
        "555-0123",
        "+14155550123",
    ] {
        assert_eq!(ids(&c, q, &all()), ["SM1"], "{q}");
    }
}

#[test]
fn short_terms_and_addresses_match() {
    let c = fixture();
    assert_eq!(ids(&c, "11", &all()), ["SM1"]);
    assert_eq!(ids(&c, "ann@example", &all()), ["e1"]);
    assert_eq!(ids(&c, "front desk", &all()), ["spaces/A/messages/1"]);
}

#[test]
fn one_filter_per_field() {
    let c = fixture();
    let f = |filter: Filter| ids(&c, "", &filter);
    assert_eq!(
        f(Filter {
            channel: Some(Channel::Sms),
            ..all()
        }),
        ["SM1"]
    );
    assert_eq!(
        f(Filter {
            account_id: Some("imap1".into()),
            ..all()
        }),
        ["e3"]
    );
    assert_eq!(
        f(Filter {
            from: Some("ANN@example.org".into()),
            ..all()
        }),
        ["e1"]
    );
    assert_eq!(
        f(Filter {
            from: Some("(415) 555-0123".into()),
            ..all()
        }),
        ["SM1"]
    );
    assert_eq!(
        f(Filter {
            from: Some("Zoë".into()),
            ..all()
        }),
        ["e3"]
    );
    assert_eq!(
        f(Filter {
            since_ms: Some(4_000),
            ..all()
        }),
        ["spaces/A/messages/1", "SM1"]
    );
    assert_eq!(
        f(Filter {
            before_ms: Some(2_000),
            ..all()
        }),
        ["e1"]
    );
    assert_eq!(
        f(Filter {
            unread: Some(false),
            ..all()
        }),
        ["e3"]
    );
    assert_eq!(
        f(Filter {
            has_attachment: Some(true),
            ..all()
        }),
        ["e2"]
    );
    // Filters apply to searches too.
    let gmail = Filter {
        account_id: Some("gmail1".into()),
        ..all()
    };
    assert_eq!(ids(&c, "10:00", &gmail), ["spaces/A/messages/1", "e1"]);
}

#[test]
fn relevance_first_then_recency() {
    let c = db();
    let messages = vec![
        msg(
            Channel::Email,
            "a",
            "old-subject",
            "x@y",
            "refill",
            "",
            1_000,
        ),
        msg(
            Channel::Email,
            "a",
            "new-body",
            "x@y",
            "other",
            "a long text that mentions refill once among many other words here",
            3_000,
        ),
        msg(
            Channel::Email,
            "a",
            "new-subject",
            "x@y",
            "refill",
            "",
            2_000,
        ),
    ];
    upsert(&c, "t", &messages, 1000, 0).unwrap();
    assert_eq!(
        ids(&c, "refill", &all()),
        ["new-subject", "old-subject", "new-body"]
    );
}

#[test]
fn listing_pages_newest_first_and_upserts_track_read_state() {
    let c = fixture();
    let page = list(&c, &all(), None, 2).unwrap();
    let names: Vec<_> = page.iter().map(|(_, m)| m.id.as_str()).collect();
    assert_eq!(names, ["spaces/A/messages/1", "SM1"]);
    let last = page.last().unwrap();
    let key = (4_000, last.0);
    let next: Vec<_> = list(&c, &all(), Some(key), 10)
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.id)
        .collect();
    assert_eq!(next, ["e3", "e2", "e1"]);

    let mut seen = msg(
        Channel::Sms,
        "twilio1",
        "SM1",
        "+14155550123",
        "",
        "Can I come at 11 instead?",
        4_000,
    );
    seen.unread = false;
    assert_eq!(
        upsert(&c, "t", &[seen.clone()], 1000, 0).unwrap(),
        Upserted {
            added: 0,
            changed: 1
        }
    );
    assert_eq!(
        upsert(&c, "t", &[seen], 1000, 0).unwrap(),
        Upserted::default()
    );
}

#[test]
fn texts_are_clipped_and_windows_and_accounts_are_dropped() {
    let c = fixture();
    let long = msg(
        Channel::Email,
        "a",
        "long",
        "x@y",
        "s",
        &"word ".repeat(100),
        9_000,
    );
    upsert(&c, "t", &[long], 20, 0).unwrap();
    let got = search(&c, &sanitise("word"), &all(), 0, 1).unwrap();
    assert_eq!((got[0].text.chars().count(), got[0].truncated), (20, true));

    assert_eq!(
        prune(&c, "gmail1", Some(2_000), 100).unwrap(),
        1,
        "e1 is older than the window"
    );
    assert_eq!(
        prune(&c, "gmail1", None, 1).unwrap(),
        1,
        "gmail1 keeps its newest message only"
    );
    assert_eq!(prune(&c, "imap1", None, 1).unwrap(), 0, "within its limit");
    synced(&c, "gmail", "gmail1", Some("h1"), None, 1).unwrap();
    assert_eq!(
        cursor(&c, "gmail", "gmail1").unwrap().as_deref(),
        Some("h1")
    );
    synced(&c, "gmail", "gmail1", None, Some("boom"), 2).unwrap();
    assert_eq!(
        cursor(&c, "gmail", "gmail1").unwrap().as_deref(),
        Some("h1")
    );
    assert_eq!(drop_account(&c, "gmail1").unwrap(), 1);
    assert_eq!(cursor(&c, "gmail", "gmail1").unwrap(), None);
    assert!(
        ids(&c, "patient", &all()).is_empty(),
        "the FTS rows went with them"
    );
    let stats = stats(&c).unwrap();
    assert_eq!(stats.messages, 3);
    assert!(stats.bytes > 0, "{stats:?}");
}

/// Found by `fuzz_inbox_query_finds_a_stored_word`: SQLite's LIKE reads
/// text only up to a NUL, so `"` in `before \0" after` was never found.
#[test]
fn a_nul_in_stored_text_hides_nothing_after_it() {
    let c = db();
    let m = msg(
        Channel::Sms,
        "twilio1",
        "SM9",
        "+14155550123",
        "a\0b",
        "before \0\" after",
        1,
    );
    upsert(&c, "sms", &[m], 1000, 0).unwrap();
    for query in ["\"", "b", "after"] {
        let got = search(&c, &sanitise(query), &all(), 0, 10).unwrap();
        assert_eq!(got.len(), 1, "{query:?}");
        assert_eq!(got[0].text, "before \" after");
    }
}
