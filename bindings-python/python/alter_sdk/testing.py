"""Test helpers: the local vault, in-process.

``LocalVault`` starts the embedded Alter-compatible vault on 127.0.0.1 (a
free port) and stops it on exit. It works as a context manager, sync or
async::

    from alter_sdk import Agent
    from alter_sdk.testing import LocalVault

    async with LocalVault() as vault:
        async with vault.app() as app:
            created = await app.agents.create(name="research-bot")
        grant_id = vault.create_managed_secret_grant(
            vault.create_managed_secret("anthropic", "sk-test"),
            agent_id=str(created.id),
        )
        async with Agent(api_key=created.api_key) as agent:
            response = await agent.request(
                "POST", vault.provider_url("/v1/messages"), grant_id=grant_id
            )

While it runs, ``ALTER_BASE_URL`` points at it, so code that builds
``App(api_key=...)`` / ``Agent(api_key=...)`` the usual way reaches it
unchanged. ``vault.app_api_key`` is the app key of its one app; the
operator helpers stand in for the developer portal (managed secrets,
users and their JWTs, OAuth grants, approval decisions, the audit log).
``provider_url(path)`` is a fake provider on the vault that echoes each
request back as JSON (method, path, query, headers, body).

With pytest, the ``local_vault`` fixture yields a running ``LocalVault``.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any, cast

try:
    from ._alter_sdk import _LocalVault
except ImportError:  # an extension built without its `vault` feature
    _HAS_VAULT = False
else:
    _HAS_VAULT = True

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from ._alter_sdk import Agent, App

__all__ = ["LocalVault", "OAuthGrant", "User", "local_vault"]

_ENV = "ALTER_BASE_URL"
_PLAIN_HTTP = "Using plain http to the Alter backend"


class User:
    """An end user of the vault's identity provider, with a signed JWT."""

    __slots__ = ("email", "user_id", "user_token")

    def __init__(self, user_id: str, user_token: str, email: str) -> None:
        self.user_id = user_id
        self.user_token = user_token
        self.email = email

    @property
    def jwt(self) -> str:
        """The user's IdP JWT (what ``user_token=`` expects)."""
        return self.user_token

    def __repr__(self) -> str:
        return f"User(user_id={self.user_id!r}, email={self.email!r}, user_token='<redacted>')"


class OAuthGrant:
    """An OAuth connection made on the vault (and its delegation, if any)."""

    __slots__ = ("credential_id", "delegation_grant_id", "grant_id")

    def __init__(self, grant_id: str, delegation_grant_id: str | None, credential_id: str) -> None:
        self.grant_id = grant_id
        self.delegation_grant_id = delegation_grant_id
        self.credential_id = credential_id

    def __repr__(self) -> str:
        return (
            f"OAuthGrant(grant_id={self.grant_id!r}, "
            f"delegation_grant_id={self.delegation_grant_id!r})"
        )


class LocalVault:
    """The local vault, running in this process while the context is open.

    ``state_file`` keeps the vault's state in SQLite across restarts; by
    default it lives in memory. ``quiet`` (default) silences the SDK's
    warning about plain http to the loopback vault.
    """

    def __init__(
        self, *, state_file: str | os.PathLike[str] | None = None, quiet: bool = True
    ) -> None:
        self._state_file = None if state_file is None else os.fspath(state_file)
        self._quiet = quiet
        self._vault: _LocalVault | None = None
        self._saved_env: str | None = None
        self._filters: Any = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> LocalVault:
        """Starts the vault (what entering the context does)."""
        if self._vault is not None:
            return self
        if not _HAS_VAULT:
            raise RuntimeError(
                "this build of alter_sdk has no embedded local vault (its extension was "
                "built without the `vault` feature); run `alter-dev serve` instead"
            )
        self._vault = _LocalVault(state_file=self._state_file)
        self._saved_env = os.environ.get(_ENV)
        os.environ[_ENV] = self._vault.base_url
        if self._quiet:
            self._filters = warnings.filters[:]
            warnings.filterwarnings("ignore", message=_PLAIN_HTTP, category=UserWarning)
        return self

    def stop(self) -> None:
        """Stops the vault and restores ``ALTER_BASE_URL``. Idempotent."""
        vault, self._vault = self._vault, None
        if vault is None:
            return
        if os.environ.get(_ENV) == vault.base_url:
            if self._saved_env is None:
                os.environ.pop(_ENV, None)
            else:
                os.environ[_ENV] = self._saved_env
        if self._filters is not None:
            cast(list[Any], warnings.filters)[:] = self._filters
            self._filters = None
        vault.stop()

    def __enter__(self) -> LocalVault:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalVault:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def _native(self) -> _LocalVault:
        if self._vault is None:
            raise RuntimeError("the local vault is not running (use it as a context manager)")
        return self._vault

    # -- what the vault tells its user --------------------------------------

    @property
    def base_url(self) -> str:
        """The vault's base URL (also in ``ALTER_BASE_URL`` while running)."""
        return self._native.base_url

    @property
    def app_id(self) -> str:
        return self._native.app_id

    @property
    def app_api_key(self) -> str:
        """The API key of the vault's app (an App key)."""
        return self._native.app_api_key

    @property
    def admin_token(self) -> str:
        """The operator API's bearer token."""
        return self._native.admin_token

    def provider_url(self, path: str = "/") -> str:
        """A URL on the vault's echo provider (answers with what it got)."""
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.base_url}/_provider/echo{path}"

    def status_url(self, status: int, **query: str) -> str:
        """A URL on the fake provider that answers with ``status``."""
        from urllib.parse import urlencode

        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url}/_provider/status/{int(status)}{suffix}"

    def app(self, **kwargs: Any) -> App:
        """An ``App`` on the vault's app key, bound to this vault."""
        from ._alter_sdk import App

        return App(self.app_api_key, _base_url=self.base_url, **kwargs)

    def agent(self, api_key: str, **kwargs: Any) -> Agent:
        """An ``Agent`` with ``api_key``, bound to this vault."""
        from ._alter_sdk import Agent

        return Agent(api_key, _base_url=self.base_url, **kwargs)

    # -- operator helpers (the developer portal's part) ----------------------

    def create_managed_secret(
        self, slug: str, credential: str | dict[str, str], **fields: Any
    ) -> str:
        """Stores a managed secret; returns its id. ``fields`` may set
        ``provider_id``, ``name``, ``injection_header``, ``injection_format``,
        ``additional_credentials``, ``additional_injections`` or ``hitl``."""
        return self._native.create_managed_secret(
            {"slug": slug, "credential": credential, **fields}
        )

    def create_managed_secret_grant(
        self,
        managed_secret_id: str,
        *,
        agent_id: str | None = None,
        label: str | None = None,
        **fields: Any,
    ) -> str:
        """Issues a grant on a managed secret, to an agent (or a system
        grant when ``agent_id`` is None); returns the grant id."""
        body: dict[str, Any] = {"agent_id": agent_id, **fields}
        if label is not None:
            body["label"] = label
        return self._native.create_managed_secret_grant(managed_secret_id, body)

    def create_user(self, email: str = "user@example.com") -> User:
        """An end user with a JWT signed by the vault's identity provider."""
        user_id, token = self._native.create_user(email)
        return User(user_id, token, email)

    def create_oauth_grant(
        self,
        *,
        user: User | str,
        provider_id: str,
        access_token: str = "local-oauth-access-token",
        agent_id: str | None = None,
        **fields: Any,
    ) -> OAuthGrant:
        """An OAuth connection of ``user`` to ``provider_id`` (as if the user
        completed Connect), delegated to ``agent_id`` when given."""
        user_id = user.user_id if isinstance(user, User) else user
        body: dict[str, Any] = {
            "user_id": user_id,
            "provider_id": provider_id,
            "access_token": access_token,
            **fields,
        }
        if agent_id is not None:
            body["agent_id"] = agent_id
        ids = self._native.create_oauth_grant(body)
        return OAuthGrant(ids["grant_id"], ids.get("delegation_grant_id"), ids["credential_id"])

    def update_grant(self, grant_id: str, **changes: Any) -> dict[str, Any]:
        """Changes a grant as an operator would (``hitl=True``,
        ``revoked=True``, ``expires_at="..."``, ...); returns the grant."""
        result: dict[str, Any] = self._native.update_grant(grant_id, changes)
        return result

    def complete_connect(
        self, session_token: str, action: str = "approve", **fields: Any
    ) -> dict[str, Any]:
        """Acts as the end user in the Connect widget of a session:
        ``approve`` (optionally ``providers=[...]``, ``account=...``,
        ``ttl_seconds=...``, ``share_onward=...``, ``secret=...`` for a
        managed secret), ``deny``, ``decline`` (``provider_id=...``),
        ``fail`` or ``expire``. Returns the session's poll answer."""
        result: dict[str, Any] = self._native.call(
            "POST", f"/_dev/connect/{session_token}", {"action": action, **fields}
        )
        return result

    def complete_sign_in(
        self, session_token: str, action: str = "complete", **fields: Any
    ) -> dict[str, Any]:
        """Acts as the end user of a sign-in (auth) session: ``complete``
        (with ``email=...``, optionally ``display_name``, ``groups``),
        ``fail`` or ``expire``."""
        result: dict[str, Any] = self._native.call(
            "POST", f"/_dev/auth-sessions/{session_token}", {"action": action, **fields}
        )
        return result

    def approval(self, approval_id: object) -> dict[str, Any]:
        """An approval as the operator sees it."""
        result: dict[str, Any] = self._native.approval(str(approval_id))
        return result

    def decide(
        self, approval_id: object, decision: str = "approve", reason: str | None = None
    ) -> dict[str, Any]:
        """Decides a pending approval (``approve``, ``deny`` or ``expire``) as
        the human approver would; returns its status after the decision."""
        result: dict[str, Any] = self._native.decide(str(approval_id), decision, reason)
        return result

    def approve(self, approval_id: object) -> dict[str, Any]:
        return self.decide(approval_id, "approve")

    def deny(self, approval_id: object, reason: str | None = None) -> dict[str, Any]:
        return self.decide(approval_id, "deny", reason)

    def audit(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The audit log (every event, or those of one ``kind`` such as
        ``"api_call"``)."""
        events: list[dict[str, Any]] = self._native.audit()
        if kind is not None:
            events = [e for e in events if e.get("kind") == kind]
        return events

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """Injects a fault (``path_prefix``, ``count``, ``status``,
        ``retry_after``, ...) to exercise error handling and retries."""
        result: dict[str, Any] = self._native.add_fault(fault)
        return result

    def clear_faults(self) -> None:
        self._native.clear_faults()

    def update_key(self, **changes: Any) -> dict[str, Any]:
        """Adjusts an API key named by ``api_key`` or ``key_id``
        (``revoked``, ``deprecated``, ``rate_limit_rpm``, ``scopes``, ...)."""
        result: dict[str, Any] = self._native.update_key(changes)
        return result

    def update_agent(self, agent_id: object, **changes: Any) -> dict[str, Any]:
        """Adjusts a managed agent (``status``, ``rate_limit_per_minute``)."""
        result: dict[str, Any] = self._native.update_agent(str(agent_id), changes)
        return result

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Any operator API call (``/_dev/...``); returns its JSON answer."""
        return self._native.call(method, path, body)

    def __repr__(self) -> str:
        where = self._vault.base_url if self._vault is not None else "stopped"
        return f"<LocalVault {where}>"


try:  # The pytest fixture, when pytest is importable.
    import pytest as _pytest
except ImportError:  # pragma: no cover - pytest is optional
    pass
else:

    @_pytest.fixture
    def local_vault() -> Iterator[LocalVault]:
        """A running local vault for one test (``ALTER_BASE_URL`` set)."""
        with LocalVault() as vault:
            yield vault
