"""The approval records, apart from the other models so that a process
that only makes calls (``PendingApproval`` is what ``proxy_request()`` may
return) does not build the classes of the management API."""

from __future__ import annotations

from ._modelbase import _Model

# `typing` stays out of the import path (annotations are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Literal
    from uuid import UUID

    from ._modelbase import ApprovalStatusValue

__all__ = [
    "ApprovalGate",
    "ApprovalGateStatus",
    "ApprovalResult",
    "ApprovalStatus",
    "PendingApproval",
]


# ------------------------------------------------------------ approvals


class ApprovalGate(_Model):
    approval_id: UUID
    expires_at: datetime
    expires_in: int
    approval_url: str


class PendingApproval(_Model):
    """A proxied call waiting for a human decision."""

    approval_id: UUID
    approval_group_id: UUID
    status: Literal["pending"]
    expires_at: datetime
    expires_in: int
    approval_url: str
    gates: list[ApprovalGate]


class ApprovalGateStatus(_Model):
    approval_id: UUID
    status: ApprovalStatusValue
    expires_at: datetime
    decided_at: datetime | None = None


class ApprovalStatus(_Model):
    approval_id: UUID
    status: ApprovalStatusValue
    approval_group_id: UUID
    gates: list[ApprovalGateStatus]
    expires_at: datetime
    decided_at: datetime | None = None
    decision_reason: str | None = None
    executed_at: datetime | None = None
    execution_error: str | None = None
    has_result: bool

    @property
    def is_terminal(self) -> bool:
        return self.status in ("denied", "expired", "executed", "failed")


class ApprovalResult(_Model):
    """The provider's response to a proxied call (body base64-encoded)."""

    approval_id: UUID | None = None
    status_code: int
    headers: dict[str, str] = {}
    body_b64: str
    body_truncated: bool = False
    duration_ms: int | None = None
    credential_hint: str | None = None

    def body_bytes(self) -> bytes:
        import binascii

        return binascii.a2b_base64(self.body_b64.encode("ascii"))

    def body_text(self, encoding: str = "utf-8") -> str:
        return self.body_bytes().decode(encoding, errors="replace")

    def body_json(self) -> Any:
        import json

        return json.loads(self.body_bytes())
