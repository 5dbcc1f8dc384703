//! `commsctl vault`: status (text and JSON), unlock from stdin, migrate's errors.

use std::io::Write as _;
use std::process::Stdio;

use crate::harness::{Env, PORT_ZERO_CONFIG, Run};

fn env_with_file_backend() -> Env {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n"),
    )
    .unwrap();
    env
}

fn settings(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        &env.root.path().display().to_string().replace('.', r"\."),
        "[TMP]",
    );
    settings
}

fn unlock(env: &Env, passphrase: &str) -> Run {
    let mut child = env
        .commsctl_command(&["vault", "unlock", "--passphrase-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(passphrase.as_bytes()).unwrap();
    drop(stdin);
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn status_text_locked_then_unlocked() {
    let env = env_with_file_backend();
    let _daemon = env.start();
    let locked = env.commsctl(&["vault", "status"]);
    assert_eq!(locked.code, 0, "{locked:?}");
    let run = unlock(&env, "a long passphrase\n");
    assert_eq!(run.code, 0, "{run:?}");
    let unlocked = env.commsctl(&["vault", "status"]);
    settings(&env).bind(|| {
        insta::assert_snapshot!("status_locked", locked.stdout);
        insta::assert_snapshot!("unlock", run.stdout);
        insta::assert_snapshot!("status_unlocked", unlocked.stdout);
    });
}

#[test]
fn status_json() {
    let env = env_with_file_backend();
    let _daemon = env.start();
    let run = env.commsctl(&["vault", "status", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    settings(&env).bind(|| insta::assert_snapshot!("status_json", run.stdout));
}

#[test]
fn unlock_and_migrate_errors_name_the_problem() {
    let env = env_with_file_backend();
    let _daemon = env.start();
    let empty = unlock(&env, "\n");
    assert_eq!(empty.code, 2);
    assert!(empty.stderr.contains("empty"), "{}", empty.stderr);
    let short = unlock(&env, "short");
    assert_eq!(short.code, 2);
    assert!(
        short
            .stderr
            .contains("passphrase: a new vault file needs a passphrase of at least 8 characters"),
        "{}",
        short.stderr
    );
    let same = env.commsctl(&["vault", "migrate", "--to", "file"]);
    assert_eq!(same.code, 2);
    assert!(
        same.stderr
            .contains("the vault already uses the file backend [failed_precondition]"),
        "{}",
        same.stderr
    );
    let bad = env.commsctl(&["vault", "migrate", "--to", "keychain"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("[possible values: keyring, file]"),
        "{}",
        bad.stderr
    );
}

#[test]
fn unlock_without_a_terminal_says_to_use_stdin() {
    let env = env_with_file_backend();
    let _daemon = env.start();
    // No controlling terminal in tests: the prompt cannot be shown.
    let mut cmd = env.commsctl_command(&["vault", "unlock"]);
    cmd.stdin(Stdio::null());
    let run = Run::from(
        std::process::Command::new("setsid")
            .arg("-w")
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--passphrase-stdin"), "{}", run.stderr);
}
