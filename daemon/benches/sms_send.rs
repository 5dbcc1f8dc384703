//! SMS send throughput to Twilio's API contract (Prism serving
//! `twilio_api_v2010.json`, as the tests use it):
//! 1. the REST client alone, 16 concurrent sends (the contract server's own
//!    capacity: the floor of what commsd can reach),
//! 2. through the real daemon: 500 SMS staged on a Twilio account, approved
//!    in one call, dispatched (16 at a time per account) until all are sent.
//!
//! Run with `cargo bench -p commsd --bench sms_send` (needs the test peers:
//! scripts/test installs Prism and the spec). Prints plain figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "../../tests/support/twilio.rs"]
mod twilio_peers;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commsd::twilio::client::{Auth, Send, TwilioClient};
use commsd::vault::Secret;
use commsd_proto::v1::{
    self, accounts_client::AccountsClient, control_client::ControlClient,
    outbox_client::OutboxClient,
};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const RAW: usize = 500;
const ITEMS: usize = 500;
const CONCURRENCY: usize = 16;

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, api_base: &str) -> Daemon {
    let config = format!(
        "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n[vault]\nbackend = \"file\"\n[outbox]\nhold_window = \"0s\"\nconcurrency_per_account = {CONCURRENCY}\n[twilio]\napi_base = \"{api_base}\"\npublic_url = \"https://sms.example.test\"\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_commsd"))
        .env("COMMSD_CONFIG", dir.join("config.toml"))
        .env("COMMSD_DATA_DIR", dir.join("data"))
        .env("COMMSD_SOCKET", dir.join("run/commsd.sock"))
        .env("COMMSD_VAULT_PASSPHRASE", "a bench passphrase")
        .env("COMMSD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(dir.join("run/commsd.sock")).is_err() {
        assert!(Instant::now() < deadline, "daemon did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    Daemon(child)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn count(channel: &tonic::transport::Channel, key: &str) -> u64 {
    let status = ControlClient::new(channel.clone())
        .status(v1::StatusRequest {
            client_protocol: commsd_proto::PROTOCOL_VERSION,
            client_version: commsd_proto::VERSION.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    status.counts.get(key).copied().unwrap_or(0)
}

fn main() {
    let prism = twilio_peers::Prism::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // 1. The client alone.
        let client = Arc::new(
            TwilioClient::new(&prism.base, Auth::new(AC, None, Secret::new("bench-token")).unwrap()).unwrap(),
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CONCURRENCY {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                for i in (c..RAW).step_by(CONCURRENCY) {
                    let send = Send {
                        to: format!("+1415555{:04}", i % 10_000),
                        messaging_service_sid: Some(MG.to_owned()),
                        body: format!("Reminder {i}: your appointment is tomorrow at 9:00."),
                        status_callback: Some("https://sms.example.test/webhooks/twilio/status".to_owned()),
                        ..Send::default()
                    };
                    let t = Instant::now();
                    client.create_message(&send).await.unwrap();
                    samples.push(t.elapsed());
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for t in tasks {
            samples.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        samples.sort();
        println!(
            "client alone, {RAW} sends to Prism ({CONCURRENCY} concurrent): {:.0} sends/s, p50 {:.1} ms, p99 {:.1} ms",
            RAW as f64 / elapsed.as_secs_f64(),
            percentile(&samples, 50.0).as_secs_f64() * 1e3,
            percentile(&samples, 99.0).as_secs_f64() * 1e3
        );

        // 2. Through the daemon: staged, approved, dispatched, sent.
        let dir = tempfile::tempdir().unwrap();
        let _daemon = start(dir.path(), &prism.base);
        let connected = commsd_proto::client::connect(&dir.path().join("run/commsd.sock")).await.unwrap();
        let channel = connected.channel;
        let added = AccountsClient::new(channel.clone())
            .add_twilio(v1::AddTwilioRequest {
                account_sid: AC.to_owned(),
                messaging_service_sid: Some(MG.to_owned()),
                secret: "bench-token".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let account = added.account.unwrap().id;
        let mut outbox = OutboxClient::new(channel.clone());
        for i in 0..ITEMS {
            outbox
                .stage(v1::StageRequest {
                    account: account.clone(),
                    priority: v1::Priority::Normal as i32,
                    client_request_id: String::new(),
                    content: Some(v1::stage_request::Content::Sms(v1::SmsContent {
                        to: format!("+1415555{:04}", i % 10_000),
                        body: format!("Reminder {i}: your appointment is tomorrow at 9:00."),
                    })),
                })
                .await
                .unwrap();
        }
        let started = Instant::now();
        outbox
            .approve(v1::ApproveRequest { ids: vec![], matching: Some(v1::ItemFilter::default()) })
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while count(&channel, "outbox_sent").await < ITEMS as u64 {
            assert!(Instant::now() < deadline, "not all sent: {} failed", count(&channel, "outbox_failed").await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let total = started.elapsed();
        println!(
            "through commsd, {ITEMS} SMS approved in one call until all sent ({CONCURRENCY} per account): {:.2} s, {:.0} SMS/s",
            total.as_secs_f64(),
            ITEMS as f64 / total.as_secs_f64()
        );
    });
}
