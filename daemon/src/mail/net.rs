//! Connecting to a mail server step by step (DNS, TCP, TLS, greeting,
//! STARTTLS, authentication), with a timeout on every step, and the typed
//! error that says which server, which step and why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::net::TcpStream;

use crate::error::{Code, Error};

/// Which server of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Imap,
    Smtp,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Imap => "imap",
            Role::Smtp => "smtp",
        }
    }
}

/// The step of a connection that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Dns,
    TcpConnect,
    TlsCertificate,
    Tls,
    Greeting,
    Starttls,
    Authentication,
    /// A command after sign-in (select, fetch, send...).
    Command,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Dns => "dns",
            Step::TcpConnect => "tcp_connect",
            Step::TlsCertificate => "tls_certificate",
            Step::Tls => "tls",
            Step::Greeting => "greeting",
            Step::Starttls => "starttls",
            Step::Authentication => "authentication",
            Step::Command => "command",
        }
    }
}

/// A failed step: why, and whether trying again later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub reason: String,
    /// Network trouble, a timeout or a 4xx: worth another attempt.
    pub transient: bool,
    /// A refused certificate: the SHA-256 fingerprint of the one the server
    /// presented, for the user to check and pin.
    pub fingerprint: Option<String>,
}

impl StepError {
    pub fn new(step: Step, reason: impl Into<String>, transient: bool) -> StepError {
        StepError {
            step,
            reason: reason.into(),
            transient,
            fingerprint: None,
        }
    }

    /// The envelope every frontend shows: `details` carry server, step,
    /// host, port and reason.
    pub fn to_error(&self, role: Role, host: &str, port: u16, oauth: bool) -> Error {
        let code = match self.step {
            Step::Authentication if oauth => Code::ReauthRequired,
            Step::Dns | Step::TcpConnect | Step::Greeting => Code::UpstreamUnavailable,
            _ if self.transient => Code::UpstreamUnavailable,
            _ => Code::UpstreamError,
        };
        let what = match self.step {
            Step::Dns => "cannot resolve the host name",
            Step::TcpConnect => "cannot connect",
            Step::TlsCertificate => "the TLS certificate is not trusted",
            Step::Tls => "the TLS handshake failed",
            Step::Greeting => "no greeting from the server",
            Step::Starttls => "STARTTLS failed",
            Step::Authentication => "authentication failed",
            Step::Command => "the server failed a command",
        };
        let hint = match (self.step, oauth) {
            (Step::Authentication, true) => {
                "the Google account's token was refused: sign in to the Google account again (`commsctl accounts add google`)"
            }
            (Step::Authentication, false) => {
                "check the username and password; providers with two-factor sign-in need an app password"
            }
            (Step::TlsCertificate, _) => {
                "for a self-hosted server, pass the CA that signed its certificate, or the server's own self-signed certificate, with --ca-file; or check the fingerprint with the server's administrator (`openssl x509 -noout -fingerprint -sha256` on the server) and pin it with --pin-sha256"
            }
            (Step::TcpConnect, _) => {
                "check the host and port, and the security setting (tls: 993/465, starttls: 143/587)"
            }
            (Step::Dns, _) => "check the host name",
            _ => "",
        };
        let server = role.as_str().to_uppercase();
        let presented = self
            .fingerprint
            .as_ref()
            .map(|f| format!("; the server presented the certificate with SHA-256 fingerprint {f}"))
            .unwrap_or_default();
        let mut details = json!({
            "server": role.as_str(),
            "step": self.step.as_str(),
            "host": host,
            "port": port,
            "reason": self.reason,
            "transient": self.transient,
            "hint": hint,
        });
        if let (Some(f), Some(d)) = (&self.fingerprint, details.as_object_mut()) {
            d.insert("fingerprint".to_owned(), json!(f));
        }
        Error::new(
            code,
            format!(
                "{server} server {host}:{port}: {what}: {}{presented}",
                self.reason
            ),
        )
        .with_details(details)
    }
}

/// Timeouts of each step.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// DNS, TCP, TLS, the greeting and STARTTLS: the network answers at once
    /// or not at all.
    pub connect: Duration,
    /// Every command, sign-in included: servers deliberately delay an answer
    /// to a wrong password (Dovecot's `auth_failure_delay`, 2 s by default),
    /// so sign-in must not be held to the short connect limit.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            command: Duration::from_secs(60),
        }
    }
}

/// Runs `f` with a timeout; a timeout is a transient failure of `step`.
pub async fn step<T, F>(step: Step, limit: Duration, f: F) -> Result<T, StepError>
where
    F: std::future::Future<Output = Result<T, StepError>>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(StepError::new(
            step,
            format!("no answer within {} s", limit.as_secs_f32()),
            true,
        )),
    }
}

/// DNS, then TCP to the first address that answers.
pub async fn tcp(host: &str, port: u16, limit: Duration) -> Result<TcpStream, StepError> {
    let addrs = resolve(host, port, limit).await?;
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
            Err(_) => {
                last = Some(format!(
                    "{addr}: no answer within {} s",
                    limit.as_secs_f32()
                ))
            }
        }
    }
    Err(StepError::new(
        Step::TcpConnect,
        last.unwrap_or_else(|| "no address".to_owned()),
        true,
    ))
}

/// The addresses of `host` (an IP literal resolves to itself).
pub async fn resolve(host: &str, port: u16, limit: Duration) -> Result<Vec<SocketAddr>, StepError> {
    let lookup = tokio::time::timeout(limit, tokio::net::lookup_host((host, port))).await;
    match lookup {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(StepError::new(
                    Step::Dns,
                    format!("{host} has no address"),
                    false,
                ))
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(StepError::new(Step::Dns, format!("{host}: {e}"), true)),
        Err(_) => Err(StepError::new(
            Step::Dns,
            format!("no answer within {} s", limit.as_secs_f32()),
            true,
        )),
    }
}

/// The TLS handshake over `tcp`.
pub async fn tls<S>(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    io: S,
    limit: Duration,
) -> Result<tokio_rustls::client::TlsStream<S>, StepError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        StepError::new(
            Step::Tls,
            format!("{host} is not a valid TLS server name: {e}"),
            false,
        )
    })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(limit, connector.connect(name, io)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(classify_tls(&e)),
        Err(_) => Err(StepError::new(
            Step::Tls,
            format!("no answer within {} s", limit.as_secs_f32()),
            true,
        )),
    }
}

/// A handshake failure: a certificate the client does not trust, or
/// anything else about TLS.
pub fn classify_tls(error: &(dyn std::error::Error + 'static)) -> StepError {
    match rustls_cause(error) {
        Some(e @ rustls::Error::InvalidCertificate(why)) => match super::trust::untrusted(e) {
            Some(refused) => StepError {
                fingerprint: Some(refused.fingerprint.clone()),
                ..StepError::new(
                    Step::TlsCertificate,
                    format!("invalid peer certificate: {}", refused.why),
                    false,
                )
            },
            None => StepError::new(
                Step::TlsCertificate,
                format!("invalid peer certificate: {why:?}"),
                false,
            ),
        },
        Some(other) => StepError::new(Step::Tls, other.to_string(), false),
        None => StepError::new(Step::Tls, error.to_string(), true),
    }
}

/// The rustls error somewhere in `error`'s chain (io errors wrap it).
pub fn rustls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r);
        }
        current = e.source();
    }
    None
}

/// Backoff delays: `base`, doubling, at most `max`, with up to 25 % jitter.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(max);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        capped.mul_f64(f64::from(byte[0]) / 255.0 * 0.25)
    } else {
        Duration::ZERO
    };
    capped + jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_server_step_and_reason() {
        let e = StepError::new(Step::TcpConnect, "127.0.0.1:1: Connection refused", true).to_error(
            Role::Smtp,
            "127.0.0.1",
            1,
            false,
        );
        assert_eq!(e.code, Code::UpstreamUnavailable);
        assert_eq!(e.details["server"], "smtp");
        assert_eq!(e.details["step"], "tcp_connect");
        assert!(
            e.message
                .starts_with("SMTP server 127.0.0.1:1: cannot connect"),
            "{}",
            e.message
        );
        let e = StepError::new(Step::Authentication, "NO [AUTHENTICATIONFAILED]", false).to_error(
            Role::Imap,
            "h",
            993,
            true,
        );
        assert_eq!(e.code, Code::ReauthRequired);
    }

    #[test]
    fn a_refused_certificate_shows_its_fingerprint_and_how_to_trust_it() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(Arc::new(super::super::trust::Untrusted {
                fingerprint: "AB:CD".into(),
                why: "UnknownIssuer: not signed by a trusted certificate authority".into(),
            })),
        ));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        let step = classify_tls(&io);
        assert_eq!(step.fingerprint.as_deref(), Some("AB:CD"));
        let e = step.to_error(Role::Imap, "mail.example.org", 993, false);
        assert_eq!(e.details["step"], "tls_certificate");
        assert_eq!(e.details["fingerprint"], "AB:CD");
        assert!(
            e.message.ends_with(
                "invalid peer certificate: UnknownIssuer: not signed by a trusted certificate authority; the server presented the certificate with SHA-256 fingerprint AB:CD"
            ),
            "{}",
            e.message
        );
        let hint = e.details["hint"].as_str().unwrap();
        assert!(
            hint.contains("--ca-file") && hint.contains("--pin-sha256"),
            "{hint}"
        );
        // Other failures carry no fingerprint.
        let e = StepError::new(Step::Tls, "handshake failure", false).to_error(
            Role::Smtp,
            "h",
            465,
            false,
        );
        assert!(e.details.get("fingerprint").is_none(), "{e:?}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert!(backoff(0, base, max) >= base && backoff(0, base, max) <= base.mul_f64(1.25));
        assert!(backoff(2, base, max) >= base * 4);
        assert!(backoff(20, base, max) <= max.mul_f64(1.25));
    }
}
