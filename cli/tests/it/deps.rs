//! Architecture invariant: commsctl links no server, storage or secret code.

#[test]
fn commsctl_links_no_rusqlite_axum_or_keyring() {
    crate::harness::assert_links_none_of(
        "commsctl",
        "tonic",
        &[
            "rusqlite",
            "axum",
            "keyring",
            "keyring-core",
            "zbus-secret-service-keyring-store",
            "libsqlite3-sys",
            "commsd",
        ],
    );
}
