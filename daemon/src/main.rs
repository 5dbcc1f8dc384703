//! `commsd`: parse arguments, set up logging, run the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use commsd_proto::paths;

/// The commsd daemon: the communications hub that AI agents reach through
/// commsctl, comms-mcp, the HTTP API and the review dashboard.
///
/// With no config file it runs the embedded default: no accounts, and a
/// sandbox account whose deliveries land in files under the data directory.
#[derive(Debug, Parser)]
#[command(
    name = "commsd",
    version,
    after_help = "\
Environment:
  COMMSD_CONFIG    config file (default: $XDG_CONFIG_HOME/commsd/config.toml)
  COMMSD_DATA_DIR  data directory (default: $XDG_DATA_HOME/commsd)
  COMMSD_SOCKET    control socket (default: $XDG_RUNTIME_DIR/commsd/commsd.sock)
  COMMSD_LOG       log filter, e.g. `info` or `commsd=debug` (default: info);
                   other crates log at most warnings, whatever it says
  COMMSD_LOG_PROTOCOL_INSECURE=1
                   also log other crates' protocol tracing: passwords, tokens
                   and message bodies WILL be in the log (debugging only)

Examples:
  commsd                                  run in the foreground
  COMMSD_LOG=debug commsd                 with verbose logs
  commsctl daemon start                   run it in the background instead"
)]
struct Args {
    /// Config file to read instead of $COMMSD_CONFIG or the XDG path.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Everything the daemon creates (database, sandbox files, sockets,
    // attachments) is private to the user: 0600 files, 0700 directories.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // COMMSD_LOG for commsd's own code; other crates' protocol tracing
    // (passwords, tokens, message bodies) capped at warn whatever it says.
    commsd_mcp::logging::init_stderr(
        "commsd",
        "info",
        false,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );

    let Some(data_dir) = paths::data_dir() else {
        eprintln!("commsd: error: cannot find a data directory: set COMMSD_DATA_DIR or HOME");
        return ExitCode::FAILURE;
    };
    let options = commsd::Options {
        config: args.config.or_else(|| paths::config_path().map(|r| r.path)),
        data_dir: data_dir.path,
        socket: paths::socket_path().path,
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("commsd-worker")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("commsd: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commsd::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commsd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
