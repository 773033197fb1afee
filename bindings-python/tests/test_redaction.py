"""No API key, token or injected credential in any repr/str."""

from __future__ import annotations

import alter_sdk
from alter_sdk import (
    Agent,
    AgentCreateResult,
    AgentKeyMintResult,
    App,
    AuthResult,
    AuthSession,
    ConnectSession,
    IdentityAssertion,
    ManagedSecretConnectSession,
    MintedKey,
    TokenResponse,
    UserPrincipal,
)
from alter_sdk.testing import LocalVault

from .conftest import run

AGENT_ID = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"


def test_clients_never_show_their_key(local_vault: LocalVault) -> None:
    key = local_vault.app_api_key
    app = App(api_key=key, caller="billing-svc")
    agent = app.get_agent(AGENT_ID)
    for obj in (app, agent, app.with_constraints(scopes=["tokens:retrieve"]), app.agents):
        assert key not in repr(obj) and key not in str(obj)
    assert "billing-svc" in repr(app)
    assert not hasattr(app, "api_key")
    run(app.close())
    run(agent.close())
    assert key not in repr(local_vault)


def test_results_redact_secrets_but_keep_them_readable(local_vault: LocalVault) -> None:
    async def main() -> AgentCreateResult:
        async with App(api_key=local_vault.app_api_key) as app:
            created = await app.agents.create(name="redacted-bot")
            minted = await app.agents.mint_key(created.id)
            assert minted.api_key and minted.api_key not in repr(minted)
            assert minted.api_key not in str(minted)
            return created

    created = run(main())
    assert created.api_key is not None
    assert created.api_key.startswith("alter_")
    assert created.api_key not in repr(created)
    assert created.api_key not in str(created)
    assert "<redacted>" in repr(created)
    # model_dump is the explicit way to get the data, secret included.
    assert created.model_dump()["api_key"] == created.api_key


def test_models_built_by_hand_redact_too() -> None:
    secret = "s3cr3t-value"
    cases = [
        UserPrincipal(user_token=secret, label="l"),
        AuthResult(user_token=secret, user_info={"sub": "u1", "email": "e"}),
        AuthSession(
            session_token=secret, auth_url=f"https://x/{secret}", expires_in=1, expires_at="t"
        ),
        ConnectSession(
            session_token=secret, connect_url=f"https://x/{secret}", expires_in=1, expires_at="t"
        ),
        ManagedSecretConnectSession(
            session_token=secret, connect_url=f"https://x/{secret}", expires_in=1, expires_at="t"
        ),
        TokenResponse(access_token=secret, grant_id="g"),
        IdentityAssertion._from_core(
            {"token": secret, "expires_at": "2030-01-01T00:00:00Z", "identity": {"app_id": "a"}}
        ),
        AgentCreateResult._from_core(
            {
                "id": AGENT_ID,
                "name": "n",
                "type": "agent",
                "status": "active",
                "version": 1,
                "created_at": "2030-01-01T00:00:00Z",
                "api_key": secret,
                "key_id": AGENT_ID,
            }
        ),
        AgentKeyMintResult._from_core(
            {
                "key_id": AGENT_ID,
                "key_prefix": "alter_key_ab",
                "name": "n-1",
                "created_at": "2030-01-01T00:00:00Z",
                "api_key": secret,
            }
        ),
        MintedKey._from_core(
            {"id": AGENT_ID, "api_key": secret, "created_at": "2030-01-01T00:00:00Z"}
        ),
    ]
    for model in cases:
        assert secret not in repr(model), type(model).__name__
        assert secret not in str(model), type(model).__name__
    assert AuthResult(user_token=secret, user_info={"sub": "u1"}).user_token == secret


def test_errors_show_only_their_message(local_vault: LocalVault) -> None:
    secret = "provider-payload-with-token-abc"
    err = alter_sdk.ProviderAPIError(
        "Provider API returned error 500", 500, secret, {"body": secret}
    )
    assert str(err) == "Provider API returned error 500"
    assert secret not in repr(err) and secret not in str(err)
    # A real one, raised by the core: the injected credential never shows.
    ms = local_vault.create_managed_secret("acme", "injected-credential-xyz")
    grant_id = local_vault.create_managed_secret_grant(ms)

    async def main() -> None:
        async with App(api_key=local_vault.app_api_key) as app:
            try:
                await app.request("GET", local_vault.status_url(500), grant_id=grant_id)
            except alter_sdk.ProviderAPIError as e:
                text = repr(e) + str(e) + repr(e.details) + str(e.response_body)
                assert "injected-credential-xyz" not in text
                assert local_vault.app_api_key not in text
            else:
                raise AssertionError("expected ProviderAPIError")

    run(main())


def test_response_headers_repr_hides_credentials(local_vault: LocalVault) -> None:
    ms = local_vault.create_managed_secret("acme", "tok-redact")
    grant_id = local_vault.create_managed_secret_grant(ms)

    async def main() -> None:
        async with Agent(api_key=local_vault.app_api_key) as agent:
            r = await agent.request(
                "GET",
                local_vault.provider_url("/h"),
                grant_id=grant_id,
                extra_headers={"X-Trace": "1"},
            )
            assert "tok-redact" not in repr(r)
            assert "tok-redact" not in repr(r.headers)

    run(main())


def test_an_echoing_provider_cannot_leak_the_credential(local_vault: LocalVault) -> None:
    """The vault's echo provider reflects the injected credential in its
    body and (``echo_headers=1``) in ``x-echo-*`` headers. Neither the error
    nor the audit row the SDK posts carries it."""
    secret = "tok-py-ECHOED-41c9"
    grant_id = local_vault.create_managed_secret_grant(
        local_vault.create_managed_secret("echoer", secret)
    )

    async def main() -> None:
        async with local_vault.app() as app:
            for status, cls in (
                (401, alter_sdk.ProviderUnauthorizedError),
                (500, alter_sdk.ProviderAPIError),
            ):
                url = local_vault.provider_url(f"/leak?echo_status={status}&echo_headers=1")
                try:
                    await app.request("GET", url, grant_id=grant_id)
                except cls as e:
                    text = repr(e) + str(e) + repr(e.details) + str(e.response_body)
                    assert secret not in text
                    assert '"authorization":"<redacted>"' in str(e.response_body)
                else:
                    raise AssertionError(f"expected {cls.__name__}")

    run(main())
    rows = local_vault.audit("api_call")
    assert len(rows) == 2
    for row in rows:
        assert secret not in repr(row)
        # The vault flags rows that arrived carrying the credential.
        assert row["details"] is None, row
        assert row["response_headers"]["x-echo-authorization"] == "<redacted>"


def test_bad_headers_are_refused_before_the_token_is_fetched(local_vault: LocalVault) -> None:
    grant_id = local_vault.create_managed_secret_grant(
        local_vault.create_managed_secret("strict", "tok-never-issued")
    )

    async def main() -> None:
        async with local_vault.app() as app:
            for name, value in (
                ("X-Trace", "1\r\nX-Injected: yes"),
                ("Transfer-Encoding", "chunked"),
                ("Host", "evil.example"),
                ("bad name", "v"),
            ):
                try:
                    await app.request(
                        "GET",
                        local_vault.provider_url("/x"),
                        grant_id=grant_id,
                        extra_headers={name: value},
                    )
                except alter_sdk.AlterValueError as e:
                    assert f"'{name}'" in str(e), str(e)
                    assert "X-Injected" not in str(e)
                else:
                    raise AssertionError(f"{name} was accepted")
            for url in (
                local_vault.base_url.replace("http://", "http://user:pw@") + "/_provider/echo/x",
                local_vault.base_url.replace("127.0.0.1", "2130706433") + "/_provider/echo/x",
            ):
                try:
                    await app.request("GET", url, grant_id=grant_id)
                except alter_sdk.AlterValueError as e:
                    assert str(e).startswith("url "), str(e)
                    assert "pw" not in str(e)
                else:
                    raise AssertionError(f"{url} was accepted")

    run(main())
    # No credential was issued and no call was audited.
    assert local_vault.audit() == []
