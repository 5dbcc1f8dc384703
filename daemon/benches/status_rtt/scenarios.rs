//! Scenarios

use std::time::Duration;

use crate::Result;
use crate::client::{ClientRt, EndpointCfg, measure_grpc};
use crate::daemon::DaemonProc;
use crate::floor::{floor_std, floor_tokio};
use crate::reference::{RefServer, ServerCfg};

#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The shared daemon (index into the spawned daemons).
    Daemon(usize),
    RefA(ServerCfg),
    FloorStd,
    FloorTokio,
}

#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) group: &'static str,
    pub(crate) name: String,
    pub(crate) target: Target,
    pub(crate) rt: ClientRt,
    endpoint: Option<EndpointCfg>,
}

fn scenario(group: &'static str, name: &str, target: Target) -> Scenario {
    Scenario {
        group,
        name: name.to_owned(),
        target,
        rt: ClientRt::CurrentThread,
        endpoint: None,
    }
}

pub(crate) fn scenarios() -> Vec<Scenario> {
    let mib = 1024 * 1024;
    let mut v = vec![
        scenario("core", "floor: std UnixStream 64 B echo", Target::FloorStd),
        scenario(
            "core",
            "floor: tokio UnixStream 64 B echo",
            Target::FloorTokio,
        ),
        scenario(
            "core",
            "reference A: tonic echo (current_thread srv)",
            Target::RefA(ServerCfg::default()),
        ),
        scenario("core", "daemon: commsd Status", Target::Daemon(0)),
    ];

    // Client runtime flavour, against both servers.
    for (target, tname) in [
        (Target::Daemon(0), "daemon"),
        (Target::RefA(ServerCfg::default()), "ref A"),
    ] {
        for rt in [
            ClientRt::MultiThread {
                workers: 2,
                on_worker: false,
            },
            ClientRt::MultiThread {
                workers: 2,
                on_worker: true,
            },
            ClientRt::MultiThread {
                workers: 1,
                on_worker: true,
            },
        ] {
            let mut s = scenario(
                "client rt",
                &format!("{tname}, client {}", rt.label()),
                target.clone(),
            );
            s.rt = rt;
            v.push(s);
        }
    }

    // Server runtime flavour: the daemon is multi_thread (2 workers here).
    v.push(scenario(
        "server rt",
        "ref A, server multi_thread(2) like the daemon",
        Target::RefA(ServerCfg {
            workers: Some(2),
            ..ServerCfg::default()
        }),
    ));
    v.push(scenario(
        "server rt",
        "ref A, server multi_thread(1)",
        Target::RefA(ServerCfg {
            workers: Some(1),
            ..ServerCfg::default()
        }),
    ));
    v.push(scenario(
        "server rt",
        "daemon, TOKIO_WORKER_THREADS=1",
        Target::Daemon(1),
    ));

    // Client Endpoint settings, against the daemon.
    let endpoints: Vec<(&str, EndpointCfg)> = vec![
        (
            "same as client.rs (custom connector)",
            EndpointCfg::default(),
        ),
        (
            "no http2_keep_alive_interval",
            EndpointCfg {
                keepalive: false,
                ..EndpointCfg::default()
            },
        ),
        (
            "stream+conn window 1 MiB",
            EndpointCfg {
                stream_window: Some(mib),
                conn_window: Some(mib),
                ..EndpointCfg::default()
            },
        ),
        (
            "http2_adaptive_window(true)",
            EndpointCfg {
                adaptive: Some(true),
                ..EndpointCfg::default()
            },
        ),
        (
            "buffer_size(16)",
            EndpointCfg {
                buffer: Some(16),
                ..EndpointCfg::default()
            },
        ),
        (
            "buffer_size(65536)",
            EndpointCfg {
                buffer: Some(65536),
                ..EndpointCfg::default()
            },
        ),
        (
            "max_frame_size(1 MiB)",
            EndpointCfg {
                max_frame: Some(mib),
                ..EndpointCfg::default()
            },
        ),
    ];
    for (name, cfg) in endpoints {
        let mut s = scenario(
            "endpoint",
            &format!("daemon, client {name}"),
            Target::Daemon(0),
        );
        s.endpoint = Some(cfg);
        v.push(s);
    }
    // Re-check the one setting that moved, in another position in the round
    // and against the in-process server too.
    for (target, tname) in [
        (Target::Daemon(0), "daemon"),
        (Target::RefA(ServerCfg::default()), "ref A"),
    ] {
        for (name, keepalive) in [
            ("same as client.rs (again)", true),
            ("no http2_keep_alive_interval (again)", false),
        ] {
            let mut s = scenario(
                "endpoint",
                &format!("{tname}, client {name}"),
                target.clone(),
            );
            s.endpoint = Some(EndpointCfg {
                keepalive,
                ..EndpointCfg::default()
            });
            v.push(s);
        }
    }

    // Server builder settings, reference A (current_thread server).
    let servers: Vec<(&str, ServerCfg)> = vec![
        (
            "stream+conn window 1 MiB",
            ServerCfg {
                stream_window: Some(mib),
                conn_window: Some(mib),
                ..ServerCfg::default()
            },
        ),
        (
            "max_frame_size(1 MiB)",
            ServerCfg {
                max_frame: Some(mib),
                ..ServerCfg::default()
            },
        ),
        (
            "http2_adaptive_window(true)",
            ServerCfg {
                adaptive: Some(true),
                ..ServerCfg::default()
            },
        ),
        (
            "concurrency_limit_per_connection(32)",
            ServerCfg {
                concurrency: Some(32),
                ..ServerCfg::default()
            },
        ),
    ];
    for (name, cfg) in servers {
        v.push(scenario(
            "server",
            &format!("ref A, server {name}"),
            Target::RefA(cfg),
        ));
    }
    v
}

pub(crate) fn run_scenario(s: &Scenario, daemons: &[DaemonProc]) -> Result<Vec<Duration>> {
    match &s.target {
        Target::FloorStd => floor_std(),
        Target::FloorTokio => floor_tokio(),
        Target::Daemon(i) => {
            let daemon = daemons.get(*i).ok_or("no such daemon")?;
            measure_grpc(&daemon.socket, s.rt, s.endpoint.as_ref())
        }
        Target::RefA(cfg) => {
            let server = RefServer::start(cfg)?;
            let samples = measure_grpc(&server.socket, s.rt, s.endpoint.as_ref());
            server.stop()?;
            samples
        }
    }
}

/// `/proc/loadavg`'s first three fields, to show how busy the machine was.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
