//! Changing an account's mailbox: labels, drafts and sends. Every write
//! drops the cache entries it may have changed, even when it failed (the
//! change may have happened).

use serde_json::Value;

use super::sync::sent_tags;
use super::{Gmail, check_id, client, render};
use crate::error::{Code, Error};

impl Gmail {
    /// Adds and removes labels on messages (one call, or batchModify for several).
    pub async fn modify(
        &self,
        account: &str,
        ids: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<(), Error> {
        if ids.is_empty() {
            return Err(Error::invalid("messageIds", "give at least one message id"));
        }
        if ids.len() > 1000 {
            return Err(Error::invalid(
                "messageIds",
                "at most 1000 messages at once",
            ));
        }
        for (i, id) in ids.iter().enumerate() {
            check_id(&format!("messageIds[{i}]"), id)?;
        }
        if add.is_empty() && remove.is_empty() {
            return Err(Error::invalid(
                "addLabelIds",
                "give labels to add or to remove",
            ));
        }
        let acct = self.account(account)?;
        let change = client::label_change(add, remove);
        let mut tags: Vec<String> = ids.iter().map(|id| format!("message:{id}")).collect();
        if let [id] = ids {
            let r = acct.client.call(&client::modify(id, change)).await;
            if let Ok(v) = &r
                && let Some(t) = v["threadId"].as_str()
            {
                tags.push(format!("thread:{t}"));
            }
            self.wrote(&acct, self.with_threads(&acct, tags));
            r?;
        } else {
            let r = acct.client.call(&client::batch_modify(ids, change)).await;
            self.wrote(&acct, self.with_threads(&acct, tags));
            r?;
        }
        Ok(())
    }

    /// Creates (`draft_id` None) or replaces a draft from a raw RFC 822 message.
    pub async fn put_draft(
        &self,
        account: &str,
        draft_id: Option<&str>,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<Value, Error> {
        let acct = self.account(account)?;
        let message = client::raw_message(raw, thread_id);
        let call = match draft_id {
            None => client::create_draft(message),
            Some(id) => {
                check_id("draftId", id)?;
                client::update_draft(id, message)
            }
        };
        let r = acct.client.call(&call).await?;
        let mut tags = vec![format!("draft:{}", r["id"].as_str().unwrap_or_default())];
        if let Some(t) = r["message"]["threadId"].as_str() {
            tags.push(format!("thread:{t}"));
        }
        self.wrote(&acct, tags);
        Ok(r)
    }

    /// A draft with its raw message, never cached (the send gate compares it).
    pub async fn draft_raw(
        &self,
        account: &str,
        draft_id: &str,
    ) -> Result<(Vec<u8>, Value), Error> {
        check_id("draftId", draft_id)?;
        let acct = self.account(account)?;
        let r = acct.client.call(&client::draft_raw(draft_id)).await?;
        let raw = r["message"]["raw"]
            .as_str()
            .and_then(render::decode_data)
            .ok_or_else(|| {
                Error::new(
                    Code::UpstreamError,
                    "Gmail returned a draft without its raw message",
                )
            })?;
        Ok((raw, r))
    }

    /// Sends a draft (`drafts.send`): Gmail's message id and thread id.
    pub async fn send_draft(&self, account: &str, draft_id: &str) -> Result<Value, Error> {
        check_id("draftId", draft_id)?;
        let acct = self.account(account)?;
        let r = acct.client.call(&client::send_draft(draft_id)).await;
        self.wrote(&acct, sent_tags(&r, draft_id));
        r
    }

    /// Sends a raw message (`messages.send`).
    pub async fn send_raw(
        &self,
        account: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<Value, Error> {
        let acct = self.account(account)?;
        let r = acct
            .client
            .call(&client::send_message(client::raw_message(raw, thread_id)))
            .await;
        self.wrote(&acct, sent_tags(&r, ""));
        r
    }
}
