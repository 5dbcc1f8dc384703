//! Chat posts through an incoming webhook (a `chat_webhook` account)
//! through the real daemon when Google or the network misbehaves: the
//! webhook's own retry rules (429 waited out within the cap; 5xx, drops and
//! timeouts unknown) and the same `requestId` on every attempt, so a
//! human's approval of an `unknown` post returns the message Google has.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{approve, assert_ended, runtime, settled, stage, stays};
use crate::faultproxy::{FaultProxy, NetFault};
use crate::google_fake::Fault;
use crate::google_fake::chat::ChatFake;
use crate::harness::{Daemon, Env, PORT_ZERO_CONFIG};

const SPACE: &str = "spaces/AAAAfront";
const CREATE: &str = "chat.spaces.messages.create";

struct Setup {
    env: Env,
    _daemon: Daemon,
    fake: ChatFake,
    proxy: FaultProxy,
    account: String,
    _rt: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    let rt = runtime();
    let fake = rt.block_on(ChatFake::start());
    fake.add_space(SPACE, "Front desk");
    let proxy = FaultProxy::start(&fake.base);
    let url = fake.add_webhook(SPACE).replace(&fake.base, &proxy.base);
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"file\"\n[google.endpoints]\nchat = \"{}\"\n[outbox]\nhold_window = \"0s\"\n[chat]\nrequest_timeout = \"1s\"\nretry_base = \"20ms\"\nmax_attempts = 3\n",
            proxy.base
        ),
    )
    .unwrap();
    let mut cmd = env.commsd();
    cmd.env("COMMSD_VAULT_PASSPHRASE", crate::accounts::PASSPHRASE);
    let daemon = env.spawn_traced(cmd);
    let (code, stdout, stderr) = crate::chat::add_webhook(&env, &url, &[]);
    assert_eq!(code, 0, "{stderr}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    Setup {
        env,
        _daemon: daemon,
        fake,
        proxy,
        account,
        _rt: rt,
    }
}

impl Setup {
    fn post(&self, text: &str) -> String {
        let id = stage(
            &self.env,
            &[
                "chat",
                "--account",
                &self.account,
                "--space",
                SPACE,
                "--text",
                text,
            ],
        );
        approve(&self.env, &id);
        id
    }

    fn held(&self, text: &str) -> usize {
        self.fake
            .messages(SPACE)
            .iter()
            .filter(|m| m.text == text)
            .count()
    }

    fn approved_again_posts_once(&self, id: &str, text: &str) {
        approve(&self.env, id);
        assert_eq!(settled(&self.env, id)["state"], "sent");
        assert_eq!(self.held(text), 1, "posted exactly once");
    }
}

#[test]
fn fault_chat_webhook_send_429_5xx_drops_and_slow_answers_end_clearly_and_post_once() {
    let s = setup();

    // 429 with Retry-After: waited out, posted once.
    s.fake.inject(Fault {
        retry_after_s: Some(1),
        ..Fault::new(CREATE, 429)
    });
    let started = Instant::now();
    let id = s.post("Rate limited once");
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(s.held("Rate limited once"), 1);

    // 429 asking for an hour: failed at once, naming the cause.
    s.fake.inject(Fault {
        retry_after_s: Some(3600),
        ..Fault::new(CREATE, 429)
    });
    let started = Instant::now();
    let id = s.post("Rate limited for an hour");
    let done = settled(&s.env, &id);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_ended(&done, "failed", &["rate_limited"]);
    assert_eq!(s.held("Rate limited for an hour"), 0);

    // 500 after Google posted it: unknown; approved again, the same
    // requestId returns the message already there.
    s.fake.inject(Fault {
        after_processing: true,
        ..Fault::new(CREATE, 500)
    });
    let id = s.post("Posted then 500");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["500"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Posted then 500"), 1);
    s.approved_again_posts_once(&id, "Posted then 500");

    let needle = format!("POST /v1/{SPACE}/messages");
    // Reset before Google read it: unknown, nothing posted; posted once
    // when approved again.
    s.proxy.arm(&needle, NetFault::DropBeforeRead, 1);
    let id = s.post("Dropped before");
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["the connection to Google Chat was lost"],
    );
    assert_eq!(s.held("Dropped before"), 0);
    s.approved_again_posts_once(&id, "Dropped before");

    // The answer lost after Google posted: unknown, once after approval.
    s.proxy.arm(&needle, NetFault::DropAnswer, 1);
    let id = s.post("Answer lost");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["Google Chat"]);
    assert_eq!(s.held("Answer lost"), 1);
    s.approved_again_posts_once(&id, "Answer lost");

    // Slower than request_timeout: unknown, naming the timeout.
    s.proxy
        .arm(&needle, NetFault::Slow(Duration::from_secs(3)), 1);
    let id = s.post("Slow answer");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["Google Chat did not answer in time"]);
    stays(&s.env, &id, "unknown", Duration::from_secs(3));
    assert_eq!(s.held("Slow answer"), 1);
    s.approved_again_posts_once(&id, "Slow answer");
    assert_eq!(s.proxy.pending(), 0);
    s.fake.assert_no_violations();
}
