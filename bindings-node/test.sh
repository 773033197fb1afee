#!/usr/bin/env bash
# The Node package's checks, from a fresh clone: install the dev tools
# (npm install, pinned by package-lock.json; `npm ci` trips over the napi
# CLI's optional platform packages), build the native module with the napi CLI (dev profile, in the
# workspace's shared target directory), type-check the published
# declarations and the seed snippets under --strict (and check that a
# misspelled option is rejected), then compile the TypeScript tests and run
# them with node's test runner against the embedded local vault.
set -euo pipefail
cd "$(dirname "$0")"

echo "== npm install"
npm install --no-audit --no-fund --loglevel=error

echo "== napi build (dev profile)"
# Through scripts/cargo-host.sh the crate builds without --target, so it
# shares target/debug with `cargo build/test --workspace`.
CARGO="$PWD/scripts/cargo-host.sh" npx napi build --platform

tsc() { node node_modules/typescript/bin/tsc "$@"; }

echo "== tsc --strict: published declarations"
tsc -p tsconfig.types.json

echo "== tsc --strict: seed snippets"
tsc -p tsconfig.seeds.json

echo "== tsc --strict: misspelled options are rejected"
for f in test/types-negative/*.mts; do
  if out="$(tsc --noEmit --strict --target ES2022 --lib ES2022 --module Node16 \
      --moduleResolution Node16 --types node "$f" 2>&1)"; then
    echo "FAIL: $f type-checked but must not" >&2
    exit 1
  fi
  if ! grep -qE 'error TS(2353|2561)' <<<"$out"; then
    echo "FAIL: $f failed for another reason:" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "ok: $f rejected ($(grep -oE 'TS(2353|2561)' <<<"$out" | head -1))"
done

echo "== tsc: build the tests"
rm -rf build
tsc -p tsconfig.json

echo "== node --test"
node --test build/test/*.test.mjs test/*.test.mjs
