//! The shape of the code, checked: core modules never reach up into the
//! adapters that call them.

use std::path::{Path, PathBuf};

const CORE: &[&str] = &[
    "store", "audit", "auth", "error", "events", "config", "vault", "accounts", "outbox",
];
const ADAPTERS: &[&str] = &["api", "rpc", "dashboard", "tools", "mcp"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Every adapter a source text names through `crate::`, including inside
/// grouped imports such as `use crate::{audit, api::keys};`.
fn adapters_named(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(',')
                .map(|s| s.trim().split("::").next().unwrap_or("").trim())
                .collect()
        } else {
            vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or(""),
            ]
        };
        for name in names {
            if ADAPTERS.contains(&name) {
                found.push(name.to_owned());
            }
        }
    }
    found
}

#[test]
fn core_modules_import_no_adapter() {
    let mut violations = Vec::new();
    for module in CORE {
        let mut files = Vec::new();
        rust_files(&src().join(module), &mut files);
        rust_files(&src().join(format!("{module}.rs")), &mut files);
        assert!(!files.is_empty(), "no source for core module {module}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for adapter in adapters_named(&text) {
                violations.push(format!(
                    "{} uses crate::{adapter}",
                    file.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "core modules must not import adapters (move shared code to a core module such as util.rs):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_every_spelling() {
    assert_eq!(adapters_named("use crate::api::keys::X;"), ["api"]);
    assert_eq!(
        adapters_named("use crate::{audit, tools::Tools, rpc};"),
        ["tools", "rpc"]
    );
    assert_eq!(
        adapters_named("let x = crate::dashboard::sanitize::escape(t);"),
        ["dashboard"]
    );
    assert!(adapters_named("use crate::apis; // crate::api").is_empty());
}
