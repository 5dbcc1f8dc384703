//! Real peers of the Twilio tests: Twilio's REST API contract served by
//! Prism (npm `@stoplight/prism-cli`, the spec `twilio_api_v2010.json` of
//! npm `@twilio-alpha/mcp`), and Twilio's own `RequestValidator` (PyPI
//! `twilio`) as the oracle of signature checks.
//!
//! scripts/test installs the npm packages into `.cache/peers-node`
//! (`COMMSD_TEST_PEERS_NODE` overrides the folder), beside oidc-provider;
//! the oracle's virtualenv is made by the test itself in the test cache
//! (`COMMSD_TEST_CACHE`, else `CACHE_DIR`, else `.cache`). A missing peer
//! fails the test and says how to install it, as the OAuth peer does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pinned versions: tests/peers/package.json for npm, this for PyPI.
pub const TWILIO_PY_VERSION: &str = "9.13.0";
const SPEC: &str = "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_api_v2010.json";
const PRISM: &str = "node_modules/@stoplight/prism-cli/package.json";

fn repo_root() -> PathBuf {
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
        dir.join(PRISM).is_file() && dir.join(SPEC).is_file(),
        "the Twilio contract tests need npm @stoplight/prism-cli and @twilio-alpha/mcp in {}: run scripts/test (it installs them), or `npm install --prefix {} --no-save @stoplight/prism-cli@5.14.2 @twilio-alpha/mcp@0.7.0`",
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

/// Prism mocking Twilio's API v2010: it checks each request against the
/// spec (path, Basic auth, form fields) and answers the spec's examples.
pub struct Prism {
    child: Child,
    pub base: String,
}

impl Prism {
    /// Starts Prism on a free port and waits until it answers (reading the
    /// 2 MB spec takes it about 10 s on an idle machine).
    pub fn start() -> Prism {
        let dir = peers_node_dir();
        let port = free_port();
        let child = Command::new("node")
            .arg(dir.join("node_modules/@stoplight/prism-cli/dist/index.js"))
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(dir.join(SPEC))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (is Node.js installed? scripts/test installs it)");
        let mut prism = Prism {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let http = reqwest::blocking::Client::new();
        loop {
            // Any HTTP answer (401 without credentials) means it is serving.
            if http
                .get(format!("{}/2010-04-01/Accounts.json", prism.base))
                .timeout(Duration::from_secs(5))
                .send()
                .is_ok()
            {
                return prism;
            }
            if let Ok(Some(status)) = prism.child.try_wait() {
                panic!("Prism exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "Prism did not start in 120 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cache_dir() -> PathBuf {
    std::env::var_os("COMMSD_TEST_CACHE")
        .or_else(|| std::env::var_os("CACHE_DIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache"))
}

fn has_twilio(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m, sys; sys.exit(m.version('twilio') != sys.argv[1])",
            TWILIO_PY_VERSION,
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Python of a virtualenv holding PyPI twilio at the pinned version,
/// made in the test cache when missing (`python3 -m venv`, then pip).
pub fn oracle_python() -> PathBuf {
    let venv = cache_dir().join("twilio-python-venv");
    let python = venv.join("bin/python");
    if has_twilio(&python) {
        return python;
    }
    // Built beside and renamed into place, so a concurrent run never sees
    // half a venv (a venv's python finds its packages wherever it lies).
    let building = cache_dir().join(format!("twilio-python-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(cache_dir()).expect("create the test cache");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&building)
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "cannot make the signature oracle's virtualenv with `python3 -m venv {}` (on Debian: apt-get install python3-venv; scripts/test installs it)",
        building.display()
    );
    let pip = Command::new(building.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("twilio=={TWILIO_PY_VERSION}"))
        .status();
    assert!(
        pip.is_ok_and(|s| s.success()),
        "cannot install PyPI twilio=={TWILIO_PY_VERSION} (the signature oracle) into {}: PyPI must be reachable, or install it there by hand",
        building.display()
    );
    if std::fs::rename(&building, &venv).is_err() {
        // Another run finished first, or a broken venv is in the way.
        if !has_twilio(&python) {
            let _ = std::fs::remove_dir_all(&venv);
            std::fs::rename(&building, &venv).expect("move the oracle's venv into place");
        } else {
            let _ = std::fs::remove_dir_all(&building);
        }
    }
    assert!(
        has_twilio(&python),
        "twilio=={TWILIO_PY_VERSION} missing from {}",
        venv.display()
    );
    python
}

/// Runs Twilio's RequestValidator over `cases` (see
/// tests/peers/twilio_signature_oracle.py) and returns its answers.
pub fn oracle(cases: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let python = oracle_python();
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/peers/twilio_signature_oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the signature oracle");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cases.to_string().as_bytes())
        .expect("write the cases");
    let out = child.wait_with_output().expect("oracle output");
    assert!(out.status.success(), "the signature oracle failed");
    serde_json::from_slice(&out.stdout).expect("the oracle's JSON")
}
