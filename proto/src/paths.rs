//! Resolution of the fixed paths of design.md §3, shared by every binary so
//! that the daemon and its clients can never disagree about where to meet.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where a path came from, for messages such as "socket (from $COMMSD_SOCKET)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An explicit command-line flag.
    Flag,
    /// The named environment variable.
    Env(&'static str),
    /// The built-in default derived from other variables.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("from --socket"),
            Source::Env(name) => write!(f, "from ${name}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A resolved path and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub path: PathBuf,
    pub source: Source,
}

/// Reads an environment variable, treating an empty value as unset.
fn var(env: &dyn Fn(&str) -> Option<OsString>, name: &str) -> Option<PathBuf> {
    env(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// The daemon's Unix socket: `$COMMSD_SOCKET`, else
/// `$XDG_RUNTIME_DIR/commsd/commsd.sock`, else `$TMPDIR/commsd-$UID/commsd.sock`
/// (with `/tmp` when `TMPDIR` is unset).
pub fn socket_path() -> Resolved {
    socket_path_with(&process_env, rustix::process::getuid().as_raw())
}

/// [`socket_path`] over an explicit environment, for tests.
pub fn socket_path_with(env: &dyn Fn(&str) -> Option<OsString>, uid: u32) -> Resolved {
    if let Some(path) = var(env, "COMMSD_SOCKET") {
        return Resolved {
            path,
            source: Source::Env("COMMSD_SOCKET"),
        };
    }
    let path = match var(env, "XDG_RUNTIME_DIR") {
        Some(runtime) => runtime.join("commsd").join("commsd.sock"),
        None => var(env, "TMPDIR")
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join(format!("commsd-{uid}"))
            .join("commsd.sock"),
    };
    Resolved {
        path,
        source: Source::Default,
    }
}

/// The data dir: `$COMMSD_DATA_DIR`, else `$XDG_DATA_HOME/commsd`, else
/// `$HOME/.local/share/commsd`. `None` only when even `HOME` is unset.
pub fn data_dir() -> Option<Resolved> {
    data_dir_with(&process_env)
}

/// [`data_dir`] over an explicit environment, for tests.
pub fn data_dir_with(env: &dyn Fn(&str) -> Option<OsString>) -> Option<Resolved> {
    if let Some(path) = var(env, "COMMSD_DATA_DIR") {
        return Some(Resolved {
            path,
            source: Source::Env("COMMSD_DATA_DIR"),
        });
    }
    let base = var(env, "XDG_DATA_HOME")
        .or_else(|| var(env, "HOME").map(|h| h.join(".local").join("share")))?;
    Some(Resolved {
        path: base.join("commsd"),
        source: Source::Default,
    })
}

/// The config file: `$COMMSD_CONFIG`, else `$XDG_CONFIG_HOME/commsd/config.toml`,
/// else `$HOME/.config/commsd/config.toml`. A missing file means defaults.
pub fn config_path() -> Option<Resolved> {
    config_path_with(&process_env)
}

/// [`config_path`] over an explicit environment, for tests.
pub fn config_path_with(env: &dyn Fn(&str) -> Option<OsString>) -> Option<Resolved> {
    if let Some(path) = var(env, "COMMSD_CONFIG") {
        return Some(Resolved {
            path,
            source: Source::Env("COMMSD_CONFIG"),
        });
    }
    let base =
        var(env, "XDG_CONFIG_HOME").or_else(|| var(env, "HOME").map(|h| h.join(".config")))?;
    Some(Resolved {
        path: base.join("commsd").join("config.toml"),
        source: Source::Default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn socket_prefers_explicit_variable() {
        let e = env(&[
            ("COMMSD_SOCKET", "/x/s.sock"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
        ]);
        let r = socket_path_with(&e, 7);
        assert_eq!(r.path, PathBuf::from("/x/s.sock"));
        assert_eq!(r.source, Source::Env("COMMSD_SOCKET"));
    }

    #[test]
    fn socket_falls_back_to_runtime_dir_then_tmpdir_with_uid() {
        let e = env(&[("XDG_RUNTIME_DIR", "/run/user/7")]);
        assert_eq!(
            socket_path_with(&e, 7).path,
            PathBuf::from("/run/user/7/commsd/commsd.sock")
        );
        let e = env(&[("TMPDIR", "/var/tmp"), ("XDG_RUNTIME_DIR", "")]);
        assert_eq!(
            socket_path_with(&e, 7).path,
            PathBuf::from("/var/tmp/commsd-7/commsd.sock")
        );
        assert_eq!(
            socket_path_with(&env(&[]), 1000).path,
            PathBuf::from("/tmp/commsd-1000/commsd.sock")
        );
    }

    #[test]
    fn data_and_config_follow_xdg_then_home() {
        let e = env(&[("HOME", "/home/a")]);
        assert_eq!(
            data_dir_with(&e).map(|r| r.path),
            Some(PathBuf::from("/home/a/.local/share/commsd"))
        );
        assert_eq!(
            config_path_with(&e).map(|r| r.path),
            Some(PathBuf::from("/home/a/.config/commsd/config.toml"))
        );
        let e = env(&[
            ("HOME", "/home/a"),
            ("XDG_DATA_HOME", "/d"),
            ("XDG_CONFIG_HOME", "/c"),
        ]);
        assert_eq!(
            data_dir_with(&e).map(|r| r.path),
            Some(PathBuf::from("/d/commsd"))
        );
        assert_eq!(
            config_path_with(&e).map(|r| r.path),
            Some(PathBuf::from("/c/commsd/config.toml"))
        );
        assert_eq!(data_dir_with(&env(&[])), None);
    }
}
