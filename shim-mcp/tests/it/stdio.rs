//! The real comms-mcp binary over stdio: stdout purity, exit on EOF, the
//! daemon down, autostart and reconnection.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{self, Env};

/// A running comms-mcp with line-oriented JSON-RPC on its pipes.
struct Shim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Shim {
    fn spawn(mut cmd: Command) -> Shim {
        Shim::spawn_logging(cmd.stderr(Stdio::null()))
    }

    /// Spawns `cmd` with the stderr it has been given.
    fn spawn_logging(cmd: &mut Command) -> Shim {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn comms-mcp");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Shim {
            child,
            stdin,
            lines,
            next_id: 1,
        }
    }

    fn start(env: &Env, autostart: bool) -> Shim {
        let mut cmd = env.command(&harness::binary("comms-mcp"));
        if !autostart {
            cmd.env("COMMSD_AUTOSTART", "0");
        }
        Shim::initialized(Shim::spawn(cmd))
    }

    /// The shim at `COMMSD_LOG=trace` with its stderr (what MCP clients keep
    /// as the server's log) in `log`.
    fn start_traced(env: &Env, log: &std::path::Path) -> Shim {
        let mut cmd = env.command(&harness::binary("comms-mcp"));
        cmd.env("COMMSD_AUTOSTART", "0")
            .env("COMMSD_LOG", "trace")
            .stderr(std::fs::File::create(log).unwrap());
        Shim::initialized(Shim::spawn_logging(&mut cmd))
    }

    fn initialized(mut shim: Shim) -> Shim {
        let init = shim.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "stdio-test", "version": "1" },
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "commsd", "{init}");
        shim.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        shim
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its response; every line on stdout must
    /// be JSON-RPC (notifications in between are skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line:?}"));
            assert_eq!(message["jsonrpc"], "2.0", "not JSON-RPC: {line}");
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({ "name": tool, "arguments": args }))
    }

    /// Closes stdin and returns how long the shim took to exit.
    fn close(mut self) -> Duration {
        drop(self.stdin.take());
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "comms-mcp did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        started.elapsed()
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn email() -> Value {
    json!({ "to": ["jane@example.org"], "subject": "Hello", "bodyText": "Hi Jane" })
}

#[test]
fn stdout_is_pure_json_rpc_under_load_and_eof_exits_within_2s() {
    let env = Env::new();
    let _daemon = env.start();
    let mut shim = Shim::start(&env, false);
    let tools = shim.request("tools/list", json!({}));
    assert!(
        tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{tools}"
    );
    // Load: many calls back to back (every line checked by request()).
    for i in 0..200 {
        let r = if i % 4 == 0 {
            shim.call("email_stage", email())
        } else {
            shim.call("outbox_list", json!({ "limit": 5 }))
        };
        assert_eq!(r["result"]["isError"], false, "{r}");
    }
    let staged = shim.call("email_stage", email());
    assert_eq!(
        staged["result"]["structuredContent"]["item"]["requester"],
        "mcp:stdio-test"
    );
    let unknown = shim.call("nope", json!({}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let malformed = shim.request("tools/call", json!({ "arguments": {} }));
    assert!(
        malformed["error"]["code"].is_i64(),
        "a request without a name is a JSON-RPC error: {malformed}"
    );
    let took = shim.close();
    println!("comms-mcp exited {took:?} after stdin closed");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn daemon_down_gives_error_results_with_the_hint_then_reconnects() {
    let env = Env::new();
    let mut shim = Shim::start(&env, false);
    let r = shim.call("outbox_list", json!({}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let envelope = &r["result"]["structuredContent"];
    assert_eq!(envelope["code"], "daemon_unavailable", "{r}");
    assert!(
        envelope["message"]
            .as_str()
            .unwrap()
            .contains("commsctl daemon start"),
        "{r}"
    );

    // The daemon comes up: the same shim now works.
    let daemon = env.start();
    let r = shim.call("outbox_list", json!({}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    // It restarts: the shim reconnects.
    drop(daemon);
    let _daemon = env.start();
    let ok = harness::eventually(Duration::from_secs(10), || {
        shim.call("outbox_list", json!({}))["result"]["isError"] == false
    });
    assert!(ok, "comms-mcp did not reconnect after a daemon restart");
    assert!(shim.close() < Duration::from_secs(2));
}

#[test]
fn autostart_starts_the_daemon() {
    let env = Env::new();
    let mut shim = Shim::start(&env, true);
    let r = shim.call("outbox_list", json!({}));
    assert_eq!(r["result"]["isError"], false, "{r}");
    let status = env.status_json();
    assert!(status["pid"].as_u64().is_some(), "{status}");
    shim.close();
    let stopped = env.commsctl(&["daemon", "stop"]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
}

#[test]
fn stdin_closed_before_any_request_exits_quietly() {
    // A client that probes and closes (or gives up) before initialize is not
    // an error: exit 0 and nothing in the client's log at the default level.
    let env = Env::new();
    let output = env
        .command(&harness::binary("comms-mcp"))
        .env_remove("COMMSD_LOG")
        .env("COMMSD_AUTOSTART", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run comms-mcp");
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        output.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn at_trace_neither_comms_mcp_nor_the_daemon_logs_a_message_body() {
    // MCP clients keep comms-mcp's stderr as the server's log; rmcp traces
    // every tools/call with its arguments at debug.
    let env = Env::new();
    let _daemon = env.spawn_traced(env.commsd());
    let shim_log = env.root.path().join("comms-mcp.log");
    let mut shim = Shim::start_traced(&env, &shim_log);
    let body = "Dear Jane, the biopsy showed no malignancy.";
    let subject = "Results of your biopsy";
    let r = shim.call(
        "email_stage",
        json!({ "to": ["jane@example.org"], "subject": subject, "bodyText": body }),
    );
    assert_eq!(r["result"]["isError"], false, "{r}");
    let item = r["result"]["structuredContent"]["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Reading it back carries the body through both processes again.
    let r = shim.call("outbox_get", json!({ "itemId": item }));
    assert!(r.to_string().contains(body), "{r}");
    shim.close();
    let secrets = [("message body", body), ("subject", subject)];
    harness::assert_log_holds_no_secret(&shim_log, "stdin closed; exiting", &secrets);
    harness::assert_log_holds_no_secret(&env.log_path(), "commsd ready", &secrets);
}
