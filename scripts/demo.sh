#!/usr/bin/env bash
# The guide's agent flow, end to end against the local vault embedded in the
# Python package: examples/quickstart.py. (The same flow in Rust:
# cargo run -p alter-examples --bin quickstart.)
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash bindings-python/demo.sh
