//! Reading an account's mailbox through its cache: profile, send-as,
//! search, messages (one or in batches), threads, reply headers and
//! attachments (saved to disk, never returned as bytes).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::sync::{message_key, message_tags, thread_tags};
use super::types::SavedAttachment;
use super::{Format, Gmail, Kind, Read, check_id, client, compose, render};
use crate::error::{Code, Error};
use crate::fsprivate::{safe_filename, write_private_file};
use crate::google::Call;

impl Gmail {
    /// The account's profile (address, totals); cached.
    pub async fn profile(&self, account: &str) -> Result<Read, Error> {
        let acct = self.account(account)?;
        self.cached(&acct, "profile".into(), Kind::Settings, client::profile())
            .await
    }

    /// `settings.sendAs.list`; cached.
    pub async fn send_as(&self, account: &str) -> Result<Vec<Value>, Error> {
        let acct = self.account(account)?;
        let r = self
            .cached(&acct, "sendAs".into(), Kind::Settings, client::send_as())
            .await?;
        Ok(r.value["sendAs"].as_array().cloned().unwrap_or_default())
    }

    /// `messages.list` with Gmail's query syntax; cached for `search_ttl`.
    pub async fn list(
        &self,
        account: &str,
        q: &str,
        max: u32,
        page_token: Option<&str>,
        label_ids: &[String],
    ) -> Result<Read, Error> {
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let mut labels = label_ids.to_vec();
        labels.sort();
        let call = client::list(q, max, page_token, &labels);
        let key = format!(
            "messages.list|q={}|max={max}|page={}|labels={}",
            normalize_query(q),
            page_token.unwrap_or(""),
            labels.join(",")
        );
        let hit = acct
            .cache
            .get_or_fetch(
                &key,
                self.ttl(Kind::Search),
                |_| vec!["search".to_owned()],
                || acct.client.call(&call),
            )
            .await?;
        Ok(hit.into())
    }

    /// One message. A cached full message also answers a metadata read.
    pub async fn get_message(
        &self,
        account: &str,
        id: &str,
        format: Format,
    ) -> Result<Read, Error> {
        check_id("messageId", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        if format == Format::Metadata
            && let Some(hit) = acct.cache.peek(&message_key(id, Format::Full))
        {
            return Ok(hit.into());
        }
        self.cached(
            &acct,
            message_key(id, format),
            body_kind(format),
            client::message(id, format),
        )
        .await
    }

    /// Several messages: cached ones from the cache, the rest in batches of
    /// up to 50. Results in the order of `ids`, each its own success or error.
    pub async fn get_messages(
        &self,
        account: &str,
        ids: &[String],
        format: Format,
    ) -> Result<Vec<Result<Read, Error>>, Error> {
        for (i, id) in ids.iter().enumerate() {
            check_id(&format!("messageIds[{i}]"), id)?;
        }
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let mut out: Vec<Option<Result<Read, Error>>> = vec![None; ids.len()];
        let mut missing: Vec<usize> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let full = (format == Format::Metadata)
                .then(|| acct.cache.peek(&message_key(id, Format::Full)))
                .flatten();
            match full.or_else(|| acct.cache.peek(&message_key(id, format))) {
                Some(hit) => out[i] = Some(Ok(hit.into())),
                None => missing.push(i),
            }
        }
        // Identical ids fetched once.
        let mut unique: Vec<String> = Vec::new();
        for &i in &missing {
            if !unique.contains(&ids[i]) {
                unique.push(ids[i].clone());
            }
        }
        if !unique.is_empty() {
            let calls: Vec<Call> = unique
                .iter()
                .map(|id| client::message(id, format))
                .collect();
            let results = acct.client.batch(&calls).await;
            let ttl = self.ttl(body_kind(format));
            let mut by_id: HashMap<String, Result<Read, Error>> = HashMap::new();
            for (id, r) in unique.iter().zip(results) {
                let r = r.map(|v| {
                    acct.cache
                        .put(&message_key(id, format), ttl, message_tags(&v), v.clone());
                    Read {
                        value: v,
                        cache_hit: false,
                        ttl_remaining_ms: ttl.as_millis() as u64,
                    }
                });
                by_id.insert(id.clone(), r);
            }
            for &i in &missing {
                out[i] = by_id.get(&ids[i]).cloned();
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::internal("batch", "a message got no result"))))
            .collect())
    }

    /// A thread with its messages (metadata or full).
    pub async fn get_thread(&self, account: &str, id: &str, format: Format) -> Result<Read, Error> {
        check_id("threadId", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        let call = client::thread(id, format);
        let key = format!("threads.get|{id}|{}", format.as_str());
        let hit = acct
            .cache
            .get_or_fetch(&key, self.ttl(body_kind(format)), thread_tags, || {
                acct.client.call(&call)
            })
            .await?;
        Ok(hit.into())
    }

    /// Headers needed to reply to message `id` (References, Reply-To, ...).
    pub async fn reply_headers(&self, account: &str, id: &str) -> Result<Value, Error> {
        check_id("messageId", id)?;
        let acct = self.account(account)?;
        self.fresh(&acct).await?;
        // A cached full message has every header; else one metadata call.
        if let Some(hit) = acct.cache.peek(&message_key(id, Format::Full)) {
            return Ok((*hit.value).clone());
        }
        let key = format!(
            "messages.get|{id}|metadata|{}",
            compose::REPLY_HEADERS.join(",")
        );
        let call = client::reply_headers(id);
        Ok(self.cached(&acct, key, Kind::Metadata, call).await?.value)
    }

    /// Downloads an attachment into `<data dir>/gmail/attachments/...` (0600
    /// in 0700 directories) and describes it. Never returns the bytes.
    pub async fn save_attachment(
        &self,
        account: &str,
        message_id: &str,
        attachment_id: &str,
    ) -> Result<SavedAttachment, Error> {
        check_id("messageId", message_id)?;
        if attachment_id.is_empty() {
            return Err(Error::invalid(
                "attachmentId",
                "expected the attachmentId from gmail_get_message",
            ));
        }
        let msg = self
            .get_message(account, message_id, Format::Full)
            .await?
            .value;
        let listed = render::attachments(&msg);
        let meta = listed
            .iter()
            .find(|a| {
                a.attachment_id.as_deref() == Some(attachment_id)
                    || a.part_id.as_deref() == Some(attachment_id)
            })
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    Code::NotFound,
                    format!("message {message_id} has no attachment {attachment_id}"),
                )
                .with_details(json!({ "field": "attachmentId", "attachments": listed }))
            })?;
        let real_id = meta
            .attachment_id
            .clone()
            .unwrap_or_else(|| attachment_id.to_owned());
        let acct = self.account(account)?;
        let r = acct
            .client
            .call(&client::attachment(message_id, &real_id))
            .await?;
        let bytes = r["data"]
            .as_str()
            .and_then(render::decode_data)
            .ok_or_else(|| {
                Error::new(
                    Code::UpstreamError,
                    "Gmail returned an attachment without data",
                )
            })?;
        let filename = safe_filename(&meta.filename);
        let dir = self
            .attachment_dir(acct.client.account())
            .join(safe_filename(message_id));
        let size = bytes.len();
        let name = filename.clone();
        let path = tokio::task::spawn_blocking(move || write_private_file(&dir, &name, &bytes))
            .await
            .map_err(|e| Error::internal("attachment task failed", e))?
            .map_err(|e| Error::internal("cannot save the attachment", e))?;
        Ok(SavedAttachment {
            path: path.display().to_string(),
            filename,
            size,
            mime_type: meta.mime_type,
            message_id: message_id.to_owned(),
        })
    }
}

/// The cache kind of a message or thread read in `format`.
fn body_kind(format: Format) -> Kind {
    match format {
        Format::Full => Kind::Body,
        Format::Metadata => Kind::Metadata,
    }
}

/// Whitespace runs collapsed: `from:a  is:unread` and `from:a is:unread` share an entry.
fn normalize_query(q: &str) -> String {
    q.split_whitespace().collect::<Vec<_>>().join(" ")
}
