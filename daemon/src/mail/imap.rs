//! Opening an IMAP session (async-imap on tokio) step by step.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_imap::{Client, Session};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::net::{self, Step, StepError, Timeouts};
use super::settings::{Credential, MailSettings, Security};

/// A connection to an IMAP server: TLS, or plain when configured so.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type ImapSession = Session<Stream>;

/// XOAUTH2 (as Gmail and Dovecot speak it): the first answer is the token;
/// a failed attempt gets a JSON challenge, answered with an empty line.
struct Xoauth2 {
    initial: String,
    sent: bool,
}

impl async_imap::Authenticator for Xoauth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            String::new()
        } else {
            self.sent = true;
            self.initial.clone()
        }
    }
}

/// The XOAUTH2 initial response (before base64).
pub fn xoauth2_string(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// DNS, TCP, TLS (or STARTTLS), greeting and sign-in.
pub async fn connect(
    settings: &MailSettings,
    tls: &Arc<rustls::ClientConfig>,
    credential: &Credential,
    timeouts: Timeouts,
) -> Result<ImapSession, StepError> {
    let host = settings.imap.host.as_str();
    let tcp = net::tcp(host, settings.imap.port, timeouts.connect).await?;
    let stream = match settings.security {
        Security::Tls => Stream::Tls(Box::new(
            net::tls(tls.clone(), host, tcp, timeouts.connect).await?,
        )),
        Security::Starttls | Security::Plain => Stream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    greeting(&mut client, timeouts).await?;
    if settings.security == Security::Starttls {
        net::step(Step::Starttls, timeouts.connect, async {
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| {
                    StepError::new(
                        Step::Starttls,
                        format!("the server refused STARTTLS: {e}"),
                        false,
                    )
                })
        })
        .await?;
        let Stream::Plain(tcp) = client.into_inner() else {
            return Err(StepError::new(Step::Starttls, "already encrypted", false));
        };
        let tls = net::tls(tls.clone(), host, tcp, timeouts.connect).await?;
        client = Client::new(Stream::Tls(Box::new(tls)));
    } else if settings.security == Security::Plain {
        tracing::warn!(
            host,
            "IMAP without TLS: the password and mail cross the network unencrypted (security = plain)"
        );
    }
    let user = settings.username.as_str();
    let signed_in = match credential {
        Credential::Password(password) => {
            tokio::time::timeout(timeouts.command, client.login(user, password)).await
        }
        Credential::Xoauth2(token) => {
            let auth = Xoauth2 {
                initial: xoauth2_string(user, token),
                sent: false,
            };
            tokio::time::timeout(timeouts.command, client.authenticate("XOAUTH2", auth)).await
        }
    };
    match signed_in {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(auth_error(e)),
        Err(_) => Err(StepError::new(
            Step::Authentication,
            "no answer within the timeout",
            true,
        )),
    }
}

async fn greeting(client: &mut Client<Stream>, timeouts: Timeouts) -> Result<(), StepError> {
    match tokio::time::timeout(timeouts.connect, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(StepError::new(
            Step::Greeting,
            "the server closed the connection before greeting",
            true,
        )),
        Ok(Err(e)) => Err(match net::rustls_cause(&e) {
            Some(_) => net::classify_tls(&e),
            None => StepError::new(Step::Greeting, e.to_string(), true),
        }),
        Err(_) => Err(StepError::new(
            Step::Greeting,
            "no greeting within the timeout",
            true,
        )),
    }
}

fn auth_error(e: async_imap::error::Error) -> StepError {
    use async_imap::error::Error as E;
    match e {
        E::No(text) | E::Bad(text) => StepError::new(
            Step::Authentication,
            format!("the server said: {}", text.trim()),
            false,
        ),
        E::Io(io) => StepError::new(Step::Authentication, format!("connection lost: {io}"), true),
        E::ConnectionLost => StepError::new(Step::Authentication, "connection lost", true),
        other => StepError::new(Step::Authentication, other.to_string(), false),
    }
}
