//! Real mail servers for the integration tests: Dovecot (IMAP with implicit
//! TLS and STARTTLS, submission with both, LMTP) and the SMTP→LMTP relay
//! of `tests/peers/`, on free loopback ports, with a test CA that signs the
//! server certificate (subjectAltName localhost and 127.0.0.1), or
//! (`start_self_signed`) a self-signed certificate for localhost alone.
//!
//! Dovecot refuses to run as root: as root the servers run as `nobody`
//! through setpriv(1). The tests that use this are `#[ignore]`d and named
//! `dovecot_*`; `scripts/test` installs Dovecot and runs them explicitly.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test users: address and password.
pub const USERS: &[(&str, &str)] = &[
    ("alice@example.test", "alice-app-password"),
    ("bob@example.test", "bob-app-password"),
    ("carol@example.test", "carol-app-password"),
];

#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub imap: u16,
    pub imaps: u16,
    pub submission: u16,
    pub submissions: u16,
    pub lmtp: u16,
    pub relay: u16,
}

pub struct Dovecot {
    pub root: tempfile::TempDir,
    /// Dovecot's own directory (owned by the user it runs as).
    pub dir: PathBuf,
    pub ports: Ports,
    /// The CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// A CA that did not.
    pub other_ca_file: PathBuf,
    /// A self-signed certificate for localhost (not 127.0.0.1), made as
    /// `openssl req -x509` makes one (so marked CA:TRUE); the servers'
    /// certificate when started with `start_self_signed`.
    pub self_signed_file: PathBuf,
    /// The certificate the servers present: `server` or `self-signed`.
    cert: &'static str,
    dovecot: Option<Child>,
    relay: Option<Child>,
    extra_env: Vec<(String, String)>,
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    rustix_uid() == 0
}

fn rustix_uid() -> u32 {
    // No libc in the test crate: ask id(1).
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for localhost/127.0.0.1 that it signs.
fn make_certificates(dir: &Path) {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-subj",
                &format!("/CN=commsd test {ca}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "self-signed.key",
            "-out",
            "self-signed.pem",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    );
}

fn python() -> &'static str {
    // Debian's python3 has aiosmtpd (python3-aiosmtpd); a pyenv shim first
    // on PATH would not.
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

impl Dovecot {
    pub fn start() -> Dovecot {
        Dovecot::start_with_env(&[])
    }

    /// Starts with extra environment for start-dovecot.sh (such as
    /// OAUTH2_INTROSPECTION_URL).
    pub fn start_with_env(env: &[(&str, &str)]) -> Dovecot {
        Dovecot::start_with(env, "server")
    }

    /// Starts with the servers presenting `self_signed_file`.
    pub fn start_self_signed() -> Dovecot {
        Dovecot::start_with(&[], "self-signed")
    }

    fn start_with(env: &[(&str, &str)], cert: &'static str) -> Dovecot {
        assert!(
            Path::new("/usr/sbin/dovecot").exists(),
            "Dovecot is not installed (Debian packages dovecot-imapd dovecot-submissiond dovecot-lmtpd); scripts/test installs them"
        );
        let root = tempfile::Builder::new()
            .prefix("commsd-dovecot")
            .tempdir()
            .expect("tempdir");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let certs = root.path().join("certs");
        std::fs::create_dir(&certs).expect("certs dir");
        make_certificates(&certs);
        let users: String = USERS
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}::::::\n"))
            .collect();
        std::fs::write(root.path().join("users"), users).expect("users");
        let dir = root.path().join("dovecot");
        std::fs::create_dir(&dir).expect("dovecot dir");
        for f in [
            "certs/server.pem",
            "certs/server.key",
            "certs/self-signed.pem",
            "certs/self-signed.key",
            "users",
        ] {
            std::fs::set_permissions(root.path().join(f), std::fs::Permissions::from_mode(0o644))
                .expect("chmod");
        }
        std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        if is_root() {
            let out = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(&dir)
                .output()
                .expect("chown");
            assert!(out.status.success());
        }
        let ports = Ports {
            imap: free_port(),
            imaps: free_port(),
            submission: free_port(),
            submissions: free_port(),
            lmtp: free_port(),
            relay: free_port(),
        };
        let mut d = Dovecot {
            ca_file: certs.join("ca.pem"),
            other_ca_file: certs.join("other-ca.pem"),
            self_signed_file: certs.join("self-signed.pem"),
            cert,
            dir,
            root,
            ports,
            dovecot: None,
            relay: None,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        d.start_relay();
        d.start_dovecot();
        d
    }

    fn as_server_user(&self, program: &str) -> Command {
        if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    pub fn start_dovecot(&mut self) {
        assert!(self.dovecot.is_none());
        let mut cmd = self.as_server_user("bash");
        cmd.arg(peers_dir().join("start-dovecot.sh"))
            .arg(&self.dir)
            .env("HOME", &self.dir)
            .env("IMAP_PORT", self.ports.imap.to_string())
            .env("IMAPS_PORT", self.ports.imaps.to_string())
            .env("SUBMISSION_PORT", self.ports.submission.to_string())
            .env("SUBMISSIONS_PORT", self.ports.submissions.to_string())
            .env("LMTP_PORT", self.ports.lmtp.to_string())
            .env("RELAY_PORT", self.ports.relay.to_string())
            .env(
                "CERT_FILE",
                self.root.path().join(format!("certs/{}.pem", self.cert)),
            )
            .env(
                "KEY_FILE",
                self.root.path().join(format!("certs/{}.key", self.cert)),
            )
            .env("USERS_FILE", self.root.path().join("users"))
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // Dovecot logs to dovecot.log; inheriting the test's stderr would
            // let its worker processes hold it after the test.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that a stop takes the worker
            // processes too: Dovecot's imap processes outlive a SIGTERM to
            // the master while their clients stay connected, and a "restart"
            // that leaves them would not break a single session.
            .process_group(0);
        self.dovecot = Some(cmd.spawn().expect("start-dovecot.sh"));
        for port in [
            self.ports.imaps,
            self.ports.imap,
            self.ports.submission,
            self.ports.submissions,
            self.ports.lmtp,
        ] {
            wait_for_port(port, "dovecot", &self.dir.join("dovecot.log"));
        }
    }

    /// Stops Dovecot, the master and every worker (its process group), and
    /// waits for its ports to close: every open session breaks, as when a
    /// real server restarts.
    pub fn stop_dovecot(&mut self) {
        if let Some(mut child) = self.dovecot.take() {
            let group = format!("-{}", child.id());
            stop(&mut child);
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", self.ports.imaps)).is_ok()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn start_relay(&mut self) {
        assert!(self.relay.is_none());
        let child = Command::new(python())
            .arg(peers_dir().join("smtp_to_lmtp.py"))
            .arg(self.ports.relay.to_string())
            .arg(self.ports.lmtp.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.root.path().join("relay.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .expect("python3 with aiosmtpd (Debian package python3-aiosmtpd)");
        self.relay = Some(child);
        wait_for_port(
            self.ports.relay,
            "smtp_to_lmtp.py relay",
            Path::new("/dev/null"),
        );
    }

    pub fn stop_relay(&mut self) {
        if let Some(mut child) = self.relay.take() {
            stop(&mut child);
        }
    }

    /// Delivers a raw message to `user`'s INBOX over LMTP (as mail from outside).
    pub fn deliver(&self, user: &str, raw: &[u8]) {
        use std::io::{BufRead, BufReader, Write};
        let stream = TcpStream::connect(("127.0.0.1", self.ports.lmtp)).expect("lmtp");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut w = stream;
        let expect = |reader: &mut BufReader<TcpStream>, code: &str| loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("lmtp read");
            assert!(
                line.starts_with(code),
                "LMTP: expected {code}, got {line:?}"
            );
            if line.as_bytes().get(3) == Some(&b' ') {
                break;
            }
        };
        expect(&mut reader, "220");
        w.write_all(b"LHLO test\r\n").unwrap();
        expect(&mut reader, "250");
        w.write_all(b"MAIL FROM:<sender@outside.test>\r\n").unwrap();
        expect(&mut reader, "250");
        w.write_all(format!("RCPT TO:<{user}>\r\n").as_bytes())
            .unwrap();
        expect(&mut reader, "250");
        w.write_all(b"DATA\r\n").unwrap();
        expect(&mut reader, "354");
        let mut body = Vec::new();
        for line in raw.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                body.push(b'.');
            }
            body.extend_from_slice(line);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b".\r\n");
        w.write_all(&body).unwrap();
        expect(&mut reader, "250");
        w.write_all(b"QUIT\r\n").ok();
    }

    /// Writes many messages straight into `user`'s INBOX Maildir (fast; for
    /// large folders). Dovecot indexes them on the next access.
    pub fn fill_maildir(&self, user: &str, messages: impl Iterator<Item = Vec<u8>>) {
        let maildir = self.dir.join("home").join(user).join("Maildir");
        for sub in ["cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("Maildir");
        }
        let new = maildir.join("new");
        std::fs::create_dir_all(&new).expect("Maildir/new");
        for (i, raw) in messages.enumerate() {
            let path = new.join(format!("{}.M{i}P1.commsd-test", 1_700_000_000 + i));
            std::fs::write(&path, raw).expect("maildir file");
        }
        if is_root() {
            let out = Command::new("chown")
                .args(["-R", "nobody:nogroup"])
                .arg(self.dir.join("home"))
                .output()
                .expect("chown");
            assert!(out.status.success());
        }
    }

    pub fn password(user: &str) -> &'static str {
        USERS
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, p)| *p)
            .expect("known user")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop_dovecot();
        self.stop_relay();
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "{what} did not listen on 127.0.0.1:{port} within 20 s; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
