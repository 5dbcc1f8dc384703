//! `commsctl completions SHELL`: shell completion scripts.

use clap_complete::Shell;

/// Print a completion script for your shell.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  commsctl completions bash > ~/.local/share/bash-completion/completions/commsctl
  commsctl completions zsh > ~/.zfunc/_commsctl
  commsctl completions fish > ~/.config/fish/completions/commsctl.fish")]
pub struct Args {
    /// The shell to generate for.
    shell: Shell,
}

pub fn execute(args: Args, command: &mut clap::Command) -> anyhow::Result<()> {
    clap_complete::generate(args.shell, command, "commsctl", &mut std::io::stdout());
    Ok(())
}
