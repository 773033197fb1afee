"""The async bridge: coroutines, event loops, cancellation, fork, the
user_token_getter and warnings."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import sys
import threading
import time
from collections.abc import Callable

import pytest
from alter_sdk import Agent, AlterSDKError, App, PendingApproval
from alter_sdk._alter_sdk import _inflight_calls
from alter_sdk.testing import LocalVault

from .conftest import run


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Waits for a condition another thread or process makes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def setup_grant(vault: LocalVault) -> str:
    ms = vault.create_managed_secret("acme", "tok-1")
    return vault.create_managed_secret_grant(ms, label="bridge")


def test_methods_return_coroutines(local_vault: LocalVault) -> None:
    app = App(api_key=local_vault.app_api_key)
    coro = app.request("GET", local_vault.provider_url("/x"), grant_id="g")
    assert asyncio.iscoroutine(coro)
    coro.close()
    # Nothing runs until awaited, so no loop is needed to create one.
    assert _inflight_calls() == 0
    run(app.close())


def test_one_client_across_event_loops(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    url = local_vault.provider_url("/loops")
    app = App(api_key=local_vault.app_api_key)

    async def call() -> int:
        return (await app.request("GET", url, grant_id=grant_id)).status_code

    # Two loops, one after the other, on this thread...
    assert asyncio.run(call()) == 200
    assert asyncio.run(call()) == 200
    # ...a manually managed loop...
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(call()) == 200
    finally:
        loop.close()
    # ...and a loop on another thread.
    results: list[int] = []
    t = threading.Thread(target=lambda: results.append(asyncio.run(call())))
    t.start()
    t.join()
    assert results == [200]
    run(app.close())


def test_concurrent_calls_with_gather_and_tasks(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    url = local_vault.provider_url("/c")

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            tasks = [
                asyncio.create_task(
                    app.request("GET", url, grant_id=grant_id, query_params={"i": i})
                )
                for i in range(8)
            ]
            done = await asyncio.gather(*tasks)
            assert sorted(r.json()["query"] for r in done) == sorted(f"i={i}" for i in range(8))
            r = await asyncio.wait_for(app.request("GET", url, grant_id=grant_id), timeout=30)
            assert r.status_code == 200

    run(main())


def test_the_interpreter_is_free_while_rust_works(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    local_vault.add_fault(path_prefix="/_provider/echo/slow", count=1, delay_ms=300)
    url = local_vault.provider_url("/slow")
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> None:
        stop = asyncio.Event()
        async with App(api_key=local_vault.app_api_key) as app:
            t = asyncio.create_task(ticker(stop))
            await app.request("GET", url, grant_id=grant_id)
            stop.set()
            await t

    run(main())
    # The loop kept running during the 300 ms provider delay.
    assert ticks >= 5


def test_cancelling_the_task_cancels_the_rust_future(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    local_vault.update_grant(grant_id, hitl=True)

    def held() -> int:
        health = local_vault.call("GET", "/_dev/health")
        return int(health["held_long_polls"])

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            pending = await app.proxy_request(
                "POST", local_vault.provider_url("/t"), grant_id=grant_id
            )
            assert isinstance(pending, PendingApproval)
            approval_id = pending.approval_id
            task = asyncio.create_task(app.get_approval_status(approval_id, wait=20))
            # The server holds the long poll...
            await asyncio.to_thread(wait_for, lambda: held() == 1)
            assert _inflight_calls() == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # ...and the dropped Rust future closed the connection.
            await asyncio.to_thread(wait_for, lambda: _inflight_calls() == 0)
            await asyncio.to_thread(wait_for, lambda: held() == 0)

    run(main())


def test_wait_for_timeout_cancels(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    local_vault.add_fault(path_prefix="/_provider/echo/hang", count=1, delay_ms=60_000)

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(
                    app.request("GET", local_vault.provider_url("/hang"), grant_id=grant_id),
                    timeout=0.5,
                )
        await asyncio.to_thread(wait_for, lambda: _inflight_calls() == 0)

    run(main())


def test_dropping_an_awaited_coroutine_aborts_it(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    local_vault.add_fault(path_prefix="/_provider/echo/hang", count=1, delay_ms=60_000)

    async def main() -> None:
        app = App(api_key=local_vault.app_api_key)
        coro = app.request("GET", local_vault.provider_url("/hang"), grant_id=grant_id)
        fut = coro.send(None)  # first step: the call starts on the runtime
        assert asyncio.isfuture(fut)
        assert _inflight_calls() == 1
        coro.close()
        del coro, fut
        gc.collect()
        await asyncio.to_thread(wait_for, lambda: _inflight_calls() == 0)
        await app.close()

    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_clients_work_in_a_forked_child(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    url = local_vault.provider_url("/fork")
    app = App(api_key=local_vault.app_api_key)

    async def call(client: App, marker: str) -> int:
        r = await client.request("GET", url, grant_id=grant_id, reason=marker)
        return r.status_code

    # The parent has a running runtime and pooled connections.
    assert asyncio.run(call(app, "parent-before")) == 200
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            same = asyncio.run(call(app, "child-same-client"))
            fresh = App(api_key=local_vault.app_api_key)
            other = asyncio.run(call(fresh, "child-new-client"))
            asyncio.run(fresh.close())
            asyncio.run(app.close())
            code = 0 if (same, other) == (200, 200) else 3
        except BaseException as e:
            print("child failed:", repr(e), file=sys.stderr)
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # The parent still works after the fork.
    assert asyncio.run(call(app, "parent-after")) == 200
    run(app.close())
    reasons = {row["reason"] for row in local_vault.audit("api_call")}
    assert {"parent-before", "child-same-client", "child-new-client", "parent-after"} <= reasons


# ---------------------------------------------------------------- user_token_getter


def delegated(vault: LocalVault) -> tuple[str, str, str]:
    async def make() -> tuple[str, str]:
        async with App(api_key=vault.app_api_key) as app:
            created = await app.agents.create(name="getter-bot")
            assert created.api_key is not None
            return str(created.id), created.api_key

    agent_id, key = run(make())
    user = vault.create_user("bob@example.com")
    vault.create_oauth_grant(
        user=user, provider_id="google", access_token="ya29.bob", agent_id=agent_id
    )
    return agent_id, key, user.jwt


current_jwt: contextvars.ContextVar[str] = contextvars.ContextVar("current_jwt")


def test_sync_getter_reads_the_callers_context(local_vault: LocalVault) -> None:
    _, key, jwt = delegated(local_vault)
    seen_threads: list[int] = []

    def getter() -> str:
        seen_threads.append(threading.get_ident())
        return current_jwt.get()

    async def main() -> None:
        async with Agent(api_key=key, user_token_getter=getter) as agent:
            current_jwt.set(jwt)
            r = await agent.request("GET", local_vault.provider_url("/e"), provider="google")
            assert r.json()["headers"]["authorization"] == "Bearer ya29.bob"

    run(main())
    # The getter ran on the event loop's thread (this one).
    assert seen_threads == [threading.get_ident()]


def test_async_getter(local_vault: LocalVault) -> None:
    _, key, jwt = delegated(local_vault)

    async def getter() -> str:
        await asyncio.sleep(0)
        return jwt

    async def main() -> None:
        async with Agent(api_key=key, user_token_getter=getter) as agent:
            r = await agent.request("GET", local_vault.provider_url("/e"), provider="google")
            assert r.status_code == 200

    run(main())


def test_getter_failures_are_never_chained(local_vault: LocalVault) -> None:
    secret = "eyJhbGciOi.secret-token-in-the-message"

    def broken() -> str:
        raise RuntimeError(secret)

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key, user_token_getter=broken) as app:
            with pytest.raises(AlterSDKError) as info:
                await app.request("GET", local_vault.provider_url("/e"), provider="google")
            err = info.value
            assert str(err) == "user_token_getter failed"
            assert err.__cause__ is None and err.__context__ is None
            assert secret not in repr(err) and secret not in str(err.details)

        async with App(api_key=local_vault.app_api_key, user_token_getter=lambda: "") as app:
            with pytest.raises(AlterSDKError, match="non-empty string"):
                await app.request("GET", local_vault.provider_url("/e"), provider="google")

    run(main())


# ---------------------------------------------------------------- warnings


def test_core_warnings_become_user_warnings(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    key_holder = local_vault

    async def main() -> None:
        async with App(api_key=key_holder.app_api_key) as app:
            await app.request("GET", local_vault.provider_url("/w"), grant_id=grant_id)

    local_vault.update_key(api_key=local_vault.app_api_key, deprecated=True)
    with pytest.warns(UserWarning, match="deprecated"):
        run(main())


def test_a_logger_receives_the_warnings(local_vault: LocalVault) -> None:
    grant_id = setup_grant(local_vault)
    local_vault.update_key(api_key=local_vault.app_api_key, deprecated=True)
    messages: list[str] = []

    class Logger:
        def warning(self, msg: str) -> None:
            messages.append(msg)
            raise RuntimeError("a failing logger never fails the call")

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key, logger=Logger()) as app:
            r = await app.request("GET", local_vault.provider_url("/w"), grant_id=grant_id)
            assert r.status_code == 200

    run(main())
    assert any("deprecated" in m for m in messages)


def test_an_active_opentelemetry_span_is_forwarded(
    local_vault: LocalVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OpenTelemetry in use, calls carry the span's traceparent (checked
    and sent by the core); a stand-in tracer API is enough here."""
    import types

    seen: list[str] = []

    class SpanContext:
        is_valid = True
        trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
        span_id = 0x00F067AA0BA902B7
        trace_flags = 1

    class Span:
        def get_span_context(self) -> SpanContext:
            seen.append("asked")
            return SpanContext()

    fake = types.ModuleType("opentelemetry.trace")
    fake.get_current_span = Span  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", fake)
    grant_id = setup_grant(local_vault)

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            r = await app.request("GET", local_vault.provider_url("/otel"), grant_id=grant_id)
            assert r.status_code == 200

    run(main())
    assert seen
