//! MMS media of received messages: downloaded after the message is stored
//! (the webhook is answered first; Twilio waits 15 s at most), into
//! `<data>/sms/media/<account>/<MessageSid>-<index>.<ext>`, 0600 in 0700
//! directories, at most `[twilio] media_max_bytes` each; the content type
//! Twilio's storage answered is recorded. Downloads that did not finish
//! (a stop, a crash) are retried at the next start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::client::Media;
use super::inbound::{Inbound, MediaOutcome, PendingMedia};
use crate::error::{Code, Error, Result};
use crate::fsprivate::{safe_filename, write_private_file};

/// Where media come from: the account's Twilio REST client (credentials go
/// only to `[twilio] api_base`).
#[async_trait::async_trait]
pub trait MediaSource: Send + Sync {
    async fn download(&self, account_id: &str, url: &str, max_bytes: u64) -> Result<Media>;
}

/// `<data>/sms/media`.
pub fn media_root(data_dir: &Path) -> PathBuf {
    data_dir.join("sms").join("media")
}

/// Downloads and saves media, recording each outcome.
pub struct MediaSaver {
    root: PathBuf,
    inbound: Arc<Inbound>,
    source: Arc<dyn MediaSource>,
    max_bytes: u64,
}

impl MediaSaver {
    pub fn new(
        data_dir: &Path,
        inbound: Arc<Inbound>,
        source: Arc<dyn MediaSource>,
        max_bytes: u64,
    ) -> MediaSaver {
        MediaSaver {
            root: media_root(data_dir),
            inbound,
            source,
            max_bytes,
        }
    }

    /// The directory of an account's media.
    pub fn account_dir(&self, account_id: &str) -> PathBuf {
        self.root.join(safe_filename(account_id))
    }

    /// Downloads the pending files of one message.
    pub async fn fetch_message(&self, message_sid: &str) -> Result<usize> {
        let pending = self
            .inbound
            .pending_media(Some(message_sid.to_owned()))
            .await?;
        let n = pending.len();
        for media in pending {
            self.fetch(media).await?;
        }
        Ok(n)
    }

    /// Downloads every pending file of the store, one after the other.
    pub async fn fetch_pending(&self) -> Result<usize> {
        let pending = self.inbound.pending_media(None).await?;
        let n = pending.len();
        for media in pending {
            self.fetch(media).await?;
        }
        Ok(n)
    }

    /// Downloads one file and records the outcome (an error is only a
    /// failure to record it).
    pub async fn fetch(&self, media: PendingMedia) -> Result<()> {
        let outcome = match self
            .source
            .download(&media.account_id, &media.url, self.max_bytes)
            .await
        {
            Ok(got) => self.save(&media, got).await,
            Err(e) if e.code == Code::PayloadTooLarge => {
                MediaOutcome::TooLarge { error: e.message }
            }
            Err(e) => MediaOutcome::Failed { error: e.message },
        };
        if !matches!(outcome, MediaOutcome::Saved { .. }) {
            tracing::warn!(
                account = %media.account_id,
                message = %media.message_sid,
                index = media.index,
                outcome = ?outcome,
                "an MMS media file was not saved"
            );
        }
        self.inbound
            .media_done(&media.message_sid, media.index, outcome)
            .await
    }

    async fn save(&self, media: &PendingMedia, got: Media) -> MediaOutcome {
        let content_type = got
            .content_type
            .clone()
            .or_else(|| media.content_type.clone())
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|c| !c.is_empty());
        let ext = content_type
            .as_deref()
            .and_then(mime_guess::get_mime_extensions_str)
            .and_then(|exts| exts.first())
            .map_or("bin", |e| e);
        let name = format!("{}-{}.{ext}", media.message_sid, media.index);
        let dir = self.account_dir(&media.account_id);
        let size = got.bytes.len() as u64;
        let written =
            tokio::task::spawn_blocking(move || write_private_file(&dir, &name, &got.bytes)).await;
        match written {
            Ok(Ok(path)) => MediaOutcome::Saved {
                content_type,
                path: path.display().to_string(),
                size,
            },
            Ok(Err(e)) => MediaOutcome::Failed { error: e },
            Err(e) => MediaOutcome::Failed {
                error: e.to_string(),
            },
        }
    }

    /// Removes an account's media files (the account was removed).
    pub fn remove_account(&self, account_id: &str) {
        let dir = self.account_dir(account_id);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the media of a removed account");
        }
    }
}

/// A download refused for its size, as the REST client reports it.
pub fn too_large(max_bytes: u64) -> Error {
    Error::new(
        Code::PayloadTooLarge,
        format!("the media file is larger than `twilio.media_max_bytes` ({max_bytes} bytes)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Bus;
    use crate::store::Store;
    use crate::twilio::inbound::{Direction, MediaRef, NewMessage, Source};
    use std::os::unix::fs::PermissionsExt;

    struct Fake;

    #[async_trait::async_trait]
    impl MediaSource for Fake {
        async fn download(&self, _account: &str, url: &str, max: u64) -> Result<Media> {
            match url {
                "https://api.example/big" => Err(too_large(max)),
                "https://api.example/gone" => Err(Error::new(Code::UpstreamError, "HTTP 404")),
                _ => Ok(Media {
                    content_type: Some("image/png; q=1".into()),
                    bytes: b"\x89PNG".to_vec(),
                }),
            }
        }
    }

    #[tokio::test]
    async fn saved_0600_with_type_too_large_and_failed_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _thread) = Store::open(&dir.path().join("db")).unwrap();
        let inbound = Arc::new(Inbound::new(store, Arc::new(Bus::default())));
        let media = [
            "https://api.example/ok",
            "https://api.example/big",
            "https://api.example/gone",
        ]
        .map(|u| MediaRef {
            url: u.into(),
            content_type: Some("image/jpeg".into()),
        })
        .to_vec();
        inbound
            .store(NewMessage {
                message_sid: "MM1".into(),
                account_id: "../tw".into(),
                direction: Direction::Inbound,
                our_number: "+15550001111".into(),
                their_number: "+15552223333".into(),
                body: String::new(),
                messaging_service_sid: None,
                keyword: None,
                media,
                source: Source::Webhook,
                received_at_ms: 1,
            })
            .await
            .unwrap();
        let saver = MediaSaver::new(dir.path(), inbound.clone(), Arc::new(Fake), 10);
        assert_eq!(saver.fetch_pending().await.unwrap(), 3);
        let got = inbound.get("../tw", "MM1").await.unwrap().unwrap();
        let states: Vec<_> = got.media.iter().map(|m| m.state.as_str()).collect();
        assert_eq!(states, ["saved", "too_large", "failed"]);
        let saved = &got.media[0];
        assert_eq!(saved.content_type.as_deref(), Some("image/png"));
        let path = PathBuf::from(saved.path.as_deref().unwrap());
        assert!(
            path.starts_with(media_root(dir.path())),
            "{}",
            path.display()
        );
        assert!(path.to_string_lossy().ends_with("MM1-0.png"));
        assert_eq!(std::fs::read(&path).unwrap(), b"\x89PNG");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(
            got.media[1]
                .error
                .as_deref()
                .unwrap()
                .contains("media_max_bytes")
        );
        assert_eq!(saver.fetch_pending().await.unwrap(), 0);
        saver.remove_account("../tw");
        assert!(!path.exists());
    }
}
