"""HTTP API of the audit log (审计日志): read only; no update or delete endpoint exists."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from yikatong.api.auth import Principal, require
from yikatong.api.deps import SessionDep
from yikatong.audit import service
from yikatong.audit.models import AuditEntry
from yikatong.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

LIMIT_MAX = 1000


class AuditEntryOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    subject_type: str
    subject_id: str
    reason: str
    fields: list[str]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            reason=entry.reason,
            fields=[name for name in entry.fields.split(",") if name],
        )


@router.get("", response_model=list[AuditEntryOut], summary="Read the audit log, newest first")
def list_entries(
    session: SessionDep,
    _principal: Annotated[Principal, require("auditor", "admin")],
    actor: str | None = Query(None, max_length=64),
    subject_id: str | None = Query(None, max_length=64),
    since: dt.datetime | None = Query(None, description="ISO 8601 instant with a UTC offset"),
    limit: int = Query(100, ge=1, le=LIMIT_MAX),
) -> list[AuditEntryOut]:
    if since is not None and since.tzinfo is None:
        raise InvalidInput(
            "since needs a UTC offset, e.g. 2025-03-10T08:00:00+08:00", field="since"
        )
    entries = service.search(session, actor=actor, subject_id=subject_id, since=since, limit=limit)
    return [AuditEntryOut.of(entry) for entry in entries]
