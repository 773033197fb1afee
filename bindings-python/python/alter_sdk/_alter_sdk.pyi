# Type stubs of the native module alter_sdk._alter_sdk (built from Rust).
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from datetime import timedelta
from os import PathLike
from types import TracebackType
from typing import Any, Literal, Self, TypeAlias, final, overload
from uuid import UUID

from ._enums import CallerType, HttpMethod
from ._models import (
    AgentCreateResult,
    AgentInfo,
    AgentKey,
    AgentKeyList,
    AgentKeyMintResult,
    AgentListResult,
    AgentPrincipal,
    APIKeyInfo,
    ApprovalResult,
    ApprovalStatus,
    AuthResult,
    AuthSession,
    ConnectResult,
    ConnectSession,
    CreateGrantResult,
    DelegationResult,
    EmitSpansResult,
    GrantInfo,
    GrantPolicyInput,
    GroupPrincipal,
    IdentityAssertion,
    IdentityContext,
    ManagedSecretConnectSession,
    MemoryScope,
    MintedKey,
    OAuthProviderCatalog,
    PendingApproval,
    ProviderSpec,
    RateLimitSnapshot,
    RetryInfo,
    RevokeGrantResult,
    ScopeCatalog,
    SpecOperationDetail,
    SpecOperationsPage,
    SystemPrincipal,
    UnifiedGrantListResult,
    UserPrincipal,
    UserSpan,
)
from ._types import Headers

_Str: TypeAlias = str | HttpMethod
_Id: TypeAlias = str | UUID
_Principal: TypeAlias = (
    UserPrincipal | GroupPrincipal | SystemPrincipal | AgentPrincipal | Mapping[str, Any]
)
_Policy: TypeAlias = GrantPolicyInput | Mapping[str, Any]
_TokenGetter: TypeAlias = Callable[[], str | Awaitable[str]]
_QueryValue: TypeAlias = str | int | float | bool | None
_QueryParams: TypeAlias = Mapping[str, _QueryValue | Sequence[_QueryValue]]

RATE_LIMIT_SCOPE_VALUES: tuple[str, ...]
MEMORY_ISOLATION_CODES: tuple[str, ...]
ERROR_KINDS: tuple[tuple[str, str | None], ...]
USER_AGENT: str
MAX_SPANS_PER_BATCH: int

def is_valid_key(plain_key: str) -> bool: ...
def content_match_rule(
    *,
    operations: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    params: Sequence[Mapping[str, Any]] | None = None,
    effect: Literal["deny", "redact", "step_up"] = "deny",
    redact_fields: Sequence[str] | None = None,
    max_session_age_seconds: int | None = None,
) -> dict[str, Any]: ...
def verify_identity_assertion(
    token: str,
    *,
    issuer: str,
    audience: str,
    jwks: Mapping[str, Any],
    expected_app_id: str,
    expected_agent_id: str | None = None,
) -> IdentityContext: ...
def _inflight_calls() -> int: ...
def _shutdown() -> None: ...

# Helpers of alter_sdk._memory (the core's partition rules).
def _memory_scope(identity: IdentityContext, agent_only: bool) -> MemoryScope: ...
def _memory_path(path: object) -> tuple[str, ...]: ...
def _memory_key(key: object) -> None: ...
def _memory_page(limit: object, offset: object) -> None: ...
def _memory_item(item: object, asked: Sequence[str], key: str) -> None: ...
def _memory_under(namespaces: Sequence[object], asked: Sequence[str]) -> None: ...

@final
class CoreCall(Coroutine[Any, Any, Any]):
    def __await__(self) -> Generator[Any, None, Any]: ...
    def send(self, value: Any = None, /) -> Any: ...
    @overload
    def throw(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> Any: ...
    @overload
    def throw(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> Any: ...
    def close(self) -> None: ...

@final
class Response:
    """The provider's response to ``request()`` (the parts of
    ``httpx.Response`` that applications use)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def encoding(self) -> str | None: ...
    def json(self, **kwargs: Any) -> Any: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def is_informational(self) -> bool: ...
    @property
    def is_redirect(self) -> bool: ...
    @property
    def is_client_error(self) -> bool: ...
    @property
    def is_server_error(self) -> bool: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def reason_phrase(self) -> str: ...
    def raise_for_status(self) -> Response: ...
    @property
    def url(self) -> str: ...
    @property
    def elapsed(self) -> timedelta: ...
    @property
    def retry_info(self) -> RetryInfo | None: ...
    def read(self) -> bytes: ...

class _BaseClient:
    async def request(
        self,
        method: _Str,
        url: str,
        *,
        grant_id: _Id | None = None,
        provider: str | None = None,
        account: str | None = None,
        label: str | None = None,
        json: Any | None = None,
        extra_headers: Mapping[str, str] | None = None,
        query_params: _QueryParams | None = None,
        path_params: Mapping[str, str] | None = None,
        reason: str | None = None,
        context: Mapping[str, str] | None = None,
        body: bytes | None = None,
        caller: str | None = None,
        user_token: str | None = None,
        app_user_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response: ...
    async def proxy_request(
        self,
        method: _Str,
        url: str,
        *,
        grant_id: _Id | None = None,
        provider: str | None = None,
        account: str | None = None,
        label: str | None = None,
        json: Any | None = None,
        extra_headers: Mapping[str, str] | None = None,
        query_params: _QueryParams | None = None,
        path_params: Mapping[str, str] | None = None,
        reason: str | None = None,
        context: Mapping[str, str] | None = None,
        caller: str | None = None,
        user_token: str | None = None,
        app_user_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApprovalResult | PendingApproval: ...
    async def get_approval_status(
        self, approval_id: _Id, *, wait: float = 0.0
    ) -> ApprovalStatus: ...
    async def await_approval(
        self, approval_id: _Id, *, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> ApprovalResult: ...
    async def list_grants(
        self,
        *,
        provider_id: str | None = None,
        status: str | None = None,
        account: str | None = None,
        label: str | None = None,
        end_user_token: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> UnifiedGrantListResult: ...
    async def create_connect_session(
        self,
        *,
        allowed_providers: Sequence[str] | None = None,
        direct: bool = False,
        return_url: str | None = None,
        allowed_origin: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        grant_policy: _Policy | None = None,
        required_scopes: Mapping[str, Sequence[str]] | None = None,
        agent: _Id | None = None,
        user_token: str | None = None,
        requested_grant: Mapping[str, Any] | None = None,
        repair_grant_id: _Id | None = None,
        delegable: bool | None = None,
        scope_constraint: Sequence[str] | None = None,
        switch_account: bool = False,
        allow_user_policy_rules: bool = True,
    ) -> ConnectSession: ...
    async def create_connect_session_for_error(
        self,
        error: BaseException,
        *,
        allowed_origin: str | None = None,
        return_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        grant_policy: _Policy | None = None,
        required_scopes: Mapping[str, Sequence[str]] | None = None,
        user_token: str | None = None,
    ) -> ConnectSession: ...
    async def poll_connect_session(
        self,
        session_token: str,
        *,
        timeout: float = 300.0,
        poll_interval: float = 2.0,
        on_event: Callable[[dict[str, Any]], object] | None = None,
    ) -> list[ConnectResult]: ...
    async def connect(
        self,
        *,
        providers: Sequence[str] | None = None,
        timeout: float = 300.0,
        poll_interval: float = 2.0,
        open_browser: bool = True,
        grant_policy: _Policy | None = None,
        allow_user_policy_rules: bool = True,
        direct: bool = False,
    ) -> list[ConnectResult]: ...
    async def boto3_client(
        self,
        service_name: str,
        *,
        grant_id: _Id,
        region_name: str | None = None,
        timeout: float | None = None,
        reason: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Any: ...
    async def close(self, *, timeout: float | None = None) -> None:
        """Waits up to ``timeout`` seconds (default 10; 0 or more) for
        pending audit reports, abandons the rest (see ``dropped_reports``),
        then releases the client. Idempotent."""
    @property
    def dropped_reports(self) -> int:
        """Audit rows and scope-mismatch reports not delivered: dropped while
        the background queue was full, or abandoned when ``close()`` or
        interpreter exit ran out of time."""
    @property
    def max_response_bytes(self) -> int:
        """The cap on a provider response body (and a proxy-mode answer)."""
    @property
    def actor_id(self) -> str | None: ...
    @property
    def last_retry_info(self) -> RetryInfo | None: ...
    @property
    def last_rate_limit(self) -> RateLimitSnapshot | None: ...
    @property
    def base_url(self) -> str: ...
    @property
    def keys(self) -> KeysNamespace: ...
    @property
    def scopes(self) -> ScopesNamespace: ...
    @property
    def spans(self) -> SpansNamespace: ...
    @property
    def oauth_providers(self) -> OAuthProvidersNamespace: ...
    @property
    def provider_specs(self) -> ProviderSpecsNamespace: ...

class App(_BaseClient):
    """The operator client (app keys)."""

    def __new__(
        cls,
        api_key: str,
        *,
        timeout: float = 30.0,
        caller: str | None = None,
        caller_type: CallerType | str = CallerType.SERVICE,
        user_token_getter: _TokenGetter | None = None,
        logger: Any | None = None,
        max_response_bytes: int | None = None,
        _base_url: str | None = None,
    ) -> Self: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def with_constraints(
        self, *, scopes: Sequence[str] | None = None, rule: Mapping[str, Any] | None = None
    ) -> App: ...
    def get_agent(self, agent_id: _Id) -> Agent: ...
    @property
    def agents(self) -> AgentsNamespace: ...
    async def revoke_grant(
        self, grant_id: _Id, *, reason: str | None = None
    ) -> RevokeGrantResult: ...
    async def revoke_delegation(self, grant_id: _Id, agent_id: _Id) -> None: ...
    async def create_managed_secret_grant(
        self,
        managed_secret_id: _Id,
        *,
        principal: _Principal,
        grant_policy: _Policy | None = None,
        credential_id: _Id | None = None,
    ) -> CreateGrantResult: ...
    async def mint_grant(
        self,
        source_grant_id: _Id,
        *,
        label: str,
        grant_policy: _Policy | None = None,
        grant_tags: Sequence[str] | None = None,
    ) -> GrantInfo: ...
    async def create_managed_secret_connect_session(
        self,
        *,
        provider: str | None = None,
        user_token: str,
        agent: _Id | None = None,
        delegable: bool = False,
        requested_grant: Mapping[str, Any] | None = None,
        grant_policy: _Policy | None = None,
        direct: bool = False,
        repair_grant_id: _Id | None = None,
        allow_user_policy_rules: bool = True,
        allowed_origin: str | None = None,
        return_url: str | None = None,
        requested_ttl_seconds: int | None = None,
        template_slug: str | None = None,
        delegated_agent_id: _Id | None = None,
        delegated_agent_name: str | None = None,
    ) -> ManagedSecretConnectSession: ...
    async def create_auth_session(self) -> AuthSession: ...
    async def poll_auth_session(
        self, session_token: str, *, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> AuthResult: ...
    async def authenticate(self, *, timeout: float = 300.0) -> AuthResult: ...
    async def verify_user_token(self, token: str) -> str | None: ...
    async def resolve_identity(
        self, *, user_token: str | None = None, include_profile: bool = False
    ) -> IdentityContext: ...
    async def assert_identity(
        self,
        *,
        audience: str,
        user_token: str | None = None,
        ttl_seconds: int | None = None,
        include_profile: bool = False,
    ) -> IdentityAssertion: ...

class Agent(_BaseClient):
    """The workload client (agent keys)."""

    def __new__(
        cls,
        api_key: str,
        *,
        timeout: float = 30.0,
        caller: str | None = None,
        user_token_getter: _TokenGetter | None = None,
        logger: Any | None = None,
        max_response_bytes: int | None = None,
        _base_url: str | None = None,
    ) -> Self: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def with_constraints(
        self, *, scopes: Sequence[str] | None = None, rule: Mapping[str, Any] | None = None
    ) -> Agent: ...
    async def me(self) -> AgentInfo: ...
    def trace(
        self,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
        parent: str | None = ...,
        **metadata: str,
    ) -> TraceContext: ...
    async def delegate(
        self,
        grant_id: _Id,
        to_agent_id: _Id,
        *,
        delegable: bool | None = None,
        scope_constraint: Sequence[str] | None = None,
        ttl_seconds: int | None = None,
    ) -> DelegationResult: ...
    async def revoke_delegation(self, grant_id: _Id) -> None: ...
    async def create_managed_secret_grant(
        self,
        managed_secret_id: _Id,
        *,
        principal: AgentPrincipal | Mapping[str, Any],
        grant_policy: _Policy | None = None,
        credential_id: _Id | None = None,
    ) -> CreateGrantResult: ...
    async def create_managed_secret_connect_session(
        self,
        *,
        provider: str | None = None,
        user_token: str,
        delegable: bool = False,
        requested_grant: Mapping[str, Any] | None = None,
        grant_policy: _Policy | None = None,
        direct: bool = False,
        allow_user_policy_rules: bool = True,
        allowed_origin: str | None = None,
        return_url: str | None = None,
        requested_ttl_seconds: int | None = None,
        template_slug: str | None = None,
    ) -> ManagedSecretConnectSession: ...
    async def resolve_identity(
        self,
        *,
        user_token: str | None = None,
        app_user_id: str | None = None,
        include_profile: bool = False,
    ) -> IdentityContext: ...
    async def assert_identity(
        self,
        *,
        audience: str,
        user_token: str | None = None,
        app_user_id: str | None = None,
        ttl_seconds: int | None = None,
        include_profile: bool = False,
    ) -> IdentityAssertion: ...

@final
class TraceContext:
    async def __aenter__(self) -> None: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

@final
class AgentsNamespace:
    async def create(
        self,
        *,
        name: str,
        scopes: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        type: Literal["agent", "service"] = "agent",
        metadata: Mapping[str, Any] | None = None,
        policy: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> AgentCreateResult: ...
    async def list(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> AgentListResult: ...
    async def get(self, agent_id: _Id) -> AgentInfo: ...
    async def get_by_name(self, name: str) -> AgentInfo | None: ...
    async def update(
        self,
        agent_id: _Id,
        *,
        display_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        scopes: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
        grace_seconds: int | None = None,
        policy: Mapping[str, Any] | None = None,
    ) -> AgentInfo: ...
    async def suspend(self, agent_id: _Id) -> AgentInfo: ...
    async def resume(self, agent_id: _Id) -> AgentInfo: ...
    async def delete(self, agent_id: _Id) -> AgentInfo: ...
    async def mint_key(self, agent_id: _Id) -> AgentKeyMintResult: ...
    async def list_keys(self, agent_id: _Id) -> AgentKeyList: ...
    async def deprecate_key(self, agent_id: _Id, key_id: _Id) -> AgentKey: ...
    async def undeprecate_key(self, agent_id: _Id, key_id: _Id) -> AgentKey: ...
    async def revoke_key(self, agent_id: _Id, key_id: _Id, *, force: bool = False) -> AgentKey: ...

@final
class KeysNamespace:
    async def derive(
        self,
        *,
        scopes: Sequence[str],
        expires_in: int,
        cidr_allowlist: Sequence[str] | None = None,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        rate_limit_rpm: int | None = None,
    ) -> MintedKey: ...
    async def rotate(self, key_id: _Id, *, overlap_days: int = 7) -> MintedKey: ...
    async def revoke(self, key_id: _Id, *, force: bool = False) -> APIKeyInfo: ...

@final
class ScopesNamespace:
    async def list(self) -> ScopeCatalog: ...
    async def get_catalog(self) -> ScopeCatalog: ...

@final
class SpansNamespace:
    async def emit(self, spans: Sequence[UserSpan | Mapping[str, Any]]) -> EmitSpansResult: ...

@final
class OAuthProvidersNamespace:
    async def list(self, *, force_refresh: bool = False) -> OAuthProviderCatalog: ...

@final
class ProviderSpecsNamespace:
    async def list(self, kind: Literal["oauth", "managed"] | None = None) -> list[ProviderSpec]: ...
    async def get(self, kind: str, provider_id: str) -> ProviderSpec: ...
    async def list_operations(
        self,
        kind: str,
        provider_id: str,
        *,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> SpecOperationsPage: ...
    async def get_operation(
        self, kind: str, provider_id: str, operation_id: str
    ) -> SpecOperationDetail: ...

@final
class _LocalVault:
    def __new__(cls, *, state_file: str | PathLike[str] | None = None, port: int = 0) -> Self: ...
    @property
    def base_url(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def app_api_key(self) -> str: ...
    @property
    def admin_token(self) -> str: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...
    def create_managed_secret(self, body: Mapping[str, Any]) -> str: ...
    def create_managed_secret_grant(
        self, managed_secret_id: str, body: Mapping[str, Any]
    ) -> str: ...
    def create_user(self, email: str) -> tuple[str, str]: ...
    def create_oauth_grant(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def update_grant(self, grant_id: str, body: Mapping[str, Any]) -> Any: ...
    def approval(self, approval_id: str) -> Any: ...
    def decide(self, approval_id: str, decision: str, reason: str | None = None) -> Any: ...
    def audit(self) -> Any: ...
    def add_fault(self, body: Mapping[str, Any]) -> Any: ...
    def clear_faults(self) -> Any: ...
    def update_key(self, body: Mapping[str, Any]) -> Any: ...
    def update_agent(self, agent_id: str, body: Mapping[str, Any]) -> Any: ...
    def call(self, method: str, path: str, body: Any = None) -> Any: ...
