//! The daemon's status as a domain type: the adapters (gRPC `Status`,
//! `GET /api/v1/status`, the dashboard) convert it into their own shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// What `commsctl status`, the API and the dashboard report.
#[derive(Debug, Clone)]
pub struct Status {
    pub version: &'static str,
    pub protocol: u32,
    pub pid: u32,
    pub uptime: Duration,
    pub started_at_unix_ms: i64,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    /// The config file, when one was loaded.
    pub config_path: Option<PathBuf>,
    pub dashboard_url: String,
    pub api_url: String,
    pub webhook_url: String,
    /// Named counters: the daemon's, the outbox's (`outbox_<state>`) and
    /// every provider's.
    pub counts: BTreeMap<String, u64>,
    /// Items per state.
    pub outbox: BTreeMap<String, u64>,
    /// Providers' structured statistics, by provider (e.g. `gmail`).
    pub providers: BTreeMap<&'static str, Value>,
    /// Things a human should act on, e.g. API keys about to expire.
    pub warnings: Vec<String>,
}

impl Status {
    /// The link where a human reviews item `id`.
    pub fn review_url(&self, id: &str) -> String {
        format!("{}/review/{id}", self.dashboard_url)
    }
}
