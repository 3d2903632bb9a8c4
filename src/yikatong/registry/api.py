"""HTTP API of the resident registry: enrol, read (masked; unmasked only audited), search,
relatives, death registration."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from yikatong.api.auth import UNMASK_ROLES, Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, RowId, SessionDep
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.registry import service
from yikatong.registry.service import (
    RelationType,
    Resident,
    ResidentInput,
    ResidentStatus,
)

router = APIRouter(prefix="/api/v1/residents", tags=["registry"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]


class ResidentOut(BaseModel):
    """A resident as shown to staff and to the resident: personal data masked."""

    id: int
    person_ref: str
    name: str
    sex: str
    birth_date: dt.date
    id_number_masked: str = Field(examples=["370202********123X"])
    phone_masked: str | None = Field(default=None, examples=["138****1234"])
    bank_account_masked: str | None = Field(default=None, examples=["****5678"])
    address: str | None
    district_code: str
    household_no: str | None
    status: ResidentStatus
    died_on: dt.date | None
    disabled: bool
    veteran: bool
    student: bool
    low_income: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, resident: Resident) -> ResidentOut:
        return cls(
            id=resident.id,
            person_ref=resident.person_ref,
            name=resident.name,
            sex=resident.sex,
            birth_date=resident.birth_date,
            id_number_masked=resident.id_masked,
            phone_masked=resident.phone_masked,
            bank_account_masked=resident.bank_account_masked,
            address=resident.address,
            district_code=resident.district_code,
            household_no=resident.household_no,
            status=resident.status,
            died_on=resident.died_on,
            disabled=resident.disabled,
            veteran=resident.veteran,
            student=resident.student,
            low_income=resident.low_income,
            created_at=resident.created_at,
        )


class UnmaskedFields(BaseModel):
    id_number: str | None = None
    phone: str | None = None
    bank_account: str | None = None


class ResidentDetail(ResidentOut):
    """A resident read; ``unmasked`` only on an audited ``?unmask=true`` read by a clerk/admin."""

    unmasked: UnmaskedFields | None = None


class RelativeIn(BaseModel):
    relative_id: int = Field(gt=0, le=MAX_ROW_ID)
    relation: RelationType = Field(description="What the relative is to the resident")


class RelativeOut(BaseModel):
    relation: RelationType
    relative: ResidentOut


class DeathIn(BaseModel):
    died_on: dt.date


def _may_read(session: SessionDep, principal: Principal, resident_id: int) -> None:
    """Staff read anyone; a resident reads themself and their relatives."""
    if principal.is_staff:
        return
    if principal.has("resident") and principal.resident_id is not None:
        if principal.resident_id == resident_id:
            return
        if service.relation_between(session, principal.resident_id, resident_id) is not None:
            return
    raise Forbidden("you may read only your own record and those of your relatives")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ResidentOut,
    summary="Enrol a resident (参保人登记)",
)
def enrol(
    body: ResidentInput,
    session: SessionDep,
    principal: Annotated[Principal, require("clerk", "admin")],
) -> ResidentOut:
    return ResidentOut.of(service.enrol_resident(session, body, actor=principal.subject))


@router.get("", response_model=list[ResidentOut], summary="Search residents (staff)")
def search(
    session: SessionDep,
    _principal: Annotated[Principal, require("clerk", "auditor", "admin")],
    name: str | None = Query(None, max_length=64, description="Name prefix"),
    id_number: str | None = Query(None, max_length=18, description="Exact ID number"),
    district_code: str | None = Query(None, description="6-digit district code"),
    limit: int = Query(50, ge=1, le=service.SEARCH_LIMIT_MAX),
) -> list[ResidentOut]:
    found = service.search_residents(
        session, name=name, id_number=id_number, district_code=district_code, limit=limit
    )
    return [ResidentOut.of(resident) for resident in found]


@router.get("/{resident_id}", response_model=ResidentDetail, summary="Read a resident")
def read(
    resident_id: RowId,
    session: SessionDep,
    principal: PrincipalDep,
    unmask: bool = Query(False, description="Show clear personal data (clerk/admin, audited)"),
    reason: str | None = Query(None, max_length=200, description="Why (required to unmask)"),
) -> ResidentDetail:
    _may_read(session, principal, resident_id)
    resident = service.get_resident(session, resident_id)
    detail = ResidentDetail(**ResidentOut.of(resident).model_dump())
    if unmask:
        roles = sorted(principal.roles & UNMASK_ROLES)
        if not roles:
            raise Forbidden("only a clerk or an administrator may see unmasked personal data")
        if not (reason or "").strip():
            raise InvalidInput("give a reason to see unmasked personal data", field="reason")
        revealed = service.reveal(
            session, resident_id, actor=principal.subject, role=roles[0], reason=reason or ""
        )
        detail.unmasked = UnmaskedFields(**revealed)
    return detail


@router.get(
    "/{resident_id}/relatives", response_model=list[RelativeOut], summary="Relatives of a resident"
)
def list_relatives(
    resident_id: RowId, session: SessionDep, principal: PrincipalDep
) -> list[RelativeOut]:
    _may_read(session, principal, resident_id)
    return [
        RelativeOut(relation=relation, relative=ResidentOut.of(relative))
        for relative, relation in service.relatives_of(session, resident_id)
    ]


@router.post(
    "/{resident_id}/relatives",
    status_code=status.HTTP_201_CREATED,
    response_model=RelativeOut,
    summary="Record a family relation (and its inverse)",
)
def add_relative(
    resident_id: RowId,
    body: RelativeIn,
    session: SessionDep,
    principal: Annotated[Principal, require("clerk", "admin")],
) -> RelativeOut:
    service.add_relative(
        session, resident_id, body.relative_id, body.relation, actor=principal.subject
    )
    relative = service.get_resident(session, body.relative_id)
    return RelativeOut(relation=body.relation, relative=ResidentOut.of(relative))


@router.post(
    "/{resident_id}/death", response_model=ResidentOut, summary="Record a death (死亡登记)"
)
def record_death(
    resident_id: RowId,
    body: DeathIn,
    session: SessionDep,
    principal: Annotated[Principal, require("clerk", "admin")],
) -> ResidentOut:
    resident = service.record_death(session, resident_id, body.died_on, actor=principal.subject)
    return ResidentOut.of(resident)
