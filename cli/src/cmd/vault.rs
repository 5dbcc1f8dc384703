//! `commsctl vault ...`: the daemon's secret vault (status, unlock, lock, migrate).
//! The passphrase is read from the terminal without echo or from stdin,
//! never from the command line.

use std::io::Read as _;

use anyhow::Context as _;
use commsd_proto::v1::{self, vault_client::VaultClient};
use zeroize::Zeroizing;

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;

/// The secret vault: where commsd keeps refresh tokens and passwords.
///
/// Secrets live in the OS keyring (Secret Service, Keychain, Credential
/// Manager) or, where none is usable, in an encrypted file unlocked with a
/// passphrase. Secret values are never shown.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the backend, whether it is ready, where it is and how many secrets it holds.
    #[command(
        after_help = "Examples:\n  commsctl vault status\n  commsctl vault status --json | jq -r .state"
    )]
    Status(StatusArgs),
    /// Unlock the encrypted file with its passphrase; the first passphrase creates the file.
    #[command(
        after_help = "Examples:\n  commsctl vault unlock                                  asks for the passphrase (no echo)\n  pass show commsd | commsctl vault unlock --passphrase-stdin\n\nThe daemon can also unlock the file at start from COMMSD_VAULT_PASSPHRASE\n(e.g. an EnvironmentFile of its systemd unit, mode 0600)."
    )]
    Unlock(UnlockArgs),
    /// Lock the encrypted file: its key leaves the daemon's memory until the next unlock.
    #[command(
        after_help = "Examples:\n  commsctl vault lock        (e.g. before leaving the computer)\n  commsctl vault unlock      (approved messages that waited go out then)\n\nWhile it is locked, nothing that needs a secret is sent: approved messages\nwait, saying so, and go once it is unlocked. The OS keyring is locked with\nthe keyring's own tools."
    )]
    Lock,
    /// Move every secret to the other backend, checking each copy before deleting the original.
    #[command(
        after_help = "Examples:\n  commsctl vault migrate --to file       (unlock the file first: commsctl vault unlock)\n  commsctl vault migrate --to keyring --json"
    )]
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// Read the passphrase from standard input (one line) instead of the terminal.
    #[arg(long)]
    passphrase_stdin: bool,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Where the secrets go.
    #[arg(long, value_parser = ["keyring", "file"])]
    to: String,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn status_json(s: &v1::VaultStatus) -> serde_json::Value {
    serde_json::json!({
        "backend": s.backend,
        "configured": s.configured,
        "state": s.state,
        "reason": s.reason,
        "hint": s.hint,
        "location": s.location,
        "entries": s.entries,
        "file": {
            "path": s.file_path,
            "exists": s.file_exists,
            "unlocked": s.file_unlocked,
        },
        "warnings": s.warnings,
    })
}

fn backend_name(b: &str) -> &str {
    match b {
        "keyring" => "the OS keyring",
        "file" => "the encrypted file",
        other => other,
    }
}

fn status_text(s: &v1::VaultStatus) -> String {
    let mut text = format!(
        "vault: {} ({})\n  location  {}\n  secrets   {}\n  config    backend = \"{}\"\n",
        backend_name(&s.backend),
        s.state,
        s.location,
        s.entries,
        s.configured,
    );
    if s.backend == "keyring" {
        let file = match (s.file_exists, s.file_unlocked) {
            (false, _) => "not created",
            (true, true) => "unlocked",
            (true, false) => "locked",
        };
        text.push_str(&format!("  file      {} ({file})\n", s.file_path));
    }
    if let Some(reason) = &s.reason {
        text.push_str(&format!("  reason    {reason}\n"));
    }
    if let Some(hint) = &s.hint {
        text.push_str(&format!("  hint      {hint}\n"));
    }
    for warning in &s.warnings {
        text.push_str(&format!("  warning   {warning}\n"));
    }
    text
}

/// The passphrase from stdin: everything up to the first newline.
fn passphrase_from_stdin() -> anyhow::Result<Zeroizing<String>> {
    let mut all = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut all)
        .context("cannot read the passphrase from standard input")?;
    let line = all.split(['\n', '\r']).next().unwrap_or_default();
    Ok(Zeroizing::new(line.to_owned()))
}

/// Asks on the terminal, without echo; twice when the file is new.
fn passphrase_from_terminal(new_file: bool) -> anyhow::Result<Zeroizing<String>> {
    let no_tty = "cannot ask for the passphrase (no terminal): use --passphrase-stdin";
    let prompt = if new_file {
        "New vault passphrase (creates the vault file): "
    } else {
        "Vault passphrase: "
    };
    let first = Zeroizing::new(rpassword::prompt_password(prompt).context(no_tty)?);
    if new_file {
        let again =
            Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ").context(no_tty)?);
        anyhow::ensure!(
            *first == *again,
            "the two passphrases differ; nothing was changed"
        );
    }
    Ok(first)
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let mut vault = VaultClient::with_interceptor(connected.channel.clone(), UserHeader::current());
    match command {
        Command::Status(a) => {
            let status = vault
                .status(v1::VaultStatusRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&status_json(&status));
            }
            output::text(&status_text(&status))
        }
        Command::Unlock(a) => {
            let passphrase = if a.passphrase_stdin {
                passphrase_from_stdin()?
            } else {
                let before = vault
                    .status(v1::VaultStatusRequest {})
                    .await
                    .map_err(|s| rpc_error(socket, s))?
                    .into_inner();
                passphrase_from_terminal(!before.file_exists)?
            };
            anyhow::ensure!(!passphrase.is_empty(), "the passphrase is empty");
            let status = vault
                .unlock(v1::VaultUnlockRequest {
                    passphrase: passphrase.to_string(),
                })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            output::text(&format!(
                "vault file unlocked: {} ({} secrets)\n",
                status.file_path,
                if status.backend == "file" {
                    status.entries.to_string()
                } else {
                    format!("in use: {}", backend_name(&status.backend))
                }
            ))
        }
        Command::Lock => {
            let status = vault
                .lock(v1::VaultLockRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            output::text(&format!(
                "vault file locked: {} ({} secrets); unlock it with commsctl vault unlock\n",
                status.file_path, status.entries
            ))
        }
        Command::Migrate(a) => {
            let report = vault
                .migrate(v1::VaultMigrateRequest { to: a.to })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&serde_json::json!({
                    "from": report.from,
                    "to": report.to,
                    "moved": report.moved,
                    "missing": report.missing,
                    "status": report.status.as_ref().map(status_json),
                }));
            }
            let mut text = format!(
                "moved {} secrets from {} to {}\n",
                report.moved.len(),
                backend_name(&report.from),
                backend_name(&report.to)
            );
            for name in &report.moved {
                text.push_str(&format!("  {name}\n"));
            }
            if !report.missing.is_empty() {
                text.push_str(&format!(
                    "not found in {} (nothing to move): {}\n",
                    backend_name(&report.from),
                    report.missing.join(", ")
                ));
            }
            output::text(&text)
        }
    }
}
