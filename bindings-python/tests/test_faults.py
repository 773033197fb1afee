"""Faults never crash or hang the caller: a panic in the native code arrives
as AlterSDKError (awaited and synchronous), unusable seconds are refused by
name, and a fork while calls are in flight leaves a child that can call."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from alter_sdk import (
    AlterSDKError,
    AlterValueError,
    App,
    ApprovalTimeoutError,
)
from alter_sdk import _alter_sdk as native
from alter_sdk.testing import LocalVault

from .conftest import run

APPROVAL_ID = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"
UNUSABLE = [1e20, math.inf, -math.inf, math.nan]


def debug_hook(name: str) -> Callable[[], Any]:
    """A test hook of debug builds (the test suite builds one)."""
    hook: Callable[[], Any] = getattr(native, name)
    return hook


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Polls a condition another thread or process makes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def echo_status(vault: LocalVault, app: App, grant_id: str, reason: str) -> int:
    async def call() -> int:
        url = vault.provider_url("/faults")
        r = await app.request("GET", url, grant_id=grant_id, reason=reason)
        return r.status_code

    return run(call())


def grant(vault: LocalVault) -> str:
    ms = vault.create_managed_secret("faults", "tok-faults")
    return vault.create_managed_secret_grant(ms, label="faults")


# ------------------------------------------------------------------ panics


def test_a_panic_in_an_awaited_call_raises_alter_sdk_error(local_vault: LocalVault) -> None:
    panic_async = debug_hook("_debug_panic_async")
    grant_id = grant(local_vault)

    async def main() -> int:
        # Bounded: before the fix the awaiting task never woke up.
        with pytest.raises(AlterSDKError, match="internal error in _debug_panic_async") as info:
            await asyncio.wait_for(panic_async(), timeout=60)
        assert "deliberate panic" in info.value.message
        assert type(info.value) is AlterSDKError
        # The loop and the runtime carry on.
        async with App(api_key=local_vault.app_api_key) as app:
            r = await app.request("GET", local_vault.provider_url("/after"), grant_id=grant_id)
            return r.status_code

    assert run(main()) == 200


def test_a_panic_in_a_synchronous_function_raises_alter_sdk_error(
    local_vault: LocalVault,
) -> None:
    panic_sync = debug_hook("_debug_panic")
    with pytest.raises(AlterSDKError, match="internal error in _debug_panic: deliberate panic"):
        panic_sync()
    # A plain `except Exception` sees it too (PyO3's PanicException would not).
    try:
        panic_sync()
    except Exception as e:
        assert isinstance(e, AlterSDKError)
    app = App(api_key=local_vault.app_api_key)
    assert echo_status(local_vault, app, grant(local_vault), "after-sync-panic") == 200
    run(app.close())


# ------------------------------------------------------------------ seconds


def test_unusable_seconds_are_refused_by_name(local_vault: LocalVault) -> None:
    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            # (argument, call, whether -1 is refused too)
            checks: list[tuple[str, Callable[[float], Coroutine[Any, Any, Any]], bool]] = [
                ("timeout", lambda v: app.await_approval(APPROVAL_ID, timeout=v), False),
                ("poll_interval", lambda v: app.await_approval(APPROVAL_ID, poll_interval=v), True),
                ("timeout", lambda v: app.poll_connect_session("tok", timeout=v), True),
                ("poll_interval", lambda v: app.poll_connect_session("tok", poll_interval=v), True),
                ("timeout", lambda v: app.poll_auth_session("tok", timeout=v), True),
                ("poll_interval", lambda v: app.poll_auth_session("tok", poll_interval=v), True),
            ]
            for name, make, negative_refused in checks:
                values = [*UNUSABLE, -1.0] if negative_refused else UNUSABLE
                for value in values:
                    # Bounded: 1e20 used to panic and leave this pending.
                    with pytest.raises(AlterValueError, match=f"^{name} must be"):
                        await asyncio.wait_for(make(value), timeout=60)
            # A negative await_approval timeout has already passed
            # (requests.md §13.4): it times out at once, without polling.
            with pytest.raises(ApprovalTimeoutError, match=r"local wait of -1\.0s elapsed"):
                await app.await_approval(APPROVAL_ID, timeout=-1.0)

    run(main())


def test_constructor_timeout_is_checked_by_the_core_rule(local_vault: LocalVault) -> None:
    for value in [*UNUSABLE, 0.0, -1.0]:
        with pytest.raises(AlterValueError, match=r"^timeout must be"):
            App(api_key=local_vault.app_api_key, timeout=value)
    with pytest.raises(AlterValueError, match="at most 1000000000 seconds"):
        App(api_key=local_vault.app_api_key, timeout=1e20)


# ------------------------------------------------------------------ fork


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_fork_while_calls_are_in_flight(local_vault: LocalVault) -> None:
    """Calls held by the vault are in flight on the runtime (their loop on
    another thread) when the process forks: the child makes calls that
    succeed (with a fresh client and with the inherited one, whose pools
    belong to the parent's runtime), and the parent's calls complete once
    released."""
    grant_id = grant(local_vault)
    gate = "fork-in-flight"
    held_url = f"{local_vault.base_url}/_provider/hold/{gate}"

    def waiting() -> int:
        return int(local_vault.call("GET", f"/_dev/holds/{gate}")["waiting"])

    n = 4

    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()
    app = App(api_key=local_vault.app_api_key)
    pending = [
        asyncio.run_coroutine_threadsafe(
            app.request("GET", held_url, grant_id=grant_id, reason=f"held-{i}"), loop
        )
        for i in range(n)
    ]
    wait_for(lambda: waiting() == n)

    with warnings.catch_warnings():
        # CPython warns that forking a threaded process may deadlock: that
        # is the hazard under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            fresh = App(api_key=local_vault.app_api_key)
            own = echo_status(local_vault, fresh, grant_id, "child-fresh")
            run(fresh.close())
            # The inherited client too: its pools are the parent's.
            inherited = echo_status(local_vault, app, grant_id, "child-inherited")
            # Closing waits for this process's audit posts (in the child,
            # the parent's held calls are not waited for).
            run(app.close())
            code = 0 if (own, inherited) == (200, 200) else 3
        except BaseException as e:
            print("child failed:", repr(e), file=sys.stderr)
            code = 2
        finally:
            os._exit(code)

    try:
        # The child's call does not depend on the held ones: wait for it
        # before releasing them.
        deadline = time.monotonic() + 60
        status: int | None = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child hung")
            else:
                time.sleep(0.01)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert waiting() == n, "the parent's calls were still held during the child's call"
    finally:
        local_vault.call("POST", f"/_dev/holds/{gate}")
    statuses = [f.result(timeout=60).status_code for f in pending]
    assert statuses == [200] * n
    asyncio.run_coroutine_threadsafe(app.close(), loop).result(timeout=60)
    loop.call_soon_threadsafe(loop.stop)
    loop_thread.join(timeout=60)
    loop.close()
    reasons = [row["reason"] for row in local_vault.audit("api_call")]
    assert {"child-fresh", "child-inherited"} <= set(reasons)
    assert {f"held-{i}" for i in range(n)} <= set(reasons)
