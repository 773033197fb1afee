#!/usr/bin/env bash
# The Python package's test suite, from a fresh machine:
#   1. a virtualenv in bindings-python/.venv with maturin, pytest, mypy, ruff;
#   2. the abi3 wheel built with maturin (dev profile, the workspace's target
#      directory, so CI compiles the core once) and installed into it;
#   3. ruff, mypy --strict (package, type stubs, examples, tests), stubtest
#      (the stubs against the built module), and pytest.
# Usage: bindings-python/test.sh [--build-only] [pytest args...]
#   --build-only: stop once the wheel is installed in .venv (demo.sh uses it).
set -euo pipefail
BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
    BUILD_ONLY=1
    shift
fi
cd "$(dirname "$0")"
HERE="$(pwd)"
ROOT="$(cd .. && pwd)"

pick_python() {
    for py in "${PYTHON:-}" python3 python3.13 python3.12 python3.11; do
        [ -n "$py" ] || continue
        if command -v "$py" >/dev/null 2>&1 &&
            "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    echo "bindings-python/test.sh: Python >= 3.11 is required (set PYTHON=...)" >&2
    return 1
}

VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    echo "== creating $VENV with $PY"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
echo "== tools"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.9.4,<2" "pytest>=8" "mypy>=1.10" "ruff>=0.5"

echo "== build the wheel (maturin, dev profile)"
rm -rf "$HERE/dist"
"$VENV/bin/maturin" build --profile dev --locked \
    --target-dir "$ROOT/target" --interpreter "$VENV/bin/python" --out "$HERE/dist"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --force-reinstall --no-deps "$HERE"/dist/alter_sdk-*.whl
if [ "$BUILD_ONLY" = 1 ]; then
    exit 0
fi

PY_SOURCES=(python tests ../examples/quickstart.py)
echo "== ruff"
# The benchmark harness is linted too (its own ruff.toml); it is a script,
# not typed API, so mypy --strict below skips it.
"$VENV/bin/ruff" check "${PY_SOURCES[@]}" ../bench
"$VENV/bin/ruff" format --check "${PY_SOURCES[@]}" ../bench

echo "== mypy --strict"
"$VENV/bin/python" -m mypy --strict --cache-dir "$HERE/.mypy_cache" "${PY_SOURCES[@]}"

echo "== stubtest (stubs against the built module)"
# From an empty directory, so neither python/ nor a stray module in the
# working directory shadows the installed package or the standard library.
STUB_DIR="$(mktemp -d)"
(cd "$STUB_DIR" && "$VENV/bin/python" -m mypy.stubtest alter_sdk._alter_sdk \
    --allowlist "$HERE/stubtest-allowlist.txt" --mypy-config-file "$HERE/pyproject.toml")
rm -rf "$STUB_DIR"

echo "== pytest"
# Run from the tests' parent so the installed wheel (not python/) is imported.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
