#!/usr/bin/env python3
"""Regenerates `bindings-python/hot-symbols.txt` (and `-lean.txt`, for a
build without the `vault` feature), the link order of the Python
extension's code (see `bindings-python/build.rs`).

    python3 bench/hot_symbols.py     # needs valgrind; builds what it needs

Why: a process maps the pages of an extension's code that it runs, and the
kernel maps file pages around each fault (64 KiB windows, whole large folios
when the page cache holds them). The ~1,300 functions an import and a request
run are ~0.7 MB, but left where the linker puts them they sit in ~50
different 64 KiB windows of a 5 MB `.text`, and every window counts in the
process's RSS. Linking them first, together, keeps that RSS near their size.

How: runs the benchmark's own contender (`bench/contenders/py_client.py`:
import, `request()` at concurrency 1 and 16, `proxy_request()`) under
callgrind against `alter-dev`, and lists every function of the extension
that executed. Valgrind's virtual CPU lacks some instruction-set extensions,
so the CPU-specific variants of functions it saw (httparse's, memchr's,
sha2's, crc32fast's, SIMD paths) are added from the symbol table.
A stale list only costs RSS: names it lacks are placed as before, names
no longer present are ignored by the linker.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the harness: builds, virtualenvs, the vault)

OUTPUT = bench.ROOT / "bindings-python" / "hot-symbols.txt"
OUTPUT_LEAN = bench.ROOT / "bindings-python" / "hot-symbols-lean.txt"  # --no-default-features
WORKLOADS = [("request", 40, 1), ("request", 200, 16), ("proxy", 200, 16)]
# Crates with per-CPU variants of their hot functions: valgrind runs one
# variant, this machine (or the user's) another, so all of them are listed.
# (std's own copy of memchr is named `memchr[<hash>]`; core's x86 intrinsics
# are called, not inlined, from functions built for a wider target feature.)
HASH = r"(\[[0-9a-f]+\])?"
SIMD_CRATES = re.compile(rf"^<?(httparse|memchr|sha2|crc32fast|core{HASH}::(core_arch|str::pattern)){HASH}::")
SIMD = re.compile(r"avx|(?<![A-Za-z])sse|ssse3|shani|x86::|x86_64::|pclmul|simd|soft::")
# Run by every longer process but not within the short runs under valgrind:
# the thread RNG's reseed from the OS (after 64 KiB of output; nonces and
# ids draw ~40 bytes per call).
PERIODIC = re.compile(rf"^<?rand{HASH}::rngs::(adapter::reseeding|thread)::")


def executed(callgrind_out: Path, library: str) -> set[str]:
    """Function names callgrind attributed cost to, within `library`."""
    obs: dict[str, str] = {}
    fns: dict[str, str] = {}
    current_ob = None
    found: set[str] = set()
    for line in callgrind_out.read_text(errors="replace").splitlines():
        m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                obs[m.group(2)] = m.group(3).strip()
            if m.group(1) == "ob":
                current_ob = obs.get(m.group(2))
            continue
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            if m.group(3):
                fns[m.group(2)] = m.group(3).strip()
            if m.group(1) == "fn" and current_ob and library in current_ob:
                # callgrind marks recursion levels as name'2
                found.add(re.sub(r"'\d+$", "", fns[m.group(2)]))
    return {f for f in found if not f.startswith("0x")}


def text_symbols(library: Path) -> list[str]:
    out = subprocess.run(["nm", "--defined-only", str(library)], check=True, capture_output=True, text=True)
    return [p[2] for p in (line.split() for line in out.stdout.splitlines()) if len(p) == 3 and p[1] in "tT"]


def demangle(names: list[str]) -> list[str]:
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True, text=True)
    return out.stdout.split("\n")[: len(names)]


def cpu_variants(all_text: list[str]) -> set[str]:
    """The CPU-specific functions of the crates in `SIMD_CRATES`, and the
    `PERIODIC` ones."""
    names = sorted(all_text)
    return {
        n
        for n, d in zip(names, demangle(names), strict=True)
        if (SIMD_CRATES.match(d) and SIMD.search(d)) or PERIODIC.match(d)
    }


def hot_functions(py: Path, vault: bench.Vault, grant: str) -> set[str]:
    """The extension's functions that the benchmark's workloads execute."""
    library = next(py.parent.parent.glob("lib/python3*/site-packages/alter_sdk/_alter_sdk*.so"))
    base = vault.info["base_url"]
    env = {"ALTER_BASE_URL": base, "PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"}
    hot: set[str] = set()
    for i, (mode, calls, conc) in enumerate(WORKLOADS):
        out = bench.OUT / f"callgrind.{i}.out"
        bench.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--demangle=no",
                f"--callgrind-out-file={out}",
                str(py),
                str(bench.BENCH / "contenders" / "py_client.py"),
                mode,
                vault.info["app_api_key"],
                grant,
                f"{base}/_provider/echo/order",
                str(calls),
                str(conc),
                "4",
            ],
            env=env,
            capture_output=True,
        )
        hot |= executed(out, library.name)
        out.unlink()
    return hot | cpu_variants(text_symbols(library))


def main() -> int:
    dev_bin, _ = bench.rust_bins(release=True)
    vault = bench.Vault(dev_bin)
    try:
        ms = vault.dev("/_dev/managed-secrets", {"slug": "order", "credential": "order-credential"})
        grant = vault.dev(f"/_dev/managed-secrets/{ms['managed_secret_id']}/grants", {"label": "order"})["grant_id"]
        # One list per feature set: cargo hashes a crate's features into its
        # symbol names, so the lean build's names differ from the default's.
        for lean, output in ((False, OUTPUT), (True, OUTPUT_LEAN)):
            py = bench.ensure_ours(release=True, lean=lean)
            assert py is not None
            hot = hot_functions(py, vault, grant)
            output.write_text(
                "# Link order of the Python extension's hot code: generated by bench/hot_symbols.py,\n"
                "# read by bindings-python/build.rs (release builds on x86_64 Linux). Regenerate after\n"
                "# large changes; a stale list costs memory, never correctness.\n" + "\n".join(sorted(hot)) + "\n"
            )
            bench.log(f"{len(hot)} symbols written to {output.relative_to(bench.ROOT)}")
    finally:
        vault.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
