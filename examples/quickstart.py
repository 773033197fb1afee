"""Quickstart: give an AI agent scoped access, end to end, offline.

The flow of the guide "Give an AI Agent Scoped Access", run against the
local vault embedded in the package (no account, no network beyond
loopback):

1. the operator provisions a managed agent (its API key is shown once);
2. the operator binds credentials to it: a managed secret issued to the
   agent, and a user's OAuth connection delegated to it;
3. the agent process calls providers with its own key; the SDK injects the
   credential, so application code never holds it;
4. a grant that needs a human approval goes through proxy mode;
5. the audit log shows who did what.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import asyncio
import json

from alter_sdk import (
    Agent,
    App,
    HttpMethod,
    NoDelegatedGrantError,
    PendingApproval,
)
from alter_sdk.testing import LocalVault


def step(title: str) -> None:
    print(f"\n== {title}")


async def main() -> None:
    async with LocalVault() as vault:
        print(f"local vault running at {vault.base_url}")

        step("1. The operator provisions a managed agent")
        async with App(api_key=vault.app_api_key) as app:
            result = await app.agents.create(name="research-bot")
        agent_key = result.api_key
        assert agent_key is not None
        print("agent id:", result.id)
        print("agent key: shown once, starts with", agent_key[:14] + "…")
        print(
            "repr never shows it:", repr(result)[:60] + "…", "api_key='<redacted>'" in repr(result)
        )

        step("2. The operator binds credentials to the agent")
        anthropic = vault.create_managed_secret("anthropic", "sk-ant-demo-credential")
        grant_id = vault.create_managed_secret_grant(
            anthropic, agent_id=str(result.id), label="research-bot-anthropic"
        )
        print("path B: managed-secret grant issued to the agent:", grant_id)
        alice = vault.create_user("alice@example.com")
        vault.create_oauth_grant(
            user=alice, provider_id="google", access_token="ya29.demo", agent_id=str(result.id)
        )
        print("path A: alice delegated her Google connection to research-bot")

        step("3. The agent process calls providers with its own key")
        async with Agent(api_key=agent_key) as agent:
            me = await agent.me()
            print("me():", me.name, me.status)

            async with agent.trace(run_id="run_abc", role="research"):
                response = await agent.request(
                    HttpMethod.POST,
                    vault.provider_url("/v1/messages"),
                    grant_id=grant_id,
                    json={
                        "model": "claude-sonnet-4-6",
                        "max_tokens": 1024,
                        "messages": [{"role": "user", "content": "Say hello."}],
                    },
                )
            echo = response.json()
            injected = echo["headers"]["authorization"]
            print("provider answered", response.status_code, "in", response.elapsed)
            print("the provider saw Authorization:", injected[:14] + "… (injected by the SDK)")
            print("the provider saw the body verbatim:", json.loads(echo["body"])["max_tokens"])

            response = await agent.request(
                HttpMethod.GET,
                vault.provider_url("/calendar/v3/calendars/primary/events"),
                provider="google",
                user_token=alice.jwt,
            )
            print("delegated Google call:", response.status_code)

            page = await agent.list_grants()
            for g in page.grants:
                print(
                    "grant:",
                    g.grant_kind,
                    g.provider_id if g.grant_kind == "oauth" else g.managed_secret_slug,
                )

            try:
                await agent.request("GET", vault.provider_url("/user"), provider="github")
            except NoDelegatedGrantError as e:
                print("no delegation for github ->", type(e).__name__, f"({e.status_code})")

        step("4. A grant that needs a human approval (proxy mode)")
        payouts = vault.create_managed_secret("stripe", "sk_live_demo")
        payout_grant = vault.create_managed_secret_grant(payouts, label="payouts")
        vault.update_grant(payout_grant, hitl=True)
        async with App(api_key=vault.app_api_key) as app:
            pending = await app.proxy_request(
                HttpMethod.POST,
                vault.provider_url("/v1/transfers"),
                grant_id=payout_grant,
                json={"amount": 1000},
                reason="Quarterly payout",
            )
            assert isinstance(pending, PendingApproval)
            print("pending approval:", pending.approval_id, "at", pending.approval_url)
            waiter = asyncio.create_task(
                app.await_approval(pending.approval_id, timeout=30, poll_interval=0.2)
            )
            decision = await asyncio.to_thread(vault.approve, pending.approval_id)
            print("the approver decided:", decision["status"])
            done = await waiter
            print("the backend ran the call:", done.status_code, done.body_json()["body"])

        step("5. The audit log")
        for row in vault.audit("api_call"):
            context = row.get("context") or {}
            print(
                "audit:",
                row.get("method"),
                row.get("status"),
                "agent" if row.get("agent_id") else "app",
                "run_id=" + context["run_id"] if "run_id" in context else "",
            )
        print("\ndone: the agent never held a credential")


if __name__ == "__main__":
    asyncio.run(main())
