//! The encrypted vault file: where secrets live when no OS keyring is usable.
//!
//! Layout (all integers little-endian), 79 header bytes then the ciphertext:
//!
//! | bytes | field |
//! |---|---|
//! | 8  | magic `CMSDVLT1` |
//! | 1  | format version (1) |
//! | 1  | KDF: 1 = Argon2id v0x13 |
//! | 12 | KDF memory (KiB), iterations, lanes: `u32` each |
//! | 16 | KDF salt (random, fixed for the file's life) |
//! | 16 | key check: SHA-256("commsd vault key check" ‖ key), first 16 bytes |
//! | 1  | AEAD: 1 = XChaCha20-Poly1305 |
//! | 24 | nonce (random, new for every write) |
//! | .. | AEAD(key, nonce, aad = the 79 header bytes, plaintext) |
//!
//! The plaintext is JSON `{"entries": {"<name>": "<secret>", ...}}`. The
//! whole header is authenticated as associated data, so changing any header
//! byte fails decryption. The key check tells a wrong passphrase (or altered
//! KDF parameters or salt, which amount to the same) apart from an altered
//! ciphertext; it reveals nothing an attacker cannot already test against
//! the AEAD tag. Every write replaces the whole file atomically
//! ([`write_atomically`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Secret;

const MAGIC: &[u8; 8] = b"CMSDVLT1";
const FORMAT_VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const AEAD_XCHACHA20POLY1305: u8 = 1;
pub const HEADER_LEN: usize = 8 + 1 + 1 + 12 + 16 + 16 + 1 + 24;
const SALT_AT: usize = 22;
const CHECK_AT: usize = 38;
const NONCE_AT: usize = 55;

/// Argon2id cost parameters, recorded in every file's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// New files: 64 MiB, 3 passes, 1 lane. Above OWASP's Argon2id
    /// minimums (19 MiB/2 passes, 46 MiB/1 pass) and RFC 9106's memory-
    /// constrained choice; about a third of a second on a laptop core.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// Refuses parameters no commsd writes, so an altered header cannot make
    /// the daemon allocate gigabytes or spin for minutes before failing.
    fn check(self) -> Result<Self, FileError> {
        let ok = (8..=1024 * 1024).contains(&self.m_kib)
            && (1..=64).contains(&self.t)
            && (1..=16).contains(&self.p)
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(self)
        } else {
            Err(FileError::Damaged(format!(
                "its header asks for Argon2id parameters out of range (m={} KiB, t={}, p={})",
                self.m_kib, self.t, self.p
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("wrong passphrase for the vault file (or its key parameters were altered)")]
    WrongPassphrase,
    #[error("the vault file is damaged or was altered: {0}")]
    Damaged(String),
    #[error("the vault file cannot be read: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Crypto(String),
}

/// A key derived from the passphrase, with what is needed to write the file
/// again without asking for the passphrase.
pub struct Key {
    key: Zeroizing<[u8; 32]>,
    salt: [u8; 16],
    params: KdfParams,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key for a new file: fresh random salt.
    pub fn create(passphrase: &Secret, params: KdfParams) -> Result<Key, FileError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| FileError::Crypto(format!("no randomness: {e}")))?;
        Key::derive(passphrase, salt, params)
    }

    fn derive(passphrase: &Secret, salt: [u8; 16], params: KdfParams) -> Result<Key, FileError> {
        let params = params.check()?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
                .map_err(|e| FileError::Crypto(format!("Argon2id parameters: {e}")))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.expose().as_bytes(), &salt, key.as_mut())
            .map_err(|e| FileError::Crypto(format!("Argon2id: {e}")))?;
        Ok(Key { key, salt, params })
    }

    fn check_value(&self) -> [u8; 16] {
        let digest = Sha256::new()
            .chain_update(b"commsd vault key check")
            .chain_update(self.key.as_ref())
            .finalize();
        let mut check = [0u8; 16];
        check.copy_from_slice(&digest[..16]);
        check
    }

    /// Whether `passphrase` is the one this key came from.
    pub fn matches(&self, passphrase: &Secret) -> Result<bool, FileError> {
        let other = Key::derive(passphrase, self.salt, self.params)?;
        Ok(other.key.as_ref() == self.key.as_ref())
    }

    #[cfg(test)]
    pub fn params(&self) -> KdfParams {
        self.params
    }
}

/// The secrets of one file, by name.
pub type Entries = BTreeMap<String, Secret>;

/// Encrypts `entries` into the bytes of a whole file, with a fresh nonce.
pub fn seal(key: &Key, entries: &Entries) -> Result<Vec<u8>, FileError> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.push(FORMAT_VERSION);
    header.push(KDF_ARGON2ID);
    for n in [key.params.m_kib, key.params.t, key.params.p] {
        header.extend_from_slice(&n.to_le_bytes());
    }
    header.extend_from_slice(&key.salt);
    header.extend_from_slice(&key.check_value());
    header.push(AEAD_XCHACHA20POLY1305);
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut nonce).map_err(|e| FileError::Crypto(format!("no randomness: {e}")))?;
    header.extend_from_slice(&nonce);
    debug_assert_eq!(header.len(), HEADER_LEN);

    let plain: BTreeMap<&str, &str> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({ "entries": plain }))
            .map_err(|e| FileError::Crypto(format!("cannot encode the entries: {e}")))?,
    );
    let cipher = XChaCha20Poly1305::new(key.key.as_ref().into());
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &header,
            },
        )
        .map_err(|_| FileError::Crypto("encryption failed".to_owned()))?;
    header.extend_from_slice(&ciphertext);
    Ok(header)
}

/// Checks the header and returns the KDF parameters and salt.
fn parse_header(bytes: &[u8]) -> Result<(KdfParams, [u8; 16]), FileError> {
    if bytes.len() < HEADER_LEN + 16 {
        return Err(FileError::Damaged(format!(
            "it is {} bytes long, shorter than any vault file",
            bytes.len()
        )));
    }
    if &bytes[..8] != MAGIC {
        return Err(FileError::Damaged(
            "it is not a commsd vault file".to_owned(),
        ));
    }
    if bytes[8] != FORMAT_VERSION || bytes[9] != KDF_ARGON2ID || bytes[54] != AEAD_XCHACHA20POLY1305
    {
        return Err(FileError::Damaged(format!(
            "unknown format {}, KDF {} or cipher {} (this commsd writes 1, 1, 1)",
            bytes[8], bytes[9], bytes[54]
        )));
    }
    let u32_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let params = KdfParams {
        m_kib: u32_at(10),
        t: u32_at(14),
        p: u32_at(18),
    };
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&bytes[SALT_AT..SALT_AT + 16]);
    Ok((params.check()?, salt))
}

/// Decrypts a file with `passphrase`: the key (to write it again) and the entries.
pub fn unseal(bytes: &[u8], passphrase: &Secret) -> Result<(Key, Entries), FileError> {
    let (params, salt) = parse_header(bytes)?;
    let key = Key::derive(passphrase, salt, params)?;
    let entries = unseal_with(bytes, &key)?;
    Ok((key, entries))
}

/// Decrypts a file with a key already derived.
pub fn unseal_with(bytes: &[u8], key: &Key) -> Result<Entries, FileError> {
    let (params, salt) = parse_header(bytes)?;
    if params != key.params || salt != key.salt {
        return Err(FileError::WrongPassphrase);
    }
    if bytes[CHECK_AT..CHECK_AT + 16] != key.check_value() {
        return Err(FileError::WrongPassphrase);
    }
    let (header, ciphertext) = bytes.split_at(HEADER_LEN);
    let cipher = XChaCha20Poly1305::new(key.key.as_ref().into());
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&header[NONCE_AT..NONCE_AT + 24]),
                Payload {
                    msg: ciphertext,
                    aad: header,
                },
            )
            .map_err(|_| {
                FileError::Damaged("its contents do not match their authentication tag".to_owned())
            })?,
    );
    #[derive(serde::Deserialize)]
    struct Plain {
        entries: BTreeMap<String, String>,
    }
    let plain: Plain = serde_json::from_slice(&plaintext).map_err(|_| {
        FileError::Damaged("its decrypted contents are not vault entries".to_owned())
    })?;
    Ok(plain
        .entries
        .into_iter()
        .map(|(k, v)| (k, Secret::from(v)))
        .collect())
}

/// Replaces `path` with what `write` produces, atomically: a temporary file
/// (0600, same directory) is written, flushed to disk and renamed over
/// `path`, then the directory is flushed. On any failure the old file is
/// untouched and the temporary file is removed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the vault path has no file name"))?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        hex::encode(random)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        write(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// Cheap parameters: the unit tests check the format, not the cost.
    const FAST: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn entries() -> Entries {
        Entries::from([
            (
                "google/acc-1/refresh_token".to_owned(),
                Secret::new("1//0refresh-TOKEN"),
            ),
            ("imap/acc-2/password".to_owned(), Secret::new("pä$$ wörd")),
        ])
    }

    fn pass(s: &str) -> Secret {
        Secret::new(s)
    }

    #[test]
    fn round_trip() {
        let key = Key::create(&pass("correct horse"), FAST).unwrap();
        let bytes = seal(&key, &entries()).unwrap();
        let (again, read) = unseal(&bytes, &pass("correct horse")).unwrap();
        assert_eq!(read, entries());
        assert_eq!(again.params(), FAST);
        assert_eq!(unseal_with(&bytes, &key).unwrap(), entries());
        assert!(key.matches(&pass("correct horse")).unwrap());
        assert!(!key.matches(&pass("correct horse ")).unwrap());
    }

    #[test]
    fn empty_vault_round_trips() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let bytes = seal(&key, &Entries::new()).unwrap();
        assert!(unseal(&bytes, &pass("pw")).unwrap().1.is_empty());
    }

    #[test]
    fn no_secret_or_name_in_the_file() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let bytes = seal(&key, &entries()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("refresh-TOKEN"));
        assert!(!text.contains("google/"));
    }

    #[test]
    fn every_write_has_a_fresh_nonce() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let a = seal(&key, &entries()).unwrap();
        let b = seal(&key, &entries()).unwrap();
        assert_eq!(a[..NONCE_AT], b[..NONCE_AT], "same key, same header start");
        assert_ne!(a[NONCE_AT..NONCE_AT + 24], b[NONCE_AT..NONCE_AT + 24]);
        assert_ne!(a[HEADER_LEN..], b[HEADER_LEN..]);
    }

    #[test]
    fn wrong_passphrase_is_named() {
        let key = Key::create(&pass("right"), FAST).unwrap();
        let bytes = seal(&key, &entries()).unwrap();
        let err = unseal(&bytes, &pass("wrong")).unwrap_err();
        assert!(matches!(err, FileError::WrongPassphrase), "{err}");
        assert!(err.to_string().contains("wrong passphrase"));
    }

    #[test]
    fn every_tampered_ciphertext_byte_is_detected() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let bytes = seal(&key, &entries()).unwrap();
        for i in HEADER_LEN..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let err = unseal(&bad, &pass("pw")).unwrap_err();
            assert!(matches!(err, FileError::Damaged(_)), "byte {i}: {err}");
        }
        let mut short = bytes.clone();
        short.pop();
        assert!(matches!(
            unseal(&short, &pass("pw")).unwrap_err(),
            FileError::Damaged(_)
        ));
    }

    #[test]
    fn every_tampered_header_byte_is_detected() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let bytes = seal(&key, &entries()).unwrap();
        for i in 0..HEADER_LEN {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            match unseal(&bad, &pass("pw")) {
                Ok(_) => panic!("header byte {i} altered, yet the file opened"),
                // Salt, KDF parameters and the key check select the key:
                // altering them reads as a wrong passphrase; every other
                // byte is authenticated data or a format field.
                Err(FileError::WrongPassphrase) => assert!(
                    (10..CHECK_AT + 16).contains(&i),
                    "byte {i} reported as a wrong passphrase"
                ),
                Err(FileError::Damaged(_)) => {}
                Err(e) => panic!("byte {i}: unexpected {e}"),
            }
        }
    }

    #[test]
    fn absurd_kdf_parameters_are_refused_before_deriving() {
        let key = Key::create(&pass("pw"), FAST).unwrap();
        let mut bytes = seal(&key, &entries()).unwrap();
        bytes[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = unseal(&bytes, &pass("pw")).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn default_parameters_are_recorded_in_the_header() {
        let key = Key::create(&pass("pw"), KdfParams::DEFAULT).unwrap();
        let bytes = seal(&key, &Entries::new()).unwrap();
        let (params, _) = parse_header(&bytes).unwrap();
        assert_eq!(params, KdfParams::DEFAULT);
        assert_eq!(params.m_kib, 65536);
    }

    #[test]
    fn atomic_write_is_0600_and_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.enc");
        write_atomically(&path, |f| f.write_all(b"first")).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomically(&path, |f| f.write_all(b"second")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.enc");
        write_atomically(&path, |f| f.write_all(b"old contents")).unwrap();
        let err = write_atomically(&path, |f| {
            f.write_all(b"half of the new")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["vault.enc"]);
    }
}
