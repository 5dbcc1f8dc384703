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
    let run = crate::harness::Run::from(
        env.command_as_nobody(&crate::harness::binary("commsctl"))
            .arg("status")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("permission denied connecting to"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("another user"), "{}", run.stderr);
}
