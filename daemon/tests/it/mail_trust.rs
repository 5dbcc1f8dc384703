//! Self-hosted mail servers with a self-signed certificate, against Dovecot
//! presenting one (for localhost only, marked CA:TRUE as `openssl req -x509`
//! makes it): trusted when given with `ca_file` or pinned by its SHA-256,
//! for its own host name only, by IMAP and SMTP alike, and every refusal
//! shows the fingerprint of the certificate the server presented.
//!
//! `#[ignore]`d (they need Dovecot); `scripts/test` runs `dovecot_*`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use commsd::error::Error;
use commsd::mail::net::Timeouts;
use commsd::mail::settings::Fixed;
use commsd::mail::trust::fingerprint;
use commsd::mail::{
    AuthMethod, Credential, Criteria, MailClient, MailSettings, Security, Server, SmtpTransport,
};
use commsd::outbox::attachments::AttachmentStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;

use crate::dovecot::Dovecot;
use crate::harness::{Env, PORT_ZERO_CONFIG, Run};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

/// The SHA-256 fingerprint of the (first) certificate of a PEM file.
fn fingerprint_of(pem: &Path) -> String {
    let der = CertificateDer::from_pem_file(pem).unwrap();
    fingerprint(der.as_ref())
}

fn settings(d: &Dovecot, user: &str, security: Security, host: &str) -> MailSettings {
    let (imap, smtp) = match security {
        Security::Tls => (d.ports.imaps, d.ports.submissions),
        Security::Starttls | Security::Plain => (d.ports.imap, d.ports.submission),
    };
    MailSettings {
        email: user.to_owned(),
        imap: Server {
            host: host.into(),
            port: imap,
        },
        smtp: Server {
            host: host.into(),
            port: smtp,
        },
        security,
        username: user.to_owned(),
        ca_file: None,
        pin_sha256: None,
        auth: AuthMethod::Password,
        save_sent: None,
    }
}

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        command: Duration::from_secs(30),
    }
}

async fn test(s: &MailSettings) -> Result<commsd::mail::check::Report, Error> {
    let password = Credential::Password(Dovecot::password(&s.email).to_owned());
    commsd::mail::check::test(s, &password, fast()).await
}

/// Both servers refused the certificate, each naming the fingerprint seen.
fn assert_refused(e: &Error, seen: &str, why: &str) {
    for details in [&e.details, &e.details["smtp"]] {
        assert_eq!(details["step"], "tls_certificate", "{e:?}");
        assert_eq!(details["fingerprint"], seen, "{e:?}");
        assert!(
            details["reason"].as_str().unwrap().contains(why),
            "expected {why:?}: {e:?}"
        );
    }
    assert!(
        e.message.contains(&format!("SHA-256 fingerprint {seen}")),
        "{}",
        e.message
    );
    let hint = e.details["hint"].as_str().unwrap();
    assert!(
        hint.contains("--ca-file") && hint.contains("--pin-sha256"),
        "{hint}"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Dovecot: scripts/test runs it"]
async fn dovecot_a_self_signed_certificate_is_trusted_by_file_or_pin_for_its_name() {
    let d = Dovecot::start_self_signed();
    let seen = fingerprint_of(&d.self_signed_file);
    let other = fingerprint_of(&d.ca_file);

    for security in [Security::Tls, Security::Starttls] {
        // The server's own certificate as the CA file.
        let mut s = settings(&d, ALICE, security, "localhost");
        s.ca_file = Some(d.self_signed_file.clone());
        let report = test(&s)
            .await
            .unwrap_or_else(|e| panic!("{security:?}: {e:?}"));
        for line in [&report.imap, &report.smtp] {
            assert!(
                line.starts_with("signed in to localhost:")
                    && line.ends_with(&format!("(certificate SHA-256 {seen})")),
                "{security:?}: {report:?}"
            );
        }

        // Pinned, as the user may type it: lower case, no colons.
        let mut s = settings(&d, ALICE, security, "localhost");
        s.pin_sha256 = Some(seen.replace(':', "").to_lowercase());
        test(&s)
            .await
            .unwrap_or_else(|e| panic!("{security:?} pinned: {e:?}"));

        // A wrong pin: refused, showing what the server presented.
        let mut s = settings(&d, ALICE, security, "localhost");
        s.pin_sha256 = Some(other.clone());
        let e = test(&s).await.unwrap_err();
        assert_refused(&e, &seen, "pin_sha256");

        // The right certificate, but 127.0.0.1 is not a name it bears.
        let mut s = settings(&d, ALICE, security, "127.0.0.1");
        s.ca_file = Some(d.self_signed_file.clone());
        let e = test(&s).await.unwrap_err();
        assert_refused(&e, &seen, "NotValidForName");
        let mut s = settings(&d, ALICE, security, "127.0.0.1");
        s.pin_sha256 = Some(seen.clone());
        let e = test(&s).await.unwrap_err();
        assert_refused(&e, &seen, "NotValidForName");
    }

    // Neither: the public roots refuse it (the case the hint is for).
    let e = test(&settings(&d, ALICE, Security::Tls, "localhost"))
        .await
        .unwrap_err();
    assert_refused(&e, &seen, "CaUsedAsEndEntity");
    // A CA that did not sign it.
    let mut s = settings(&d, ALICE, Security::Starttls, "localhost");
    s.ca_file = Some(d.ca_file.clone());
    let e = test(&s).await.unwrap_err();
    assert_refused(&e, &seen, "CaUsedAsEndEntity");

    // The account at work with a pin: SMTP over STARTTLS sends, IMAP reads.
    let data = tempfile::tempdir().unwrap();
    let client = |user: &str| {
        let mut s = settings(&d, user, Security::Starttls, "localhost");
        s.pin_sha256 = Some(seen.clone());
        Arc::new(
            MailClient::new(
                user.to_owned(),
                s,
                Arc::new(Fixed(Credential::Password(
                    Dovecot::password(user).to_owned(),
                ))),
                data.path(),
            )
            .unwrap()
            .with_timeouts(fast()),
        )
    };
    let (alice, bob) = (client(ALICE), client(BOB));
    let transport = SmtpTransport::new(alice, AttachmentStore::new(data.path().join("a")));
    let raw = format!(
        "From: {ALICE}\r\nTo: {BOB}\r\nSubject: pinned\r\nMessage-ID: <pinned@example.test>\r\n\r\nhello\r\n"
    );
    let reply = transport
        .send_raw(ALICE, &[BOB.to_owned()], raw.as_bytes())
        .await
        .unwrap();
    assert!(reply.contains("250"), "{reply}");
    let mut found = 0;
    for _ in 0..100 {
        found = bob
            .list("INBOX", &Criteria::default(), 10, None)
            .await
            .unwrap()
            .total;
        if found == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, 1, "the pinned account's message reached Bob");
}

/// A daemon with the encrypted-file vault.
fn start() -> (Env, crate::harness::Daemon) {
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!("{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n"),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", "correct horse battery staple");
    let daemon = env.spawn_traced(cmd);
    (env, daemon)
}

/// `commsctl accounts add imap` for Alice on localhost (implicit TLS).
fn add_imap(env: &Env, d: &Dovecot, trust: &[&str]) -> Run {
    let (imap, smtp) = (d.ports.imaps.to_string(), d.ports.submissions.to_string());
    let mut args = vec![
        "accounts",
        "add",
        "imap",
        "--email",
        ALICE,
        "--imap-host",
        "localhost",
        "--imap-port",
        &imap,
        "--smtp-host",
        "localhost",
        "--smtp-port",
        &smtp,
        "--password-stdin",
        "--json",
    ];
    args.extend_from_slice(trust);
    // commsctl refuses an untrusted server before it reads the password.
    env.commsctl_with_stdin(&args, &format!("{}\n", Dovecot::password(ALICE)))
}

#[test]
#[ignore = "needs Dovecot: scripts/test runs it"]
fn dovecot_commsctl_adds_a_self_signed_server_by_file_or_pin() {
    let d = Dovecot::start_self_signed();
    let seen = fingerprint_of(&d.self_signed_file);
    let (env, _daemon) = start();

    // No trust given: exit 2, the fingerprint and both ways to trust it.
    let run = add_imap(&env, &d, &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("the TLS certificate is not trusted")
            && run.stderr.contains(&seen)
            && run.stderr.contains("hint:")
            && run.stderr.contains("--pin-sha256"),
        "{}",
        run.stderr
    );
    // A wrong pin: refused, with what the server presented.
    let wrong = fingerprint_of(&d.ca_file);
    let run = add_imap(&env, &d, &["--pin-sha256", &wrong]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&seen) && run.stderr.contains("pin_sha256"),
        "{}",
        run.stderr
    );
    // A malformed pin is named before any connection.
    let run = add_imap(&env, &d, &["--pin-sha256", "12:34"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("pin_sha256"), "{}", run.stderr);
    // Both at once: refused by commsctl itself.
    let ca = d.self_signed_file.display().to_string();
    let run = add_imap(&env, &d, &["--pin-sha256", &seen, "--ca-file", &ca]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);

    // The server's certificate as --ca-file: added.
    let added = json_of(&add_imap(&env, &d, &["--ca-file", &ca]));
    assert_eq!(added["account"]["settings"]["ca_file"], ca.as_str());
    assert!(
        added["test"]["imap"]
            .as_str()
            .unwrap()
            .ends_with(&format!("(certificate SHA-256 {seen})")),
        "{added}"
    );
    // Pinned instead (lower case, no colons): stored as openssl prints it.
    let pin = seen.replace(':', "").to_lowercase();
    let added = json_of(&add_imap(&env, &d, &["--pin-sha256", &pin]));
    assert_eq!(added["existed"], true, "{added}");
    assert_eq!(added["account"]["settings"]["pin_sha256"], seen.as_str());
    assert!(
        added["account"]["settings"].get("ca_file").is_none(),
        "{added}"
    );
}

fn json_of(run: &Run) -> Value {
    assert_eq!(
        run.code, 0,
        "stderr: {}\nstdout: {}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}
