//! SMS through Twilio: the provider's self-contained parts, each a pure
//! function or a typed client, which the webhook handlers, the outbox
//! transport and the tools are built on.
//!
//! - `signature`: `X-Twilio-Signature` checks of webhooks (form and JSON).
//! - `segments`: GSM-7 / UCS-2 encoding, segment count and cost, body limit.
//! - `keywords`: opt-out, opt-in and help keywords of an inbound body.
//! - `errors`: Twilio's error codes explained for humans.
//! - `client`: the REST client (credential check, send, lookup, media).
//! - `config`: `[twilio]`.
//! - `accounts`: Twilio accounts (settings, secret, adding, look-ups).
//! - `webhook`: the webhook routes (signature checks, then inbound
//!   messages and status callbacks).
//! - `inbound`: received messages, stored before the webhook is answered.
//! - `media`: MMS media downloads.
//! - `read`: reading SMS (Twilio accounts and the sandbox).
//! - `receive`: registers the receiving side (routes, counters, hooks).
//! - `tools`, `api`: the SMS read tools and `/api/v1/sms` routes.

pub mod accounts;
pub mod api;
pub mod client;
pub mod config;
pub mod errors;
pub mod inbound;
pub mod keywords;
pub mod media;
pub mod read;
pub mod receive;
pub mod segments;
pub mod signature;
pub mod tools;
pub mod webhook;

pub use config::TwilioConfig;
