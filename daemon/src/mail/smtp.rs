//! Sending through the account's SMTP server (lettre): the outbox transport
//! for IMAP/SMTP accounts.
//!
//! The message is the one `outbox::mime` builds for every transport. Failures
//! the server reports as temporary (4xx) and connections that break before
//! the message was handed over are retried with backoff; a refusal (5xx)
//! fails the item with the server's own text. A connection that breaks
//! after the whole message was written is never retried: the server may have
//! accepted it, and sending again could deliver it twice.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Mutex;

use super::client::MailClient;
use super::net::{self, Role, Step, StepError, Timeouts};
use super::settings::{Credential, MailSettings, Security};
use super::smtp_stream;
use crate::outbox::attachments::AttachmentStore;
use crate::outbox::item::Item;
use crate::outbox::mime;
use crate::outbox::model::Content;
use crate::outbox::transport::{DeliveryError, Transport, message_id};

fn hello_name(settings: &MailSettings) -> ClientId {
    let domain = settings
        .email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    ClientId::Domain(domain.to_owned())
}

/// DNS, TCP, TLS (or STARTTLS), greeting and sign-in. TLS is the
/// account's rustls configuration, the one IMAP uses (`smtp_stream`).
pub async fn connect(
    settings: &MailSettings,
    tls: &Arc<rustls::ClientConfig>,
    credential: &Credential,
    timeouts: Timeouts,
) -> std::result::Result<AsyncSmtpConnection, StepError> {
    let host = settings.smtp.host.as_str();
    let hello = hello_name(settings);
    let tcp = net::tcp(host, settings.smtp.port, timeouts.connect).await?;
    let stream: Box<dyn AsyncTokioStream> = match settings.security {
        Security::Tls => Box::new(smtp_stream::implicit(tls, host, tcp, timeouts.connect).await?),
        Security::Starttls => {
            Box::new(smtp_stream::starttls(tls, host, tcp, &hello, timeouts.connect).await?)
        }
        Security::Plain => {
            tracing::warn!(
                host,
                "SMTP without TLS: the password and mail cross the network unencrypted (security = plain)"
            );
            Box::new(tcp)
        }
    };
    let mut conn = net::step(Step::Greeting, timeouts.connect, async {
        AsyncSmtpConnection::connect_with_transport(stream, &hello)
            .await
            .map_err(|e| classify_connect(&e))
    })
    .await?;
    let (mechanism, credentials) = match credential {
        Credential::Password(p) => (
            Mechanism::Plain,
            Credentials::new(settings.username.clone(), p.clone()),
        ),
        Credential::Xoauth2(t) => (
            Mechanism::Xoauth2,
            Credentials::new(settings.username.clone(), t.clone()),
        ),
    };
    let mechanisms = if mechanism == Mechanism::Plain {
        vec![Mechanism::Plain, Mechanism::Login]
    } else {
        vec![mechanism]
    };
    net::step(Step::Authentication, timeouts.command, async {
        conn.auth(&mechanisms, &credentials).await.map_err(|e| {
            StepError::new(
                Step::Authentication,
                e.to_string(),
                e.is_transient() || e.is_timeout(),
            )
        })
    })
    .await?;
    Ok(conn)
}

/// The greeting or EHLO failed (TCP and TLS are done by then).
fn classify_connect(e: &lettre::transport::smtp::Error) -> StepError {
    if net::rustls_cause(e).is_some() {
        return net::classify_tls(e);
    }
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    StepError::new(Step::Greeting, reason, !e.is_permanent())
}

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

/// Why one attempt failed.
#[derive(Debug)]
enum Failure {
    /// Not accepted; `transient` says whether another attempt may succeed.
    Refused { text: String, transient: bool },
    /// The message was written but no answer came: it may have been accepted.
    Ambiguous(String),
    /// No connection was opened: the vault did not give the credential.
    Deferred(String),
}

/// The outbox transport of an IMAP/SMTP account.
pub struct SmtpTransport {
    client: Arc<MailClient>,
    attachments: AttachmentStore,
    conn: Mutex<Option<AsyncSmtpConnection>>,
    retry: Retry,
}

impl SmtpTransport {
    pub fn new(client: Arc<MailClient>, attachments: AttachmentStore) -> SmtpTransport {
        SmtpTransport {
            client,
            attachments,
            conn: Mutex::new(None),
            retry: Retry::default(),
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> SmtpTransport {
        self.retry = retry;
        self
    }

    fn host(&self) -> String {
        format!(
            "{}:{}",
            self.client.settings.smtp.host, self.client.settings.smtp.port
        )
    }

    /// Sends raw bytes to the envelope's recipients; returns the server's reply.
    pub async fn send_raw(
        &self,
        from: &str,
        to: &[String],
        bytes: &[u8],
    ) -> std::result::Result<String, DeliveryError> {
        let mut attempt = 0;
        loop {
            let failure = match self.send_once(from, to, bytes).await {
                Ok(reply) => return Ok(reply),
                Err(f) => f,
            };
            match failure {
                Failure::Deferred(text) => return Err(DeliveryError::Deferred(text)),
                Failure::Ambiguous(text) => {
                    return Err(DeliveryError::Unknown(format!(
                        "SMTP server {}: the connection broke after the message was handed over ({text}); it may have been delivered, so it is not sent again: look in the recipient's mailbox or the Sent folder, then approve it again to resend or cancel it",
                        self.host()
                    )));
                }
                Failure::Refused {
                    text,
                    transient: false,
                } => {
                    return Err(DeliveryError::Failed(format!(
                        "SMTP server {} refused the message: {text}",
                        self.host()
                    )));
                }
                Failure::Refused {
                    text,
                    transient: true,
                } => {
                    attempt += 1;
                    if attempt >= self.retry.attempts {
                        return Err(DeliveryError::Failed(format!(
                            "SMTP server {}: temporary failure, still failing after {attempt} attempts: {text}",
                            self.host()
                        )));
                    }
                    let wait = net::backoff(attempt - 1, self.retry.base, self.retry.max);
                    tracing::info!(account = %self.client.account, attempt, retry_in_ms = wait.as_millis() as u64, reason = %text, "SMTP temporary failure; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn send_once(
        &self,
        from: &str,
        to: &[String],
        bytes: &[u8],
    ) -> std::result::Result<String, Failure> {
        let refused = |text: String, transient: bool| Failure::Refused { text, transient };
        let from: Address = from
            .parse()
            .map_err(|e| refused(format!("sender {from:?}: {e}"), false))?;
        let mut rcpts = Vec::new();
        for t in to {
            rcpts.push(
                t.parse::<Address>()
                    .map_err(|e| refused(format!("recipient {t:?}: {e}"), false))?,
            );
        }
        let mut guard = self.conn.lock().await;
        let reuse = match guard.as_mut() {
            Some(c) if !c.has_broken() => {
                tokio::time::timeout(self.client.timeouts.connect, c.test_connected())
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        };
        if !reuse {
            *guard = None;
            // A refused OAuth token is dropped and sign-in tried once more
            // with a fresh one (whose refresh may need a new sign-in).
            let mut refreshed = false;
            while guard.is_none() {
                let credential = self
                    .client
                    .credentials
                    .credential()
                    .await
                    .map_err(|e| match e.code {
                        crate::error::Code::VaultUnavailable => Failure::Deferred(e.message),
                        _ => refused(e.message, false),
                    })?;
                match connect(
                    &self.client.settings,
                    &self.client.tls,
                    &credential,
                    self.client.timeouts,
                )
                .await
                {
                    Ok(c) => *guard = Some(c),
                    Err(e) => {
                        if e.step == Step::Authentication && !e.transient {
                            self.client.credentials.rejected(&credential).await;
                            if credential.is_oauth() && !refreshed {
                                refreshed = true;
                                continue;
                            }
                        }
                        let err = e.to_error(
                            Role::Smtp,
                            &self.client.settings.smtp.host,
                            self.client.settings.smtp.port,
                            credential.is_oauth(),
                        );
                        return Err(refused(err.message, e.transient));
                    }
                }
            }
        }
        let Some(conn) = guard.as_mut() else {
            return Err(refused("no connection".to_owned(), true));
        };
        let limit = self.client.timeouts.command;
        let before_data = async {
            conn.command(Mail::new(Some(from), vec![])).await?;
            for r in rcpts {
                conn.command(Rcpt::new(r, vec![])).await?;
            }
            conn.command(Data).await
        };
        let started = match tokio::time::timeout(limit, before_data).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(refused(e.to_string(), !e.is_permanent())),
            Err(_) => Err(refused("no answer within the timeout".to_owned(), true)),
        };
        if let Err(f) = started {
            if let Some(mut c) = guard.take() {
                c.abort().await;
            }
            return Err(f);
        }
        let result = tokio::time::timeout(limit, conn.message(bytes)).await;
        match result {
            Ok(Ok(response)) => {
                let text: Vec<&str> = response.message().collect();
                Ok(format!("{} {}", response.code(), text.join(" ")))
            }
            Ok(Err(e)) if e.is_permanent() || e.is_transient() => {
                // The server answered: not accepted.
                let transient = e.is_transient();
                if let Some(mut c) = guard.take() {
                    c.abort().await;
                }
                Err(refused(e.to_string(), transient))
            }
            Ok(Err(e)) => {
                *guard = None;
                Err(Failure::Ambiguous(e.to_string()))
            }
            Err(_) => {
                *guard = None;
                Err(Failure::Ambiguous(
                    "no answer within the timeout".to_owned(),
                ))
            }
        }
    }
}

#[async_trait::async_trait]
impl Transport for SmtpTransport {
    async fn deliver(&self, item: &Item) -> std::result::Result<String, DeliveryError> {
        let Content::Email(email) = &item.content else {
            return Err(DeliveryError::Failed(format!(
                "an IMAP/SMTP account sends email only, not {}",
                item.channel.as_str()
            )));
        };
        let id = message_id(item, &email.from);
        let (content, attachments) = (email.clone(), self.attachments.clone());
        let built = tokio::task::spawn_blocking(move || {
            mime::build(&content, &attachments, &id, SystemTime::now())
        })
        .await
        .map_err(|e| DeliveryError::Failed(format!("building the message failed: {e}")))?
        .map_err(|e| DeliveryError::Failed(format!("cannot build the message: {}", e.message)))?;
        let reply = self
            .send_raw(&built.envelope_from, &built.envelope_to, &built.bytes)
            .await?;
        let mut detail = format!(
            "SMTP {}: {reply} (Message-ID {})",
            self.host(),
            built.message_id
        );
        if self.client.settings.saves_sent_copy() {
            // The message is out: a failed copy is reported, never a failed send.
            match self.client.append_sent(Arc::new(built.bytes)).await {
                Ok(folder) => detail.push_str(&format!("; copy saved in {folder}")),
                Err(e) => {
                    tracing::warn!(account = %self.client.account, error = %e.message, "cannot save a copy in Sent");
                    detail.push_str(&format!("; no copy in Sent: {}", e.message));
                }
            }
        }
        Ok(detail)
    }
}
