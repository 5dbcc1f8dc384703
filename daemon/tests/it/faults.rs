//! Bad input and faults: each must stop the daemon with a message that says
//! what is wrong and where, or be survived without losing anything.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::time::Duration;

use crate::harness::{Env, PORT_ZERO_CONFIG, current_uid};

fn assert_fails_with(env: &Env, needles: &[&str]) -> String {
    let run = env.start_failing();
    assert_ne!(run.code, 0, "commsd must fail; stderr:\n{}", run.stderr);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            run.stderr
        );
    }
    // Nothing was left listening.
    assert!(std::os::unix::net::UnixStream::connect(&env.socket).is_err());
    run.stderr
}

#[test]
fn malformed_toml_names_the_file_and_line() {
    let env = Env::new();
    std::fs::write(&env.config, "[listen\napi = \"127.0.0.1:0\"\n").unwrap();
    assert_fails_with(&env, &[&env.config.display().to_string(), "line 1"]);
}

#[test]
fn unknown_key_names_the_key_and_the_file() {
    let env = Env::new();
    std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}smtp_port = 25\n")).unwrap();
    let err = assert_fails_with(
        &env,
        &[
            &env.config.display().to_string(),
            "smtp_port",
            "unknown field",
        ],
    );
    assert!(err.contains("listen"), "lists the expected keys: {err}");
}

#[test]
fn wrong_type_names_the_key_and_what_is_expected() {
    let env = Env::new();
    std::fs::write(&env.config, "[listen]\napi = 3002\n").unwrap();
    assert_fails_with(
        &env,
        &[
            &env.config.display().to_string(),
            "listen.api",
            "socket address",
        ],
    );
}

#[test]
fn non_loopback_listener_is_refused() {
    let env = Env::new();
    std::fs::write(&env.config, "[listen]\nwebhooks = \"0.0.0.0:0\"\n").unwrap();
    assert_fails_with(&env, &["listen.webhooks", "loopback"]);
}

#[test]
fn port_in_use_names_the_listener_and_the_address() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    std::fs::write(
        &env.config,
        format!(
            "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"{addr}\"\nwebhooks = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    assert_fails_with(&env, &["api listener", &addr.to_string(), "listen.api"]);
    assert!(!env.socket.exists(), "no socket is left behind");
}

#[test]
fn data_dir_that_cannot_be_created_is_reported() {
    let env = Env::new();
    let file = env.root.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_DATA_DIR", file.join("data"));
    let run = crate::harness::Run::from(cmd.output().unwrap());
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("data directory"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&file.join("data").display().to_string()),
        "{}",
        run.stderr
    );
}

#[test]
fn read_only_data_dir_is_reported() {
    // Root bypasses permission bits: as root, run the daemon as `nobody`.
    let env = Env::new();
    let mut cmd = if current_uid() == 0 {
        let base = env.root.path().join("nobody");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&base)
            .unwrap();
        std::os::unix::fs::chown(&base, Some(65534), Some(65534)).unwrap();
        let mut cmd = env.command_as_nobody(&crate::harness::binary("commsd"));
        cmd.env("COMMSD_DATA_DIR", base.join("data"))
            .env("COMMSD_SOCKET", base.join("run/commsd.sock"));
        std::fs::DirBuilder::new()
            .mode(0o500)
            .create(base.join("data"))
            .unwrap();
        std::os::unix::fs::chown(base.join("data"), Some(65534), Some(65534)).unwrap();
        cmd
    } else {
        std::fs::DirBuilder::new()
            .mode(0o500)
            .create(&env.data)
            .unwrap();
        env.commsd()
    };
    let run = crate::harness::Run::from(cmd.output().unwrap());
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("not writable"), "{}", run.stderr);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
}

#[test]
fn socket_dir_too_open_is_refused() {
    let env = Env::new();
    let dir = env.socket.parent().unwrap();
    std::fs::DirBuilder::new().mode(0o755).create(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_fails_with(&env, &["too open", "0755", "chmod 700"]);
}

#[test]
fn socket_dir_owned_by_another_user_is_refused() {
    let env = Env::new();
    let mut cmd = env.commsd();
    let expected_owner = if current_uid() == 0 {
        let dir = env.root.path().join("foreign");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        cmd.env("COMMSD_SOCKET", dir.join("commsd.sock"));
        "owned by uid 65534"
    } else {
        // `/` belongs to root on every machine this runs on.
        cmd.env("COMMSD_SOCKET", "/commsd-test.sock");
        "owned by uid 0"
    };
    let run = crate::harness::Run::from(cmd.output().unwrap());
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains(expected_owner), "{}", run.stderr);
    assert!(run.stderr.contains("not by you"), "{}", run.stderr);
}

#[test]
fn second_daemon_says_already_running_with_the_pid() {
    let env = Env::new();
    let first = env.start();
    let err = assert_fails_with_running(&env);
    assert!(err.contains("already running"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "{err}");
    // The first one is unaffected.
    assert_eq!(env.status_json()["pid"], first.pid());
}

fn assert_fails_with_running(env: &Env) -> String {
    let run = env.start_failing();
    assert_ne!(run.code, 0);
    run.stderr
}

#[test]
fn stale_socket_from_a_crashed_daemon_is_replaced() {
    let env = Env::new();
    let dir = env.socket.parent().unwrap();
    std::fs::DirBuilder::new().mode(0o700).create(dir).unwrap();
    // A bound-then-abandoned socket file: nothing accepts on it.
    drop(std::os::unix::net::UnixListener::bind(&env.socket).unwrap());
    assert!(env.socket.exists());
    let daemon = env.start();
    assert_eq!(env.status_json()["pid"], daemon.pid());
}

#[test]
fn kill_9_then_restart_keeps_the_database_intact() {
    let env = Env::new();
    let first = env.start();
    let first_pid = first.pid();
    first.signal("KILL");
    let run = first.wait(Duration::from_secs(10));
    assert_eq!(run.code, 128 + 9);
    assert!(env.socket.exists(), "kill -9 leaves the socket file behind");

    let second = env.start();
    let status = env.status_json();
    assert_eq!(
        status["counts"]["daemon_starts"], 2,
        "the first run's committed row survived"
    );
    assert_eq!(status["counts"]["unclean_stops"], 1);
    second.signal("TERM");
    let run = second.wait(Duration::from_secs(10));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not shut down cleanly"),
        "{}",
        run.stderr
    );

    let db = rusqlite::Connection::open(env.data.join("commsd.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let pids: Vec<(i64, Option<i64>)> = db
        .prepare("SELECT pid, stopped_at_ms FROM daemon_runs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pids.len(), 2);
    assert_eq!(pids[0], (i64::from(first_pid), None));
    assert!(pids[1].1.is_some());
}

#[test]
fn database_from_a_newer_version_is_refused_untouched() {
    let env = Env::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&env.data)
        .unwrap();
    let db_path = env.data.join("commsd.db");
    {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 999;")
            .unwrap();
    }
    let before = std::fs::read(&db_path).unwrap();
    assert_fails_with(
        &env,
        &[
            "newer commsd",
            "schema version 999",
            &db_path.display().to_string(),
        ],
    );
    assert_eq!(
        std::fs::read(&db_path).unwrap(),
        before,
        "the database must not be modified"
    );
}
