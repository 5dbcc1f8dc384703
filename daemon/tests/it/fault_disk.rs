//! Fault tier: the data directory's disk fills up. commsd refuses what it
//! cannot store with `storage_full` (HTTP 507) naming the cause, stores
//! nothing half-way (no partial attachment, no half item), keeps serving,
//! and works again once space is freed, its database intact.
//!
//! Needs root to mount a small tmpfs over the data directory: `#[ignore]`d
//! in a plain run; scripts/test runs the `fault_` tests in the faults tier.

use std::io::Write;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Env, PORT_ZERO_CONFIG};

/// A tmpfs mounted over `dir` for the test's life.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(dir: &std::path::Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "this fault test mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount(dir.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the disk of `dir` with one file, to the last byte.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
#[ignore = "mounts a tmpfs (root): run by scripts/test's faults tier"]
fn fault_disk_full_refuses_with_storage_full_and_recovers() {
    let env = Env::new();
    let _mount = Mount::tmpfs(&env.data, "24m");
    std::fs::write(&env.config, PORT_ZERO_CONFIG).unwrap();
    let _daemon = env.start();
    let api = env.status_json()["api_url"].as_str().unwrap().to_owned();
    let run = env.commsctl(&[
        "keys",
        "create",
        "ops",
        "--grants",
        "read,stage,admin",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = serde_json::from_str::<Value>(&run.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::blocking::Client::new();
    let stage = |body: &str| {
        http.post(format!("{api}/api/v1/email/stage"))
            .bearer_auth(&key)
            .json(&json!({ "to": "jane@example.org", "subject": "Results", "bodyText": body }))
            .send()
            .unwrap()
    };
    let first = stage("Your results are in.");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().unwrap();
    let first_id = first["id"]
        .as_str()
        .or(first["item"]["id"].as_str())
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let attachment = env.root.path().join("letter.txt");
    std::fs::write(&attachment, "x".repeat(300_000)).unwrap();

    let filler = fill(&env.data);

    // Staging a large message: refused, naming the cause; nothing stored.
    let big = "Dear Jane, ".repeat(70_000);
    let refused = stage(&big);
    assert_eq!(refused.status(), 507);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["code"], "storage_full", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("no space left"),
        "{body}"
    );
    // An attachment cannot be copied in: refused, and no partial file left.
    let cli = env.commsctl(&[
        "outbox",
        "stage",
        "email",
        "--to",
        "jane@example.org",
        "--subject",
        "Letter",
        "--body",
        "See the letter.",
        "--attach",
        attachment.to_str().unwrap(),
    ]);
    assert_ne!(cli.code, 0, "{}", cli.stdout);
    assert!(cli.stderr.contains("storage_full"), "{}", cli.stderr);
    let leftovers: Vec<_> = walk(&env.data)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
    // An inbound message that cannot be stored is refused, not half-kept.
    let inbound = http
        .post(format!("{api}/api/v1/sandbox/receive"))
        .bearer_auth(&key)
        .json(&json!({ "channel": "email", "from": "bob@example.org", "subject": "Scan", "body": big }))
        .send()
        .unwrap();
    assert_eq!(inbound.status(), 507, "{}", inbound.text().unwrap());

    // The daemon keeps serving.
    let status = env.commsctl(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let listed = env.commsctl(&["outbox", "list", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let items: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(
        items["items"].as_array().unwrap().len(),
        1,
        "only the first item"
    );

    // Space freed: everything works again, and the database is intact.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(stage(&big).status(), 201);
    assert_eq!(env.commsctl(&["approve", &first_id]).code, 0);
    let db = rusqlite::Connection::open_with_flags(
        env.data.join("commsd.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
