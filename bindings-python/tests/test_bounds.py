"""Bounded memory and a bounded shutdown: response bodies are read under a
cap (``max_response_bytes``), ``close(timeout=...)`` gives up on audit
posts the backend holds, and interpreter exit still delivers the audit
rows of a client nobody closed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest
from alter_sdk import AlterSDKError, AlterValueError, App, ResponseTooLargeError
from alter_sdk.testing import LocalVault

from .conftest import run

MIB = 1024 * 1024
AUDIT = "/sdk/oauth/audit/api-call"


def grant_on(vault: LocalVault) -> str:
    return vault.create_managed_secret_grant(vault.create_managed_secret("acme", "tok-1"))


def test_max_response_bytes_is_validated_by_the_core(local_vault: LocalVault) -> None:
    key = local_vault.app_api_key
    assert App(key).max_response_bytes == 64 * MIB
    assert App(key, max_response_bytes=MIB).max_response_bytes == MIB
    for bad in (0, -1, 2**30 + 1, 2**70, True, "1024", 1.5):
        with pytest.raises(AlterValueError, match="max_response_bytes"):
            App(key, max_response_bytes=bad)  # type: ignore[arg-type]


def test_a_provider_body_over_the_cap_fails_typed_and_is_audited_as_cut(
    local_vault: LocalVault,
) -> None:
    vault = local_vault
    grant = grant_on(vault)
    vault.add_fault(
        path_prefix="/_provider/echo/big",
        status=200,
        body_bytes=8 * MIB,
        content_length="none",
    )

    async def main() -> None:
        async with vault.app(max_response_bytes=MIB) as app:
            with pytest.raises(ResponseTooLargeError) as info:
                await app.request("GET", vault.provider_url("/big"), grant_id=grant)
        assert isinstance(info.value, AlterSDKError)
        assert info.value.max_bytes == MIB
        assert info.value.details["source"] == "provider"
        assert str(MIB) in str(info.value)

    run(main())
    rows = vault.audit("api_call")
    assert len(rows) == 1
    assert rows[0]["status"] == 200
    assert rows[0]["response_body"] == (
        f"<response body exceeded max_response_bytes ({MIB} bytes); not read>"
    )


# Runs in a fresh interpreter so that its peak RSS (VmHWM) reflects only
# this call: the default 64 MiB cap meets a 256 MiB provider body.
RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, re
    from alter_sdk import ResponseTooLargeError
    from alter_sdk.testing import LocalVault

    def peak_kib():
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))

    async def main():
        with LocalVault() as vault:
            ms = vault.create_managed_secret("big", "tok-1")
            grant = vault.create_managed_secret_grant(ms)
            async with vault.app() as app:
                await app.request("GET", vault.provider_url("/warm"), grant_id=grant)
                vault.add_fault(path_prefix="/_provider/echo/big", status=200,
                                body_bytes=256 << 20, content_length="none")
                before = peak_kib()
                try:
                    await app.request("GET", vault.provider_url("/big"), grant_id=grant)
                    outcome = None
                except ResponseTooLargeError as e:
                    outcome = e.max_bytes
                after = peak_kib()
        print(json.dumps({"growth_kib": after - before, "max_bytes": outcome}))

    asyncio.run(main())
    """
)


def test_peak_memory_stays_bounded_when_a_provider_sends_far_more_than_the_cap() -> None:
    r = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["max_bytes"] == 64 * MIB
    # The body is held up to the cap (64 MiB) and no further; buffering the
    # whole 256 MiB (and copying it into Python) would grow far more.
    assert out["growth_kib"] < 128 * 1024, out


def test_close_gives_up_on_held_audit_posts_and_counts_them(local_vault: LocalVault) -> None:
    vault = local_vault
    grant = grant_on(vault)
    # The vault holds these audit posts until it stops.
    vault.add_fault(path_prefix=AUDIT, count=2, delay_ms=600_000)

    async def main() -> None:
        app = vault.app()
        for _ in range(2):
            await app.request("GET", vault.provider_url("/held"), grant_id=grant)
        with pytest.raises(AlterValueError, match="timeout"):
            await app.close(timeout=-1)
        # The guard only turns a hang (the old, unbounded close) into a failure.
        await asyncio.wait_for(app.close(timeout=0.2), 60)
        assert app.dropped_reports == 2
        await app.close(timeout=0)  # idempotent, nothing left to abandon
        assert app.dropped_reports == 2

    run(main())


EXIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os
    from alter_sdk import App

    async def main():
        app = App(os.environ["ALTER_TEST_KEY"])
        r = await app.request("GET", os.environ["ALTER_TEST_URL"],
                              grant_id=os.environ["ALTER_TEST_GRANT"])
        print(r.status_code)
        # No close(): the interpreter exits with the audit row still pending.

    asyncio.run(main())
    """
)


def test_exit_without_close_still_delivers_the_audit_row(local_vault: LocalVault) -> None:
    vault = local_vault
    grant = grant_on(vault)
    # The first audit attempt is refused with Retry-After: 1, so the row is
    # still waiting to be retried when the script's last line has run.
    vault.add_fault(path_prefix=AUDIT, count=1, status=503, retry_after="1")
    env = {
        **os.environ,
        "ALTER_BASE_URL": vault.base_url,
        "ALTER_TEST_KEY": vault.app_api_key,
        "ALTER_TEST_URL": vault.provider_url("/exit"),
        "ALTER_TEST_GRANT": grant,
    }
    r = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", EXIT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "200"
    rows = vault.audit("api_call")
    assert len(rows) == 1, rows
    assert rows[0]["url"] == vault.provider_url("/exit")
    counts = vault.call("GET", "/_dev/requests")["requests"]
    assert counts[AUDIT] == 2, counts
