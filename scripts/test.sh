#!/usr/bin/env bash
# Runs every test suite from a fresh machine: formatting and lint gates, the
# Rust workspace (unit tests, the official vectors, the local vault and the
# cross-crate integration tests), the C ABI under valgrind, the Node and
# Python packages, and the benchmark harness in smoke mode. Everything it
# needs is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
# Tests compare the checked-in C header with a fresh one instead of
# rewriting it.
export CI="${CI:-true}"

echo "== system packages"
bash scripts/install-system-deps.sh

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== C ABI (gcc -Werror, valgrind memcheck)"
bash tests/c/run.sh

echo "== Node package"
bash bindings-node/test.sh

echo "== Python package"
bash bindings-python/test.sh

echo "== benchmark harness (smoke: tiny counts, proves it runs; no timing gates)"
python3 bench/run.py --smoke --out target/bench-smoke.json
