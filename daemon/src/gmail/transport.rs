//! The outbox transport of Google accounts. An item staged from a Gmail
//! draft (linked `gmail-draft:<id>`) is sent with `drafts.send`, but only
//! after the draft is read back and still matches the approved content hash;
//! an item staged with `email_stage` goes out through `messages.send`.

use std::sync::Arc;
use std::time::SystemTime;

use super::Gmail;
use super::compose;
use crate::outbox::attachments::AttachmentStore;
use crate::outbox::item::{Item, content_hash};
use crate::outbox::mime::{self, Extra};
use crate::outbox::model::Content;
use crate::outbox::transport::{DeliveryError, Transport, message_id};

/// The link an item staged from a Gmail draft carries.
pub fn draft_link(draft_id: &str) -> String {
    format!("gmail-draft:{draft_id}")
}

pub struct GmailTransport {
    gmail: Arc<Gmail>,
    attachments: AttachmentStore,
}

impl GmailTransport {
    /// `attachments` is the outbox's store.
    pub fn new(gmail: Arc<Gmail>, attachments: AttachmentStore) -> GmailTransport {
        GmailTransport { gmail, attachments }
    }
}

#[async_trait::async_trait]
impl Transport for GmailTransport {
    async fn deliver(&self, item: &Item) -> Result<String, DeliveryError> {
        let Content::Email(email) = &item.content else {
            return Err(DeliveryError::Failed(format!(
                "Gmail accounts send email only, not {}",
                item.channel.as_str()
            )));
        };
        match item
            .provider_ref
            .as_deref()
            .and_then(|l| l.strip_prefix("gmail-draft:"))
        {
            Some(draft_id) => {
                let (raw, _) = self
                    .gmail
                    .draft_raw(&item.account, draft_id)
                    .await
                    .map_err(|e| match e.code {
                        // Nothing was sent: its credentials could not be read.
                        crate::error::Code::VaultUnavailable => DeliveryError::Deferred(e.message),
                        _ => DeliveryError::Failed(format!(
                            "cannot read Gmail draft {draft_id}: {} ({})",
                            e.message,
                            e.code.as_str()
                        )),
                    })?;
                let store = self.attachments.clone();
                let (now, _) =
                    tokio::task::spawn_blocking(move || compose::parse_raw(&raw, &store))
                        .await
                        .map_err(|e| DeliveryError::Failed(format!("draft check failed: {e}")))?
                        .map_err(|e| {
                            DeliveryError::Failed(format!(
                                "Gmail draft {draft_id} cannot be checked: {}",
                                e.message
                            ))
                        })?;
                let hash = content_hash(&item.account, &Content::Email(now));
                if hash != item.content_hash {
                    return Err(DeliveryError::Failed(format!(
                        "Gmail draft {draft_id} changed after it was staged and approved; nothing was sent. Stage it again for a new approval."
                    )));
                }
                let sent = self
                    .gmail
                    .send_draft(&item.account, draft_id)
                    .await
                    .map_err(|e| send_error("drafts.send", &e))?;
                Ok(format!(
                    "Gmail message {} (thread {}) from draft {draft_id}",
                    sent["id"].as_str().unwrap_or_default(),
                    sent["threadId"].as_str().unwrap_or_default()
                ))
            }
            None => {
                let store = self.attachments.clone();
                let email = email.clone();
                let mid = message_id(item, &email.from);
                let built = tokio::task::spawn_blocking(move || {
                    let extra = Extra {
                        bcc_header: true,
                        ..Extra::default()
                    };
                    mime::build_with(&email, &store, &mid, SystemTime::now(), &extra)
                })
                .await
                .map_err(|e| DeliveryError::Failed(format!("build task failed: {e}")))?
                .map_err(|e| {
                    DeliveryError::Failed(format!("cannot build the message: {}", e.message))
                })?;
                let sent = self
                    .gmail
                    .send_raw(&item.account, &built.bytes, None)
                    .await
                    .map_err(|e| send_error("messages.send", &e))?;
                Ok(format!(
                    "Gmail message {} (thread {}, Message-ID {})",
                    sent["id"].as_str().unwrap_or_default(),
                    sent["threadId"].as_str().unwrap_or_default(),
                    built.message_id
                ))
            }
        }
    }
}

/// A failed send, `unknown` when Google may have sent it anyway.
fn send_error(method: &str, e: &crate::error::Error) -> DeliveryError {
    if e.code == crate::error::Code::VaultUnavailable {
        // The refresh token could not be read: no request was made.
        DeliveryError::Deferred(e.message.clone())
    } else if crate::google::outcome_unknown(e) {
        DeliveryError::Unknown(format!(
            "Gmail {method}: no clear answer ({}; {}). It may have been sent, so it is not sent \
             again: look in the account's Sent folder, then approve it again to resend or cancel it",
            e.message,
            e.code.as_str()
        ))
    } else {
        DeliveryError::Failed(format!(
            "Gmail {method} failed: {} ({})",
            e.message,
            e.code.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, Error};

    #[test]
    fn a_vault_that_cannot_give_the_token_defers_and_a_lost_answer_is_unknown() {
        let vault = Error::new(Code::VaultUnavailable, "the OS keyring refused to read");
        assert_eq!(
            send_error("messages.send", &vault),
            DeliveryError::Deferred("the OS keyring refused to read".to_owned())
        );
        let lost = Error::new(Code::UpstreamUnavailable, "Google answered 503")
            .with_details(serde_json::json!({ "outcome": "unknown" }));
        assert!(matches!(
            send_error("messages.send", &lost),
            DeliveryError::Unknown(_)
        ));
        let refused = Error::new(Code::InvalidArgument, "Invalid To header");
        assert!(matches!(
            send_error("messages.send", &refused),
            DeliveryError::Failed(_)
        ));
    }
}
