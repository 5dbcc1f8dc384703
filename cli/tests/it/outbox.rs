//! Human-readable outbox output, as snapshots.

use crate::harness::Env;

fn settings(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&env.root.path().display().to_string()),
        "[TMP]",
    );
    settings.add_filter(r"ob_[0-9a-z]{10}", "[ID]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"content hash: [0-9a-f]{64}", "content hash: [HASH]");
    settings.add_filter(r"cli:[A-Za-z0-9._-]+", "cli:[USER]");
    settings.add_filter(r"(?m)^(\[ID\] +\S+ +\S+ +\S+ +\S+ +)\d+[smhd]", "${1}[AGE]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = "\\.+*?()|[]{}^$".contains(c);
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[test]
fn stage_list_and_show_read_well() {
    let env = Env::new();
    let _daemon = env.start();
    let staged = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "Jane Roe <jane@example.org>",
        "--cc",
        "front-desk@practice.example",
        "--subject",
        "Your appointment on Tuesday",
        "--body",
        "Dear Jane,\n\nsee you on Tuesday at 9:00.\n",
        "--priority",
        "high",
    ]);
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    let sms = env.commsctl(&[
        "outbox",
        "stage",
        "sms",
        "--to",
        "+1 (415) 555-0100",
        "--body",
        "Reminder: tomorrow 9:00",
    ]);
    assert_eq!(sms.code, 0, "{}", sms.stderr);
    let list = env.commsctl(&["outbox", "list", "--state", "pending"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let id = list
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let show = env.commsctl(&["outbox", "show", &id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    settings(&env).bind(|| {
        insta::assert_snapshot!("stage_email", staged.stdout);
        insta::assert_snapshot!("list_pending", list.stdout);
        insta::assert_snapshot!("show_email", show.stdout);
    });
}
