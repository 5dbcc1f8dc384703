//! One module per subcommand: its clap arguments and an `execute` function.

pub mod completions;
pub mod daemon;
pub mod events;
pub mod service;
pub mod status;
