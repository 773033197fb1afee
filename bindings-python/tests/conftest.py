"""Shared helpers. The `local_vault` fixture comes from alter_sdk.testing
(registered as a pytest plugin by the package)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs one coroutine on a fresh event loop (no pytest plugin needed)."""
    return asyncio.run(coro)
