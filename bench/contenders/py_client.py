"""Benchmark contender for any `alter_sdk` (ours or the official package).

Both packages share the module name and API, so one script drives either,
in whichever virtualenv runs it. Prints one JSON line.
"""

import asyncio
import json
import resource
import sys
import time


def peak_rss_kib() -> int:
    """This process's own peak RSS. On Linux `VmHWM`, not `ru_maxrss`: a
    child's `ru_maxrss` starts at its parent's RSS at fork (kept across
    exec), so it would report the harness's memory, not ours."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(mode: str, key: str, grant: str, url: str, calls: int, conc: int, warmup: int) -> dict:
    from alter_sdk import App, PendingApproval

    app = App(api_key=key)
    sem = asyncio.Semaphore(conc)

    async def one() -> float:
        async with sem:
            started = time.perf_counter()
            if mode == "request":
                r = await app.request("GET", url, grant_id=grant)
                assert r.status_code == 200, r.status_code
            else:
                r = await app.proxy_request("GET", url, grant_id=grant)
                assert not isinstance(r, PendingApproval)
                assert r.status_code == 200
            return time.perf_counter() - started

    await asyncio.gather(*(one() for _ in range(warmup)))
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    lat = sorted(await asyncio.gather(*(one() for _ in range(calls))))
    # Both packages post audit rows in the background and `close()` waits
    # for them: they are part of the work, so the clock stops after it.
    await app.close()
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0

    def pct(p: float) -> float:
        return lat[round((len(lat) - 1) * p)] * 1000.0

    return {
        "calls": calls,
        "concurrency": conc,
        "throughput": calls / wall,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_s_per_call": cpu / calls,
        "peak_rss_kib": peak_rss_kib(),
    }


def main() -> None:
    mode, key, grant, url, calls, conc, warmup = sys.argv[1:8]
    out = asyncio.run(run(mode, key, grant, url, int(calls), int(conc), int(warmup)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
