//! Compiles `proto/commsd/v1/*.proto` with protox (pure Rust), so building
//! commsd never needs a system `protoc`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/commsd/v1/control.proto",
        "proto/commsd/v1/events.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_server(cfg!(feature = "server"))
        .build_client(true)
        .file_descriptor_set_path(out.join("commsd_descriptor.bin"))
        .compile_fds(descriptors)?;
    Ok(())
}
