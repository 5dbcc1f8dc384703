//! Binaries

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::Result;

/// `target/<profile>/`: the bench runs from `target/<profile>/deps/`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| format!("no target directory above {}", exe.display()).into())
}

/// A binary beside the bench's target directory, or a clear error.
pub(crate) fn binary(name: &str) -> Result<PathBuf> {
    let path = target_dir()?.join(name);
    if !path.is_file() {
        return Err(format!(
            "{} is not built; run `cargo build --release --bins` first \
             (`cargo bench -p commsd-mcp` builds only this package's binaries)",
            path.display()
        )
        .into());
    }
    Ok(path)
}

/// "path (built 3 min ago)", to notice a stale binary.
pub(crate) fn describe(path: &Path) -> String {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or_else(String::new, |d| {
            let s = d.as_secs();
            if s < 120 {
                format!(" (built {s} s ago)")
            } else if s < 7200 {
                format!(" (built {} min ago)", s / 60)
            } else {
                format!(" (built {} h ago)", s / 3600)
            }
        });
    format!("{}{age}", path.display())
}
