"""User spans: ``client.spans.emit([...])``."""

from ._alter_sdk import MAX_SPANS_PER_BATCH
from ._models import EmitSpansResult, UserSpan

__all__ = ["MAX_SPANS_PER_BATCH", "EmitSpansResult", "UserSpan"]
