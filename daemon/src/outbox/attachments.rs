//! The attachment store: files copied into the data directory, named by the
//! SHA-256 of their content (`<data dir>/attachments/<sha256>`), and the one
//! place that decides which files may be attached.
//!
//! A file is opened once, and everything is checked on that descriptor and
//! read from it: its type and size (`fstat`), and where it is, because the
//! path it was opened by has no symbolic link that could be swapped between
//! the check and the read ([`nofollow`]). Agents (callers without the
//! `admin` grant) attach only from `[outbox] attachment_dirs`: the path they
//! give must name a file inside one of them, reached without any symbolic
//! link. Humans may attach any file; links are resolved first and the
//! resolved path is then opened the same way.

mod nofollow;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::validate::{Limits, check_filename, is_sha256_hex, too_large};
use crate::auth::{Caller, Grant};
use crate::error::{Code, Error, Result};
use crate::outbox::model::Attachment;
pub use nofollow::Resolver;

/// Where a caller may attach files from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachFrom {
    /// Any file the daemon can read (humans).
    Anywhere,
    /// Only files inside `[outbox] attachment_dirs` (agents).
    AttachmentDirs,
}

impl AttachFrom {
    /// Humans (the `admin` grant) attach from anywhere, agents only from
    /// `[outbox] attachment_dirs`.
    pub fn for_caller(caller: &Caller) -> AttachFrom {
        if caller.has(Grant::Admin) {
            AttachFrom::Anywhere
        } else {
            AttachFrom::AttachmentDirs
        }
    }
}

/// One `[outbox] attachment_dirs` entry: as configured, and as resolved
/// (symbolic links followed) when the store was made, at start-up.
#[derive(Debug, Clone)]
struct AgentDir {
    configured: PathBuf,
    resolved: PathBuf,
}

/// Attachments copied into the data directory, named by the SHA-256 of their
/// content: `<data dir>/attachments/<sha256>`.
#[derive(Debug, Clone)]
pub struct AttachmentStore {
    dir: PathBuf,
    agent_dirs: Vec<AgentDir>,
    resolver: Resolver,
}

impl AttachmentStore {
    /// A store in `dir` (`<data dir>/attachments`), created 0700 on first
    /// import. Agents can attach nothing until [`Self::with_agent_dirs`].
    pub fn new(dir: PathBuf) -> Self {
        AttachmentStore {
            dir,
            agent_dirs: Vec::new(),
            resolver: Resolver::Best,
        }
    }

    /// The directories agents may attach from (`[outbox] attachment_dirs`,
    /// absolute). Each is resolved now, once: a directory configured through
    /// a symbolic link (`/home/me/outgoing` → `/data/outgoing`) stays the
    /// directory it named at start-up, whatever the link points to later.
    /// One that does not exist yet is kept as written and must then be
    /// reachable without symbolic links.
    pub fn with_agent_dirs(mut self, dirs: &[PathBuf]) -> Self {
        self.agent_dirs = dirs
            .iter()
            .map(|configured| {
                let resolved = fs::canonicalize(configured).unwrap_or_else(|e| {
                    tracing::warn!(
                        dir = %configured.display(),
                        error = %e,
                        "[outbox] attachment_dirs: cannot resolve the directory; agents can attach \
                         from it once it exists as a real directory"
                    );
                    configured.clone()
                });
                AgentDir {
                    configured: configured.clone(),
                    resolved,
                }
            })
            .collect();
        self
    }

    /// Uses `resolver` for every lookup (tests: the `openat` walk).
    #[cfg(test)]
    fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// Copies the file at `path` into the store and describes it.
    ///
    /// Blocking. The path must be absolute; with [`AttachFrom::AttachmentDirs`]
    /// it must name a file inside one of the agent directories without a
    /// symbolic link after the directory. The file is opened once without
    /// following symbolic links (and without blocking, so a FIFO cannot hang
    /// the call); type, size and location are checked on that descriptor,
    /// and the copy is read from it, at most the size limit plus one byte.
    /// The copy is written through a temporary file, fsynced and renamed, so
    /// later changes to the original change nothing. Kernel pseudo-files
    /// (`/proc`, `/sys`, `/dev`) and commsd's own data directory are refused.
    /// The MIME type comes from the content, else from the extension, else
    /// `application/octet-stream`.
    pub fn import(
        &self,
        field: &str,
        path: &Path,
        from: AttachFrom,
        limits: &Limits,
    ) -> Result<Attachment> {
        if !path.is_absolute() {
            return Err(Error::invalid(
                field,
                format!(
                    "{} is not an absolute path; relative paths are ambiguous because commsd \
                     does not run in your working directory",
                    path.display()
                ),
            ));
        }
        let filename = file_name(field, path)?;
        let file = match from {
            AttachFrom::Anywhere => self.open_anywhere(field, path, limits)?,
            AttachFrom::AttachmentDirs => self.open_in_agent_dirs(field, path)?,
        };
        let bytes = read_regular(field, path, file, limits)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        self.store(&sha256, &bytes)
            .map_err(|e| Error::io("cannot copy the attachment into the data directory", e))?;
        Ok(Attachment {
            filename,
            mime_type: detect_mime(&bytes, path),
            size: bytes.len() as u64,
            sha256,
        })
    }

    /// A human's file: symbolic links are resolved, the resolved path is
    /// checked and then opened with no link followed, so what was checked is
    /// what is read.
    fn open_anywhere(&self, field: &str, path: &Path, limits: &Limits) -> Result<File> {
        let real = fs::canonicalize(path).map_err(|e| unreadable(field, path, &e))?;
        self.check_location(field, path, &real)?;
        precheck_type(field, path, &real, limits)?;
        let root = nofollow::open_dir(Path::new("/"), self.resolver)
            .map_err(|e| unreadable(field, path, &e))?;
        let rel = real.strip_prefix("/").unwrap_or(&real);
        nofollow::open_file(root.as_fd(), rel, self.resolver).map_err(|e| {
            if nofollow::is_link(&e) {
                Error::invalid(
                    field,
                    format!(
                        "{} changed while it was being attached (a symbolic link on its way \
                         was replaced); attach it again",
                        path.display()
                    ),
                )
            } else {
                unreadable(field, path, &e)
            }
        })
    }

    /// An agent's file: inside an agent directory, reached from the
    /// directory's descriptor without following any symbolic link.
    fn open_in_agent_dirs(&self, field: &str, path: &Path) -> Result<File> {
        let Some((dir, rel)) = self.agent_dirs.iter().find_map(|d| {
            path.strip_prefix(&d.configured)
                .or_else(|_| path.strip_prefix(&d.resolved))
                .ok()
                .map(|rel| (d, rel))
        }) else {
            return Err(self.outside(field, path));
        };
        if rel.components().any(|c| c == Component::ParentDir) {
            return Err(denied(
                field,
                format!(
                    "{} contains `..`; agents name attachments by their plain path inside \
                     [outbox] attachment_dirs",
                    path.display()
                ),
            ));
        }
        let real = dir.resolved.join(rel);
        self.check_location(field, path, &real)?;
        let root = nofollow::open_dir(&dir.resolved, self.resolver).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "does not exist".to_owned(),
                _ if nofollow::is_link(&e) => format!(
                    "is no longer the directory commsd resolved at start-up ({}): a symbolic \
                     link on its way changed; restart commsd after changing attachment_dirs",
                    dir.resolved.display()
                ),
                _ => format!("cannot be opened: {e}"),
            };
            Error::invalid(
                field,
                format!(
                    "the attachment directory {} {why}",
                    dir.configured.display()
                ),
            )
        })?;
        nofollow::open_file(root.as_fd(), rel, self.resolver).map_err(|e| match e.kind() {
            _ if nofollow::is_link(&e) => denied(
                field,
                format!(
                    "{} is a symbolic link or passes through one; agents may attach only files \
                     inside [outbox] attachment_dirs, named without symbolic links",
                    path.display()
                ),
            ),
            io::ErrorKind::InvalidInput => Error::invalid(
                field,
                format!("{} is a directory, not a file", path.display()),
            ),
            io::ErrorKind::NotFound if real != path => Error::invalid(
                field,
                format!(
                    "{} does not exist (looked up as {}: attachment_dirs are resolved when \
                     commsd starts)",
                    path.display(),
                    real.display()
                ),
            ),
            _ => unreadable(field, path, &e),
        })
    }

    /// The refusal for a path outside every agent directory.
    fn outside(&self, field: &str, path: &Path) -> Error {
        let allowed = if self.agent_dirs.is_empty() {
            "none are configured, so agents cannot attach files".to_owned()
        } else {
            self.agent_dirs
                .iter()
                .map(|d| d.configured.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        denied(
            field,
            format!(
                "{} is outside the directories agents may attach from ([outbox] \
                 attachment_dirs: {allowed})",
                path.display()
            ),
        )
    }

    /// Stores bytes that arrived from a provider (a Gmail draft's
    /// attachment) and describes them like [`Self::import`]. Blocking.
    pub fn import_bytes(
        &self,
        field: &str,
        filename: &str,
        mime_type: &str,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Attachment> {
        check_filename(field, filename)?;
        if bytes.len() as u64 > limits.max_attachment_bytes {
            return Err(too_large(
                field,
                format!(
                    "is {} bytes; an attachment may be at most {} bytes",
                    bytes.len(),
                    limits.max_attachment_bytes
                ),
                limits.max_attachment_bytes,
            ));
        }
        let sha256 = hex::encode(Sha256::digest(bytes));
        self.store(&sha256, bytes)
            .map_err(|e| Error::io("cannot copy the attachment into the data directory", e))?;
        let mime_type = if mime_type.is_empty() {
            detect_mime(bytes, Path::new(filename))
        } else {
            mime_type.to_owned()
        };
        Ok(Attachment {
            filename: filename.to_owned(),
            mime_type,
            size: bytes.len() as u64,
            sha256,
        })
    }

    /// Where the attachment with this SHA-256 (64 lowercase hex digits) is
    /// stored. Anything else maps to a name the store never creates, so a
    /// crafted hash cannot point outside the store.
    pub fn path(&self, sha256: &str) -> PathBuf {
        if is_sha256_hex(sha256) {
            self.dir.join(sha256)
        } else {
            self.dir.join(".invalid-sha256")
        }
    }

    /// The stored content of `a`, verified against its SHA-256 and size: a
    /// mismatch is an [`io::ErrorKind::InvalidData`] error, never wrong bytes.
    pub fn read(&self, a: &Attachment) -> io::Result<Vec<u8>> {
        if !is_sha256_hex(&a.sha256) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "attachment {:?} has a malformed sha256 {:?}",
                    a.filename, a.sha256
                ),
            ));
        }
        let bytes = fs::read(self.path(&a.sha256))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != a.sha256 || bytes.len() as u64 != a.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "stored attachment {:?} is corrupted: expected SHA-256 {} and {} bytes, \
                     found {actual} and {} bytes",
                    a.filename,
                    a.sha256,
                    a.size,
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Refuses pseudo-files and commsd's own files, by the link-free path
    /// the file is (about to be) opened by.
    fn check_location(&self, field: &str, path: &Path, real: &Path) -> Result<()> {
        if ["/proc", "/sys", "/dev"]
            .iter()
            .any(|p| real.starts_with(p))
        {
            return Err(Error::invalid(
                field,
                format!("{} is a system pseudo-file, not a document", path.display()),
            ));
        }
        if let Some(data_dir) = self.dir.parent() {
            let data_dir = fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
            if real.starts_with(&data_dir) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{} is inside commsd's data directory; its files cannot be attached",
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Writes `bytes` as `dir/<sha256>` unless an intact copy is there.
    fn store(&self, sha256: &str, bytes: &[u8]) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let target = self.dir.join(sha256);
        if fs::read(&target).is_ok_and(|stored| hex::encode(Sha256::digest(&stored)) == sha256) {
            return Ok(());
        }
        write_atomically(&self.dir, &target, bytes)
    }
}

/// A permission error naming `field`.
fn denied(field: &str, message: String) -> Error {
    Error::new(Code::PermissionDenied, format!("{field}: {message}"))
        .with_details(json!({ "field": field }))
}

/// The base name of `path`, as the recipient will see it.
fn file_name(field: &str, path: &Path) -> Result<String> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(field, format!("{} does not name a file", path.display())))?;
    let name = name.to_str().ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "the file name of {} is not valid UTF-8; rename the file",
                path.display()
            ),
        )
    })?;
    check_filename(field, name)?;
    Ok(name.to_owned())
}

/// An error for a file that cannot be examined or opened.
fn unreadable(field: &str, path: &Path, e: &io::Error) -> Error {
    let message = match e.kind() {
        io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
        io::ErrorKind::PermissionDenied => {
            format!("commsd may not read {}: permission denied", path.display())
        }
        _ => format!("cannot read {}: {e}", path.display()),
    };
    Error::invalid(field, message)
}

/// Refuses a human's non-regular file before opening it, so a device is
/// not even opened. Only a courtesy: the check that counts is on the
/// opened file ([`read_regular`]).
fn precheck_type(field: &str, path: &Path, real: &Path, limits: &Limits) -> Result<()> {
    let meta = fs::symlink_metadata(real).map_err(|e| unreadable(field, path, &e))?;
    check_regular(field, path, &meta, limits)
}

/// Refuses anything but a regular file within the size limit.
fn check_regular(field: &str, path: &Path, meta: &fs::Metadata, limits: &Limits) -> Result<()> {
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(Error::invalid(
            field,
            format!(
                "{} is {what}; only regular files can be attached",
                path.display()
            ),
        ));
    }
    if meta.len() > limits.max_attachment_bytes {
        return Err(attachment_too_large(field, path, meta.len(), limits));
    }
    Ok(())
}

fn attachment_too_large(field: &str, path: &Path, size: u64, limits: &Limits) -> Error {
    too_large(
        field,
        format!(
            "{} is {size} bytes; an attachment may be at most {} bytes",
            path.display(),
            limits.max_attachment_bytes
        ),
        limits.max_attachment_bytes,
    )
}

/// Checks the opened file (a regular file within the limit) and reads it,
/// at most the limit plus one byte.
fn read_regular(field: &str, path: &Path, file: File, limits: &Limits) -> Result<Vec<u8>> {
    let meta = file.metadata().map_err(|e| unreadable(field, path, &e))?;
    check_regular(field, path, &meta, limits)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limits.max_attachment_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(field, path, &e))?;
    if bytes.len() as u64 > limits.max_attachment_bytes {
        return Err(attachment_too_large(
            field,
            path,
            bytes.len() as u64,
            limits,
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to `target` through a temporary file in `dir`: write,
/// fsync, rename, fsync the directory. The temporary file is removed on error.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(random)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, target)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The MIME type from the content, else the extension, else octet-stream.
fn detect_mime(bytes: &[u8], path: &Path) -> String {
    const BINARY: &str = "application/octet-stream";
    match infer::get(bytes) {
        Some(kind) => kind.mime_type().to_owned(),
        None => {
            let guessed = mime_guess::from_path(path).first_raw().unwrap_or(BINARY);
            // A text type by its name but not text (UTF-8) inside: receivers
            // decode text parts and would replace the bytes they cannot read
            // (fuzz_mime_round_trips_through_mail_parser found `x.F` holding
            // 0x80 arriving as U+FFFD), so it goes as bytes.
            if guessed.starts_with("text/") && std::str::from_utf8(bytes).is_err() {
                BINARY.to_owned()
            } else {
                guessed.to_owned()
            }
        }
    }
}

#[cfg(test)]
#[path = "attachments/tests.rs"]
mod tests;
