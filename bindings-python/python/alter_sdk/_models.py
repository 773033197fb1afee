"""The public models: immutable records with the official field names (the
base class and its conversions are in ``_modelbase``; the approval records
in ``_approvals``, re-exported here)."""

from __future__ import annotations

from ._approvals import (
    ApprovalGate,
    ApprovalGateStatus,
    ApprovalResult,
    ApprovalStatus,
    PendingApproval,
)
from ._modelbase import _REDACTED, _UNIONS, _Model

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from typing import Any, Literal
    from uuid import UUID

    from ._modelbase import NonGroupPrincipalType, PrincipalType

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
        """The partition followed by ``path``'s segments, encoded so that
        they can only subdivide it (``AlterValueError`` for a bad path)."""
        from ._memory import namespace_for

        return namespace_for(self, path)


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

    def memory_scope(self, *, agent_only: bool = False) -> MemoryScope:
        """This identity's private memory partition (app + agent + end user,
        or app + agent with ``agent_only`` for a headless identity). Only an
        identity this package received from Alter or verified qualifies:
        otherwise ``MemoryIsolationError``."""
        from ._memory import scope_of

        return scope_of(self, agent_only)


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


_UNIONS.update(
    {
        "OAuthGrantItem|ManagedSecretGrantItem": _grant_item,
        "GrantListItem": _grant_item,
        "Principal": _principal,
    }
)
