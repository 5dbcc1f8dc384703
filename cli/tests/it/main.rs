//! Integration tests of the real commsctl binary against the real commsd.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/support/harness.rs"]
mod harness;

mod daemon_cmd;
mod deps;
mod misc;
mod outbox;
mod service;
mod status;
mod vault;
mod version;
