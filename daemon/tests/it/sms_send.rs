//! Sending SMS through Twilio with the real binaries: `commsctl accounts
//! add twilio` checked against Twilio's API contract (Prism serving
//! `twilio_api_v2010.json`), refusals that name the field and store nothing.

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG, Run, assert_log_holds_no_secret};
use crate::twilio_peers::Prism;

const PASSPHRASE: &str = "correct horse battery staple";
const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-7d1c0e";

/// A daemon with the file vault, `[twilio] api_base` at `api_base` and
/// `extra` config, logging at trace into `env.log_path()`.
pub(crate) fn start(api_base: &str, extra: &str) -> (Env, Daemon) {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n[twilio]\napi_base = \"{api_base}\"\npublic_url = \"https://sms.example.test\"\n{extra}"
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    let daemon = env.spawn_traced(cmd);
    (env, daemon)
}

pub(crate) fn commsctl_with_stdin(env: &Env, args: &[&str], stdin: &str) -> Run {
    let mut child = env
        .commsctl_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

/// `commsctl accounts add twilio --json` with `extra`, the token on stdin.
pub(crate) fn add_twilio(env: &Env, extra: &[&str]) -> Run {
    let mut args = vec!["accounts", "add", "twilio", "--json", "--secret-stdin"];
    args.extend_from_slice(extra);
    commsctl_with_stdin(env, &args, &format!("{TOKEN}\n"))
}

pub(crate) fn json_of(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

fn twilio_accounts(env: &Env) -> Vec<Value> {
    let list = json_of(&env.commsctl(&["accounts", "list", "--json"]));
    list.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "twilio")
        .cloned()
        .collect()
}

/// Every byte under the data directory (database, WAL, vault file).
fn data_bytes(env: &Env) -> Vec<u8> {
    let mut all = Vec::new();
    let mut dirs = vec![env.data.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                all.extend(bytes);
            }
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn twilio_accounts_are_checked_at_twilio_before_they_are_saved() {
    let prism = Prism::start();
    let (env, _daemon) = start(&prism.base, "");

    // Refused locally, naming the field: nothing stored.
    for (args, field) in [
        (
            vec!["--account-sid", "AC123", "--from", "+15550001111"],
            "accountSid",
        ),
        (vec!["--account-sid", AC, "--from", "555-0001"], "from"),
        (
            vec!["--account-sid", AC, "--messaging-service", "MG1"],
            "messagingServiceSid",
        ),
        (
            vec![
                "--account-sid",
                AC,
                "--api-key",
                "SKx",
                "--messaging-service",
                MG,
            ],
            "apiKey",
        ),
        // At Twilio: the spec's only number cannot send SMS, any other is not on the account.
        (vec!["--account-sid", AC, "--from", "+15550001111"], "from"),
        (vec!["--account-sid", AC, "--from", "+18089255327"], "from"),
    ] {
        let run = add_twilio(&env, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(&format!("{field}:")),
            "{args:?} should name {field}: {}",
            run.stderr
        );
    }
    // No sender at all: the CLI refuses before asking the daemon.
    let run = add_twilio(&env, &["--account-sid", AC]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--from") && run.stderr.contains("--messaging-service"),
        "{}",
        run.stderr
    );
    assert!(twilio_accounts(&env).is_empty());
    assert!(!contains(&data_bytes(&env), TOKEN));

    // A Messaging Service: credentials accepted, the account saved.
    let added = json_of(&add_twilio(
        &env,
        &[
            "--account-sid",
            AC,
            "--messaging-service",
            MG,
            "--label",
            "clinic",
        ],
    ));
    assert_eq!(added["existed"], false);
    let account = &added["account"];
    assert_eq!(account["kind"], "twilio");
    assert_eq!(account["email"], MG);
    assert_eq!(account["labels"][0], "clinic");
    // commsctl prints settings as stored; the REST API camelCases them.
    assert_eq!(
        account["settings"],
        serde_json::json!({ "account_sid": AC, "messaging_service_sid": MG })
    );
    let id = account["id"].as_str().unwrap().to_owned();
    // Again: the same account, replaced.
    let again = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    assert_eq!(
        (again["existed"].as_bool(), again["account"]["id"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    // The same Twilio account under another sender is refused: one Twilio
    // account is one commsd account (webhooks name it by AccountSid).
    let other = "MGffffffffffffffffffffffffffffffff";
    let run = add_twilio(&env, &["--account-sid", AC, "--messaging-service", other]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("accountSid:") && run.stderr.contains(&id),
        "{}",
        run.stderr
    );
    assert_eq!(twilio_accounts(&env).len(), 1);

    // The token is in the (encrypted) vault only: not in the database, not in the log.
    assert!(!contains(&data_bytes(&env), TOKEN));
    assert_log_holds_no_secret(
        &env.log_path(),
        "Twilio account saved",
        &[("auth token", TOKEN)],
    );

    // Removing the account deletes its secret.
    json_of(&env.commsctl(&["accounts", "remove", &id, "--yes", "--json"]));
    assert!(twilio_accounts(&env).is_empty());
}
