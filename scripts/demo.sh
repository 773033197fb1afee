#!/usr/bin/env bash
# The agent flow of the guide, end to end against the embedded local vault.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p alter-examples --bin quickstart
