//! `gmail_get_message` through `comms-mcp`, as Claude Code calls it: a real
//! `commsd` with a Google account signed in at the real OAuth server
//! (tests/peers/oauth-server.mjs) and Gmail at the contract-checked fake, and
//! a real `comms-mcp` child spoken to over its stdio (JSON-RPC lines,
//! protocol 2025-06-18). Prints the p50/p90 of the cached call beside the
//! first (uncached) one and beside `outbox_list`, the cheapest tool.
//!
//! Needs the release binaries and Node's oidc-provider (scripts/test installs
//! it): `cargo build --release --bins && cargo bench -p commsd --bench gmail_mcp`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    dead_code
)]

#[path = "../../tests/support/google_fake/mod.rs"]
mod google_fake;
#[path = "../../tests/support/harness.rs"]
mod harness;
#[path = "../../tests/support/oauth.rs"]
mod oauth;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use google_fake::GmailFake;
use harness::{Env, PORT_ZERO_CONFIG, binary};
use oauth::OAuthServer;
use serde_json::{Value, json};

const ADA: &str = "ada@practice.example";
const PASSPHRASE: &str = "bench vault passphrase";
const CALLS: usize = 300;

struct Shim {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Shim {
    fn start(env: &Env) -> Shim {
        let mut child = env
            .command(&binary("comms-mcp"))
            .env("COMMSD_AUTOSTART", "0")
            .env("COMMSD_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn comms-mcp");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut shim = Shim {
            child,
            stdin,
            stdout,
            next_id: 0,
        };
        let init = shim.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "bench", "version": "1" }
            }),
        );
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        shim.send(&json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        shim
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns its response (notifications skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "comms-mcp closed stdout"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message;
            }
        }
    }

    fn call(&mut self, tool: &str, arguments: Value) -> (Value, Duration) {
        let t = Instant::now();
        let response = self.request(
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        );
        let elapsed = t.elapsed();
        let result = &response["result"];
        assert_eq!(result["isError"], false, "{tool}: {response}");
        (result["structuredContent"].clone(), elapsed)
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    format!(
        "p50 {:.3} ms, p90 {:.3} ms ({} calls)",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.9).as_secs_f64() * 1000.0,
        samples.len()
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(GmailFake::start());
    let oauth = OAuthServer::start();
    fake.add_mailbox(ADA);
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n{}",
            oauth.endpoints_toml(&format!("gmail = \"{}\"\n", fake.base))
        ),
    )
    .unwrap();
    let mut daemon = env.commsd();
    daemon
        .env("COMMSD_VAULT_PASSPHRASE", PASSPHRASE)
        .env("COMMSD_LOG", "warn");
    let _daemon = env.spawn(daemon);
    oauth::set_client(&env);
    oauth::add_google(&env, &oauth, ADA, &[]);
    let body = "Dear Dr. Roe,\r\n\r\nthe lab results for Jane Roe are attached.\r\n".repeat(20);
    let (message_id, _) = fake.deliver(
        ADA,
        format!(
            "From: lab@example.org\r\nTo: {ADA}\r\nSubject: Results\r\nDate: Sat, 21 Nov 2026 09:00:00 +0000\r\nMessage-ID: <r1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        )
        .as_bytes(),
        &["INBOX"],
    );

    let mut shim = Shim::start(&env);
    let args = json!({ "account": ADA, "id": message_id });
    let (first, uncached) = shim.call("gmail_get_message", args.clone());
    assert_eq!(first["cacheHit"], false, "{first}");
    let requests = fake.counts().http_requests;
    let mut cached = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let (result, elapsed) = shim.call("gmail_get_message", args.clone());
        assert_eq!(result["cacheHit"], true, "{result}");
        cached.push(elapsed);
    }
    assert_eq!(
        fake.counts().http_requests,
        requests,
        "cached calls reached Gmail"
    );
    let mut outbox = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        outbox.push(shim.call("outbox_list", json!({})).1);
    }
    println!("tools/call through comms-mcp (stdio) -> commsd (Unix socket), one run:");
    println!(
        "  gmail_get_message, cached: {}  (target: p50 at most 1 ms)",
        summary(cached)
    );
    println!(
        "  gmail_get_message, first call (Gmail fake on loopback): {:.3} ms",
        uncached.as_secs_f64() * 1000.0
    );
    println!("  outbox_list, for scale:    {}", summary(outbox));
    fake.assert_no_violations();
}
