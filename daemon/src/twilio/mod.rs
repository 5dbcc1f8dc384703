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
//! - `transport`: the outbox transport of SMS (send once, the lookup of an
//!   `unknown` send before it is approved again).
//! - `optouts`: who opted out of which sender; `delivery`: sent messages
//!   and their status callbacks; `quiet`: quiet hours.
//! - `provider`: the registration.
//! - `webhook`: the webhook routes (signature checks, then inbound
//!   messages and status callbacks).
//! - `inbound`: received messages, stored before the webhook is answered.
//! - `media`: MMS media downloads.
//! - `read`: reading SMS (Twilio accounts and the sandbox).
//! - `poll`: the polling fallback (`[twilio] poll_interval`).
//! - `receive`: registers the receiving side (routes, counters, hooks).
//! - `tools`, `api`: the SMS read tools and `/api/v1/sms` routes.

pub mod accounts;
pub mod api;
pub mod client;
pub mod config;
pub mod delivery;
pub mod errors;
pub mod inbound;
pub mod inbox_source;
pub mod keywords;
pub mod media;
pub mod optouts;
pub mod poll;
pub mod provider;
pub mod quiet;
pub mod read;
pub mod receive;
pub mod segments;
pub mod signature;
pub mod tools;
pub mod transport;
pub mod webhook;

pub use config::TwilioConfig;
