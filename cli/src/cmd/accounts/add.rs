//! `commsctl accounts add ...`: a Google sign-in (streamed), an IMAP/SMTP
//! account, a Twilio account and a Chat webhook; secrets are read from a
//! prompt or stdin, never from the command line.

use std::io::{BufRead, IsTerminal, Read};

use anyhow::Context;
use commsd_proto::v1;
use tokio_stream::StreamExt;

use super::{ChatWebhookArgs, Client, GoogleArgs, ImapArgs, TwilioArgs, account_json, describe};
use crate::client::{Socket, rpc_error};
use crate::output;

pub(super) async fn add_google(
    socket: &Socket,
    accounts: &mut Client,
    a: GoogleArgs,
) -> anyhow::Result<()> {
    let timeout_s = match &a.timeout {
        None => 0,
        Some(t) => humantime::parse_duration(t)
            .with_context(|| format!("--timeout {t:?}: expected a duration such as 5m"))?
            .as_secs()
            .clamp(1, 3600) as u32,
    };
    let request = v1::AddGoogleRequest {
        labels: a.labels,
        tier: a.tier,
        modules: a.with,
        login_hint: a.login_hint,
        timeout_s,
    };
    let mut stream = accounts
        .add_google(request)
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    let first = stream
        .next()
        .await
        .context("the daemon ended the sign-in without a URL")?
        .map_err(|s| rpc_error(socket, s))?;
    let Some(v1::add_google_event::Kind::Started(started)) = first.kind else {
        anyhow::bail!("the daemon answered the sign-in out of order");
    };
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "auth_url": started.auth_url,
                "flow_id": started.flow_id,
                "redirect_uri": started.redirect_uri,
                "expires_at": started.expires_at,
            })
        );
    } else {
        println!("Sign in to Google at:\n\n  {}\n", started.auth_url);
    }
    if !a.no_browser && !a.manual {
        match webbrowser::open(&started.auth_url) {
            Ok(()) => eprintln!(
                "Opened your browser; waiting for the sign-in (until {}).",
                started.expires_at
            ),
            Err(e) => eprintln!(
                "Could not open a browser ({e}); open the URL above. Waiting until {}.",
                started.expires_at
            ),
        }
    } else if !a.manual {
        eprintln!(
            "Open the URL above in a browser on this machine; waiting until {}.",
            started.expires_at
        );
    }
    let done = if a.manual {
        eprintln!(
            "After signing in, the browser goes to {} (it may show an error page where that address\ncannot be reached). Paste that whole URL, or its code= value, here:",
            started.redirect_uri
        );
        let pasted = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        });
        tokio::select! {
            event = stream.next() => final_account(socket, event)?,
            line = pasted => {
                let line = line.context("reading the pasted URL failed")??;
                accounts
                    .complete_google(v1::CompleteGoogleRequest { flow_id: started.flow_id.clone(), pasted: line })
                    .await
                    .map_err(|s| rpc_error(socket, s))?;
                // The flow's own outcome follows: existed, warnings.
                final_account(socket, stream.next().await)?
            }
        }
    } else {
        final_account(socket, stream.next().await)?
    };
    let (account, existed, warnings) = done;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "account": account_json(&account), "existed": existed, "warnings": warnings })
        );
        return Ok(());
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    output::text(&format!(
        "{} {}\n",
        if existed {
            "signed in again to"
        } else {
            "added"
        },
        describe(&account)
    ))
}

pub(super) async fn add_imap(
    socket: &Socket,
    accounts: &mut Client,
    a: ImapArgs,
) -> anyhow::Result<()> {
    let password = match &a.oauth_account {
        Some(_) if a.password_stdin => {
            anyhow::bail!("--password-stdin: no password is used with --oauth-account")
        }
        Some(_) => String::new(),
        None if a.password_stdin || !std::io::stdin().is_terminal() => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from stdin")?;
            s.trim_end_matches(['\r', '\n']).to_owned()
        }
        None => rpassword::prompt_password(format!("Password for {}: ", a.email))
            .context("reading the password")?,
    };
    // The daemon runs elsewhere: give it an absolute path.
    let ca_file = match &a.ca_file {
        Some(p) => Some(
            std::fs::canonicalize(p)
                .with_context(|| format!("--ca-file {}: cannot read it", p.display()))?
                .display()
                .to_string(),
        ),
        None => None,
    };
    let port = |p: Option<u16>, tls: u16, other: u16| {
        p.unwrap_or(if a.security == "tls" { tls } else { other })
    };
    eprintln!(
        "Testing IMAP {}:{} and SMTP {}:{} ({}, {})...",
        a.imap_host,
        port(a.imap_port, 993, 143),
        a.smtp_host,
        port(a.smtp_port, 465, 587),
        a.security,
        if a.oauth_account.is_some() {
            "XOAUTH2"
        } else {
            "password"
        }
    );
    let response = accounts
        .add_imap(v1::AddImapRequest {
            email: a.email,
            imap_host: a.imap_host,
            imap_port: a.imap_port.map_or(0, u32::from),
            smtp_host: a.smtp_host,
            smtp_port: a.smtp_port.map_or(0, u32::from),
            security: a.security,
            username: a.username,
            ca_file,
            pin_sha256: a.pin_sha256,
            oauth_account: a.oauth_account,
            labels: a.labels,
            password,
        })
        .await
        .map_err(|s| with_hint(socket, s))?
        .into_inner();
    eprintln!("IMAP: {}\nSMTP: {}", response.imap, response.smtp);
    let account = response.account.context("the daemon returned no account")?;
    if a.json {
        return output::json(&serde_json::json!({
            "account": account_json(&account),
            "existed": response.existed,
            "test": { "imap": response.imap, "smtp": response.smtp },
        }));
    }
    output::text(&format!(
        "{} {}\n",
        if response.existed { "updated" } else { "added" },
        describe(&account)
    ))
}

pub(super) async fn add_twilio(
    socket: &Socket,
    accounts: &mut Client,
    a: TwilioArgs,
) -> anyhow::Result<()> {
    let what = if a.api_key.is_some() {
        "API key secret"
    } else {
        "auth token"
    };
    let secret = if a.secret_stdin || !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .with_context(|| format!("reading the {what} from stdin"))?;
        s.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!("Twilio {what} for {}: ", a.account_sid))
            .with_context(|| format!("reading the {what}"))?
    };
    eprintln!("Checking the credentials with Twilio...");
    let response = accounts
        .add_twilio(v1::AddTwilioRequest {
            account_sid: a.account_sid,
            api_key_sid: a.api_key,
            from: a.from,
            messaging_service_sid: a.messaging_service,
            labels: a.labels,
            secret,
        })
        .await
        .map_err(|s| with_hint(socket, s))?
        .into_inner();
    let account = response.account.context("the daemon returned no account")?;
    if a.json {
        return output::json(&serde_json::json!({
            "account": account_json(&account),
            "existed": response.existed,
            "friendlyName": response.friendly_name,
        }));
    }
    output::text(&format!(
        "{} {} (Twilio: {})\n",
        if response.existed { "updated" } else { "added" },
        describe(&account),
        response.friendly_name
    ))
}

/// The daemon's error, plus its hint (what to check) when it gives one.
fn with_hint(socket: &Socket, status: tonic::Status) -> anyhow::Error {
    let hint = serde_json::from_slice::<serde_json::Value>(status.details())
        .ok()
        .and_then(|e| e["details"]["hint"].as_str().map(str::to_owned))
        .filter(|h| !h.is_empty());
    let e = rpc_error(socket, status);
    match hint {
        Some(h) => anyhow::anyhow!("{e:#}\n  hint: {h}"),
        None => e,
    }
}

fn final_account(
    socket: &Socket,
    event: Option<Result<v1::AddGoogleEvent, tonic::Status>>,
) -> anyhow::Result<(v1::Account, bool, Vec<String>)> {
    let event = event
        .context("the daemon ended the sign-in without an outcome")?
        .map_err(|s| rpc_error(socket, s))?;
    match event.kind {
        Some(v1::add_google_event::Kind::Done(done)) => Ok((
            done.account.context("the daemon returned no account")?,
            done.existed,
            done.warnings,
        )),
        _ => anyhow::bail!("the daemon answered the sign-in out of order"),
    }
}

pub(super) async fn add_chat_webhook(
    socket: &Socket,
    accounts: &mut Client,
    a: ChatWebhookArgs,
) -> anyhow::Result<()> {
    let url = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Webhook URL (not shown): ")
            .context("reading the webhook URL")?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the webhook URL from stdin")?;
        s
    };
    let response = accounts
        .add_chat_webhook(v1::AddChatWebhookRequest {
            label: a.label,
            space_name: a.space_name,
            url: url.trim().to_owned(),
            test: a.test,
        })
        .await
        .map_err(|s| with_hint(socket, s))?
        .into_inner();
    let account = response.account.context("the daemon returned no account")?;
    if a.json {
        return output::json(&serde_json::json!({
            "account": account_json(&account),
            "existed": response.existed,
            "testMessage": response.test_message,
        }));
    }
    let mut text = format!(
        "{} {}\n",
        if response.existed {
            "replaced the webhook of"
        } else {
            "added"
        },
        describe(&account)
    );
    if let Some(m) = response.test_message {
        text.push_str(&format!("test message posted: {m}\n"));
    }
    output::text(&text)
}
