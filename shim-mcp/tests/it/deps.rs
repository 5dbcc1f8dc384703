//! Architecture invariant: comms-mcp links no server, storage or secret code.

#[test]
fn comms_mcp_links_no_rusqlite_axum_or_keyring() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "commsd-mcp",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(
        tree.lines().any(|l| l.starts_with("rmcp ")),
        "sanity: the tree lists rmcp:\n{tree}"
    );
    for forbidden in [
        "rusqlite",
        "axum",
        "keyring",
        "libsqlite3-sys",
        "commsd ",
        "commsctl",
    ] {
        let hits: Vec<_> = tree
            .lines()
            .filter(|l| l.starts_with(forbidden) || l.starts_with(&format!("{forbidden} ")))
            .collect();
        assert!(
            hits.is_empty(),
            "comms-mcp must not depend on {forbidden}: {hits:?}"
        );
    }
}
