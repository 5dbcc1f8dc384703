//! Test harness shared by the crates' integration test binaries (included
//! with `#[path]`): a hermetic environment per test (temp HOME, data dir,
//! socket and config with port-0 listeners) and the real binaries.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Config that binds every listener on a free port.
pub const PORT_ZERO_CONFIG: &str =
    "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n";

/// A built binary of this workspace, beside the test executable's deps dir,
/// or in `$COMMSD_TEST_BIN_DIR` when set (a shared cargo build-dir puts the
/// test executables beside another checkout's binaries).
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("COMMSD_TEST_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// One hermetic environment: its own HOME, data dir, socket and config.
pub struct Env {
    pub root: tempfile::TempDir,
    pub home: PathBuf,
    pub data: PathBuf,
    pub socket: PathBuf,
    pub config: PathBuf,
}

impl Env {
    /// A fresh environment whose config binds port 0 everywhere.
    pub fn new() -> Env {
        let env = Env::without_config();
        std::fs::write(&env.config, PORT_ZERO_CONFIG).expect("write config");
        env
    }

    /// A fresh environment with no config file (the embedded default).
    pub fn without_config() -> Env {
        let root = tempfile::tempdir().expect("tempdir");
        let home = root.path().join("home");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&home)
            .expect("home");
        Env {
            home,
            data: root.path().join("data"),
            socket: root.path().join("run").join("commsd.sock"),
            config: root.path().join("config.toml"),
            root,
        }
    }

    /// A command for `binary` with a cleared environment pointing at this one.
    pub fn command(&self, binary_path: &Path) -> Command {
        let mut cmd = Command::new(binary_path);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("COMMSD_DATA_DIR", &self.data)
            .env("COMMSD_SOCKET", &self.socket)
            .env("COMMSD_CONFIG", &self.config)
            .env("COMMSD_BIN", binary("commsd"))
            .env("COMMSD_LOG", "info")
            .stdin(Stdio::null());
        cmd
    }

    /// A command for `binary` run as user `nobody` (uid 65534) through
    /// setpriv(1), for tests of permission checks that root would bypass.
    /// Opens the temp root for traversal; the caller creates what nobody owns.
    pub fn command_as_nobody(&self, binary_path: &Path) -> Command {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.root.path(), std::fs::Permissions::from_mode(0o711))
            .expect("chmod temp root");
        std::fs::set_permissions(&self.config, std::fs::Permissions::from_mode(0o644)).ok();
        let mut cmd = self.command(Path::new("setpriv"));
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(binary_path);
        cmd
    }

    pub fn commsd(&self) -> Command {
        self.command(&binary("commsd"))
    }

    pub fn commsctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(&binary("commsctl"));
        cmd.args(args);
        cmd
    }

    /// Runs commsctl to completion.
    pub fn commsctl(&self, args: &[&str]) -> Run {
        Run::from(self.commsctl_command(args).output().expect("run commsctl"))
    }

    /// Runs commsctl to completion with `stdin` as its input (a secret).
    /// commsctl may refuse (a bad flag, an untrusted server) before it
    /// reads its input and exit: a closed pipe is then its answer, not the
    /// test's failure.
    pub fn commsctl_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write as _;
        let mut child = self
            .commsctl_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run commsctl");
        match child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => panic!("cannot write commsctl's stdin: {e}"),
        }
        Run::from(child.wait_with_output().expect("wait for commsctl"))
    }

    /// Starts commsd in the foreground (as a child) and waits until it answers.
    pub fn start(&self) -> Daemon {
        self.spawn(self.commsd())
    }

    /// Spawns `cmd` (a commsd command) and waits until its socket answers.
    pub fn spawn(&self, mut cmd: Command) -> Daemon {
        self.launch(cmd.stderr(Stdio::piped()))
    }

    /// The log of daemons started with [`Env::spawn_traced`].
    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("commsd.trace.log")
    }

    /// Spawns `cmd` (a commsd command) with `COMMSD_LOG=trace`, appending
    /// its log to [`Env::log_path`] (a file: a trace log would fill a pipe
    /// nobody reads), and waits until its socket answers.
    pub fn spawn_traced(&self, cmd: Command) -> Daemon {
        self.spawn_logged(cmd, "trace")
    }

    /// [`Env::spawn_traced`] at `COMMSD_LOG=level`.
    pub fn spawn_logged(&self, mut cmd: Command, level: &str) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the trace log");
        self.launch(cmd.env("COMMSD_LOG", level).stderr(log))
    }

    fn launch(&self, cmd: &mut Command) -> Daemon {
        let child = cmd.stdout(Stdio::null()).spawn().expect("spawn commsd");
        let mut daemon = Daemon {
            pid: child.id(),
            child: Some(child),
        };
        daemon.wait_ready(&self.socket);
        daemon
    }

    /// Runs commsd expecting it to fail at start-up; returns its output.
    pub fn start_failing(&self) -> Run {
        let mut child = self
            .commsd()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn commsd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("commsd was expected to fail at start-up but kept running");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Run::from(child.wait_with_output().expect("output"))
    }

    /// `commsctl status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        let run = self.commsctl(&["status", "--json"]);
        assert_eq!(run.code, 0, "status failed: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("status --json is JSON")
    }
}

/// The effective uid of the test process.
pub fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().expect("probe file");
    std::fs::metadata(probe.path())
        .expect("probe metadata")
        .uid()
}

/// A finished process's exit code and text output.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: o
                .status
                .code()
                .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A commsd child process; killed when dropped.
pub struct Daemon {
    pid: u32,
    child: Option<Child>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("daemon child")
    }

    fn wait_ready(&mut self, socket: &Path) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                return;
            }
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                let mut err = String::new();
                if let Some(mut e) = self.child().stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("commsd exited during start-up ({status}):\n{err}");
            }
            assert!(
                Instant::now() < deadline,
                "commsd did not open {} in time",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends a signal with `kill(1)` (the workspace forbids unsafe code).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits for exit; returns the exit code and everything it wrote to stderr.
    pub fn wait(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        while self.child().try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child().kill();
                panic!("commsd did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut child = self.child.take().expect("daemon child");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        Run {
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: String::new(),
            stderr: err,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A minimal HTTP/1.1 GET over loopback: (status code, body).
pub fn http_get(url: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

/// Checks a log written at `COMMSD_LOG=trace`: it must hold `sanity` (so
/// it is the log, and logging was on) and none of `secrets`, given as
/// `(what, value)`; a hit names the secret and quotes the line.
///
/// The daemon serves before it logs `commsd ready` (its last start-up
/// line), so a test that is quick under load may read the log first: the
/// sanity line is waited for, up to 10 s.
pub fn assert_log_holds_no_secret(path: &Path, sanity: &str, secrets: &[(&str, &str)]) {
    let read = || {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read the log {}: {e}", path.display()))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = read();
    while !log.contains(sanity) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        log = read();
    }
    assert!(
        log.contains(sanity),
        "{} does not contain {sanity:?}:\n{log}",
        path.display()
    );
    for (what, secret) in secrets {
        assert!(
            secret.len() >= 6,
            "{what}: {secret:?} is too short to search for"
        );
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            panic!(
                "{} holds a secret, {what} ({} bytes of log); first line with it:\n{line}",
                path.display(),
                log.len()
            );
        }
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// Architecture invariant for thin clients: `cargo tree -p PACKAGE -e normal`
/// must not contain server, storage or secret crates. `sanity` must appear,
/// proving the tree was read at all.
pub fn assert_links_none_of(package: &str, sanity: &str, forbidden: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8 tree");
    assert!(
        tree.lines().any(|l| l.starts_with(&format!("{sanity} "))),
        "sanity: the tree of {package} lists {sanity}:\n{tree}"
    );
    for name in forbidden {
        let hits: Vec<_> = tree
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .collect();
        assert!(
            hits.is_empty(),
            "{package} must not depend on {name}: {hits:?}"
        );
    }
}
