//! Google accounts against a real OAuth server (oidc-provider): sign-in with
//! PKCE on the daemon's loopback callback, re-sign-in keeping the id,
//! manual completion, timeouts and mismatched state, labels, the default,
//! removal with revocation, and the bring-your-own client setup.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG};
use crate::oauth::{CLIENT_ID, CLIENT_SECRET, OAuthServer};
pub(crate) use crate::oauth::{add_google, set_client};

pub(crate) const PASSPHRASE: &str = "correct horse battery staple";

/// A daemon whose Google endpoints are the test OAuth server and whose vault
/// is the encrypted file (no OS keyring in CI's default tier).
fn start(oauth: &OAuthServer) -> (Env, Daemon) {
    start_with(oauth, "", "")
}

/// The same, with more `[google.endpoints]` lines (`apis`, e.g. the Gmail
/// fake's URL) and more config after them (`extra`). The daemon logs at
/// `COMMSD_LOG=trace` into `env.log_path()`, which tests search for secrets.
pub(crate) fn start_with(oauth: &OAuthServer, apis: &str, extra: &str) -> (Env, Daemon) {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n{}{extra}",
            oauth.endpoints_toml(apis)
        ),
    )
    .unwrap();
    let daemon = env.spawn_traced(daemon_command(&env));
    (env, daemon)
}

/// The secret `name` from the daemon's vault file (read while it runs).
pub(crate) fn vault_secret(env: &Env, name: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            commsd::vault::Vault::open_with(
                &commsd::config::VaultConfig {
                    backend: commsd::vault::BackendChoice::File,
                    file: None,
                },
                &env.data,
                Some(commsd::vault::Secret::new(PASSPHRASE)),
                commsd::vault::KdfParams::DEFAULT,
            )
            .get(name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} is not in the vault"))
            .expose()
            .to_owned()
        })
}

pub(crate) fn daemon_command(env: &Env) -> std::process::Command {
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE);
    cmd
}

fn list(env: &Env) -> Vec<Value> {
    let run = env.commsctl(&["accounts", "list", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn google_sign_in_adds_an_account_and_signing_in_again_keeps_its_id() {
    let oauth = OAuthServer::start();
    let (env, daemon) = start(&oauth);
    set_client(&env);

    let (started, done) = add_google(
        &env,
        &oauth,
        "ada@example.org",
        &["--label", "work", "--tier", "2"],
    );
    let auth_url = reqwest::Url::parse(started["auth_url"].as_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["access_type"], "offline");
    assert_eq!(query["include_granted_scopes"], "true");
    assert!(
        query["redirect_uri"].starts_with("http://127.0.0.1:"),
        "{query:?}"
    );
    assert!(query["redirect_uri"].ends_with("/oauth/callback"));
    let scopes: Vec<&str> = query["scope"].split(' ').collect();
    assert!(
        scopes.contains(&"https://www.googleapis.com/auth/gmail.send"),
        "{scopes:?}"
    );
    assert!(
        !scopes.contains(&"https://www.googleapis.com/auth/gmail.modify"),
        "tier 2 asks for no more: {scopes:?}"
    );

    let account = &done["account"];
    assert_eq!(done["existed"], false);
    assert_eq!(account["email"], "ada@example.org");
    assert_eq!(account["kind"], "google");
    assert_eq!(account["tier"], 2);
    assert_eq!(account["labels"], serde_json::json!(["work"]));
    assert_eq!(account["state"], "active");
    let id = account["id"].as_str().unwrap().to_owned();

    // Signing in again (here for a higher tier) updates the same account.
    let (_, again) = add_google(&env, &oauth, "ada@example.org", &["--tier", "3"]);
    assert_eq!(again["existed"], true);
    assert_eq!(again["account"]["id"], id);
    assert_eq!(again["account"]["tier"], 3);
    assert_eq!(
        again["account"]["labels"],
        serde_json::json!(["work"]),
        "labels are kept"
    );

    let accounts = list(&env);
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    assert_eq!(accounts[0]["id"], "sandbox");
    assert_eq!(
        accounts[0]["default"], true,
        "the sandbox stays the default"
    );

    // The client secret and tokens are in the vault file only: not in the
    // database, not in the log, which the daemon wrote at trace level.
    let db = std::fs::read(env.data.join("commsd.db")).unwrap();
    assert!(!contains(&db, CLIENT_SECRET.as_bytes()));
    let refresh = vault_secret(&env, &commsd::accounts::oauth::refresh_token_entry(&id));
    daemon.signal("TERM");
    let run = daemon.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0);
    crate::harness::assert_log_holds_no_secret(
        &env.log_path(),
        "commsd stopped",
        &[
            ("client secret", CLIENT_SECRET),
            ("vault passphrase", PASSPHRASE),
            ("refresh token", &refresh),
        ],
    );
    let wal = std::fs::read(env.data.join("commsd.db-wal")).unwrap_or_default();
    assert!(!contains(&wal, CLIENT_SECRET.as_bytes()));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn labels_default_and_removal_with_revocation() {
    let oauth = OAuthServer::start();
    let (env, _daemon) = start(&oauth);
    set_client(&env);
    let (_, done) = add_google(&env, &oauth, "grace@example.org", &[]);
    let id = done["account"]["id"].as_str().unwrap().to_owned();
    assert_eq!(done["account"]["tier"], 1, "tier 1 by default");

    let run = env.commsctl(&[
        "accounts",
        "labels",
        "grace@example.org",
        "clinic",
        "front-desk",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = env.commsctl(&["accounts", "labels", &id, "Not A Label"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("labels[0]"), "{}", run.stderr);

    let run = env.commsctl(&["accounts", "default", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let accounts = list(&env);
    let google = accounts.iter().find(|a| a["id"] == id.as_str()).unwrap();
    assert_eq!(google["default"], true);
    assert_eq!(
        google["labels"],
        serde_json::json!(["clinic", "front-desk"])
    );
    assert_eq!(accounts[0]["default"], false);

    // Removal needs confirmation when stdin is not a terminal.
    let run = env.commsctl(&["accounts", "remove", &id]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    let run = env.commsctl(&["accounts", "remove", &id, "--yes", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let removed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(removed["revoked"], true, "{removed}");
    let accounts = list(&env);
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0]["default"], true,
        "the sandbox is the default again"
    );
    let run = env.commsctl(&["accounts", "remove", &id, "--yes"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("[account_not_found]"), "{}", run.stderr);

    let audit = env.commsctl(&["audit", "list", "--json"]);
    for action in [
        "account_added",
        "account_labels_set",
        "account_default_set",
        "account_removed",
    ] {
        assert!(
            audit.stdout.contains(action),
            "audit lacks {action}: {}",
            audit.stdout
        );
    }
}

#[test]
fn manual_sign_in_with_the_pasted_redirect_url() {
    let oauth = OAuthServer::start();
    let (env, _daemon) = start(&oauth);
    set_client(&env);
    let mut child = env
        .commsctl_command(&["accounts", "add", "google", "--manual", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    // The browser cannot reach the callback: the human copies its URL.
    let redirected = oauth.consent(started["auth_url"].as_str().unwrap(), "lin@example.org");
    assert!(redirected.contains("code="), "{redirected}");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{redirected}").unwrap();
    let out = child.wait_with_output().unwrap();
    let mut last = String::new();
    stdout.read_line(&mut last).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(done["account"]["email"], "lin@example.org");
}

#[test]
fn a_callback_with_another_state_is_refused_and_the_flow_times_out() {
    let oauth = OAuthServer::start();
    let (env, _daemon) = start(&oauth);
    set_client(&env);
    let mut child = env
        .commsctl_command(&[
            "accounts",
            "add",
            "google",
            "--no-browser",
            "--json",
            "--timeout",
            "3s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    let redirect = started["redirect_uri"].as_str().unwrap();
    let forged = reqwest::blocking::get(format!("{redirect}?code=stolen&state=forged"))
        .unwrap()
        .text()
        .unwrap();
    assert!(forged.contains("state mismatch"), "{forged}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");
    assert_eq!(list(&env).len(), 1, "nothing was added");
}

#[test]
fn google_client_setup_is_bring_your_own_with_clear_errors() {
    let oauth = OAuthServer::start();
    let (env, _daemon) = start(&oauth);

    let run = env.commsctl(&["accounts", "add", "google", "--no-browser"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("[oauth_not_configured]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("commsctl google import-client"),
        "{}",
        run.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.json");
    std::fs::write(
        &web,
        r#"{"web":{"client_id":"x.apps.googleusercontent.com","client_secret":"s"}}"#,
    )
    .unwrap();
    let run = env.commsctl(&["google", "import-client", web.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Desktop app"), "{}", run.stderr);

    let installed = dir.path().join("client_secret.json");
    std::fs::write(
        &installed,
        format!(r#"{{"installed":{{"client_id":"{CLIENT_ID}","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","client_secret":"{CLIENT_SECRET}","redirect_uris":["http://localhost"]}}}}"#),
    )
    .unwrap();
    let run = env.commsctl(&[
        "google",
        "import-client",
        installed.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["configured"], true);
    assert_eq!(status["client_id"], CLIENT_ID);
    assert!(
        !run.stdout.contains(CLIENT_SECRET),
        "the secret is never shown"
    );

    // The imported client signs in.
    let (_, done) = add_google(&env, &oauth, "kim@example.org", &["--with", "contacts"]);
    assert_eq!(done["account"]["modules"], serde_json::json!(["contacts"]));
    let run = env.commsctl(&["accounts", "add", "google", "--with", "fax", "--no-browser"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("with[0]"), "{}", run.stderr);
}

/// The Chat API serves Google Workspace accounts only: asking for the chat
/// module with a consumer address is refused before any sign-in starts, and
/// a consumer account that signs in anyway is added (Gmail works) with a
/// `workspace_required` warning naming the webhook alternative.
#[test]
fn chat_module_on_a_consumer_account_is_workspace_required() {
    let oauth = OAuthServer::start();
    let (env, _daemon) = start(&oauth);
    set_client(&env);

    let run = env.commsctl(&[
        "accounts",
        "add",
        "google",
        "--no-browser",
        "--with",
        "chat",
        "--login-hint",
        "someone@gmail.com",
    ]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("workspace_required"), "{}", run.stderr);
    assert!(run.stderr.contains("chat-webhook"), "{}", run.stderr);
    assert!(
        !list(&env).iter().any(|a| a["kind"] == "google"),
        "nothing was added"
    );

    let (_, done) = add_google(&env, &oauth, "someone@gmail.com", &["--with", "chat"]);
    assert_eq!(done["account"]["email"], "someone@gmail.com");
    let warnings = done["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{done}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("workspace_required: someone@gmail.com"),
        "{done}"
    );
    // A Workspace address gets no warning.
    let (_, done) = add_google(&env, &oauth, "ada@practice.example", &["--with", "chat"]);
    assert_eq!(done["warnings"], serde_json::json!([]));
}
