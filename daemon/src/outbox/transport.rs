//! Transports deliver a dispatched item. Each account kind brings its own;
//! today the sandbox, which delivers into local files.

use std::path::PathBuf;
use std::time::SystemTime;

use super::attachments::AttachmentStore;
use super::item::Item;
use super::mime;
use super::model::{Channel, Content};
use crate::accounts::{self, Account};
use crate::sandbox::outgoing::Sandbox;

/// Why a delivery did not succeed; the text is recorded with the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Not delivered: the provider refused it, or never received it. The
    /// item becomes `failed`.
    Failed(String),
    /// Handed over, and then the answer was lost (the connection broke, a
    /// timeout, a server error after the upload): it may have been
    /// delivered. The item becomes `unknown` for a human to resolve, and is
    /// never sent again by itself: a duplicate is worse than a delay.
    Unknown(String),
    /// Not handed over, because something commsd itself needs to send it
    /// did not answer (the vault: a keyring gone, a file locked). Returned
    /// only before any connection to the provider is opened, so nothing can
    /// have left: the item goes back to `approved`, held with this reason,
    /// and is tried again shortly. It is neither failed (the approval would
    /// be lost) nor unknown (a human would be asked to check for nothing).
    Deferred(String),
}

impl DeliveryError {
    pub fn message(&self) -> &str {
        match self {
            DeliveryError::Failed(m) | DeliveryError::Unknown(m) | DeliveryError::Deferred(m) => m,
        }
    }

    /// An error met before anything was handed to the provider (reading
    /// the account, its credentials): deferred when the vault did not
    /// answer, failed otherwise.
    pub fn before_handover(e: crate::error::Error) -> DeliveryError {
        if e.code == crate::error::Code::VaultUnavailable {
            DeliveryError::Deferred(e.message)
        } else {
            DeliveryError::Failed(e.message)
        }
    }
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Delivers one item. Returns a short detail for the record (a file path,
/// a server's reply, a provider's message id).
///
/// A transport may also take part before anything is sent: `prepare` sees
/// validated content at staging and may adjust it or refuse it (an SMS to
/// a number that opted out), `before_approval` sees each item a human is
/// about to approve and may refuse it, or say what it found (whether an
/// `unknown` SMS went out after all), which is recorded with the approval;
/// `hold_until` may keep an approved item waiting (quiet hours).
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError>;

    async fn prepare(&self, _account: &Account, content: Content) -> crate::error::Result<Content> {
        Ok(content)
    }

    async fn before_approval(&self, _item: &Item) -> crate::error::Result<Option<String>> {
        Ok(None)
    }

    /// An approved item that must not go out yet (SMS quiet hours): until
    /// when (Unix ms) and why, shown on the item while it waits.
    async fn hold_until(&self, _item: &Item, _now_ms: i64) -> Option<(i64, String)> {
        None
    }
}

/// The sandbox account's transport: email into a Maildir, SMS and chat into JSON lines.
pub struct SandboxTransport {
    sandbox: Sandbox,
    attachments: AttachmentStore,
}

impl SandboxTransport {
    pub fn new(data_dir: &std::path::Path, attachments: AttachmentStore) -> SandboxTransport {
        SandboxTransport {
            sandbox: Sandbox::new(data_dir.join("sandbox")),
            attachments,
        }
    }
}

/// `<item id>.<created ms>@<domain of the sender>`, in angle brackets.
pub fn message_id(item: &Item, from: &str) -> String {
    let domain = super::model::bare_address(from)
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .unwrap_or_else(|| "commsd.invalid".to_owned());
    format!("<{}.{}@{domain}>", item.id, item.created_at_ms)
}

#[async_trait::async_trait]
impl Transport for SandboxTransport {
    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let sandbox = self.sandbox.clone();
        let attachments = self.attachments.clone();
        let item = item.clone();
        let delivered = tokio::task::spawn_blocking(move || -> Result<String, DeliveryError> {
            match &item.content {
                Content::Email(email) => {
                    let id = message_id(&item, &email.from);
                    let built =
                        mime::build(email, &attachments, &id, SystemTime::now()).map_err(|e| {
                            DeliveryError::Failed(format!(
                                "cannot build the message: {}",
                                e.message
                            ))
                        })?;
                    let path: PathBuf = sandbox.deliver_email(&built.bytes).map_err(|e| {
                        DeliveryError::Failed(format!("sandbox Maildir delivery failed: {e}"))
                    })?;
                    Ok(format!(
                        "sandbox Maildir {} (Message-ID {})",
                        path.display(),
                        built.message_id
                    ))
                }
                Content::Sms(sms) => sandbox
                    .deliver_sms(&item.id, &item.account, sms)
                    .map(|()| format!("sandbox {}", sandbox_file(&sandbox, "sms.jsonl")))
                    .map_err(|e| {
                        DeliveryError::Failed(format!("sandbox SMS delivery failed: {e}"))
                    }),
                Content::Chat(chat) => sandbox
                    .deliver_chat(&item.id, &item.account, chat)
                    .map(|()| format!("sandbox {}", sandbox_file(&sandbox, "chat.jsonl")))
                    .map_err(|e| {
                        DeliveryError::Failed(format!("sandbox chat delivery failed: {e}"))
                    }),
            }
        })
        .await;
        delivered.map_err(|e| DeliveryError::Failed(format!("delivery task failed: {e}")))?
    }
}

fn sandbox_file(sandbox: &Sandbox, name: &str) -> String {
    sandbox.maildir().with_file_name(name).display().to_string()
}

/// Picks the transport for an item: by the account's kind and the item's
/// channel, as registered by the provider that delivers them (a Google
/// account sends email through Gmail and, later, chat through the Chat API).
/// Registering also tells the account registry ([`accounts::Sendable`]) that
/// accounts of that kind can send on that channel.
pub struct Transports {
    routes: Vec<((accounts::Kind, Channel), std::sync::Arc<dyn Transport>)>,
    sendable: accounts::Sendable,
}

impl Transports {
    /// The built-in sandbox delivers every channel.
    pub fn new(sandbox: std::sync::Arc<dyn Transport>, sendable: accounts::Sendable) -> Transports {
        let mut transports = Transports {
            routes: Vec::new(),
            sendable,
        };
        for channel in Channel::ALL {
            transports.register(accounts::Kind::Sandbox, channel, sandbox.clone());
        }
        transports
    }

    /// Routes `channel` items of every account of `kind` to `transport`.
    pub fn register(
        &mut self,
        kind: accounts::Kind,
        channel: Channel,
        transport: std::sync::Arc<dyn Transport>,
    ) {
        self.routes.retain(|(route, _)| *route != (kind, channel));
        self.routes.push(((kind, channel), transport));
        self.sendable.add(kind, channel.as_str());
    }

    /// The transport of `channel` items of `account`, if any.
    pub fn route(
        &self,
        account: &Account,
        channel: Channel,
    ) -> Option<std::sync::Arc<dyn Transport>> {
        self.routes
            .iter()
            .find(|(route, _)| *route == (account.kind, channel))
            .map(|(_, t)| t.clone())
    }

    pub fn for_item(
        &self,
        account: &Account,
        channel: Channel,
    ) -> Result<std::sync::Arc<dyn Transport>, DeliveryError> {
        self.routes
            .iter()
            .find(|(route, _)| *route == (account.kind, channel))
            .map(|(_, t)| t.clone())
            .ok_or_else(|| {
                DeliveryError::Failed(format!(
                    "commsd cannot deliver {} for {} accounts ({})",
                    channel.as_str(),
                    account.kind.as_str(),
                    account.id
                ))
            })
    }
}
