//! The secret vault in the real daemon: the encrypted file (unlocked from
//! the environment or by `commsctl vault unlock`), and the real OS keyring
//! (Secret Service) in `secret_service_*` tests, which need a D-Bus session
//! with an unlocked gnome-keyring: `scripts/test` runs them inside
//! `tests/vault/keyring-session.sh`, and its default nextest filter keeps
//! them out of runs without one.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use commsd::vault::VaultConfig;
use commsd::vault::{Backend, BackendChoice, KdfParams, Secret, Vault};

use crate::harness::{Env, PORT_ZERO_CONFIG, Run};

const PASSPHRASE: &str = "Tr0ub4dor&3 horse battery";
const REFRESH: &str = "1//0gREFRESH-token-value-xyz";
const PASSWORD: &str = "imap-app-password-qwerty";

/// Cheap Argon2 for seeding from the test; the daemon reads the parameters
/// from the file's header.
const FAST: KdfParams = KdfParams {
    m_kib: 256,
    t: 1,
    p: 1,
};

fn env_with(backend: &str) -> Env {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}[vault]\nbackend = \"{backend}\"\n"),
    )
    .unwrap();
    std::fs::create_dir_all(&env.data).unwrap();
    std::fs::set_permissions(&env.data, std::fs::Permissions::from_mode(0o700)).unwrap();
    env
}

fn runtime() -> tokio::runtime::Runtime {
    // Multi-threaded like the daemon's: the Secret Service client runs its
    // connection task on the runtime it finds.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(backend: BackendChoice) -> VaultConfig {
    VaultConfig {
        backend,
        file: None,
    }
}

/// Puts two secrets with the daemon's own vault code (the daemon is not
/// running: one process at a time owns the data directory).
fn seed(data: &Path, backend: BackendChoice, passphrase: Option<&str>, names: &[&str; 2]) {
    runtime().block_on(async {
        let vault = Vault::open_with(&config(backend), data, passphrase.map(Secret::new), FAST);
        vault.put(names[0], &Secret::new(REFRESH)).await.unwrap();
        vault.put(names[1], &Secret::new(PASSWORD)).await.unwrap();
    });
}

/// Reads the secrets back with the vault code, after the daemon stopped.
fn read_back(data: &Path, passphrase: Option<&str>, names: &[&str; 2]) -> Vec<Option<String>> {
    runtime().block_on(async {
        let vault = Vault::open_with(
            &config(BackendChoice::Auto),
            data,
            passphrase.map(Secret::new),
            FAST,
        );
        let mut out = Vec::new();
        for name in names {
            out.push(
                vault
                    .get(name)
                    .await
                    .unwrap()
                    .map(|s| s.expose().to_owned()),
            );
        }
        out
    })
}

fn vault_status(env: &Env) -> serde_json::Value {
    let run = env.commsctl(&["vault", "status", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    serde_json::from_str(&run.stdout).unwrap()
}

pub(crate) fn unlock_from_stdin(env: &Env, passphrase: &str) -> Run {
    let mut child = env
        .commsctl_command(&["vault", "unlock", "--passphrase-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{passphrase}\n").as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

/// Starts the daemon in the background with `commsctl daemon start` (its
/// log goes to `<data>/commsd.log`), with extra environment.
fn start_logged(env: &Env, extra: &[(&str, std::ffi::OsString)]) {
    let mut cmd = env.commsctl_command(&["daemon", "start"]);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{run:?}");
}

/// Stops the daemon and checks that its whole log file holds no secret.
fn stop_and_check_log(env: &Env, secrets: &[&str]) -> String {
    let run = env.commsctl(&["daemon", "stop"]);
    assert_eq!(run.code, 0, "{run:?}");
    let log = std::fs::read_to_string(env.data.join("commsd.log")).unwrap();
    assert!(log.contains("vault opened"), "{log}");
    assert!(log.contains("commsd stopped"), "{log}");
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "the daemon log holds a secret:\n{log}"
        );
    }
    log
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn file_backend_unlocked_from_the_environment() {
    let env = env_with("file");
    let names = ["google/acc-1/refresh_token", "imap/acc-2/password"];
    seed(&env.data, BackendChoice::File, Some(PASSPHRASE), &names);

    start_logged(
        &env,
        &[
            ("COMMSD_VAULT_PASSPHRASE", PASSPHRASE.into()),
            ("COMMSD_LOG", "debug".into()),
        ],
    );
    let status = vault_status(&env);
    assert_eq!(status["backend"], "file");
    assert_eq!(status["configured"], "file");
    assert_eq!(status["state"], "ready", "{status}");
    assert_eq!(status["entries"], 2);
    let file = env.data.join("vault.enc");
    assert_eq!(status["location"], file.display().to_string());
    assert_eq!(status["file"]["unlocked"], true);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&env.data.join("vault.json")), 0o600);
    let on_disk = std::fs::read(&file).unwrap();
    for secret in [REFRESH, PASSWORD, names[0]] {
        assert!(
            !String::from_utf8_lossy(&on_disk).contains(secret),
            "{secret} in clear in the file"
        );
    }
    stop_and_check_log(&env, &[PASSPHRASE, REFRESH, PASSWORD]);
    assert_eq!(
        read_back(&env.data, Some(PASSPHRASE), &names),
        [Some(REFRESH.to_owned()), Some(PASSWORD.to_owned())]
    );
}

#[test]
fn locked_daemon_is_unlocked_with_passphrase_stdin() {
    let env = env_with("file");
    let names = ["google/acc-1/refresh_token", "twilio/acc-3/auth_token"];
    seed(&env.data, BackendChoice::File, Some(PASSPHRASE), &names);
    let before = std::fs::read(env.data.join("vault.enc")).unwrap();

    start_logged(&env, &[("COMMSD_LOG", "debug".into())]);
    let status = vault_status(&env);
    assert_eq!(status["state"], "locked", "{status}");
    assert_eq!(status["entries"], 2, "counted from the index while locked");
    assert!(
        status["hint"]
            .as_str()
            .unwrap()
            .contains("commsctl vault unlock"),
        "{status}"
    );
    // The daemon's own status warns: the vault holds secrets it cannot serve.
    let warnings = env.status_json()["warnings"].to_string();
    assert!(warnings.contains("vault is locked"), "{warnings}");

    let wrong = unlock_from_stdin(&env, "not the passphrase");
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("wrong passphrase") && wrong.stderr.contains("[invalid_argument]"),
        "{}",
        wrong.stderr
    );
    assert_eq!(vault_status(&env)["state"], "locked");
    assert_eq!(std::fs::read(env.data.join("vault.enc")).unwrap(), before);

    let ok = unlock_from_stdin(&env, PASSPHRASE);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("vault file unlocked"), "{}", ok.stdout);
    assert_eq!(ok.stdout.lines().count(), 1, "{}", ok.stdout);
    let status = vault_status(&env);
    assert_eq!(status["state"], "ready");
    assert_eq!(status["entries"], 2);
    assert!(env.status_json()["warnings"].as_array().unwrap().is_empty());

    stop_and_check_log(&env, &[PASSPHRASE, REFRESH, PASSWORD]);
}

#[test]
fn first_unlock_creates_the_file() {
    let env = env_with("file");
    let _daemon = env.start();
    let status = vault_status(&env);
    assert_eq!(status["state"], "locked");
    assert_eq!(status["file"]["exists"], false);
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist yet")
    );
    let short = unlock_from_stdin(&env, "short");
    assert_eq!(short.code, 2);
    assert!(short.stderr.contains("at least 8"), "{}", short.stderr);
    let ok = unlock_from_stdin(&env, PASSPHRASE);
    assert_eq!(ok.code, 0, "{ok:?}");
    let status = vault_status(&env);
    assert_eq!(status["state"], "ready");
    assert_eq!(status["file"]["exists"], true);
    assert_eq!(mode(&env.data.join("vault.enc")), 0o600);
}

// --- the real OS keyring (Secret Service) ---------------------------------

/// Fails loudly outside the keyring session: these tests must never pass
/// without having talked to a real Secret Service.
pub(crate) fn require_secret_service() {
    assert_eq!(
        std::env::var("COMMSD_TEST_SECRET_SERVICE").as_deref(),
        Ok("1"),
        "run inside tests/vault/keyring-session.sh (scripts/test does); \
         plain runs skip secret_service tests by the default nextest filter"
    );
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session"
    );
}

/// `secret-tool lookup service commsd username NAME`: the stored value, or None.
fn secret_tool_lookup(name: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "commsd", "username", name])
        .output()
        .expect("secret-tool (Debian libsecret-tools)");
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// Starts commsd in the test's D-Bus session, logging everything (trace).
fn start_in_session(env: &Env) {
    let mut extra = vec![("COMMSD_LOG", "trace".into())];
    for var in ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"] {
        if let Some(v) = std::env::var_os(var) {
            extra.push((var, v));
        }
    }
    start_logged(env, &extra);
}

#[test]
fn secret_service_migrate_to_the_file_and_back_loses_nothing() {
    require_secret_service();
    let env = env_with("keyring");
    // Unique names: every test in the session shares one keyring.
    let id = env
        .root
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches('.')
        .to_owned();
    let refresh = format!("google/{id}/refresh_token");
    let password = format!("imap/{id}/password");
    let names = [refresh.as_str(), password.as_str()];
    seed(&env.data, BackendChoice::Keyring, None, &names);
    assert_eq!(secret_tool_lookup(&refresh).as_deref(), Some(REFRESH));
    assert_eq!(secret_tool_lookup(&password).as_deref(), Some(PASSWORD));

    start_in_session(&env);
    let status = vault_status(&env);
    assert_eq!(status["backend"], "keyring", "{status}");
    assert_eq!(status["state"], "ready", "{status}");
    assert_eq!(status["entries"], 2);
    assert!(
        status["location"]
            .as_str()
            .unwrap()
            .contains("Secret Service")
    );

    // To the file: it must be unlocked (here: created) first.
    let refused = env.commsctl(&["vault", "migrate", "--to", "file"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("[vault_unavailable]"),
        "{}",
        refused.stderr
    );
    assert_eq!(secret_tool_lookup(&refresh).as_deref(), Some(REFRESH));
    assert_eq!(unlock_from_stdin(&env, PASSPHRASE).code, 0);
    let run = env.commsctl(&["vault", "migrate", "--to", "file", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["from"], "keyring");
    assert_eq!(report["to"], "file");
    let mut moved: Vec<_> = report["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    moved.sort();
    let mut expected = vec![refresh.clone(), password.clone()];
    expected.sort();
    assert_eq!(moved, expected);
    assert_eq!(report["status"]["backend"], "file");
    assert_eq!(report["status"]["entries"], 2);
    assert_eq!(
        secret_tool_lookup(&refresh),
        None,
        "deleted from the keyring"
    );
    assert_eq!(secret_tool_lookup(&password), None);

    // And back to the keyring.
    let run = env.commsctl(&["vault", "migrate", "--to", "keyring"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("moved 2 secrets from the encrypted file to the OS keyring"),
        "{}",
        run.stdout
    );
    assert_eq!(secret_tool_lookup(&refresh).as_deref(), Some(REFRESH));
    assert_eq!(secret_tool_lookup(&password).as_deref(), Some(PASSWORD));
    let status = vault_status(&env);
    assert_eq!(status["backend"], "keyring");
    assert_eq!(status["entries"], 2);

    stop_and_check_log(&env, &[PASSPHRASE, REFRESH, PASSWORD]);
    // The file holds nothing any more; the keyring holds everything.
    assert_eq!(
        read_back(&env.data, None, &names),
        [Some(REFRESH.to_owned()), Some(PASSWORD.to_owned())]
    );
    let index = std::fs::read_to_string(env.data.join("vault.json")).unwrap();
    assert!(index.contains("\"keyring\""), "{index}");

    runtime().block_on(async {
        let vault = Vault::open_with(&config(BackendChoice::Auto), &env.data, None, FAST);
        for name in names {
            vault.delete(name).await.unwrap();
        }
        assert_eq!(vault.status().await.backend, Backend::Keyring);
        assert_eq!(vault.status().await.entries, 0);
    });
    assert_eq!(secret_tool_lookup(&refresh), None);
}

#[test]
fn secret_service_is_chosen_by_auto_when_it_answers() {
    require_secret_service();
    let env = env_with("auto");
    start_in_session(&env);
    let status = vault_status(&env);
    assert_eq!(status["backend"], "keyring", "{status}");
    assert_eq!(status["configured"], "auto");
    assert_eq!(status["state"], "ready");
    stop_and_check_log(&env, &[]);
}
