//! Regenerates `include/alter.h` from the crate's source with cbindgen.
//!
//! The header is checked in. A build rewrites it only when it changed, and
//! never when `CI` or `ALTER_FFI_NO_HEADER_WRITE` is set: there the checked-in
//! header must already be current, which `tests/header.rs` verifies.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=ALTER_FFI_NO_HEADER_WRITE");
    let skip =
        |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if skip("CI") || skip("ALTER_FFI_NO_HEADER_WRITE") {
        return;
    }
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml");
    let header = dir.join("../include/alter.h");
    match cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
    {
        // `write_to_file` leaves the file alone when the text is unchanged.
        Ok(bindings) => {
            bindings.write_to_file(&header);
        }
        Err(e) => println!("cargo:warning=include/alter.h not regenerated: {e}"),
    }
}
