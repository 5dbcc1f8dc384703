//! Start, serve, shut down: the happy paths.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use crate::harness::{Env, eventually, http_get};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn fresh_start_reports_status_and_serves_healthz_on_every_listener() {
    let env = Env::new();
    let daemon = env.start();
    let status = env.status_json();
    assert_eq!(status["pid"], daemon.pid());
    assert_eq!(status["protocol"], 1);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["socket"], env.socket.display().to_string());
    assert_eq!(status["data_dir"], env.data.display().to_string());
    assert_eq!(status["config"], env.config.display().to_string());
    assert_eq!(status["counts"]["daemon_starts"], 1);
    for (key, listener) in [
        ("dashboard_url", "dashboard"),
        ("api_url", "api"),
        ("webhook_url", "webhooks"),
    ] {
        let url = status[key].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{key} = {url}");
        assert!(
            !url.ends_with(":0"),
            "{key} must report the bound port: {url}"
        );
        let (code, body) = http_get(url, "/healthz", &[]);
        assert_eq!(code, 200, "{listener}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["listener"], listener);
    }
}

#[test]
fn private_files_and_directories() {
    let env = Env::new();
    let _daemon = env.start();
    assert_eq!(mode(&env.data), 0o700);
    assert_eq!(mode(env.socket.parent().unwrap()), 0o700);
    assert_eq!(mode(&env.socket), 0o600);
    assert_eq!(mode(&env.data.join("commsd.db")), 0o600);
    let uid = std::fs::metadata(&env.home).unwrap().uid();
    assert_eq!(std::fs::metadata(&env.socket).unwrap().uid(), uid);
}

/// A clean stop removes the socket and both lock files (the socket's and the
/// data directory's); the next daemon makes them afresh.
fn assert_clean_stop_left_nothing(env: &Env) {
    let mut lock = env.socket.as_os_str().to_owned();
    lock.push(".lock");
    for path in [
        env.socket.clone(),
        std::path::PathBuf::from(lock),
        env.data.join("commsd.lock"),
    ] {
        assert!(!path.exists(), "{} is left behind", path.display());
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let env = Env::new();
    let daemon = env.start();
    daemon.signal("TERM");
    let run = daemon.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_clean_stop_left_nothing(&env);
    assert!(run.stderr.contains("commsd stopped"), "{}", run.stderr);
    // The run was closed cleanly in the database.
    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    let open: i64 = db
        .query_row(
            "SELECT count(*) FROM daemon_runs WHERE stopped_at_ms IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open, 0);
}

#[test]
fn sigint_shuts_down_gracefully() {
    let env = Env::new();
    let daemon = env.start();
    daemon.signal("INT");
    let run = daemon.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_clean_stop_left_nothing(&env);
}

#[test]
fn shutdown_rpc_ends_event_streams_and_exits_zero() {
    let env = Env::new();
    let daemon = env.start();
    let events = env
        .commsctl_command(&["events", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        env.status_json()["counts"]["event_subscribers"] == 1
    }));
    let stop = env.commsctl(&["daemon", "stop"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(
        stop.stdout
            .contains(&format!("commsd stopped (pid {})", daemon.pid())),
        "{}",
        stop.stdout
    );
    let run = daemon.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_clean_stop_left_nothing(&env);

    let out = events.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The stream ends with the shutdown event (other events may come first).
    let last = events
        .last()
        .unwrap_or_else(|| panic!("no events:\n{text}"));
    assert_eq!(last["kind"], "shutdown_started", "{text}");
    assert!(
        last["detail"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("commsctl daemon stop")
    );
}

#[test]
fn embedded_default_without_any_config() {
    // No COMMSD_CONFIG, no XDG variables: the daemon resolves everything from
    // HOME and binds the documented default ports.
    let env = Env::without_config();
    let mut cmd = env.commsd();
    cmd.env_remove("COMMSD_CONFIG");
    let daemon = env.spawn(cmd);
    let status = {
        let run = env.commsctl(&["status", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()
    };
    assert_eq!(status["config"], serde_json::Value::Null);
    assert_eq!(status["dashboard_url"], "http://127.0.0.1:3001");
    assert_eq!(status["api_url"], "http://127.0.0.1:3002");
    assert_eq!(status["webhook_url"], "http://127.0.0.1:3003");
    daemon.signal("TERM");
    let run = daemon.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("embedded default"), "{}", run.stderr);
}

#[test]
fn notifies_systemd_when_ready_and_when_stopping() {
    // What systemd does for Type=notify: a datagram socket in NOTIFY_SOCKET.
    let env = Env::new();
    let notify_path = env.root.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut cmd = env.commsd();
    cmd.env("NOTIFY_SOCKET", &notify_path);
    let daemon = env.spawn(cmd);
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    // Ready means ready: the socket answers.
    assert_eq!(env.status_json()["pid"], daemon.pid());
    daemon.signal("TERM");
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "STOPPING=1");
    assert_eq!(daemon.wait(Duration::from_secs(10)).code, 0);
}
