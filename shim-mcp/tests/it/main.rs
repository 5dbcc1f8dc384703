//! Integration tests of the MCP frontends against the real daemon: rmcp's
//! own client in process (duplex pipe), the real comms-mcp binary over
//! stdio, and /mcp over HTTP. The Python SDK, the Inspector and the
//! conformance suite run from scripts/test (tests/mcp/).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tests/support/harness.rs"]
mod harness;
#[path = "../../../tests/support/oauth.rs"]
mod oauth;

mod deps;
mod http;
mod inprocess;
mod stdio;

/// Config that enables every toolset, for the golden list and the budget.
pub const ALL_TOOLSETS: &str = "[mcp]\ntoolsets = [\"accounts\", \"gmail_read\", \"gmail_compose\", \"gmail_modify\", \"email\", \"outbox\", \"chat\", \"sms\", \"contacts\", \"inbox\"]\n";

/// A daemon whose config is port-0 listeners plus `extra`.
pub fn daemon_with(extra: &str) -> (harness::Env, harness::Daemon) {
    let env = harness::Env::new();
    let mut config = std::fs::read_to_string(&env.config).unwrap();
    config.push_str(extra);
    std::fs::write(&env.config, config).unwrap();
    let daemon = env.start();
    (env, daemon)
}
