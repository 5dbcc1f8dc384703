//! `commsctl accounts ...` and `commsctl google ...`: accounts and the
//! bring-your-own Google OAuth client.

use std::io::{BufRead, IsTerminal, Read};

use anyhow::Context;
use commsd_proto::v1::{self, accounts_client::AccountsClient};
use tonic::codegen::InterceptedService;
use tonic::transport::Channel;

use crate::client::{self, Socket, UserHeader, rpc_error};
use crate::output;
use crate::render;

mod add;
use add::{add_chat_webhook, add_google, add_imap, add_twilio};

/// List, add, label, choose the default and remove accounts.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List every account: id, address, labels, default, tier and scopes, state.
    #[command(after_help = "Examples:\n  commsctl accounts list\n  commsctl accounts list --json")]
    List(ListArgs),
    /// Add an account (or sign in again to an existing one: its id is kept).
    #[command(subcommand)]
    Add(AddCommand),
    /// Replace an account's labels (short tags agents can name it by).
    #[command(
        after_help = "Examples:\n  commsctl accounts labels 3f2a... work clinic\n  commsctl accounts labels me@example.com   # no labels: clears them"
    )]
    Labels(LabelsArgs),
    /// Make an account the default for calls that name none (`sandbox` to go back).
    #[command(
        after_help = "Examples:\n  commsctl accounts default me@example.com\n  commsctl accounts default sandbox"
    )]
    Default(RefArgs),
    /// Remove an account: revokes its token, deletes its secrets and cached data.
    #[command(after_help = "Examples:\n  commsctl accounts remove me@example.com --yes")]
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum AddCommand {
    /// Sign in to a Google account in the browser (OAuth with PKCE on the daemon's loopback callback).
    #[command(
        after_help = "Examples:\n  commsctl accounts add google --label personal\n  commsctl accounts add google --label work --tier 2 --with contacts --login-hint me@work.example\n  commsctl accounts add google --no-browser          # prints the URL to open elsewhere\n  commsctl accounts add google --manual              # paste the redirected URL back here\n\nTiers: 1 read (gmail.readonly), 2 compose and send (gmail.compose, gmail.send), 3 modify\n(gmail.modify). Modules: contacts, directory, chat, mail (https://mail.google.com/: full mailbox access,
for an IMAP account linked with --oauth-account). Nothing more is ever asked for without this command.\nNeeds your own OAuth client first: commsctl google import-client client_secret.json"
    )]
    Google(GoogleArgs),
    /// Add an IMAP/SMTP account (any provider): both servers are tested before it is saved.
    #[command(
        after_help = "Examples:\n  commsctl accounts add imap --email me@example.org --imap-host imap.example.org --smtp-host smtp.example.org\n  commsctl accounts add imap --email me@example.org --imap-host mail.example.org --smtp-host mail.example.org \\\n      --security starttls --ca-file /etc/ssl/my-ca.pem --label clinic\n  commsctl accounts add imap ... --ca-file server-cert.pem   # its own self-signed certificate\n  # or its SHA-256 fingerprint, once checked with the server's administrator:\n  commsctl accounts add imap ... --pin-sha256 \\\n      83:79:55:E2:EA:7E:B2:62:22:51:44:9A:3B:BC:12:BE:D5:40:41:AA:05:60:0F:16:52:1C:E2:B9:F1:87:2A:65\n  printf %s \"$APP_PASSWORD\" | commsctl accounts add imap --email me@example.org --imap-host ... --smtp-host ... --password-stdin\n  commsctl accounts add imap --email me@gmail.com --imap-host imap.gmail.com --smtp-host smtp.gmail.com \\\n      --oauth-account me@gmail.com   # XOAUTH2 with a Google account added with --with mail\n\nThe password (an app password for providers with two-factor sign-in) is read from a prompt,\nor from stdin with --password-stdin; it goes to the vault, never to the database. Ports default\nto 993/465 (tls) or 143/587 (starttls). A failed test says which server, which step (dns,\ntcp_connect, tls_certificate, tls, greeting, starttls, authentication) and why; nothing is saved.\nAn untrusted certificate's error shows its SHA-256 fingerprint (as `openssl x509 -noout\n-fingerprint -sha256` prints it on the server): compare, then pass it with --pin-sha256."
    )]
    Imap(ImapArgs),
    /// Add a Google Chat incoming webhook: posts to its one space, no sign-in.
    #[command(
        name = "chat-webhook",
        after_help = "Examples:\n  commsctl accounts add chat-webhook --label team --space-name 'Front desk'\n  printf %s \"$WEBHOOK_URL\" | commsctl accounts add chat-webhook --label team --test\n\nThe URL (Space > Apps & integrations > Webhooks) is the credential: it is read from a prompt\nthat does not echo, or from stdin, goes to the vault, and is shown only as\n.../spaces/AAAA/messages?key=***&token=***. --test posts one message to the space."
    )]
    ChatWebhook(ChatWebhookArgs),
    /// Add a Twilio account for SMS: its credentials are checked at Twilio before it is saved.
    #[command(
        after_help = "Examples:\n  commsctl accounts add twilio --account-sid AC... --messaging-service MG... --label clinic\n  commsctl accounts add twilio --account-sid AC... --from +14155550100\n  printf %s \"$TWILIO_AUTH_TOKEN\" | commsctl accounts add twilio --account-sid AC... --from +14155550100 --secret-stdin\n  commsctl accounts add twilio --account-sid AC... --api-key SK... --messaging-service MG...   # the prompt asks for the key's secret\n\nThe auth token (or, with --api-key, the API key's secret) is read from a prompt, or from stdin\nwith --secret-stdin; it goes to the vault, never to the database. A Messaging Service is\npreferred: US numbers must send through a registered A2P 10DLC campaign, which is attached to\na Messaging Service. Webhook signatures are made with the auth token, so an account added with\nan API key cannot receive on the webhook listener."
    )]
    Twilio(TwilioArgs),
}

#[derive(Debug, clap::Args)]
pub struct ChatWebhookArgs {
    /// The name agents use for it (a-z, 0-9, - and _).
    #[arg(long)]
    label: String,
    /// The space's name as people know it, shown with its items.
    #[arg(long)]
    space_name: Option<String>,
    /// Post a test message once saved.
    #[arg(long)]
    test: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("sender").required(true).multiple(true).args(["from", "messaging_service"])))]
pub struct TwilioArgs {
    /// The Account SID (AC followed by 32 hexadecimal digits).
    #[arg(long, value_name = "AC...")]
    account_sid: String,
    /// Authenticate with this API key (SK...) and its secret instead of the auth token.
    #[arg(long, value_name = "SK...")]
    api_key: Option<String>,
    /// The number messages are sent from (E.164, one of the account's numbers).
    #[arg(long, value_name = "+1...")]
    from: Option<String>,
    /// The Messaging Service messages are sent through (preferred).
    #[arg(long, value_name = "MG...")]
    messaging_service: Option<String>,
    /// A label for the account (repeat or comma-separate for several).
    #[arg(long = "label", value_delimiter = ',')]
    labels: Vec<String>,
    /// Read the auth token (or API key secret) from stdin instead of a prompt.
    #[arg(long)]
    secret_stdin: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImapArgs {
    /// The address mail is sent from.
    #[arg(long)]
    email: String,
    #[arg(long)]
    imap_host: String,
    /// [default: 993 with tls, 143 with starttls]
    #[arg(long)]
    imap_port: Option<u16>,
    #[arg(long)]
    smtp_host: String,
    /// [default: 465 with tls, 587 with starttls]
    #[arg(long)]
    smtp_port: Option<u16>,
    /// tls: TLS from the first byte; starttls: upgrade a plain connection (refused if not offered).
    #[arg(long, default_value = "tls", value_parser = ["tls", "starttls", "plain"])]
    security: String,
    /// The login name [default: the address].
    #[arg(long)]
    username: Option<String>,
    /// A PEM file with the CA that signed the servers' certificates, or with a server's own
    /// self-signed certificate (self-hosted servers); only its certificates are trusted.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
    /// Trust only the server certificate with this SHA-256 fingerprint (hex, colons optional),
    /// still for its host name. Check it with the server's administrator first.
    #[arg(long, value_name = "FINGERPRINT", conflicts_with = "ca_file")]
    pin_sha256: Option<String>,
    /// Sign in with XOAUTH2 using this Google account's token (id or address) instead of a password.
    #[arg(long, value_name = "GOOGLE_ACCOUNT_ID")]
    oauth_account: Option<String>,
    /// A label for the account (repeat or comma-separate for several).
    #[arg(long = "label", value_delimiter = ',')]
    labels: Vec<String>,
    /// Read the password from stdin instead of a prompt.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GoogleArgs {
    /// A label for the account (repeat or comma-separate for several).
    #[arg(long = "label", value_delimiter = ',')]
    labels: Vec<String>,
    /// Gmail access: 1 read, 2 compose and send, 3 modify.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3))]
    tier: u32,
    /// Opt-in modules, comma-separated: contacts, directory (Workspace), chat,
    /// chat-dm (open direct messages; with [chat] create_direct_messages), mail.
    #[arg(long = "with", value_delimiter = ',')]
    with: Vec<String>,
    /// The address to sign in as (Google preselects it).
    #[arg(long)]
    login_hint: Option<String>,
    /// Do not open a browser; print the URL to open.
    #[arg(long)]
    no_browser: bool,
    /// For machines where the browser cannot reach 127.0.0.1: paste the
    /// redirected URL (or its code) back here.
    #[arg(long)]
    manual: bool,
    /// How long to wait for the sign-in, e.g. 5m [default: 5m].
    #[arg(long)]
    timeout: Option<String>,
    /// Print {"auth_url": ...} as the first line and the account as the last, as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LabelsArgs {
    /// The account: its id or address.
    account: String,
    /// The new labels (none clears them).
    labels: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RefArgs {
    /// The account: its id or address.
    account: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The account: its id or address.
    account: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    #[arg(long)]
    json: bool,
}

/// Set up the Google OAuth client commsd signs in with (bring your own).
#[derive(Debug, clap::Subcommand)]
pub enum GoogleCommand {
    /// Import the client JSON Google Cloud Console downloads for a "Desktop app" client.
    #[command(
        after_help = "Examples:\n  commsctl google import-client ~/Downloads/client_secret_1234.apps.googleusercontent.com.json\n  commsctl google import-client - < client_secret.json\n\nCreate the client: Google Cloud Console > APIs & Services > Credentials > Create credentials >\nOAuth client ID > Application type: Desktop app. The secret goes to the vault."
    )]
    ImportClient(ImportArgs),
    /// Set the client by hand: the ID as an option, the secret from a prompt or stdin.
    #[command(
        after_help = "Examples:\n  commsctl google set-client --client-id 1234-abc.apps.googleusercontent.com\n  printf %s \"$SECRET\" | commsctl google set-client --client-id 1234-abc.apps.googleusercontent.com --client-secret-stdin"
    )]
    SetClient(SetClientArgs),
    /// Show whether a client is set up (never its secret).
    Client(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The downloaded JSON file, or - for stdin.
    file: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SetClientArgs {
    #[arg(long)]
    client_id: String,
    /// Read the client secret from stdin instead of a prompt.
    #[arg(long)]
    client_secret_stdin: bool,
    #[arg(long)]
    json: bool,
}

type Client = AccountsClient<InterceptedService<Channel, UserHeader>>;

async fn connect(socket: &Socket) -> anyhow::Result<Client> {
    let connected = client::connect_or_start(socket).await?;
    Ok(AccountsClient::with_interceptor(
        connected.channel.clone(),
        UserHeader::current(),
    ))
}

pub fn account_json(a: &v1::Account) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": a.id,
        "kind": a.kind,
        "email": a.email,
        "labels": a.labels,
        "default": a.default,
        "channels": a.channels,
        "state": a.state,
    });
    if let Some(t) = a.tier {
        v["tier"] = t.into();
    }
    if !a.modules.is_empty() {
        v["modules"] = a.modules.clone().into();
    }
    if !a.scopes.is_empty() {
        v["scopes"] = a.scopes.clone().into();
    }
    if let Some(r) = &a.state_reason {
        v["state_reason"] = r.clone().into();
    }
    if !a.settings_json.is_empty()
        && let Ok(s) = serde_json::from_str::<serde_json::Value>(&a.settings_json)
    {
        v["settings"] = s;
    }
    if let Some(c) = &a.created_at {
        v["created_at"] = c.clone().into();
    }
    v["last_used_at"] = a.last_used_at.clone().into();
    v
}

fn describe(a: &v1::Account) -> String {
    let mut s = format!("{} ({}, id {})", a.email, a.kind, a.id);
    if let Some(t) = a.tier {
        s.push_str(&format!(", tier {t}"));
    }
    if !a.modules.is_empty() {
        s.push_str(&format!(" with {}", a.modules.join(",")));
    }
    if !a.labels.is_empty() {
        s.push_str(&format!(", labels {}", a.labels.join(",")));
    }
    s
}

fn list_text(accounts: &[v1::Account]) -> String {
    let mut text = format!(
        "{:<36} {:<7} {:<30} {:<16} {:<4} {:<16} {}\n",
        "ID", "KIND", "EMAIL", "LABELS", "TIER", "STATE", "LAST USED"
    );
    for a in accounts {
        text.push_str(&format!(
            "{:<36} {:<7} {:<30} {:<16} {:<4} {:<16} {}\n",
            format!("{}{}", a.id, if a.default { " *" } else { "" }),
            a.kind,
            render::clip(&a.email, 30),
            render::clip(&a.labels.join(","), 16),
            a.tier.map_or("-".to_owned(), |t| t.to_string())
                + if a.modules.is_empty() { "" } else { "+" },
            a.state,
            a.last_used_at
                .as_deref()
                .map_or("never", |t| t.get(..16).unwrap_or(t)),
        ));
        if let Some(reason) = &a.state_reason {
            text.push_str(&format!("  ! {reason}\n"));
        }
    }
    text.push_str("* default account; + opt-in modules granted (see --json)\n");
    text
}

pub async fn execute(socket: &Socket, command: Command) -> anyhow::Result<()> {
    let mut accounts = connect(socket).await?;
    match command {
        Command::List(a) => {
            let list = accounts
                .list(v1::ListAccountsRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner()
                .accounts;
            if a.json {
                return output::json(&list.iter().map(account_json).collect::<Vec<_>>());
            }
            output::text(&list_text(&list))
        }
        Command::Add(AddCommand::Google(a)) => add_google(socket, &mut accounts, a).await,
        Command::Add(AddCommand::Imap(a)) => add_imap(socket, &mut accounts, a).await,
        Command::Add(AddCommand::ChatWebhook(a)) => {
            add_chat_webhook(socket, &mut accounts, a).await
        }
        Command::Add(AddCommand::Twilio(a)) => add_twilio(socket, &mut accounts, a).await,
        Command::Labels(a) => {
            let account = accounts
                .set_labels(v1::SetLabelsRequest {
                    account: a.account,
                    labels: a.labels,
                })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&account_json(&account));
            }
            output::text(&format!("labels set: {}\n", describe(&account)))
        }
        Command::Default(a) => {
            let account = accounts
                .set_default(v1::AccountRef { account: a.account })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            if a.json {
                return output::json(&account_json(&account));
            }
            output::text(&format!("default account: {}\n", describe(&account)))
        }
        Command::Remove(a) => {
            if !a.yes {
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "removing {} revokes its access and deletes its data; add --yes to confirm",
                        a.account
                    );
                }
                eprint!(
                    "Remove account {} (revokes its token, deletes its secrets and cached data)? [y/N] ",
                    a.account
                );
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    anyhow::bail!("not removed");
                }
            }
            let removed = accounts
                .remove(v1::AccountRef { account: a.account })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            let account = removed.account.context("the daemon returned no account")?;
            if a.json {
                return output::json(&serde_json::json!({
                    "account": account_json(&account),
                    "revoked": removed.revoked,
                    "revoke_error": removed.revoke_error,
                }));
            }
            let mut text = format!("removed {}\n", describe(&account));
            if let Some(e) = removed.revoke_error {
                text.push_str(&format!(
                    "warning: the token could not be revoked ({e}); revoke commsd's access at https://myaccount.google.com/permissions\n"
                ));
            }
            output::text(&text)
        }
    }
}

fn client_text(c: &v1::OAuthClient) -> String {
    match &c.client_id {
        Some(id) if c.configured => format!(
            "Google OAuth client: {id} (secret in the vault)\n  auth:  {}\n  token: {}\n",
            c.auth_endpoint, c.token_endpoint
        ),
        _ => "no Google OAuth client is set up; run `commsctl google import-client client_secret.json`\n".to_owned(),
    }
}

fn client_json(c: &v1::OAuthClient) -> serde_json::Value {
    serde_json::json!({
        "configured": c.configured,
        "client_id": c.client_id,
        "auth_endpoint": c.auth_endpoint,
        "token_endpoint": c.token_endpoint,
    })
}

pub async fn execute_google(socket: &Socket, command: GoogleCommand) -> anyhow::Result<()> {
    let (status, json) = match command {
        GoogleCommand::Client(a) => {
            let mut accounts = connect(socket).await?;
            let c = accounts
                .client_status(v1::ClientStatusRequest {})
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            (c, a.json)
        }
        GoogleCommand::ImportClient(a) => {
            let text = if a.file == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading stdin")?;
                s
            } else {
                std::fs::read_to_string(&a.file)
                    .with_context(|| format!("cannot read {}", a.file))?
            };
            let mut accounts = connect(socket).await?;
            let c = accounts
                .import_client(v1::ImportClientRequest { json: text })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            (c, a.json)
        }
        GoogleCommand::SetClient(a) => {
            let secret = if a.client_secret_stdin || !std::io::stdin().is_terminal() {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the client secret from stdin")?;
                s.trim().to_owned()
            } else {
                rpassword::prompt_password("Client secret: ")
                    .context("reading the client secret")?
            };
            let mut accounts = connect(socket).await?;
            let c = accounts
                .set_client(v1::SetClientRequest {
                    client_id: a.client_id,
                    client_secret: secret,
                })
                .await
                .map_err(|s| rpc_error(socket, s))?
                .into_inner();
            (c, a.json)
        }
    };
    if json {
        return output::json(&client_json(&status));
    }
    output::text(&client_text(&status))
}
