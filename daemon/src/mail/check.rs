//! The connection test run before an account is saved: both servers, every
//! step, and an error that says which server, which step and why.

use serde::Serialize;
use serde_json::json;

use super::net::{Role, Timeouts};
use super::settings::{Credential, MailSettings, Server};
use super::trust::{self, Seen};
use super::{imap, smtp};
use crate::error::{Error, Result};

/// What a successful test found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub imap: String,
    pub smtp: String,
}

/// Signs in to the IMAP and the SMTP server (concurrently). A failure of
/// either is the error of that server's failed step; when both fail, the
/// IMAP failure leads and `details.smtp` carries the other.
pub async fn test(
    settings: &MailSettings,
    credential: &Credential,
    timeouts: Timeouts,
) -> Result<Report> {
    settings.validate()?;
    // One configuration per server, each saying which certificate it saw.
    let config =
        || trust::tls_config_seen(settings.ca_file.as_deref(), settings.pin_sha256.as_deref());
    let (imap_tls, imap_seen) = config()?;
    let (smtp_tls, smtp_seen) = config()?;
    let oauth = credential.is_oauth();
    let imap_test = async {
        let mut session = imap::connect(settings, &imap_tls, credential, timeouts)
            .await
            .map_err(|e| e.to_error(Role::Imap, &settings.imap.host, settings.imap.port, oauth))?;
        let _ = session.logout().await;
        Ok::<_, Error>(signed_in(&settings.imap, &imap_seen))
    };
    let smtp_test = async {
        let mut conn = smtp::connect(settings, &smtp_tls, credential, timeouts)
            .await
            .map_err(|e| e.to_error(Role::Smtp, &settings.smtp.host, settings.smtp.port, oauth))?;
        let _ = conn.quit().await;
        Ok::<_, Error>(signed_in(&settings.smtp, &smtp_seen))
    };
    match tokio::join!(imap_test, smtp_test) {
        (Ok(imap), Ok(smtp)) => Ok(Report { imap, smtp }),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(mut imap), Err(smtp)) => {
            imap.message = format!("{}; and {}", imap.message, smtp.message);
            if let Some(d) = imap.details.as_object_mut() {
                d.insert("smtp".to_owned(), json!(smtp.details));
            }
            Err(imap)
        }
    }
}

/// "signed in to host:port", and the certificate the server presented.
fn signed_in(server: &Server, seen: &Seen) -> String {
    let certificate = seen.lock().ok().and_then(|s| s.clone());
    match certificate {
        Some(f) => format!(
            "signed in to {}:{} (certificate SHA-256 {f})",
            server.host, server.port
        ),
        None => format!("signed in to {}:{}", server.host, server.port),
    }
}
