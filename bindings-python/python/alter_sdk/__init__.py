"""Alter Vault SDK for Python, built on the Rust core.

A drop-in for the official ``alter-sdk`` 0.29.0 package::

    from alter_sdk import Agent, HttpMethod

    async with Agent(api_key=os.environ["AGENT_API_KEY"]) as agent:
        response = await agent.request(HttpMethod.GET, url, grant_id=grant_id)

Every method is a coroutine that runs on the core's shared runtime; the
interpreter is free while it runs. ``alter_sdk.testing.LocalVault`` starts
a local vault in-process for offline tests.
"""

from __future__ import annotations

from collections.abc import Coroutine as _Coroutine

from . import _alter_sdk
from ._alter_sdk import (
    MEMORY_ISOLATION_CODES,
    RATE_LIMIT_SCOPE_VALUES,
    Agent,
    App,
    content_match_rule,
    is_valid_key,
    verify_identity_assertion,
)

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._aliases import (
        ApprovalStatusValue,
        ContentMatchEffect,
        ContentMatchFamily,
        ContentParamCondition,
        ContentParamOp,
        GrantListItem,
        MemoryIsolationCode,
        MemoryItem,
        NamespaceStore,
        NonGroupPrincipalType,
        Principal,
        PrincipalType,
        ProviderSpecKind,
        RequestRule,
        TimeWindow,
        TimeWindows,
    )
    from ._enums import CallerType, HttpMethod, Provider
    from ._errors import (
        AgentCannotMintSubagentsError,
        AgentConcurrentUpdateError,
        AgentDelegationMissingError,
        AgentError,
        AgentInactiveError,
        AgentKeyLimitError,
        AgentNameExistsError,
        AgentNotFoundError,
        AgentRevokedError,
        AlterSDKError,
        AlterValueError,
        AmbiguousGrantError,
        ApprovalDeniedError,
        ApprovalError,
        ApprovalExecutionFailedError,
        ApprovalExpiredError,
        ApprovalTimeoutError,
        BackendError,
        BlockedDestinationError,
        CallerAgentMismatchError,
        CallerAgentResolutionError,
        ConnectConfigError,
        ConnectDeniedError,
        ConnectFlowError,
        ConnectTimeoutError,
        CredentialChoice,
        CredentialIdRequiredError,
        CredentialRevokedError,
        EndUserCredentialNotAssignableError,
        GrantCandidate,
        GrantDeletedError,
        GrantExpiredError,
        GrantNotDelegableError,
        GrantNotFoundError,
        GrantRevokedError,
        IdempotencyKeyAgentInactiveError,
        IdempotencyKeyAgentRevokedError,
        IdempotencyKeyBodyMismatchError,
        InsufficientScopeError,
        InvalidKeyError,
        KeyAlreadyRevokedError,
        KeyAppNotFoundError,
        KeyExpiredError,
        KeyInactiveError,
        KeyNotFoundError,
        KeyRevokedError,
        KeyRotationExpiredError,
        LastActiveKeyError,
        MemoryIsolationError,
        MeRequiresAgentKeyError,
        NetworkError,
        NoDelegatedGrantError,
        PolicyViolationError,
        ProviderAPIError,
        ProviderUnauthorizedError,
        QuotaExceededError,
        RateLimitError,
        ReAuthRequiredError,
        RedactDischargeFailedError,
        RestrictedGrantRequiresProxyError,
        ScopeReauthRequiredError,
        ServerFeatureUnsupportedError,
        SiblingLabelConflictError,
        StepUpRequiredError,
        TimeoutError,
        TokenRefreshInProgressError,
    )
    from ._models import (
        AgentCreateResult,
        AgentInfo,
        AgentKey,
        AgentKeyList,
        AgentKeyMintResult,
        AgentListResult,
        AgentPrincipal,
        APICallAuditLog,
        APIKeyInfo,
        ApprovalGate,
        ApprovalGateStatus,
        ApprovalResult,
        ApprovalStatus,
        AuthResult,
        AuthSession,
        ConnectDelegation,
        ConnectFailedGrant,
        ConnectResult,
        ConnectSession,
        CreateGrantResult,
        DelegationResult,
        EmitSpansResult,
        GrantInfo,
        GrantPolicy,
        GrantPolicyInput,
        GroupPrincipal,
        IdentityAssertion,
        IdentityContext,
        IdentityTrace,
        ManagedSecretConnectSession,
        ManagedSecretGrantItem,
        MemoryScope,
        MintedKey,
        OAuthGrantItem,
        OAuthProviderCatalog,
        OAuthProviderCatalogItem,
        OAuthProviderScopeInfo,
        PendingApproval,
        ProviderSpec,
        RateLimitSnapshot,
        ResourceScopes,
        RetryErrorInfo,
        RetryInfo,
        RevokeGrantResult,
        ScopeCatalog,
        SpecOperation,
        SpecOperationDetail,
        SpecOperationsPage,
        SystemPrincipal,
        TokenResponse,
        UnifiedGrantListResult,
        UserPrincipal,
        UserSpan,
    )

__version__ = "0.29.0"

# Coroutines returned by every SDK method are native objects; register
# them so `asyncio.iscoroutine()` (and thus `create_task`) recognises them
# without relying on duck typing.
_Coroutine.register(_alter_sdk.CoreCall)

# Names built only when first used (typing constructs: keep import light).
_LAZY_ALIASES = frozenset(
    {
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
    }
)

# Official names whose behaviour the core does not provide yet: importing
# them fails loudly instead of handing out something that would misbehave.
_UNAVAILABLE = {
    "ScopedMemoryStore": "the memory partitioning of the official package",
}

_REMOVED = {
    "AlterVault": "AlterVault was removed: use App or Agent (or App.get_agent()).",
    "AlterApp": "AlterApp was removed: use App.",
    "AlterAgent": "AlterAgent was removed: use Agent (the data class is now AgentInfo).",
}


# The exception classes, the models and the enums are built on first use
# (a process that only makes calls needs none of the management models,
# and no exception class until something fails): name -> submodule. On
# first use every public name of that submodule is bound here at once.
_LAZY_MODULES = {
    "_enums": ("CallerType", "HttpMethod", "Provider"),
    "_approvals": (
        "ApprovalGate",
        "ApprovalGateStatus",
        "ApprovalResult",
        "ApprovalStatus",
        "PendingApproval",
    ),
    "_errors": (
        "AlterSDKError",
        "AlterValueError",
        "MemoryIsolationError",
        "BackendError",
        "BlockedDestinationError",
        "ReAuthRequiredError",
        "GrantExpiredError",
        "GrantRevokedError",
        "CredentialRevokedError",
        "GrantDeletedError",
        "GrantNotFoundError",
        "AgentDelegationMissingError",
        "AmbiguousGrantError",
        "NoDelegatedGrantError",
        "PolicyViolationError",
        "StepUpRequiredError",
        "RedactDischargeFailedError",
        "RestrictedGrantRequiresProxyError",
        "GrantNotDelegableError",
        "ServerFeatureUnsupportedError",
        "SiblingLabelConflictError",
        "CredentialIdRequiredError",
        "EndUserCredentialNotAssignableError",
        "InsufficientScopeError",
        "TokenRefreshInProgressError",
        "QuotaExceededError",
        "RateLimitError",
        "AgentError",
        "InvalidKeyError",
        "AgentNotFoundError",
        "CallerAgentMismatchError",
        "CallerAgentResolutionError",
        "AgentNameExistsError",
        "AgentConcurrentUpdateError",
        "MeRequiresAgentKeyError",
        "KeyRevokedError",
        "KeyExpiredError",
        "KeyRotationExpiredError",
        "KeyInactiveError",
        "KeyAppNotFoundError",
        "AgentInactiveError",
        "AgentRevokedError",
        "IdempotencyKeyBodyMismatchError",
        "IdempotencyKeyAgentRevokedError",
        "IdempotencyKeyAgentInactiveError",
        "AgentCannotMintSubagentsError",
        "KeyAlreadyRevokedError",
        "KeyNotFoundError",
        "LastActiveKeyError",
        "AgentKeyLimitError",
        "ConnectFlowError",
        "ConnectDeniedError",
        "ConnectConfigError",
        "ConnectTimeoutError",
        "ProviderAPIError",
        "ScopeReauthRequiredError",
        "ProviderUnauthorizedError",
        "NetworkError",
        "TimeoutError",
        "ApprovalError",
        "ApprovalDeniedError",
        "ApprovalExpiredError",
        "ApprovalTimeoutError",
        "ApprovalExecutionFailedError",
        "GrantCandidate",
        "CredentialChoice",
    ),
    "_models": (
        "APICallAuditLog",
        "APIKeyInfo",
        "AgentCreateResult",
        "AgentInfo",
        "AgentKey",
        "AgentKeyList",
        "AgentKeyMintResult",
        "AgentListResult",
        "AgentPrincipal",
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
    ),
}
_LAZY_NAMES = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def _bind(module_name: str) -> None:
    from importlib import import_module

    module = import_module(f".{module_name}", __name__)
    for public in module.__all__:
        globals().setdefault(public, getattr(module, public))


def __getattr__(name: str) -> Any:
    module_name = _LAZY_NAMES.get(name)
    if module_name is not None:
        _bind(module_name)
        return globals()[name]
    if name in _LAZY_ALIASES:
        from . import _aliases

        value = getattr(_aliases, name)
        globals()[name] = value
        return value
    if name in _REMOVED:
        raise ImportError(_REMOVED[name])
    if name in _UNAVAILABLE:
        raise ImportError(
            f"alter_sdk.{name} is not available in this build: {_UNAVAILABLE[name]} "
            "is not implemented by the Rust core yet."
        )
    raise AttributeError(f"module 'alter_sdk' has no attribute {name!r}")


__all__ = [
    # clients
    "App",
    "Agent",
    # models
    "AgentInfo",
    "AgentCreateResult",
    "AgentListResult",
    "AgentKey",
    "AgentKeyMintResult",
    "AgentKeyList",
    "APIKeyInfo",
    "MintedKey",
    "ScopeCatalog",
    "ResourceScopes",
    "GrantInfo",
    "OAuthGrantItem",
    "ManagedSecretGrantItem",
    "UnifiedGrantListResult",
    "RevokeGrantResult",
    "CreateGrantResult",
    "DelegationResult",
    "GrantPolicy",
    "GrantPolicyInput",
    "UserPrincipal",
    "GroupPrincipal",
    "SystemPrincipal",
    "AgentPrincipal",
    "ConnectSession",
    "ManagedSecretConnectSession",
    "ConnectResult",
    "ConnectFailedGrant",
    "ConnectDelegation",
    "AuthSession",
    "AuthResult",
    "TokenResponse",
    "RetryInfo",
    "RetryErrorInfo",
    "RateLimitSnapshot",
    "APICallAuditLog",
    "PendingApproval",
    "ApprovalStatus",
    "ApprovalResult",
    "ApprovalGate",
    "ApprovalGateStatus",
    "OAuthProviderCatalog",
    "OAuthProviderCatalogItem",
    "OAuthProviderScopeInfo",
    "ProviderSpec",
    "SpecOperation",
    "SpecOperationsPage",
    "SpecOperationDetail",
    "IdentityContext",
    "IdentityAssertion",
    "IdentityTrace",
    "MemoryScope",
    "UserSpan",
    "EmitSpansResult",
    # typed dicts
    "RequestRule",
    "ContentParamCondition",
    "TimeWindow",
    "TimeWindows",
    # literal aliases
    "PrincipalType",
    "NonGroupPrincipalType",
    "ApprovalStatusValue",
    "ContentMatchEffect",
    "ContentMatchFamily",
    "ContentParamOp",
    "ProviderSpecKind",
    "MemoryIsolationCode",
    # annotated unions
    "Principal",
    "GrantListItem",
    # enums
    "HttpMethod",
    "CallerType",
    "Provider",
    # exceptions
    "AlterSDKError",
    "AlterValueError",
    "BackendError",
    "NetworkError",
    "TimeoutError",
    "ReAuthRequiredError",
    "GrantExpiredError",
    "GrantRevokedError",
    "CredentialRevokedError",
    "GrantDeletedError",
    "GrantNotFoundError",
    "AgentDelegationMissingError",
    "AmbiguousGrantError",
    "NoDelegatedGrantError",
    "GrantNotDelegableError",
    "RestrictedGrantRequiresProxyError",
    "SiblingLabelConflictError",
    "CredentialIdRequiredError",
    "EndUserCredentialNotAssignableError",
    "TokenRefreshInProgressError",
    "BlockedDestinationError",
    "ServerFeatureUnsupportedError",
    "PolicyViolationError",
    "StepUpRequiredError",
    "RedactDischargeFailedError",
    "InsufficientScopeError",
    "QuotaExceededError",
    "RateLimitError",
    "ProviderAPIError",
    "ScopeReauthRequiredError",
    "ProviderUnauthorizedError",
    "ConnectFlowError",
    "ConnectDeniedError",
    "ConnectConfigError",
    "ConnectTimeoutError",
    "ApprovalError",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "ApprovalTimeoutError",
    "ApprovalExecutionFailedError",
    "AgentError",
    "InvalidKeyError",
    "AgentNotFoundError",
    "CallerAgentMismatchError",
    "CallerAgentResolutionError",
    "AgentNameExistsError",
    "AgentConcurrentUpdateError",
    "MeRequiresAgentKeyError",
    "KeyRevokedError",
    "KeyExpiredError",
    "KeyRotationExpiredError",
    "KeyInactiveError",
    "KeyAppNotFoundError",
    "AgentInactiveError",
    "AgentRevokedError",
    "IdempotencyKeyBodyMismatchError",
    "IdempotencyKeyAgentRevokedError",
    "IdempotencyKeyAgentInactiveError",
    "AgentCannotMintSubagentsError",
    "KeyAlreadyRevokedError",
    "KeyNotFoundError",
    "LastActiveKeyError",
    "AgentKeyLimitError",
    "MemoryIsolationError",
    # exception records
    "GrantCandidate",
    "CredentialChoice",
    # memory protocols
    "NamespaceStore",
    "MemoryItem",
    # functions
    "is_valid_key",
    "content_match_rule",
    "verify_identity_assertion",
    # constants
    "RATE_LIMIT_SCOPE_VALUES",
    "MEMORY_ISOLATION_CODES",
]

# Not in the official __all__, but importable for annotations.
Response = _alter_sdk.Response
