//! `commsctl status`: text and JSON, and the not-running case.

use crate::harness::Env;

/// Snapshot settings that hide what differs between runs.
fn settings(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &regex_escape(&env.root.path().display().to_string()),
        "[TMP]",
    );
    settings.add_filter(r"pid \d+", "pid [PID]");
    settings.add_filter(r#""pid": \d+"#, r#""pid": [PID]"#);
    settings.add_filter(r"up \d+(ms|s|m \d+s)", "up [UPTIME]");
    settings.add_filter(r#""uptime_s": \d+"#, r#""uptime_s": [UPTIME]"#);
    settings.add_filter(
        r#""started_at_unix_ms": \d+"#,
        r#""started_at_unix_ms": [TIME]"#,
    );
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.add_filter(r"commsd \d+\.\d+\.\d+", "commsd [VERSION]");
    settings.add_filter(r#""version": "[^"]+""#, r#""version": "[VERSION]""#);
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
fn not_running_exits_3_with_a_hint_and_empty_stdout() {
    let env = Env::new();
    for args in [&["status"][..], &["status", "--json"][..]] {
        let run = env.commsctl(args);
        assert_eq!(run.code, 3, "{run:?}");
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains("commsd is not running at"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("commsctl daemon start"),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "reported once: {}",
            run.stderr
        );
    }
    assert!(!env.socket.exists(), "status never starts the daemon");
}

#[test]
fn status_text_and_json() {
    let env = Env::new();
    let _daemon = env.start();
    let text = env.commsctl(&["status"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let json = env.commsctl(&["status", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    settings(&env).bind(|| {
        insta::assert_snapshot!("status_text", text.stdout);
        insta::assert_snapshot!("status_json", json.stdout);
    });
}
