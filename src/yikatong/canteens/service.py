"""Elderly canteens (老年助餐): the card pays, the meal subsidy is deducted at the till.

A canteen is an acquiring merchant of kind ``canteen`` with a district; its tills are acquiring
terminals and sign their requests like any terminal. A meal is one acquiring tap priced at the
resident's part, plus the subsidy paid from the district budget to the canteen. Money flow (all
ledger transfers, each with an idempotency key)::

    funding     canteen:fiscal ──────────▶ canteen:budget:<district>    canteen:fund:<district>:<ref>
    meal        card purse ──────────────▶ merchant:<code>:acq          tap:<terminal>:<seq>
    subsidy     canteen:budget:<district> ▶ merchant:<code>:settle      canteen:subsidy:<tap id>
    reversal    the two above, compensated (tap-reversal:<tap id>, canteen:subsidy-reversal:<meal>)

The subsidy goes straight to the merchant's settlement account (what the platform owes it), so
the acquiring clearing of the card part is untouched and still reconciles.

Rules (policy file ``policies/<city>/canteens-<year>.yaml``):

- entitlement of a day = best category the resident qualifies for (age on the day from the birth
  date of the ID number; struggling (困难) status from a staff record valid on the day) + the
  canteen district's add-on;
- at most that entitlement per resident per local day over all canteens (``DailyGrant``);
- subsidy = min(price, what is left of the day's entitlement), paid from the district's budget;
  when the budget holds less, the policy's ``budget_shortfall`` decides: ``partial`` grants what
  is left (possibly nothing) and the card pays the rest, ``refuse`` declines the meal at the till
  with the reason ``subsidy-budget-short``;
- a reversal returns the card's money, the subsidy to the budget and the entitlement to the day.

Locks, always in this order: terminal → the resident's day → the district budget → ledger
accounts. A retried request (same terminal sequence) answers the first meal.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.acquiring import service as acquiring
from yikatong.canteens.models import (
    Canteen,
    CanteenBudget,
    DailyGrant,
    Meal,
    MealStatus,
    StrugglingStatus,
)
from yikatong.canteens.policy import (
    CanteenPolicy,
    Entitlement,
    entitlement,
    packaged_canteen_policy,
    subsidy_for,
)
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from yikatong.core.ids import age_on
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.registry import service as registry

__all__ = [
    "FISCAL_ACCOUNT_CODE",
    "BudgetRow",
    "Canteen",
    "CanteenBudget",
    "DailyEntitlement",
    "Meal",
    "MealStatus",
    "StrugglingStatus",
    "SubsidyReport",
    "SubsidyRow",
    "budget_account_code",
    "canteen_of_terminal",
    "entitlement_on",
    "fund_budget",
    "get_canteen",
    "get_meal",
    "grant_struggling",
    "is_struggling",
    "life_signs",
    "list_budgets",
    "list_canteens",
    "meals_of_resident",
    "open_budget",
    "policy_on",
    "register_canteen",
    "reverse_meal",
    "revoke_struggling",
    "serve_meal",
    "struggling_records",
    "subsidy_report",
]

FISCAL_ACCOUNT_CODE = "canteen:fiscal"
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
_DISTRICT = re.compile(r"^\d{6}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff()（）〔〕\[\]/-]{1,64}$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def policy_on(on: dt.date, *, allow_illustrative: bool | None = None) -> CanteenPolicy:
    """The canteen policy in force on a date for this node's city (illustrative values: demo
    only, unless ``allow_illustrative`` says otherwise)."""
    node = current_node.current()
    allow = node.settings.demo if allow_illustrative is None else allow_illustrative
    return packaged_canteen_policy(node.city_code, on, allow_illustrative=allow)


def _actor(actor: str) -> str:
    actor = actor.strip()
    if not actor:
        raise InvalidInput("say who is acting", field="actor")
    return actor[:64]


def _check_district(district_code: str) -> str:
    district_code = district_code.strip()
    city = current_node.current().city_code
    if not _DISTRICT.match(district_code) or district_code[:4] != city[:4]:
        raise InvalidInput(
            f"a district is a 6-digit GB/T 2260 code of this city ({city[:4]}xx), e.g. 370202",
            field="district",
        )
    return district_code


# --------------------------------------------------------------------------- canteens


def register_canteen(
    session: Session,
    *,
    code: str,
    name: str,
    district_code: str,
    actor: str,
    address: str | None = None,
    merchant_code: str | None = None,
) -> Canteen:
    """Register a canteen. Without ``merchant_code`` an acquiring merchant of kind ``canteen``
    with the same code is registered for it; an existing merchant must be of kind canteen."""
    code = code.strip()
    if not _CODE.match(code):
        raise InvalidInput(
            "a canteen code is 2–32 lower-case letters, digits or '-', e.g. sn-yanan-canteen",
            field="code",
        )
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("give the canteen's name (1–200 characters)", field="name")
    district_code = _check_district(district_code)
    if address is not None and not 1 <= len(address.strip()) <= 200:
        raise InvalidInput("an address is 1–200 characters", field="address")
    actor = _actor(actor)
    if session.scalar(select(Canteen.id).where(Canteen.code == code)) is not None:
        raise Conflict(f"canteen {code} already exists; list them with `ykt canteen list`")
    if merchant_code is None:
        merchant = acquiring.register_merchant(
            session, code=code, name=name, kind=acquiring.MerchantKind.CANTEEN
        )
    else:
        merchant = acquiring.get_merchant(session, merchant_code.strip())
        if merchant.kind is not acquiring.MerchantKind.CANTEEN:
            raise Conflict(
                f"merchant {merchant.code} is a {merchant.kind.value}, not a canteen; "
                "register the canteen's own merchant",
                field="merchant",
            )
        if session.scalar(select(Canteen.id).where(Canteen.merchant_id == merchant.id)):
            raise Conflict(f"merchant {merchant.code} already runs a canteen")
    canteen = Canteen(
        code=code,
        name=name,
        district_code=district_code,
        address=address.strip() if address else None,
        merchant_id=merchant.id,
        active=True,
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(canteen)
    session.flush()
    return canteen


def get_canteen(session: Session, code: str) -> Canteen:
    canteen = session.scalar(select(Canteen).where(Canteen.code == code.strip()))
    if canteen is None:
        raise NotFound(f"no canteen {code!r}; list them with `ykt canteen list`")
    return canteen


def list_canteens(session: Session, *, district_code: str | None = None) -> list[Canteen]:
    query = select(Canteen).order_by(Canteen.district_code, Canteen.code)
    if district_code is not None:
        query = query.where(Canteen.district_code == _check_district(district_code))
    return list(session.scalars(query))


def canteen_of_terminal(session: Session, terminal: acquiring.Terminal) -> Canteen:
    canteen = session.scalar(select(Canteen).where(Canteen.merchant_id == terminal.merchant_id))
    if canteen is None:
        raise Forbidden(
            f"terminal {terminal.terminal_no} does not belong to a registered canteen; "
            "meals are taken at canteen tills only"
        )
    if not canteen.active:
        raise Conflict(f"canteen {canteen.code} is closed; it cannot serve subsidised meals")
    return canteen


# --------------------------------------------------------------------------- budgets


def budget_account_code(district_code: str) -> str:
    return f"canteen:budget:{district_code}"


def _fiscal_account(session: Session) -> int:
    return ledger.open_account(
        session,
        code=FISCAL_ACCOUNT_CODE,
        kind=AccountKind.BANK,
        name="meal-subsidy appropriations 民政助餐资金",
        owner_type="canteens",
        owner_id="fiscal",
        exist_ok=True,
    ).id


def open_budget(session: Session, district_code: str) -> CanteenBudget:
    """The district's subsidy budget (opened with its ledger account on first use)."""
    district_code = _check_district(district_code)
    budget = session.scalar(
        select(CanteenBudget).where(CanteenBudget.district_code == district_code)
    )
    if budget is not None:
        return budget
    account = ledger.open_account(
        session,
        code=budget_account_code(district_code),
        kind=AccountKind.SUBSIDY_BUDGET,
        name=f"meal subsidies of district {district_code} 助餐补贴",
        owner_type="canteen_district",
        owner_id=district_code,
        exist_ok=True,
    )
    budget = CanteenBudget(
        district_code=district_code, account_id=account.id, created_at=clock.now()
    )
    session.add(budget)
    session.flush()
    return budget


def fund_budget(
    session: Session, district_code: str, *, amount: int, reference: str, actor: str
) -> int:
    """Credit a district's budget from the appropriation (拨付); returns the transfer id.

    The reference (the appropriation document) makes it idempotent.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("the amount must be positive", field="amount")
    reference = reference.strip()
    if not _REFERENCE.match(reference):
        raise InvalidInput(
            "a funding reference is 1–64 letters, digits, Chinese characters or -/()",
            field="reference",
        )
    actor = _actor(actor)
    budget = open_budget(session, district_code)
    return ledger.post_transfer(
        session,
        ledger.TransferRequest(
            idempotency_key=f"canteen:fund:{budget.district_code}:{reference}",
            debit_account_id=_fiscal_account(session),
            credit_account_id=budget.account_id,
            amount=amount,
            metadata={"district": budget.district_code, "reference": reference, "by": actor},
        ),
    ).id


@dataclass(frozen=True, slots=True)
class BudgetRow:
    district_code: str
    account_code: str
    funded: int
    granted: int  # subsidies paid out, net of reversals
    balance: int


def list_budgets(session: Session) -> list[BudgetRow]:
    rows: list[BudgetRow] = []
    for budget in session.scalars(select(CanteenBudget).order_by(CanteenBudget.district_code)):
        account = ledger.get_account(session, budget.account_id)
        rows.append(
            BudgetRow(
                district_code=budget.district_code,
                account_code=account.code,
                funded=account.credits_posted,
                granted=account.debits_posted,
                balance=account.balance,
            )
        )
    return rows


# --------------------------------------------------------------------------- struggling status


def grant_struggling(
    session: Session,
    resident_id: int,
    *,
    reference: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
    actor: str,
) -> StrugglingStatus:
    """Record that a resident is struggling (经济困难) from ``valid_from`` (to ``valid_until``)."""
    resident = registry.get_resident(session, resident_id)
    if resident.status != "active":
        raise Conflict(f"resident {resident_id} is deceased; no status can be recorded")
    reference = reference.strip()
    if not _REFERENCE.match(reference):
        raise InvalidInput(
            "give the certificate or decision number (1–64 letters, digits, -/())",
            field="reference",
        )
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput("valid_until is before valid_from", field="valid_until")
    actor = _actor(actor)
    for record in struggling_records(session, resident_id):
        if record.revoked_at is not None:
            continue
        ends = record.valid_until or dt.date.max
        if record.valid_from <= (valid_until or dt.date.max) and valid_from <= ends:
            raise Conflict(
                f"resident {resident_id} already has struggling status {record.id} over that "
                "period; revoke it first",
                record_id=record.id,
            )
    record = StrugglingStatus(
        resident_id=resident.id,
        reference=reference,
        valid_from=valid_from,
        valid_until=valid_until,
        granted_by=actor,
        granted_at=clock.now(),
    )
    session.add(record)
    session.flush()
    return record


def revoke_struggling(
    session: Session, record_id: int, *, reason: str, actor: str
) -> StrugglingStatus:
    record = session.get(StrugglingStatus, record_id)
    if record is None:
        raise NotFound(f"no struggling status record {record_id}")
    if record.revoked_at is not None:
        raise Conflict(f"struggling status {record_id} was already revoked")
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise InvalidInput("say why the status is revoked (1–200 characters)", field="reason")
    record.revoked_at = clock.now()
    record.revoked_by = _actor(actor)
    record.revoke_reason = reason
    session.flush()
    return record


def struggling_records(session: Session, resident_id: int) -> list[StrugglingStatus]:
    return list(
        session.scalars(
            select(StrugglingStatus)
            .where(StrugglingStatus.resident_id == resident_id)
            .order_by(StrugglingStatus.id)
        )
    )


def is_struggling(session: Session, resident_id: int, on: dt.date) -> bool:
    found = session.scalar(
        select(StrugglingStatus.id)
        .where(
            StrugglingStatus.resident_id == resident_id,
            StrugglingStatus.revoked_at.is_(None),
            StrugglingStatus.valid_from <= on,
            (StrugglingStatus.valid_until.is_(None)) | (StrugglingStatus.valid_until >= on),
        )
        .limit(1)
    )
    return found is not None


# --------------------------------------------------------------------------- entitlement


@dataclass(frozen=True, slots=True)
class DailyEntitlement:
    """A resident's subsidy position on a day at a canteen of a district."""

    resident_id: int
    day: dt.date
    district_code: str
    age: int
    struggling: bool
    category: str | None
    entitlement: int
    granted: int
    meals: int

    @property
    def left(self) -> int:
        return max(0, self.entitlement - self.granted)


def _entitlement_of(
    session: Session, policy: CanteenPolicy, resident_id: int, district_code: str, day: dt.date
) -> tuple[Entitlement, int, bool]:
    resident = registry.get_resident(session, resident_id)
    age = age_on(resident.birth_date, day)
    struggling = is_struggling(session, resident_id, day)
    if resident.status != "active":
        return Entitlement(None, 0), age, struggling
    return (
        entitlement(policy, age=age, struggling=struggling, district_code=district_code),
        age,
        struggling,
    )


def entitlement_on(
    session: Session,
    resident_id: int,
    district_code: str,
    *,
    day: dt.date | None = None,
    policy: CanteenPolicy | None = None,
) -> DailyEntitlement:
    """What the resident may still receive on ``day`` (default today) at a canteen in a district."""
    day = day or clock.today()
    district_code = _check_district(district_code)
    policy = policy or policy_on(day)
    granted = session.get(DailyGrant, (resident_id, day))
    ent, age, struggling = _entitlement_of(session, policy, resident_id, district_code, day)
    return DailyEntitlement(
        resident_id=resident_id,
        day=day,
        district_code=district_code,
        age=age,
        struggling=struggling,
        category=ent.category,
        entitlement=ent.daily,
        granted=granted.granted if granted else 0,
        meals=granted.meals if granted else 0,
    )


def _lock_day(session: Session, resident_id: int, day: dt.date) -> DailyGrant:
    """The resident's grant row of the day, created if missing, locked for this transaction."""
    values = {"resident_id": resident_id, "day": day, "granted": 0, "meals": 0}
    table: Any = DailyGrant.__table__
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(table).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite.insert(table).values(values).on_conflict_do_nothing())
    row = session.scalar(
        select(DailyGrant)
        .where(DailyGrant.resident_id == resident_id, DailyGrant.day == day)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def _lock_budget(session: Session, district_code: str) -> CanteenBudget | None:
    return session.scalar(
        select(CanteenBudget)
        .where(CanteenBudget.district_code == district_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --------------------------------------------------------------------------- the till


@dataclass
class _Decision:
    subsidy: int = 0
    category: str | None = None
    entitlement: int = 0
    day: DailyGrant | None = None
    budget: CanteenBudget | None = None


def serve_meal(
    session: Session,
    terminal: acquiring.Terminal,
    *,
    terminal_seq: int,
    price: int,
    card_no: str | None = None,
    qr: str | None = None,
    policy: CanteenPolicy | None = None,
) -> Meal:
    """A meal at a canteen till (助餐结算): subsidy deducted, the card pays the rest.

    The resident is identified by the physical card number or an e-SSC payment (L2) code, as
    any acquiring payment. Answers the meal: ``approved`` or ``declined`` with the acquiring
    reason code (``insufficient-funds``, ``card-lost``, ``qr-expired``…) or
    ``subsidy-budget-short``. A retry with the same terminal sequence answers the first meal.
    """
    if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
        raise InvalidInput("the meal price must be positive", field="amount")
    canteen = canteen_of_terminal(session, terminal)
    now = clock.now()
    policy = policy or policy_on(acquiring.local_date(now))
    if price > policy.max_meal_price:
        raise InvalidInput(
            f"a meal price above {policy.max_meal_price / 100:.2f} yuan is refused; "
            "check the amount keyed in",
            field="amount",
        )
    policy.district(canteen.district_code)  # refuse early when the policy lacks the district
    # The terminal lock (acquiring takes it too) makes the look-up of an earlier tap reliable.
    session.execute(
        select(acquiring.Terminal.id).where(acquiring.Terminal.id == terminal.id).with_for_update()
    )
    earlier = session.scalar(
        select(acquiring.Tap).where(
            acquiring.Tap.terminal_id == terminal.id, acquiring.Tap.terminal_seq == terminal_seq
        )
    )
    if earlier is not None:
        meal = session.scalar(select(Meal).where(Meal.tap_id == earlier.id))
        if meal is None:
            raise Conflict(
                f"terminal sequence {terminal_seq} was already used for a payment that is not a "
                "meal; use the next sequence",
                tap_id=earlier.id,
            )
        if meal.price != price:
            raise Conflict(
                f"terminal sequence {terminal_seq} was already used for a meal of "
                f"{meal.price / 100:.2f} yuan",
                meal_id=meal.id,
            )
        if card_no is not None and meal.card_no not in (None, card_no.strip().upper()):
            raise Conflict(
                f"terminal sequence {terminal_seq} was already used for another card",
                meal_id=meal.id,
            )
        return meal

    decision = _Decision()

    def price_meal(
        s: Session,
        _terminal: acquiring.Terminal,
        identity: acquiring.CardIdentity,
        at: dt.datetime,
        _details: dict[str, Any],
    ) -> acquiring.Priced:
        day = acquiring.local_date(at)
        ent, _age, _struggling = _entitlement_of(
            s, policy, identity.resident_id, canteen.district_code, day
        )
        decision.category, decision.entitlement = ent.category, ent.daily
        decision.day = _lock_day(s, identity.resident_id, day)
        left = max(0, ent.daily - decision.day.granted)
        budget_balance = 0
        if min(price, left) > 0:
            decision.budget = _lock_budget(s, canteen.district_code)
            if decision.budget is not None:
                budget_balance = ledger.balance(s, decision.budget.account_id)
        subsidy, refused = subsidy_for(policy, price=price, left_today=left, budget=budget_balance)
        if refused:
            raise acquiring.decline("subsidy-budget-short")
        decision.subsidy = subsidy
        return acquiring.Priced(
            price - subsidy,
            {"meal_price": price, "subsidy": subsidy, "category": ent.category},
        )

    tap = acquiring.authorise(
        session,
        terminal,
        terminal_seq=terminal_seq,
        card_no=card_no,
        qr=qr,
        details={"canteen": canteen.code},
        price=price_meal,
    )
    approved = tap.status is acquiring.TapStatus.APPROVED
    subsidy = decision.subsidy if approved else 0
    meal = Meal(
        tap_id=tap.id,
        canteen_id=canteen.id,
        district_code=canteen.district_code,
        resident_id=tap.resident_id,
        card_no=tap.card_no,
        served_at=tap.tapped_at,
        business_date=tap.business_date,
        month=tap.business_date.strftime("%Y-%m"),
        price=price,
        subsidy=subsidy,
        paid=tap.amount if approved else 0,
        category=decision.category,
        entitlement=decision.entitlement,
        status=MealStatus.APPROVED if approved else MealStatus.DECLINED,
        reason=tap.reason,
    )
    session.add(meal)
    if approved and subsidy > 0:
        assert decision.budget is not None and decision.day is not None
        merchant = acquiring.merchant_of(session, terminal)
        meal.subsidy_transfer_id = ledger.post_transfer(
            session,
            ledger.TransferRequest(
                idempotency_key=f"canteen:subsidy:{tap.id}",
                debit_account_id=decision.budget.account_id,
                credit_account_id=merchant.settlement_account_id,
                amount=subsidy,
                metadata={"tap": tap.id, "canteen": canteen.code, "category": decision.category},
            ),
        ).id
    if approved and decision.day is not None:
        decision.day.granted += subsidy
        decision.day.meals += 1
    session.flush()
    return meal


def get_meal(session: Session, meal_id: int) -> Meal:
    meal = session.get(Meal, meal_id)
    if meal is None:
        raise NotFound(f"no meal with id {meal_id}", meal_id=meal_id)
    return meal


def reverse_meal(session: Session, meal_id: int, *, reason: str, actor: str) -> Meal:
    """Undo a served meal (退餐): the card gets its part back, the subsidy returns to the
    district budget and the entitlement to the resident's day. Twice is refused."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 200:
        raise InvalidInput("say why the meal is reversed (1–200 characters)", field="reason")
    actor = _actor(actor)
    meal = session.scalar(select(Meal).where(Meal.id == meal_id).with_for_update())
    if meal is None:
        raise NotFound(f"no meal with id {meal_id}", meal_id=meal_id)
    if meal.status is MealStatus.REVERSED:
        raise Conflict(f"meal {meal_id} was already reversed", meal_id=meal_id)
    if meal.status is not MealStatus.APPROVED:
        raise Conflict(f"meal {meal_id} was declined; there is nothing to reverse")
    if meal.resident_id is not None:
        day = _lock_day(session, meal.resident_id, meal.business_date)
        day.granted = max(0, day.granted - meal.subsidy)
        day.meals = max(0, day.meals - 1)
    tap = acquiring.get_tap(session, meal.tap_id)
    if tap.transfer_id is not None:
        acquiring.reverse_tap(session, tap.id, reason=f"meal reversed: {reason}")
    if meal.subsidy_transfer_id is not None:
        meal.subsidy_reversal_transfer_id = ledger.reverse_transfer(
            session,
            meal.subsidy_transfer_id,
            idempotency_key=f"canteen:subsidy-reversal:{meal.id}",
            reason=reason,
        ).id
    meal.status = MealStatus.REVERSED
    meal.reversed_at = clock.now()
    meal.reversal_reason = reason
    meal.reversed_by = actor
    session.flush()
    return meal


def meals_of_resident(
    session: Session, resident_id: int, *, limit: int = 100
) -> list[tuple[Meal, Canteen]]:
    """A resident's meals, newest first, with the canteen."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    query = (
        select(Meal, Canteen)
        .join(Canteen, Canteen.id == Meal.canteen_id)
        .where(Meal.resident_id == resident_id)
        .order_by(Meal.served_at.desc(), Meal.id.desc())
        .limit(limit)
    )
    return [(meal, canteen) for meal, canteen in session.execute(query)]


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class SubsidyRow:
    month: str
    district_code: str
    canteen: str  # canteen code; "" on district and month totals
    canteen_name: str
    meals: int
    price: int
    subsidy: int
    paid: int


@dataclass(frozen=True, slots=True)
class SubsidyReport:
    """Subsidies granted (served meals, reversals excluded) by canteen, district and month."""

    by_canteen: list[SubsidyRow]
    by_district: list[SubsidyRow]
    by_month: list[SubsidyRow]


def _check_month(month: str, field: str) -> str:
    if not _MONTH.match(month):
        raise InvalidInput("a month is written YYYY-MM, e.g. 2025-03", field=field)
    return month


def subsidy_report(
    session: Session,
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    district_code: str | None = None,
) -> SubsidyReport:
    query = (
        select(
            Meal.month,
            Meal.district_code,
            Canteen.code,
            Canteen.name,
            func.count(Meal.id),
            func.sum(Meal.price),
            func.sum(Meal.subsidy),
            func.sum(Meal.paid),
        )
        .join(Canteen, Canteen.id == Meal.canteen_id)
        .where(Meal.status == MealStatus.APPROVED)
        .group_by(Meal.month, Meal.district_code, Canteen.code, Canteen.name)
        .order_by(Meal.month, Meal.district_code, Canteen.code)
    )
    if month_from is not None:
        query = query.where(Meal.month >= _check_month(month_from, "from"))
    if month_to is not None:
        query = query.where(Meal.month <= _check_month(month_to, "to"))
    if month_from and month_to and month_from > month_to:
        raise InvalidInput("the first month is after the last", field="from")
    if district_code is not None:
        query = query.where(Meal.district_code == _check_district(district_code))
    rows = [
        SubsidyRow(m, d, c, n, int(k), int(p or 0), int(s or 0), int(q or 0))
        for m, d, c, n, k, p, s, q in session.execute(query)
    ]

    def total(key: tuple[str, str], group: list[SubsidyRow]) -> SubsidyRow:
        return SubsidyRow(
            key[0],
            key[1],
            "",
            "",
            sum(r.meals for r in group),
            sum(r.price for r in group),
            sum(r.subsidy for r in group),
            sum(r.paid for r in group),
        )

    districts: dict[tuple[str, str], list[SubsidyRow]] = {}
    months: dict[tuple[str, str], list[SubsidyRow]] = {}
    for row in rows:
        districts.setdefault((row.month, row.district_code), []).append(row)
        months.setdefault((row.month, ""), []).append(row)
    return SubsidyReport(
        by_canteen=rows,
        by_district=[total(k, g) for k, g in districts.items()],
        by_month=[total(k, g) for k, g in months.items()],
    )


def life_signs(session: Session, *, since: dt.date, until: dt.date) -> list[tuple[int, dt.date]]:
    """(resident, latest local day) of the meals served (not declined) at elderly canteens:
    evidence of life for qualification certification (资格认证)."""
    meal = Meal
    query = (
        select(meal.resident_id, func.max(meal.business_date))
        .where(
            meal.resident_id.is_not(None),
            meal.status.in_([MealStatus.APPROVED, MealStatus.REVERSED]),
            meal.business_date >= since,
            meal.business_date <= until,
        )
        .group_by(meal.resident_id)
    )
    return [(int(rid), day) for rid, day in session.execute(query) if rid is not None and day]
