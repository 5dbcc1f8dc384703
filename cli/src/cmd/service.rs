//! `commsctl service install|uninstall|status`: run commsd as a user service
//! (systemd on Linux, launchd on macOS) from the templates in systemd/ and launchd/.

use std::path::PathBuf;
use std::process::Command as Process;

use anyhow::{Context, bail};

use crate::output;

const SYSTEMD_TEMPLATE: &str = include_str!("../../../systemd/commsd.service");
const LAUNCHD_TEMPLATE: &str = include_str!("../../../launchd/dev.commsd.commsd.plist");
const LAUNCHD_LABEL: &str = "dev.commsd.commsd";

/// Register commsd as a user service that starts at login.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the unit (systemd) or LaunchAgent (launchd) for the current commsd binary and enable it.
    #[command(
        after_help = "Examples:\n  commsctl service install --dry-run\n  commsctl service install"
    )]
    Install(Target),
    /// Disable and remove the service definition.
    Uninstall(Target),
    /// Show where the service definition lives and whether it is active.
    Status(Target),
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// Print what would be written and run, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Service manager [default: systemd on Linux, launchd on macOS].
    #[arg(long, value_enum)]
    manager: Option<Manager>,
    /// The commsd binary the service runs [default: the one beside commsctl, else from PATH].
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }
}

/// A concrete plan: the file to write and the commands to run.
struct Plan {
    path: PathBuf,
    contents: String,
    install: Vec<Vec<String>>,
    uninstall: Vec<Vec<String>>,
    status: Vec<String>,
}

fn plan(target: &Target) -> anyhow::Result<Plan> {
    let manager = target.manager.unwrap_or_else(Manager::native);
    let bin = match &target.bin {
        Some(bin) => bin.clone(),
        None => default_binary()?,
    };
    let bin = std::path::absolute(&bin)?;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set")?;
    let argv = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    Ok(match manager {
        Manager::Systemd => {
            let config = std::env::var_os("XDG_CONFIG_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"));
            Plan {
                path: config.join("systemd/user/commsd.service"),
                contents: SYSTEMD_TEMPLATE.replace("{{COMMSD_BIN}}", &bin.display().to_string()),
                install: vec![
                    argv(&["systemctl", "--user", "daemon-reload"]),
                    argv(&["systemctl", "--user", "enable", "--now", "commsd.service"]),
                ],
                uninstall: vec![
                    argv(&["systemctl", "--user", "disable", "--now", "commsd.service"]),
                    argv(&["systemctl", "--user", "daemon-reload"]),
                ],
                status: argv(&["systemctl", "--user", "is-active", "commsd.service"]),
            }
        }
        Manager::Launchd => {
            let uid = rustix::process::getuid().as_raw();
            let path = home.join(format!("Library/LaunchAgents/{LAUNCHD_LABEL}.plist"));
            let logs = home.join("Library/Logs/commsd");
            Plan {
                contents: LAUNCHD_TEMPLATE
                    .replace("{{COMMSD_BIN}}", &xml_escape(&bin.display().to_string()))
                    .replace("{{LOG_DIR}}", &xml_escape(&logs.display().to_string())),
                install: vec![argv(&[
                    "launchctl",
                    "bootstrap",
                    &format!("gui/{uid}"),
                    &path.display().to_string(),
                ])],
                uninstall: vec![argv(&[
                    "launchctl",
                    "bootout",
                    &format!("gui/{uid}/{LAUNCHD_LABEL}"),
                ])],
                status: argv(&["launchctl", "print", &format!("gui/{uid}/{LAUNCHD_LABEL}")]),
                path,
            }
        }
    })
}

pub fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Install(target) => install(&target),
        Command::Uninstall(target) => uninstall(&target),
        Command::Status(target) => status(&target),
    }
}

fn install(target: &Target) -> anyhow::Result<()> {
    let plan = plan(target)?;
    if target.dry_run {
        return output::text(&format!(
            "would write {}:\n{}\nwould run:\n{}",
            plan.path.display(),
            plan.contents,
            render_commands(&plan.install)
        ));
    }
    let manager = &plan.install[0][0];
    if which(manager).is_none() {
        bail!(
            "`{manager}` is not on PATH, so the service cannot be registered here; \
             `commsctl service install --dry-run` prints the file to install by hand"
        );
    }
    if let Some(dir) = plan.path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = plan.path.with_extension("tmp");
    std::fs::write(&tmp, &plan.contents)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &plan.path)
        .with_context(|| format!("cannot write {}", plan.path.display()))?;
    output::text(&format!("wrote {}\n", plan.path.display()))?;
    run_all(&plan.install)?;
    output::text("commsd is installed as a user service; `commsctl status` shows it running\n")
}

fn uninstall(target: &Target) -> anyhow::Result<()> {
    let plan = plan(target)?;
    if target.dry_run {
        return output::text(&format!(
            "would run:\n{}would remove {}\n",
            render_commands(&plan.uninstall),
            plan.path.display()
        ));
    }
    if !plan.path.exists() {
        return output::text(&format!(
            "not installed ({} does not exist)\n",
            plan.path.display()
        ));
    }
    // Stop first; a manager that no longer knows the service is not an error here.
    for argv in &plan.uninstall {
        if let Err(e) = run(argv) {
            eprintln!("commsctl: warning: {e:#}");
        }
    }
    std::fs::remove_file(&plan.path)
        .with_context(|| format!("cannot remove {}", plan.path.display()))?;
    output::text(&format!("removed {}\n", plan.path.display()))
}

fn status(target: &Target) -> anyhow::Result<()> {
    let plan = plan(target)?;
    let installed = std::fs::read_to_string(&plan.path).ok();
    let state = match &installed {
        None => "not installed".to_owned(),
        Some(text) if *text == plan.contents => "installed, up to date".to_owned(),
        Some(_) => "installed, differs from this commsctl's template (run `commsctl service install` to update)".to_owned(),
    };
    let mut report = format!("{}: {state}\n", plan.path.display());
    if target.dry_run {
        report.push_str(&format!(
            "would run:\n{}",
            render_commands(std::slice::from_ref(&plan.status))
        ));
    } else if installed.is_some() {
        let active = Process::new(&plan.status[0])
            .args(&plan.status[1..])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_else(|e| format!("unknown ({}: {e})", plan.status[0]));
        report.push_str(&format!("service manager says: {active}\n"));
    }
    output::text(&report)
}

fn run_all(commands: &[Vec<String>]) -> anyhow::Result<()> {
    commands.iter().try_for_each(|argv| run(argv))
}

fn run(argv: &[String]) -> anyhow::Result<()> {
    let status = Process::new(&argv[0])
        .args(&argv[1..])
        .status()
        .with_context(|| format!("cannot run `{}`", argv.join(" ")))?;
    if !status.success() {
        bail!("`{}` failed ({status})", argv.join(" "));
    }
    Ok(())
}

fn render_commands(commands: &[Vec<String>]) -> String {
    commands
        .iter()
        .map(|c| format!("  {}\n", c.join(" ")))
        .collect()
}

fn default_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let beside = exe.parent().map(|d| d.join("commsd"));
    if let Some(p) = beside.filter(|p| p.is_file()) {
        return Ok(p);
    }
    which("commsd")
        .context("cannot find the commsd binary beside commsctl or on PATH; pass --bin PATH")
}

/// The first executable file called `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
