"""HTTP API of labour-capacity appraisal (劳动能力鉴定) for staff: the expert pool, cases,
panel draws, signed conclusions, delegation and conclusions recognised from other cities."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import MAX_ROW_ID, RowId, SessionDep
from yikatong.appraisal import service
from yikatong.appraisal.models import (
    AppraisalCase,
    CaseStatus,
    Expert,
    PanelSeat,
    RecognisedConclusion,
    SeatStatus,
)
from yikatong.appraisal.policy import AppraisalKind, InjuryCategory

router = APIRouter(prefix="/api/v1/appraisal", tags=["labour-capacity appraisal"])

ClerkDep = Annotated[Principal, require("clerk", "admin")]
StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]
CityCode = Annotated[str, Field(pattern=r"^\d{6}$", examples=["370600"])]


def _staff_role(principal: Principal) -> str:
    return "clerk" if principal.has("clerk") else "admin"


class ExpertIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, examples=["QD-031"])
    name: str = Field(min_length=1, max_length=64)
    city_code: CityCode
    employer: str = Field(min_length=1, max_length=100, examples=["青岛大学附属医院"])
    specialities: list[str] = Field(min_length=1, max_length=8, examples=[["骨科"]])
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)


class ExpertOut(BaseModel):
    id: int
    code: str
    name: str
    city_code: str
    employer: str
    specialities: list[str]
    resident_id: int | None
    active: bool

    @classmethod
    def of(cls, e: Expert) -> ExpertOut:
        return cls(
            id=e.id,
            code=e.code,
            name=e.name,
            city_code=e.city_code,
            employer=e.employer,
            specialities=list(e.specialities),
            resident_id=e.resident_id,
            active=e.active,
        )


class PublishIn(BaseModel):
    receivers: list[CityCode] = Field(min_length=1, max_length=20)


class PublishOut(BaseModel):
    experts: int
    receivers: list[str]


class ActiveIn(BaseModel):
    active: bool


class ConflictIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ROW_ID)
    employer: str | None = Field(default=None, min_length=1, max_length=100)


class ConflictOut(BaseModel):
    id: int
    expert_id: int
    resident_id: int | None
    employer: str | None
    reason: str


class CaseIn(BaseModel):
    resident_id: int = Field(ge=1, le=MAX_ROW_ID)
    kind: AppraisalKind
    category: InjuryCategory
    employer: str = Field(min_length=1, max_length=100)


class SeatOut(BaseModel):
    seat_no: int
    round: int
    speciality: str
    expert_id: int
    status: SeatStatus
    decline_reason: str | None
    candidates: list[int]
    excluded: dict[str, str]

    @classmethod
    def of(cls, s: PanelSeat) -> SeatOut:
        return cls(
            seat_no=s.seat_no,
            round=s.round,
            speciality=s.speciality,
            expert_id=s.expert_id,
            status=s.status,
            decline_reason=s.decline_reason,
            candidates=list(s.candidates),
            excluded=dict(s.excluded),
        )


class CaseOut(BaseModel):
    id: int
    case_ref: str
    kind: AppraisalKind
    category: InjuryCategory
    status: CaseStatus
    resident_id: int
    employer: str
    opened_on: dt.date
    delegated_from: str | None
    delegated_to: str | None
    seed: str | None
    grade: str | None
    concluded_on: dt.date | None
    concluded_by_city: str | None
    conclusion: dict[str, Any] | None
    history: list[str]

    @classmethod
    def of(cls, c: AppraisalCase) -> CaseOut:
        return cls(
            id=c.id,
            case_ref=c.case_ref,
            kind=c.kind,
            category=c.category,
            status=c.status,
            resident_id=c.resident_id,
            employer=c.employer,
            opened_on=c.opened_on,
            delegated_from=c.delegated_from,
            delegated_to=c.delegated_to,
            seed=c.seed,
            grade=c.grade,
            concluded_on=c.concluded_on,
            concluded_by_city=c.concluded_by_city,
            conclusion=c.conclusion,
            history=list(c.history),
        )


class DrawIn(BaseModel):
    seed: str | None = Field(default=None, min_length=1, max_length=64)


class DeclineIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class ConcludeIn(BaseModel):
    grade: str = Field(min_length=1, max_length=16, examples=["7", "none", "partial"])


class DelegateIn(BaseModel):
    to_city: CityCode


class VerifyDrawOut(BaseModel):
    reproducible: bool
    problems: list[str]


class VerifiedOut(BaseModel):
    case_ref: str
    city_code: str
    kind: AppraisalKind
    grade: str
    concluded_on: dt.date
    id_masked: str
    key_id: str


class RecognisedOut(BaseModel):
    case_ref: str
    city_code: str
    grade: str
    id_masked: str
    received_at: dt.datetime

    @classmethod
    def of(cls, r: RecognisedConclusion) -> RecognisedOut:
        return cls(
            case_ref=r.case_ref,
            city_code=r.city_code,
            grade=r.grade,
            id_masked=r.id_masked,
            received_at=r.received_at,
        )


@router.post("/experts", status_code=status.HTTP_201_CREATED)
def add_expert(body: ExpertIn, session: SessionDep, principal: ClerkDep) -> ExpertOut:
    """Add an expert to the shared pool."""
    expert = service.add_expert(
        session,
        code=body.code,
        name=body.name,
        city_code=body.city_code,
        employer=body.employer,
        specialities=body.specialities,
        resident_id=body.resident_id,
        actor=principal.subject,
    )
    return ExpertOut.of(expert)


@router.get("/experts")
def list_experts(
    session: SessionDep,
    _: StaffDep,
    speciality: Annotated[str | None, Query(max_length=32)] = None,
    city_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> list[ExpertOut]:
    experts = service.list_experts(session, speciality=speciality, city_code=city_code)
    return [ExpertOut.of(e) for e in experts]


@router.post("/experts/publish")
def publish_pool(body: PublishIn, session: SessionDep, _: ClerkDep) -> PublishOut:
    """Send this city's experts to other cities of the league (专家库共享)."""
    count = service.publish_pool(session, body.receivers)
    return PublishOut(experts=count, receivers=sorted(set(body.receivers)))


@router.put("/experts/{expert_id}/active")
def set_active(expert_id: RowId, body: ActiveIn, session: SessionDep, _: ClerkDep) -> ExpertOut:
    return ExpertOut.of(service.set_expert_active(session, expert_id, body.active))


@router.post("/experts/{expert_id}/conflicts", status_code=status.HTTP_201_CREATED)
def declare_conflict(
    expert_id: RowId, body: ConflictIn, session: SessionDep, _: ClerkDep
) -> ConflictOut:
    """Record a conflict the expert declared (with a person or an employer)."""
    c = service.declare_conflict(
        session, expert_id, reason=body.reason, resident_id=body.resident_id, employer=body.employer
    )
    return ConflictOut(
        id=c.id,
        expert_id=c.expert_id,
        resident_id=c.resident_id,
        employer=c.employer,
        reason=c.reason,
    )


@router.post("/cases", status_code=status.HTTP_201_CREATED)
def open_case(body: CaseIn, session: SessionDep, principal: ClerkDep) -> CaseOut:
    case = service.open_case(
        session,
        body.resident_id,
        kind=body.kind,
        category=body.category,
        employer=body.employer,
        actor=principal.subject,
    )
    return CaseOut.of(case)


@router.get("/cases")
def list_cases(
    session: SessionDep,
    _: StaffDep,
    status_filter: Annotated[CaseStatus | None, Query(alias="status")] = None,
) -> list[CaseOut]:
    return [CaseOut.of(c) for c in service.list_cases(session, status=status_filter)]


@router.get("/cases/{case_id}")
def get_case(case_id: RowId, session: SessionDep, _: StaffDep) -> CaseOut:
    return CaseOut.of(service.get_case(session, case_id))


@router.get("/cases/{case_id}/seats")
def seats(case_id: RowId, session: SessionDep, _: StaffDep) -> list[SeatOut]:
    """Every draw of the case's panel, declined ones included."""
    service.get_case(session, case_id)
    return [SeatOut.of(s) for s in service.seats_of(session, case_id)]


@router.post("/cases/{case_id}/draw")
def draw(
    case_id: RowId, session: SessionDep, principal: ClerkDep, body: DrawIn | None = None
) -> list[SeatOut]:
    """Draw the panel at random (seeded, recorded, reproducible)."""
    seats = service.draw_panel(
        session, case_id, actor=principal.subject, seed=body.seed if body else None
    )
    return [SeatOut.of(s) for s in seats]


@router.post("/cases/{case_id}/seats/{seat_no}/decline")
def decline(
    case_id: RowId,
    seat_no: Annotated[int, Path(ge=1, le=9, description="Seat number")],
    body: DeclineIn,
    session: SessionDep,
    principal: ClerkDep,
) -> SeatOut:
    """The seated expert declines; the seat is drawn again without them."""
    seat = service.decline_seat(
        session, case_id, seat_no, reason=body.reason, actor=principal.subject
    )
    return SeatOut.of(seat)


@router.get("/cases/{case_id}/draw-check")
def verify_draw(case_id: RowId, session: SessionDep, _: StaffDep) -> VerifyDrawOut:
    """Replay the recorded draws from the seed."""
    problems = service.verify_draw(session, case_id)
    return VerifyDrawOut(reproducible=not problems, problems=problems)


@router.post("/cases/{case_id}/conclusion")
def conclude(case_id: RowId, body: ConcludeIn, session: SessionDep, principal: ClerkDep) -> CaseOut:
    """Record the panel's grade as a conclusion signed with this city's key."""
    case = service.conclude(
        session,
        case_id,
        grade=body.grade,
        actor=principal.subject,
        staff_role=_staff_role(principal),
    )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/delegate")
def delegate(case_id: RowId, body: DelegateIn, session: SessionDep, principal: ClerkDep) -> CaseOut:
    """Delegate the case to the city where the person lives."""
    case = service.delegate(
        session,
        case_id,
        to_city=body.to_city,
        actor=principal.subject,
        staff_role=_staff_role(principal),
    )
    return CaseOut.of(case)


@router.post("/conclusions/verify")
def verify_conclusion(_: StaffDep, document: Annotated[dict[str, Any], Body()]) -> VerifiedOut:
    """Verify a signed conclusion of any trusted city (nothing is recorded)."""
    v = service.verify_conclusion(document, service.trust_list())
    return VerifiedOut(
        case_ref=v.case_ref,
        city_code=v.city_code,
        kind=v.kind,
        grade=v.grade,
        concluded_on=v.concluded_on,
        id_masked=v.id_masked,
        key_id=v.key_id,
    )


@router.post("/conclusions", status_code=status.HTTP_201_CREATED)
def recognise(
    session: SessionDep, principal: ClerkDep, document: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Verify and recognise another city's conclusion (结论互认)."""
    outcome = service.recognise_conclusion(
        session, document, received_from=f"staff:{principal.subject}"
    )
    if isinstance(outcome, AppraisalCase):
        return {"case": CaseOut.of(outcome).model_dump(mode="json")}
    return {"recognised": RecognisedOut.of(outcome).model_dump(mode="json")}


@router.get("/conclusions")
def recognised(session: SessionDep, _: StaffDep) -> list[RecognisedOut]:
    return [RecognisedOut.of(r) for r in service.recognised_conclusions(session)]
