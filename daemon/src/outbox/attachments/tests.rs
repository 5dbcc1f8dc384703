//! The attachment store's tests: copies, hashes, refusals, and the agent
//! directories under a symbolic-link race.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use super::AttachFrom::{Anywhere, AttachmentDirs};
use super::*;
use crate::error::{Code, Error, Result};

fn field_of(e: &Error) -> &str {
    e.details["field"].as_str().unwrap_or_default()
}

fn assert_error<T: std::fmt::Debug>(r: Result<T>, code: Code, field: &str, needle: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(field_of(&e), field, "{e:?}");
    assert!(
        e.message.contains(needle),
        "{:?} does not contain {needle:?}",
        e.message
    );
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T>, field: &str, needle: &str) {
    assert_error(r, Code::InvalidArgument, field, needle);
}

fn assert_too_large<T: std::fmt::Debug>(r: Result<T>, field: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code, Code::PayloadTooLarge, "{e:?}");
    assert_eq!(field_of(&e), field, "{e:?}");
}

struct Fixture {
    root: tempfile::TempDir,
    /// A directory (no symbolic links in its path) for the files.
    files: PathBuf,
    store: AttachmentStore,
    store_dir: PathBuf,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(root.path()).unwrap();
    let files = base.join("files");
    fs::create_dir(&files).unwrap();
    let store_dir = base.join("data/attachments");
    fs::create_dir(base.join("data")).unwrap();
    Fixture {
        store: AttachmentStore::new(store_dir.clone()),
        files,
        store_dir,
        root,
    }
}

fn sha256_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hashes of everything in the store directory.
fn stored(store_dir: &Path) -> Vec<String> {
    match fs::read_dir(store_dir) {
        Ok(entries) => entries
            .map(|e| sha256_of(&fs::read(e.unwrap().path()).unwrap()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n";

#[test]
fn import_copies_content_addressed_and_describes_the_file() {
    let f = fixture();
    let path = f.files.join("Befund März.pdf");
    fs::write(&path, PDF).unwrap();
    let a = f
        .store
        .import("attachments[0]", &path, Anywhere, &Limits::default())
        .unwrap();
    assert_eq!(a.filename, "Befund März.pdf");
    assert_eq!(a.mime_type, "application/pdf");
    assert_eq!(a.size, PDF.len() as u64);
    assert_eq!(a.sha256, hex::encode(Sha256::digest(PDF)));
    assert_eq!(f.store.path(&a.sha256), f.store_dir.join(&a.sha256));
    assert_eq!(fs::read(f.store.path(&a.sha256)).unwrap(), PDF);
    assert_eq!(f.store.read(&a).unwrap(), PDF);

    let dir_mode = fs::metadata(&f.store_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let file_mode = fs::metadata(f.store.path(&a.sha256))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(file_mode, 0o600);
    // No temporary files are left behind.
    assert_eq!(fs::read_dir(&f.store_dir).unwrap().count(), 1);
}

#[test]
fn later_changes_to_the_original_change_nothing() {
    let f = fixture();
    let path = f.files.join("note.txt");
    fs::write(&path, "original").unwrap();
    let a = f
        .store
        .import("attachments[0]", &path, Anywhere, &Limits::default())
        .unwrap();
    fs::write(&path, "changed!").unwrap();
    assert_eq!(f.store.read(&a).unwrap(), b"original");
    fs::remove_file(&path).unwrap();
    assert_eq!(f.store.read(&a).unwrap(), b"original");
}

#[test]
fn importing_the_same_content_twice_is_idempotent_and_repairs_damage() {
    let f = fixture();
    let one = f.files.join("one.txt");
    let two = f.files.join("two.csv");
    fs::write(&one, "same").unwrap();
    fs::write(&two, "same").unwrap();
    let a = f
        .store
        .import("attachments[0]", &one, Anywhere, &Limits::default())
        .unwrap();
    let b = f
        .store
        .import("attachments[1]", &two, Anywhere, &Limits::default())
        .unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(b.filename, "two.csv");
    assert_eq!(b.mime_type, "text/csv");
    assert_eq!(fs::read_dir(&f.store_dir).unwrap().count(), 1);

    fs::write(f.store.path(&a.sha256), "damaged").unwrap();
    assert!(f.store.read(&a).is_err());
    f.store
        .import("attachments[0]", &one, Anywhere, &Limits::default())
        .unwrap();
    assert_eq!(f.store.read(&a).unwrap(), b"same");
}

#[test]
fn read_detects_corruption_and_bad_hashes() {
    let f = fixture();
    let path = f.files.join("a.txt");
    fs::write(&path, "content").unwrap();
    let a = f
        .store
        .import("attachments[0]", &path, Anywhere, &Limits::default())
        .unwrap();
    fs::write(f.store.path(&a.sha256), "tampered").unwrap();
    let e = f.store.read(&a).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("corrupted"), "{e}");

    let mut crafted = a.clone();
    crafted.sha256 = "../../../etc/passwd".to_owned();
    assert_eq!(
        f.store.read(&crafted).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
    assert!(f.store.path(&crafted.sha256).starts_with(&f.store_dir));
    assert!(f.store.path("ABCD").starts_with(&f.store_dir));

    let mut wrong_size = a.clone();
    fs::write(&path, "content").unwrap();
    f.store
        .import("attachments[0]", &path, Anywhere, &Limits::default())
        .unwrap();
    wrong_size.size += 1;
    assert_eq!(
        f.store.read(&wrong_size).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
    let missing = Attachment {
        sha256: "0".repeat(64),
        ..a
    };
    assert_eq!(
        f.store.read(&missing).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
}

#[test]
fn mime_type_from_content_then_extension_then_default() {
    let f = fixture();
    let limits = Limits::default();
    let cases: [(&str, &[u8], &str); 5] = [
        // Content wins over a misleading extension.
        ("scan.txt", PDF, "application/pdf"),
        ("photo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
        ("notes.txt", b"plain words", "text/plain"),
        ("invite.ics", b"BEGIN:VCALENDAR", "text/calendar"),
        ("blob", b"\x01\x02\x03", "application/octet-stream"),
    ];
    for (name, content, expected) in cases {
        let path = f.files.join(name);
        fs::write(&path, content).unwrap();
        let a = f
            .store
            .import("attachments[0]", &path, Anywhere, &limits)
            .unwrap();
        assert_eq!(a.mime_type, expected, "{name}");
    }
}

#[test]
fn import_refuses_relative_missing_and_special_paths() {
    let f = fixture();
    let limits = Limits::default();
    assert_invalid(
        f.store
            .import("attachments[0]", Path::new("report.pdf"), Anywhere, &limits),
        "attachments[0]",
        "absolute path",
    );
    assert_invalid(
        f.store.import(
            "attachments[1]",
            &f.files.join("missing.pdf"),
            Anywhere,
            &limits,
        ),
        "attachments[1]",
        "does not exist",
    );
    assert_invalid(
        f.store
            .import("attachments[2]", &f.files, Anywhere, &limits),
        "attachments[2]",
        "is a directory",
    );
    assert_invalid(
        f.store
            .import("attachments[0]", Path::new("/"), Anywhere, &limits),
        "attachments[0]",
        "does not name a file",
    );
    assert_invalid(
        f.store
            .import("attachments[0]", Path::new("/dev/null"), Anywhere, &limits),
        "attachments[0]",
        "pseudo-file",
    );
    assert_invalid(
        f.store.import(
            "attachments[0]",
            Path::new("/proc/self/environ"),
            Anywhere,
            &limits,
        ),
        "attachments[0]",
        "pseudo-file",
    );
    let own = f.store_dir.parent().unwrap().join("commsd.db");
    fs::write(&own, "secrets").unwrap();
    assert_invalid(
        f.store.import("attachments[0]", &own, Anywhere, &limits),
        "attachments[0]",
        "data directory",
    );
    // Nothing was stored.
    assert!(!f.store_dir.exists());
}

#[test]
fn import_refuses_a_fifo_without_blocking() {
    let f = fixture();
    let fifo = f.files.join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    assert_invalid(
        f.store
            .import("attachments[0]", &fifo, Anywhere, &Limits::default()),
        "attachments[0]",
        "named pipe",
    );
}

#[test]
fn import_refuses_bad_file_names() {
    let f = fixture();
    let path = f.files.join("bad\nname.txt");
    fs::write(&path, "x").unwrap();
    assert_invalid(
        f.store
            .import("attachments[0]", &path, Anywhere, &Limits::default()),
        "attachments[0]",
        "line breaks",
    );
}

#[test]
fn import_enforces_the_size_limit() {
    let f = fixture();
    let limits = Limits {
        max_attachment_bytes: 4,
        ..Limits::default()
    };
    let path = f.files.join("big.bin");
    fs::write(&path, "12345").unwrap();
    assert_too_large(
        f.store.import("attachments[3]", &path, Anywhere, &limits),
        "attachments[3]",
    );
    fs::write(&path, "1234").unwrap();
    assert_eq!(
        f.store
            .import("attachments[3]", &path, Anywhere, &limits)
            .unwrap()
            .size,
        4
    );
}

#[test]
fn import_follows_symlinks_to_regular_files() {
    let f = fixture();
    let target = f.files.join("real.txt");
    fs::write(&target, "real").unwrap();
    let link = f.files.join("link.txt");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let a = f
        .store
        .import("attachments[0]", &link, Anywhere, &Limits::default())
        .unwrap();
    assert_eq!(a.filename, "link.txt");
    assert_eq!(f.store.read(&a).unwrap(), b"real");
}

// -- agents: [outbox] attachment_dirs ------------------------------------------

const RESOLVERS: [Resolver; 2] = [Resolver::Best, Resolver::Walk];

#[test]
fn agents_attach_only_plain_paths_inside_their_directories() {
    let f = fixture();
    let base = f.files.parent().unwrap().to_owned();
    // The human configured the directory through a symbolic link.
    let real_outgoing = base.join("real-outgoing");
    fs::create_dir_all(real_outgoing.join("sub")).unwrap();
    fs::write(real_outgoing.join("sub/letter.txt"), "letter").unwrap();
    let outgoing = base.join("outgoing");
    symlink(&real_outgoing, &outgoing).unwrap();
    let secret = base.join("secret");
    fs::create_dir(&secret).unwrap();
    fs::write(secret.join("id_ed25519"), "PRIVATE KEY").unwrap();
    fs::write(secret.join("letter.txt"), "PRIVATE KEY").unwrap();
    symlink(secret.join("id_ed25519"), real_outgoing.join("key-link")).unwrap();
    symlink(&secret, real_outgoing.join("dir-link")).unwrap();
    symlink(real_outgoing.join("sub"), real_outgoing.join("sub-link")).unwrap();
    let limits = Limits::default();
    for resolver in RESOLVERS {
        let store = AttachmentStore::new(f.store_dir.clone())
            .with_agent_dirs(std::slice::from_ref(&outgoing))
            .with_resolver(resolver);
        // Named through the configured link or by the real path: both fine.
        for path in [
            outgoing.join("sub/letter.txt"),
            real_outgoing.join("sub/letter.txt"),
        ] {
            let a = store
                .import("attachments[0]", &path, AttachmentDirs, &limits)
                .unwrap();
            assert_eq!(store.read(&a).unwrap(), b"letter");
        }
        assert_error(
            store.import(
                "attachments[0]",
                &secret.join("id_ed25519"),
                AttachmentDirs,
                &limits,
            ),
            Code::PermissionDenied,
            "attachments[0]",
            "is outside the directories agents may attach from ([outbox] attachment_dirs: ",
        );
        assert_error(
            store.import(
                "attachments[1]",
                &outgoing.join("sub/../../secret/id_ed25519"),
                AttachmentDirs,
                &limits,
            ),
            Code::PermissionDenied,
            "attachments[1]",
            "contains `..`",
        );
        // Every symbolic link inside the directory is refused, even one that
        // stays inside: what the agent named is what is read.
        for rel in ["key-link", "dir-link/id_ed25519", "sub-link/letter.txt"] {
            assert_error(
                store.import(
                    "attachments[2]",
                    &outgoing.join(rel),
                    AttachmentDirs,
                    &limits,
                ),
                Code::PermissionDenied,
                "attachments[2]",
                "is a symbolic link or passes through one; agents may attach only files inside \
                 [outbox] attachment_dirs, named without symbolic links",
            );
        }
        assert_invalid(
            store.import(
                "attachments[0]",
                &outgoing.join("sub"),
                AttachmentDirs,
                &limits,
            ),
            "attachments[0]",
            "is a directory",
        );
        assert_invalid(
            store.import(
                "attachments[0]",
                &outgoing.join("nope.txt"),
                AttachmentDirs,
                &limits,
            ),
            "attachments[0]",
            "does not exist",
        );
        // No attachment directory: agents attach nothing.
        let none = AttachmentStore::new(f.store_dir.clone()).with_resolver(resolver);
        assert_error(
            none.import(
                "attachments[0]",
                &outgoing.join("sub/letter.txt"),
                AttachmentDirs,
                &limits,
            ),
            Code::PermissionDenied,
            "attachments[0]",
            "none are configured",
        );
    }
    // The link was resolved when the store was made: pointing it elsewhere
    // later changes nothing.
    let store =
        AttachmentStore::new(f.store_dir.clone()).with_agent_dirs(std::slice::from_ref(&outgoing));
    fs::remove_file(&outgoing).unwrap();
    symlink(&secret, &outgoing).unwrap();
    assert_invalid(
        store.import(
            "attachments[0]",
            &outgoing.join("id_ed25519"),
            AttachmentDirs,
            &limits,
        ),
        "attachments[0]",
        "attachment_dirs are resolved when commsd starts",
    );
    let a = store
        .import(
            "attachments[0]",
            &outgoing.join("sub/letter.txt"),
            AttachmentDirs,
            &limits,
        )
        .unwrap();
    assert_eq!(store.read(&a).unwrap(), b"letter");
    assert!(!stored(&f.store_dir).contains(&sha256_of(b"PRIVATE KEY")));
}

#[test]
fn an_agent_directory_holding_the_data_directory_still_hides_it() {
    let f = fixture();
    let base = f.files.parent().unwrap().to_owned();
    fs::write(base.join("data/commsd.db"), "secrets").unwrap();
    let store =
        AttachmentStore::new(f.store_dir.clone()).with_agent_dirs(std::slice::from_ref(&base));
    assert_invalid(
        store.import(
            "attachments[0]",
            &base.join("data/commsd.db"),
            AttachmentDirs,
            &Limits::default(),
        ),
        "attachments[0]",
        "data directory",
    );
}

/// How the swapping thread flips the path the agent names.
#[derive(Debug, Clone, Copy)]
enum Swap {
    /// `outgoing/x` is a symbolic link renamed over, atomically, between one
    /// to an allowed folder and one to the secret folder; the agent names
    /// `outgoing/x/letter.txt`.
    LinkedFolder,
    /// `outgoing/x` is exchanged (`RENAME_EXCHANGE`) between a real folder
    /// and a symbolic link to the secret folder.
    FolderAndLink,
    /// `outgoing/letter.txt` itself is exchanged between a real file and a
    /// symbolic link to the secret file.
    FileAndLink,
}

/// What the stages of one race did.
#[derive(Debug, Default)]
struct Tally {
    allowed: usize,
    /// Stages that stored the secret, or the secret found in the store.
    secret: usize,
    /// Refusals that do not name the symbolic link.
    unexplained: Vec<Error>,
}

/// Stages the path as an agent `rounds` times while `swap` flips it.
fn race(swap: Swap, resolver: Resolver, rounds: usize) -> Tally {
    let f = fixture();
    let base = f.files.parent().unwrap().to_owned();
    let outgoing = base.join("outgoing");
    let allowed = outgoing.join("allowed");
    let secret = base.join("secret");
    for dir in [&allowed, &secret] {
        fs::create_dir_all(dir).unwrap();
        fs::write(
            dir.join("letter.txt"),
            if dir == &secret { "SECRET" } else { "allowed" },
        )
        .unwrap();
    }
    let (path, a, b) = match swap {
        Swap::LinkedFolder => {
            symlink(&allowed, outgoing.join("x")).unwrap();
            (
                outgoing.join("x/letter.txt"),
                outgoing.join("x"),
                PathBuf::new(),
            )
        }
        Swap::FolderAndLink => {
            fs::create_dir(outgoing.join("x")).unwrap();
            fs::write(outgoing.join("x/letter.txt"), "allowed").unwrap();
            symlink(&secret, outgoing.join("y")).unwrap();
            (
                outgoing.join("x/letter.txt"),
                outgoing.join("x"),
                outgoing.join("y"),
            )
        }
        Swap::FileAndLink => {
            fs::write(outgoing.join("letter.txt"), "allowed").unwrap();
            symlink(secret.join("letter.txt"), outgoing.join("y")).unwrap();
            (
                outgoing.join("letter.txt"),
                outgoing.join("letter.txt"),
                outgoing.join("y"),
            )
        }
    };
    let store = AttachmentStore::new(f.store_dir.clone())
        .with_agent_dirs(std::slice::from_ref(&outgoing))
        .with_resolver(resolver);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (allowed, secret, tmp) = (allowed.clone(), secret.clone(), outgoing.join("x.tmp"));
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match swap {
                    Swap::LinkedFolder => {
                        let target = if flips.is_multiple_of(2) {
                            &secret
                        } else {
                            &allowed
                        };
                        symlink(target, &tmp).unwrap();
                        fs::rename(&tmp, &a).unwrap();
                    }
                    Swap::FolderAndLink | Swap::FileAndLink => {
                        rustix::fs::renameat_with(
                            rustix::fs::CWD,
                            &a,
                            rustix::fs::CWD,
                            &b,
                            rustix::fs::RenameFlags::EXCHANGE,
                        )
                        .unwrap();
                    }
                }
                flips += 1;
            }
            flips
        })
    };
    let secret_hash = sha256_of(b"SECRET");
    let allowed_hash = sha256_of(b"allowed");
    let mut tally = Tally::default();
    let limits = Limits::default();
    for _ in 0..rounds {
        match store.import("attachments[0]", &path, AttachmentDirs, &limits) {
            Ok(a) if a.sha256 == secret_hash => tally.secret += 1,
            Ok(a) => {
                assert_eq!(a.sha256, allowed_hash);
                tally.allowed += 1;
            }
            Err(e)
                if e.code == Code::PermissionDenied
                    && e.message
                        .contains("is a symbolic link or passes through one") => {}
            Err(e) => tally.unexplained.push(e),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = swapper.join().unwrap();
    assert!(flips > 10, "{swap:?}: the swapper ran only {flips} times");
    if stored(&f.store_dir).contains(&secret_hash) {
        tally.secret = tally.secret.max(1);
    }
    drop(f.root);
    tally
}

#[test]
fn an_agent_racing_a_symlink_swap_never_attaches_the_secret() {
    let rounds = 3000;
    let mut tallies = Vec::new();
    for resolver in RESOLVERS {
        for swap in [Swap::LinkedFolder, Swap::FolderAndLink, Swap::FileAndLink] {
            tallies.push((swap, resolver, race(swap, resolver, rounds)));
        }
    }
    let leaks: Vec<_> = tallies
        .iter()
        .filter(|(_, _, t)| t.secret > 0)
        .map(|(swap, resolver, t)| format!("{swap:?}/{resolver:?}: {} of {rounds}", t.secret))
        .collect();
    assert!(leaks.is_empty(), "the secret was attached: {leaks:?}");
    for (swap, resolver, t) in &tallies {
        assert!(
            t.unexplained.is_empty(),
            "{swap:?}/{resolver:?}: {} refusals do not name the link, such as {:?}",
            t.unexplained.len(),
            t.unexplained.first()
        );
        match swap {
            // A symbolic link anywhere on the way: refused every time.
            Swap::LinkedFolder => assert_eq!(t.allowed, 0),
            // A real folder or file at times: those stages store it.
            Swap::FolderAndLink | Swap::FileAndLink => {
                assert!(t.allowed > 0, "{swap:?}/{resolver:?}: {t:?}")
            }
        }
    }
}

#[test]
fn a_text_name_over_bytes_that_are_not_utf8_goes_as_bytes() {
    use std::path::Path;
    assert_eq!(
        detect_mime(b"PROGRAM HELLO", Path::new("x.F")),
        "text/x-fortran"
    );
    assert_eq!(
        detect_mime(&[0x80], Path::new("x.F")),
        "application/octet-stream"
    );
    assert_eq!(
        detect_mime(b"a,b\n1,2\n", Path::new("rota.csv")),
        "text/csv"
    );
    assert_eq!(
        detect_mime(&[0xff, 0xfe, 0x00], Path::new("rota.csv")),
        "application/octet-stream"
    );
}
