//! `commsctl daemon start|stop|restart` and autostart.

use std::time::Duration;

use crate::harness::{Env, eventually};

fn pid_in(text: &str) -> u32 {
    let at = text.find("(pid ").expect("a pid in the output") + 5;
    text[at..].split(')').next().unwrap().parse().unwrap()
}

#[test]
fn start_stop_restart() {
    let env = Env::new();
    let start = env.commsctl(&["daemon", "start"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    assert!(
        start.stdout.starts_with("commsd started (pid "),
        "{}",
        start.stdout
    );
    let pid = pid_in(&start.stdout);
    assert_eq!(env.status_json()["pid"], pid);
    assert!(
        env.data.join("commsd.log").exists(),
        "the detached daemon logs to the data dir"
    );

    let again = env.commsctl(&["daemon", "start"]);
    assert_eq!(again.code, 0);
    assert!(
        again
            .stdout
            .contains(&format!("already running (pid {pid})")),
        "{}",
        again.stdout
    );

    let restart = env.commsctl(&["daemon", "restart"]);
    assert_eq!(restart.code, 0, "{}", restart.stderr);
    assert!(
        restart
            .stdout
            .contains(&format!("commsd stopped (pid {pid})")),
        "{}",
        restart.stdout
    );
    let new_pid = env.status_json()["pid"].as_u64().unwrap() as u32;
    assert_ne!(new_pid, pid);

    let stop = env.commsctl(&["daemon", "stop"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(stop.stdout, format!("commsd stopped (pid {new_pid})\n"));
    assert!(!env.socket.exists());
    assert_eq!(env.commsctl(&["status"]).code, 3);

    let idle = env.commsctl(&["daemon", "stop"]);
    assert_eq!(idle.code, 0);
    assert!(idle.stdout.contains("not running"), "{}", idle.stdout);
}

#[test]
fn concurrent_starts_give_one_daemon() {
    let env = Env::new();
    let children: Vec<_> = (0..3)
        .map(|_| {
            env.commsctl_command(&["daemon", "start"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| crate::harness::Run::from(c.wait_with_output().unwrap()))
        .collect();
    for run in &outputs {
        assert_eq!(run.code, 0, "{run:?}");
    }
    let pids: std::collections::BTreeSet<u32> = outputs.iter().map(|r| pid_in(&r.stdout)).collect();
    assert_eq!(
        pids.len(),
        1,
        "every start reports the same daemon: {outputs:?}"
    );
    assert_eq!(
        outputs
            .iter()
            .filter(|r| r.stdout.starts_with("commsd started"))
            .count(),
        1
    );
    assert_eq!(env.commsctl(&["daemon", "stop"]).code, 0);
}

#[test]
fn start_reports_why_the_daemon_failed() {
    let env = Env::new();
    std::fs::write(&env.config, "[listen]\nbogus = 1\n").unwrap();
    let run = env.commsctl(&["daemon", "start"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("commsd exited during start-up"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("bogus"),
        "the daemon's own error is shown: {}",
        run.stderr
    );
}

#[test]
fn commands_that_need_the_daemon_start_it_unless_disabled() {
    let env = Env::new();
    let mut off = env.commsctl_command(&["events"]);
    off.env("COMMSD_AUTOSTART", "0");
    let run = crate::harness::Run::from(off.output().unwrap());
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!env.socket.exists());

    let events = env
        .commsctl_command(&["events", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the autostarted daemon has the stream open, so the
    // shutdown event below cannot be published before it subscribes.
    assert!(eventually(Duration::from_secs(15), || {
        let run = env.commsctl(&["status", "--json"]);
        run.code == 0 && run.stdout.contains("\"event_subscribers\": 1")
    }));
    assert_eq!(env.commsctl(&["daemon", "stop"]).code, 0);
    let out = crate::harness::Run::from(events.wait_with_output().unwrap());
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("started commsd"), "{}", out.stderr);
    assert!(out.stdout.contains("shutdown_started"), "{}", out.stdout);
}

#[test]
fn socket_flag_overrides_the_environment() {
    let env = Env::new();
    let other = env.root.path().join("other/commsd.sock");
    let other_str = other.display().to_string();
    let start = env.commsctl(&["--socket", &other_str, "daemon", "start"]);
    assert_eq!(start.code, 0, "{}", start.stderr);
    assert!(other.exists());
    assert!(!env.socket.exists());
    let status = env.commsctl(&["status", "--json", "--socket", &other_str]);
    assert_eq!(status.code, 0);
    assert!(status.stdout.contains(&other_str));
    assert_eq!(
        env.commsctl(&["--socket", &other_str, "daemon", "stop"])
            .code,
        0
    );
}
