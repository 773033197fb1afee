"""Sign-in sessions, identity, spans, delegation and provider specs."""

from __future__ import annotations

import datetime
import json
import os
import urllib.request

import pytest
from alter_sdk import (
    Agent,
    AlterValueError,
    App,
    AuthResult,
    GrantNotDelegableError,
    IdentityAssertion,
    IdentityContext,
    MemoryIsolationError,
    UserSpan,
    verify_identity_assertion,
)
from alter_sdk.testing import LocalVault

from .conftest import run


def test_sign_in_and_identity(local_vault: LocalVault) -> None:
    vault = local_vault

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            session = await app.create_auth_session()
            assert session.session_token not in repr(session)
            assert session.auth_url not in repr(session)
            vault.complete_sign_in(session.session_token, email="dora@example.com")
            result = await app.poll_auth_session(
                session.session_token, timeout=10, poll_interval=0.05
            )
            assert isinstance(result, AuthResult)
            assert result.user_token not in repr(result)
            user_id = await app.verify_user_token(result.user_token)
            assert user_id is not None
            assert await app.verify_user_token("not-a-jwt") is None
            ident = await app.resolve_identity(user_token=result.user_token, include_profile=True)
            assert isinstance(ident, IdentityContext)
            assert (ident.app_user_id, ident.email) == (user_id, "dora@example.com")
            assertion = await app.assert_identity(
                audience="https://mcp.example.com", user_token=result.user_token
            )
            assert isinstance(assertion, IdentityAssertion)
            assert assertion.token not in repr(assertion)
            assert isinstance(assertion.expires_at, datetime.datetime)

            # Offline, against the key set the vault publishes.
            jwks = json.loads(
                urllib.request.urlopen(f"{vault.base_url}/.well-known/jwks.json").read()
            )
            trusted = {
                "issuer": vault.base_url,
                "audience": "https://mcp.example.com",
                "jwks": jwks,
                "expected_app_id": vault.app_id,
            }
            who = verify_identity_assertion(assertion.token, **trusted)
            assert isinstance(who, IdentityContext)
            assert (who.app_user_id, who.user_status, who.agent_id) == (
                user_id,
                "active",
                None,
            )
            head, body, sig = assertion.token.split(".")
            forged = f"{head}.{body}.{sig[:-4]}AAAA"
            with pytest.raises(MemoryIsolationError) as refused:
                verify_identity_assertion(forged, **trusted)
            assert refused.value.code == "memory_assertion_invalid"
            assert refused.value.details["reason"] == "signature"
            assert sig not in str(refused.value) and sig not in repr(refused.value.details)
            with pytest.raises(MemoryIsolationError) as other:
                verify_identity_assertion(
                    assertion.token, **{**trusted, "expected_app_id": "another-app"}
                )
            assert other.value.details["reason"] == "binding"
            with pytest.raises(AlterValueError, match="jwks"):
                verify_identity_assertion(assertion.token, **{**trusted, "jwks": [jwks]})
            with pytest.raises(AlterValueError, match="issuer"):
                verify_identity_assertion(assertion.token, **{**trusted, "issuer": ""})

    run(main())


def test_spans_delegation_and_specs(local_vault: LocalVault) -> None:
    vault = local_vault

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            created = await app.agents.create(name="spanner")
            helper = await app.agents.create(name="helper")
        assert created.api_key is not None
        ms = vault.create_managed_secret("acme", "tok")
        grant_id = vault.create_managed_secret_grant(ms, agent_id=str(created.id))
        async with Agent(api_key=created.api_key) as agent:
            emitted = await agent.spans.emit(
                [
                    UserSpan(
                        trace_id="t1",
                        name="plan",
                        start_time=datetime.datetime.now(datetime.UTC),
                        attributes={"step": "1"},
                    ),
                    {"trace_id": "t1", "name": "act", "start_time": "2030-01-01T00:00:00Z"},
                ]
            )
            assert emitted.accepted == 2
            me = await agent.resolve_identity()
            assert me.agent_id == str(created.id)
            # A grant made directly to an agent has no consenting user.
            with pytest.raises(GrantNotDelegableError) as info:
                await agent.delegate(grant_id, helper.id)
            assert info.value.status_code == 403
            specs = await agent.provider_specs.list("oauth")
            assert specs
            page = await agent.provider_specs.list_operations(
                specs[0].provider_kind, specs[0].provider_id, limit=2
            )
            assert len(page.items) <= 2 and page.spec.provider_id == specs[0].provider_id
            catalog = await agent.oauth_providers.list()
            assert "google" in catalog.providers
            assert isinstance(catalog.get_default_scopes("google"), tuple)

    run(main())


def test_a_build_without_the_vault_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # An extension built with `--no-default-features` has no `_LocalVault`;
    # starting one must fail with a message that names the fix, and must
    # not touch ALTER_BASE_URL.
    import alter_sdk.testing as testing

    monkeypatch.setattr(testing, "_HAS_VAULT", False)
    monkeypatch.setenv("ALTER_BASE_URL", "http://127.0.0.1:1")
    vault = testing.LocalVault()
    with pytest.raises(RuntimeError, match="built without the `vault` feature"):
        vault.start()
    assert os.environ["ALTER_BASE_URL"] == "http://127.0.0.1:1"
