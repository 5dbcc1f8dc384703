//! Outbox throughput against the real daemon over its socket:
//! 1. stage 10,000 items durably (32 concurrent clients),
//! 2. approve them all and dispatch them to the sandbox,
//! 3. list a page of 50 from 10,000 pending items (p50, p99).
//!
//! Run with `cargo bench -p commsd --bench outbox`. Prints plain figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commsd_proto::v1::{self, control_client::ControlClient, outbox_client::OutboxClient};

const ITEMS: usize = 10_000;
const CLIENTS: usize = 32;
const LIST_CALLS: usize = 1_000;
const CONFIG: &str = "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n\n[outbox]\nconcurrency_per_account = 16\n";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> Daemon {
    std::fs::write(dir.join("config.toml"), CONFIG).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_commsd"))
        .env("COMMSD_CONFIG", dir.join("config.toml"))
        .env("COMMSD_DATA_DIR", dir.join("data"))
        .env("COMMSD_SOCKET", dir.join("run/commsd.sock"))
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

fn sms(i: usize) -> v1::StageRequest {
    v1::StageRequest {
        account: String::new(),
        priority: v1::Priority::Normal as i32,
        client_request_id: String::new(),
        content: Some(v1::stage_request::Content::Sms(v1::SmsContent {
            to: format!("+1415555{:04}", i % 10_000),
            body: format!("Reminder {i}: your appointment is tomorrow at 9:00."),
        })),
    }
}

async fn stage_all(channel: &tonic::transport::Channel) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = OutboxClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..ITEMS).step_by(CLIENTS) {
                client.stage(sms(i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _daemon = start(dir.path());
    runtime.block_on(async {
        let connected = commsd_proto::client::connect(&dir.path().join("run/commsd.sock")).await.unwrap();
        let channel = connected.channel;

        let staged = stage_all(&channel).await;
        println!(
            "stage {ITEMS} items durably ({CLIENTS} clients): {:.2} s, {:.0} items/s",
            staged.as_secs_f64(),
            ITEMS as f64 / staged.as_secs_f64()
        );

        let started = Instant::now();
        let approved = OutboxClient::new(channel.clone())
            .approve(v1::ApproveRequest { ids: vec![], matching: Some(v1::ItemFilter::default()) })
            .await
            .unwrap()
            .into_inner();
        let approve_time = started.elapsed();
        assert_eq!(approved.results.len(), ITEMS);
        while count(&channel, "outbox_sent").await < ITEMS as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let total = started.elapsed();
        println!(
            "approve all {ITEMS} (one call): {:.2} s; approve + dispatch to the sandbox: {:.2} s, {:.0} items/s",
            approve_time.as_secs_f64(),
            total.as_secs_f64(),
            ITEMS as f64 / total.as_secs_f64()
        );

        stage_all(&channel).await;
        let mut client = OutboxClient::new(channel.clone());
        let request = v1::ListItemsRequest {
            filter: Some(v1::ItemFilter { states: vec![v1::State::PendingApproval as i32], ..Default::default() }),
            limit: 50,
            cursor: String::new(),
        };
        let mut samples = Vec::with_capacity(LIST_CALLS);
        for _ in 0..LIST_CALLS {
            let t = Instant::now();
            let page = client.list(request.clone()).await.unwrap().into_inner();
            samples.push(t.elapsed());
            assert_eq!(page.items.len(), 50);
        }
        samples.sort();
        println!(
            "list a page of 50 from {ITEMS} pending: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&samples, 50.0).as_secs_f64() * 1e3,
            percentile(&samples, 99.0).as_secs_f64() * 1e3
        );
    });
}
