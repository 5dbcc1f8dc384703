//! Network faults between the daemon and its providers (Gmail, Chat,
//! People, Twilio): answers of 429 with `Retry-After`, 500 and 503, answers
//! slower than the client's `request_timeout`, and connections dropped
//! before the request reached the provider or after it acted (the answer
//! lost). HTTP-level faults come from the fakes themselves; connection-level
//! ones from [`crate::faultproxy::FaultProxy`] in front of them. Each fault
//! must end in a clear state (sent; `failed` or `unknown` with an error
//! naming the cause), the provider must hold the message at most once, and
//! a human's approval of an `unknown` item must send it exactly once, or be
//! refused when the provider shows it went.

mod chat;
mod chat_webhook;
mod contacts;
mod gmail;
mod twilio;

use std::time::Duration;

use serde_json::Value;

use crate::accounts::{add_google, set_client, start_with};
use crate::faultproxy::FaultProxy;
use crate::google_fake::GoogleFake;
use crate::harness::{Daemon, Env};
use crate::oauth::OAuthServer;

pub(crate) const ADA: &str = "ada@practice.example";

/// Ada's Google account with one API served by a fake, reached through a
/// fault proxy: the daemon, the sign-in server and the fake, kept alive
/// together.
pub(crate) struct BehindProxy<F> {
    pub env: Env,
    _daemon: Daemon,
    pub fake: F,
    pub proxy: FaultProxy,
    _oauth: OAuthServer,
    // Last: the fake's server runs on it.
    _rt: tokio::runtime::Runtime,
}

/// A fake of one Google API: the shared server, and where its API is.
pub(crate) trait ApiFake: std::ops::Deref<Target = GoogleFake> {
    /// The API's base URL (the server's URL and the API's path).
    fn api_base(&self) -> &str;
}

impl ApiFake for crate::google_fake::GmailFake {
    fn api_base(&self) -> &str {
        &self.base
    }
}

impl ApiFake for crate::google_fake::chat::ChatFake {
    fn api_base(&self) -> &str {
        &self.base
    }
}

impl ApiFake for crate::google_fake::people::PeopleFake {
    fn api_base(&self) -> &str {
        &self.base
    }
}

/// Starts the fake (`start`, which also seeds it), the sign-in server, the
/// proxy in front of the fake's API as `[google.endpoints] api`, and the
/// daemon with `config`; then signs Ada in with `add_args`.
pub(crate) fn behind_proxy<F: ApiFake>(
    start: impl FnOnce(&tokio::runtime::Runtime) -> F,
    api: &str,
    config: &str,
    add_args: &[&str],
) -> BehindProxy<F> {
    let rt = runtime();
    let fake = start(&rt);
    let oauth = OAuthServer::start();
    fake.trust_introspection(
        &format!("{}/token/introspection", oauth.base),
        "imap-rs",
        "imap-rs-secret",
    );
    let proxy = FaultProxy::start(fake.api_base());
    let (env, daemon) = start_with(&oauth, &format!("{api} = \"{}\"\n", proxy.base), config);
    set_client(&env);
    add_google(&env, &oauth, ADA, add_args);
    BehindProxy {
        env,
        _daemon: daemon,
        fake,
        proxy,
        _oauth: oauth,
        _rt: rt,
    }
}

/// A runtime for the fakes (the daemon is another process).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `commsctl ARGS --json`, which must succeed.
pub(crate) fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let run = env.commsctl(&all);
    assert_eq!(
        run.code, 0,
        "commsctl {args:?}: {}\n{}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

/// Stages with `commsctl outbox stage ARGS`; returns the item's id.
pub(crate) fn stage(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["outbox", "stage"];
    all.extend_from_slice(args);
    let staged = json(env, &all);
    assert_eq!(staged["state"], "pending_approval", "{staged}");
    staged["id"].as_str().unwrap().to_owned()
}

/// A human approves `id` (`commsctl approve`), which must succeed.
pub(crate) fn approve(env: &Env, id: &str) {
    let run = env.commsctl(&["approve", id]);
    assert_eq!(run.code, 0, "approve {id}: {}\n{}", run.stderr, run.stdout);
}

pub(crate) fn item(env: &Env, id: &str) -> Value {
    json(env, &["outbox", "show", id])
}

/// Waits until `id` leaves `approved` and `sending`, and returns it.
pub(crate) fn settled(env: &Env, id: &str) -> Value {
    let mut last = Value::Null;
    let done = crate::harness::eventually(Duration::from_secs(30), || {
        last = item(env, id);
        !matches!(last["state"].as_str(), Some("approved" | "sending"))
    });
    assert!(done, "item {id} did not settle: {last}");
    last
}

/// Asserts `item` is in `state` and its error contains every one of `words`.
pub(crate) fn assert_ended(item: &Value, state: &str, words: &[&str]) {
    assert_eq!(item["state"], state, "{item}");
    let error = item["error"].as_str().unwrap_or_default();
    for w in words {
        assert!(
            error.contains(w),
            "the error should name {w:?}: {error:?}\n{item}"
        );
    }
}

/// Waits `d`, then asserts that `id` is still in `state`: nothing resends
/// it by itself.
pub(crate) fn stays(env: &Env, id: &str, state: &str, d: Duration) {
    std::thread::sleep(d);
    assert_eq!(item(env, id)["state"], state, "{}", item(env, id));
}
