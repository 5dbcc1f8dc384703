//! One module per subcommand: its clap arguments and an `execute` function.

pub mod accounts;
pub mod approve;
pub mod audit;
pub mod chat;
pub mod completions;
pub mod contacts;
pub mod daemon;
pub mod dashboard;
pub mod events;
pub mod gmail;
pub mod inbox;
pub mod keys;
pub mod mail;
pub mod outbox;
pub mod sandbox;
pub mod service;
pub mod sms;
pub mod sms_read;
pub mod status;
pub mod vault;
