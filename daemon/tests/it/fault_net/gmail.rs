//! Gmail's `messages.send` through the real daemon when Google or the
//! network misbehaves. A send is repeated only when Google surely did not
//! act (429); a 5xx, a timeout or a dropped connection leaves the item
//! `unknown`, never resent by itself, and a human's approval sends it once.

use std::time::{Duration, Instant};

use super::{ADA, BehindProxy, approve, assert_ended, behind_proxy, item, settled, stage, stays};
use crate::faultproxy::NetFault;
use crate::google_fake::{Fault, GmailFake};

const SEND: &str = "gmail.users.messages.send";

type Setup = BehindProxy<GmailFake>;

/// Ada's mailbox at the fake, reached through the fault proxy; calls time
/// out after 1 s, a send is tried at most 3 times.
fn setup() -> Setup {
    behind_proxy(
        |rt| {
            let fake = rt.block_on(GmailFake::start());
            fake.add_mailbox(ADA);
            fake
        },
        "gmail",
        "[outbox]\nhold_window = \"0s\"\n[gmail]\nrequest_timeout = \"1s\"\nretry_base = \"20ms\"\nmax_attempts = 3\n",
        &["--tier", "2"],
    )
}

impl Setup {
    /// Stages a message with `subject` from Ada and approves it.
    fn send(&self, subject: &str) -> String {
        let id = stage(
            &self.env,
            &[
                "email",
                "--account",
                ADA,
                "--to",
                "patient@example.com",
                "--subject",
                subject,
                "--body",
                "Your appointment is tomorrow at 9:00.",
            ],
        );
        approve(&self.env, &id);
        id
    }

    /// How many messages with `subject` Gmail holds in Ada's Sent.
    fn held(&self, subject: &str) -> usize {
        let header = format!("Subject: {subject}\r\n");
        self.fake
            .sent(ADA)
            .iter()
            .filter(|(_, _, raw)| String::from_utf8_lossy(raw).contains(&header))
            .count()
    }

    fn send_calls(&self) -> u64 {
        self.fake
            .counts()
            .per_method
            .get(SEND)
            .copied()
            .unwrap_or(0)
    }
}

#[test]
fn fault_gmail_send_429_is_waited_out_and_5xx_are_unknown_until_a_human_approves() {
    let s = setup();

    // 429 with Retry-After: Google did nothing; the send waits the second
    // out and goes once.
    s.fake.inject(Fault {
        retry_after_s: Some(1),
        ..Fault::new(SEND, 429)
    });
    let before = s.send_calls();
    let started = Instant::now();
    let id = s.send("Rate limited once");
    let done = settled(&s.env, &id);
    assert_eq!(done["state"], "sent", "{done}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured: sent after {:?}",
        started.elapsed()
    );
    assert_eq!(s.send_calls() - before, 2, "one refused call, one send");
    assert_eq!(s.held("Rate limited once"), 1);

    // 429 on every attempt: a clear failure naming the cause, nothing sent.
    s.fake.inject(Fault {
        retry_after_s: Some(1),
        times: 3,
        ..Fault::new(SEND, 429)
    });
    let id = s.send("Rate limited always");
    let done = settled(&s.env, &id);
    assert_ended(&done, "failed", &["messages.send failed", "rate_limited"]);
    assert_eq!(s.held("Rate limited always"), 0);

    // 429 asking for an hour: not waited out (it would hold the send and
    // the daemon's shutdown); failed at once, naming the cause.
    s.fake.inject(Fault {
        retry_after_s: Some(3600),
        ..Fault::new(SEND, 429)
    });
    let started = Instant::now();
    let id = s.send("Rate limited for an hour");
    let done = settled(&s.env, &id);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited {:?}",
        started.elapsed()
    );
    assert_ended(&done, "failed", &["messages.send failed", "rate_limited"]);
    assert_eq!(s.held("Rate limited for an hour"), 0);

    // 503 before Google acted: unknown (Google cannot say), never resent by
    // itself; a human's approval sends it exactly once.
    s.fake.inject(Fault::new(SEND, 503));
    let id = s.send("Unavailable");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["no clear answer", "503"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Unavailable"), 0);
    approve(&s.env, &id);
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert_eq!(s.held("Unavailable"), 1, "sent exactly once");

    // 500 after Google sent it: unknown, and it is not sent a second time.
    s.fake.inject(Fault {
        after_processing: true,
        ..Fault::new(SEND, 500)
    });
    let id = s.send("Sent then 500");
    let done = settled(&s.env, &id);
    assert_ended(&done, "unknown", &["no clear answer", "500"]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Sent then 500"), 1, "held once, never resent");
    s.fake.assert_no_violations();
}

#[test]
fn fault_gmail_send_lost_connections_and_slow_answers_are_unknown_and_never_sent_twice() {
    let s = setup();

    // The connection is reset before Gmail read the request: nothing was
    // sent, but the daemon cannot know that, so unknown; a human's
    // approval sends it once.
    s.proxy.arm("messages/send", NetFault::DropBeforeRead, 1);
    let id = s.send("Dropped before");
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "the connection to Gmail was lost"],
    );
    assert_eq!(s.proxy.struck(), vec![NetFault::DropBeforeRead]);
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Dropped before"), 0);
    approve(&s.env, &id);
    assert_eq!(settled(&s.env, &id)["state"], "sent");
    assert_eq!(s.held("Dropped before"), 1, "sent exactly once");

    // Gmail sent it and the answer was lost: unknown, held once.
    s.proxy.arm("messages/send", NetFault::DropAnswer, 1);
    let id = s.send("Answer lost");
    let done = settled(&s.env, &id);
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "the connection to Gmail was lost"],
    );
    stays(&s.env, &id, "unknown", Duration::from_millis(1500));
    assert_eq!(s.held("Answer lost"), 1, "held once, never resent");

    // The answer comes after request_timeout (1 s): unknown, and once the
    // late answer has come and gone, still held once.
    s.proxy
        .arm("messages/send", NetFault::Slow(Duration::from_secs(3)), 1);
    let started = Instant::now();
    let id = s.send("Slow answer");
    let done = settled(&s.env, &id);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout did not cut the call short: {:?}",
        started.elapsed()
    );
    assert_ended(
        &done,
        "unknown",
        &["no clear answer", "Gmail did not answer in time"],
    );
    stays(&s.env, &id, "unknown", Duration::from_secs(3));
    assert_eq!(s.held("Slow answer"), 1, "held once, never resent");
    assert_eq!(item(&s.env, &id)["state"], "unknown");
    assert_eq!(s.proxy.pending(), 0, "every armed fault struck");
    s.fake.assert_no_violations();
}
