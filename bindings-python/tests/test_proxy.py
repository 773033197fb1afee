"""Proxy mode and approvals (the reference page's proxy_request snippet),
with the human decision made through the operator API."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alter_sdk import (
    App,
    ApprovalDeniedError,
    ApprovalResult,
    ApprovalStatus,
    ApprovalTimeoutError,
    HttpMethod,
    PendingApproval,
)
from alter_sdk.testing import LocalVault

from .conftest import run


def test_proxy_request_runs_synchronously_without_approval(local_vault: LocalVault) -> None:
    vault = local_vault
    ms = vault.create_managed_secret("acme", "proxy-secret")
    grant_id = vault.create_managed_secret_grant(ms, label="payouts")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            result = await app.proxy_request(
                HttpMethod.POST,
                vault.provider_url("/transfer"),
                grant_id=grant_id,
                json={"amount": 1000},
                reason="Quarterly payout",
            )
            if isinstance(result, PendingApproval):
                raise AssertionError("no approval is configured")
            else:
                # ran synchronously; the provider response is in the result
                assert isinstance(result, ApprovalResult)
                assert result.status_code == 200
                echo = result.body_json()
                assert echo["headers"]["authorization"] == "Bearer proxy-secret"
                assert echo["body"] == '{"amount":1000}'
                assert "proxy-secret" not in repr(result)

    run(main())


def test_pending_approval_decided_by_the_operator(local_vault: LocalVault) -> None:
    vault = local_vault
    ms = vault.create_managed_secret("acme", "proxy-secret")
    grant_id = vault.create_managed_secret_grant(ms, label="payouts")
    vault.update_grant(grant_id, hitl=True)
    url = vault.provider_url("/transfer")

    async def main() -> None:
        async with App(api_key=vault.app_api_key) as app:
            result = await app.proxy_request(
                HttpMethod.POST, url, grant_id=grant_id, json={"amount": 5}, reason="payout"
            )
            assert isinstance(result, PendingApproval)
            assert result.status == "pending"
            assert isinstance(result.approval_id, uuid.UUID)
            assert result.gates and result.gates[0].approval_url
            status = await app.get_approval_status(result.approval_id)
            assert isinstance(status, ApprovalStatus)
            assert status.status == "pending" and not status.is_terminal

            # Wait in a task while the approver decides (operator API).
            waiter = asyncio.create_task(
                app.await_approval(result.approval_id, timeout=30, poll_interval=0.05)
            )
            decided = await asyncio.to_thread(vault.approve, result.approval_id)
            assert decided["status"] in ("approved", "executing", "executed")
            final = await waiter
            assert final.status_code == 200
            assert final.approval_id == result.approval_id
            assert final.body_json()["body"] == '{"amount":5}'
            status = await app.get_approval_status(str(result.approval_id))
            assert status.status == "executed" and status.is_terminal

            second = await app.proxy_request("POST", url, grant_id=grant_id, json={"amount": 6})
            assert isinstance(second, PendingApproval)
            vault.deny(second.approval_id, "not today")
            with pytest.raises(ApprovalDeniedError) as denied:
                await app.await_approval(second.approval_id, timeout=30, poll_interval=0.05)
            assert str(denied.value) == "not today"
            assert denied.value.approval_id == str(second.approval_id)

            third = await app.proxy_request("POST", url, grant_id=grant_id, json={"amount": 7})
            assert isinstance(third, PendingApproval)
            with pytest.raises(ApprovalTimeoutError):
                await app.await_approval(third.approval_id, timeout=0, poll_interval=1)

    run(main())
