"""ScopedMemoryStore: memory confined to one verified identity's partition."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from alter_sdk import (
    Agent,
    AlterValueError,
    App,
    IdentityAssertion,
    IdentityContext,
    MemoryIsolationError,
    NamespaceStore,
    ScopedMemoryStore,
    verify_identity_assertion,
)
from alter_sdk.testing import LocalVault, User

from .conftest import run

AUDIENCE = "https://memory.example.com"


@dataclass(frozen=True)
class Item:
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]


class DictStore:
    """A NamespaceStore in a dict, recording every call it receives."""

    def __init__(self) -> None:
        self.items: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
        self.calls: list[str] = []

    async def aget(self, namespace: tuple[str, ...], key: str) -> Item | None:
        self.calls.append("aget")
        value = self.items.get((namespace, key))
        return None if value is None else Item(namespace, key, value)

    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        self.calls.append("aput")
        self.items[(namespace, key)] = value

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        self.calls.append("adelete")
        self.items.pop((namespace, key), None)

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Item]:
        self.calls.append("asearch")
        found = [
            Item(ns, key, value)
            for (ns, key), value in sorted(self.items.items())
            if ns[: len(namespace_prefix)] == namespace_prefix
        ]
        return found[offset : offset + limit]

    async def alist_namespaces(
        self, *, prefix: tuple[str, ...], limit: int = 100, offset: int = 0
    ) -> list[tuple[str, ...]]:
        self.calls.append("alist_namespaces")
        spaces = sorted({ns for ns, _ in self.items if ns[: len(prefix)] == prefix})
        return spaces[offset : offset + limit]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def jwks_of(vault: LocalVault) -> dict[str, Any]:
    with urllib.request.urlopen(f"{vault.base_url}/.well-known/jwks.json") as r:
        keys: dict[str, Any] = json.loads(r.read())
    return keys


async def new_agent(vault: LocalVault, name: str) -> Agent:
    async with App(api_key=vault.app_api_key) as app:
        created = await app.agents.create(name=name)
    assert created.api_key is not None
    return Agent(api_key=created.api_key)


async def asserted(vault: LocalVault, agent_name: str, user: User) -> IdentityAssertion:
    """An assertion of ``user`` made by a new agent."""
    async with await new_agent(vault, agent_name) as agent:
        return await agent.assert_identity(audience=AUDIENCE, user_token=user.jwt)


def test_a_verified_assertion_binds_the_store_to_one_users_partition(
    local_vault: LocalVault,
) -> None:
    vault = local_vault
    dora, emil = vault.create_user("dora@example.com"), vault.create_user("emil@example.com")

    async def main() -> None:
        async with await new_agent(vault, "rememberer") as agent:
            me = await agent.resolve_identity()
            assertion = await agent.assert_identity(audience=AUDIENCE, user_token=dora.jwt)
            other = await agent.assert_identity(audience=AUDIENCE, user_token=emil.jwt)
        trusted: dict[str, Any] = {
            "issuer": vault.base_url,
            "audience": AUDIENCE,
            "jwks": jwks_of(vault),
            "expected_app_id": vault.app_id,
            "expected_agent_id": str(me.agent_id),
        }
        identity = verify_identity_assertion(assertion.token, **trusted)
        raw = DictStore()
        store = ScopedMemoryStore(raw, identity)
        assert store.scope.namespace == (
            "alter",
            "v2",
            "agent-user",
            b64(vault.app_id),
            b64(str(me.agent_id)),
            b64(dora.user_id),
        )
        assert store.scope.partition_key == "/".join(store.scope.namespace) + "/"
        assert store.scope.user_key == f"alter:user:{dora.user_id}"
        assert store.scope == identity.memory_scope()

        await store.put(["notes", "travel"], "seat", {"pref": "aisle"})
        await store.put([], "name", {"v": "Dora"})
        # The raw store holds the item under the partition plus the encoded path.
        assert ((*store.scope.namespace, b64("notes"), b64("travel")), "seat") in raw.items
        item = await store.get(["notes", "travel"], "seat")
        assert item is not None and item.value == {"pref": "aisle"}
        assert await store.get(["notes"], "seat") is None
        assert [i.key for i in await store.search()] == ["name", "seat"]
        assert [i.key for i in await store.search(["notes"], limit=1)] == ["seat"]
        assert await store.list_namespaces(["notes"]) == [
            (*store.scope.namespace, b64("notes"), b64("travel"))
        ]

        # Another user's store, over the same raw store, sees none of it.
        # The identity inside assert_identity's answer is trusted as such.
        emils = ScopedMemoryStore(raw, other.identity)
        assert emils.scope.partition_key != store.scope.partition_key
        assert await emils.get(["notes", "travel"], "seat") is None
        assert await emils.search() == []

        await store.delete(["notes", "travel"], "seat")
        assert await store.get(["notes", "travel"], "seat") is None
        assert repr(store) == f"ScopedMemoryStore(partition_key={store.scope.partition_key!r})"

    run(main())


def test_only_identities_from_alter_key_memory(local_vault: LocalVault) -> None:
    vault = local_vault
    dora = vault.create_user("dora@example.com")

    async def main() -> None:
        async with await new_agent(vault, "provenance") as agent:
            resolved = await agent.resolve_identity(user_token=dora.jwt)
            headless = await agent.resolve_identity()
            assertion = await agent.assert_identity(audience=AUDIENCE, user_token=dora.jwt)
        async with App(api_key=vault.app_api_key) as app:
            app_only = await app.resolve_identity(user_token=dora.user_token)

        def code(fn: Any) -> str:
            with pytest.raises(MemoryIsolationError) as refused:
                fn()
            return refused.value.code

        store = DictStore()
        # The same values built by hand, or a copy, prove nothing.
        forged = IdentityContext(**resolved.model_dump())
        assert forged == resolved
        assert code(lambda: ScopedMemoryStore(store, forged)) == "memory_identity_unverified"
        assert code(lambda: forged.memory_scope()) == "memory_identity_unverified"
        copied = assertion.identity.model_copy()
        assert code(lambda: ScopedMemoryStore(store, copied)) == "memory_identity_unverified"
        # Nor does an object Alter returned once its values are changed.
        altered = (await asserted(vault, "altered", dora)).identity
        object.__setattr__(altered, "app_user_id", "someone-else")
        assert code(lambda: ScopedMemoryStore(store, altered)) == "memory_identity_unverified"
        # A resolved identity is a snapshot: it needs a live refresh.
        assert code(lambda: ScopedMemoryStore(store, resolved)) == "memory_live_refresh_required"
        assert resolved.memory_scope().user_key == f"alter:user:{dora.user_id}"
        # Eligibility: an agent is required; agent-only is for headless identities.
        assert code(lambda: app_only.memory_scope()) == "memory_agent_required"
        assert code(lambda: headless.memory_scope()) == "memory_user_required"
        assert (
            code(lambda: resolved.memory_scope(agent_only=True)) == "memory_user_cannot_be_dropped"
        )
        solo = headless.memory_scope(agent_only=True)
        assert solo.namespace[:3] == ("alter", "v2", "agent") and solo.user_key is None
        with pytest.raises(AlterValueError, match="agent_only"):
            resolved.memory_scope(agent_only="yes")  # type: ignore[arg-type]
        # An assertion's identity stops being trusted when it expires.
        from alter_sdk import _memory

        lapsed = verify_identity_assertion(
            assertion.token,
            issuer=vault.base_url,
            audience=AUDIENCE,
            jwks=jwks_of(vault),
            expected_app_id=vault.app_id,
        )
        held = ScopedMemoryStore(store, lapsed)
        _memory._trust(lapsed, time.time() - 1)  # as if its expiry had passed
        with pytest.raises(MemoryIsolationError) as expired:
            await held.put([], "k", {})
        assert expired.value.code == "memory_identity_expired"
        assert store.calls == []

    run(main())


def test_a_resolved_identity_is_refreshed_live_on_every_call(local_vault: LocalVault) -> None:
    vault = local_vault
    dora, emil = vault.create_user("dora@example.com"), vault.create_user("emil@example.com")

    async def main() -> None:
        async with await new_agent(vault, "live") as agent:
            first = await agent.resolve_identity(user_token=dora.jwt)
            asked: list[str] = []

            async def refresh() -> IdentityContext:
                asked.append("dora")
                return await agent.resolve_identity(user_token=dora.jwt)

            raw = DictStore()
            store = ScopedMemoryStore(raw, first, refresh_identity=refresh)
            await store.put(["a"], "k", {"n": 1})
            assert (await store.get(["a"], "k")) is not None
            assert asked == ["dora", "dora"]

            # A resolver that hands back what it resolved earlier is refused.
            async def cached() -> IdentityContext:
                return first

            stale = ScopedMemoryStore(raw, first, refresh_identity=cached)
            with pytest.raises(MemoryIsolationError) as not_live:
                await stale.get(["a"], "k")
            assert not_live.value.code == "memory_refresh_not_live"

            # One that now resolves someone else is refused too.
            async def switched() -> IdentityContext:
                return await agent.resolve_identity(user_token=emil.jwt)

            moved = ScopedMemoryStore(raw, first, refresh_identity=switched)
            with pytest.raises(MemoryIsolationError) as changed:
                await moved.get(["a"], "k")
            assert changed.value.code == "memory_identity_changed"

            def not_async() -> IdentityContext:
                return first

            sync = ScopedMemoryStore(raw, first, refresh_identity=not_async)  # type: ignore[arg-type]
            with pytest.raises(AlterValueError, match="awaitable"):
                await sync.get(["a"], "k")
            with pytest.raises(AlterValueError, match="refresh_identity"):
                ScopedMemoryStore(raw, first, refresh_identity="no")  # type: ignore[arg-type]
            assert raw.calls == ["aput", "aget"]

    run(main())


def test_bad_arguments_are_refused_before_the_store_is_called(local_vault: LocalVault) -> None:
    vault = local_vault
    dora = vault.create_user("dora@example.com")

    async def main() -> None:
        assertion = await asserted(vault, "args", dora)
        raw = DictStore()
        store = ScopedMemoryStore(raw, assertion.identity)
        bad: list[tuple[Any, str]] = [
            (store.get([], ""), "key"),
            (store.get([], "k" * 513), "key"),
            (store.put([], 7, {}), "key"),  # type: ignore[arg-type]
            (store.put("notes", "k", {}), "path"),
            (store.put(["ok", 3], "k", {}), "path"),  # type: ignore[list-item]
            (store.put([""], "k", {}), "path"),
            (store.put([str(i) for i in range(17)], "k", {}), "path"),
            (store.put(["é" * 128], "k", {}), "path"),
            (store.put(["\ud800"], "k", {}), "path"),
            (store.put([], "k", ["not", "a", "dict"]), "value"),  # type: ignore[arg-type]
            (store.search(limit=0), "limit"),
            (store.search(limit=True), "limit"),
            (store.search(offset=-1), "offset"),
            (store.search(query=5), "query"),  # type: ignore[arg-type]
            (store.search(filter=[1]), "filter"),  # type: ignore[arg-type]
            (store.list_namespaces(limit=-3), "limit"),
            (store.delete(b"ab", "k"), "path"),  # type: ignore[arg-type]
        ]
        for call, name in bad:
            with pytest.raises(AlterValueError, match=name):
                await call
        assert raw.calls == []
        # The limits themselves are allowed.
        await store.put([str(i) for i in range(16)], "k" * 512, {})
        await store.put(["é" * 127], "k", {})
        assert raw.calls == ["aput", "aput"]
        assert store.scope.namespace_for(["a", "b/c"]) == (
            *store.scope.namespace,
            b64("a"),
            b64("b/c"),
        )
        with pytest.raises(AlterValueError, match="path"):
            store.scope.namespace_for("abc")

    run(main())


def test_a_store_answering_outside_the_partition_is_caught(local_vault: LocalVault) -> None:
    vault = local_vault
    dora = vault.create_user("dora@example.com")

    class LeakyStore(DictStore):
        async def aget(self, namespace: tuple[str, ...], key: str) -> Item | None:
            return Item(("alter", "v2", "agent-user", "someone-else"), key, {})

        async def asearch(self, namespace_prefix: tuple[str, ...], **kw: Any) -> list[Item]:
            return [Item((*namespace_prefix, "x"), "k", {}), Item(namespace_prefix[:-1], "k", {})]

        async def alist_namespaces(
            self, *, prefix: tuple[str, ...], limit: int = 100, offset: int = 0
        ) -> list[tuple[str, ...]]:
            return [prefix, ("elsewhere",)]

    class WrongKeyStore(DictStore):
        async def aget(self, namespace: tuple[str, ...], key: str) -> Item | None:
            return Item(namespace, key + "-other", {})

    class GarbledStore(DictStore):
        async def aget(self, namespace: tuple[str, ...], key: str) -> Item | None:
            return Item("/".join(namespace), key, {})  # type: ignore[arg-type]

    async def main() -> None:
        assertion = await asserted(vault, "leaky", dora)
        cases: list[tuple[DictStore, Callable[[ScopedMemoryStore], Awaitable[object]]]] = [
            (LeakyStore(), lambda s: s.get([], "k")),
            (LeakyStore(), lambda s: s.search()),
            (LeakyStore(), lambda s: s.list_namespaces()),
            (WrongKeyStore(), lambda s: s.get([], "k")),
            (GarbledStore(), lambda s: s.get([], "k")),
        ]
        for raw, call in cases:
            store = ScopedMemoryStore(raw, assertion.identity)
            with pytest.raises(MemoryIsolationError) as leaked:
                await call(store)
            assert leaked.value.code == "memory_store_scope_violation"
        assert isinstance(DictStore(), NamespaceStore)

    run(main())
