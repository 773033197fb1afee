"""The public models: immutable records with the official field names.

The native layer hands the core's results over as plain dicts; each model
turns its identifiers into ``UUID`` and its instants into ``datetime`` where
the official package does, and wraps nested records. Nothing is validated
here: results were validated by the core, and input models are checked by
the core when they are sent.

Every model compares by value, is hashable when its values are, renders a
``repr`` that never shows a secret (API keys, tokens, session URLs) and
offers ``model_dump()`` / ``model_dump_json()`` returning plain data.
"""

from __future__ import annotations

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from typing import Literal, TypeVar, dataclass_transform
    from uuid import UUID

    _M = TypeVar("_M", bound="_Model")

    PrincipalType = Literal["user", "group", "system", "agent"]
    NonGroupPrincipalType = Literal["user", "system", "agent"]
    ApprovalStatusValue = Literal[
        "pending", "approved", "executing", "denied", "expired", "executed", "failed"
    ]
else:

    def dataclass_transform(**_kwargs):
        return lambda cls: cls


__all__ = [
    "APICallAuditLog",
    "APIKeyInfo",
    "AgentCreateResult",
    "AgentInfo",
    "AgentKey",
    "AgentKeyList",
    "AgentKeyMintResult",
    "AgentListResult",
    "AgentPrincipal",
    "ApprovalGate",
    "ApprovalGateStatus",
    "ApprovalResult",
    "ApprovalStatus",
    "AuthResult",
    "AuthSession",
    "ConnectDelegation",
    "ConnectFailedGrant",
    "ConnectResult",
    "ConnectSession",
    "CreateGrantResult",
    "DelegationResult",
    "EmitSpansResult",
    "GrantInfo",
    "GrantPolicy",
    "GrantPolicyInput",
    "GroupPrincipal",
    "IdentityAssertion",
    "IdentityContext",
    "IdentityTrace",
    "ManagedSecretConnectSession",
    "ManagedSecretGrantItem",
    "MemoryScope",
    "MintedKey",
    "OAuthGrantItem",
    "OAuthProviderCatalog",
    "OAuthProviderCatalogItem",
    "OAuthProviderScopeInfo",
    "PendingApproval",
    "ProviderSpec",
    "RateLimitSnapshot",
    "ResourceScopes",
    "RetryErrorInfo",
    "RetryInfo",
    "RevokeGrantResult",
    "ScopeCatalog",
    "SpecOperation",
    "SpecOperationDetail",
    "SpecOperationsPage",
    "SystemPrincipal",
    "TokenResponse",
    "UnifiedGrantListResult",
    "UserPrincipal",
    "UserSpan",
]

_REDACTED = "<redacted>"


# ------------------------------------------------------------ conversions


def _to_uuid(v: Any) -> Any:
    if isinstance(v, str):
        from uuid import UUID

        try:
            return UUID(v)
        except ValueError:
            return v
    return v


def _to_datetime(v: Any) -> Any:
    if isinstance(v, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(v)
        except ValueError:
            return v
    return v


def _plain(v: Any, json_mode: bool) -> Any:
    """What ``model_dump`` returns for a value."""
    if isinstance(v, _Model):
        return v.model_dump(mode="json" if json_mode else "python")
    if isinstance(v, (list, tuple)):
        items = [_plain(x, json_mode) for x in v]
        return items if json_mode or isinstance(v, list) else tuple(items)
    if isinstance(v, dict):
        return {k: _plain(x, json_mode) for k, x in v.items()}
    if json_mode and v is not None and not isinstance(v, (str, int, float, bool)):
        iso = getattr(v, "isoformat", None)
        return iso() if callable(iso) else str(v)
    return v


def _sequence_of(item: Callable[[Any], Any], *, as_tuple: bool) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if not isinstance(v, (list, tuple)):
            return v
        items = [item(x) for x in v]
        return tuple(items) if as_tuple else items

    return convert


def _mapping_of(value: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        return {k: value(x) for k, x in v.items()} if isinstance(v, dict) else v

    return convert


def _annotation_converter(annotation: str) -> Callable[[Any], Any] | None:
    """A converter for a field, from its (string) annotation; None: as is."""
    text = annotation.replace(" ", "")
    for suffix in ("|None",):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if text == "UUID":
        return _to_uuid
    if text == "datetime":
        return _to_datetime
    if text in _UNIONS:
        return _UNIONS[text]
    model = globals().get(text)
    if isinstance(model, type) and issubclass(model, _Model):
        return model._coerce
    for prefix in ("list[", "tuple["):
        if text.startswith(prefix) and text.endswith("]"):
            inner = text[len(prefix) : -1]
            if inner.endswith(",..."):
                inner = inner[:-4]
            item = _annotation_converter(inner)
            if item is None:
                return None
            return _sequence_of(item, as_tuple=prefix == "tuple[")
    if text.startswith("dict[str,") and text.endswith("]"):
        value = _annotation_converter(text[len("dict[str,") : -1])
        if value is None:
            return None
        return _mapping_of(value)
    return None


# ------------------------------------------------------------ base


@dataclass_transform(kw_only_default=True, frozen_default=True)
class _Model:
    """Base of every public model."""

    _field_names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _secret_fields: ClassVar[frozenset[str]] = frozenset()
    _converters: ClassVar[dict[str, Callable[[Any], Any]] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for base in reversed(cls.__mro__):
            for name in base.__dict__.get("__annotations__", {}):
                if name.startswith("_"):
                    continue
                if name not in names:
                    names.append(name)
                if name in base.__dict__:
                    defaults[name] = base.__dict__[name]
                else:
                    defaults.pop(name, None)
        cls._field_names = tuple(names)
        cls._defaults = defaults
        cls._converters = None

    def __init__(self, **data: Any) -> None:
        cls = type(self)
        for name in cls._field_names:
            if name in data:
                value = data.pop(name)
            elif name in cls._defaults:
                value = cls._defaults[name]
                if isinstance(value, (list, dict)):
                    value = type(value)(value)
            else:
                raise TypeError(f"{cls.__name__}: missing required field {name!r}")
            object.__setattr__(self, name, value)
        if data:
            raise TypeError(f"{cls.__name__}: unexpected field(s) {', '.join(sorted(data))}")

    # -- construction from the core ------------------------------------

    @classmethod
    def _converters_of(cls) -> dict[str, Callable[[Any], Any]]:
        convs = cls.__dict__.get("_converters")
        if convs is None:
            convs = {}
            for base in reversed(cls.__mro__):
                for name, ann in base.__dict__.get("__annotations__", {}).items():
                    if name.startswith("_") or not isinstance(ann, str):
                        continue
                    conv = _annotation_converter(ann)
                    if conv is None:
                        convs.pop(name, None)
                    else:
                        convs[name] = conv
            cls._converters = convs
        return convs

    @classmethod
    def _from_core(cls: type[_M], data: dict[str, Any]) -> _M:
        """Builds a model from the core's JSON-like dict (unknown keys ignored)."""
        convs = cls._converters_of()
        obj = cls.__new__(cls)
        for name in cls._field_names:
            if name in data:
                value = data[name]
                conv = convs.get(name)
                if conv is not None and value is not None:
                    value = conv(value)
            else:
                value = cls._defaults.get(name)
                if isinstance(value, (list, dict)):
                    value = type(value)(value)
            object.__setattr__(obj, name, value)
        return obj

    @classmethod
    def _coerce(cls: type[_M], value: Any) -> Any:
        return cls._from_core(value) if isinstance(value, dict) else value

    @classmethod
    def model_validate(cls: type[_M], obj: Any) -> _M:
        """Builds the model from a mapping (or returns an instance unchanged)."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            return cls._from_core(obj)
        raise TypeError(f"{cls.__name__}.model_validate expects a dict")

    # -- immutability -----------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def model_copy(self: _M, *, update: dict[str, Any] | None = None) -> _M:
        """A copy, with ``update`` applied."""
        obj = type(self).__new__(type(self))
        for name in self._field_names:
            object.__setattr__(obj, name, getattr(self, name))
        for name, value in (update or {}).items():
            if name not in self._field_names:
                raise TypeError(f"{type(self).__name__}: unknown field {name!r}")
            object.__setattr__(obj, name, value)
        return obj

    # -- value semantics ---------------------------------------------------

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in self._field_names)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Model)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def _repr_items(self) -> list[str]:
        out = []
        for name in self._field_names:
            value = getattr(self, name)
            if name in self._secret_fields and value is not None:
                out.append(f"{name}={_REDACTED!r}")
            else:
                out.append(f"{name}={value!r}")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_items())})"

    def __str__(self) -> str:
        return " ".join(self._repr_items())

    # -- export ------------------------------------------------------------

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The fields as a plain dict (``mode="json"``: JSON-compatible values)."""
        json_mode = mode == "json"
        out: dict[str, Any] = {}
        for name in self._field_names:
            value = getattr(self, name)
            if exclude_none and value is None:
                continue
            out[name] = _plain(value, json_mode)
        return out

    def model_dump_json(self, *, exclude_none: bool = False) -> str:
        """The fields as compact JSON."""
        import json

        return json.dumps(
            self.model_dump(mode="json", exclude_none=exclude_none),
            separators=(",", ":"),
        )


# ------------------------------------------------------------ agents, keys


class AgentInfo(_Model):
    """A managed agent's record."""

    id: UUID
    name: str
    display_name: str | None = None
    type: Literal["agent", "service"]
    status: Literal["active", "inactive", "revoked"]
    scopes: dict[str, Any] = {}
    scopes_pending: dict[str, Any] | None = None
    scopes_applies_at: datetime | None = None
    policy: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    rate_limit_per_minute: int | None = None
    version: int
    created_at: datetime
    last_used_at: datetime | None = None
    parent_agent_id: UUID | None = None
    stored_legacy_managed_secret_names: list[str] = []


class AgentCreateResult(AgentInfo):
    """A new agent; ``api_key`` is its plaintext key, returned only once."""

    _secret_fields = frozenset({"api_key"})

    api_key: str | None
    key_id: UUID


class AgentListResult(_Model):
    agents: list[AgentInfo]
    total: int
    limit: int
    offset: int
    has_more: bool


class AgentKey(_Model):
    """A per-agent API key (never its plaintext)."""

    key_id: UUID
    key_prefix: str
    name: str
    created_at: datetime
    deprecated_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def status(self) -> Literal["active", "deprecated", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.deprecated_at is not None:
            return "deprecated"
        return "active"


class AgentKeyMintResult(AgentKey):
    """A new per-agent key; ``api_key`` is its plaintext, returned only once."""

    _secret_fields = frozenset({"api_key"})

    api_key: str | None


class AgentKeyList(_Model):
    items: list[AgentKey]


class APIKeyInfo(_Model):
    """A scoped API key (never its plaintext)."""

    id: UUID
    name: str
    key_prefix: str
    key_type: Literal["rk", "ak", "dk", "pk"]
    scopes: list[str]
    scope_version: int
    cidr_allowlist: list[str] | None = None
    rate_limit_rpm: int | None = None
    effective_rate_limit_rpm: int | None = None
    rate_limit_source: str | None = None
    expires_at: datetime | None = None
    deprecated_at: datetime | None = None
    revoked_at: datetime | None = None
    parent_key_id: UUID | None = None
    created_at: datetime
    last_used_at: datetime | None = None

    @property
    def status(self) -> Literal["active", "rotated", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.deprecated_at is not None:
            return "rotated"
        return "active"


class MintedKey(APIKeyInfo):
    """A new scoped key; ``api_key`` is its plaintext, returned only once."""

    _secret_fields = frozenset({"api_key"})

    api_key: str


class ResourceScopes(_Model):
    verbs: list[str]


class ScopeCatalog(_Model):
    scope_version: int
    resources: dict[str, ResourceScopes]
    action_verbs: list[str]
    deprecated: list[str] = []


# ------------------------------------------------------------ grants


class GrantInfo(_Model):
    grant_id: str
    provider_id: str
    scopes: list[str] = []
    account_identifier: str | None = None
    account_display_name: str | None = None
    api_base_url: str | None = None
    status: str
    scope_mismatch: bool = False
    expires_at: str | None = None
    created_at: str
    last_used_at: str | None = None
    principal_type: PrincipalType
    label: str | None = None
    credential_id: str | None = None
    grant_policy: dict[str, Any] | None = None


class OAuthGrantItem(_Model):
    """An OAuth grant in a ``list_grants`` page (``grant_kind == "oauth"``)."""

    grant_kind: Literal["oauth"] = "oauth"
    grant_id: str
    provider_id: str
    scopes: list[str] = []
    account_identifier: str | None = None
    account_display_name: str | None = None
    api_base_url: str | None = None
    status: str
    scope_mismatch: bool = False
    needs_reconnect: bool = False
    expires_at: str | None = None
    grant_expires_at: str | None = None
    created_at: str
    last_used_at: str | None = None
    principal_type: NonGroupPrincipalType
    access_via: Literal["ownership", "oauth_delegation"] = "ownership"
    delegated_at: str | None = None
    delegated_agent_ids: list[str] = []
    label: str | None = None
    credential_id: str | None = None
    grant_policy: dict[str, Any] | None = None
    parent_grant_id: str | None = None
    depth: int = 0
    delegable: bool = False
    scope_constraint: list[str] | None = None


class ManagedSecretGrantItem(_Model):
    """A managed-secret grant in a ``list_grants`` page."""

    grant_kind: Literal["managed_secret"] = "managed_secret"
    grant_id: str
    managed_secret_id: str
    managed_secret_slug: str
    managed_secret_name: str
    agent_id: str | None = None
    label: str | None = None
    status: str
    account_identifier: str | None = None
    grant_policy: dict[str, Any] | None = None
    expires_at: str | None = None
    grant_expires_at: str | None = None
    created_at: str
    last_used_at: str | None = None
    principal_type: PrincipalType
    access_via: Literal["ownership", "ms_delegation"] = "ownership"
    delegated_at: str | None = None
    parent_grant_id: str | None = None
    depth: int = 0
    delegable: bool = False
    scope_constraint: list[str] | None = None
    credential_id: str | None = None
    credential_kind: Literal["developer", "end_user"] | None = None
    credential_label: str | None = None


def _grant_item(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value.get("grant_kind") == "managed_secret":
        return ManagedSecretGrantItem._from_core(value)
    return OAuthGrantItem._from_core(value)


class UnifiedGrantListResult(_Model):
    """One page of grants; each item is an ``OAuthGrantItem`` or a
    ``ManagedSecretGrantItem``, told apart by ``grant_kind``."""

    grants: list[OAuthGrantItem | ManagedSecretGrantItem]
    total: int
    limit: int
    offset: int
    has_more: bool


class RevokeGrantResult(_Model):
    success: bool
    message: str
    grant_id: str
    revoked_at: str


class CreateGrantResult(_Model):
    grant_id: str
    principal_type: PrincipalType
    label: str | None
    created_at: str
    credential_id: str | None = None


class DelegationResult(_Model):
    grant_id: str
    grant_kind: Literal["oauth", "managed_secret"]
    parent_grant_id: str
    depth: int
    delegable: bool
    status: str
    expires_at: str | None = None


class GrantPolicy(_Model):
    expires_at: str | None = None
    created_by: str | None = None
    created_at: str | None = None


class GrantPolicyInput(_Model):
    """A grant policy to apply (TTL bounds); checked by the core when sent."""

    expires_at: str | None = None
    max_ttl_seconds: int | None = None
    default_ttl_seconds: int | None = None


class UserPrincipal(_Model):
    """Binds a grant to the end user identified by ``user_token``."""

    _secret_fields = frozenset({"user_token"})

    type: Literal["user"] = "user"
    user_token: str
    label: str


class GroupPrincipal(_Model):
    """Binds a grant to the members of an identity-provider group."""

    type: Literal["group"] = "group"
    external_group_id: str
    idp_id: str
    label: str


class SystemPrincipal(_Model):
    """A grant bound to no caller identity (server to server)."""

    type: Literal["system"] = "system"
    label: str | None = None


class AgentPrincipal(_Model):
    """A grant for the calling agent (resolved from its API key)."""

    type: Literal["agent"] = "agent"
    label: str | None = None


_PRINCIPALS: dict[str, type[_Model]] = {
    "user": UserPrincipal,
    "group": GroupPrincipal,
    "system": SystemPrincipal,
    "agent": AgentPrincipal,
}


def _principal(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    cls = _PRINCIPALS.get(str(value.get("type", "")))
    return cls._from_core(value) if cls is not None else value


# ------------------------------------------------------------ connect, auth


class ConnectSession(_Model):
    """A Connect widget session. ``session_token`` and ``connect_url`` are
    bearer material and are not shown by ``repr``."""

    _secret_fields = frozenset({"session_token", "connect_url"})

    session_token: str
    connect_url: str
    expires_in: int
    expires_at: str
    scope_constraint_warnings: list[str] = []
    single_provider: bool = False
    direct: bool = False


class ManagedSecretConnectSession(_Model):
    _secret_fields = frozenset({"session_token", "connect_url"})

    session_token: str
    connect_url: str
    expires_in: int
    expires_at: str
    delegable_requested: bool = False
    path: Literal["fast_path", "key_entry", "repair"] | None = None
    existing_grant_id: str | None = None
    direct: bool = False
    secret_slug: str | None = None
    template_slug: str | None = None
    agent_id: str | None = None


class ConnectFailedGrant(_Model):
    provider_id: str
    reason: str
    message: str


class ConnectDelegation(_Model):
    agent_id: str
    delegable: bool
    policy_refused: bool = False


class ConnectResult(_Model):
    grant_id: str
    provider_id: str
    account_identifier: str | None = None
    scopes: list[str] = []
    api_base_url: str | None = None
    operation: Literal["creation", "reauth"] = "creation"
    grant_policy: GrantPolicy | None = None
    failed_grants: list[ConnectFailedGrant] = []
    delegation: ConnectDelegation | None = None


class AuthSession(_Model):
    _secret_fields = frozenset({"session_token", "auth_url"})

    session_token: str
    auth_url: str
    expires_in: int
    expires_at: str


class AuthResult(_Model):
    """A signed-in end user: ``user_token`` is their JWT (never shown)."""

    _secret_fields = frozenset({"user_token", "user_info"})

    user_token: str
    user_info: dict[str, Any] = {}

    def _repr_items(self) -> list[str]:
        sub = self.user_info.get("sub") if isinstance(self.user_info, dict) else None
        return [f"user_token={_REDACTED!r}", f"sub={sub!r}"]


# ------------------------------------------------------------ requests


class TokenResponse(_Model):
    """Credential metadata; the access token itself is never readable."""

    token_type: str = "Bearer"
    expires_in: int | None = None
    expires_at: datetime | None = None
    token_expires_at: datetime | None = None
    grant_expires_at: datetime | None = None
    scopes: list[str] = []
    grant_id: str
    provider_id: str | None = None
    scope_mismatch: bool = False
    injection_header: str = "Authorization"
    injection_format: str = "Bearer {token}"
    additional_credentials: dict[str, str] | None = None
    additional_injections: list[dict[str, str]] | None = None

    def __init__(self, *, access_token: str = "", **data: Any) -> None:
        # The token is accepted (as the official constructor does) and dropped.
        del access_token
        super().__init__(**data)

    def _repr_items(self) -> list[str]:
        return [
            f"token_type={self.token_type!r}",
            f"grant_id={self.grant_id!r}",
            f"expires_at={self.expires_at!r}",
            f"scopes={self.scopes!r}",
        ]

    def is_expired(self, buffer_seconds: int = 0) -> bool:
        if self.expires_at is None:
            return False
        from datetime import UTC, datetime, timedelta

        return datetime.now(UTC) + timedelta(seconds=buffer_seconds) >= (self.expires_at)

    def needs_refresh(self, buffer_seconds: int = 300) -> bool:
        return self.is_expired(buffer_seconds)


class RetryErrorInfo(_Model):
    attempt: int
    error: str
    error_type: str
    delay_s: float
    permanent: bool = False


class RetryInfo(_Model):
    total_attempts: int
    successful_attempt: int
    errors: tuple[RetryErrorInfo, ...] = ()


class RateLimitSnapshot(_Model):
    limit: int
    remaining: int
    reset_at: datetime


class APICallAuditLog(_Model):
    grant_id: UUID
    provider_id: str
    token_generation: UUID | None = None
    method: str
    url: str
    request_headers: dict[str, str] | None = None
    request_body: Any | None = None
    response_status: int
    response_headers: dict[str, str] | None = None
    response_body: Any | None = None
    latency_ms: int
    reason: str | None = None
    context: dict[str, str] | None = None

    def sanitize(self) -> dict[str, Any]:
        """The audit row as sent to the backend."""
        return self.model_dump(mode="json")


# ------------------------------------------------------------ approvals


class ApprovalGate(_Model):
    approval_id: UUID
    expires_at: datetime
    expires_in: int
    approval_url: str


class PendingApproval(_Model):
    """A proxied call waiting for a human decision."""

    approval_id: UUID
    approval_group_id: UUID
    status: Literal["pending"]
    expires_at: datetime
    expires_in: int
    approval_url: str
    gates: list[ApprovalGate]


class ApprovalGateStatus(_Model):
    approval_id: UUID
    status: ApprovalStatusValue
    expires_at: datetime
    decided_at: datetime | None = None


class ApprovalStatus(_Model):
    approval_id: UUID
    status: ApprovalStatusValue
    approval_group_id: UUID
    gates: list[ApprovalGateStatus]
    expires_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None
    executed_at: datetime | None = None
    execution_error: str | None = None
    has_result: bool

    @property
    def is_terminal(self) -> bool:
        return self.status in ("denied", "expired", "executed", "failed")


class ApprovalResult(_Model):
    """The provider's response to a proxied call (body base64-encoded)."""

    approval_id: UUID | None = None
    status_code: int
    headers: dict[str, str] = {}
    body_b64: str
    body_truncated: bool = False
    duration_ms: int | None = None
    credential_hint: str | None = None

    def body_bytes(self) -> bytes:
        import binascii

        return binascii.a2b_base64(self.body_b64.encode("ascii"))

    def body_text(self, encoding: str = "utf-8") -> str:
        return self.body_bytes().decode(encoding, errors="replace")

    def body_json(self) -> Any:
        import json

        return json.loads(self.body_bytes())


# ------------------------------------------------------------ catalogs


class OAuthProviderScopeInfo(_Model):
    description: str
    required: bool
    is_default: bool
    requires: list[str]


class OAuthProviderCatalogItem(_Model):
    id: str
    name: str
    display_name: str
    category: str | None = None
    description: str | None = None
    logo_url: str | None = None
    supports_refresh: bool
    supports_pkce: bool
    available_scopes: dict[str, OAuthProviderScopeInfo]
    default_scopes: list[str]
    required_scopes: list[str]
    status: str


class OAuthProviderCatalog(_Model):
    providers: dict[str, OAuthProviderCatalogItem]

    def get_default_scopes(self, provider: str) -> tuple[str, ...]:
        item = self.providers.get(str(provider))
        return tuple(item.default_scopes) if item is not None else ()

    def get_required_scopes(self, provider: str) -> tuple[str, ...]:
        item = self.providers.get(str(provider))
        return tuple(item.required_scopes) if item is not None else ()


class ProviderSpec(_Model):
    provider_kind: str
    provider_id: str
    version: int
    provenance: str
    source_url: str | None = None
    content_hash: str
    operation_count: int
    fetched_at: datetime
    changed_at: datetime
    title: str | None = None
    spec_version: str | None = None


class SpecOperation(_Model):
    operation_id: str
    method: str
    path_template: str
    summary: str | None = None


class SpecOperationsPage(_Model):
    items: list[SpecOperation]
    total: int
    limit: int
    offset: int
    has_more: bool
    spec: ProviderSpec


class SpecOperationDetail(_Model):
    operation_id: str
    method: str
    path_template: str
    summary: str | None = None
    params_schema: list[dict[str, Any]] | None = None
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    spec: ProviderSpec


# ------------------------------------------------------------ identity


class IdentityTrace(_Model):
    run_id: str | None = None
    thread_id: str | None = None


class MemoryScope(_Model):
    user_key: str | None = None
    agent_key: str | None = None
    app_key: str
    namespace: tuple[str, ...]
    partition_key: str

    def namespace_for(self, path: Sequence[str] = ()) -> tuple[str, ...]:
        return tuple(self.namespace) + tuple(path)


class IdentityContext(_Model):
    app_id: str
    app_user_id: str | None = None
    external_subject_id: str | None = None
    idp_id: str | None = None
    user_status: str | None = None
    group_ids: list[str] = []
    agent_id: str | None = None
    actor_id: str | None = None
    trace: IdentityTrace | None = None
    email: str | None = None
    display_name: str | None = None


class IdentityAssertion(_Model):
    _secret_fields = frozenset({"token"})

    token: str
    expires_at: datetime
    identity: IdentityContext


# ------------------------------------------------------------ spans


class UserSpan(_Model):
    """A span to emit (input model)."""

    trace_id: str
    name: str
    start_time: datetime
    span_id: str | None = None
    parent_span_id: str | None = None
    end_time: datetime | None = None
    attributes: dict[str, str] = {}


class EmitSpansResult(_Model):
    accepted: int


_UNIONS: dict[str, Callable[[Any], Any]] = {
    "OAuthGrantItem|ManagedSecretGrantItem": _grant_item,
    "GrantListItem": _grant_item,
    "Principal": _principal,
}
