"""Memory partitioned by a verified identity: ``ScopedMemoryStore``.

An agent that remembers things for its users must not read one user's
memory while acting for another. ``ScopedMemoryStore`` wraps any async
namespaced store (LangGraph's ``BaseStore`` shape, see ``NamespaceStore``)
and confines every operation to the private partition of one identity
that Alter vouched for. The partition layout and every argument rule are
the core's (``alter_core::memory``); this module adds what only the
process can know: whether an ``IdentityContext`` object really came from
Alter.

Provenance. An ``IdentityContext`` is trusted only if this package built
it from an authenticated answer (``resolve_identity``, ``assert_identity``)
or from ``verify_identity_assertion``. Building one by hand, copying it or
deserialising it yields an untrusted object: identity JSON received from
elsewhere must arrive as an assertion and be verified. A verified
assertion is trusted until it expires; a resolved identity is a snapshot
with no expiry, so a store bound to one needs a ``refresh_identity``
coroutine that asks Alter again before every operation.

This is a boundary inside a trusted application (keep the raw store out
of agent tools), not a sandbox for hostile Python code.
"""

from __future__ import annotations

import inspect
import time
import weakref
from dataclasses import dataclass

from . import _alter_sdk as _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any, NoReturn

    from ._aliases import MemoryIsolationCode, MemoryItem, NamespaceStore
    from ._models import IdentityAssertion, IdentityContext, MemoryScope

__all__ = ["ScopedMemoryStore"]


# The exception classes are built on first use (see __init__.py); a process
# that only resolves identities never needs them.
def _refuse(message: str) -> NoReturn:
    from ._errors import AlterValueError

    raise AlterValueError(message)


def _isolate(code: MemoryIsolationCode, message: str) -> NoReturn:
    from ._errors import MemoryIsolationError

    raise MemoryIsolationError(code, message)


# ------------------------------------------------------------ provenance


@dataclass(frozen=True, slots=True)
class _Receipt:
    """What this process recorded when Alter handed it an identity object."""

    ref: weakref.ReferenceType[Any]
    # Every field value at receipt: models are immutable, but
    # object.__setattr__ still reaches them, and a changed object is no
    # longer what Alter said.
    values: tuple[Any, ...]
    # Unix seconds for an assertion's identity; None for a resolved one,
    # which is a snapshot with no end of its own.
    lapses_at: float | None
    # time.monotonic() at receipt, to tell a fresh answer from a kept one.
    received: float


# By id(): models compare by value, and an equal object built by hand must
# not pass for the one Alter returned.
_RECEIPTS: dict[int, _Receipt] = {}


def _trust(identity: IdentityContext, expires_at: float | None = None) -> IdentityContext:
    """Records ``identity`` (just built from an answer of Alter) as received."""
    slot = id(identity)

    def dropped(ref: weakref.ReferenceType[Any]) -> None:
        receipt = _RECEIPTS.get(slot)
        if receipt is not None and receipt.ref is ref:
            del _RECEIPTS[slot]

    _RECEIPTS[slot] = _Receipt(
        weakref.ref(identity, dropped), identity._values(), expires_at, time.monotonic()
    )
    return identity


def _trust_assertion(assertion: IdentityAssertion) -> IdentityAssertion:
    """Records an assertion's identity as received, until the assertion expires."""
    timestamp = getattr(assertion.expires_at, "timestamp", None)
    # An expiry that did not parse leaves the identity unrecorded.
    if callable(timestamp):
        _trust(assertion.identity, float(timestamp()))
    return assertion


def _receipt(identity: IdentityContext) -> _Receipt:
    """The receipt of an identity that is still valid; refused otherwise."""
    receipt = _RECEIPTS.get(id(identity))
    if receipt is None or receipt.ref() is not identity or receipt.values != identity._values():
        _isolate(
            "memory_identity_unverified",
            "use an identity returned by resolve_identity() or verify_identity_assertion()",
        )
    if receipt.lapses_at is not None and time.time() >= receipt.lapses_at:
        _isolate("memory_identity_expired", "the identity assertion has expired; verify a new one")
    return receipt


def _lapsing(identity: IdentityContext) -> None:
    """Refuses an identity that would stay valid forever if held (a resolved
    snapshot): only an assertion's identity may be held without re-asking."""
    if _receipt(identity).lapses_at is None:
        _isolate(
            "memory_live_refresh_required",
            "a resolved identity is a snapshot: pass refresh_identity to re-resolve it per call",
        )


def scope_of(identity: IdentityContext, agent_only: Any) -> MemoryScope:
    """``IdentityContext.memory_scope``."""
    if not isinstance(agent_only, bool):
        _refuse("agent_only must be a bool")
    _receipt(identity)
    scope: MemoryScope = _native._memory_scope(identity, agent_only)
    return scope


def namespace_for(scope: MemoryScope, path: Sequence[str]) -> tuple[str, ...]:
    """``MemoryScope.namespace_for``."""
    encoded: tuple[str, ...] = _native._memory_path(path)
    return tuple(scope.namespace) + encoded


# ------------------------------------------------------------ the store


def _held(identity: IdentityContext) -> Callable[[], Awaitable[IdentityContext]]:
    """Who a store bound to an assertion's identity acts for: that identity,
    while it has not expired."""

    async def current() -> IdentityContext:
        _receipt(identity)
        return identity

    return current


def _live(
    resolve: Callable[[], Awaitable[IdentityContext]],
) -> Callable[[], Awaitable[IdentityContext]]:
    """Who a store with ``refresh_identity`` acts for: what Alter answers now.
    The answer must have been received after the question was asked: a
    resolver that returns a kept result would never see a suspension."""

    async def current() -> IdentityContext:
        asked_at = time.monotonic()
        answer = resolve()
        if not inspect.isawaitable(answer):
            _refuse("refresh_identity must return an awaitable IdentityContext")
        identity = await answer
        if _receipt(identity).received < asked_at:
            _isolate(
                "memory_refresh_not_live",
                "refresh_identity returned an identity resolved before this call started; "
                "it must ask Alter on every call",
            )
        return identity

    return current


class ScopedMemoryStore:
    """A namespaced store confined to one verified identity's partition.

    Paths given to the methods only subdivide the partition. Bad arguments
    raise ``AlterValueError`` before the store is called; an identity that
    is unverified, expired, no longer live, changed or ineligible, and a
    store answer from outside the partition, raise ``MemoryIsolationError``
    (its ``code`` says which).
    """

    def __init__(
        self,
        store: NamespaceStore,
        identity: IdentityContext,
        *,
        refresh_identity: Callable[[], Awaitable[IdentityContext]] | None = None,
        agent_only: bool = False,
    ) -> None:
        if refresh_identity is None:
            _lapsing(identity)
            self._current = _held(identity)
        elif callable(refresh_identity):
            self._current = _live(refresh_identity)
        else:
            _refuse("refresh_identity must be callable")
        self._agent_only = agent_only
        self._scope = scope_of(identity, agent_only)
        self._store = store

    @property
    def scope(self) -> MemoryScope:
        """Where this store's items live (a description, not a capability)."""
        return self._scope

    def __repr__(self) -> str:
        return f"ScopedMemoryStore(partition_key={self._scope.partition_key!r})"

    async def _at(self, path: Sequence[str]) -> tuple[str, ...]:
        """The store namespace of ``path``, once the identity is confirmed."""
        # Encoded before anything is awaited: a caller that changes its list
        # meanwhile cannot move the call.
        target = namespace_for(self._scope, path)
        # `_current` has checked the identity's receipt.
        now: MemoryScope = _native._memory_scope(await self._current(), self._agent_only)
        if now.partition_key != self._scope.partition_key:
            _isolate(
                "memory_identity_changed",
                "refresh_identity resolved someone else: create a new store for that identity",
            )
        return target

    async def get(self, path: Sequence[str], key: str) -> MemoryItem | None:
        """The item ``key`` under ``path``, or ``None``."""
        _native._memory_key(key)
        target = await self._at(path)
        found = await self._store.aget(target, key)
        if found is not None:
            _native._memory_item(found, target, key)
        return found

    async def put(self, path: Sequence[str], key: str, value: dict[str, Any]) -> None:
        """Stores ``value`` (a dict) as ``key`` under ``path``."""
        _native._memory_key(key)
        if not isinstance(value, dict):
            _refuse("value must be a dict")
        await self._store.aput(await self._at(path), key, value)

    async def delete(self, path: Sequence[str], key: str) -> None:
        """Deletes ``key`` under ``path``."""
        _native._memory_key(key)
        await self._store.adelete(await self._at(path), key)

    async def search(
        self,
        path: Sequence[str] = (),
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[MemoryItem]:
        """Items under ``path``; every result is checked to lie inside it."""
        _native._memory_page(limit, offset)
        if query is not None and not isinstance(query, str):
            _refuse("query must be a string")
        if filter is not None and not isinstance(filter, dict):
            _refuse("filter must be a dict")
        target = await self._at(path)
        answer = await self._store.asearch(
            target, query=query, filter=filter, limit=limit, offset=offset
        )
        found = list(answer)
        _native._memory_under([getattr(i, "namespace", None) for i in found], target)
        return found

    async def list_namespaces(
        self, path: Sequence[str] = (), *, limit: int = 100, offset: int = 0
    ) -> list[tuple[str, ...]]:
        """Namespaces under ``path``; every result is checked to lie inside it."""
        _native._memory_page(limit, offset)
        target = await self._at(path)
        found = list(await self._store.alist_namespaces(prefix=target, limit=limit, offset=offset))
        _native._memory_under(found, target)
        return found
