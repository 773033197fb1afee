"""The interpreter exits cleanly right after a burst of concurrent calls.

A runtime thread may still be inside Python (handing the last result to the
event loop) when the main thread leaves ``asyncio.run`` and starts shutting
down; entering the interpreter during finalisation used to abort the
process. The ``atexit`` hook now waits for such threads to leave first.
"""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio
    from alter_sdk.testing import LocalVault

    vault = LocalVault().start()
    ms = vault.create_managed_secret("burst", "burst-credential")
    grant = vault.create_managed_secret_grant(ms, label="burst")

    async def main() -> None:
        app = vault.app()
        url = vault.provider_url("/burst")
        sem = asyncio.Semaphore(128)

        async def one() -> int:
            async with sem:
                r = await app.request("GET", url, grant_id=grant)
                return r.status_code

        statuses = await asyncio.gather(*(one() for _ in range(600)))
        assert set(statuses) == {200}, set(statuses)
        await app.close()

    asyncio.run(main())
    print("done")
    # Exit straight away: the last completion may still be in flight.
    """
)


def test_exit_right_after_concurrent_calls_is_clean() -> None:
    for _ in range(5):
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
        assert r.stdout.strip() == "done"
