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

from . import _alter_sdk as _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from typing import Any, NoReturn

    from ._aliases import MemoryIsolationCode, MemoryItem, NamespaceStore
    from ._models import IdentityAssertion, IdentityContext, MemoryScope

__all__ = ["ScopedMemoryStore"]


# id(identity) -> (weak reference, the values that key memory, expiry in
# Unix seconds or None for a resolved snapshot, monotonic time trusted).
# Keyed by id() because models compare by value: an equal object built by
# hand must not inherit the proof.
_PROOFS: dict[int, tuple[weakref.ReferenceType[Any], tuple[Any, ...], float | None, float]] = {}


# The exception classes are built on first use (see __init__.py); a process
# that only resolves identities never needs them.
def _refuse(message: str) -> NoReturn:
    from ._errors import AlterValueError

    raise AlterValueError(message)


def _isolate(code: MemoryIsolationCode, message: str) -> NoReturn:
    from ._errors import MemoryIsolationError

    raise MemoryIsolationError(code, message)


def _facts(identity: Any) -> tuple[Any, ...]:
    # Models are immutable, but object.__setattr__ can still reach them; a
    # changed value is a different identity.
    return (identity.app_id, identity.agent_id, identity.app_user_id, identity.user_status)


def _trust(identity: IdentityContext, expires_at: float | None = None) -> IdentityContext:
    """Marks ``identity`` (just built from an answer of Alter) as verified."""
    key = id(identity)

    def forget(ref: weakref.ReferenceType[Any]) -> None:
        entry = _PROOFS.get(key)
        if entry is not None and entry[0] is ref:
            del _PROOFS[key]

    _PROOFS[key] = (weakref.ref(identity, forget), _facts(identity), expires_at, time.monotonic())
    return identity


def _trust_assertion(assertion: IdentityAssertion) -> IdentityAssertion:
    """Marks an assertion's identity as verified until the assertion expires."""
    expires = getattr(assertion.expires_at, "timestamp", None)
    # An expiry that did not parse leaves the identity untrusted.
    if callable(expires):
        _trust(assertion.identity, float(expires()))
    return assertion


def _require_verified(
    identity: Any,
    *,
    assertion_only: bool = False,
    minted_not_before: float | None = None,
) -> None:
    proof = _PROOFS.get(id(identity))
    if proof is None or proof[0]() is not identity or proof[1] != _facts(identity):
        _isolate(
            "memory_identity_unverified",
            "use an identity returned by resolve_identity() or verify_identity_assertion()",
        )
    _, _, expires_at, trusted_at = proof
    if assertion_only and expires_at is None:
        _isolate(
            "memory_live_refresh_required",
            "a resolved identity is a snapshot: pass refresh_identity to re-resolve it per call",
        )
    if expires_at is not None and time.time() >= expires_at:
        _isolate("memory_identity_expired", "the identity assertion has expired; verify a new one")
    if minted_not_before is not None and trusted_at < minted_not_before:
        _isolate(
            "memory_refresh_not_live",
            "refresh_identity returned an identity resolved before this call started; "
            "it must ask Alter on every call",
        )


def scope_of(identity: IdentityContext, agent_only: Any) -> MemoryScope:
    """``IdentityContext.memory_scope``."""
    if not isinstance(agent_only, bool):
        _refuse("agent_only must be a bool")
    _require_verified(identity)
    scope: MemoryScope = _native._memory_scope(identity, agent_only)
    return scope


def namespace_for(scope: MemoryScope, path: Sequence[str]) -> tuple[str, ...]:
    """``MemoryScope.namespace_for``."""
    encoded: tuple[str, ...] = _native._memory_path(path)
    return tuple(scope.namespace) + encoded


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
        if refresh_identity is not None and not callable(refresh_identity):
            _refuse("refresh_identity must be callable")
        # Without a way to re-ask Alter, only an identity that expires on
        # its own (a verified assertion) may be held.
        _require_verified(identity, assertion_only=refresh_identity is None)
        self._scope = scope_of(identity, agent_only)
        self._store = store
        self._identity = identity
        self._refresh_identity = refresh_identity
        self._agent_only = agent_only

    @property
    def scope(self) -> MemoryScope:
        """Where this store's items live (a description, not a capability)."""
        return self._scope

    def __repr__(self) -> str:
        return f"ScopedMemoryStore(partition_key={self._scope.partition_key!r})"

    async def _namespace(self, path: Sequence[str]) -> tuple[str, ...]:
        # The path is read before anything is awaited, so a caller that
        # mutates its list meanwhile cannot change where the call goes.
        namespace = namespace_for(self._scope, path)
        if self._refresh_identity is None:
            identity = self._identity
            _require_verified(identity, assertion_only=True)
        else:
            started = time.monotonic()
            pending = self._refresh_identity()
            if not inspect.isawaitable(pending):
                _refuse("refresh_identity must return an awaitable IdentityContext")
            identity = await pending
            # Proof that the resolver asked Alter during this call, not
            # before it (a cached result would never notice a suspension).
            _require_verified(identity, minted_not_before=started)
        current = scope_of(identity, self._agent_only)
        if current.partition_key != self._scope.partition_key:
            _isolate(
                "memory_identity_changed",
                "refresh_identity resolved someone else: create a new store for that identity",
            )
        return namespace

    async def get(self, path: Sequence[str], key: str) -> MemoryItem | None:
        """The item ``key`` under ``path``, or ``None``."""
        _native._memory_key(key)
        namespace = await self._namespace(path)
        item = await self._store.aget(namespace, key)
        if item is not None:
            _native._memory_result(getattr(item, "namespace", None), namespace, True)
            if getattr(item, "key", None) != key:
                _isolate("memory_store_scope_violation", "the store returned another key")
        return item

    async def put(self, path: Sequence[str], key: str, value: dict[str, Any]) -> None:
        """Stores ``value`` (a dict) as ``key`` under ``path``."""
        _native._memory_key(key)
        if not isinstance(value, dict):
            _refuse("value must be a dict")
        await self._store.aput(await self._namespace(path), key, value)

    async def delete(self, path: Sequence[str], key: str) -> None:
        """Deletes ``key`` under ``path``."""
        _native._memory_key(key)
        await self._store.adelete(await self._namespace(path), key)

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
        namespace = await self._namespace(path)
        items = list(
            await self._store.asearch(
                namespace, query=query, filter=filter, limit=limit, offset=offset
            )
        )
        for item in items:
            _native._memory_result(getattr(item, "namespace", None), namespace, False)
        return items

    async def list_namespaces(
        self, path: Sequence[str] = (), *, limit: int = 100, offset: int = 0
    ) -> list[tuple[str, ...]]:
        """Namespaces under ``path``; every result is checked to lie inside it."""
        _native._memory_page(limit, offset)
        namespace = await self._namespace(path)
        found = list(
            await self._store.alist_namespaces(prefix=namespace, limit=limit, offset=offset)
        )
        for result in found:
            _native._memory_result(result, namespace, False)
        return found
