//! A TCP proxy in front of a fake HTTP peer (the Google fake, the scripted
//! Twilio) that breaks connections the way networks do, which an HTTP
//! server cannot do to itself: it drops a connection before the request
//! reaches the server, drops it after the server acted and before its
//! answer reaches the client (the answer lost), or holds the answer past
//! the client's timeout. Everything else passes through byte for byte.
//!
//! A fault is armed for requests whose head contains a string (e.g.
//! `messages/send`) and strikes that many times; requests on a reused
//! keep-alive connection are matched one by one.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// What happens to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFault {
    /// The connection is closed (reset) as the request arrives: the server
    /// never sees it, the client never hears back.
    DropBeforeRead,
    /// The request reaches the server, which acts on it; the connection is
    /// closed as the answer starts, so the client never hears back.
    DropAnswer,
    /// The request reaches the server; its answer is held this long.
    Slow(Duration),
}

struct Armed {
    needle: String,
    fault: NetFault,
    times: u32,
}

#[derive(Default)]
struct State {
    armed: Vec<Armed>,
    /// Faults that struck, in order.
    struck: Vec<NetFault>,
    /// Connections accepted.
    connections: u64,
}

/// The running proxy (on a thread of its own, so it serves whatever
/// runtime the test uses).
#[derive(Clone)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT/`: the upstream's URL with the proxy's port.
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://127.0.0.1:PORT/...`); `base` keeps
    /// the upstream's path.
    pub fn start(upstream: &str) -> FaultProxy {
        let rest = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream_addr = host.to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}/{path}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    shared.lock().unwrap().connections += 1;
                    tokio::spawn(serve(client, upstream_addr.clone(), shared.clone()));
                }
            });
        });
        FaultProxy { base, state }
    }

    /// The next `times` requests whose head contains `needle` meet `fault`.
    pub fn arm(&self, needle: &str, fault: NetFault, times: u32) {
        self.state.lock().unwrap().armed.push(Armed {
            needle: needle.to_owned(),
            fault,
            times,
        });
    }

    /// The faults that struck so far.
    pub fn struck(&self) -> Vec<NetFault> {
        self.state.lock().unwrap().struck.clone()
    }

    /// Faults still armed (not yet struck).
    pub fn pending(&self) -> u32 {
        self.state
            .lock()
            .unwrap()
            .armed
            .iter()
            .map(|a| a.times)
            .sum()
    }

    /// Connections the proxy accepted.
    pub fn connections(&self) -> u64 {
        self.state.lock().unwrap().connections
    }

    fn take(state: &Mutex<State>, chunk: &[u8]) -> Option<NetFault> {
        let text = String::from_utf8_lossy(chunk);
        let mut s = state.lock().unwrap();
        let i = s
            .armed
            .iter()
            .position(|a| a.times > 0 && text.contains(&a.needle))?;
        let fault = s.armed[i].fault;
        s.armed[i].times -= 1;
        if s.armed[i].times == 0 {
            s.armed.remove(i);
        }
        s.struck.push(fault);
        Some(fault)
    }
}

/// Closes `stream` with a reset rather than an orderly FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve(client: TcpStream, upstream: String, state: Arc<Mutex<State>>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let client = Arc::new(client);
    let server = Arc::new(server);
    // The fault waiting for the answer of the request in flight.
    let pending: Arc<Mutex<Option<NetFault>>> = Arc::new(Mutex::new(None));
    let up = {
        let (client, server, pending, state) = (
            client.clone(),
            server.clone(),
            pending.clone(),
            state.clone(),
        );
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                client.readable().await.ok()?;
                let n = match client.try_read(&mut buf) {
                    Ok(0) => return None,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return None,
                };
                match FaultProxy::take(&state, &buf[..n]) {
                    Some(NetFault::DropBeforeRead) => return Some(()),
                    Some(other) => *pending.lock().unwrap() = Some(other),
                    None => {}
                }
                write_all(&server, &buf[..n]).await.ok()?;
            }
        }
    };
    let down = {
        let (client, server, pending) = (client.clone(), server.clone(), pending.clone());
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                server.readable().await.ok()?;
                let n = match server.try_read(&mut buf) {
                    Ok(0) => return None,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return None,
                };
                let fault = pending.lock().unwrap().take();
                match fault {
                    Some(NetFault::DropAnswer) => return Some(()),
                    Some(NetFault::Slow(d)) => tokio::time::sleep(d).await,
                    _ => {}
                }
                write_all(&client, &buf[..n]).await.ok()?;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    if let (Ok(client), Ok(server)) = (Arc::try_unwrap(client), Arc::try_unwrap(server)) {
        reset(client);
        reset(server);
    }
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
