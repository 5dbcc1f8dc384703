//! Integration tests of the real commsd binary, driven with the real commsctl.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/support/harness.rs"]
mod harness;

mod api;
mod faults;
mod lifecycle;
mod outbox;
mod vault;
