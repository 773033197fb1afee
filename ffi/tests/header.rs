//! The checked-in `include/alter.h` must be what cbindgen generates from the
//! current source: regenerate it in memory and compare.

use std::path::Path;

#[test]
fn checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8 header");
    let path = dir.join("../include/alter.h");
    let checked_in = std::fs::read_to_string(&path).expect("include/alter.h exists");
    if fresh != checked_in {
        let (line, (want, have)) = fresh
            .lines()
            .zip(checked_in.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, pair)| (i + 1, pair))
            .unwrap_or((
                fresh.lines().count().min(checked_in.lines().count()) + 1,
                ("<end or more lines>", "<end or more lines>"),
            ));
        panic!(
            "include/alter.h is stale (first difference at line {line}:\n  generated: {want}\n  checked in: {have})\n\
             Regenerate it with `cargo build -p alter-ffi` (outside CI) and commit it."
        );
    }
}

#[test]
fn pkg_config_file_names_this_version() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pc = std::fs::read_to_string(dir.join("../include/alter.pc")).expect("include/alter.pc");
    let want = format!("Version: {}", env!("CARGO_PKG_VERSION"));
    assert!(
        pc.lines().any(|l| l.trim() == want),
        "include/alter.pc must say `{want}`"
    );
}
