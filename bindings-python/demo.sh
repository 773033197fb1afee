#!/usr/bin/env bash
# The Python quickstart (examples/quickstart.py): the guide's agent flow
# against the local vault embedded in the package. Builds and installs the
# wheel into bindings-python/.venv first (see test.sh).
set -euo pipefail
cd "$(dirname "$0")"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! ./test.sh --build-only >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
exec .venv/bin/python ../examples/quickstart.py
