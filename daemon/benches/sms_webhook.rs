//! Inbound SMS on the webhook listener, with the real (release) daemon:
//! 1. signed inbound webhooks (`POST /webhooks/twilio/sms`, each a distinct
//!    MessageSid, stored durably before the 200) at 32 concurrent
//!    connections, next to `/healthz` on the same listener at the same
//!    concurrency (the floor), in alternating rounds; the median round of
//!    each is printed;
//! 2. inbound webhook → `received` event on the dashboard's SSE stream, and
//!    → `inbox` (the message indexed by the unified inbox)
//!    (`/dashboard/api/events`, logged in like `commsctl dashboard`), one
//!    webhook at a time.
//!
//! At the end the rows in `sms_messages` must equal the webhooks posted.
//! Run with `cargo bench -p commsd --bench sms_webhook` (needs Prism for the
//! account's credential check: scripts/test installs it). Prints plain
//! figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

#[path = "../../tests/support/twilio.rs"]
mod twilio_peers;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use commsd::twilio::signature::compute;
use commsd_proto::v1::{
    self, accounts_client::AccountsClient, control_client::ControlClient,
    dashboard_client::DashboardClient,
};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const TOKEN: &str = "bench-token";
const PUBLIC: &str = "https://sms.example.test";
const PATH: &str = "/webhooks/twilio/sms";
const CONNECTIONS: usize = 32;
const ROUNDS: usize = 3;
const PER_ROUND: usize = 4_000;
const WARMUP: usize = 500;
const SSE_SAMPLES: usize = 200;

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
        "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n[vault]\nbackend = \"file\"\n[twilio]\napi_base = \"{api_base}\"\npublic_url = \"{PUBLIC}\"\n"
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A signed inbound message, as Twilio posts it: (form body, signature).
fn signed_inbound(n: u64) -> (String, String) {
    let sid = format!("SM{n:032x}");
    let body = format!("Reply {n}: yes, 9:00 tomorrow works for me.");
    let params: Vec<(String, String)> = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid.as_str()),
        ("NumMedia", "0"),
        ("SmsSid", sid.as_str()),
        ("SmsStatus", "received"),
        ("Body", body.as_str()),
        ("To", "+15550001111"),
        ("NumSegments", "1"),
        ("MessageSid", sid.as_str()),
        ("AccountSid", AC),
        ("From", "+15552223333"),
        ("MessagingServiceSid", MG),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = compute(TOKEN.as_bytes(), &format!("{PUBLIC}{PATH}"), &params);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    (form, signature)
}

/// One round's figures.
#[derive(Clone, Copy)]
struct Round {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// `requests` spread over `CONNECTIONS` connections (one keep-alive client
/// each, requests in turn); every answer must be 200. `None` bodies are
/// `GET /healthz`, the others signed webhooks.
async fn round(base: &str, requests: Vec<Option<(String, String)>>) -> Round {
    let total = requests.len();
    let mut lanes: Vec<Vec<Option<(String, String)>>> = vec![Vec::new(); CONNECTIONS];
    for (i, r) in requests.into_iter().enumerate() {
        lanes[i % CONNECTIONS].push(r);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in lanes {
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut samples = Vec::with_capacity(lane.len());
            for request in lane {
                let t = Instant::now();
                let response = match request {
                    None => http.get(format!("{base}/healthz")).send().await,
                    Some((form, signature)) => {
                        http.post(format!("{base}{PATH}"))
                            .header("content-type", "application/x-www-form-urlencoded")
                            .header("x-twilio-signature", signature)
                            .body(form)
                            .send()
                            .await
                    }
                }
                .unwrap();
                let status = response.status();
                let _ = response.bytes().await.unwrap();
                samples.push(t.elapsed());
                assert_eq!(status, 200, "a request was refused");
            }
            samples
        }));
    }
    let mut samples = Vec::with_capacity(total);
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    samples.sort();
    Round {
        per_sec: total as f64 / elapsed.as_secs_f64(),
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
    }
}

fn median(mut rounds: Vec<Round>) -> (Round, f64, f64) {
    rounds.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    let (lo, hi) = (rounds[0].per_sec, rounds[rounds.len() - 1].per_sec);
    (rounds[rounds.len() / 2], lo, hi)
}

fn stored_rows(dir: &Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("data/commsd.db")).unwrap();
    db.query_row("SELECT COUNT(*) FROM sms_messages", [], |r| r.get(0))
        .unwrap()
}

/// Reads SSE frames until one that `wanted` accepts arrives.
async fn wait_frame(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    wanted: impl Fn(&str) -> bool,
) {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if wanted(&frame) {
                return;
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("no event within 10 s")
            .unwrap()
            .expect("the event stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

fn main() {
    let prism = twilio_peers::Prism::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let _daemon = start(dir.path(), &prism.base);
        let connected = commsd_proto::client::connect(&dir.path().join("run/commsd.sock"))
            .await
            .unwrap();
        let channel = connected.channel;
        AccountsClient::new(channel.clone())
            .add_twilio(v1::AddTwilioRequest {
                account_sid: AC.to_owned(),
                messaging_service_sid: Some(MG.to_owned()),
                secret: TOKEN.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let status = ControlClient::new(channel.clone())
            .status(v1::StatusRequest {
                client_protocol: commsd_proto::PROTOCOL_VERSION,
                client_version: commsd_proto::VERSION.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let webhooks = status.webhook_url.trim_end_matches('/').to_owned();
        let dashboard = status.dashboard_url.trim_end_matches('/').to_owned();

        // 1. Webhooks next to /healthz, alternating rounds.
        let mut next_sid = 0u64;
        let mut batch = |n: usize| -> Vec<Option<(String, String)>> {
            let out = (next_sid..next_sid + n as u64).map(|i| Some(signed_inbound(i))).collect();
            next_sid += n as u64;
            out
        };
        round(&webhooks, batch(WARMUP)).await;
        round(&webhooks, vec![None; WARMUP]).await;
        let (mut hooks, mut health) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            health.push(round(&webhooks, vec![None; PER_ROUND]).await);
            hooks.push(round(&webhooks, batch(PER_ROUND)).await);
        }
        let (h, h_lo, h_hi) = median(health);
        let (w, w_lo, w_hi) = median(hooks);
        println!(
            "GET /healthz on the webhook listener, {CONNECTIONS} connections (floor), median of {ROUNDS} rounds of {PER_ROUND}: {:.0} req/s (rounds {h_lo:.0}–{h_hi:.0}), p50 {:.2} ms, p99 {:.2} ms",
            h.per_sec,
            ms(h.p50),
            ms(h.p99)
        );
        println!(
            "signed inbound webhooks stored durably, {CONNECTIONS} connections, median of {ROUNDS} rounds of {PER_ROUND}: {:.0} req/s (rounds {w_lo:.0}–{w_hi:.0}), p50 {:.2} ms, p99 {:.2} ms  [target ≥ 2,000/s, p99 ≤ 20 ms]",
            w.per_sec,
            ms(w.p50),
            ms(w.p99)
        );

        // 2. Webhook → event on the dashboard's SSE stream.
        let login = DashboardClient::new(channel.clone())
            .create_login(v1::CreateLoginRequest { next: "/review".to_owned() })
            .await
            .unwrap()
            .into_inner();
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = browser.get(&login.url).send().await.unwrap();
        assert!(answer.status().is_redirection(), "login refused: {}", answer.status());
        let mut stream = browser
            .get(format!("{dashboard}/dashboard/api/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200, "no event stream");
        let http = reqwest::Client::new();
        let mut buffer = String::new();
        let mut to_event = Vec::with_capacity(SSE_SAMPLES);
        let mut to_inbox = Vec::with_capacity(SSE_SAMPLES);
        for _ in 0..SSE_SAMPLES {
            let n = next_sid;
            next_sid += 1;
            let (form, signature) = signed_inbound(n);
            let sid = format!("SM{n:032x}");
            let t = Instant::now();
            let response = http
                .post(format!("{webhooks}{PATH}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", signature)
                .body(form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            wait_frame(&mut stream, &mut buffer, |f| {
                f.contains("event: received") && f.contains(&sid)
            })
            .await;
            to_event.push(t.elapsed());
            // Then indexed: the unified inbox's event (searchable from here).
            wait_frame(&mut stream, &mut buffer, |f| f.contains("event: inbox")).await;
            to_inbox.push(t.elapsed());
        }
        to_event.sort();
        to_inbox.sort();
        println!(
            "inbound webhook → `received` on the dashboard SSE stream, {SSE_SAMPLES} one at a time: p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&to_event, 50.0)),
            ms(percentile(&to_event, 99.0))
        );
        println!(
            "inbound webhook → `inbox` (indexed) on the dashboard SSE stream, {SSE_SAMPLES} one at a time: p50 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&to_inbox, 50.0)),
            ms(percentile(&to_inbox, 99.0))
        );

        // Honest figures: every webhook answered 200 is a row.
        let rows = stored_rows(dir.path());
        println!("stored rows in sms_messages: {rows}, webhooks posted: {next_sid}");
        assert_eq!(rows, next_sid as i64, "stored count differs from posted count");
    });
}
