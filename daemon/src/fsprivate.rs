//! Private directories: created 0700, and checked when they already exist.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// How to treat an existing directory whose mode lets others in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooOpen {
    /// Refuse to use it (the socket directory: someone else may have made it).
    Refuse,
    /// Tighten it to 0700 (our own data directory).
    Tighten,
}

/// Creates `dir` (and missing parents) 0700, or checks an existing one is a
/// directory owned by the current user and not open to others.
pub fn ensure_private_dir(dir: &Path, what: &str, too_open: TooOpen) -> Result<(), String> {
    let uid = rustix::process::getuid().as_raw();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {what} {}: {e}", dir.display())),
        Err(e) => Err(format!("cannot use {what} {}: {e}", dir.display())),
        Ok(meta) if !meta.is_dir() => Err(format!(
            "{what} {} exists but is not a directory",
            dir.display()
        )),
        Ok(meta) if meta.uid() != uid => Err(format!(
            "{what} {} is owned by uid {}, not by you (uid {uid}): another user could \
             read or replace what commsd puts there; use a directory of your own \
             (see COMMSD_SOCKET and COMMSD_DATA_DIR)",
            dir.display(),
            meta.uid()
        )),
        Ok(meta) if meta.mode() & 0o077 != 0 => match too_open {
            TooOpen::Refuse => Err(format!(
                "{what} {} is too open (mode {:04o}): it must be 0700 so that no other \
                 user can reach it; fix it with `chmod 700 {}`",
                dir.display(),
                meta.mode() & 0o7777,
                dir.display()
            )),
            TooOpen::Tighten => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |e| format!("cannot restrict {what} {} to 0700: {e}", dir.display()),
                )?;
                tracing::warn!(dir = %dir.display(), "{what} was open to other users; restricted it to 0700");
                Ok(())
            }
        },
        Ok(_) => Ok(()),
    }
}

/// A file name that stays inside its directory: no path separators, no
/// control characters, no leading dots, at most 100 characters. Used for
/// every file named after outside data (attachment names, message ids).
pub fn safe_filename(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// Writes `bytes` to `dir/name` (name made safe), the file 0600 in a 0700
/// directory, synced; returns the path.
pub fn write_private_file(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<std::path::PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    ensure_private_dir(dir, "private directory", TooOpen::Tighten)?;
    let path = dir.join(safe_filename(name));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_0700_and_refuses_or_tightens_open_dirs() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_private_dir(&dir, "socket directory", TooOpen::Refuse).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir, "socket directory", TooOpen::Refuse).unwrap_err();
        assert!(err.contains("too open") && err.contains("0755"), "{err}");

        ensure_private_dir(&dir, "data directory", TooOpen::Tighten).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_file_is_not_a_directory() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let err = ensure_private_dir(&file, "data directory", TooOpen::Tighten).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        let err =
            ensure_private_dir(&file.join("sub"), "data directory", TooOpen::Tighten).unwrap_err();
        assert!(err.contains("cannot"), "{err}");
    }
}
