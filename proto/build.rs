//! Compiles `proto/commsd/v1/*.proto` with protox (pure Rust), so building
//! commsd never needs a system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/commsd/v1/control.proto",
        "proto/commsd/v1/events.proto",
        "proto/commsd/v1/outbox.proto",
        "proto/commsd/v1/audit.proto",
        "proto/commsd/v1/dashboard.proto",
        "proto/commsd/v1/keys.proto",
        "proto/commsd/v1/tools.proto",
        "proto/commsd/v1/vault.proto",
        "proto/commsd/v1/accounts.proto",
        "proto/commsd/v1/sandbox.proto",
        "proto/commsd/v1/sms.proto",
        "proto/commsd/v1/inbox.proto",
        "proto/commsd/v1/contacts.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Server stubs only for the daemon (feature `server`), so clients
        // never need tonic's server side.
        .build_server(std::env::var_os("CARGO_FEATURE_SERVER").is_some())
        .build_client(true)
        .file_descriptor_set_path(out.join("commsd_descriptor.bin"))
        .compile_fds(descriptors)?;
    Ok(())
}
