//! SMS sends to Twilio through the real daemon when Twilio or the network
//! misbehaves. A send is repeated only when Twilio surely did not act
//! (429); otherwise the item is `unknown`, and a human's approval first
//! looks the message up on Twilio: found, the approval is refused naming
//! it (nothing is sent twice); not found, it is sent once.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{approve, assert_ended, item, settled, stage, stays};
use crate::faultproxy::{FaultProxy, NetFault};
use crate::harness::{Daemon, Env};
use crate::sms_send::{FakeTwilio, SendMode, add_twilio, json_of, start};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const TO: &str = "+14155550100";
const SEND: &str = "POST /2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

struct Setup {
    env: Env,
    _daemon: Daemon,
    fake: FakeTwilio,
    proxy: FaultProxy,
    account: String,
}

/// A Twilio account at the scripted fake, reached through the fault proxy;
/// calls time out after 1 s.
fn setup() -> Setup {
    let fake = FakeTwilio::start();
    fake.set(|s| s.list_accepted = true);
    let proxy = FaultProxy::start(&format!("{}/", fake.base));
    let (env, daemon) = start(
        &proxy.base,
        "request_timeout = \"1s\"\n[outbox]\nhold_window = \"0s\"\n",
    );
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    Setup {
        env,
        _daemon: daemon,
        fake,
        proxy,
        account,
    }
}

impl Setup {
    fn send(&self, body: &str) -> String {
        let id = stage(
            &self.env,
            &[
                "sms",
                "--account",
                &self.account,
                "--to",
                TO,
                "--body",
                body,
            ],
        );
        approve(&self.env, &id);
        id
    }

    /// How many messages with `body` Twilio accepted.
    fn held(&self, body: &str) -> usize {
        self.fake
            .state
            .lock()
            .unwrap()
            .accepted
            .iter()
            .filter(|m| m["body"] == body)
            .count()
    }

    /// The SID Twilio gave the message with `body`.
    fn sid(&self, body: &str) -> String {
        let s = self.fake.state.lock().unwrap();
        let m: &Value = s.accepted.iter().find(|m| m["body"] == body).unwrap();
        m["sid"].as_str().unwrap().to_owned()
    }

    /// A human approves an `unknown` item that Twilio shows was sent: the
    /// approval is refused naming the message, and nothing is sent again.
    fn approval_refused_as_sent(&self, id: &str, body: &str) {
        let sid = self.sid(body);
        let run = self.env.commsctl(&["approve", id]);
        assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(said.contains(&sid) && said.contains("was sent"), "{said}");
        assert_eq!(item(&self.env, id)["state"], "unknown");
        assert_eq!(self.held(body), 1, "nothing was sent again");
        // The human's way out: cancel it.
        assert_eq!(self.env.commsctl(&["outbox", "cancel", id]).code, 0);
        assert_eq!(item(&self.env, id)["state"], "cancelled");
    }
}

#[test]
fn fault_twilio_send_429_is_waited_out_and_a_503_is_looked_up_before_it_is_sent_again() {
    let s = setup();

    // 429 with Retry-After: Twilio did nothing; sent once after a second.
    s.fake.set(|f| {
        f.mode = Some(SendMode::RateLimited);
        f.mode_times = Some(1);
    });
    let body = "Rate limited once: see you at 9:00";
    let started = Instant::now();
    let id = s.send(body);
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(s.held(body), 1);
    assert_eq!(s.fake.sends(), 2, "one refused, one accepted");

    // 429 on every attempt: failed, naming the cause; nothing sent.
    s.fake.set(|f| {
        f.mode = Some(SendMode::RateLimited);
        f.mode_times = Some(3);
    });
    let body = "Rate limited always";
    let id = s.send(body);
    let done = settled(&s.env, &id);
    assert_ended(&done, "failed", &["not sent after 3 attempts", "HTTP 429"]);
    assert_eq!(s.held(body), 0);

    // 503: Twilio may have sent it; unknown, never resent by itself. Not
    // on Twilio, so a human's approval sends it, once.
    s.fake.set(|f| {
        f.mode = Some(SendMode::Unavailable);
        f.mode_times = Some(1);
    });
    let body = "Unavailable: see you at 10:00";
    let id = s.send(body);
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["HTTP 503", "may have been sent"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held(body), 0);
    let lists = s.fake.state.lock().unwrap().lists;
    approve(&s.env, &id);
    assert!(
        s.fake.state.lock().unwrap().lists > lists,
        "looked up first"
    );
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert_eq!(s.held(body), 1, "sent exactly once");
}

#[test]
fn fault_twilio_send_lost_connections_and_slow_answers_are_unknown_and_never_sent_twice() {
    let s = setup();

    // Reset before Twilio read it: unknown; the lookup finds nothing, so a
    // human's approval sends it once.
    s.proxy.arm(SEND, NetFault::DropBeforeRead, 1);
    let body = "Dropped before: see you at 11:00";
    let id = s.send(body);
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["the connection to Twilio failed", "Twilio may have sent it"],
    );
    assert_eq!(s.proxy.struck(), vec![NetFault::DropBeforeRead]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held(body), 0);
    approve(&s.env, &id);
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert_eq!(s.held(body), 1, "sent exactly once");

    // Twilio took it and the answer was lost: unknown; the approval is
    // refused naming the message Twilio has.
    s.proxy.arm(SEND, NetFault::DropAnswer, 1);
    let body = "Answer lost: see you at 12:00";
    let id = s.send(body);
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["the connection to Twilio failed"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held(body), 1);
    s.approval_refused_as_sent(&id, body);

    // Twilio answers after request_timeout (1 s): unknown, and the late
    // answer changes nothing; the approval is refused as above.
    s.proxy.arm(SEND, NetFault::Slow(Duration::from_secs(3)), 1);
    let body = "Slow answer: see you at 13:00";
    let started = Instant::now();
    let id = s.send(body);
    let done = settled(&s.env, &id);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout did not cut the call short: {:?}",
        started.elapsed()
    );
    assert_ended(&done, "unknown", &["Twilio did not answer in time"]);
    stays(&s.env, &id, "unknown", Duration::from_secs(3));
    assert_eq!(s.held(body), 1);
    s.approval_refused_as_sent(&id, body);
    assert_eq!(s.proxy.pending(), 0, "every armed fault struck");
}
