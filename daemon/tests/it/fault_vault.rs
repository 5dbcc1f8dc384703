//! The secret vault locked when an approved message comes due (the issue's
//! "vault locked at start"): the item waits, approved, with a hold reason
//! that says what to do, and goes once when a human unlocks the vault. It
//! is never failed for want of its credentials (a failed item cannot be
//! approved again, so the approval would be lost).

use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Env, PORT_ZERO_CONFIG, eventually};
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
    let shown = held_because(&env, &id, "vault is locked");
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
    let shown = held_because(&env, &id, "vault is locked");
    let reason = shown["policy"]["holdReason"].as_str().unwrap();
    assert!(reason.contains("commsctl vault unlock"), "{reason}");
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

// --- the OS keyring gone (a real Secret Service) ----------------------------

/// A Secret Service of the test's own: a private D-Bus daemon with no
/// activation (a call to a keyring that is not running fails at once, as
/// after a crash, instead of starting a locked one) and a gnome-keyring
/// whose login keyring lives in `home`, so its secrets outlive a restart.
struct PrivateKeyring {
    dir: tempfile::TempDir,
    bus: std::process::Child,
    keyring: Option<std::process::Child>,
}

impl PrivateKeyring {
    fn start() -> PrivateKeyring {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "run"] {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.path().join(sub))
                .unwrap();
        }
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().join("bus").display()
            ),
        )
        .unwrap();
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian dbus)");
        let mut keyring = PrivateKeyring {
            dir,
            bus,
            keyring: None,
        };
        assert!(
            eventually(Duration::from_secs(10), || keyring
                .dir
                .path()
                .join("bus")
                .exists()),
            "the private D-Bus daemon did not start"
        );
        keyring.start_keyring();
        keyring
    }

    /// The environment that points a program at this bus.
    fn vars(&self) -> [(&'static str, std::ffi::OsString); 2] {
        [
            (
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.dir.path().join("bus").display()).into(),
            ),
            ("XDG_RUNTIME_DIR", self.dir.path().join("run").into()),
        ]
    }

    /// Whether a Secret Service owns its name on the bus.
    fn answers(&self) -> bool {
        let out = Command::new("dbus-send")
            .envs(self.vars())
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .output()
            .expect("dbus-send (Debian dbus)");
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// Starts gnome-keyring, unlocking (first: creating) the login keyring.
    fn start_keyring(&mut self) {
        let mut child = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .envs(self.vars())
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (Debian gnome-keyring)");
        // The password is read up to end of input.
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"keyring-test-pw")
            .unwrap();
        self.keyring = Some(child);
        assert!(
            eventually(Duration::from_secs(20), || self.answers()),
            "gnome-keyring did not take org.freedesktop.secrets"
        );
    }

    /// Kills the keyring outright, as a crash would.
    fn kill_keyring(&mut self) {
        if let Some(mut child) = self.keyring.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(
            eventually(Duration::from_secs(10), || !self.answers()),
            "the keyring's name is still owned"
        );
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        for child in self.keyring.iter_mut().chain([&mut self.bus]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until the item is held, approved, with a hold reason containing `why`.
fn held_because(env: &Env, id: &str, why: &str) -> serde_json::Value {
    let mut shown = serde_json::Value::Null;
    let held = eventually(Duration::from_secs(30), || {
        shown = item(env, id);
        shown["policy"]["holdReason"]
            .as_str()
            .is_some_and(|r| r.contains(why))
    });
    assert!(held, "not held because {why:?}: {shown}");
    assert_eq!(shown["state"], "approved", "{shown}");
    shown
}

/// The vault is the OS keyring, and the keyring goes away: at start (it
/// is not running when commsd starts) and mid-run (killed while commsd has
/// it open). Each time an approved SMS waits, approved, saying why; nothing
/// goes out; once the keyring is back it goes, once. The secrets stored
/// before are still there (they live in the keyring, not in commsd).
#[test]
fn secret_service_gone_at_start_and_mid_run_holds_approved_sms_until_it_answers_then_sends_each_once()
 {
    crate::vault::require_secret_service();
    let mut keyring = PrivateKeyring::start();
    let fake = FakeTwilio::start();
    let env = Env::new();
    std::fs::write(
        &env.config,
        format!(
            "{PORT_ZERO_CONFIG}[vault]\nbackend = \"keyring\"\n[twilio]\napi_base = \"{}\"\n\
             public_url = \"https://sms.example.test\"\n[outbox]\nhold_window = \"0s\"\n",
            fake.base
        ),
    )
    .unwrap();
    let bus = keyring.vars();
    let daemon_cmd = || {
        let mut cmd = env.commsd();
        cmd.envs(bus.clone());
        cmd
    };
    let daemon = env.spawn_traced(daemon_cmd());
    let added = json_of(&add_twilio(
        &env,
        &["--account-sid", AC, "--messaging-service", MG],
    ));
    let account = added["account"]["id"].as_str().unwrap().to_owned();
    let status = json_of(&env.commsctl(&["vault", "status", "--json"]));
    assert_eq!(
        (&status["backend"], &status["state"]),
        (&"keyring".into(), &"ready".into()),
        "{status}"
    );
    let stage_one = |body: &str| -> String {
        json_of(&stage(&env, &account, "+14155550100", body))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // At start: commsd starts while the keyring is not running.
    let first = stage_one("See you at 9:00");
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(20)).code, 0);
    keyring.kill_keyring();
    let daemon = env.spawn_traced(daemon_cmd());
    let status = json_of(&env.commsctl(&["vault", "status", "--json"]));
    assert_eq!(status["state"], "unavailable", "{status}");
    assert_eq!(env.commsctl(&["approve", &first]).code, 0);
    let shown = held_because(&env, &first, "vault cannot be used");
    let reason = shown["policy"]["holdReason"].as_str().unwrap();
    assert!(
        reason.contains("Secret Service"),
        "names the keyring: {reason}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(item(&env, &first)["state"], "approved");
    assert_eq!(fake.sends(), 0, "nothing went out without the keyring");

    keyring.start_keyring();
    let done = settled(&env, &first);
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(fake.sends(), 1);

    // Mid-run: the keyring dies while commsd holds a connection to it.
    let second = stage_one("Bring your insurance card");
    keyring.kill_keyring();
    assert_eq!(env.commsctl(&["approve", &second]).code, 0);
    held_because(&env, &second, "vault");
    std::thread::sleep(Duration::from_secs(2));
    let shown = item(&env, &second);
    assert_eq!(shown["state"], "approved", "{shown}");
    assert_eq!(fake.sends(), 1, "nothing more went out without the keyring");
    let status = json_of(&env.commsctl(&["vault", "status", "--json"]));
    assert_eq!(status["state"], "unavailable", "says so: {status}");

    keyring.start_keyring();
    let done = settled(&env, &second);
    assert_eq!(done["state"], "sent", "{done}");
    assert_eq!(fake.sends(), 2, "each message went once");
    let status = json_of(&env.commsctl(&["vault", "status", "--json"]));
    assert_eq!(status["state"], "ready", "{status}");

    // The item's history says what happened; the log holds no secret.
    let history = json_of(&env.commsctl(&["audit", "list", "--item", &second, "--json"]));
    let actions: Vec<&str> = history
        .as_array()
        .or_else(|| history["entries"].as_array())
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(actions.contains(&"held"), "{history}");
    assert_eq!(
        actions.iter().filter(|a| **a == "sent").count(),
        1,
        "{history}"
    );
    daemon.signal("TERM");
    assert_eq!(daemon.wait(Duration::from_secs(20)).code, 0);
    crate::harness::assert_log_holds_no_secret(
        &env.log_path(),
        "Twilio account saved",
        &[("auth token", crate::sms_send::TOKEN)],
    );
}
