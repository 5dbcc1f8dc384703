//! The secret vault locked when an approved message comes due (the issue's
//! "vault locked at start"): the item waits, approved, with a hold reason
//! that says what to do, and goes once when a human unlocks the vault. It
//! is never failed for want of its credentials (a failed item cannot be
//! approved again, so the approval would be lost).

use std::time::Duration;

use crate::harness::eventually;
use crate::sms_send::{FakeTwilio, add_twilio, item, json_of, settled, stage, start};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const MG: &str = "MG0123456789abcdef0123456789abcdef";
const PASSPHRASE: &str = "correct horse battery staple";

#[test]
fn fault_vault_locked_at_start_holds_an_approved_sms_until_unlocked_then_sends_it_once() {
    let fake = FakeTwilio::start();
    let (env, daemon) = start(&fake.base, "[outbox]\nhold_window = \"6s\"\n");
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let id = json_of(&stage(&env, &account, "+14155550100", "See you at 9:00"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.commsctl(&["approve", &id]).code, 0);
    // Stopped within the hold window; started again without the passphrase.
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(20)).code, 0);
    assert_eq!(item(&env, &id)["state"], "approved");
    let _daemon = env.spawn_traced(env.commsd());

    // Due, and the vault is locked: it waits, saying why and what to do.
    let mut shown = serde_json::Value::Null;
    let held = eventually(Duration::from_secs(30), || {
        shown = item(&env, &id);
        shown["policy"]["holdReason"]
            .as_str()
            .is_some_and(|r| r.contains("vault is locked"))
    });
    assert!(held, "{shown}");
    assert_eq!(shown["state"], "approved", "{shown}");
    let reason = shown["policy"]["holdReason"].as_str().unwrap();
    assert!(reason.contains("commsctl vault unlock"), "{reason}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(item(&env, &id)["state"], "approved");
    assert_eq!(fake.sends(), 0, "nothing went out while locked");

    // A human unlocks it: it goes, once.
    let run = crate::vault::unlock_from_stdin(&env, PASSPHRASE);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done = settled(&env, &id);
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(fake.sends(), 1);
}

/// The vault locked mid-run (`commsctl vault lock`): an SMS approved while
/// it is locked waits, approved, naming the unlock command; nothing goes
/// out; unlocked, it goes once. A keyring vault cannot be locked from here.
#[test]
fn fault_vault_locked_mid_run_holds_an_approved_sms_until_unlocked_then_sends_it_once() {
    let fake = FakeTwilio::start();
    let (env, _daemon) = start(&fake.base, "[outbox]\nhold_window = \"1s\"\n");
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();

    let run = env.commsctl(&["vault", "lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("vault file locked"), "{}", run.stdout);
    let status = env.commsctl(&["vault", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["state"], "locked", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|r| r.contains("commsctl vault lock")),
        "{status}"
    );

    let id = json_of(&stage(&env, &account, "+14155550100", "See you at 9:00"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.commsctl(&["approve", &id]).code, 0);
    let mut shown = serde_json::Value::Null;
    let held = eventually(Duration::from_secs(30), || {
        shown = item(&env, &id);
        shown["policy"]["holdReason"]
            .as_str()
            .is_some_and(|r| r.contains("vault is locked"))
    });
    assert!(held, "{shown}");
    assert_eq!(shown["state"], "approved", "{shown}");
    assert!(
        shown["policy"]["holdReason"]
            .as_str()
            .unwrap()
            .contains("commsctl vault unlock"),
        "{shown}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(item(&env, &id)["state"], "approved");
    assert_eq!(fake.sends(), 0, "nothing went out while locked");

    let run = crate::vault::unlock_from_stdin(&env, PASSPHRASE);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let done = settled(&env, &id);
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(fake.sends(), 1);
    // Locking twice is harmless; the status says locked again.
    assert_eq!(env.commsctl(&["vault", "lock"]).code, 0);
    assert_eq!(env.commsctl(&["vault", "lock"]).code, 0);
}
