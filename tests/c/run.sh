#!/usr/bin/env bash
# Builds libalter (crate alter-ffi) and the local vault, compiles every C test
# program in tests/c against the generated include/alter.h with
# `gcc -Wall -Wextra -Werror`, and runs each one against a fresh `alter-dev`
# twice: natively, then under valgrind's memcheck. `errors` is also linked
# against the static library and run once. Prints one line per case and
# closes with "N passed, N failed"; exits non-zero on any failure.
#
# Needs: cargo, gcc (or $CC), python3, valgrind (ALTER_C_TESTS_VALGRIND=0 skips
# the memcheck runs). Run from anywhere: tests/c/run.sh
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
HERE=tests/c
CC=${CC:-gcc}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
LIBDIR=$TARGET_DIR/debug
OUT=$TARGET_DIR/c-tests
VALGRIND=${ALTER_C_TESTS_VALGRIND:-1}
PROGRAMS=(flow errors)

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# ALTER_DEV=/path/to/alter-dev uses that vault binary instead of building one.
CRATES=(-p alter-ffi)
[ -n "${ALTER_DEV:-}" ] || CRATES+=(-p alter-devserver)
echo "== cargo build ${CRATES[*]}"
if ! cargo build "${CRATES[@]}"; then
    fail "cargo build"
    finish
fi
ALTER_DEV=${ALTER_DEV:-$LIBDIR/alter-dev}

echo "== compile (gcc -std=c11 -Wall -Wextra -Werror against include/alter.h)"
mkdir -p "$OUT"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -O1 -Iinclude -I"$HERE")
compiled=()
for prog in "${PROGRAMS[@]}"; do
    if "$CC" "${CFLAGS[@]}" "$HERE/support.c" "$HERE/$prog.c" -o "$OUT/$prog" \
        -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lalter -lpthread; then
        compiled+=("$prog")
    else
        fail "compile $prog.c"
    fi
done
# The static library: the same program, no libalter.so at run time.
STATIC_OK=0
if "$CC" "${CFLAGS[@]}" "$HERE/support.c" "$HERE/errors.c" -o "$OUT/errors-static" \
    "$LIBDIR/libalter.a" -lpthread -ldl -lm -lrt -lutil; then
    STATIC_OK=1
else
    fail "compile errors.c against libalter.a"
fi
# The header alone, as C++ too (it promises cpp_compat).
if command -v g++ >/dev/null 2>&1; then
    if echo '#include "alter.h"
int main() { return alter_version() == nullptr; }' | g++ -std=c++17 -Wall -Wextra -Werror -Iinclude -x c++ - \
        -o "$OUT/header-cxx" -L"$LIBDIR" -Wl,-rpath,"$LIBDIR" -lalter && "$OUT/header-cxx"; then
        pass "include/alter.h compiles as C++"
    else
        fail "include/alter.h compiles as C++"
    fi
fi

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}
trap stop_server EXIT

# Starts a fresh vault and exports the fixtures' environment.
start_server() {
    local log=$1 line="" i
    # Not a previous run's line: the redirections below happen in the child.
    rm -f "$log.server" "$log.server-err"
    "$ALTER_DEV" serve --port 0 >"$log.server" 2>"$log.server-err" &
    SERVER_PID=$!
    for i in $(seq 1 300); do
        line=$(head -n 1 "$log.server" 2>/dev/null)
        [ -n "$line" ] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$line" ]; then
        cat "$log.server-err" >&2
        return 1
    fi
    local env
    env=$(python3 "$HERE/fixtures.py" "$line") || return 1
    while IFS='=' read -r k v; do
        export "$k=$v"
    done <<<"$env"
}

# run_program LABEL COMMAND...: runs a test program against a fresh vault,
# counts its "ok -" / "not ok -" lines and leaves its exit status in RUN_RC
# and its failed cases in RUN_BAD.
RUN_RC=0
RUN_BAD=0
run_program() {
    local label=$1
    shift
    local log="$OUT/$label.log"
    RUN_RC=1
    RUN_BAD=0
    if ! start_server "$log"; then
        fail "$label: the local vault did not start"
        return
    fi
    timeout 600 "$@" >"$log.out" 2>"$log.err"
    RUN_RC=$?
    stop_server
    local ok
    ok=$(grep -c '^ok - ' "$log.out")
    RUN_BAD=$(grep -c '^not ok - ' "$log.out")
    grep -E '^(ok|not ok) - ' "$log.out" | sed "s/^/[$label] /"
    passed=$((passed + ok))
    failed=$((failed + RUN_BAD))
    if [ "$RUN_BAD" -gt 0 ]; then
        echo "---- $label stderr (last 60 lines)"
        tail -n 60 "$log.err"
        echo "----"
    fi
}

# A program that failed no case but exited non-zero crashed or hung.
check_exit() {
    local label=$1
    if [ "$RUN_RC" -ne 0 ] && [ "$RUN_BAD" -eq 0 ]; then
        fail "$label exited with status $RUN_RC"
        tail -n 40 "$OUT/$label.log.err"
    fi
}

for prog in "${compiled[@]}"; do
    echo "== $prog"
    run_program "$prog" "$OUT/$prog"
    check_exit "$prog"
done
if [ "$STATIC_OK" = 1 ]; then
    echo "== errors (static libalter.a)"
    run_program "errors-static" "$OUT/errors-static"
    check_exit "errors-static"
fi

if [ "$VALGRIND" != 0 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        fail "valgrind is not installed (ALTER_C_TESTS_VALGRIND=0 skips the memcheck runs)"
    else
        for prog in "${compiled[@]}"; do
            echo "== $prog under valgrind memcheck"
            vlog="$OUT/$prog-valgrind.memcheck"
            run_program "$prog-valgrind" valgrind --leak-check=full --error-exitcode=1 \
                --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
                --suppressions="$HERE/valgrind.supp" --num-callers=40 --log-file="$vlog" "$OUT/$prog"
            if grep -q 'ERROR SUMMARY: 0 errors' "$vlog"; then
                pass "$prog: memcheck clean (no errors, no definite or indirect leaks)"
                check_exit "$prog-valgrind"
            else
                fail "$prog: memcheck found errors (see $vlog)"
                grep -E 'ERROR SUMMARY|definitely lost|indirectly lost' "$vlog"
                grep -B2 -A30 -E 'definitely lost in|indirectly lost in|Invalid|uninitialised' "$vlog" | head -120
            fi
        done
    fi
fi

finish
