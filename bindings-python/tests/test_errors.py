"""The exception classes: the official tree, built by one table from the
core's error kinds, with their attributes."""

from __future__ import annotations

import builtins

import alter_sdk
import pytest
from alter_sdk import (
    AgentError,
    AlterSDKError,
    AlterValueError,
    App,
    BackendError,
    GrantCandidate,
    GrantNotFoundError,
    NetworkError,
    ProviderAPIError,
    ProviderUnauthorizedError,
    RateLimitError,
    ScopeReauthRequiredError,
    TimeoutError,
)
from alter_sdk._alter_sdk import ERROR_KINDS
from alter_sdk.testing import LocalVault

from .conftest import run


def test_the_python_tree_is_the_core_table() -> None:
    # The protocol's 64 classes plus the SDK's own ResponseTooLargeError.
    assert len(ERROR_KINDS) == 65
    for name, parent in ERROR_KINDS:
        cls = getattr(alter_sdk, name)
        assert issubclass(cls, Exception)
        if parent is None:
            assert cls.__bases__ == (Exception,)
        else:
            assert cls.__bases__ == (getattr(alter_sdk, parent),), name
    assert TimeoutError.__mro__[0] is not builtins.TimeoutError
    assert issubclass(TimeoutError, NetworkError)
    assert issubclass(alter_sdk.AgentDelegationMissingError, GrantNotFoundError)
    assert issubclass(AgentError, BackendError)
    assert not issubclass(ProviderAPIError, BackendError)


def test_user_built_exceptions_follow_the_official_constructors() -> None:
    e = GrantNotFoundError("nope", {"k": "v"}, provider_id="google")
    assert str(e) == "nope" and e.details == {"k": "v"} and e.provider_id == "google"
    assert BackendError("x", {"status_code": 418}).status_code == 418
    assert BackendError("x", {"status_code": True}).status_code is None
    assert alter_sdk.KeyRevokedError().message == "key_revoked"
    a = alter_sdk.ApprovalDeniedError(approval_id="a1", message="no")
    assert a.details == {"approval_id": "a1"} and a.approval_id == "a1"
    m = alter_sdk.MemoryIsolationError("memory_user_required", "who?")
    assert str(m) == "memory_user_required: who?" and m.code == "memory_user_required"
    assert AlterSDKError("m", details=["not", "a", "dict"]).details == {}  # type: ignore[arg-type]
    c = alter_sdk.AmbiguousGrantError("many", candidates=[GrantCandidate("g1", label="a")])
    assert c.candidates[0].grant_id == "g1"
    with pytest.raises(AttributeError):
        c.candidates[0].grant_id = "x"


@pytest.mark.filterwarnings("ignore:Using plain http")
def test_client_side_validation_errors() -> None:
    key = "alter_key_" + "a" * 40
    with pytest.raises(AlterSDKError) as info:
        App(api_key="not-a-key")
    assert type(info.value) is AlterSDKError
    with pytest.raises(AlterValueError):
        App(api_key=key, caller="é")
    with pytest.raises(AlterValueError):
        App(api_key=key, caller_type="robot")
    with pytest.raises(AlterSDKError):
        App(api_key=key, user_token_getter="not callable")  # type: ignore[arg-type]
    with pytest.raises(AlterSDKError):
        App(api_key=key, logger=object())

    async def main() -> None:
        app = App(api_key=key, _base_url="http://127.0.0.1:9")
        with pytest.raises(AlterSDKError, match="Provide grant_id or provider"):
            await app.request("GET", "https://api.example.com")
        with pytest.raises(AlterValueError, match="JSON-serialisable"):
            await app.request("POST", "https://x.example", grant_id="g", json={"n": float("nan")})
        with pytest.raises(AlterValueError, match="user_token must be a non-empty string"):
            await app.request("GET", "https://x.example", grant_id="g", user_token="")
        with pytest.raises(AlterValueError, match="path_params"):
            bad_params: dict[str, object] = {"id": 1}
            await app.request(
                "GET",
                "https://x.example/{id}",
                grant_id="g",
                path_params=bad_params,  # type: ignore[arg-type]
            )
        with pytest.raises(AlterValueError, match="headers"):
            await app.request(
                "GET", "https://x.example", grant_id="g", headers={"a": "b"}, extra_headers={}
            )
        with pytest.raises(AlterValueError, match="reserved"):
            await app.proxy_request(
                "GET", "https://x.example", grant_id="g", extra_headers={"Authorization": "x"}
            )
        with pytest.raises(AlterValueError, match="body"):
            await app.request("POST", "https://x.example", grant_id="g", body="text")  # type: ignore[arg-type]
        await app.close()
        with pytest.raises(AlterSDKError, match="has been closed"):
            await app.request("GET", "https://x.example", grant_id="g")

    run(main())


def test_provider_errors_carry_their_attributes(local_vault: LocalVault) -> None:
    vault = local_vault
    ms = vault.create_managed_secret("acme", "tok-1")
    grant_id = vault.create_managed_secret_grant(ms)

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            with pytest.raises(ProviderAPIError) as e503:
                await app.request("GET", vault.status_url(503), grant_id=grant_id)
            assert type(e503.value) is ProviderAPIError
            assert e503.value.status_code == 503
            assert str(e503.value) == "Provider API returned error 503"
            assert e503.value.details["grant_id"] == grant_id

            with pytest.raises(ProviderUnauthorizedError) as e401:
                await app.request("GET", vault.status_url(401), grant_id=grant_id)
            assert e401.value.grant_id == grant_id
            assert e401.value.provider_id == "acme"

            www = 'Bearer error="insufficient_scope", scope="a b"'
            with pytest.raises(ScopeReauthRequiredError) as e403:
                await app.request(
                    "GET", vault.status_url(403, www_authenticate=www), grant_id=grant_id
                )
            assert e403.value.missing_scopes == ["a", "b"]
            assert e403.value.details["source"] == "provider_insufficient_scope"

    with pytest.warns(UserWarning, match="insufficient scope"):
        run(main())


def test_backend_errors_and_retries(local_vault: LocalVault) -> None:
    vault = local_vault
    ms = vault.create_managed_secret("acme", "tok-1")
    grant_id = vault.create_managed_secret_grant(ms)

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            with pytest.raises(GrantNotFoundError) as info:
                await app.request(
                    "GET", vault.provider_url("/x"), grant_id="00000000-0000-4000-8000-000000000000"
                )
            assert info.value.status_code == 404
            # A 503 on the token path is retried by the core, then succeeds.
            vault.add_fault(path_prefix="/sdk/token", count=1, status=503)
            response = await app.request("GET", vault.provider_url("/x"), grant_id=grant_id)
            assert response.status_code == 200
            # A Retry-After beyond the retry policy's cap is raised, not waited for.
            vault.add_fault(
                path_prefix="/sdk/token",
                count=1,
                status=429,
                retry_after=3600,
                body={"detail": {"error": "rate_limit_exceeded", "scope": "api_key", "limit": 60}},
            )
            with pytest.raises(RateLimitError) as limited:
                await app.request("GET", vault.provider_url("/x"), grant_id=grant_id)
            assert limited.value.status_code == 429
            assert limited.value.retry_after == 3600
            assert (limited.value.scope, limited.value.limit) == ("api_key", 60)
            assert isinstance(limited.value, BackendError)

    run(main())
