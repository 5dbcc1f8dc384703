//! Chat posts through the Chat API of a Google account, through the real
//! daemon, when Google or the network misbehaves. Every attempt of an
//! item carries the same `requestId`, so a human's approval of an
//! `unknown` post makes Google return the message it already has instead
//! of posting it twice.

use std::time::{Duration, Instant};

use super::{ADA, BehindProxy, approve, assert_ended, behind_proxy, settled, stage, stays};
use crate::faultproxy::NetFault;
use crate::google_fake::Fault;
use crate::google_fake::chat::ChatFake;

const SPACE: &str = "spaces/AAAAfront";
const CREATE: &str = "chat.spaces.messages.create";

type Setup = BehindProxy<ChatFake>;

/// Ada (chat module) and a space at the fake, reached through the fault
/// proxy; calls time out after 1 s, each is tried at most 3 times.
fn setup() -> Setup {
    behind_proxy(
        |rt| {
            let fake = rt.block_on(ChatFake::start());
            fake.add_space(SPACE, "Front desk");
            fake
        },
        "chat",
        "[outbox]\nhold_window = \"0s\"\n[chat]\nrequest_timeout = \"1s\"\nretry_base = \"20ms\"\nmax_attempts = 3\n",
        &["--tier", "1", "--with", "chat"],
    )
}

impl Setup {
    fn post(&self, text: &str) -> String {
        let id = stage(
            &self.env,
            &["chat", "--account", ADA, "--space", SPACE, "--text", text],
        );
        approve(&self.env, &id);
        id
    }

    /// The names of the space's messages with `text`.
    fn held(&self, text: &str) -> Vec<String> {
        self.fake
            .messages(SPACE)
            .into_iter()
            .filter(|m| m.text == text)
            .map(|m| m.name)
            .collect()
    }

    /// A human approves the `unknown` item `id` again: it ends `sent`,
    /// naming the one message the space holds.
    fn approved_again_posts_once(&self, id: &str, text: &str) {
        approve(&self.env, id);
        let done = settled(&self.env, id);
        assert_eq!(done["state"], "sent", "{done}");
        let held = self.held(text);
        assert_eq!(held.len(), 1, "posted exactly once: {held:?}");
        let detail = done["delivery"]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(&held[0]), "{detail} names {}", held[0]);
    }
}

#[test]
fn fault_chat_send_429_is_waited_out_and_5xx_are_unknown_and_posted_once() {
    let s = setup();

    // 429 with Retry-After: Google did nothing; posted once after a second.
    s.fake.inject(Fault {
        retry_after_s: Some(1),
        ..Fault::new(CREATE, 429)
    });
    let started = Instant::now();
    let id = s.post("Rate limited once");
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(s.held("Rate limited once").len(), 1);

    // 429 on every attempt: failed, naming the cause; nothing posted.
    s.fake.inject(Fault {
        retry_after_s: Some(1),
        times: 3,
        ..Fault::new(CREATE, 429)
    });
    let id = s.post("Rate limited always");
    let done = settled(&s.env, &id);
    assert_ended(&done, "failed", &["rate_limited"]);
    assert!(s.held("Rate limited always").is_empty());

    // 503 before Google acted: unknown, never reposted by itself; the
    // human's approval posts it once.
    s.fake.inject(Fault::new(CREATE, 503));
    let id = s.post("Unavailable");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["no clear answer", "503"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert!(s.held("Unavailable").is_empty());
    s.approved_again_posts_once(&id, "Unavailable");

    // 500 after Google posted it: unknown; approved again, the same
    // requestId gets the same message back, not a second one.
    s.fake.inject(Fault {
        after_processing: true,
        ..Fault::new(CREATE, 500)
    });
    let id = s.post("Posted then 500");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["no clear answer", "500"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Posted then 500").len(), 1);
    s.approved_again_posts_once(&id, "Posted then 500");
    s.fake.assert_no_violations();
}

#[test]
fn fault_chat_send_lost_connections_and_slow_answers_are_unknown_and_posted_once() {
    let s = setup();
    let needle = format!("POST /v1/{SPACE}/messages");

    // Reset before Google read it: unknown, nothing posted; approved
    // again, posted once.
    s.proxy.arm(&needle, NetFault::DropBeforeRead, 1);
    let id = s.post("Dropped before");
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "the connection to Chat was lost"],
    );
    assert_eq!(s.proxy.struck(), vec![NetFault::DropBeforeRead]);
    assert!(s.held("Dropped before").is_empty());
    s.approved_again_posts_once(&id, "Dropped before");

    // Google posted it and the answer was lost: unknown; approved again,
    // Google returns the same message.
    s.proxy.arm(&needle, NetFault::DropAnswer, 1);
    let id = s.post("Answer lost");
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "the connection to Chat was lost"],
    );
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Answer lost").len(), 1);
    s.approved_again_posts_once(&id, "Answer lost");

    // The answer comes after request_timeout (1 s): unknown; once the late
    // answer has come, approved again, still one message.
    s.proxy
        .arm(&needle, NetFault::Slow(Duration::from_secs(3)), 1);
    let started = Instant::now();
    let id = s.post("Slow answer");
    let done = settled(&s.env, &id);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout did not cut the call short: {:?}",
        started.elapsed()
    );
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "Chat did not answer in time"],
    );
    stays(&s.env, &id, "unknown", Duration::from_secs(3));
    assert_eq!(s.held("Slow answer").len(), 1);
    s.approved_again_posts_once(&id, "Slow answer");
    assert_eq!(s.proxy.pending(), 0, "every armed fault struck");
    s.fake.assert_no_violations();
}
