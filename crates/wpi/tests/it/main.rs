//! Integration tests of the WPI codec (one test binary, modules per area).

mod catalog_amendments;
mod catalog_tsv;
mod guide_fixtures;
mod hostile_input;
mod interop;
mod lenient_input;
mod round_trip;
mod snapshots;

use std::path::PathBuf;

/// Reads a fixture from `tests/fixtures`.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(relative);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}
