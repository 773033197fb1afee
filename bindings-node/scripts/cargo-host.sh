#!/usr/bin/env bash
# Stands in for `cargo` under `napi build` (through $CARGO): builds for the
# host without `--target`, so the crate shares the workspace's target/debug
# with `cargo build/test --workspace` (one compilation of the dependency
# tree), then links the artifact where the napi CLI looks for it.
set -euo pipefail
real="${ALTER_REAL_CARGO:-cargo}"
host="$(rustc -vV | sed -n 's/^host: //p')"
args=()
profile=debug
target_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      if [ "$2" != "$host" ]; then args+=("$1" "$2"); host=""; fi
      shift 2 ;;
    --release) profile=release; args+=("$1"); shift ;;
    --profile) profile="$2"; args+=("$1" "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
unset CARGO
"$real" "${args[@]}"
if [ -n "$host" ] && [ "${args[0]:-}" = build ]; then
  target_dir="${CARGO_BUILD_TARGET_DIR:-${CARGO_TARGET_DIR:-$("$real" metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')}}"
  [ "$profile" = dev ] && profile=debug
  mkdir -p "$target_dir/$host/$profile"
  for f in "$target_dir/$profile"/libalter_sdk_node.so "$target_dir/$profile"/libalter_sdk_node.dylib "$target_dir/$profile"/alter_sdk_node.dll; do
    if [ -e "$f" ]; then ln -f "$f" "$target_dir/$host/$profile/$(basename "$f")"; fi
  done
fi
