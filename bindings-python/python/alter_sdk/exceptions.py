"""The exception classes (also exported from ``alter_sdk``)."""

from ._alter_sdk import MEMORY_ISOLATION_CODES, RATE_LIMIT_SCOPE_VALUES
from ._errors import *  # noqa: F403
from ._errors import __all__ as __all__

__all__ = [*__all__, "MEMORY_ISOLATION_CODES", "RATE_LIMIT_SCOPE_VALUES"]
