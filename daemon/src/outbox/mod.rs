//! The outbox: every outgoing message is staged here, decided by policy,
//! approved by a human where needed, dispatched, and audited.

pub mod attachments;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod item;
pub mod mime;
pub mod model;
pub mod policy;
pub mod request;
pub mod resolver;
pub mod service;
pub mod transport;
pub mod validate;
pub mod view;
