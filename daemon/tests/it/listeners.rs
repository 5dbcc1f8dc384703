//! The HTTP listeners against hostile clients: foreign Host names (DNS
//! rebinding), connections that send their headers slowly, more connections
//! than a listener serves at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::{Env, PORT_ZERO_CONFIG, http_get};

/// The three listeners' URLs from `commsctl status`.
fn listener_urls(env: &Env) -> Vec<(String, &'static str)> {
    let status = env.status_json();
    [
        ("dashboard_url", "dashboard"),
        ("api_url", "api"),
        ("webhook_url", "webhooks"),
    ]
    .into_iter()
    .map(|(key, name)| (status[key].as_str().unwrap().to_owned(), name))
    .collect()
}

/// Sends `request` as is and returns the status code and the whole response.
fn raw(url: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    (code, response)
}

#[test]
fn healthz_answers_only_requests_for_this_machine() {
    let env = Env::new();
    let _daemon = env.start();
    for (url, name) in listener_urls(&env) {
        for host in [
            "evil.example",
            "evil.example:3001",
            "10.0.0.1",
            "commsd.local",
        ] {
            let (code, response) = raw(
                &url,
                &format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            );
            assert_eq!(code, 403, "{name} with Host {host}: {response}");
            assert!(
                !response.contains("\"listener\""),
                "{name} told a foreign host who it is: {response}"
            );
            assert!(response.contains("Host header"), "{response}");
        }
        // HTTP/1.0 without a Host header at all.
        let (code, response) = raw(&url, "GET /healthz HTTP/1.0\r\n\r\n");
        assert_eq!(code, 403, "{name} without Host: {response}");
        // This machine's names still work.
        for host in ["localhost", "[::1]", "127.0.0.1"] {
            let port = url.rsplit(':').next().unwrap();
            let (code, response) = raw(
                &url,
                &format!(
                    "GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
                ),
            );
            assert_eq!(code, 200, "{name} with Host {host}: {response}");
        }
    }
}

/// Opens `n` connections that each send the start of a request and then one
/// more header byte now and then, never finishing.
fn slow_clients(url: &str, n: usize) -> Vec<TcpStream> {
    let addr = url.trim_start_matches("http://");
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect()
}

/// Whether the server closed `stream` (EOF, a reset, or a 408 and EOF).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. "408 Request Timeout" before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_header_clients_are_cut_off_and_others_are_served_meanwhile() {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}\n[http]\nheader_read_timeout = \"2s\"\n"),
    )
    .unwrap();
    let _daemon = env.start();
    let urls = listener_urls(&env);
    let api = &urls.iter().find(|(_, n)| *n == "api").unwrap().0;
    let mut attackers = slow_clients(api, 400);

    // While 400 connections trickle their headers, ordinary requests on the
    // same listener are answered.
    for _ in 0..20 {
        let (code, body) = http_get(api, "/healthz", &[]);
        assert_eq!(code, 200, "{body}");
        for a in attackers.iter_mut().step_by(7) {
            let _ = a.write_all(b"x");
        }
    }
    // The server closes every one of them once its header time is up,
    // however they trickle.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut open: Vec<&mut TcpStream> = attackers.iter_mut().collect();
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} of 400 slow connections still open 20 s after connecting (header_read_timeout 2s)",
            open.len()
        );
        open.retain_mut(|s| {
            let _ = s.write_all(b"x");
            !closed_by_server(s)
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _) = http_get(api, "/healthz", &[]);
    assert_eq!(code, 200);
}

#[test]
fn beyond_the_connection_limit_clients_wait_and_are_then_served() {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}\n[http]\nheader_read_timeout = \"1s\"\nmax_connections = 20\n"),
    )
    .unwrap();
    let daemon = env.start();
    let urls = listener_urls(&env);
    let dashboard = &urls.iter().find(|(_, n)| *n == "dashboard").unwrap().0;
    // Twice the limit: every slot is taken by a slow client, the rest queue.
    let _attackers = slow_clients(dashboard, 40);
    // A real request queues behind them and is served once header timeouts
    // free slots: the listener neither crashes nor refuses.
    let (code, body) = http_get(dashboard, "/healthz", &[]);
    assert_eq!(code, 200, "{body}");
    // Other listeners have slots of their own.
    let api = &urls.iter().find(|(_, n)| *n == "api").unwrap().0;
    assert_eq!(http_get(api, "/healthz", &[]).0, 200);
    drop(_attackers);
    let run = {
        daemon.signal("TERM");
        daemon.wait(Duration::from_secs(20))
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("connection limit reached"),
        "the limit is logged once it is hit: {}",
        run.stderr
    );
}

#[test]
fn http_limits_are_checked_with_the_key_named() {
    let env = Env::new();
    for (extra, key) in [
        ("[http]\nmax_connections = 0\n", "http.max_connections"),
        (
            "[http]\nheader_read_timeout = \"0s\"\n",
            "http.header_read_timeout",
        ),
        (
            "[http]\nheader_read_timeout = \"soon\"\n",
            "http.header_read_timeout",
        ),
    ] {
        std::fs::write(&env.config, format!("{PORT_ZERO_CONFIG}\n{extra}")).unwrap();
        let run = env.start_failing();
        assert_ne!(run.code, 0);
        assert!(run.stderr.contains(key), "{extra}: {}", run.stderr);
    }
}
