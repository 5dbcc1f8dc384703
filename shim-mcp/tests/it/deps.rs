//! Architecture invariant: comms-mcp links no server, storage or secret code.

#[test]
fn comms_mcp_links_no_rusqlite_axum_or_keyring() {
    crate::harness::assert_links_none_of(
        "commsd-mcp",
        "rmcp",
        &[
            "rusqlite",
            "axum",
            "keyring",
            "keyring-core",
            "zbus-secret-service-keyring-store",
            "libsqlite3-sys",
            "commsd",
            "commsctl",
        ],
    );
}
