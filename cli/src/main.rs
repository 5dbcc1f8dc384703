//! `commsctl`: the command-line client of the commsd daemon.

mod client;
mod cmd;
mod output;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status when the daemon is not running (`status`, or a command run with COMMSD_AUTOSTART=0).
const EXIT_NOT_RUNNING: u8 = 3;
/// Exit status for any other failure.
const EXIT_ERROR: u8 = 2;

/// Control commsd: stage and approve outgoing messages, read the audit log,
/// and manage the daemon.
#[derive(Debug, Parser)]
#[command(
    name = "commsctl",
    version,
    propagate_version = true,
    after_help = "\
Examples:
  commsctl status                 is the daemon running? where does it listen?
  commsctl outbox list --state pending
  commsctl approve ob_7k2m9x4q1z   let a staged message go
  commsctl dashboard              review in the browser
  commsctl status --json          the same, for scripts
  commsctl daemon start           start commsd in the background
  commsctl service install        run commsd as a user service at login
  commsctl completions bash > ~/.local/share/bash-completion/completions/commsctl

Exit status: 0 success, 2 error, 3 daemon not running."
)]
struct Cli {
    /// The daemon's control socket [default: $XDG_RUNTIME_DIR/commsd/commsd.sock].
    #[arg(long, global = true, env = "COMMSD_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Status(cmd::status::Args),
    #[command(subcommand)]
    Daemon(cmd::daemon::Command),
    #[command(subcommand)]
    Service(cmd::service::Command),
    #[command(subcommand)]
    Outbox(cmd::outbox::Command),
    Approve(cmd::approve::ApproveArgs),
    Reject(cmd::approve::RejectArgs),
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    Dashboard(cmd::dashboard::Args),
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    #[command(subcommand)]
    Accounts(cmd::accounts::Command),
    #[command(subcommand)]
    Google(cmd::accounts::GoogleCommand),
    #[command(subcommand)]
    Mail(cmd::mail::Command),
    #[command(subcommand)]
    Gmail(cmd::gmail::Command),
    /// Google Chat: spaces, messages, posting through the outbox.
    #[command(subcommand)]
    Chat(cmd::chat::Command),
    /// Contacts: search, resolve names, change, sync.
    #[command(subcommand)]
    Contacts(cmd::contacts::Command),
    #[command(subcommand)]
    Sandbox(cmd::sandbox::Command),
    #[command(subcommand)]
    Sms(cmd::sms::Command),
    Events(cmd::events::Args),
    /// The unified inbox: email, SMS and chat of every account, newest first.
    Inbox(cmd::inbox::InboxArgs),
    /// Search the unified inbox.
    Search(cmd::inbox::SearchArgs),
    #[command(subcommand)]
    Vault(cmd::vault::Command),
    Completions(cmd::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let socket = client::Socket::resolve(cli.socket);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("commsctl: error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Status(args) => cmd::status::execute(&socket, args).await,
            Command::Daemon(command) => cmd::daemon::execute(&socket, command).await,
            Command::Service(command) => cmd::service::execute(command),
            Command::Events(args) => cmd::events::execute(&socket, args).await,
            Command::Outbox(command) => cmd::outbox::execute(&socket, command).await,
            Command::Approve(args) => cmd::approve::approve(&socket, args).await,
            Command::Reject(args) => cmd::approve::reject(&socket, args).await,
            Command::Audit(command) => cmd::audit::execute(&socket, command).await,
            Command::Dashboard(args) => cmd::dashboard::execute(&socket, args).await,
            Command::Keys(command) => cmd::keys::execute(&socket, command).await,
            Command::Accounts(command) => cmd::accounts::execute(&socket, command).await,
            Command::Google(command) => cmd::accounts::execute_google(&socket, command).await,
            Command::Vault(command) => cmd::vault::execute(&socket, command).await,
            Command::Mail(command) => cmd::mail::execute(&socket, command).await,
            Command::Gmail(command) => cmd::gmail::execute(&socket, command).await,
            Command::Chat(command) => cmd::chat::execute(&socket, command).await,
            Command::Contacts(command) => cmd::contacts::execute(&socket, command).await,
            Command::Sandbox(command) => cmd::sandbox::execute(&socket, command).await,
            Command::Sms(command) => cmd::sms::execute(&socket, command).await,
            Command::Inbox(args) => cmd::inbox::inbox(&socket, args).await,
            Command::Search(args) => cmd::inbox::search(&socket, args).await,
            Command::Completions(args) => {
                cmd::completions::execute(args, &mut <Cli as clap::CommandFactory>::command())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if output::is_stdout_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commsctl: error: {e:#}");
            match e.downcast_ref::<commsd_proto::client::ConnectError>() {
                Some(c) if c.is_not_running() => ExitCode::from(EXIT_NOT_RUNNING),
                _ => ExitCode::from(EXIT_ERROR),
            }
        }
    }
}
