//! Version, help and completions.

use crate::harness::Env;

#[test]
fn version_flag() {
    let run = Env::new().commsctl(&["--version"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        format!("commsctl {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_commands_with_examples() {
    let run = Env::new().commsctl(&["--help"]);
    assert_eq!(run.code, 0);
    for needle in [
        "status",
        "daemon",
        "service",
        "events",
        "completions",
        "Examples:",
        "--socket",
    ] {
        assert!(
            run.stdout.contains(needle),
            "help lacks {needle}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = env.commsctl(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("commsctl"), "{shell}");
        assert!(
            run.stdout.contains("daemon"),
            "{shell}: subcommands are completed"
        );
    }
    let bad = env.commsctl(&["completions", "cmd.exe"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);
}
