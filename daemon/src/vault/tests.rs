//! The vault with its file backend (the keyring backend is tested against a
//! real Secret Service in `daemon/tests/it/vault.rs`).

use std::os::unix::fs::PermissionsExt as _;

use super::*;

const FAST: KdfParams = KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

fn file_config() -> VaultConfig {
    VaultConfig {
        backend: BackendChoice::File,
        file: None,
    }
}

fn open(dir: &Path, passphrase: Option<&str>) -> Vault {
    Vault::open_with(&file_config(), dir, passphrase.map(Secret::new), FAST)
}

/// A private data directory, as the daemon makes it (0700).
fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    (root, dir)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn passphrase_from_the_environment_creates_then_reopens_the_file() {
    let (_root, dir) = data_dir();
    let vault = open(&dir, Some("correct horse battery"));
    assert_eq!(vault.get("google/a1/refresh_token").await.unwrap(), None);
    vault
        .put("google/a1/refresh_token", &Secret::new("1//refresh"))
        .await
        .unwrap();
    vault
        .put("imap/a2/password", &Secret::new("app password"))
        .await
        .unwrap();
    assert_eq!(mode(&dir.join("vault.enc")), 0o600);
    assert_eq!(mode(&dir.join("vault.json")), 0o600);
    let index = std::fs::read_to_string(dir.join("vault.json")).unwrap();
    assert!(index.contains("imap/a2/password"), "{index}");
    assert!(
        !index.contains("app password"),
        "the index holds names only"
    );

    let again = open(&dir, Some("correct horse battery"));
    let got = again.get("google/a1/refresh_token").await.unwrap().unwrap();
    assert_eq!(got.expose(), "1//refresh");
    let status = again.status().await;
    assert_eq!(status.backend, Backend::File);
    assert_eq!(status.state, State::Ready);
    assert_eq!(status.entries, 2);

    again.delete("google/a1/refresh_token").await.unwrap();
    again.delete("google/a1/refresh_token").await.unwrap();
    assert_eq!(again.get("google/a1/refresh_token").await.unwrap(), None);
    assert_eq!(again.status().await.entries, 1);
}

#[tokio::test]
async fn locked_until_unlocked_and_a_wrong_passphrase_changes_nothing() {
    let (_root, dir) = data_dir();
    open(&dir, Some("the passphrase"))
        .put("twilio/t1/auth_token", &Secret::new("tok"))
        .await
        .unwrap();
    let before = std::fs::read(dir.join("vault.enc")).unwrap();

    let vault = open(&dir, None);
    let status = vault.status().await;
    assert_eq!(status.state, State::Locked);
    assert_eq!(status.entries, 1, "counted from the index while locked");
    let err = vault.get("twilio/t1/auth_token").await.unwrap_err();
    assert_eq!(err.code, Code::VaultUnavailable);
    assert!(
        err.details["hint"]
            .as_str()
            .unwrap()
            .contains("commsctl vault unlock"),
        "{:?}",
        err.details
    );

    let err = vault
        .unlock(Secret::new("not the passphrase"))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
    assert_eq!(err.details["field"], "passphrase");
    assert!(err.message.contains("wrong passphrase"), "{}", err.message);
    assert_eq!(vault.status().await.state, State::Locked);
    assert_eq!(std::fs::read(dir.join("vault.enc")).unwrap(), before);

    vault.unlock(Secret::new("the passphrase")).await.unwrap();
    assert_eq!(
        vault
            .get("twilio/t1/auth_token")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "tok"
    );
    // Unlocking again: the same passphrase is fine, another one is refused.
    vault.unlock(Secret::new("the passphrase")).await.unwrap();
    assert_eq!(
        vault.unlock(Secret::new("other")).await.unwrap_err().code,
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn wrong_environment_passphrase_leaves_it_locked_with_the_reason() {
    let (_root, dir) = data_dir();
    open(&dir, Some("the passphrase"))
        .put("a/b", &Secret::new("v"))
        .await
        .unwrap();
    let vault = open(&dir, Some("wrong passphrase"));
    let status = vault.status().await;
    assert_eq!(status.state, State::Locked);
    assert!(
        status.reason.as_deref().unwrap().contains(PASSPHRASE_ENV),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_new_file_needs_a_passphrase_of_eight_characters() {
    let (_root, dir) = data_dir();
    let vault = open(&dir, None);
    let status = vault.status().await;
    assert_eq!(status.state, State::Locked);
    assert!(!status.file.exists);
    assert!(
        status.reason.unwrap().contains("does not exist yet"),
        "the reason says the file will be created"
    );
    let err = vault.unlock(Secret::new("short")).await.unwrap_err();
    assert_eq!(err.details["field"], "passphrase");
    assert!(!dir.join("vault.enc").exists());
    assert_eq!(
        vault.unlock(Secret::new("")).await.unwrap_err().code,
        Code::InvalidArgument
    );
    vault.unlock(Secret::new("long enough")).await.unwrap();
    assert!(vault.status().await.file.exists);
}

#[tokio::test]
async fn names_and_values_are_checked() {
    let (_root, dir) = data_dir();
    let vault = open(&dir, Some("long enough"));
    for bad in [
        "",
        "a//b",
        "/a",
        "a/",
        "with space",
        "ü/x",
        &"x".repeat(201),
    ] {
        let err = vault.get(bad).await.unwrap_err();
        assert_eq!(err.details["field"], "name", "{bad:?}");
    }
    let err = vault.put("a/b", &Secret::new("")).await.unwrap_err();
    assert_eq!(err.details["field"], "secret");
    check_name("google/3f2a-11ef/refresh_token").unwrap();
    check_name("imap/jane.doe+work@example.org/password").unwrap();
}

#[tokio::test]
async fn the_recorded_backend_wins_over_a_changed_config_with_a_note() {
    let (_root, dir) = data_dir();
    open(&dir, Some("long enough"))
        .put("a/b", &Secret::new("v"))
        .await
        .unwrap();
    let keyring_config = VaultConfig {
        backend: BackendChoice::Keyring,
        file: None,
    };
    let vault = Vault::open_with(
        &keyring_config,
        &dir,
        Some(Secret::new("long enough")),
        FAST,
    );
    let status = vault.status().await;
    assert_eq!(status.backend, Backend::File);
    assert_eq!(status.configured, BackendChoice::Keyring);
    assert!(
        status.warnings[0].contains("commsctl vault migrate --to keyring"),
        "{:?}",
        status.warnings
    );
    assert_eq!(vault.get("a/b").await.unwrap().unwrap().expose(), "v");
}

#[tokio::test]
async fn a_damaged_index_makes_the_vault_unavailable_not_empty() {
    let (_root, dir) = data_dir();
    std::fs::write(dir.join("vault.json"), b"{not json").unwrap();
    let vault = open(&dir, Some("long enough"));
    let status = vault.status().await;
    assert_eq!(status.state, State::Unavailable);
    assert!(status.reason.unwrap().contains("damaged"));
    assert_eq!(
        vault.get("a/b").await.unwrap_err().code,
        Code::VaultUnavailable
    );
}

#[tokio::test]
async fn a_damaged_file_is_reported_and_left_alone() {
    let (_root, dir) = data_dir();
    open(&dir, Some("long enough"))
        .put("a/b", &Secret::new("v"))
        .await
        .unwrap();
    let path = dir.join("vault.enc");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();
    let vault = open(&dir, None);
    let err = vault.unlock(Secret::new("long enough")).await.unwrap_err();
    assert_eq!(err.code, Code::VaultUnavailable);
    assert!(err.message.contains("damaged or was altered"), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn migrate_to_the_backend_in_use_is_refused() {
    let (_root, dir) = data_dir();
    let vault = open(&dir, Some("long enough"));
    let err = vault.migrate(Backend::File).await.unwrap_err();
    assert_eq!(err.code, Code::FailedPrecondition);
    assert_eq!(
        Backend::parse("to", "keychain").unwrap_err().details["field"],
        "to"
    );
}

#[test]
fn status_serializes_with_stable_names() {
    let status = VaultStatus {
        backend: Backend::File,
        configured: BackendChoice::Auto,
        state: State::Locked,
        reason: Some("r".into()),
        hint: Some("h".into()),
        location: "/d/vault.enc".into(),
        entries: 2,
        file: FileStatus {
            path: "/d/vault.enc".into(),
            exists: true,
            unlocked: false,
        },
        warnings: vec![],
    };
    let v = serde_json::to_value(&status).unwrap();
    assert_eq!(v["backend"], "file");
    assert_eq!(v["configured"], "auto");
    assert_eq!(v["state"], "locked");
    assert_eq!(v["file"]["exists"], true);
}

#[tokio::test]
async fn a_vault_directory_open_to_others_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let vault = open(&dir, None);
    let err = vault.unlock(Secret::new("long enough")).await.unwrap_err();
    assert_eq!(err.code, Code::VaultUnavailable);
    assert!(err.message.contains("0700"), "{}", err.message);
    assert!(!dir.join("vault.enc").exists());
}

#[tokio::test]
async fn lock_refuses_secrets_until_unlocked_and_keeps_them() {
    let (_root, dir) = data_dir();
    let vault = open(&dir, Some("correct horse battery"));
    vault
        .put("twilio/t1/auth_token", &Secret::new("token value"))
        .await
        .unwrap();
    vault.lock().await.unwrap();
    let status = vault.status().await;
    assert_eq!(status.state, State::Locked);
    assert!(
        status
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("commsctl vault lock")),
        "{status:?}"
    );
    let e = vault.get("twilio/t1/auth_token").await.unwrap_err();
    assert_eq!(e.code, crate::error::Code::VaultUnavailable, "{e:?}");
    assert!(vault.put("x/y/z", &Secret::new("v")).await.is_err());
    // The environment's passphrase was used at start; it does not reopen it.
    assert!(vault.get("twilio/t1/auth_token").await.is_err());
    vault
        .unlock(Secret::new("correct horse battery"))
        .await
        .unwrap();
    let got = vault.get("twilio/t1/auth_token").await.unwrap().unwrap();
    assert_eq!(got.expose(), "token value");
}
