"""Recording and reading the audit log (审计日志)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from typing import cast as cast_type

from sqlalchemy import CursorResult, String, cast, insert, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from yikatong.audit.models import AuditEntry
from yikatong.core import clock
from yikatong.core.errors import InvalidInput


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    subject_type: str,
    subject_id: str,
    reason: str,
    fields: Sequence[str] = (),
) -> AuditEntry:
    """Append one entry in the caller's transaction: no read of personal data without its trace."""
    if not reason.strip():
        raise InvalidInput("a reason is required to see unmasked personal data", field="reason")
    entry = AuditEntry(
        at=clock.now(),
        actor=actor,
        role=role,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason=reason.strip()[:200],
        fields=",".join(fields),
    )
    session.add(entry)
    session.flush()
    return entry


def _shared_columns(
    actor: str, role: str, action: str, subject_type: str, reason: str, fields: Sequence[str]
) -> dict[str, Any]:
    """The columns every entry of one act shares; a reason is required."""
    if not reason.strip():
        raise InvalidInput("a reason is required to see unmasked personal data", field="reason")
    return {
        "at": clock.now(),
        "actor": actor,
        "role": role,
        "action": action,
        "subject_type": subject_type,
        "reason": reason.strip()[:200],
        "fields": ",".join(fields),
    }


def record_many(
    session: Session,
    subject_ids: Sequence[str],
    *,
    actor: str,
    role: str,
    action: str,
    subject_type: str,
    reason: str,
    fields: Sequence[str] = (),
) -> int:
    """One entry per subject for the same act (a bank file's reveals), in one statement, in the
    caller's transaction. Returns the number of entries written."""
    common = _shared_columns(actor, role, action, subject_type, reason, fields)
    if not subject_ids:
        return 0
    # The table, not the ORM class: a plain executemany, no unit-of-work bookkeeping per entry.
    table: Any = AuditEntry.__table__
    rows = [{**common, "subject_id": s} for s in subject_ids]
    for start in range(0, len(rows), 5_000):
        session.execute(insert(table), rows[start : start + 5_000])
    return len(subject_ids)


def record_selected(
    session: Session,
    subject_ids: Select[*tuple[Any, ...]],
    *,
    actor: str,
    role: str,
    action: str,
    subject_type: str,
    reason: str,
    fields: Sequence[str] = (),
) -> int:
    """``record_many`` for the subjects a query selects (its first column), written by one
    ``INSERT … SELECT`` in the caller's transaction: a subject selected twice gets one entry.
    A million-line bank file's reveals never pass through Python. Returns the entries written."""
    values = _shared_columns(actor, role, action, subject_type, reason, fields)
    chosen = subject_ids.order_by(None).subquery()
    subject = next(iter(chosen.c))
    table: Any = AuditEntry.__table__
    as_text = cast(subject, String).label("subject")
    # One entry per subject, in the order of the subject index: a million entries then fill it
    # page by page instead of landing all over it (ids sort as text: "10" before "9"). Grouped
    # rather than DISTINCT, so that one sort both removes repeats and orders.
    rows = (
        select(
            *(literal(value, type_=table.c[name].type) for name, value in values.items()),
            as_text,
        )
        .group_by(as_text)
        .order_by(as_text)
    )
    result = session.execute(insert(table).from_select([*values, "subject_id"], rows))
    return int(cast_type(CursorResult[Any], result).rowcount)


def search(
    session: Session,
    *,
    actor: str | None = None,
    subject_id: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if subject_id:
        query = query.where(AuditEntry.subject_id == subject_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    return list(session.scalars(query))
