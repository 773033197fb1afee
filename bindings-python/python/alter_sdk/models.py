"""The public models (also exported from ``alter_sdk``)."""

from ._models import *  # noqa: F403
from ._models import __all__ as __all__
