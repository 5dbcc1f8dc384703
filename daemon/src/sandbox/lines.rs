//! JSON lines: one JSON object per line, appended, never rewritten. What the
//! sandbox sends and receives on SMS and chat is kept this way.
//!
//! All calls are blocking std::fs code; run them on a blocking thread.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Appends `record` and a newline with a single write to `path`, opened
/// `O_APPEND` (created 0600), then fsyncs it. Whatever is at that path
/// receives the line; only a regular file is fsynced.
pub fn append(path: &Path, record: &impl serde::Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(&line)?;
    if file.metadata()?.is_file() {
        file.sync_all()?;
    }
    Ok(())
}

/// A page of records, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub records: Vec<T>,
    /// Pass back as `cursor` for the next (older) page.
    pub next_cursor: Option<String>,
}

/// The records of `path` newest first (last line first), `limit` at a time.
/// The cursor is the line number of the oldest record returned: the file
/// only grows, so a cursor stays valid. A missing file is an empty list; a
/// line that is not a record (a torn write, an edit by hand) is skipped.
pub fn list<T: DeserializeOwned>(
    path: &Path,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<T>> {
    let before = cursor
        .map(|c| {
            c.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                Error::invalid("cursor", "expected the nextCursor of a previous page")
            })
        })
        .transpose()?;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::internal("reading the sandbox inbox", e)),
    };
    let mut records = Vec::new();
    let mut next_cursor = None;
    let all: Vec<&str> = text.lines().collect();
    for (number, line) in all.iter().enumerate().map(|(i, l)| (i + 1, l)).rev() {
        if before.is_some_and(|b| number >= b) {
            continue;
        }
        let Ok(record) = serde_json::from_str::<T>(line) else {
            continue;
        };
        if records.len() == limit {
            next_cursor = Some((number + 1).to_string());
            break;
        }
        records.push(record);
    }
    Ok(Page {
        records,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pages_run_newest_first_and_skip_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sms.jsonl");
        let empty: Page<Value> = list(&path, 10, None).unwrap();
        assert!(empty.records.is_empty() && empty.next_cursor.is_none());
        for n in 1..=5 {
            append(&path, &json!({ "n": n })).unwrap();
        }
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"n\": tor")
            .unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let first: Page<Value> = list(&path, 2, None).unwrap();
        assert_eq!(first.records, [json!({"n": 5}), json!({"n": 4})]);
        let second: Page<Value> = list(&path, 2, first.next_cursor.as_deref()).unwrap();
        assert_eq!(second.records, [json!({"n": 3}), json!({"n": 2})]);
        // New records do not shift an older page.
        append(&path, &json!({ "n": 6 })).unwrap();
        let third: Page<Value> = list(&path, 2, second.next_cursor.as_deref()).unwrap();
        assert_eq!(third.records, [json!({"n": 1})]);
        assert_eq!(third.next_cursor, None);
        assert_eq!(
            list::<Value>(&path, 2, Some("x")).unwrap_err().details["field"],
            "cursor"
        );
    }
}
