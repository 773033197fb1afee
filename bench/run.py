#!/usr/bin/env python3
"""Benchmark harness: ours against the official Python package and against
the wire floor, side by side in one run, rounds interleaved.

    python3 bench/run.py            # full run (release builds), writes bench/out/results.json
    python3 bench/run.py --smoke    # tiny counts on the dev builds: proves the harness runs

Every contender talks to the same `alter-dev` on loopback, with the same
grant and the echo provider. Figures are reported as ratios to the official
package and to the floor, from the same run. Timings are never gated on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
OFFICIAL_VENV = BENCH / ".venv-official"
OURS_VENV = BENCH / ".venv-ours"
LEAN_VENV = BENCH / ".venv-ours-lean"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, packages: list[str]) -> Path:
    py = venv_python(venv)
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    if packages:
        run([str(py), "-m", "pip", "install", "-q", *packages])
    return py


def ensure_official() -> Path:
    py = venv_python(OFFICIAL_VENV)
    probe = [
        str(py),
        "-c",
        "import importlib.metadata as m; assert m.version('alter-sdk') == '0.29.0'",
    ]
    if py.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return py
    log("installing the official alter-sdk 0.29.0 into its own virtualenv")
    return ensure_venv(OFFICIAL_VENV, ["alter-sdk==0.29.0"])


def ensure_ours(release: bool, lean: bool = False) -> Path | None:
    """Our Python package: in smoke mode the test suite's virtualenv, in a
    full run a release wheel in a virtualenv of its own. `lean` builds it
    without the embedded local vault (`--no-default-features`)."""
    if not release:
        py = ROOT / "bindings-python" / ".venv" / "bin" / "python"
        return py if py.exists() and not lean else None
    py = ensure_venv(LEAN_VENV if lean else OURS_VENV, ["maturin>=1.7,<2"])
    wheels = OUT / ("wheels-lean" if lean else "wheels")
    extra = ["--no-default-features"] if lean else []
    run(
        [
            str(py),
            "-m",
            "maturin",
            "build",
            "--release",
            "-q",
            *extra,
            "-m",
            str(ROOT / "bindings-python" / "Cargo.toml"),
            "-o",
            str(wheels),
        ]
    )
    wheel = max(wheels.glob("alter_sdk-*.whl"), key=lambda p: p.stat().st_mtime)
    run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--force-reinstall",
            "--no-deps",
            str(wheel),
        ]
    )
    return py


def ensure_node(release: bool) -> Path | None:
    pkg = ROOT / "bindings-node"
    if not (pkg / "package.json").exists():
        return None
    if release:
        run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=pkg)
        # Through cargo-host.sh the build shares target/release with the
        # other release builds instead of a per-target directory.
        run(
            ["npx", "napi", "build", "--platform", "--release"],
            cwd=pkg,
            env=dict(os.environ, CARGO=str(pkg / "scripts" / "cargo-host.sh")),
        )
    return pkg if any(pkg.glob("*.node")) else None


def rust_bins(release: bool) -> tuple[Path, Path]:
    profile = "release" if release else "debug"
    args = ["cargo", "build", "-q", "-p", "alter-bench", "-p", "alter-devserver"]
    if release:
        args.append("--release")
    run(args, cwd=ROOT)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / profile
    return target / "alter-dev", target / "alter-bench"


class Vault:
    def __init__(self, binary: Path) -> None:
        self.proc = subprocess.Popen([str(binary), "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.info = json.loads(line)

    def dev(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.info["base_url"] + path,
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.info['admin_token']}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read() or b"{}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def evict_page_cache(paths: list[Path]) -> int:
    """Write back and drop the page cache of every file under `paths`, so
    each contender's code is read back from disk the same way.

    Why: a file written moments ago (the wheel and binaries this harness
    has just built and installed; never the official package, installed
    once) sits in the page cache in large folios, and the kernel maps a
    large folio whole on the first touch of any of its pages. That put up
    to ~2 MB more of the same extension in a process's RSS than once it is
    read back from disk, where pages come in through readahead and are
    mapped in 64 KiB windows around the touched ones. Evicting all of them
    measures every contender in the second state, the one any installed
    package settles in. (The official package's RSS moves by < 0.3 MB
    either way: its code is not laid out for locality.) Linux only; a
    no-op elsewhere."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    os.sync()  # dirty pages cannot be dropped
    count = 0
    for root in paths:
        files = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for f in files:
            try:
                fd = os.open(f, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count


def measure_import(py: Path, repeats: int) -> dict:
    # Peak RSS from VmHWM, as the contenders report it (see py_client.py:
    # `ru_maxrss` would start at this harness's own RSS).
    code = (
        "import time,json;t=time.perf_counter();import alter_sdk;"
        "d=time.perf_counter()-t;"
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1];"
        "print(json.dumps({'import_ms':d*1000,'peak_rss_kib':int(hwm)}))"
    )
    samples = [
        json.loads(subprocess.run([str(py), "-c", code], check=True, capture_output=True, text=True).stdout)
        for _ in range(repeats)
    ]
    return {
        "import_ms": statistics.median(s["import_ms"] for s in samples),
        "peak_rss_kib": statistics.median(s["peak_rss_kib"] for s in samples),
    }


def one_json(cmd: list[str], env: dict) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny counts on the dev builds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--out", default=str(OUT / "results.json"))
    args = ap.parse_args()
    release = not args.smoke
    rounds = 1 if args.smoke else args.rounds
    base_calls = 16 if args.smoke else args.calls
    OUT.mkdir(parents=True, exist_ok=True)

    dev_bin, bench_bin = rust_bins(release)
    official = ensure_official()
    ours = ensure_ours(release)
    lean = ensure_ours(release, lean=True)
    node = ensure_node(release)
    # Each interpreter's virtualenv (bin/python -> the venv's root).
    installed = [bench_bin] + [py.parent.parent for py in (official, ours, lean) if py]
    if node:
        installed += list(node.glob("*.node"))
    log(f"page cache dropped for {evict_page_cache(installed)} installed files")

    vault = Vault(dev_bin)
    try:
        base = vault.info["base_url"]
        key = vault.info["app_api_key"]
        ms = vault.dev("/_dev/managed-secrets", {"slug": "bench", "credential": "bench-credential"})
        grant = vault.dev(
            f"/_dev/managed-secrets/{ms['managed_secret_id']}/grants",
            {"label": "bench"},
        )["grant_id"]
        url = f"{base}/_provider/echo/bench"
        env = dict(os.environ, ALTER_BASE_URL=base, PYTHONWARNINGS="ignore")

        contenders: dict[str, callable] = {}

        def py(pyexe: Path):
            return lambda mode, calls, conc, warm: one_json(
                [
                    str(pyexe),
                    str(BENCH / "contenders" / "py_client.py"),
                    mode,
                    key,
                    grant,
                    url,
                    str(calls),
                    str(conc),
                    str(warm),
                ],
                env,
            )

        def rust(mode: str):
            return lambda _m, calls, conc, warm: one_json(
                [
                    str(bench_bin),
                    mode,
                    "--base-url",
                    base,
                    "--api-key",
                    key,
                    "--grant-id",
                    grant,
                    "--url",
                    url,
                    "--calls",
                    str(calls),
                    "--concurrency",
                    str(conc),
                    "--warmup",
                    str(warm),
                ],
                env,
            )

        contenders["official-python"] = py(official)
        if ours:
            contenders["ours-python"] = py(ours)
        if lean:
            contenders["ours-python-lean"] = py(lean)
        if node:
            contenders["ours-node"] = lambda _m, calls, conc, warm: one_json(
                [
                    "node",
                    str(BENCH / "contenders" / "node_client.mjs"),
                    str(node),
                    key,
                    grant,
                    url,
                    str(calls),
                    str(conc),
                    str(warm),
                ],
                env,
            )
        contenders["ours-rust-core"] = rust("core")
        contenders["floor"] = rust("floor")

        workloads = [("request", c) for c in (1, 16, 128)] + [("proxy", 16)]
        results: dict[str, dict[str, list[dict]]] = {}
        imports: dict[str, list[dict]] = {}
        for r in range(rounds):
            log(f"round {r + 1}/{rounds}")
            for name, pyexe in (
                ("official-python", official),
                ("ours-python", ours),
                ("ours-python-lean", lean),
            ):
                if pyexe:
                    imports.setdefault(name, []).append(measure_import(pyexe, 3 if args.smoke else 9))
            for mode, conc in workloads:
                calls = max(base_calls, conc * 4) if not args.smoke else max(base_calls, conc)
                for name, fn in contenders.items():
                    if mode == "proxy" and "python" not in name:
                        continue
                    res = fn(mode, calls, conc, max(4, min(100, calls // 10)))
                    results.setdefault(f"{mode}@{conc}", {}).setdefault(name, []).append(res)
    finally:
        vault.stop()

    def med(rows: list[dict], k: str) -> float:
        return statistics.median(r[k] for r in rows)

    summary = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "mode": "smoke" if args.smoke else "full",
        "rounds": rounds,
        "import": {
            n: {k: statistics.median(s[k] for s in v) for k in ("import_ms", "peak_rss_kib")}
            for n, v in imports.items()
        },
        "workloads": {},
    }
    for wl, by in results.items():
        summary["workloads"][wl] = {
            n: {
                k: med(rows, k)
                for k in (
                    "throughput",
                    "p50_ms",
                    "p99_ms",
                    "cpu_s_per_call",
                    "peak_rss_kib",
                )
            }
            | {"calls": rows[0]["calls"]}
            for n, rows in by.items()
        }
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print_table(summary)
    return 0


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def print_table(s: dict) -> None:
    m = s["machine"]
    print(f"\nmachine: {m['platform']}, {m['cpus']} CPUs; mode {s['mode']}, {s['rounds']} round(s), medians")
    imp = s["import"]
    off = imp.get("official-python", {})
    print("\n" + row(["import alter_sdk", "time ms", "RSS KiB", "time vs official", "RSS vs official"]))
    print(row(["---"] * 5))
    for n, v in imp.items():
        t, r = v["import_ms"], v["peak_rss_kib"]
        print(row([n, f"{t:.1f}", f"{r:.0f}", ratio(t, off.get("import_ms")), ratio(r, off.get("peak_rss_kib"))]))
    heads = ["req/s", "p50 ms", "p99 ms", "CPU ms/call", "peak RSS KiB", "req/s vs official", "p50 vs official"]
    heads += ["CPU vs official", "RSS vs official", "req/s vs floor"]
    for wl, by in s["workloads"].items():
        off = by.get("official-python", {})
        floor = by.get("floor", {})
        calls = next(iter(by.values()))["calls"]
        print("\n" + row([f"{wl} ({calls} calls)", *heads]))
        print(row(["---"] * (len(heads) + 1)))
        for n, v in by.items():
            tput, p50, cpu, rss = v["throughput"], v["p50_ms"], v["cpu_s_per_call"], v["peak_rss_kib"]
            cells = [n, f"{tput:.0f}", f"{p50:.2f}", f"{v['p99_ms']:.2f}", f"{cpu * 1000:.3f}", f"{rss:.0f}"]
            cells += [ratio(tput, off.get("throughput")), ratio(p50, off.get("p50_ms"))]
            cells += [ratio(cpu, off.get("cpu_s_per_call")), ratio(rss, off.get("peak_rss_kib"))]
            cells += [ratio(tput, floor.get("throughput"))]
            print(row(cells))


if __name__ == "__main__":
    sys.exit(main())
