//! Integration tests of the real commsd binary, driven with the real commsctl.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/support/dovecot.rs"]
mod dovecot;
#[path = "../../../tests/support/faultproxy.rs"]
mod faultproxy;
#[path = "../../../tests/support/harness.rs"]
mod harness;
#[path = "../../../tests/support/oauth.rs"]
mod oauth;
#[path = "../../../tests/support/twilio.rs"]
mod twilio_peers;

#[path = "../../../tests/support/google_fake/mod.rs"]
mod google_fake;

mod accounts;
mod api;
mod architecture;
mod chat;
mod consent;
mod contacts;
mod events;
mod fault_disk;
mod fault_net;
mod fault_vault;
mod faults;
mod fuzz_api;
mod gmail;
mod gmail_daemon;
mod gmail_service;
mod google;
mod hangups;
mod inbox;
mod inbox_reply;
mod lifecycle;
mod listeners;
mod mail;
mod mail_accounts;
mod mail_restarts;
mod mail_trust;
mod outbox;
mod sandbox;
mod sms_delivery;
mod sms_receive;
mod sms_send;
mod tokens;
mod tool_contract;
mod twilio;
mod vault;
