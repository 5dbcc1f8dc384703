//! Integration tests of the real commsd binary, driven with the real commsctl.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/support/dovecot.rs"]
mod dovecot;
#[path = "../../../tests/support/harness.rs"]
mod harness;
#[path = "../../../tests/support/oauth.rs"]
mod oauth;

mod accounts;
mod api;
mod faults;
mod lifecycle;
mod mail;
mod mail_accounts;
mod outbox;
