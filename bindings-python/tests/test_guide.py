"""The guide "Give an AI Agent Scoped Access" (seed 000), snippet by
snippet, against the local vault. Provider URLs point at the vault's echo
provider instead of api.anthropic.com / googleapis.com."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from alter_sdk import (
    Agent,
    AgentInactiveError,
    AgentPrincipal,
    AgentRevokedError,
    App,
    HttpMethod,
    InsufficientScopeError,
    KeyRevokedError,
    ManagedSecretGrantItem,
    NoDelegatedGrantError,
    OAuthGrantItem,
    SystemPrincipal,
    UserPrincipal,
)
from alter_sdk.testing import LocalVault

from .conftest import run


def provision(vault: LocalVault, name: str = "research-bot") -> tuple[str, str]:
    """The guide's first snippet: the operator provisions a managed agent."""

    async def main() -> tuple[str, str]:
        async with App(api_key=vault.app_api_key) as app:
            result = await app.agents.create(name=name)
            print("agent id:", result.id)
            print("agent key:", result.api_key)  # shown ONCE
            assert result.api_key is not None
            return str(result.id), result.api_key

    return run(main())


def test_path_b_managed_secret_issued_to_the_agent(
    local_vault: LocalVault, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault)
    # Path B: the operator issues a managed secret to the agent (portal).
    secret = "sk-ant-local-guide-credential"
    ms = vault.create_managed_secret("anthropic", secret)
    grant_id = vault.create_managed_secret_grant(ms, agent_id=agent_id, label="research-bot")
    monkeypatch.setenv("AGENT_API_KEY", agent_key)
    monkeypatch.setenv("ANTHROPIC_GRANT_ID", grant_id)
    messages_url = vault.provider_url("/v1/messages")

    async def main() -> None:
        async with Agent(api_key=os.environ["AGENT_API_KEY"]) as agent:
            # Use a managed-secret grant. The json body is forwarded to the provider
            # verbatim — use the provider's wire field names (Anthropic: max_tokens).
            response = await agent.request(
                HttpMethod.POST,
                messages_url,
                grant_id=os.environ["ANTHROPIC_GRANT_ID"],
                json={
                    "model": "claude-sonnet-4-6",
                    "max_tokens": 1024,
                    "messages": [{"role": "user", "content": "Say hello."}],
                },
            )
            print(response.status_code, response.json())

            assert response.status_code == 200
            assert response.is_success
            echo = response.json()
            assert echo["method"] == "POST"
            assert echo["headers"]["authorization"] == f"Bearer {secret}"
            sent = json.loads(echo["body"])
            assert sent["max_tokens"] == 1024
            assert response.headers["content-type"].startswith("application/json")
            assert "Content-Type" in response.headers
            assert response.url == messages_url
            assert response.elapsed.total_seconds() >= 0
            assert response.raise_for_status() is response

    run(main())
    out = capsys.readouterr().out
    assert "agent id:" in out and "200" in out
    # The audit row carries the agent identity and the grant; no secret.
    rows = vault.audit("api_call")
    assert rows and rows[-1]["agent_id"] == agent_id
    assert rows[-1]["grant_id"] == grant_id
    whole = json.dumps(vault.audit())
    assert secret not in whole and agent_key not in whole


def test_path_a_user_delegates_an_oauth_connection(
    local_vault: LocalVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault)
    user = vault.create_user("alice@example.com")
    # The user connected Google and delegated it to research-bot.
    vault.create_oauth_grant(
        user=user, provider_id="google", access_token="ya29.local-token", agent_id=agent_id
    )
    monkeypatch.setenv("AGENT_API_KEY", agent_key)
    monkeypatch.setenv("USER_JWT", user.jwt)
    events_url = vault.provider_url("/calendar/v3/calendars/primary/events")

    async def main() -> None:
        async with Agent(api_key=os.environ["AGENT_API_KEY"]) as agent:
            # Or use a delegated OAuth grant via provider+user_token, where
            # user_jwt is the end user's IDP-issued JWT.
            user_jwt = os.environ["USER_JWT"]
            response = await agent.request(
                HttpMethod.GET,
                events_url,
                provider="google",
                user_token=user_jwt,
            )
            print(response.status_code)
            assert response.status_code == 200
            assert response.json()["headers"]["authorization"] == "Bearer ya29.local-token"

    run(main())
    row = vault.audit("api_call")[-1]
    assert row["agent_id"] == agent_id


def test_list_grants_merges_both_kinds(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault)
    ms = vault.create_managed_secret("anthropic", "sk-ant-x")
    vault.create_managed_secret_grant(ms, agent_id=agent_id, label="anthropic-for-bot")
    user = vault.create_user()
    vault.create_oauth_grant(user=user, provider_id="google", agent_id=agent_id)

    async def main() -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        async with Agent(api_key=agent_key) as agent:
            page = await agent.list_grants()
            for g in page.grants:
                print(
                    g.grant_kind,
                    g.provider_id if g.grant_kind == "oauth" else g.managed_secret_slug,
                )
                seen.append(
                    (
                        g.grant_kind,
                        g.provider_id if isinstance(g, OAuthGrantItem) else g.managed_secret_slug,
                    )
                )
            assert page.total == len(page.grants)
            assert not page.has_more
        return seen

    seen = run(main())
    assert ("managed_secret", "anthropic") in seen
    assert ("oauth", "google") in seen


def test_list_grants_of_the_app_and_the_managed_secret_page(local_vault: LocalVault) -> None:
    vault = local_vault
    ms = vault.create_managed_secret("stripe", "sk_live_local")
    vault.create_managed_secret_grant(ms, label="payouts-cron-stripe")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            page = await app.list_grants(limit=100)
            for item in page.grants:
                if item.grant_kind == "managed_secret":
                    assert isinstance(item, ManagedSecretGrantItem)
                    print(
                        item.grant_id, item.managed_secret_id, item.managed_secret_slug, item.label
                    )

    run(main())


def test_me_works_while_paused(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault, "keyed")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app, Agent(api_key=agent_key) as agent:
            me = await agent.me()
            print(me.name, me.status, me.scopes)
            assert (me.name, me.status) == ("keyed", "active")
            assert str(me.id) == agent_id
            await app.agents.suspend(agent_id)
            me = await agent.me()
            assert me.status == "inactive"
            with pytest.raises(AgentInactiveError):
                await agent.list_grants()
            await app.agents.resume(agent_id)
            assert (await agent.me()).status == "active"

    run(main())


def test_trace_tags_nested_requests(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault, "researcher")
    ms = vault.create_managed_secret("acme", "tok-1")
    grant_id = vault.create_managed_secret_grant(ms, agent_id=agent_id)
    url = vault.provider_url("/x")

    async def main() -> None:
        async with Agent(api_key=agent_key) as researcher:
            async with researcher.trace(run_id="run_abc", role="research"):
                # Every nested request() is tagged with researcher + run_abc.
                await researcher.request("GET", url, grant_id=grant_id)
                async with researcher.trace(thread_id="th1", step="2"):
                    await researcher.request("GET", url, grant_id=grant_id)
            # Outside the block: no context.
            await researcher.request("GET", url, grant_id=grant_id)

    run(main())
    rows = vault.audit("api_call")
    assert len(rows) == 3
    first, nested, after = rows
    assert first["context"]["run_id"] == "run_abc"
    assert first["context"]["role"] == "research"
    assert first["context"]["agent"].startswith("agent-local-")
    assert nested["context"]["run_id"] == "run_abc"
    assert nested["context"]["thread_id"] == "th1"
    assert nested["context"]["step"] == "2"
    assert nested["context"]["role"] == "research"
    assert not after.get("context")


def test_trace_is_task_local(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault, "tasks")
    ms = vault.create_managed_secret("acme", "tok-1")
    grant_id = vault.create_managed_secret_grant(ms, agent_id=agent_id)
    url = vault.provider_url("/x")

    async def main() -> None:
        async with Agent(api_key=agent_key) as agent:

            async def step(n: int) -> None:
                async with agent.trace(run_id=f"run_{n}"):
                    await asyncio.sleep(0)
                    await agent.request("GET", url, grant_id=grant_id, reason=f"r{n}")

            await asyncio.gather(*(step(n) for n in range(4)))

    run(main())
    rows = vault.audit("api_call")
    assert sorted((r["reason"], r["context"]["run_id"]) for r in rows) == [
        (f"r{n}", f"run_{n}") for n in range(4)
    ]


def test_principals_of_the_managed_secret_grant_page(local_vault: LocalVault) -> None:
    # Seed 002: the principal models are what create_managed_secret_grant takes.
    alice = UserPrincipal(user_token="jwt-alice", label="alice-prod-stripe")
    assert alice.type == "user" and alice.label == "alice-prod-stripe"
    assert AgentPrincipal(label="billing-bot-stripe").type == "agent"
    assert SystemPrincipal(label="payouts-cron-stripe").model_dump() == {
        "type": "system",
        "label": "payouts-cron-stripe",
    }


# ---------------------------------------------------------------- error table


def test_error_table_no_delegated_grant(local_vault: LocalVault) -> None:
    vault = local_vault
    _, agent_key = provision(vault)

    async def main() -> None:
        async with Agent(api_key=agent_key) as agent:
            with pytest.raises(NoDelegatedGrantError) as info:
                await agent.request("GET", vault.provider_url("/x"), provider="google")
            assert info.value.status_code in (404, 409)

    run(main())


# The background audit post of the last successful call may arrive after the
# agent is revoked; the SDK then warns that the row was refused.
@pytest.mark.filterwarnings("ignore:Audit row was not recorded")
def test_error_table_agent_inactive_and_revoked(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault)
    ms = vault.create_managed_secret("acme", "tok")
    grant_id = vault.create_managed_secret_grant(ms, agent_id=agent_id)
    url = vault.provider_url("/x")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app, Agent(api_key=agent_key) as agent:
            await app.agents.suspend(agent_id)
            with pytest.raises(AgentInactiveError) as inactive:
                await agent.request("GET", url, grant_id=grant_id)
            assert inactive.value.code == "agent_inactive"
            assert inactive.value.status_code == 401
            await app.agents.resume(agent_id)
            await agent.request("GET", url, grant_id=grant_id)
            await app.agents.delete(agent_id)
            # Revoking the agent revoked its keys in the same step.
            with pytest.raises((KeyRevokedError, AgentRevokedError)):
                await agent.request("GET", url, grant_id=grant_id)

    run(main())


def test_error_table_key_revoked(local_vault: LocalVault) -> None:
    vault = local_vault
    agent_id, agent_key = provision(vault)
    ms = vault.create_managed_secret("acme", "tok")
    grant_id = vault.create_managed_secret_grant(ms, agent_id=agent_id)

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app, Agent(api_key=agent_key) as agent:
            keys = await app.agents.list_keys(agent_id)
            assert [k.status for k in keys.items] == ["active"]
            revoked = await app.agents.revoke_key(agent_id, keys.items[0].key_id, force=True)
            assert revoked.status == "revoked"
            with pytest.raises(KeyRevokedError) as info:
                await agent.request("GET", vault.provider_url("/x"), grant_id=grant_id)
            assert info.value.code == "key_revoked"

    run(main())


def test_error_table_insufficient_scope(local_vault: LocalVault) -> None:
    vault = local_vault
    _, agent_key = provision(vault)
    # The operator narrows the key's scopes so it no longer covers the route.
    vault.update_key(api_key=agent_key, scopes=["grants:read"])

    async def main() -> None:
        async with Agent(api_key=agent_key) as agent:
            with pytest.raises(InsufficientScopeError) as info:
                await agent.request("GET", vault.provider_url("/x"), provider="google")
            err = info.value
            assert err.status_code == 403
            assert err.required_scopes == err.required
            assert isinstance(err.missing, list)

    run(main())
