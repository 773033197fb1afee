"""Typing constructs of the public API (typed dicts, literal aliases and
annotated unions). Imported on first use: building them needs ``typing``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, TypedDict, runtime_checkable

from ._models import (
    AgentPrincipal,
    GroupPrincipal,
    ManagedSecretGrantItem,
    OAuthGrantItem,
    SystemPrincipal,
    UserPrincipal,
)

__all__ = [
    "ApprovalStatusValue",
    "ContentMatchEffect",
    "ContentMatchFamily",
    "ContentParamCondition",
    "ContentParamOp",
    "GrantListItem",
    "MemoryIsolationCode",
    "MemoryItem",
    "NamespaceStore",
    "NonGroupPrincipalType",
    "Principal",
    "PrincipalType",
    "ProviderSpecKind",
    "RequestRule",
    "TimeWindow",
    "TimeWindows",
]


class _Discriminator:
    """Marks which field tells the members of an annotated union apart."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __repr__(self) -> str:
        return f"Discriminator({self.field!r})"


PrincipalType = Literal["user", "group", "system", "agent"]
NonGroupPrincipalType = Literal["user", "system", "agent"]
ApprovalStatusValue = Literal[
    "pending", "approved", "executing", "denied", "expired", "executed", "failed"
]
ContentMatchEffect = Literal["deny", "redact", "step_up"]
ContentMatchFamily = Literal["send", "read", "write", "delete", "admin", "payment"]
ContentParamOp = Literal[
    "equals", "any_in", "not_subset_of", "gt", "gte", "lt", "lte", "outside_windows"
]
ProviderSpecKind = Literal["oauth", "managed"]
MemoryIsolationCode = Literal[
    "memory_identity_unverified",
    "memory_live_refresh_required",
    "memory_refresh_not_live",
    "memory_identity_expired",
    "memory_assertion_invalid",
    "memory_agent_required",
    "memory_user_required",
    "memory_user_not_active",
    "memory_user_cannot_be_dropped",
    "memory_identity_changed",
    "memory_store_scope_violation",
]

Principal = Annotated[
    UserPrincipal | GroupPrincipal | SystemPrincipal | AgentPrincipal,
    _Discriminator("type"),
]
GrantListItem = Annotated[OAuthGrantItem | ManagedSecretGrantItem, _Discriminator("grant_kind")]


class RequestRule(TypedDict):
    """A request rule for ``with_constraints(rule=...)``."""

    rule_type: str
    rule_body: dict[str, Any]


class ContentParamCondition(TypedDict):
    name: str
    op: ContentParamOp
    value: Any


class TimeWindow(TypedDict):
    days: list[str]
    start: str
    end: str


class TimeWindows(TypedDict):
    windows: list[TimeWindow]
    timezone: str


@runtime_checkable
class MemoryItem(Protocol):
    """One stored memory item (what a ``NamespaceStore`` returns)."""

    @property
    def namespace(self) -> tuple[str, ...]: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> dict[str, Any]: ...


@runtime_checkable
class NamespaceStore(Protocol):
    """An async, namespaced key-value store (LangGraph's store shape)."""

    async def aget(self, namespace: tuple[str, ...], key: str) -> MemoryItem | None: ...
    async def aput(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None: ...
    async def adelete(self, namespace: tuple[str, ...], key: str) -> None: ...
    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Sequence[MemoryItem]: ...
    async def alist_namespaces(
        self, *, prefix: tuple[str, ...], limit: int = 100, offset: int = 0
    ) -> Sequence[tuple[str, ...]]: ...
