"""Issuing managed-secret grants (seed 002), Connect (path A of the guide
through a real Connect session), keys, scopes and request rules."""

from __future__ import annotations

import asyncio

import pytest
from alter_sdk import (
    Agent,
    AgentPrincipal,
    AlterSDKError,
    AlterValueError,
    App,
    ConnectResult,
    ConnectSession,
    CreateGrantResult,
    ManagedSecretGrantItem,
    MintedKey,
    ScopeCatalog,
    SystemPrincipal,
    UserPrincipal,
    content_match_rule,
)
from alter_sdk.testing import LocalVault

from .conftest import run


def new_agent(vault: LocalVault, name: str) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        async with App(api_key=vault.app_api_key) as app:
            created = await app.agents.create(name=name)
            assert created.api_key is not None
            return str(created.id), created.api_key

    return run(make())


def test_issuing_managed_secret_grants(local_vault: LocalVault) -> None:
    vault = local_vault
    ms_abc123 = vault.create_managed_secret("stripe", "sk_live_local")
    alice_jwt = vault.create_user("alice@example.com").jwt
    new_agent(vault, "billing-bot")
    _, self_key = new_agent(vault, "self-issuer")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            # Issue a Stripe grant to a specific user
            result = await app.create_managed_secret_grant(
                managed_secret_id=ms_abc123,
                principal=UserPrincipal(user_token=alice_jwt, label="alice-prod-stripe"),
            )
            print(result.grant_id)
            assert isinstance(result, CreateGrantResult)
            assert result.principal_type == "user" and result.label == "alice-prod-stripe"

            # Issue a Stripe grant to an agent. The grant binds to whichever agent's
            # API key is on the request — `AgentPrincipal` carries no agent_id field.
            billing_bot = app.get_agent("billing-bot")
            result = await billing_bot.create_managed_secret_grant(
                managed_secret_id=ms_abc123,
                principal=AgentPrincipal(label="billing-bot-stripe"),
            )
            assert result.principal_type == "agent"
            await billing_bot.close()

            # Issue a system-wide grant (no principal binding)
            result = await app.create_managed_secret_grant(
                managed_secret_id=ms_abc123,
                principal=SystemPrincipal(label="payouts-cron-stripe"),
            )
            assert result.principal_type == "system"

            # Setting a grant policy (TTL)
            result = await app.create_managed_secret_grant(
                managed_secret_id=ms_abc123,
                principal=UserPrincipal(user_token=alice_jwt, label="alice-ttl-stripe"),
                grant_policy={"max_ttl_seconds": 30 * 86400},
            )
            assert result.grant_id

            # The principal and the policy are checked by the core.
            with pytest.raises(AlterValueError):
                await app.create_managed_secret_grant(
                    managed_secret_id=ms_abc123,
                    principal=UserPrincipal(user_token="", label="x"),
                )
            with pytest.raises(AlterValueError):
                await app.create_managed_secret_grant(
                    managed_secret_id=ms_abc123,
                    principal=SystemPrincipal(label="x"),
                    grant_policy={"max_ttl_seconds": 30, "unknown": 1},
                )
            # An App cannot issue to an agent principal (the backend's 422).
            with pytest.raises(AlterSDKError):
                await app.create_managed_secret_grant(
                    managed_secret_id=ms_abc123, principal=AgentPrincipal(label="nope")
                )

            page = await app.list_grants(limit=100)
            assert page.grants == [] or all(g.grant_kind == "oauth" for g in page.grants)

        # Agent-issued grants: inside agent code
        async with Agent(api_key=self_key) as vault_agent:
            result = await vault_agent.create_managed_secret_grant(
                managed_secret_id=ms_abc123,
                principal=AgentPrincipal(label="self-issued-stripe"),
            )
            page = await vault_agent.list_grants(limit=100)
            for item in page.grants:
                if item.grant_kind == "managed_secret":
                    assert isinstance(item, ManagedSecretGrantItem)
                    print(
                        item.grant_id, item.managed_secret_id, item.managed_secret_slug, item.label
                    )
            labels = {g.label for g in page.grants}
            assert "self-issued-stripe" in labels
            with pytest.raises(AlterValueError):
                await vault_agent.create_managed_secret_grant(
                    managed_secret_id=ms_abc123,
                    principal=SystemPrincipal(label="not for agents"),  # type: ignore[arg-type]
                )

    run(main())


def test_path_a_through_a_connect_session(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = new_agent(vault, "research-bot")
    user = vault.create_user("carol@example.com")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            session = await app.create_connect_session(
                allowed_providers=["google"],
                user_token=user.jwt,
                agent=agent_id,  # consent screen will show "research-bot is requesting access"
            )
            assert isinstance(session, ConnectSession)
            assert session.session_token not in repr(session)
            # The user approves in the Connect widget.
            vault.complete_connect(session.session_token, "approve")
            results = await app.poll_connect_session(
                session.session_token, timeout=10, poll_interval=0.05
            )
            assert [type(r) for r in results] == [ConnectResult]
            assert results[0].provider_id == "google"
            assert results[0].delegation is not None
            assert results[0].delegation.agent_id == agent_id

        async with Agent(api_key=agent_key) as agent:
            response = await agent.request(
                "GET",
                vault.provider_url("/calendar/v3/calendars/primary/events"),
                provider="google",
                user_token=user.jwt,
            )
            assert response.status_code == 200
            assert response.json()["headers"]["authorization"].startswith("Bearer ")

    run(main())


def test_keys_scopes_and_rules(local_vault: LocalVault) -> None:
    vault = local_vault

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            catalog = await app.scopes.list()
            assert isinstance(catalog, ScopeCatalog)
            assert catalog == await app.scopes.get_catalog()
            assert "tokens" in catalog.resources

            minted = await app.keys.derive(scopes=["tokens:retrieve"], expires_in=3600)
            assert isinstance(minted, MintedKey)
            assert minted.api_key not in repr(minted)
            assert minted.key_type == "dk" and minted.status == "active"
            revoked = await app.keys.revoke(key_id=str(minted.id))
            assert revoked.status == "revoked"

            rule = content_match_rule(families=["payment"], effect="deny")
            assert rule["rule_type"] == "content_match"
            constrained = app.with_constraints(scopes=["tokens:retrieve"], rule=rule)
            assert isinstance(constrained, App)
            with pytest.raises(AlterValueError):
                content_match_rule(effect="deny")
            with pytest.raises(AlterValueError):
                app.with_constraints()

    run(main())


def test_poll_connect_session_reports_each_declined_provider_once(
    local_vault: LocalVault,
) -> None:
    vault = local_vault
    user = vault.create_user("picker@example.com")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            session = await app.create_connect_session(
                allowed_providers=["google", "github"], user_token=user.jwt
            )
            token = session.session_token
            vault.complete_connect(token, "decline", provider_id="github")
            events: list[dict[str, object]] = []
            heard = asyncio.Event()

            def on_event(event: dict[str, object]) -> None:
                events.append(event)
                heard.set()

            polled = asyncio.ensure_future(
                app.poll_connect_session(token, timeout=10, poll_interval=0.05, on_event=on_event)
            )
            # The user finishes with the other provider once the decline was heard.
            await asyncio.wait_for(heard.wait(), timeout=10)
            vault.complete_connect(token, "approve", providers=["google"])
            results = await polled
            assert [r.provider_id for r in results] == ["google"]
            assert len(events) == 1, "reported once, though every pending poll lists it"
            assert events[0]["type"] == "provider_declined"
            assert events[0]["provider_id"] == "github"
            assert events[0]["error_code"] == "connect_denied"
            assert isinstance(events[0]["declined_at"], str)

    run(main())
