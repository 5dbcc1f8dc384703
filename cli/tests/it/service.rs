//! `commsctl service`: the unit and LaunchAgent written from the templates.

use crate::harness::{Env, binary};

fn service(env: &Env, args: &[&str]) -> crate::harness::Run {
    let mut cmd = env.commsctl_command(args);
    cmd.env("XDG_CONFIG_HOME", env.root.path().join("xdg-config"));
    crate::harness::Run::from(cmd.output().unwrap())
}

fn settings(env: &Env) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&binary("commsd").display().to_string(), "[COMMSD_BIN]");
    settings.add_filter(&env.root.path().display().to_string(), "[TMP]");
    settings.add_filter(r"gui/\d+", "gui/[UID]");
    settings
}

#[test]
fn install_dry_run_prints_the_filled_templates() {
    let env = Env::new();
    let systemd = service(
        &env,
        &["service", "install", "--dry-run", "--manager", "systemd"],
    );
    assert_eq!(systemd.code, 0, "{}", systemd.stderr);
    let launchd = service(
        &env,
        &["service", "install", "--dry-run", "--manager", "launchd"],
    );
    assert_eq!(launchd.code, 0, "{}", launchd.stderr);
    settings(&env).bind(|| {
        insta::assert_snapshot!("install_dry_run_systemd", systemd.stdout);
        insta::assert_snapshot!("install_dry_run_launchd", launchd.stdout);
    });
    assert!(
        !env.root.path().join("xdg-config").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn install_without_systemctl_says_so_and_writes_nothing() {
    let env = Env::new();
    let mut cmd = env.commsctl_command(&["service", "install", "--manager", "systemd"]);
    cmd.env("XDG_CONFIG_HOME", env.root.path().join("xdg-config"))
        .env("PATH", env.root.path());
    let run = crate::harness::Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("systemctl"), "{}", run.stderr);
    assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
    assert!(
        !env.root
            .path()
            .join("xdg-config/systemd/user/commsd.service")
            .exists()
    );
}

#[test]
fn generated_unit_passes_systemd_analyze_verify() {
    let Ok(out) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        panic!(
            "systemd-analyze is not installed: scripts/test installs the `systemd` package for this test"
        );
    };
    assert!(out.status.success());
    let env = Env::new();
    let run = service(
        &env,
        &["service", "install", "--dry-run", "--manager", "systemd"],
    );
    let unit = run
        .stdout
        .split_once(":\n")
        .unwrap()
        .1
        .split("\nwould run:")
        .next()
        .unwrap();
    let path = env.root.path().join("commsd.service");
    std::fs::write(&path, unit).unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(&path)
        .env("XDG_RUNTIME_DIR", env.root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    let complaints: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("commsd.service"))
        .collect();
    assert!(
        complaints.is_empty(),
        "systemd-analyze complains about the unit:\n{stderr}"
    );
}

#[test]
fn status_reports_not_installed() {
    let env = Env::new();
    let run = service(&env, &["service", "status", "--manager", "systemd"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("commsd.service: not installed"),
        "{}",
        run.stdout
    );
}
