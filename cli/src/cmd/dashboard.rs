//! `commsctl dashboard`: open the review dashboard with a one-time login link.

use commsd_proto::v1;

use crate::client::{self, Socket, rpc_error};
use crate::output;

/// Open the review dashboard in your browser, logged in.
///
/// The link works once and for two minutes; it sets a session cookie in the browser.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  commsctl dashboard\n  commsctl dashboard --no-browser    print the link instead"
)]
pub struct Args {
    /// Print the link instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// Print {"url": ...} (implies --no-browser).
    #[arg(long)]
    json: bool,
    /// The page to open.
    #[arg(long, default_value = "/review")]
    page: String,
}

pub async fn execute(socket: &Socket, args: Args) -> anyhow::Result<()> {
    let connected = client::connect_or_start(socket).await?;
    let login = client::dashboard(&connected)
        .create_login(v1::CreateLoginRequest { next: args.page })
        .await
        .map_err(|s| rpc_error(socket, s))?
        .into_inner();
    if args.json {
        return output::text(&format!(
            "{}\n",
            serde_json::json!({ "url": login.url, "expires_at_unix_ms": login.expires_at_unix_ms })
        ));
    }
    if !args.no_browser && open_browser(&login.url) {
        return output::text("opened the dashboard in your browser\n");
    }
    output::text(&format!(
        "open this link (valid once, for two minutes):\n  {}\n",
        login.url
    ))
}

/// Starts the desktop's browser; false when there is none to start.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
