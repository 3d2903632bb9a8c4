"""Resident medical insurance over HTTP.

* staff (clerk/auditor/admin): packaged policies, the what-if calculator, the institution
  registry, payments recorded from external channels, refunds;
* residents: their own and their relatives' contributions, paying for a relative from their
  personal account (家庭共济), their claims with the line-by-line explanation, their filings;
* hospitals: a ``terminal`` token whose extra claim ``institution`` names the institution code
  settles, reverses and reads that institution's claims only.

Illustrative policy values are used only when the node runs as the demo (``YKT_DEMO=true``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from yikatong.api.auth import Principal, require
from yikatong.api.deps import MAX_ROW_ID, NodeDep, RowId, SessionDep
from yikatong.core.errors import Forbidden
from yikatong.core.money import format_yuan
from yikatong.medical import service
from yikatong.medical.models import (
    ClaimRecord,
    Contribution,
    Enrolment,
    FilingKind,
    Institution,
    OffsiteFiling,
    PaymentChannel,
    TransferCase,
)
from yikatong.medical.policy import MedicalPolicy, OffsiteCase, Yuan
from yikatong.medical.rules import NO_FEN, ClaimItem, ItemClass, Settlement

router = APIRouter(prefix="/api/v1/medical", tags=["medical"])

StaffDep = Annotated[Principal, require("clerk", "auditor", "admin")]

_YUAN_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d{1,13}(\.\d{1,2})?$", "examples": ["120.50"]},
        {"type": "integer", "minimum": 0},
    ],
    "description": "yuan, at most two decimals, not negative",
}
YuanIn = Annotated[Yuan, WithJsonSchema(_YUAN_SCHEMA, mode="validation")]
City = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Year = Annotated[int, PathParam(ge=2000, le=2100)]


class PolicyOut(BaseModel):
    policy: MedicalPolicy
    illustrative: list[str] = Field(description="paths of values the city has not published")


@router.get("/policies/{city}/{year}", response_model=PolicyOut)
def get_policy(city: City, year: Year, node: NodeDep, _staff: StaffDep) -> PolicyOut:
    """A city's resident medical insurance policy for one cover year (money as yuan strings,
    ratios in basis points)."""
    policy = service.policy_for(city, year, allow_illustrative=node.settings.demo)
    return PolicyOut(policy=policy, illustrative=list(policy.illustrative))


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    item_class: ItemClass = Field(alias="class", description="A 甲类, B 乙类, C 丙类")
    quantity: int = Field(ge=1, le=100_000)
    unit_price: YuanIn
    name: str = Field(default="", max_length=200)


class WhatIfIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40, examples=["qingdao"])
    year: int = Field(ge=2000, le=2100, examples=[2025])
    level: Literal[1, 2, 3] = Field(description="institution level 1, 2 or 3")
    items: list[ItemIn] = Field(min_length=1, max_length=500)
    spent_ytd: YuanIn = Field(default=NO_FEN, description="in-catalogue yuan settled this year")
    offsite: OffsiteCase | None = None
    continuous_years: int = Field(default=0, ge=0, le=100)
    personal_account: YuanIn = NO_FEN
    family_account: YuanIn = NO_FEN


class LineOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    amount: str = Field(description="yuan")
    detail: str


class PayersOut(BaseModel):
    total: str
    fund: str
    critical_illness: str
    personal_account: str
    family_account: str
    cash: str


class WhatIfOut(BaseModel):
    city: str
    year: int
    level: int
    ratio_bp: int
    payers: PayersOut
    lines: list[LineOut]
    illustrative: list[str]


def _payers(settlement: Settlement) -> PayersOut:
    return PayersOut(
        total=format_yuan(settlement.total),
        fund=format_yuan(settlement.fund),
        critical_illness=format_yuan(settlement.critical_illness),
        personal_account=format_yuan(settlement.personal_account),
        family_account=format_yuan(settlement.family_account),
        cash=format_yuan(settlement.cash),
    )


@router.post("/what-if", response_model=WhatIfOut)
def what_if(body: WhatIfIn, node: NodeDep, _staff: StaffDep) -> WhatIfOut:
    """Who pays what for a bill: fund, critical-illness insurance, accounts, cash (费用测算)."""
    result = service.what_if(
        body.city,
        body.year,
        institution_level=body.level,
        items=[
            ClaimItem(item.item_class, item.quantity, item.unit_price, item.name)
            for item in body.items
        ],
        spent_ytd=body.spent_ytd,
        offsite=body.offsite,
        continuous_years=body.continuous_years,
        personal_account=body.personal_account,
        family_account=body.family_account,
        allow_illustrative=node.settings.demo,
    )
    settlement = result.settlement
    return WhatIfOut(
        city=result.policy.city,
        year=result.policy.year,
        level=body.level,
        ratio_bp=settlement.ratio_bp,
        payers=_payers(settlement),
        lines=[
            LineOut(
                code=line.code,
                label_zh=line.label_zh,
                label_en=line.label_en,
                amount=format_yuan(line.amount),
                detail=line.detail,
            )
            for line in settlement.lines
        ],
        illustrative=list(result.policy.illustrative),
    )


# --------------------------------------------------------------------------- shared shapes

ResidentDep = Annotated[Principal, require("resident")]
ClerkDep = Annotated[Principal, require("clerk", "admin")]
HospitalDep = Annotated[Principal, require("terminal")]
ResidentRef = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
IdempotencyKey = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9:_.-]+$")]
ClaimNo = Annotated[str, PathParam(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]


class EnrolmentOut(BaseModel):
    resident_id: int
    year: int
    category: str
    amount_due: str
    subsidy: str
    paid: bool
    covered_from: dt.date | None
    cover_rule: str | None
    waiting_months: int | None
    continuous_years: int
    explanation: list[str]


class ContributionOut(BaseModel):
    id: int
    resident_id: int
    year: int
    amount: str
    channel: str
    payer_resident_id: int | None
    external_ref: str | None
    paid_on: dt.date
    status: str
    transfer_id: int
    refund_transfer_id: int | None


class PaymentOut(BaseModel):
    contribution: ContributionOut
    enrolment: EnrolmentOut
    reward: str = Field(description="critical-illness cap raised by continuous enrolment, yuan")


class ContributionsOut(BaseModel):
    enrolments: list[EnrolmentOut]
    contributions: list[ContributionOut]


def _enrolment(row: Enrolment) -> EnrolmentOut:
    return EnrolmentOut(
        resident_id=row.resident_id,
        year=row.year,
        category=row.category,
        amount_due=format_yuan(row.amount_due),
        subsidy=format_yuan(row.subsidy),
        paid=row.paid,
        covered_from=row.covered_from,
        cover_rule=row.cover_rule,
        waiting_months=row.waiting_months,
        continuous_years=row.continuous_years,
        explanation=list(row.explanation),
    )


def _contribution(row: Contribution) -> ContributionOut:
    return ContributionOut(
        id=row.id,
        resident_id=row.resident_id,
        year=row.year,
        amount=format_yuan(row.amount),
        channel=row.channel.value,
        payer_resident_id=row.payer_resident_id,
        external_ref=row.external_ref,
        paid_on=row.paid_on,
        status=row.status.value,
        transfer_id=row.transfer_id,
        refund_transfer_id=row.refund_transfer_id,
    )


def _payment(result: service.ContributionResult) -> PaymentOut:
    return PaymentOut(
        contribution=_contribution(result.contribution),
        enrolment=_enrolment(result.enrolment),
        reward=format_yuan(result.reward),
    )


class ClaimOut(BaseModel):
    id: int
    institution: str
    claim_no: str
    attempt: int
    resident_id: int
    service_date: dt.date
    level: int
    offsite_case: str | None
    status: str
    ratio_bp: int
    payers: PayersOut
    lines: list[LineOut]
    transfer_ids: list[int]


def _claim(session: SessionDep, row: ClaimRecord) -> ClaimOut:
    return ClaimOut(
        id=row.id,
        institution=service.institution_code_of(session, row),
        claim_no=row.claim_no,
        attempt=row.attempt,
        resident_id=row.resident_id,
        service_date=row.service_date,
        level=row.level,
        offsite_case=row.offsite_case,
        status=row.status.value,
        ratio_bp=row.ratio_bp,
        payers=PayersOut(
            total=format_yuan(row.total),
            fund=format_yuan(row.fund),
            critical_illness=format_yuan(row.critical_illness),
            personal_account=format_yuan(row.personal_account),
            family_account=format_yuan(row.family_account),
            cash=format_yuan(row.cash),
        ),
        lines=[
            LineOut(
                code=line["code"],
                label_zh=line["label_zh"],
                label_en=line["label_en"],
                amount=format_yuan(line["amount"]),
                detail=line["detail"],
            )
            for line in row.lines
        ],
        transfer_ids=list(row.transfer_ids),
    )


class FilingOut(BaseModel):
    id: int
    resident_id: int
    kind: str
    destination_city_code: str
    starts_on: dt.date
    ends_on: dt.date | None
    status: str
    channel: str
    renewed_from_id: int | None


def _filing(row: OffsiteFiling) -> FilingOut:
    return FilingOut(
        id=row.id,
        resident_id=row.resident_id,
        kind=row.kind.value,
        destination_city_code=row.destination_city_code,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        status=row.status.value,
        channel=row.channel,
        renewed_from_id=row.renewed_from_id,
    )


def _me(principal: Principal) -> int:
    if principal.resident_id is None:
        raise Forbidden("this token names no resident; sign in as a resident")
    return principal.resident_id


def _me_or_family(session: SessionDep, principal: Principal, resident_id: int | None) -> int:
    me = _me(principal)
    if resident_id is None or resident_id == me:
        return me
    if resident_id not in service.family_of(session, me):
        raise Forbidden(f"resident {resident_id} is not a registered relative of yours")
    return resident_id


# --------------------------------------------------------------------------- residents


@router.get("/me/contributions", response_model=ContributionsOut)
def my_contributions(
    session: SessionDep, principal: ResidentDep, resident_id: ResidentRef | None = None
) -> ContributionsOut:
    """My (or a relative's) enrolments with the cover decision explained, and payments."""
    whom = _me_or_family(session, principal, resident_id)
    return ContributionsOut(
        enrolments=[_enrolment(row) for row in service.enrolments_of(session, whom)],
        contributions=[_contribution(row) for row in service.contributions_of(session, whom)],
    )


class ResidentPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100, examples=[2025])
    tier: Literal["tier1", "tier2"] | None = Field(default=None, description="adults choose")
    resident_id: ResidentRef | None = Field(
        default=None, description="a relative to pay for, from my personal account (家庭共济)"
    )
    idempotency_key: IdempotencyKey


@router.post("/me/contributions", response_model=PaymentOut, status_code=201)
def pay_my_contribution(
    body: ResidentPaymentIn, session: SessionDep, principal: ResidentDep
) -> PaymentOut:
    """Pay my contribution from my card, or a relative's from my personal account."""
    me = _me(principal)
    for_relative = body.resident_id is not None and body.resident_id != me
    result = service.pay_contribution(
        session,
        body.resident_id if for_relative and body.resident_id else me,
        body.year,
        channel=PaymentChannel.FAMILY if for_relative else PaymentChannel.CARD,
        payer_resident_id=me if for_relative else None,
        tier=body.tier,
        idempotency_key=body.idempotency_key,
        actor=principal.subject,
    )
    return _payment(result)


@router.get("/me/claims", response_model=list[ClaimOut])
def my_claims(
    session: SessionDep, principal: ResidentDep, resident_id: ResidentRef | None = None
) -> list[ClaimOut]:
    """My (or a relative's) settled bills, each with the line-by-line explanation."""
    whom = _me_or_family(session, principal, resident_id)
    return [_claim(session, row) for row in service.claims_of(session, whom)]


class FilingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FilingKind
    destination_city_code: str = Field(pattern=r"^\d{6}$")
    starts_on: dt.date
    ends_on: dt.date | None = None
    channel: Literal["app", "phone"] = "app"


@router.get("/me/filings", response_model=list[FilingOut])
def my_filings(session: SessionDep, principal: ResidentDep) -> list[FilingOut]:
    return [_filing(row) for row in service.filings_of(session, _me(principal))]


@router.post("/me/filings", response_model=FilingOut, status_code=201)
def file_offsite(body: FilingIn, session: SessionDep, principal: ResidentDep) -> FilingOut:
    """File off-site care (异地就医备案) by app or phone."""
    filing = service.file_offsite(
        session,
        _me(principal),
        kind=body.kind,
        destination_city_code=body.destination_city_code,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        channel=body.channel,
    )
    return _filing(filing)


@router.post("/me/filings/{filing_id}/cancel", response_model=FilingOut)
def cancel_filing(filing_id: RowId, session: SessionDep, principal: ResidentDep) -> FilingOut:
    return _filing(service.cancel_filing(session, filing_id, resident_id=_me(principal)))


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ends_on: dt.date | None = None


@router.post("/me/filings/{filing_id}/renew", response_model=FilingOut, status_code=201)
def renew_filing(
    filing_id: RowId, body: RenewIn, session: SessionDep, principal: ResidentDep
) -> FilingOut:
    renewal = service.renew_filing(
        session, filing_id, ends_on=body.ends_on, resident_id=_me(principal)
    )
    return _filing(renewal)


# --------------------------------------------------------------------------- hospitals


def _institution_of(principal: Principal) -> str:
    code = principal.claims.get("institution")
    if not isinstance(code, str) or not code:
        raise Forbidden("this terminal token is bound to no institution (claim 'institution')")
    return code


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_id: ResidentRef
    claim_no: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    service_date: dt.date | None = None
    items: list[ItemIn] = Field(min_length=1, max_length=500)
    family_payer_id: ResidentRef | None = None


@router.post("/claims", response_model=ClaimOut, status_code=201)
def settle_claim(body: ClaimIn, session: SessionDep, principal: HospitalDep) -> ClaimOut:
    """Settle a bill at this institution (医保结算); the same claim number twice is a 409."""
    settled = service.settle(
        session,
        institution_code=_institution_of(principal),
        resident_id=body.resident_id,
        claim_no=body.claim_no,
        items=[ClaimItem(i.item_class, i.quantity, i.unit_price, i.name) for i in body.items],
        service_date=body.service_date,
        family_payer_id=body.family_payer_id,
        actor=principal.subject,
    )
    return _claim(session, settled.record)


@router.get("/claims/{claim_no}", response_model=ClaimOut)
def get_claim(claim_no: ClaimNo, session: SessionDep, principal: HospitalDep) -> ClaimOut:
    return _claim(session, service.get_claim(session, _institution_of(principal), claim_no))


class ReverseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)


@router.post("/claims/{claim_no}/reverse", response_model=ClaimOut)
def reverse_claim(
    claim_no: ClaimNo, body: ReverseIn, session: SessionDep, principal: HospitalDep
) -> ClaimOut:
    """Reverse a settled bill (冲正); it may then be settled again."""
    record = service.reverse_claim(
        session, _institution_of(principal), claim_no, reason=body.reason, actor=principal.subject
    )
    return _claim(session, record)


# --------------------------------------------------------------------------- staff


class InstitutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    name: str = Field(min_length=1, max_length=120)
    level: Literal[1, 2, 3]
    designated: bool
    province_direct: bool
    city_code: str | None = Field(default=None, pattern=r"^\d{6}$")


class InstitutionOut(BaseModel):
    code: str
    name: str
    level: int
    designated: bool
    province_direct: bool
    city_code: str


def _institution(row: Institution) -> InstitutionOut:
    return InstitutionOut(
        code=row.code,
        name=row.name,
        level=row.level,
        designated=row.designated,
        province_direct=row.province_direct,
        city_code=row.city_code,
    )


@router.post("/institutions", response_model=InstitutionOut, status_code=201)
def register_institution(
    body: InstitutionIn, session: SessionDep, _clerk: ClerkDep
) -> InstitutionOut:
    """Add an institution to the registry (level, designated 定点, province-wide direct)."""
    return _institution(service.register_institution(session, **body.model_dump()))


@router.get("/institutions", response_model=list[InstitutionOut])
def list_institutions(session: SessionDep, _staff: StaffDep) -> list[InstitutionOut]:
    return [_institution(row) for row in service.list_institutions(session)]


class ExternalPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_id: ResidentRef
    year: int = Field(ge=2000, le=2100)
    tier: Literal["tier1", "tier2"] | None = None
    channel: Literal["bank", "app", "tax"]
    external_ref: str = Field(min_length=1, max_length=64)
    paid_on: dt.date
    back_paid_months: int = Field(default=0, ge=0, le=1200)
    idempotency_key: IdempotencyKey


@router.post("/contributions", response_model=PaymentOut, status_code=201)
def record_external_payment(
    body: ExternalPaymentIn, session: SessionDep, principal: ClerkDep
) -> PaymentOut:
    """Record a contribution collected by a bank, an app or the tax bureau, with its reference."""
    result = service.pay_contribution(
        session,
        body.resident_id,
        body.year,
        channel=body.channel,
        tier=body.tier,
        external_ref=body.external_ref,
        paid_on=body.paid_on,
        back_paid_months=body.back_paid_months,
        idempotency_key=body.idempotency_key,
        actor=principal.subject,
    )
    return _payment(result)


@router.post("/contributions/{contribution_id}/refund", response_model=ContributionOut)
def refund_contribution(
    contribution_id: RowId, body: ReverseIn, session: SessionDep, principal: ClerkDep
) -> ContributionOut:
    """Refund a contribution (退费) by a compensating transfer."""
    refunded = service.refund_contribution(
        session, contribution_id, reason=body.reason, actor=principal.subject
    )
    return _contribution(refunded)


# --------------------------------------------------------------------------- transfers (staff)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resident_id: ResidentRef
    old_city_code: str = Field(pattern=r"^\d{6}$", description="city insured in before")


class TransferOut(BaseModel):
    id: int
    role: str
    status: str
    resident_id: int | None
    old_city_code: str
    new_city_code: str
    requested_on: dt.date
    old_city_due: dt.date
    new_city_due: dt.date | None
    end_to_end_due: dt.date
    closed_on: dt.date | None
    received_on: dt.date | None
    completed_on: dt.date | None
    covered_until: dt.date | None
    insured_years: list[int]
    overdue: list[str] = Field(description="deadlines passed, with working days late")
    explanation: list[str]


def _transfer(case: TransferCase) -> TransferOut:
    view = service.transfer_view(case)
    return TransferOut(
        id=case.id, role=case.role.value, status=case.status.value,
        resident_id=case.resident_id, old_city_code=case.old_city_code,
        new_city_code=case.new_city_code, requested_on=case.requested_on,
        old_city_due=case.old_city_due, new_city_due=case.new_city_due,
        end_to_end_due=case.end_to_end_due, closed_on=case.closed_on,
        received_on=case.received_on, completed_on=case.completed_on,
        covered_until=case.covered_until, insured_years=list(case.insured_years),
        overdue=list(view.overdue), explanation=list(case.explanation),
    )  # fmt: skip


@router.post("/transfers", response_model=TransferOut, status_code=201)
def request_transfer(body: TransferIn, session: SessionDep, principal: ClerkDep) -> TransferOut:
    """Start a transfer into this city (转入): the request packet goes to the old city."""
    case = service.request_transfer(
        session, body.resident_id, old_city_code=body.old_city_code, actor=principal.subject,
        role="clerk" if "clerk" in principal.roles else "admin",
    )  # fmt: skip
    return _transfer(case)


@router.get("/transfers", response_model=list[TransferOut])
def list_transfers(
    session: SessionDep, _staff: StaffDep, overdue: bool = False
) -> list[TransferOut]:
    """Transfers with their working-day deadlines; ``overdue=true``: only those past one."""
    return [_transfer(view.case) for view in service.list_transfers(session, overdue=overdue)]


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: RowId, session: SessionDep, _staff: StaffDep) -> TransferOut:
    return _transfer(service.get_transfer(session, transfer_id))


@router.post("/transfers/{transfer_id}/send-history", response_model=TransferOut)
def send_transfer_history(
    transfer_id: RowId, session: SessionDep, principal: ClerkDep
) -> TransferOut:
    """Old city's step (转出): close the record and send the contribution history."""
    return _transfer(service.send_transfer_history(session, transfer_id, actor=principal.subject))


@router.post("/transfers/{transfer_id}/complete", response_model=TransferOut)
def complete_transfer(transfer_id: RowId, session: SessionDep, principal: ClerkDep) -> TransferOut:
    """New city's step (转入): recognise the old city's insured years."""
    return _transfer(service.complete_transfer(session, transfer_id, actor=principal.subject))
