"""HTTP API of "一件事" bundled applications.

A resident submits for their own life events (their retirement, their newborn, the death of a
registered relative) and follows one status; a clerk submits at the counter for anyone, lists
applications and retries failed tasks. Amounts come in as yuan strings and go out in fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.api.auth import Principal, require
from yikatong.api.deps import MAX_ROW_ID, RowId, SessionDep
from yikatong.bundles import service
from yikatong.bundles.models import BundleApplication, BundleKind, BundleStatus, TaskKind, TaskState
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import parse_yuan

router = APIRouter(prefix="/api/v1/bundles", tags=["bundles"])

_SUBMIT = require("resident", "clerk", "admin")
_STAFF_READ = require("clerk", "auditor", "admin")
_STAFF_WRITE = require("clerk", "admin")
_READ = require("resident", "clerk", "auditor", "admin")
ResidentRef = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class TaskOut(BaseModel):
    id: int
    kind: TaskKind
    domain: str
    state: TaskState
    due_on: dt.date
    overdue: bool
    attempts: int
    outcome: str | None
    result_ref: str | None
    last_error: str | None


class BundleOut(BaseModel):
    id: int
    kind: BundleKind
    status: BundleStatus = Field(description="The one status the resident sees")
    subject: str = Field(description="Whom it is about, masked")
    applicant_resident_id: int | None
    subject_resident_id: int | None
    submitted_on: dt.date
    completed_at: dt.datetime | None
    created_by: str
    tasks: list[TaskOut]


def _out(session: Session, application: BundleApplication) -> BundleOut:
    return BundleOut(
        id=application.id,
        kind=application.kind,
        status=application.status,
        subject=application.subject_label,
        applicant_resident_id=application.applicant_resident_id,
        subject_resident_id=application.subject_resident_id,
        submitted_on=application.submitted_on,
        completed_at=application.completed_at,
        created_by=application.created_by,
        tasks=[
            TaskOut(
                id=t.id,
                kind=t.kind,
                domain=t.domain,
                state=t.state,
                due_on=t.due_on,
                overdue=service.is_overdue(t),
                attempts=t.attempts,
                outcome=t.outcome,
                result_ref=t.result_ref,
                last_error=t.last_error,
            )
            for t in service.tasks_of(session, application.id)
        ],
    )


def _self_or_staff(who: Principal, resident_id: int | None, field: str) -> int:
    """A resident acts for themselves; staff name the resident."""
    if who.has("clerk", "admin"):
        if resident_id is None:
            raise InvalidInput("name the resident", field=field)
        return resident_id
    if who.resident_id is None:
        raise Forbidden("this token names no resident")
    if resident_id is not None and resident_id != who.resident_id:
        raise Forbidden(f"a resident applies for themselves; {field} must be your own or absent")
    return who.resident_id


class RetirementIn(BaseModel):
    resident_id: ResidentRef | None = Field(default=None, description="Staff only; else yourself")
    retire_on: dt.date
    monthly_pension: str = Field(max_length=24, examples=["3150.00"], description="Yuan")
    programme_code: str | None = Field(default=None, max_length=32)


class NewbornIn(BaseModel):
    parent_resident_id: ResidentRef | None = Field(
        default=None, description="Staff only; else yourself"
    )
    id_number: str = Field(max_length=18)
    name: str = Field(min_length=1, max_length=64)
    contribution_channel: Literal["family", "bank", "app", "tax"]
    payment_reference: str | None = Field(default=None, max_length=64)


class DeathIn(BaseModel):
    resident_id: ResidentRef = Field(description="The deceased")
    died_on: dt.date
    applicant_resident_id: ResidentRef | None = Field(
        default=None, description="Staff only; else yourself"
    )


@router.post(
    "/retirement",
    response_model=BundleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Apply for the retirement bundle (退休一件事)",
)
def submit_retirement(
    body: RetirementIn, session: SessionDep, who: Principal = _SUBMIT
) -> BundleOut:
    amount = parse_yuan(body.monthly_pension, field="monthly_pension")
    if amount <= 0:
        raise InvalidInput("the monthly pension must be positive", field="monthly_pension")
    data = service.RetirementInput(
        resident_id=_self_or_staff(who, body.resident_id, "resident_id"),
        retire_on=body.retire_on,
        monthly_pension=amount,
        programme_code=body.programme_code,
    )
    return _out(session, service.submit_retirement(session, data, actor=who.subject))


@router.post(
    "/newborn",
    response_model=BundleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Apply for the newborn bundle (出生一件事)",
)
def submit_newborn(body: NewbornIn, session: SessionDep, who: Principal = _SUBMIT) -> BundleOut:
    data = service.NewbornInput(
        parent_resident_id=_self_or_staff(who, body.parent_resident_id, "parent_resident_id"),
        id_number=body.id_number,
        name=body.name,
        contribution_channel=body.contribution_channel,
        payment_reference=body.payment_reference,
    )
    return _out(session, service.submit_newborn(session, data, actor=who.subject))


@router.post(
    "/death",
    response_model=BundleOut,
    status_code=status.HTTP_201_CREATED,
    summary="Apply for the death bundle (身后一件事)",
)
def submit_death(body: DeathIn, session: SessionDep, who: Principal = _SUBMIT) -> BundleOut:
    data = service.DeathInput(
        resident_id=body.resident_id,
        died_on=body.died_on,
        applicant_resident_id=_self_or_staff(
            who, body.applicant_resident_id, "applicant_resident_id"
        ),
    )
    return _out(session, service.submit_death(session, data, actor=who.subject))


@router.get("/me", response_model=list[BundleOut], summary="My applications")
def my_applications(session: SessionDep, who: Principal = require("resident")) -> list[BundleOut]:
    if who.resident_id is None:
        raise Forbidden("this token names no resident")
    found = service.list_applications(session, applicant_resident_id=who.resident_id)
    return [_out(session, a) for a in found]


@router.get("", response_model=list[BundleOut], summary="List applications (staff)")
def list_applications(
    session: SessionDep,
    _: Principal = _STAFF_READ,
    status_: Annotated[BundleStatus | None, Query(alias="status")] = None,
    kind: BundleKind | None = None,
    limit: Annotated[int, Query(ge=1, le=service.LIST_LIMIT_MAX)] = 100,
) -> list[BundleOut]:
    found = service.list_applications(session, status=status_, kind=kind, limit=limit)
    return [_out(session, a) for a in found]


@router.get("/{application_id}", response_model=BundleOut, summary="One application's status")
def get_application(
    application_id: RowId, session: SessionDep, who: Principal = _READ
) -> BundleOut:
    application = service.get_application(session, application_id)
    if not who.is_staff and application.applicant_resident_id != who.resident_id:
        raise Forbidden(f"application {application_id} is not yours")
    return _out(session, application)


@router.post(
    "/{application_id}/run", response_model=BundleOut, summary="Run the tasks not done (staff)"
)
def run_application(
    application_id: RowId,
    session: SessionDep,
    who: Principal = _STAFF_WRITE,
    include_done: bool = False,
) -> BundleOut:
    application = service.run_application(
        session, application_id, actor=who.subject, include_done=include_done
    )
    return _out(session, application)


@router.post("/tasks/{task_id}/retry", response_model=BundleOut, summary="Retry a failed task")
def retry_task(task_id: RowId, session: SessionDep, who: Principal = _STAFF_WRITE) -> BundleOut:
    return _out(session, service.retry_task(session, task_id, actor=who.subject))
