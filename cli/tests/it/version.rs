//! Talking to a daemon of another protocol version, or one we may not reach.

use commsd_proto::v1::{
    ShutdownRequest, ShutdownResponse, StatusRequest, StatusResponse,
    control_server::{Control, ControlServer},
};
use tonic::{Request, Response, Status};

use crate::harness::{Env, current_uid};

/// A Control service that claims a future protocol, served on a real socket.
struct FutureDaemon;

#[tonic::async_trait]
impl Control for FutureDaemon {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(StatusResponse {
            version: "9.9.9".into(),
            protocol: commsd_proto::PROTOCOL_VERSION + 1,
            pid: 4242,
            ..Default::default()
        }))
    }

    async fn shutdown(
        &self,
        _: Request<ShutdownRequest>,
    ) -> Result<Response<ShutdownResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_mismatch_is_reported_once_and_clearly() {
    let env = Env::new();
    std::fs::create_dir_all(env.socket.parent().unwrap()).unwrap();
    let listener = tokio::net::UnixListener::bind(&env.socket).unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ControlServer::new(FutureDaemon))
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );
    for args in [&["status"][..], &["daemon", "stop"][..], &["events"][..]] {
        let mut cmd = env.commsctl_command(args);
        cmd.env("COMMSD_AUTOSTART", "0");
        let run = crate::harness::Run::from(
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap(),
        );
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "");
        let expected = format!(
            "commsctl: error: protocol version mismatch: this client ({}) speaks protocol {}, but the daemon at {} is commsd 9.9.9 speaking protocol {}; run binaries from the same install, e.g. `commsctl daemon restart` after an upgrade\n",
            env!("CARGO_PKG_VERSION"),
            commsd_proto::PROTOCOL_VERSION,
            env.socket.display(),
            commsd_proto::PROTOCOL_VERSION + 1
        );
        assert_eq!(run.stderr, expected, "{args:?}");
    }
    server.abort();
}

#[test]
fn another_users_socket_gives_permission_denied() {
    if current_uid() != 0 {
        // Unprivileged, we cannot become another user; the classification
        // itself is unit-tested in commsd-proto.
        eprintln!("not root: cannot run commsctl as another user here");
        return;
    }
    let env = Env::new();
    let _daemon = env.start();
    assert_every_command_fails(
        1,
        |args| {
            let mut cmd = env.command_as_nobody(&crate::harness::binary("commsctl"));
            cmd.args(args);
            cmd
        },
        "permission denied connecting to",
    );
}

/// Commands that talk to the daemon, the approving ones first: a refused
/// connection must never look like success.
const COMMANDS: &[&[&str]] = &[
    &["approve", "ob_7k2m9x4q1z"],
    &["approve", "--all-pending"],
    &["reject", "ob_7k2m9x4q1z", "--reason", "wrong patient"],
    &["status"],
    &["status", "--json"],
    &["outbox", "list"],
    &["audit", "list"],
    &["keys", "list"],
    &["accounts", "list"],
    &["events"],
    &["daemon", "stop"],
];

/// Runs every command of [`COMMANDS`] `rounds` times through `command` and
/// checks each fails with exit 2, nothing on stdout and `expected` on stderr.
fn assert_every_command_fails(
    rounds: usize,
    command: impl Fn(&[&str]) -> std::process::Command,
    expected: &str,
) {
    for round in 0..rounds {
        for args in COMMANDS {
            let mut cmd = command(args);
            cmd.env("COMMSD_AUTOSTART", "0");
            let run = crate::harness::Run::from(cmd.output().unwrap());
            assert_eq!(run.code, 2, "round {round}, {args:?}: {run:?}");
            assert_eq!(run.stdout, "", "round {round}, {args:?}");
            assert!(
                run.stderr.contains(expected),
                "round {round}, {args:?}: {}",
                run.stderr
            );
        }
    }
}

/// What commsd does to a peer of another uid is to accept and close at
/// once. That used to end some commands with exit 0 and no output (the
/// socket's broken pipe was taken for `| head` closing stdout), so a
/// refused `approve` looked like success.
#[test]
fn a_connection_closed_without_an_answer_fails_every_command() {
    let env = Env::new();
    std::fs::create_dir_all(env.socket.parent().unwrap()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&env.socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    assert_every_command_fails(
        5,
        |args| env.commsctl_command(args),
        "closed the connection without answering: the daemon refuses connections from other users, so this probably runs as another user than commsd",
    );
}

/// A real daemon running as `nobody`, commsctl as root: root may open the
/// socket, and the daemon drops it. Every command says so, every time.
#[test]
fn a_daemon_of_another_user_refuses_every_command() {
    use std::os::unix::fs::DirBuilderExt;
    if current_uid() != 0 {
        eprintln!("not root: cannot run commsd as another user here");
        return;
    }
    let mut env = Env::new();
    let base = env.root.path().join("nobody");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&base)
        .unwrap();
    std::os::unix::fs::chown(&base, Some(65534), Some(65534)).unwrap();
    env.home = base.clone();
    env.data = base.join("data");
    env.socket = base.join("run/commsd.sock");
    let _daemon = env.spawn(env.command_as_nobody(&crate::harness::binary("commsd")));
    assert_every_command_fails(
        3,
        |args| env.commsctl_command(args),
        &format!(
            "the daemon at {} runs as another user (uid 65534; this is uid 0), and commsd refuses connections from other users",
            env.socket.display()
        ),
    );
}
