//! The real OAuth 2 / OIDC authorization server for tests (npm oidc-provider,
//! `tests/peers/oauth-server.mjs`) and a scripted human who signs in through
//! its login and consent pages. Included with `#[path]` by the crates whose
//! tests add Google accounts.
//!
//! scripts/test installs oidc-provider into `.cache/peers-node`
//! (`COMMSD_TEST_PEERS_NODE` overrides the folder).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Env;

/// The client registered in oauth-server.mjs (a Google "Desktop app" twin).
pub const CLIENT_ID: &str = "desktop-client";
pub const CLIENT_SECRET: &str = "desktop-secret";

fn repo_root() -> PathBuf {
    // CARGO_MANIFEST_DIR is a member crate: its parent is the workspace.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

fn peers_node_dir() -> PathBuf {
    let dir = std::env::var_os("COMMSD_TEST_PEERS_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache").join("peers-node"));
    assert!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "the OAuth test server needs npm oidc-provider in {}: run scripts/test (it installs it), or `npm install --prefix {} oidc-provider@9.13.3`",
        dir.display(),
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct OAuthServer {
    child: Child,
    pub base: String,
    http: reqwest::blocking::Client,
}

impl OAuthServer {
    /// Starts the server on a free port and waits for its discovery document.
    pub fn start() -> OAuthServer {
        let dir = peers_node_dir();
        // ESM resolves packages from the script's folder, so the script runs
        // from beside node_modules (written atomically: tests run in parallel).
        let script = dir.join(format!("oauth-server-{}.mjs", std::process::id()));
        std::fs::copy(repo_root().join("tests/peers/oauth-server.mjs"), &script)
            .expect("copy oauth-server.mjs");
        let port = free_port();
        let child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (is Node.js installed? scripts/test installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = browser();
        let mut server = OAuthServer { child, base, http };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = server
                .http
                .get(format!("{}/.well-known/openid-configuration", server.base))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the OAuth test server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the OAuth test server did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Node has read the script by now.
        let _ = std::fs::remove_file(&script);
        server
    }

    /// `[google.endpoints]` for OAuth at this server (the Google APIs stay
    /// wherever `apis` says, e.g. a fake's URL).
    pub fn endpoints_toml(&self, apis: &str) -> String {
        format!(
            "[google.endpoints]\nauth = \"{b}/auth\"\ntoken = \"{b}/token\"\nrevoke = \"{b}/token/revocation\"\nuserinfo = \"{b}/me\"\n{apis}",
            b = self.base
        )
    }

    /// The human: opens `auth_url`, logs in as `login`, consents, and
    /// returns the URL the browser is finally sent to (the redirect URI with
    /// `code` and `state`) without opening it.
    pub fn consent(&self, auth_url: &str, login: &str) -> String {
        // A fresh browser profile per sign-in: no session of an earlier login.
        let browser = browser();
        let mut url = auth_url.to_owned();
        for _ in 0..12 {
            if !url.starts_with(&self.base) {
                return url;
            }
            let response = browser.get(&url).send().expect("GET on the OAuth server");
            if response.status().is_redirection() {
                url = location(&response, &url);
                continue;
            }
            let page = response.text().expect("page");
            // devInteractions pages: a login form, then a consent form, both
            // posting back to the interaction URL.
            let form = if page.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else if page.contains("value=\"consent\"") {
                vec![("prompt", "consent")]
            } else {
                panic!("unexpected page from the OAuth server at {url}:\n{page}");
            };
            let posted = browser
                .post(&url)
                .form(&form)
                .send()
                .expect("POST the form");
            if !posted.status().is_redirection() {
                let status = posted.status();
                panic!(
                    "the OAuth server answered the form at {url} with {status}: {}",
                    posted.text().unwrap_or_default()
                );
            }
            url = location(&posted, &url);
        }
        panic!("the sign-in did not reach the redirect URI");
    }

    /// The human signs in and the browser lands on commsd's callback: returns that page.
    pub fn sign_in(&self, auth_url: &str, login: &str) -> String {
        let callback = self.consent(auth_url, login);
        reqwest::blocking::get(&callback)
            .and_then(|r| r.text())
            .expect("GET the callback")
    }
}

fn browser() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

fn location(response: &reqwest::blocking::Response, from: &str) -> String {
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a redirect without Location from {from}"));
    reqwest::Url::parse(from)
        .and_then(|base| base.join(location))
        .map(|u| u.to_string())
        .expect("redirect URL")
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `commsctl google set-client` with the test server's client, the secret on stdin.
pub fn set_client(env: &Env) {
    let mut child = env
        .commsctl_command(&[
            "google",
            "set-client",
            "--client-id",
            CLIENT_ID,
            "--client-secret-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(CLIENT_SECRET.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `commsctl accounts add google --json ARGS`, signed in by the scripted human.
/// Returns the started line and the final JSON.
pub fn add_google(env: &Env, oauth: &OAuthServer, login: &str, args: &[&str]) -> (Value, Value) {
    let mut all = vec!["accounts", "add", "google", "--no-browser", "--json"];
    all.extend_from_slice(args);
    let mut child = env
        .commsctl_command(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let started: Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("first line is not JSON ({e}): {first:?}"));
    let page = oauth.sign_in(started["auth_url"].as_str().unwrap(), login);
    assert!(page.contains("Signed in"), "callback page: {page}");
    let mut last = String::new();
    stdout.read_line(&mut last).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "accounts add failed: {last}");
    (started, serde_json::from_str(&last).unwrap())
}
