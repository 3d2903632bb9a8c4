"""HTTP API of elderly canteens (老年助餐).

Three faces: the till (``/api/v1/terminal/canteen-meals``, signed by an acquiring terminal of
the canteen, like any terminal request); staff (``/api/v1/canteens/…``: canteens, district
budgets, struggling status, reversals, reports); residents (``/api/v1/canteens/my/…``).
Amounts come in as yuan strings and go out as integer fen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from yikatong.acquiring.api import SIGNED, Presented, as_terminal
from yikatong.acquiring.models import Terminal
from yikatong.api.auth import Principal, current_principal, require
from yikatong.api.deps import MAX_ROW_ID, RowId, SessionDep
from yikatong.canteens import service
from yikatong.canteens.models import Canteen, Meal, StrugglingStatus
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.core.money import parse_yuan

router = APIRouter(tags=["canteens"])

PrincipalDep = Annotated[Principal, Depends(current_principal)]
_READ = require("clerk", "auditor", "admin")
_OPERATE = require("clerk", "admin")
_WRITE = require("admin")
_STAFF = ("clerk", "auditor", "admin")
_DISTRICT = r"^\d{6}$"
_MONTH = r"^\d{4}-\d{2}$"


# --------------------------------------------------------------------------- shapes


class MealOut(BaseModel):
    meal_id: int
    tap_id: int
    decision: str = Field(description="approve or decline")
    status: str
    reason: str = Field(description="ok, or the decline reason code")
    canteen: str
    district: str
    card_no: str | None
    served_at: dt.datetime
    price: int = Field(description="fen")
    subsidy: int = Field(description="fen granted from the district budget")
    paid: int = Field(description="fen charged to the card")
    category: str | None
    entitlement: int = Field(description="the day's entitlement at this canteen, fen")

    @classmethod
    def of(cls, meal: Meal, canteen_code: str) -> MealOut:
        return cls(
            meal_id=meal.id,
            tap_id=meal.tap_id,
            decision="approve" if meal.status.value == "approved" else "decline",
            status=meal.status.value,
            reason=meal.reason,
            canteen=canteen_code,
            district=meal.district_code,
            card_no=meal.card_no,
            served_at=meal.served_at,
            price=meal.price,
            subsidy=meal.subsidy,
            paid=meal.paid,
            category=meal.category,
            entitlement=meal.entitlement,
        )


class MealIn(Presented):
    amount: str = Field(max_length=24, examples=["12.00"], description="meal price in yuan")


# --------------------------------------------------------------------------- till


@router.post("/api/v1/terminal/canteen-meals", response_model=MealOut, dependencies=[SIGNED])
async def serve(request: Request, body: MealIn) -> MealOut:
    """A meal at a canteen till: the subsidy is deducted, the card pays the rest."""

    def work(session: Session, terminal: Terminal) -> MealOut:
        price = parse_yuan(body.amount, field="amount")
        meal = service.serve_meal(
            session,
            terminal,
            terminal_seq=body.terminal_seq,
            price=price,
            card_no=body.card_no,
            qr=body.qr,
        )
        canteen = session.get(Canteen, meal.canteen_id)
        assert canteen is not None
        return MealOut.of(meal, canteen.code)

    return await as_terminal(request, work)


# --------------------------------------------------------------------------- canteens


class CanteenIn(BaseModel):
    code: str = Field(min_length=2, max_length=32, examples=["sn-yanan-canteen"])
    name: str = Field(min_length=1, max_length=200, examples=["延安路街道长者食堂"])
    district: str = Field(pattern=_DISTRICT, examples=["370202"])
    address: str | None = Field(default=None, min_length=1, max_length=200)
    merchant: str | None = Field(
        default=None,
        min_length=2,
        max_length=32,
        description="an existing acquiring merchant of kind canteen; omitted: one is registered",
    )


class CanteenOut(BaseModel):
    id: int
    code: str
    name: str
    district: str
    address: str | None
    merchant_id: int
    active: bool

    @classmethod
    def of(cls, canteen: Canteen) -> CanteenOut:
        return cls(
            id=canteen.id,
            code=canteen.code,
            name=canteen.name,
            district=canteen.district_code,
            address=canteen.address,
            merchant_id=canteen.merchant_id,
            active=canteen.active,
        )


@router.post("/api/v1/canteens", status_code=status.HTTP_201_CREATED, response_model=CanteenOut)
def add_canteen(body: CanteenIn, session: SessionDep, who: Principal = _WRITE) -> CanteenOut:
    """Register a canteen (and its acquiring merchant); its tills are registered as terminals."""
    canteen = service.register_canteen(
        session,
        code=body.code,
        name=body.name,
        district_code=body.district,
        address=body.address,
        merchant_code=body.merchant,
        actor=who.subject,
    )
    return CanteenOut.of(canteen)


@router.get("/api/v1/canteens", response_model=list[CanteenOut])
def canteens(
    session: SessionDep,
    _: PrincipalDep,
    district: Annotated[str | None, Query(pattern=_DISTRICT)] = None,
) -> list[CanteenOut]:
    """Canteens, by district (any signed-in user: residents look for one nearby)."""
    return [CanteenOut.of(c) for c in service.list_canteens(session, district_code=district)]


# --------------------------------------------------------------------------- budgets


class FundingIn(BaseModel):
    amount: str = Field(max_length=24, examples=["200000.00"], description="yuan")
    reference: str = Field(min_length=1, max_length=64, examples=["青民拨〔2025〕12号"])


class BudgetOut(BaseModel):
    district: str
    account: str
    funded: int
    granted: int
    balance: int


def _budget_out(session: SessionDep, district: str) -> BudgetOut:
    for row in service.list_budgets(session):
        if row.district_code == district:
            return BudgetOut(
                district=row.district_code,
                account=row.account_code,
                funded=row.funded,
                granted=row.granted,
                balance=row.balance,
            )
    raise AssertionError("the budget was just opened")


@router.post("/api/v1/canteens/budgets/{district}/funding", response_model=BudgetOut)
def fund(
    district: Annotated[str, Path(pattern=_DISTRICT)],
    body: FundingIn,
    session: SessionDep,
    who: Principal = _WRITE,
) -> BudgetOut:
    """Credit a district's meal-subsidy budget (拨付); the reference makes it idempotent."""
    amount = parse_yuan(body.amount, field="amount")
    service.fund_budget(
        session, district, amount=amount, reference=body.reference, actor=who.subject
    )
    return _budget_out(session, district)


@router.get("/api/v1/canteens/budgets", response_model=list[BudgetOut])
def budgets(session: SessionDep, _: Principal = _READ) -> list[BudgetOut]:
    return [
        BudgetOut(
            district=r.district_code,
            account=r.account_code,
            funded=r.funded,
            granted=r.granted,
            balance=r.balance,
        )
        for r in service.list_budgets(session)
    ]


# --------------------------------------------------------------------------- struggling status


class StrugglingIn(BaseModel):
    resident_id: int = Field(ge=1, le=MAX_ROW_ID)
    reference: str = Field(min_length=1, max_length=64, examples=["低保证370202-0012"])
    valid_from: dt.date
    valid_until: dt.date | None = None


class StrugglingOut(BaseModel):
    id: int
    resident_id: int
    reference: str
    valid_from: dt.date
    valid_until: dt.date | None
    granted_by: str
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, record: StrugglingStatus) -> StrugglingOut:
        return cls.model_validate(record, from_attributes=True)


@router.post(
    "/api/v1/canteens/struggling",
    status_code=status.HTTP_201_CREATED,
    response_model=StrugglingOut,
)
def grant_struggling(
    body: StrugglingIn, session: SessionDep, who: Principal = _OPERATE
) -> StrugglingOut:
    """Record a resident's struggling status (经济困难), which opens the higher subsidy."""
    record = service.grant_struggling(
        session,
        body.resident_id,
        reference=body.reference,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        actor=who.subject,
    )
    return StrugglingOut.of(record)


class RevocationIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/api/v1/canteens/struggling/{record_id}/revocation", response_model=StrugglingOut)
def revoke_struggling(
    record_id: RowId, body: RevocationIn, session: SessionDep, who: Principal = _OPERATE
) -> StrugglingOut:
    record = service.revoke_struggling(session, record_id, reason=body.reason, actor=who.subject)
    return StrugglingOut.of(record)


@router.get("/api/v1/canteens/struggling", response_model=list[StrugglingOut])
def struggling(
    session: SessionDep,
    resident_id: Annotated[int, Query(ge=1, le=MAX_ROW_ID)],
    _: Principal = _READ,
) -> list[StrugglingOut]:
    return [StrugglingOut.of(r) for r in service.struggling_records(session, resident_id)]


# --------------------------------------------------------------------------- meals


def _resident_of(principal: Principal, resident_id: int | None) -> int:
    """Residents see their own meals only; staff name the resident."""
    if principal.has(*_STAFF):
        if resident_id is None:
            raise InvalidInput("staff name the resident (resident_id)", field="resident_id")
        return resident_id
    if principal.has("resident") and principal.resident_id is not None:
        if resident_id not in (None, principal.resident_id):
            raise Forbidden("you can see your own meals only")
        return principal.resident_id
    raise Forbidden("meals are shown to the resident and to staff")


@router.get("/api/v1/canteens/my/meals", response_model=list[MealOut])
def my_meals(
    session: SessionDep,
    principal: PrincipalDep,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MealOut]:
    """The resident's meals (我的助餐记录), newest first."""
    rid = _resident_of(principal, resident_id)
    return [
        MealOut.of(meal, canteen.code)
        for meal, canteen in service.meals_of_resident(session, rid, limit=limit)
    ]


class EntitlementOut(BaseModel):
    resident_id: int
    day: dt.date
    district: str
    age: int
    struggling: bool
    category: str | None
    entitlement: int
    granted: int
    left: int
    meals: int


@router.get("/api/v1/canteens/my/entitlement", response_model=EntitlementOut)
def my_entitlement(
    session: SessionDep,
    principal: PrincipalDep,
    district: Annotated[str, Query(pattern=_DISTRICT)],
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> EntitlementOut:
    """Today's subsidy at a canteen of a district: entitlement, granted, left."""
    rid = _resident_of(principal, resident_id)
    ent = service.entitlement_on(session, rid, district)
    return EntitlementOut(
        resident_id=ent.resident_id,
        day=ent.day,
        district=ent.district_code,
        age=ent.age,
        struggling=ent.struggling,
        category=ent.category,
        entitlement=ent.entitlement,
        granted=ent.granted,
        left=ent.left,
        meals=ent.meals,
    )


class MealReversalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.post("/api/v1/canteens/meals/{meal_id}/reversal", response_model=MealOut)
def reverse(
    meal_id: RowId, body: MealReversalIn, session: SessionDep, who: Principal = _OPERATE
) -> MealOut:
    """Undo a meal (退餐): the card's money, the subsidy and the day's entitlement return."""
    meal = service.reverse_meal(session, meal_id, reason=body.reason, actor=who.subject)
    canteen = session.get(Canteen, meal.canteen_id)
    assert canteen is not None
    return MealOut.of(meal, canteen.code)


# --------------------------------------------------------------------------- reports


class SubsidyRowOut(BaseModel):
    month: str
    district: str
    canteen: str
    canteen_name: str
    meals: int
    price: int
    subsidy: int
    paid: int


class SubsidyReportOut(BaseModel):
    by_canteen: list[SubsidyRowOut]
    by_district: list[SubsidyRowOut]
    by_month: list[SubsidyRowOut]


@router.get("/api/v1/canteens/reports/subsidies", response_model=SubsidyReportOut)
def subsidy_report(
    session: SessionDep,
    month_from: Annotated[str | None, Query(alias="from", pattern=_MONTH)] = None,
    month_to: Annotated[str | None, Query(alias="to", pattern=_MONTH)] = None,
    district: Annotated[str | None, Query(pattern=_DISTRICT)] = None,
    _: Principal = _READ,
) -> SubsidyReportOut:
    """Subsidies granted by canteen, district and month (served meals, reversals excluded)."""
    report = service.subsidy_report(
        session, month_from=month_from, month_to=month_to, district_code=district
    )

    def rows(items: list[service.SubsidyRow]) -> list[SubsidyRowOut]:
        return [
            SubsidyRowOut(
                month=r.month,
                district=r.district_code,
                canteen=r.canteen,
                canteen_name=r.canteen_name,
                meals=r.meals,
                price=r.price,
                subsidy=r.subsidy,
                paid=r.paid,
            )
            for r in items
        ]

    return SubsidyReportOut(
        by_canteen=rows(report.by_canteen),
        by_district=rows(report.by_district),
        by_month=rows(report.by_month),
    )
