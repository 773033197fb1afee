#!/usr/bin/env bash
# Runs every test suite from a fresh machine: formatting and lint gates, the
# Rust workspace (unit tests, the official vectors, the local vault and the
# cross-crate integration tests). Everything it needs is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== benchmark harness (smoke: tiny counts, proves it runs; no timing gates)"
python3 bench/run.py --smoke --out target/bench-smoke.json
