"""HTTP API of pension transfer (养老保险关系转移) for staff.

Clerks record contribution years, open cases, do this city's steps and exchange packet files;
auditors read the transfer ledger (转移台账). Amounts come in as yuan strings and go out as fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field

from yikatong.api.auth import Principal, require
from yikatong.api.deps import MAX_ROW_ID, RowId, SessionDep
from yikatong.core import clock
from yikatong.core.errors import InvalidInput
from yikatong.core.money import parse_yuan
from yikatong.pensions import rules, service
from yikatong.pensions.models import PensionContribution, PensionRole, PensionTransfer, TransferStep

router = APIRouter(prefix="/api/v1/pension-transfers", tags=["pension transfer"])

ClerkDep = Annotated[Principal, require("clerk", "admin")]
StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]
Yuan = Annotated[str, Field(max_length=24, examples=["6000.00"])]
CityCode = Annotated[str, Field(pattern=r"^\d{6}$", examples=["370600"])]


def _yuan(text: str, field: str, *, positive: bool) -> int:
    amount = parse_yuan(text, field=field)
    if amount < 0 or (positive and amount == 0):
        raise InvalidInput("the amount must be positive", field=field)
    return amount


class ContributionIn(BaseModel):
    resident_id: int = Field(ge=1, le=MAX_ROW_ID)
    year: int = Field(ge=1950, le=2100)
    months: int = Field(ge=1, le=12)
    monthly_base: Yuan = Field(description="Monthly contribution wage base (缴费工资基数), yuan")


class ContributionOut(BaseModel):
    year: int
    months: int
    monthly_base: int
    city_code: str
    credited: int = Field(description="Individual-account credit posted for the year, fen")
    transfer_case_ref: str | None

    @classmethod
    def of(cls, row: PensionContribution) -> ContributionOut:
        return cls(
            year=row.year,
            months=row.months,
            monthly_base=row.monthly_base,
            city_code=row.city_code,
            credited=row.credited,
            transfer_case_ref=row.transfer_case_ref,
        )


class OpenIn(BaseModel):
    resident_id: int = Field(ge=1, le=MAX_ROW_ID)
    role: PensionRole = Field(description="This city's side: old_city (转出) or new_city (转入)")
    other_city_code: CityCode


class AdvanceIn(BaseModel):
    hukou_city_code: CityCode | None = Field(
        default=None, description="Household registration place; needed for the contact letter"
    )


class YearIn(BaseModel):
    year: int = Field(ge=1950, le=2100)
    months: int = Field(ge=1, le=12)
    monthly_base: Yuan
    city_code: CityCode


class FundIn(BaseModel):
    individual_account: Yuan = Field(description="Individual account balance, yuan")
    years: list[YearIn] = Field(max_length=80)


class FundOut(BaseModel):
    individual_account: int
    pooled: int
    total: int
    explanation: str


class CaseOut(BaseModel):
    id: int
    case_ref: str
    role: PensionRole
    step: TransferStep
    step_label: str
    resident_id: int
    old_city_code: str
    new_city_code: str
    opened_on: dt.date
    due_on: dt.date | None
    owing_city: str | None
    ours: bool
    working_days_left: int | None
    overdue: bool
    alert: str | None
    certificate_on: dt.date | None
    letter_on: dt.date | None
    sheet_on: dt.date | None
    receipt_on: dt.date | None
    years: list[dict[str, Any]]
    individual_account: int | None
    pooled: int | None
    hukou_city_code: str | None
    temporary: bool | None
    paying_city_code: str | None
    transfer_ids: list[int]
    history: list[str]

    @classmethod
    def of(cls, row: service.LedgerRow) -> CaseOut:
        case: PensionTransfer = row.case
        return cls(
            id=case.id,
            case_ref=case.case_ref,
            role=case.role,
            step=case.step,
            step_label=case.step.label,
            resident_id=case.resident_id,
            old_city_code=case.old_city_code,
            new_city_code=case.new_city_code,
            opened_on=case.opened_on,
            due_on=case.due_on,
            owing_city=row.owing_city,
            ours=row.ours,
            working_days_left=row.working_days_left,
            overdue=row.overdue,
            alert=row.alert,
            certificate_on=case.certificate_on,
            letter_on=case.letter_on,
            sheet_on=case.sheet_on,
            receipt_on=case.receipt_on,
            years=list(case.years),
            individual_account=case.individual_account,
            pooled=case.pooled,
            hukou_city_code=case.hukou_city_code,
            temporary=case.temporary,
            paying_city_code=case.paying_city_code,
            transfer_ids=list(case.transfer_ids),
            history=list(case.history),
        )


class ImportOut(BaseModel):
    sender: str
    applied: list[str]
    unchanged: list[str]
    refused: list[dict[str, str]]


def _staff_role(principal: Principal) -> str:
    return "clerk" if principal.has("clerk") else "admin"


def _view(case: PensionTransfer) -> CaseOut:
    return CaseOut.of(service.ledger_row(case, clock.today()))


@router.post("/contributions", status_code=status.HTTP_201_CREATED)
def record_contribution(
    body: ContributionIn, session: SessionDep, principal: ClerkDep
) -> ContributionOut:
    """Record a year of contributions paid here; the individual account is credited."""
    row = service.record_contribution(
        session,
        body.resident_id,
        year=body.year,
        months=body.months,
        monthly_base=_yuan(body.monthly_base, "monthly_base", positive=True),
        actor=principal.subject,
    )
    return ContributionOut.of(row)


@router.get("/residents/{resident_id}/contributions")
def contributions(resident_id: RowId, session: SessionDep, _: StaffDep) -> list[ContributionOut]:
    return [ContributionOut.of(r) for r in service.contributions_of(session, resident_id)]


@router.post("/fund-calculation")
def fund_calculation(body: FundIn, _: StaffDep) -> FundOut:
    """The fund that would move for a record: individual account + 12 % pooled part by month."""
    years = [
        rules.ContributionYear(
            y.year, y.months, _yuan(y.monthly_base, "monthly_base", positive=False), y.city_code
        )
        for y in body.years
    ]
    fund = service.fund_figure(
        _yuan(body.individual_account, "individual_account", positive=False), years
    )
    return FundOut(
        individual_account=fund.individual_account,
        pooled=fund.pooled,
        total=fund.total,
        explanation=fund.explain(),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def open_case(body: OpenIn, session: SessionDep, principal: ClerkDep) -> CaseOut:
    """Open a transfer case; the other city learns of it through the outbox."""
    case = service.open_transfer(
        session,
        body.resident_id,
        role=body.role,
        other_city_code=body.other_city_code,
        actor=principal.subject,
        staff_role=_staff_role(principal),
    )
    return _view(case)


@router.get("")
def transfer_ledger(
    session: SessionDep,
    _: StaffDep,
    overdue: Annotated[bool, Query(description="Only cases past their deadline")] = False,
    open_only: Annotated[bool, Query(alias="open", description="Only unfinished cases")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[CaseOut]:
    """The transfer ledger (转移台账): step, deadline, working days left, overdue alert."""
    rows = service.transfer_ledger(session, overdue_only=overdue, open_only=open_only, limit=limit)
    return [CaseOut.of(r) for r in rows]


@router.get("/{case_id}")
def get_case(case_id: RowId, session: SessionDep, _: StaffDep) -> CaseOut:
    return _view(service.get_case(session, case_id))


@router.post("/{case_id}/advance")
def advance(
    case_id: RowId, session: SessionDep, principal: ClerkDep, body: AdvanceIn | None = None
) -> CaseOut:
    """Do this city's current step (certificate, contact letter, sheet + fund, or receipt)."""
    case = service.advance(
        session,
        case_id,
        actor=principal.subject,
        staff_role=_staff_role(principal),
        hukou_city_code=body.hukou_city_code if body else None,
    )
    return _view(case)


@router.post("/packets/export")
def export_packet(
    session: SessionDep,
    principal: ClerkDep,
    receiver: Annotated[str, Query(pattern=r"^\d{6}$", description="The other city")],
) -> dict[str, Any]:
    """A signed packet of the unfinished cases shared with ``receiver`` (未结业务数据包)."""
    return service.export_packet(
        session,
        receiver,
        actor=principal.subject,
        staff_role=_staff_role(principal),
    )


@router.post("/packets/import")
def import_packet(
    session: SessionDep, _: ClerkDep, packet: Annotated[dict[str, Any], Body()]
) -> ImportOut:
    """Verify and apply another city's packet; cases that cannot apply are listed as refused."""
    report = service.import_packet(session, packet)
    return ImportOut(
        sender=report.sender,
        applied=report.applied,
        unchanged=report.unchanged,
        refused=[{"case_ref": ref, "reason": why} for ref, why in report.refused],
    )
