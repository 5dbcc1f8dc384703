//! Advisory lock files that also record the holder's pid.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (and by the kernel if the process dies).
#[derive(Debug)]
pub struct LockFile {
    _file: File,
    path: PathBuf,
}

impl LockFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the lock file, then releases the lock: a clean stop leaves
    /// nothing behind. The file goes while we still hold the lock, and
    /// [`try_lock`] only counts a lock taken on the file that is at the path,
    /// so a process that opened the old file meanwhile cannot think it holds
    /// the lock once the path names a new one.
    pub fn remove(self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, lock = %self.path.display(), "could not remove lock file");
        }
    }
}

#[derive(Debug)]
pub enum LockError {
    /// Another live process holds the lock; its pid when it wrote one.
    Held {
        pid: Option<u32>,
    },
    Io(std::io::Error),
}

/// Takes the lock at `path` without blocking and writes our pid into it.
///
/// A holder removes the file when it stops ([`LockFile::remove`]). Whoever
/// opened the file just before that and then locked it holds a lock on a
/// file that no longer has a name, which excludes nobody: so a lock counts
/// only when the path still names the locked file, and otherwise we try again
/// on the file that is there now.
pub fn try_lock(path: &Path) -> Result<LockFile, LockError> {
    // The path can change under us only when another holder stops, so a
    // couple of tries are plenty; the bound keeps a pathological case finite.
    for _ in 0..100 {
        let file = lock_once(path)?;
        if same_file(&file, path).map_err(LockError::Io)? {
            return finish(file, path);
        }
    }
    Err(LockError::Io(std::io::Error::other(format!(
        "{} kept changing while being locked",
        path.display()
    ))))
}

/// Whether `path` names `file` (same device and inode).
fn same_file(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt as _;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn lock_once(path: &Path) -> Result<File, LockError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(LockError::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse().ok());
            return Err(LockError::Held { pid });
        }
        Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
    }
    Ok(file)
}

fn finish(mut file: File, path: &Path) -> Result<LockFile, LockError> {
    let write_pid = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_data()
    };
    write_pid(&mut file).map_err(LockError::Io)?;
    Ok(LockFile {
        _file: file,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_sees_the_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap();
        match try_lock(&path) {
            Err(LockError::Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        try_lock(&path).unwrap();
    }

    #[test]
    fn remove_leaves_nothing_and_the_next_holder_gets_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap();
        held.remove();
        assert!(!path.exists(), "the lock file outlived its holder");
        let again = try_lock(&path).unwrap();
        assert!(path.exists());
        drop(again);
    }

    #[test]
    fn a_lock_on_a_removed_file_does_not_count() {
        // A second process opened the file just before the holder removed
        // it: locking that open file must not make it the holder, or two
        // daemons would run once a third creates the file anew.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap();
        let stale = OpenOptions::new().write(true).open(&path).unwrap();
        held.remove();
        stale.try_lock().unwrap();
        assert!(!same_file(&stale, &path).unwrap());
        let fresh = try_lock(&path).unwrap();
        match try_lock(&path) {
            Err(LockError::Held { .. }) => {}
            other => panic!("expected Held, got {other:?}"),
        }
        drop((fresh, stale));
    }
}
