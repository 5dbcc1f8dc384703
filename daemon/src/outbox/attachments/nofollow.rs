//! Opening a file beneath a directory without following a symbolic link in
//! any component, so that the file checked and the file read are one.
//!
//! Linux: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS`, relative to an opened directory. Where `openat2`
//! is missing (Linux before 5.6, a seccomp filter answering `ENOSYS`, other
//! systems) the same walk is done one component at a time with
//! `openat(O_NOFOLLOW)`. Either way a symbolic link anywhere on the way is
//! refused with `ELOOP` ([`is_link`]), and `..` is
//! never accepted, so whatever is swapped while the open runs, the result is
//! a file that lies beneath the directory or an error.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

/// A directory on the way: only looked up through, never read. Without
/// `O_DIRECTORY`: `O_PATH | O_NOFOLLOW` opens a symbolic link itself, and
/// [`dir_only`] tells it from a directory on the descriptor, so a link
/// swapped in is always reported as a link.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The file itself: read-only, and a FIFO or a terminal swapped in can
/// neither block the open nor become the controlling terminal.
const FILE_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// How the lookup is done; tests run both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// `openat2` where the kernel has it, else [`Resolver::Walk`].
    Best,
    /// One `openat(O_NOFOLLOW)` per component.
    Walk,
}

/// Whether `e` is the refusal of a symbolic link on the way (`ELOOP`).
pub fn is_link(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::LOOP.raw_os_error())
}

/// Opens the directory `dir` (absolute) for lookups beneath it, with no
/// symbolic link in any of its components.
pub fn open_dir(dir: &Path, resolver: Resolver) -> io::Result<OwnedFd> {
    let root = rustix::fs::open("/", DIR_FLAGS, Mode::empty())?;
    let rel = dir
        .strip_prefix("/")
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not an absolute path"))?;
    if rel.as_os_str().is_empty() {
        return Ok(root);
    }
    beneath(root.as_fd(), rel, DIR_FLAGS, resolver)
        .and_then(|fd| dir_only(fd).map_err(io::Error::from))
}

/// Opens the file `rel` beneath `dir` for reading. Fails with `ELOOP` when
/// `rel` is or passes through a symbolic link, and with `InvalidInput` when
/// it is empty or holds anything but plain names (`..`, a root).
pub fn open_file(dir: BorrowedFd<'_>, rel: &Path, resolver: Resolver) -> io::Result<File> {
    beneath(dir, rel, FILE_FLAGS, resolver).map(File::from)
}

/// The plain names of `rel`; `.` is skipped, anything else is refused.
fn names(rel: &Path) -> io::Result<Vec<&OsStr>> {
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "only plain names are followed beneath a directory",
                ));
            }
        }
    }
    if names.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no file named"));
    }
    Ok(names)
}

fn beneath(
    dir: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    resolver: Resolver,
) -> io::Result<OwnedFd> {
    let names = names(rel)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if resolver == Resolver::Best {
        match openat2(dir, rel, flags) {
            Err(Errno::NOSYS) => {}
            other => return other.map_err(io::Error::from),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = resolver;
    walk(dir, &names, flags).map_err(io::Error::from)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn openat2(dir: BorrowedFd<'_>, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    use rustix::fs::ResolveFlags;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    // EAGAIN: a concurrent rename made the kernel give up a lookup it could
    // not prove safe. Trying again is what the manual page asks for.
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), resolve) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

/// The same lookup one component at a time, each opened relative to the
/// previous one with `O_NOFOLLOW`.
fn walk(dir: BorrowedFd<'_>, names: &[&OsStr], flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let Some((last, parents)) = names.split_last() else {
        return Err(Errno::INVAL);
    };
    let mut held: Option<OwnedFd> = None;
    for name in parents {
        let at = held.as_ref().map_or(dir, |fd| fd.as_fd());
        let next = dir_only(rustix::fs::openat(at, *name, DIR_FLAGS, Mode::empty())?)?;
        held = Some(next);
    }
    let at = held.as_ref().map_or(dir, |fd| fd.as_fd());
    rustix::fs::openat(at, *last, flags, Mode::empty())
}

/// `fd` if it is a directory: `ELOOP` for a symbolic link, else `ENOTDIR`.
fn dir_only(fd: OwnedFd) -> rustix::io::Result<OwnedFd> {
    match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
        FileType::Directory => Ok(fd),
        FileType::Symlink => Err(Errno::LOOP),
        _ => Err(Errno::NOTDIR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    const RESOLVERS: [Resolver; 2] = [Resolver::Best, Resolver::Walk];

    fn read(file: io::Result<File>) -> String {
        let mut s = String::new();
        file.unwrap().read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn opens_plain_paths_and_refuses_every_symbolic_link() {
        let root = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(root.path()).unwrap().join("base");
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/b/file"), "inside").unwrap();
        std::fs::write(base.with_file_name("secret"), "outside").unwrap();
        symlink(base.parent().unwrap(), base.join("up")).unwrap();
        symlink(base.join("a"), base.join("a-link")).unwrap();
        symlink(base.join("a/b/file"), base.join("a/file-link")).unwrap();
        symlink(base.with_file_name("secret"), base.join("a/b/secret-link")).unwrap();
        for resolver in RESOLVERS {
            let dir = open_dir(&base, resolver).unwrap();
            assert_eq!(
                read(open_file(dir.as_fd(), Path::new("a/b/file"), resolver)),
                "inside"
            );
            assert_eq!(
                read(open_file(dir.as_fd(), Path::new("./a/./b/file"), resolver)),
                "inside"
            );
            for rel in [
                "up/secret",
                "a-link/b/file",
                "a/file-link",
                "a/b/secret-link",
            ] {
                let e = open_file(dir.as_fd(), Path::new(rel), resolver).unwrap_err();
                assert!(is_link(&e), "{rel} ({resolver:?}): {e}");
            }
            for rel in ["../secret", "a/../../secret", "", "/etc/passwd"] {
                let e = open_file(dir.as_fd(), Path::new(rel), resolver).unwrap_err();
                assert_eq!(
                    e.kind(),
                    io::ErrorKind::InvalidInput,
                    "{rel} ({resolver:?}): {e}"
                );
            }
            let e = open_file(dir.as_fd(), Path::new("a/missing"), resolver).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
            // The directory itself must be reached without links, too.
            let e = open_dir(&base.join("a-link"), resolver).unwrap_err();
            assert!(is_link(&e), "{resolver:?}: {e}");
            let e = open_dir(&base.join("a-link/b"), resolver).unwrap_err();
            assert!(is_link(&e), "{resolver:?}: {e}");
        }
    }

    #[test]
    fn a_fifo_opens_without_blocking() {
        let root = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(root.path().join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        for resolver in RESOLVERS {
            let dir = open_dir(&std::fs::canonicalize(root.path()).unwrap(), resolver).unwrap();
            let file = open_file(dir.as_fd(), Path::new("pipe"), resolver).unwrap();
            assert!(std::os::unix::fs::FileTypeExt::is_fifo(
                &file.metadata().unwrap().file_type()
            ));
        }
    }
}
