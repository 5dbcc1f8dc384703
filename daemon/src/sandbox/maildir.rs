//! Maildir on disk: delivery (the spec's tmp → new rename), Maildir++
//! subfolders (`.Archive`, `.Trash`, ...), flags in the file name
//! (`<unique>:2,<flags>`, `S` for seen, `F` for flagged), and the moves that
//! marking and filing are. Directories are 0700, files 0600.
//!
//! All calls are blocking std::fs code; run them on a blocking thread.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Distinguishes deliveries within one process (the `Q` part of a Maildir name).
static DELIVERIES: AtomicU64 = AtomicU64::new(0);

/// How often a colliding Maildir name is retried with the next counter.
const NAME_ATTEMPTS: usize = 8;

/// The name people and tools use for the Maildir's own folder.
pub const INBOX: &str = "INBOX";

/// Creates `dir` and its missing parents with mode 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Delivers `message` into the Maildir at `dir` as the Maildir spec says:
/// written to `tmp/<unique>`, fsynced, renamed into `new/`, and `new/`
/// fsynced; the three directories are created (0700) when missing. The name
/// is `<secs>.M<micros>P<pid>Q<counter>.<hostname>`. Returns the unique name
/// and the path of the delivered file.
pub fn deliver(dir: &Path, message: &[u8]) -> io::Result<(String, PathBuf)> {
    for sub in ["tmp", "new", "cur"] {
        private_dir(&dir.join(sub))?;
    }
    let (name, mut file) = create_unique(&dir.join("tmp"))?;
    let tmp = dir.join("tmp").join(&name);
    let delivered = dir.join("new").join(&name);
    let result = (|| {
        file.write_all(message)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &delivered)?;
        File::open(dir.join("new"))?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((name, delivered))
}

/// One message file of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The unique part of the file name (without `:2,<flags>`).
    pub name: String,
    pub path: PathBuf,
    /// The flag letters (`S`, `F`, ...); empty for a message in `new/`.
    pub flags: String,
    /// When it was delivered: from the name, else the file's mtime (µs since the epoch).
    pub delivered_us: i64,
    pub size: u64,
}

impl Entry {
    pub fn seen(&self) -> bool {
        self.flags.contains('S')
    }

    pub fn flagged(&self) -> bool {
        self.flags.contains('F')
    }
}

/// A Maildir++ mailbox: the root is INBOX, `.<name>` its subfolders.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    pub fn new(root: PathBuf) -> Maildir {
        Maildir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `folder`: the root for INBOX (any case), else
    /// `.<folder>`. `None` for a name that is not a plain Maildir++ folder
    /// name (empty, a leading dot, `/`, control characters).
    pub fn dir(&self, folder: &str) -> Option<PathBuf> {
        if folder.eq_ignore_ascii_case(INBOX) {
            return Some(self.root.clone());
        }
        let plain = !folder.is_empty()
            && !folder.starts_with('.')
            && !folder.contains('/')
            && !folder.chars().any(char::is_control);
        plain.then(|| self.root.join(format!(".{folder}")))
    }

    /// INBOX and the subfolders that exist, sorted.
    pub fn folders(&self) -> io::Result<Vec<String>> {
        let mut names = vec![INBOX.to_owned()];
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(e),
        };
        let mut subfolders = Vec::new();
        for entry in entries {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(folder) = name.strip_prefix('.')
                && !folder.is_empty()
                && entry.path().join("cur").is_dir()
            {
                subfolders.push(folder.to_owned());
            }
        }
        subfolders.sort();
        names.extend(subfolders);
        Ok(names)
    }

    /// Creates the folder's tmp, new and cur (0700) if missing.
    pub fn create(&self, folder: &str) -> io::Result<PathBuf> {
        let dir = self.dir(folder).ok_or_else(|| bad_name(folder))?;
        for sub in ["tmp", "new", "cur"] {
            private_dir(&dir.join(sub))?;
        }
        Ok(dir)
    }

    /// Delivers into `folder`'s `new/`.
    pub fn deliver(&self, folder: &str, message: &[u8]) -> io::Result<(String, PathBuf)> {
        let dir = self.dir(folder).ok_or_else(|| bad_name(folder))?;
        deliver(&dir, message)
    }

    /// Every message of `folder` (`new/` and `cur/`), in no order; empty when
    /// the folder does not exist.
    pub fn entries(&self, folder: &str) -> io::Result<Vec<Entry>> {
        let dir = self.dir(folder).ok_or_else(|| bad_name(folder))?;
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let listing = match fs::read_dir(dir.join(sub)) {
                Ok(listing) => listing,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in listing {
                let entry = entry?;
                let Ok(file_name) = entry.file_name().into_string() else {
                    continue;
                };
                // Dot files are not messages (some readers keep state in them).
                if file_name.starts_with('.') {
                    continue;
                }
                let metadata = match entry.metadata() {
                    Ok(m) if m.is_file() => m,
                    _ => continue,
                };
                let (name, flags) = match file_name.split_once(":2,") {
                    Some((name, flags)) => (name.to_owned(), flags.to_owned()),
                    None => (file_name.clone(), String::new()),
                };
                let delivered_us = delivered_us(&name).unwrap_or_else(|| {
                    metadata
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_micros() as i64)
                });
                out.push(Entry {
                    name,
                    path: entry.path(),
                    flags,
                    delivered_us,
                    size: metadata.len(),
                });
            }
        }
        Ok(out)
    }

    /// The message called `name` in `folder`, if it is there.
    pub fn find(&self, folder: &str, name: &str) -> io::Result<Option<Entry>> {
        Ok(self.entries(folder)?.into_iter().find(|e| e.name == name))
    }

    /// Sets or clears the seen flag: the file moves to `cur/` with its
    /// flags rewritten (sorted, as the spec asks). Returns the new entry.
    pub fn set_seen(&self, folder: &str, entry: &Entry, seen: bool) -> io::Result<Entry> {
        let dir = self.dir(folder).ok_or_else(|| bad_name(folder))?;
        let mut flags: Vec<char> = entry.flags.chars().filter(|c| *c != 'S').collect();
        if seen {
            flags.push('S');
        }
        flags.sort_unstable();
        flags.dedup();
        let flags: String = flags.into_iter().collect();
        let target = dir.join("cur").join(format!("{}:2,{flags}", entry.name));
        if target != entry.path {
            private_dir(&dir.join("cur"))?;
            fs::rename(&entry.path, &target)?;
            File::open(dir.join("cur"))?.sync_all()?;
        }
        Ok(Entry {
            path: target,
            flags,
            ..entry.clone()
        })
    }

    /// Moves a message into `to` (created when missing), keeping its name,
    /// flags and whether it was new.
    pub fn move_entry(&self, entry: &Entry, to: &str) -> io::Result<PathBuf> {
        let dir = self.create(to)?;
        let sub = entry
            .path
            .parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
            .filter(|s| *s == "new")
            .unwrap_or("cur");
        let file_name = entry
            .path
            .file_name()
            .ok_or_else(|| io::Error::other("a message path without a file name"))?;
        let target = dir.join(sub).join(file_name);
        fs::rename(&entry.path, &target)?;
        File::open(dir.join(sub))?.sync_all()?;
        Ok(target)
    }
}

fn bad_name(folder: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{folder:?} is not a Maildir++ folder name"),
    )
}

/// The delivery time a name of ours records (`<secs>.M<micros>P...`), in µs.
fn delivered_us(name: &str) -> Option<i64> {
    let (secs, rest) = name.split_once('.')?;
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = rest
        .strip_prefix('M')?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(secs * 1_000_000 + micros)
}

/// Creates a new 0600 file in `tmp` under a fresh Maildir name.
fn create_unique(tmp: &Path) -> io::Result<(String, File)> {
    let mut last_error = None;
    for _ in 0..NAME_ATTEMPTS {
        let name = unique_name();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp.join(&name))
        {
            Ok(file) => return Ok((name, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no unique Maildir name")))
}

/// `<secs>.M<micros>P<pid>Q<counter>.<hostname>`.
fn unique_name() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.M{}P{}Q{}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        DELIVERIES.fetch_add(1, Ordering::Relaxed),
        hostname()
    )
}

/// The host name for Maildir names, with `/` and `:` escaped as the spec
/// says; `commsd` when it cannot be read.
fn hostname() -> &'static str {
    static HOSTNAME: OnceLock<String> = OnceLock::new();
    HOSTNAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|path| fs::read_to_string(path).ok())
            .map(|name| maildir_safe(name.trim()))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "commsd".to_owned())
    })
}

/// Escapes `/` as `\057` and `:` as `\072`; drops anything else unsafe in a
/// file name (control characters, spaces, backslashes).
fn maildir_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '/' => out.push_str("\\057"),
            ':' => out.push_str("\\072"),
            c if c.is_control() || c.is_whitespace() || c == '\\' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn maildir() -> (tempfile::TempDir, Maildir) {
        let root = tempfile::tempdir().unwrap();
        let maildir = Maildir::new(root.path().join("inbox/Maildir"));
        (root, maildir)
    }

    #[test]
    fn maildir_names_follow_the_spec_and_are_distinct() {
        let (_root, maildir) = maildir();
        let (_, a) = maildir.deliver(INBOX, b"one").unwrap();
        let (_, b) = maildir.deliver(INBOX, b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(&a).unwrap(), b"one");
        assert_eq!(fs::read(&b).unwrap(), b"two");

        let name = a.file_name().unwrap().to_str().unwrap();
        let (secs, rest) = name.split_once('.').unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_700_000_000, "{name}");
        let rest = rest.strip_prefix('M').unwrap();
        let (micros, rest) = rest.split_once('P').unwrap();
        assert!(micros.parse::<u32>().unwrap() < 1_000_000, "{name}");
        let (pid, rest) = rest.split_once('Q').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        let (counter, host) = rest.split_once('.').unwrap();
        counter.parse::<u64>().unwrap();
        assert!(!host.is_empty() && !host.contains(['/', ':']), "{name}");
        let expected = secs.parse::<i64>().unwrap() * 1_000_000 + micros.parse::<i64>().unwrap();
        assert_eq!(delivered_us(name), Some(expected));
        assert_eq!(delivered_us("foreign-name"), None);
    }

    #[test]
    fn concurrent_deliveries_never_collide() {
        let (_root, maildir) = maildir();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let maildir = maildir.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .map(|j| {
                            maildir
                                .deliver(INBOX, format!("{i}-{j}").as_bytes())
                                .unwrap()
                                .1
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut paths: Vec<PathBuf> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 80);
        assert_eq!(maildir.entries(INBOX).unwrap().len(), 80);
    }

    #[test]
    fn seen_is_a_flag_in_the_name_and_moves_keep_it() {
        let (_root, maildir) = maildir();
        let (name, path) = maildir.deliver(INBOX, b"Subject: x\r\n\r\nbody").unwrap();
        assert_eq!(path.parent().unwrap(), maildir.root().join("new"));
        assert_eq!(mode(&path), 0o600);
        for sub in ["tmp", "new", "cur"] {
            assert_eq!(mode(&maildir.root().join(sub)), 0o700, "{sub}");
        }
        let entry = maildir.find(INBOX, &name).unwrap().unwrap();
        assert!(!entry.seen() && entry.flags.is_empty());
        assert_eq!(entry.size, 18);

        let read = maildir.set_seen(INBOX, &entry, true).unwrap();
        assert_eq!(
            read.path,
            maildir.root().join("cur").join(format!("{name}:2,S"))
        );
        assert!(read.path.is_file() && !path.exists());
        let again = maildir.find(INBOX, &name).unwrap().unwrap();
        assert!(again.seen());
        // Idempotent.
        assert_eq!(
            maildir.set_seen(INBOX, &again, true).unwrap().path,
            read.path
        );

        fs::rename(
            &read.path,
            maildir.root().join("cur").join(format!("{name}:2,FS")),
        )
        .unwrap();
        let flagged = maildir.find(INBOX, &name).unwrap().unwrap();
        let unread = maildir.set_seen(INBOX, &flagged, false).unwrap();
        assert_eq!(unread.flags, "F");
        assert!(unread.flagged() && !unread.seen());

        let moved = maildir.move_entry(&unread, "Archive").unwrap();
        assert_eq!(
            moved,
            maildir
                .root()
                .join(".Archive/cur")
                .join(format!("{name}:2,F"))
        );
        assert_eq!(mode(&maildir.root().join(".Archive")), 0o700);
        assert!(maildir.entries(INBOX).unwrap().is_empty());
        assert_eq!(maildir.find("Archive", &name).unwrap().unwrap().flags, "F");
        assert_eq!(maildir.folders().unwrap(), ["INBOX", "Archive"]);
    }

    #[test]
    fn folder_names_stay_inside_the_maildir() {
        let (_root, maildir) = maildir();
        assert_eq!(maildir.dir("inbox").unwrap(), maildir.root());
        assert_eq!(maildir.dir("Trash").unwrap(), maildir.root().join(".Trash"));
        for bad in ["", "../x", ".hidden", "a/b", "a\nb"] {
            assert!(maildir.dir(bad).is_none(), "{bad:?}");
            assert!(maildir.entries(bad).is_err(), "{bad:?}");
        }
        assert!(maildir.entries("Nowhere").unwrap().is_empty());
        assert_eq!(maildir.folders().unwrap(), ["INBOX"]);
    }

    #[test]
    fn hostnames_are_made_safe_for_maildir_names() {
        assert_eq!(maildir_safe("host.example"), "host.example");
        assert_eq!(maildir_safe("a/b:c"), "a\\057b\\072c");
        assert_eq!(maildir_safe("a b\n"), "ab");
        assert!(!hostname().is_empty());
    }
}
