"""The exception classes of alter_sdk.

The tree mirrors the official package class for class, plus the SDK's own
``ResponseTooLargeError`` (the native layer checks it against the core's
``ERROR_KINDS`` table). Errors raised by the SDK
are built by the native layer from the core's error kind; the constructors
below exist so that user code (tests, wrappers) can build them too.

``str(exc)`` is always ``exc.message``; ``details`` is never rendered.
"""

from __future__ import annotations

import builtins

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

if TYPE_CHECKING:
    from typing import Literal

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

__all__ = [
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
    "ResponseTooLargeError",
    "GrantCandidate",
    "CredentialChoice",
]


class _Record:
    """A small frozen record (what the official package makes a dataclass)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


class GrantCandidate(_Record):
    """One grant an ambiguous provider lookup could have meant."""

    __slots__ = ("grant_id", "label", "account_identifier", "account_display_name")
    _fields = __slots__

    grant_id: str
    label: str | None
    account_identifier: str | None
    account_display_name: str | None

    def __init__(
        self,
        grant_id: str,
        label: str | None = None,
        account_identifier: str | None = None,
        account_display_name: str | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "grant_id", grant_id)
        set_(self, "label", label)
        set_(self, "account_identifier", account_identifier)
        set_(self, "account_display_name", account_display_name)


class CredentialChoice(_Record):
    """A developer credential the caller may pick with ``credential_id``."""

    __slots__ = ("credential_id", "label")
    _fields = __slots__

    credential_id: str
    label: str

    def __init__(self, credential_id: str, label: str) -> None:
        object.__setattr__(self, "credential_id", credential_id)
        object.__setattr__(self, "label", label)


def _as_dict(details: object) -> dict[str, Any]:
    return dict(details) if isinstance(details, dict) else {}


# ---------------------------------------------------------------- roots


class AlterSDKError(Exception):
    """Base class of every error the SDK raises."""

    message: str
    details: dict[str, Any]

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message if isinstance(message, str) else str(message)
        self.details = _as_dict(details)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        # The message only: details may hold identifiers or provider payloads.
        return f"{type(self).__name__}({self.message!r})"


class AlterValueError(AlterSDKError):
    """An argument was rejected before any network call."""


class MemoryIsolationError(AlterSDKError):
    """A memory-store or identity isolation check failed."""

    code: str

    def __init__(
        self,
        code: MemoryIsolationCode,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = _as_dict(details)
        merged.setdefault("code", code)
        super().__init__(f"{code}: {message}", merged)
        self.code = code


# ---------------------------------------------------------------- backend


class BackendError(AlterSDKError):
    """The backend refused or failed a call."""

    status_code: int | None

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, details)
        if status_code is None:
            raw = self.details.get("status_code")
            if isinstance(raw, int) and not isinstance(raw, bool):
                status_code = raw
        self.status_code = status_code


class BlockedDestinationError(BackendError):
    """The backend refused to reach the requested destination."""


class ReAuthRequiredError(BackendError):
    """The user must authorize again."""


class GrantExpiredError(ReAuthRequiredError):
    """The grant's time-to-live elapsed."""

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        provider_id: str | None = None,
        agent_id: str | None = None,
        app_user_id: str | None = None,
    ) -> None:
        super().__init__(message, details)
        self.provider_id = provider_id
        self.agent_id = agent_id
        self.app_user_id = app_user_id


class GrantRevokedError(ReAuthRequiredError):
    """The grant was revoked."""

    def __init__(
        self,
        message: str,
        grant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.grant_id = grant_id


class CredentialRevokedError(ReAuthRequiredError):
    """The credential behind the grant was revoked."""

    def __init__(
        self,
        message: str,
        grant_id: str | None = None,
        details: dict[str, Any] | None = None,
        provider_id: str | None = None,
        app_user_id: str | None = None,
    ) -> None:
        super().__init__(message, details)
        self.grant_id = grant_id
        self.provider_id = provider_id
        self.app_user_id = app_user_id


class GrantDeletedError(ReAuthRequiredError):
    """The grant no longer exists."""


class GrantNotFoundError(BackendError):
    """No grant matched the request."""

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        provider_id: str | None = None,
        agent_id: str | None = None,
        app_user_id: str | None = None,
    ) -> None:
        super().__init__(message, details)
        self.provider_id = provider_id
        self.agent_id = agent_id
        self.app_user_id = app_user_id


class AgentDelegationMissingError(GrantNotFoundError):
    """An agent addressed a grant that is not delegated to it."""


class AmbiguousGrantError(BackendError):
    """Several grants matched a provider lookup."""

    def __init__(
        self,
        message: str,
        provider_id: str | None = None,
        account_identifiers: list[str] | None = None,
        account_was_provided: bool = False,
        app_user_ids: list[str] | None = None,
        details: dict[str, Any] | None = None,
        grant_ids: list[str] | None = None,
        candidates: list[GrantCandidate] | None = None,
        candidates_truncated: bool = False,
    ) -> None:
        super().__init__(message, details)
        self.provider_id = provider_id
        self.account_identifiers = list(account_identifiers or [])
        self.account_was_provided = account_was_provided
        self.app_user_ids = list(app_user_ids or [])
        self.grant_ids = list(grant_ids or [])
        self.candidates = list(candidates or [])
        self.candidates_truncated = candidates_truncated


class NoDelegatedGrantError(BackendError):
    """The agent has no delegation for the requested provider."""

    def __init__(
        self,
        message: str,
        provider_id: str | None = None,
        agent_id: str | None = None,
        details: dict[str, Any] | None = None,
        app_user_id: str | None = None,
    ) -> None:
        super().__init__(message, details)
        self.provider_id = provider_id
        self.agent_id = agent_id
        self.app_user_id = app_user_id


class PolicyViolationError(BackendError):
    """A policy denied the call."""

    def __init__(
        self,
        message: str,
        policy_error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.policy_error = policy_error


class StepUpRequiredError(PolicyViolationError):
    """The user must sign in again before this call is allowed."""

    def __init__(
        self,
        message: str,
        max_session_age_seconds: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, "step_up_required", details)
        self.max_session_age_seconds = max_session_age_seconds


class RedactDischargeFailedError(PolicyViolationError):
    """A redaction rule could not be applied."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, "redact_discharge_failed", details)


class RestrictedGrantRequiresProxyError(BackendError):
    """The grant may only be used through proxy mode."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details)


class GrantNotDelegableError(BackendError):
    """The grant cannot be delegated further."""

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        detail_reason: str | None = None,
    ) -> None:
        super().__init__(message, details)
        self.detail_reason = detail_reason


class ServerFeatureUnsupportedError(BackendError):
    """The backend does not support a feature the call needs."""


class SiblingLabelConflictError(BackendError):
    """Another grant of the same provider already has this label."""

    def __init__(
        self,
        message: str,
        label: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.label = label


class CredentialIdRequiredError(BackendError):
    """Several developer credentials exist; pick one with ``credential_id``."""

    def __init__(
        self,
        message: str,
        credentials: list[CredentialChoice] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.credentials = list(credentials or [])


class EndUserCredentialNotAssignableError(BackendError):
    """An end user's credential cannot be assigned to this principal."""


class InsufficientScopeError(BackendError):
    """The API key's scopes do not cover the route."""

    def __init__(
        self,
        message: str = "Insufficient scope",
        *,
        required: list[str] | None = None,
        granted: list[str] | None = None,
        missing: list[str] | None = None,
        scope_version: int | None = None,
        current_scope_version: int | None = None,
        scope_version_mismatch: bool = False,
        documentation_url: str | None = None,
        required_any_of: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.required = list(required or [])
        self.granted = list(granted or [])
        self.missing = list(missing or [])
        self.scope_version = scope_version
        self.current_scope_version = current_scope_version
        self.scope_version_mismatch = scope_version_mismatch
        self.documentation_url = documentation_url
        self.required_any_of = required_any_of

    @property
    def required_scopes(self) -> list[str]:
        return self.required

    @property
    def granted_scopes(self) -> list[str]:
        return self.granted

    @property
    def docs_url(self) -> str | None:
        return self.documentation_url


class TokenRefreshInProgressError(BackendError):
    """The credential is being refreshed; retry shortly."""

    def __init__(
        self,
        message: str,
        grant_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.grant_id = grant_id


class QuotaExceededError(BackendError):
    """The request quota of the current window is used up."""

    def __init__(
        self,
        message: str,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class RateLimitError(BackendError):
    """The backend throttled the call."""

    def __init__(
        self,
        message: str,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
        scope: str | None = None,
        limit: int | None = None,
        window_seconds: int | None = None,
    ) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after
        self.scope = scope
        self.limit = limit
        self.window_seconds = window_seconds


# ---------------------------------------------------------------- agents


class AgentError(BackendError):
    """Managed agents and API keys."""

    code: ClassVar[str] = "agent_error"

    def __init__(
        self,
        message: str = "",
        *,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message or self.code, details)
        self.hint = hint


class InvalidKeyError(AgentError):
    code = "invalid_key"


class AgentNotFoundError(AgentError):
    code = "agent_not_found"


class CallerAgentMismatchError(AgentError):
    code = "caller_agent_mismatch"


class CallerAgentResolutionError(AgentError):
    code = "caller_agent_resolution_error"


class AgentNameExistsError(AgentError):
    code = "agent_name_exists"


class AgentConcurrentUpdateError(AgentError):
    code = "agent_concurrent_update"


class MeRequiresAgentKeyError(AgentError):
    code = "me_requires_agent_key"


class KeyRevokedError(AgentError):
    code = "key_revoked"


class KeyExpiredError(AgentError):
    code = "key_expired"


class KeyRotationExpiredError(AgentError):
    code = "key_rotated_grace_expired"


class KeyInactiveError(AgentError):
    code = "key_not_active"


class KeyAppNotFoundError(AgentError):
    code = "app_not_found_for_key"


class AgentInactiveError(AgentError):
    code = "agent_inactive"


class AgentRevokedError(AgentError):
    code = "agent_revoked"


class IdempotencyKeyBodyMismatchError(AgentError):
    code = "idempotency_key_body_mismatch"


class IdempotencyKeyAgentRevokedError(AgentError):
    code = "idempotency_key_agent_revoked"


class IdempotencyKeyAgentInactiveError(AgentError):
    code = "idempotency_key_agent_inactive"


class AgentCannotMintSubagentsError(AgentError):
    code = "agent_cannot_mint_subagents"


class KeyAlreadyRevokedError(AgentError):
    code = "key_revoked"


class KeyNotFoundError(AgentError):
    code = "key_not_found"


class LastActiveKeyError(AgentError):
    code = "last_active_key"


class AgentKeyLimitError(AgentError):
    code = "agent_key_limit_reached"


# ---------------------------------------------------------------- connect


class ConnectFlowError(AlterSDKError):
    """A Connect or sign-in flow ended without a result."""


class ConnectDeniedError(ConnectFlowError):
    """The user declined the Connect flow."""


class ConnectConfigError(ConnectFlowError):
    """The Connect flow is misconfigured."""


class ConnectTimeoutError(ConnectFlowError):
    """The Connect or sign-in flow did not finish in time."""


# ---------------------------------------------------------------- provider


class ProviderAPIError(AlterSDKError):
    """The provider answered a retrieve-mode call with an error status."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        response_body: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.status_code = status_code
        self.response_body = response_body


class ScopeReauthRequiredError(ProviderAPIError):
    """The grant lacks scopes the provider requires; re-authorize it."""

    def __init__(
        self,
        message: str,
        grant_id: str | None = None,
        provider_id: str | None = None,
        status_code: int | None = None,
        response_body: str | None = None,
        missing_scopes: list[str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code, response_body, details)
        self.grant_id = grant_id
        self.provider_id = provider_id
        self.missing_scopes = missing_scopes


class ProviderUnauthorizedError(ProviderAPIError):
    """The provider rejected the injected credential."""

    def __init__(
        self,
        message: str,
        grant_id: str | None = None,
        provider_id: str | None = None,
        status_code: int | None = None,
        response_body: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code, response_body, details)
        self.grant_id = grant_id
        self.provider_id = provider_id


# ---------------------------------------------------------------- transport


class NetworkError(AlterSDKError):
    """The connection failed."""


class TimeoutError(NetworkError):  # noqa: A001 - the official name shadows the builtin
    """A call timed out. Not related to the built-in ``TimeoutError``."""


# ---------------------------------------------------------------- approvals


class ApprovalError(AlterSDKError):
    """Approval (human-in-the-loop) outcomes."""

    def __init__(self, *, approval_id: str | None = None, message: str = "") -> None:
        super().__init__(message, {"approval_id": approval_id} if approval_id else {})
        self.approval_id = approval_id


class ApprovalDeniedError(ApprovalError):
    """The approver denied the request."""


class ApprovalExpiredError(ApprovalError):
    """Nobody decided before the approval window closed."""


class ApprovalTimeoutError(ApprovalError):
    """``await_approval`` gave up waiting; the approval is still pending."""


class ApprovalExecutionFailedError(ApprovalError):
    """The approved call failed when the backend ran it."""


# ---------------------------------------------------------------- bounds


class ResponseTooLargeError(AlterSDKError):
    """A response body went over the cap it is read under: the client's
    ``max_response_bytes`` for provider responses and proxy-mode answers, a
    fixed limit for other backend answers. ``max_bytes`` is that cap;
    ``details["source"]`` says whose body it was. Nothing past the cap was
    read, and the connection was closed."""

    def __init__(
        self, message: str, max_bytes: int = 0, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details)
        self.max_bytes = max_bytes


# Keep a handle on the builtin the SDK class shadows, for readers of this module.
_BuiltinTimeoutError = builtins.TimeoutError
