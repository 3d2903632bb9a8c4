"""Use cases of resident medical insurance that other domains, the API and the CLI call.

Policies come from the packaged files (``medical.policy``); amounts and dates are decided by the
pure rules in ``medical.rules``; this module stores what they decided and moves the money through
the ledger. The policy of the node's own city is used, illustrative values only in the demo.

Ledger accounts (opened on first use, per city ``c``):

* ``medical:fund:<c>`` pooling fund (统筹基金): receives contributions, pays the fund share;
* ``medical:ci:<c>`` critical-illness insurance (大病保险): pays its share;
* ``medical:pa:<resident id>`` an employee's personal account (职工医保个人账户), no overdraft;
* ``medical:cash:<c>`` cash taken at institution counters (现金支付), a clearing account;
* ``medical:ext:<channel>:<c>`` external collection channels (bank, app, tax bureau);
* ``medical:inst:<code>`` what the fund owes an institution for settled bills;
* ``card:<card no>:fin`` the financial account of the resident's live card.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.cards import service as cards
from yikatong.core import clock, outbox
from yikatong.core.calendar import add_working_days, working_days_between
from yikatong.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyError,
)
from yikatong.core.ids import age_on
from yikatong.core.money import Fen, format_yuan, parse_yuan
from yikatong.federation import service as federation
from yikatong.federation.envelope import Envelope
from yikatong.ledger import service as ledger
from yikatong.ledger.models import AccountKind
from yikatong.ledger.service import TransferRequest
from yikatong.medical.models import (
    EXTERNAL_CHANNELS,
    Accumulator,
    ClaimRecord,
    ClaimStatus,
    Contribution,
    ContributionStatus,
    Enrolment,
    FilingKind,
    FilingStatus,
    Institution,
    OffsiteFiling,
    PaymentChannel,
    TransferCase,
    TransferRole,
    TransferStatus,
)
from yikatong.medical.policy import (
    Category,
    InstitutionLevel,
    MedicalPolicy,
    OffsiteCase,
    city_name_for_code,
    load_medical_policy,
)
from yikatong.medical.rules import (
    NO_FEN,
    Accumulators,
    Claim,
    ClaimItem,
    CoverageDecision,
    ItemClass,
    PriorCover,
    Settlement,
    add_months,
    bridge_transfer_gap,
    continuous_reward,
    contribution_due,
    coverage_start,
    fiscal_subsidy,
    settle_claim,
)
from yikatong.registry import service as registry
from yikatong.registry.service import Resident

_T = TypeVar("_T")


def policy_for(city: str, year: int, *, allow_illustrative: bool) -> MedicalPolicy:
    """The policy of ``city`` for cover ``year`` (NotFound when none is shipped)."""
    return load_medical_policy(city, year, allow_illustrative=allow_illustrative)


def parse_item_spec(text: str, *, field: str = "item") -> ClaimItem:
    """``"B:3:120.50"`` → class B, quantity 3, unit price 120.50 yuan."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InvalidInput(
            f"{text!r} is not an item; write CLASS:QUANTITY:UNIT_PRICE, e.g. B:3:120.50",
            field=field,
        )
    raw_class, raw_quantity, raw_price = (part.strip() for part in parts)
    try:
        item_class = ItemClass(raw_class.upper())
    except ValueError:
        raise InvalidInput(
            f"{raw_class!r} is not a catalogue class; use A (甲类), B (乙类) or C (丙类)",
            field=field,
        ) from None
    if not raw_quantity.isdigit() or int(raw_quantity) < 1:
        raise InvalidInput(
            f"quantity {raw_quantity!r} must be a whole number of at least 1", field=field
        )
    price = parse_yuan(raw_price, field=field)
    if price < 0:
        raise InvalidInput(f"unit price {raw_price} cannot be negative", field=field)
    return ClaimItem(item_class, int(raw_quantity), price)


@dataclass(frozen=True)
class WhatIf:
    policy: MedicalPolicy
    settlement: Settlement


def what_if(
    city: str,
    year: int,
    *,
    institution_level: int,
    items: Sequence[ClaimItem],
    spent_ytd: Fen = NO_FEN,
    offsite: OffsiteCase | None = None,
    continuous_years: int = 0,
    personal_account: Fen = NO_FEN,
    family_account: Fen = NO_FEN,
    allow_illustrative: bool,
) -> WhatIf:
    """What a bill would cost the fund, the insurance and the patient (费用测算).

    ``spent_ytd`` is in-catalogue spending already settled this year; it is replayed as one
    class A bill at the same level so the deductible, the cap and the critical-illness running
    total stand where they would.
    """
    try:
        policy = policy_for(city, year, allow_illustrative=allow_illustrative)
    except NotFound as exc:
        raise InvalidInput(exc.detail, field="year") from None
    if spent_ytd < 0:
        raise InvalidInput("spending so far this year cannot be negative", field="spent_ytd")
    level = _level(institution_level)
    accumulators = Accumulators(year=policy.year, continuous_years=continuous_years)
    if spent_ytd > 0:
        earlier = Claim((ClaimItem(ItemClass.A, 1, spent_ytd, "spent this year"),))
        accumulators = settle_claim(
            policy, earlier, accumulators, institution_level=level, offsite=offsite
        ).accumulators
    claim = Claim(tuple(items), personal_account, family_account)
    settlement = settle_claim(policy, claim, accumulators, institution_level=level, offsite=offsite)
    return WhatIf(policy, settlement)


def _level(value: int) -> InstitutionLevel:
    try:
        return InstitutionLevel(value)
    except ValueError:
        raise InvalidInput(
            f"institution level must be 1, 2 or 3, not {value}", field="level"
        ) from None


# --------------------------------------------------------------------------- policy of this node


@functools.lru_cache(maxsize=64)
def _cached_policy(city: str, year: int, allow_illustrative: bool) -> MedicalPolicy:
    return load_medical_policy(city, year, allow_illustrative=allow_illustrative)


@functools.lru_cache(maxsize=64)
def _city_of_code(city_code: str) -> str | None:
    """The packaged policy city of ``city_code`` (the packaged files do not change at run time)."""
    return city_name_for_code(city_code)


def city_policy(year: int, *, field: str = "year") -> MedicalPolicy:
    """The own city's policy for cover ``year``; a year without a policy is bad input."""
    current = current_node.current()
    city = _city_of_code(current.city_code)
    if city is None:
        raise PolicyError(
            f"no resident medical insurance policy is shipped for city code {current.city_code}"
        )
    try:
        return _cached_policy(city, year, current.settings.demo)
    except NotFound as exc:
        raise InvalidInput(exc.detail, field=field) from None


def _own_city() -> str:
    return current_node.current().city_code


# --------------------------------------------------------------------------- ledger accounts


def _account(session: Session, code: str, kind: AccountKind, *, no_overdraft: bool = False) -> int:
    account = ledger.open_account(
        session,
        code=code,
        kind=kind,
        owner_type="medical",
        owner_id=code,
        debits_must_not_exceed_credits=no_overdraft,
        exist_ok=True,
    )
    return account.id


def fund_account(session: Session) -> int:
    return _account(session, f"medical:fund:{_own_city()}", AccountKind.LIABILITY)


def critical_illness_account(session: Session) -> int:
    return _account(session, f"medical:ci:{_own_city()}", AccountKind.LIABILITY)


def cash_account(session: Session) -> int:
    return _account(session, f"medical:cash:{_own_city()}", AccountKind.CLEARING)


def external_account(session: Session, channel: PaymentChannel) -> int:
    return _account(session, f"medical:ext:{channel.value}:{_own_city()}", AccountKind.CLEARING)


def institution_account(session: Session, institution: Institution) -> int:
    return _account(session, f"medical:inst:{institution.code}", AccountKind.MERCHANT_SETTLEMENT)


def personal_account(session: Session, resident_id: int) -> int:
    """An employee's personal medical account (职工医保个人账户); never overdrawn."""
    return _account(session, f"medical:pa:{resident_id}", AccountKind.LIABILITY, no_overdraft=True)


def card_financial_account(session: Session, resident_id: int) -> int:
    """The financial account of the resident's live card (``card:<card no>:fin``, the same
    account the acquiring domain opens for the card); the resident must hold a live card."""
    card = cards.current_card_of(session, resident_id)
    if card is None:
        raise Conflict(
            f"resident {resident_id} holds no live card; pay from another channel or apply for "
            "a card first",
            resident_id=resident_id,
        )
    account = ledger.open_account(
        session,
        code=f"card:{card.card_no}:fin",
        kind=AccountKind.CARD_FINANCIAL,
        name=f"card {card.card_no} financial account",
        owner_type="card",
        owner_id=card.card_no,
        exist_ok=True,
    )
    return account.id


def _balance_of(session: Session, code: str) -> Fen:
    found = ledger.list_accounts(session, owner_type="medical", owner_id=code, limit=1)
    return ledger.balance(session, found[0].id) if found else NO_FEN


def personal_account_balance(session: Session, resident_id: int) -> Fen:
    return _balance_of(session, f"medical:pa:{resident_id}")


def deposit_personal_account(
    session: Session, resident_id: int, amount: Fen, *, idempotency_key: str, source: str
) -> Fen:
    """Credit an employee's personal account (划入个人账户) from the employee scheme's clearing
    account; returns the new balance. ``source`` names the payroll run or transfer."""
    registry.get_resident(session, resident_id)
    if amount <= 0:
        raise InvalidInput("a deposit must be positive", field="amount")
    employee = _account(session, f"medical:employee:{_own_city()}", AccountKind.CLEARING)
    target = personal_account(session, resident_id)
    ledger.post_transfer(
        session,
        TransferRequest(
            idempotency_key=idempotency_key,
            debit_account_id=employee,
            credit_account_id=target,
            amount=amount,
            metadata={"medical": "personal_account_deposit", "source": source[:100]},
        ),
    )
    return ledger.balance(session, target)


# --------------------------------------------------------------------------- enrolment


def category_for(resident: Resident, year: int, tier: str | None) -> tuple[Category, str]:
    """Contribution category from the registry: students (在校大学生) and minors (少年儿童) by
    their record, adults by their tier choice. Returns the category and why."""
    age = age_on(resident.birth_date, dt.date(year, 1, 1))
    if resident.student and age >= 16:
        return Category.STUDENT, "registered as a university student"
    if age < 18:
        return Category.CHILD, f"aged {max(age, 0)} on {year}-01-01 (under 18)"
    if tier is None:
        raise InvalidInput(
            f"resident {resident.id} is an adult: choose tier1 or tier2", field="tier"
        )
    if tier not in (Category.TIER1, Category.TIER2):
        raise InvalidInput(f"tier must be tier1 or tier2, not {tier!r}", field="tier")
    return Category(tier), f"adult, chose {tier}"


@dataclass(frozen=True)
class AmountDue:
    resident_id: int
    year: int
    category: Category
    reason: str
    individual: Fen
    subsidy: Fen


def amount_due(session: Session, resident_id: int, year: int, *, tier: str | None) -> AmountDue:
    """What one resident pays (and the state adds) for cover ``year``."""
    policy = city_policy(year)
    resident = registry.get_resident(session, resident_id)
    category, reason = category_for(resident, year, tier)
    return AmountDue(
        resident_id, year, category, reason,
        contribution_due(policy, category), fiscal_subsidy(policy, category),
    )  # fmt: skip


def _insured_years(session: Session, resident_id: int) -> set[int]:
    """Years paid here, and years recognised from other cities by completed transfers."""
    years = set(
        session.scalars(
            select(Enrolment.year).where(Enrolment.resident_id == resident_id, Enrolment.paid)
        )
    )
    for case in _completed_transfers(session, resident_id):
        years.update(case.insured_years)
    return years


def _continuous_before(years: set[int], year: int) -> int:
    count, probe = 0, year - 1
    while probe in years:
        count += 1
        probe -= 1
    return count


def enrol(
    session: Session,
    resident_id: int,
    year: int,
    *,
    tier: str | None,
    actor: str,
    previous_city_code: str | None = None,
) -> Enrolment:
    """Enrol a resident for cover ``year`` (参保登记), or return the existing enrolment.

    ``previous_city_code``: the person was insured in another city; enrolling here starts the
    transfer (转移接续) from it, unless one is already open. A resident whose record this city
    closed by a transfer out is not enrolled here for a later year.
    """
    due = amount_due(session, resident_id, year, tier=tier)
    closed = _closed_out(session, resident_id)
    if closed is not None and closed.closed_on is not None and year > closed.closed_on.year:
        raise Conflict(
            f"resident {resident_id} transferred out to city {closed.new_city_code} on "
            f"{closed.closed_on} (transfer {closed.id}); enrol there",
            resident_id=resident_id,
        )
    if previous_city_code is not None:
        open_case = session.scalar(
            select(TransferCase.id).where(
                TransferCase.resident_id == resident_id,
                TransferCase.role == TransferRole.NEW_CITY,
                TransferCase.status.in_(_OPEN_NEW_CITY),
            )
        )
        if open_case is None:
            request_transfer(session, resident_id, old_city_code=previous_city_code, actor=actor)
    existing = session.scalar(
        select(Enrolment).where(Enrolment.resident_id == resident_id, Enrolment.year == year)
    )
    if existing is not None:
        if existing.category != due.category and not existing.paid:
            existing.category = due.category
            existing.amount_due = due.individual
            existing.subsidy = due.subsidy
        return existing
    enrolment = Enrolment(
        resident_id=resident_id,
        year=year,
        city_code=_own_city(),
        category=due.category.value,
        amount_due=due.individual,
        subsidy=due.subsidy,
        continuous_years=0,
        paid=False,
        explanation=[f"category {due.category.value}: {due.reason}"],
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(enrolment)
    session.flush()
    return enrolment


@dataclass(frozen=True)
class ContributionResult:
    contribution: Contribution
    enrolment: Enrolment
    decision: CoverageDecision | None  # None when the idempotent replay returns an earlier one
    reward: Fen


def pay_contribution(
    session: Session,
    resident_id: int,
    year: int,
    *,
    channel: PaymentChannel | str,
    idempotency_key: str,
    actor: str,
    tier: str | None = None,
    payer_resident_id: int | None = None,
    external_ref: str | None = None,
    paid_on: dt.date | None = None,
    back_paid_months: int = 0,
) -> ContributionResult:
    """Pay a year's individual contribution (缴费) and decide when cover starts.

    ``card``: from the resident's card financial account; ``family``: from the employee personal
    account of ``payer_resident_id``, a relative of a kind the policy allows (家庭共济);
    ``bank``/``app``/``tax``: recorded from the external channel with its ``external_ref`` and the
    date it reports. A retry with the same key returns the first payment.
    """
    try:
        channel = PaymentChannel(channel)
    except ValueError:
        names = ", ".join(c.value for c in PaymentChannel)
        raise InvalidInput(f"channel must be one of {names}", field="channel") from None
    key = idempotency_key.strip()
    if not 8 <= len(key) <= 64:
        raise InvalidInput("the idempotency key is 8–64 characters", field="idempotency_key")
    earlier = session.scalar(select(Contribution).where(Contribution.idempotency_key == key))
    if earlier is not None:
        if (earlier.resident_id, earlier.year, earlier.channel) != (resident_id, year, channel):
            raise Conflict(
                f"idempotency key {key} was used for another payment (contribution {earlier.id})"
            )
        enrolment = session.get(Enrolment, earlier.enrolment_id)
        assert enrolment is not None
        return ContributionResult(earlier, enrolment, None, NO_FEN)

    policy = city_policy(year)
    today = clock.today()
    if channel in EXTERNAL_CHANNELS:
        ref = (external_ref or "").strip()
        if not ref or len(ref) > 64:
            raise InvalidInput(
                f"a {channel.value} payment needs the channel's reference (1–64 characters)",
                field="external_ref",
            )
        paid_on = paid_on or today
        if paid_on > today:
            raise InvalidInput(f"payment date {paid_on} is in the future", field="paid_on")
    else:
        if external_ref is not None or paid_on is not None:
            raise InvalidInput(
                f"a {channel.value} payment is made now and carries no external reference",
                field="external_ref" if external_ref is not None else "paid_on",
            )
        paid_on = today
    if channel is PaymentChannel.FAMILY:
        if payer_resident_id is None:
            raise InvalidInput("name the relative who pays", field="payer_resident_id")
        _check_family_payer(session, policy, resident_id, payer_resident_id)
    elif payer_resident_id is not None:
        raise InvalidInput("a payer is named only for family payments", field="payer_resident_id")

    enrolment = enrol(session, resident_id, year, tier=tier, actor=actor)
    locked = session.scalar(
        select(Enrolment).where(Enrolment.id == enrolment.id).with_for_update()
        .execution_options(populate_existing=True)
    )  # fmt: skip
    assert locked is not None
    enrolment = locked
    if enrolment.paid:
        raise Conflict(
            f"resident {resident_id} has already paid for {year}; refund that payment first",
            resident_id=resident_id,
        )
    years = _insured_years(session, resident_id)
    resident = registry.get_resident(session, resident_id)
    newborn = resident.birth_date if resident.birth_date.year >= year - 1 else None
    decision = coverage_start(
        policy, paid_on, prior_cover=PriorCover.of(years), newborn_birth_date=newborn,
        back_paid_months=back_paid_months,
    )  # fmt: skip
    for case in _completed_transfers(session, resident_id):
        if case.covered_until is not None and case.covered_until.year in (year - 1, year):
            decision = bridge_transfer_gap(
                policy, decision, covered_until=case.covered_until,
                old_city_code=case.old_city_code,
            )  # fmt: skip

    if channel is PaymentChannel.CARD:
        source = card_financial_account(session, resident_id)
    elif channel is PaymentChannel.FAMILY:
        assert payer_resident_id is not None
        source = personal_account(session, payer_resident_id)
    else:
        source = external_account(session, channel)
    transfer = ledger.post_transfer(
        session,
        TransferRequest(
            idempotency_key=f"medical:contribution:{key}",
            debit_account_id=source,
            credit_account_id=fund_account(session),
            amount=enrolment.amount_due,
            metadata={"medical": "contribution", "resident": resident_id, "year": year},
        ),
    )
    continuous = _continuous_before(years, year)
    reward = continuous_reward(policy, continuous)
    enrolment.paid = True
    enrolment.continuous_years = continuous
    enrolment.covered_from = decision.covered_from if decision.has_cover else None
    enrolment.cover_rule = decision.rule.value
    enrolment.waiting_months = decision.waiting_months
    enrolment.explanation = [
        *[line for line in enrolment.explanation if line.startswith("category ")][:1],
        *decision.explanation,
        f"{continuous} continuous insured year(s) before {year}: critical-illness cap raised "
        f"by {format_yuan(reward)}",
    ]
    contribution = Contribution(
        enrolment_id=enrolment.id,
        resident_id=resident_id,
        year=year,
        amount=enrolment.amount_due,
        channel=channel,
        payer_resident_id=payer_resident_id,
        external_ref=(external_ref or "").strip() or None,
        idempotency_key=key,
        paid_on=paid_on,
        transfer_id=transfer.id,
        status=ContributionStatus.PAID,
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(contribution)
    session.flush()
    return ContributionResult(contribution, enrolment, decision, reward)


def _check_family_payer(
    session: Session, policy: MedicalPolicy, resident_id: int, payer_id: int
) -> None:
    if payer_id == resident_id:
        raise InvalidInput(
            "a family payment comes from a relative; pay your own from your card",
            field="payer_resident_id",
        )
    registry.get_resident(session, payer_id)
    relation = registry.relation_between(session, payer_id, resident_id)
    allowed = policy.family_sharing.relations
    if relation is None or relation.value not in allowed:
        what = "not related" if relation is None else f"the payer's {relation.value}"
        raise Forbidden(
            f"resident {resident_id} is {what}; family sharing (家庭共济) in {policy.year} "
            f"allows {', '.join(allowed)}",
            payer_resident_id=payer_id,
        )


def refund_contribution(
    session: Session, contribution_id: int, *, reason: str, actor: str
) -> Contribution:
    """Refund a contribution (退费) by the compensating transfer; the year is no longer paid."""
    contribution = session.get(Contribution, contribution_id)
    if contribution is None:
        raise NotFound(f"no contribution with id {contribution_id}")
    if not reason.strip():
        raise InvalidInput("say why the contribution is refunded", field="reason")
    if contribution.status is ContributionStatus.REFUNDED:
        raise Conflict(f"contribution {contribution_id} was already refunded")
    enrolment = session.get(Enrolment, contribution.enrolment_id)
    assert enrolment is not None
    settled = session.scalar(
        select(func.count(ClaimRecord.id)).where(
            ClaimRecord.resident_id == contribution.resident_id,
            ClaimRecord.year == contribution.year,
            ClaimRecord.status == ClaimStatus.SETTLED,
        )
    )
    if settled:
        raise Conflict(
            f"{settled} claim(s) of {contribution.year} were settled on this cover; reverse "
            "them before refunding"
        )
    refund = ledger.reverse_transfer(
        session,
        contribution.transfer_id,
        idempotency_key=f"medical:refund:{contribution.idempotency_key}",
        reason=reason,
    )
    contribution.status = ContributionStatus.REFUNDED
    contribution.refund_transfer_id = refund.id
    contribution.refund_reason = reason.strip()[:200]
    contribution.refunded_at = clock.now()
    enrolment.paid = False
    enrolment.covered_from = None
    enrolment.explanation = [
        *enrolment.explanation,
        f"contribution {contribution.id} refunded on {clock.today()}: {reason.strip()[:120]}",
    ]
    session.flush()
    return contribution


def contributions_of(session: Session, resident_id: int) -> list[Contribution]:
    registry.get_resident(session, resident_id)
    return list(
        session.scalars(
            select(Contribution)
            .where(Contribution.resident_id == resident_id)
            .order_by(Contribution.year, Contribution.id)
        )
    )


def enrolments_of(session: Session, resident_id: int) -> list[Enrolment]:
    registry.get_resident(session, resident_id)
    return list(
        session.scalars(
            select(Enrolment).where(Enrolment.resident_id == resident_id).order_by(Enrolment.year)
        )
    )


def family_of(session: Session, resident_id: int) -> set[int]:
    """Ids of the resident's registered relatives (whom the resident may see and pay for)."""
    return {relative.id for relative, _ in registry.relatives_of(session, resident_id)}


# --------------------------------------------------------------------------- institutions


def register_institution(
    session: Session,
    *,
    code: str,
    name: str,
    level: int,
    designated: bool,
    province_direct: bool,
    city_code: str | None = None,
) -> Institution:
    """Add a medical institution to the registry (定点医疗机构目录)."""
    code = code.strip()
    if not code or len(code) > 32 or not code.replace("-", "").isalnum():
        raise InvalidInput("an institution code is 1–32 letters, digits or '-'", field="code")
    if not name.strip() or len(name) > 120:
        raise InvalidInput("an institution name is 1–120 characters", field="name")
    if level not in (1, 2, 3):
        raise InvalidInput(f"level must be 1, 2 or 3, not {level}", field="level")
    city = city_code or _own_city()
    if len(city) != 6 or not city.isdigit():
        raise InvalidInput("a city code is 6 digits", field="city_code")
    if session.scalar(select(Institution.id).where(Institution.code == code)) is not None:
        raise Conflict(f"institution {code} is already registered", code=code)
    institution = Institution(
        code=code,
        name=name.strip(),
        level=level,
        designated=designated,
        province_direct=province_direct,
        city_code=city,
        created_at=clock.now(),
    )
    session.add(institution)
    session.flush()
    return institution


def get_institution(session: Session, code: str, *, field: str = "institution") -> Institution:
    """The registered institution ``code``; an unknown code is bad input naming ``field``."""
    institution = session.scalar(select(Institution).where(Institution.code == code))
    if institution is None:
        raise InvalidInput(f"no registered institution with code {code!r}", field=field)
    return institution


def list_institutions(session: Session, *, limit: int = 1000) -> list[Institution]:
    return list(session.scalars(select(Institution).order_by(Institution.code).limit(limit)))


# --------------------------------------------------------------------------- off-site filing

_FILING_CASE = {
    FilingKind.LONG_TERM: OffsiteCase.FILED_LONG_TERM,
    FilingKind.TEMPORARY: OffsiteCase.FILED_TEMPORARY,
    FilingKind.REFERRAL: OffsiteCase.REFERRAL_OR_EMERGENCY,
    FilingKind.EMERGENCY: OffsiteCase.REFERRAL_OR_EMERGENCY,
}


def file_offsite(
    session: Session,
    resident_id: int,
    *,
    kind: FilingKind | str,
    destination_city_code: str,
    starts_on: dt.date,
    ends_on: dt.date | None = None,
    channel: str = "app",
) -> OffsiteFiling:
    """File off-site care (异地就医备案). Long-term residence has no expiry; a temporary
    work/study filing lasts at least the policy's minimum (6 months); referral and emergency
    filings run to ``ends_on``."""
    try:
        kind = FilingKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in FilingKind)
        raise InvalidInput(f"kind must be one of {names}", field="kind") from None
    registry.get_resident(session, resident_id)
    if len(destination_city_code) != 6 or not destination_city_code.isdigit():
        raise InvalidInput("a city code is 6 digits", field="destination_city_code")
    if destination_city_code == _own_city():
        raise InvalidInput(
            "the destination is the insured city itself; no filing is needed there",
            field="destination_city_code",
        )
    if channel not in ("app", "phone", "counter"):
        raise InvalidInput("channel must be app, phone or counter", field="channel")
    policy = city_policy(starts_on.year, field="starts_on")
    ends_on = _filing_end(policy, kind, starts_on, ends_on)
    filing = OffsiteFiling(
        resident_id=resident_id,
        kind=kind,
        destination_city_code=destination_city_code,
        starts_on=starts_on,
        ends_on=ends_on,
        status=FilingStatus.ACTIVE,
        channel=channel,
        created_at=clock.now(),
    )
    session.add(filing)
    session.flush()
    return filing


def _filing_end(
    policy: MedicalPolicy, kind: FilingKind, starts_on: dt.date, ends_on: dt.date | None
) -> dt.date | None:
    if kind is FilingKind.LONG_TERM:
        if ends_on is not None:
            raise InvalidInput("a long-term residence filing has no end date", field="ends_on")
        return None
    if kind is FilingKind.TEMPORARY:
        months = policy.offsite.temporary_min_months
        shortest = add_months(starts_on, months) - dt.timedelta(days=1)
        if ends_on is None:
            return shortest
        if ends_on < shortest:
            raise InvalidInput(
                f"a temporary work/study filing lasts at least {months} months: from "
                f"{starts_on} to {shortest} or later",
                field="ends_on",
            )
        return ends_on
    if ends_on is None:
        raise InvalidInput(f"a {kind.value} filing needs an end date", field="ends_on")
    if ends_on < starts_on:
        raise InvalidInput(f"end date {ends_on} is before {starts_on}", field="ends_on")
    return ends_on


def _filing(session: Session, filing_id: int, resident_id: int | None) -> OffsiteFiling:
    filing = session.get(OffsiteFiling, filing_id)
    if filing is None or (resident_id is not None and filing.resident_id != resident_id):
        raise NotFound(f"no off-site filing with id {filing_id}")
    return filing


def cancel_filing(
    session: Session, filing_id: int, *, resident_id: int | None = None
) -> OffsiteFiling:
    """Cancel a filing (取消备案); visits after today no longer get its ratio."""
    filing = _filing(session, filing_id, resident_id)
    if filing.status is FilingStatus.CANCELLED:
        raise Conflict(f"filing {filing_id} was already cancelled")
    filing.status = FilingStatus.CANCELLED
    filing.cancelled_at = clock.now()
    today = clock.today()
    if filing.ends_on is None or filing.ends_on >= today:
        filing.ends_on = max(filing.starts_on, today - dt.timedelta(days=1))
    session.flush()
    return filing


def renew_filing(
    session: Session,
    filing_id: int,
    *,
    ends_on: dt.date | None = None,
    resident_id: int | None = None,
) -> OffsiteFiling:
    """Renew a filing with an end (续期): a new filing from the day after the old one ends."""
    filing = _filing(session, filing_id, resident_id)
    if filing.status is FilingStatus.CANCELLED:
        raise Conflict(f"filing {filing_id} was cancelled; file a new one")
    if filing.ends_on is None:
        raise Conflict(f"filing {filing_id} is long-term and has no expiry to renew")
    renewal = file_offsite(
        session,
        filing.resident_id,
        kind=filing.kind,
        destination_city_code=filing.destination_city_code,
        starts_on=filing.ends_on + dt.timedelta(days=1),
        ends_on=ends_on,
        channel=filing.channel,
    )
    renewal.renewed_from_id = filing.id
    session.flush()
    return renewal


def filings_of(session: Session, resident_id: int) -> list[OffsiteFiling]:
    registry.get_resident(session, resident_id)
    return list(
        session.scalars(
            select(OffsiteFiling)
            .where(OffsiteFiling.resident_id == resident_id)
            .order_by(OffsiteFiling.id)
        )
    )


def offsite_case_for(
    session: Session, resident_id: int, city_code: str, on: dt.date
) -> tuple[OffsiteCase | None, OffsiteFiling | None]:
    """How a visit on ``on`` in ``city_code`` counts: local (None), under an active filing for
    that city, or unfiled."""
    if city_code == _own_city():
        return None, None
    filings = session.scalars(
        select(OffsiteFiling)
        .where(
            OffsiteFiling.resident_id == resident_id,
            OffsiteFiling.destination_city_code == city_code,
            OffsiteFiling.starts_on <= on,
            or_(OffsiteFiling.ends_on.is_(None), OffsiteFiling.ends_on >= on),
        )
        .order_by(OffsiteFiling.id)
    )
    best: OffsiteFiling | None = None
    policy_order = list(FilingKind)
    for filing in filings:
        if best is None or policy_order.index(filing.kind) < policy_order.index(best.kind):
            best = filing
    if best is None:
        return OffsiteCase.UNFILED_OTHER, None
    return _FILING_CASE[best.kind], best


# --------------------------------------------------------------------------- settlement


def _lock_accumulator(session: Session, resident_id: int, year: int) -> Accumulator:
    """The resident's accumulator row for ``year``, locked (FOR UPDATE) until commit."""
    query = (
        select(Accumulator)
        .where(Accumulator.resident_id == resident_id, Accumulator.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = session.scalar(query)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(
                Accumulator(
                    resident_id=resident_id, year=year, deductible_paid=0, fund_paid=0,
                    critical_illness_eligible=0, critical_illness_paid=0, claims=0,
                )
            )  # fmt: skip
    except IntegrityError:
        pass  # created by a concurrent claim of the same person: lock theirs
    row = session.scalar(query)
    assert row is not None
    return row


def accumulators_of(session: Session, resident_id: int, year: int) -> Accumulators:
    row = session.scalar(
        select(Accumulator).where(Accumulator.resident_id == resident_id, Accumulator.year == year)
    )
    continuous = _continuous_years(session, resident_id, year)
    if row is None:
        return Accumulators(year=year, continuous_years=continuous)
    return _as_rules(row, continuous)


def _as_rules(row: Accumulator, continuous: int) -> Accumulators:
    return Accumulators(
        year=row.year,
        deductible_paid=Fen(row.deductible_paid),
        fund_paid=Fen(row.fund_paid),
        critical_illness_eligible=Fen(row.critical_illness_eligible),
        critical_illness_paid=Fen(row.critical_illness_paid),
        continuous_years=continuous,
    )


def _continuous_years(session: Session, resident_id: int, year: int) -> int:
    found = session.scalar(
        select(Enrolment.continuous_years).where(
            Enrolment.resident_id == resident_id, Enrolment.year == year, Enrolment.paid
        )
    )
    return int(found or 0)


def _covered(session: Session, resident_id: int, on: dt.date) -> Enrolment:
    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.resident_id == resident_id, Enrolment.year == on.year)
    )
    return _check_cover(enrolment, resident_id, on)


def _check_cover(enrolment: Enrolment | None, resident_id: int, on: dt.date) -> Enrolment:
    if enrolment is None or not enrolment.paid:
        raise Conflict(
            f"resident {resident_id} has not paid the {on.year} contribution; no benefits on {on}",
            resident_id=resident_id,
        )
    if enrolment.covered_from is None or enrolment.covered_from > on:
        start = enrolment.covered_from or "after the cover year"
        raise Conflict(
            f"resident {resident_id} is in the waiting period on {on}: covered from {start}",
            resident_id=resident_id,
        )
    return enrolment


@dataclass(frozen=True)
class SettledClaim:
    record: ClaimRecord
    settlement: Settlement | None  # None for a stored claim read back
    filing: OffsiteFiling | None = None


def settle(
    session: Session,
    *,
    institution_code: str,
    resident_id: int,
    claim_no: str,
    items: Sequence[ClaimItem],
    service_date: dt.date | None = None,
    family_payer_id: int | None = None,
    actor: str,
) -> SettledClaim:
    """Settle a bill at a designated institution (医保结算) and post who pays what.

    The resident's accumulator row is locked first, so claims of one person settle one after
    the other; the same hospital claim number is refused while it stands settled.
    """
    claim_no = claim_no.strip()
    if not claim_no or len(claim_no) > 40:
        raise InvalidInput("a claim number is 1–40 characters", field="claim_no")
    institution = get_institution(session, institution_code)
    if not institution.designated:
        raise InvalidInput(
            f"institution {institution.code} is not designated (非定点): the resident pays and "
            "claims manually",
            field="institution",
        )
    service_date = service_date or clock.today()
    if service_date > clock.today():
        raise InvalidInput(f"service date {service_date} is in the future", field="service_date")
    policy = city_policy(service_date.year, field="service_date")
    registry.get_resident(session, resident_id)
    offsite, filing = offsite_case_for(session, resident_id, institution.city_code, service_date)
    if offsite is not None and not institution.province_direct:
        raise InvalidInput(
            f"institution {institution.code} is outside the city without direct settlement; "
            "the resident claims manually",
            field="institution",
        )
    if family_payer_id is not None:
        _check_family_payer(session, policy, resident_id, family_payer_id)
    claim_items = tuple(items)
    # validate before any lock or write: a bad item changes nothing
    probe = Claim(claim_items)
    settle_claim(
        policy, probe, Accumulators(year=policy.year), institution_level=institution.level,
        offsite=offsite,
    )  # fmt: skip
    _covered(session, resident_id, service_date)

    accumulator = _lock_accumulator(session, resident_id, service_date.year)
    attempts = list(
        session.execute(
            select(ClaimRecord.id, ClaimRecord.status).where(
                ClaimRecord.institution_id == institution.id, ClaimRecord.claim_no == claim_no
            )
        )
    )
    standing = [row.id for row in attempts if row.status == ClaimStatus.SETTLED]
    if standing:
        raise Conflict(
            f"claim {claim_no} of {institution.code} is already settled (settlement "
            f"{standing[0]}); reverse it before settling again",
            claim_id=standing[0],
        )
    before = _as_rules(accumulator, _continuous_years(session, resident_id, service_date.year))
    own = personal_account_balance(session, resident_id)
    shared = personal_account_balance(session, family_payer_id) if family_payer_id else NO_FEN
    settlement = settle_claim(
        policy, Claim(claim_items, own, shared), before,
        institution_level=institution.level, offsite=offsite,
    )  # fmt: skip
    after = settlement.accumulators
    record = _claim_record(
        institution, claim_no, len(attempts) + 1, resident_id, service_date, offsite,
        family_payer_id, claim_items, settlement, before, actor,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        raise Conflict(f"claim {claim_no} of {institution.code} is being settled already") from None
    record.transfer_ids = _post_settlement(session, record, institution, settlement)
    accumulator.deductible_paid = after.deductible_paid
    accumulator.fund_paid = after.fund_paid
    accumulator.critical_illness_eligible = after.critical_illness_eligible
    accumulator.critical_illness_paid = after.critical_illness_paid
    accumulator.claims += 1
    session.flush()
    return SettledClaim(record, settlement, filing)


def _claim_record(
    institution: Institution,
    claim_no: str,
    attempt: int,
    resident_id: int,
    service_date: dt.date,
    offsite: OffsiteCase | None,
    family_payer_id: int | None,
    claim_items: Sequence[ClaimItem],
    settlement: Settlement,
    before: Accumulators,
    actor: str,
) -> ClaimRecord:
    after = settlement.accumulators
    return ClaimRecord(
        institution_id=institution.id,
        claim_no=claim_no,
        attempt=attempt,
        resident_id=resident_id,
        year=service_date.year,
        service_date=service_date,
        level=institution.level,
        offsite_case=offsite.value if offsite else None,
        family_payer_id=family_payer_id,
        status=ClaimStatus.SETTLED,
        total=settlement.total,
        fund=settlement.fund,
        critical_illness=settlement.critical_illness,
        personal_account=settlement.personal_account,
        family_account=settlement.family_account,
        cash=settlement.cash,
        ratio_bp=settlement.ratio_bp,
        delta_deductible=after.deductible_paid - before.deductible_paid,
        delta_fund=after.fund_paid - before.fund_paid,
        delta_ci_eligible=after.critical_illness_eligible - before.critical_illness_eligible,
        delta_ci_paid=after.critical_illness_paid - before.critical_illness_paid,
        items=[
            {"class": i.item_class.value, "quantity": i.quantity, "unit_price": i.unit_price,
             "name": i.name}
            for i in claim_items
        ],
        lines=[
            {"code": line.code, "label_zh": line.label_zh, "label_en": line.label_en,
             "amount": line.amount, "detail": line.detail}
            for line in settlement.lines
        ],
        transfer_ids=[],
        settled_at=clock.now(),
        settled_by=actor[:64],
    )  # fmt: skip


def _post_settlement(
    session: Session, record: ClaimRecord, institution: Institution, settlement: Settlement
) -> list[int]:
    requests = _settlement_requests(session, record, institution, settlement, {})
    if not requests:
        return []
    return [transfer.id for transfer in ledger.post_linked(session, requests)]


def _settlement_requests(
    session: Session,
    record: ClaimRecord,
    institution: Institution,
    settlement: Settlement,
    accounts: dict[str, int],
) -> list[TransferRequest]:
    """The transfers paying ``institution`` for a settled claim, one per payer with a share;
    ``accounts`` caches ledger account ids across the claims of a batch."""

    def account(name: str, open_it: functools.partial[int]) -> int:
        if name not in accounts:
            accounts[name] = open_it()
        return accounts[name]

    payers: list[tuple[str, str, functools.partial[int], Fen]] = [
        ("fund", "fund", functools.partial(fund_account, session), settlement.fund),
        ("critical_illness", "ci", functools.partial(critical_illness_account, session),
         settlement.critical_illness),
        ("personal_account", f"pa:{record.resident_id}",
         functools.partial(personal_account, session, record.resident_id),
         settlement.personal_account),
    ]  # fmt: skip
    if record.family_payer_id is not None:
        payers.append(
            ("family_account", f"pa:{record.family_payer_id}",
             functools.partial(personal_account, session, record.family_payer_id),
             settlement.family_account),
        )  # fmt: skip
    payers.append(("cash", "cash", functools.partial(cash_account, session), settlement.cash))
    credit = account(
        f"inst:{institution.code}", functools.partial(institution_account, session, institution)
    )
    prefix = f"medical:claim:{institution.code}:{record.claim_no}:{record.attempt}"
    return [
        TransferRequest(
            idempotency_key=f"{prefix}:{payer}",
            debit_account_id=account(name, open_it),
            credit_account_id=credit,
            amount=amount,
            metadata={"medical": "settlement", "claim": record.id, "payer": payer},
        )
        for payer, name, open_it, amount in payers
        if amount > 0
    ]


@dataclass(frozen=True)
class ClaimRequest:
    """One bill of a batch for ``settle_claims_bulk`` (the arguments of ``settle``)."""

    institution_code: str
    resident_id: int
    claim_no: str
    items: Sequence[ClaimItem]
    service_date: dt.date | None = None
    family_payer_id: int | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one claim of a batch: settled, or refused with the error ``settle``
    would have raised for it (nothing of a refused claim is stored)."""

    claim_no: str
    settled: SettledClaim | None
    error: DomainError | None = None


_IN_CHUNK = 500


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _lock_accumulators(
    session: Session, keys: set[tuple[int, int]]
) -> dict[tuple[int, int], Accumulator]:
    """Accumulator rows of many (resident, year), created where missing, locked FOR UPDATE in
    resident order (the order every batch takes them, so two batches cannot deadlock)."""
    people = sorted({resident for resident, _ in keys})
    years = {year for _, year in keys}

    def read() -> dict[tuple[int, int], Accumulator]:
        rows: dict[tuple[int, int], Accumulator] = {}
        for chunk in _chunks(people):
            query = (
                select(Accumulator)
                .where(Accumulator.resident_id.in_(chunk), Accumulator.year.in_(years))
                .order_by(Accumulator.resident_id, Accumulator.year)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            for row in session.scalars(query):
                rows[(row.resident_id, row.year)] = row
        return rows

    rows = read()
    missing = sorted(keys - rows.keys())
    if missing:
        try:
            with session.begin_nested():
                session.add_all(
                    Accumulator(
                        resident_id=resident, year=year, deductible_paid=0, fund_paid=0,
                        critical_illness_eligible=0, critical_illness_paid=0, claims=0,
                    )
                    for resident, year in missing
                )  # fmt: skip
        except IntegrityError:
            # a concurrent claim created some of them: take them one by one
            for resident, year in missing:
                _lock_accumulator(session, resident, year)
        rows = read()
    return rows


def settle_claims_bulk(
    session: Session, requests: Sequence[ClaimRequest], *, actor: str
) -> list[BulkOutcome]:
    """Settle many bills in the caller's transaction (批量结算) with every check of ``settle``.

    Per batch: institutions, enrolments and earlier attempts are read once; each person's
    accumulator rows are locked once and written once; the ledger transfers go through one
    ``post_batch``. A claim that ``settle`` would refuse (bad input, no cover, a claim number
    already settled — also earlier in the same batch) is refused alone with that error; claims
    of one person are settled in the order given. If the ledger refuses a transfer (an account
    spent by a concurrent transaction) the whole batch raises Conflict and the caller rolls back.
    """
    outcomes: list[BulkOutcome | None] = [None] * len(requests)
    today = clock.today()
    codes = sorted({r.institution_code for r in requests})
    institutions = {
        i.code: i
        for chunk in _chunks(codes)
        for i in session.scalars(select(Institution).where(Institution.code.in_(chunk)))
    }
    known_people: dict[int, bool] = {}

    def exists(resident_id: int) -> None:
        if resident_id not in known_people:
            try:
                registry.get_resident(session, resident_id)
                known_people[resident_id] = True
            except NotFound:
                known_people[resident_id] = False
        if not known_people[resident_id]:
            raise NotFound(f"no resident with id {resident_id}")

    # 1. everything that needs no lock, claim by claim
    @dataclass
    class Ready:
        index: int
        request: ClaimRequest
        claim_no: str
        institution: Institution
        service_date: dt.date
        policy: MedicalPolicy
        offsite: OffsiteCase | None
        filing: OffsiteFiling | None

    ready: list[Ready] = []
    payers_checked: set[tuple[int, int, int]] = set()
    for index, request in enumerate(requests):
        claim_no = request.claim_no.strip()
        try:
            if not claim_no or len(claim_no) > 40:
                raise InvalidInput("a claim number is 1–40 characters", field="claim_no")
            institution = institutions.get(request.institution_code)
            if institution is None:
                raise InvalidInput(
                    f"no registered institution with code {request.institution_code!r}",
                    field="institution",
                )
            if not institution.designated:
                raise InvalidInput(
                    f"institution {institution.code} is not designated (非定点): the resident "
                    "pays and claims manually",
                    field="institution",
                )
            service_date = request.service_date or today
            if service_date > today:
                raise InvalidInput(
                    f"service date {service_date} is in the future", field="service_date"
                )
            policy = city_policy(service_date.year, field="service_date")
            exists(request.resident_id)
            offsite, filing = offsite_case_for(
                session, request.resident_id, institution.city_code, service_date
            )
            if offsite is not None and not institution.province_direct:
                raise InvalidInput(
                    f"institution {institution.code} is outside the city without direct "
                    "settlement; the resident claims manually",
                    field="institution",
                )
            payer = request.family_payer_id
            if (
                payer is not None
                and (policy.year, request.resident_id, payer) not in payers_checked
            ):
                _check_family_payer(session, policy, request.resident_id, payer)
                payers_checked.add((policy.year, request.resident_id, payer))
        except DomainError as error:
            outcomes[index] = BulkOutcome(claim_no, None, error)
            continue
        ready.append(
            Ready(index, request, claim_no, institution, service_date, policy, offsite, filing)
        )

    # 2. cover, read once for everybody in the batch
    people = sorted({r.request.resident_id for r in ready})
    enrolments: dict[tuple[int, int], Enrolment] = {}
    for chunk in _chunks(people):
        for enrolment in session.scalars(select(Enrolment).where(Enrolment.resident_id.in_(chunk))):
            enrolments[(enrolment.resident_id, enrolment.year)] = enrolment
    covered: list[Ready] = []
    for item in ready:
        person, on = item.request.resident_id, item.service_date
        try:
            _check_cover(enrolments.get((person, on.year)), person, on)
        except DomainError as error:
            outcomes[item.index] = BulkOutcome(item.claim_no, None, error)
            continue
        covered.append(item)

    # 3. lock each person's accumulators once, then read the earlier attempts of the claims
    locked = _lock_accumulators(
        session, {(r.request.resident_id, r.service_date.year) for r in covered}
    )
    attempts: dict[tuple[int, str], int] = {}
    standing: dict[tuple[int, str], int] = {}
    numbers = sorted({r.claim_no for r in covered})
    for numbers_chunk in _chunks(numbers):
        for found in session.execute(
            select(
                ClaimRecord.id, ClaimRecord.institution_id, ClaimRecord.claim_no,
                ClaimRecord.status,
            ).where(ClaimRecord.claim_no.in_(numbers_chunk))
        ):  # fmt: skip
            key = (found.institution_id, found.claim_no)
            attempts[key] = attempts.get(key, 0) + 1
            if found.status == ClaimStatus.SETTLED:
                standing[key] = found.id
    balances: dict[int, Fen] = {}

    def balance_of(resident_id: int) -> Fen:
        if resident_id not in balances:
            balances[resident_id] = personal_account_balance(session, resident_id)
        return balances[resident_id]

    # 4. settle in order, carrying each person's figures from one claim to the next
    figures = {key: _as_rules(row, 0) for key, row in locked.items()}
    in_batch: set[tuple[int, str]] = set()
    settled: list[tuple[Ready, Settlement, ClaimRecord]] = []
    for item in covered:
        request, institution = item.request, item.institution
        key = (institution.id, item.claim_no)
        person, year = request.resident_id, item.service_date.year
        try:
            if key in standing or key in in_batch:
                where = f"settlement {standing[key]}" if key in standing else "earlier in the batch"
                raise Conflict(
                    f"claim {item.claim_no} of {institution.code} is already settled ({where}); "
                    "reverse it before settling again",
                    claim_id=standing.get(key),
                )
            enrolment = enrolments[(person, year)]
            before = replace(figures[(person, year)], continuous_years=enrolment.continuous_years)
            payer = request.family_payer_id
            claim_items = tuple(request.items)
            settlement = settle_claim(
                item.policy,
                Claim(claim_items, balance_of(person), balance_of(payer) if payer else NO_FEN),
                before, institution_level=institution.level, offsite=item.offsite,
            )  # fmt: skip
        except DomainError as error:
            outcomes[item.index] = BulkOutcome(item.claim_no, None, error)
            continue
        in_batch.add(key)
        figures[(person, year)] = settlement.accumulators
        balances[person] = Fen(balances[person] - settlement.personal_account)
        if payer is not None:
            balances[payer] = Fen(balances[payer] - settlement.family_account)
        record = _claim_record(
            institution, item.claim_no, attempts.get(key, 0) + 1, person, item.service_date,
            item.offsite, payer, claim_items, settlement, before, actor,
        )  # fmt: skip
        settled.append((item, settlement, record))

    # 5. store the records, post the money in one batch, write each accumulator once
    if not settled:
        return [o for o in outcomes if o is not None]
    try:
        with session.begin_nested():
            session.add_all(record for _, _, record in settled)
    except IntegrityError:
        raise Conflict("a claim of this batch is being settled concurrently; retry") from None
    accounts: dict[str, int] = {}
    per_claim = [
        _settlement_requests(session, record, item.institution, settlement, accounts)
        for item, settlement, record in settled
    ]
    posted = ledger.post_batch(session, [r for group in per_claim for r in group])
    refused = [o for o in posted if o.status is not ledger.BatchStatus.POSTED]
    if refused:
        raise Conflict(
            f"the ledger refused transfer {refused[0].idempotency_key}: {refused[0].reason}; "
            "the batch is not settled"
        )
    position = 0
    for (item, settlement, record), group in zip(settled, per_claim, strict=True):
        record.transfer_ids = [
            int(o.transfer_id or 0) for o in posted[position : position + len(group)]
        ]
        position += len(group)
        row = locked[(record.resident_id, record.year)]
        row.claims += 1
        outcomes[item.index] = BulkOutcome(
            item.claim_no, SettledClaim(record, settlement, item.filing)
        )
    for key, row in locked.items():
        after = figures[key]
        row.deductible_paid = after.deductible_paid
        row.fund_paid = after.fund_paid
        row.critical_illness_eligible = after.critical_illness_eligible
        row.critical_illness_paid = after.critical_illness_paid
    session.flush()
    return [o for o in outcomes if o is not None]


def _claim(session: Session, institution_code: str, claim_no: str) -> ClaimRecord:
    institution = get_institution(session, institution_code)
    record = session.scalar(
        select(ClaimRecord)
        .where(ClaimRecord.institution_id == institution.id, ClaimRecord.claim_no == claim_no)
        .order_by(ClaimRecord.attempt.desc())
        .limit(1)
    )
    if record is None:
        raise NotFound(f"no claim {claim_no} at institution {institution_code}")
    return record


def get_claim(session: Session, institution_code: str, claim_no: str) -> ClaimRecord:
    """The latest attempt of a hospital claim number."""
    return _claim(session, institution_code, claim_no)


def reverse_claim(
    session: Session, institution_code: str, claim_no: str, *, reason: str, actor: str
) -> ClaimRecord:
    """Reverse a settled claim (冲正): compensating transfers, and the accumulators give back
    what this claim added."""
    if not reason.strip():
        raise InvalidInput("say why the settlement is reversed", field="reason")
    record = _claim(session, institution_code, claim_no)
    accumulator = _lock_accumulator(session, record.resident_id, record.year)
    session.refresh(record)
    if record.status is not ClaimStatus.SETTLED:
        raise Conflict(f"claim {claim_no} of {institution_code} is not settled; nothing to reverse")
    for transfer_id in record.transfer_ids:
        ledger.reverse_transfer(
            session,
            transfer_id,
            idempotency_key=f"medical:reverse:{transfer_id}",
            reason=f"claim {claim_no} reversed by {actor[:40]}: {reason.strip()[:100]}",
        )
    accumulator.deductible_paid -= record.delta_deductible
    accumulator.fund_paid -= record.delta_fund
    accumulator.critical_illness_eligible -= record.delta_ci_eligible
    accumulator.critical_illness_paid -= record.delta_ci_paid
    accumulator.claims -= 1
    record.status = ClaimStatus.REVERSED
    record.reversed_at = clock.now()
    record.reversal_reason = reason.strip()[:200]
    session.flush()
    return record


def claims_of(session: Session, resident_id: int, *, year: int | None = None) -> list[ClaimRecord]:
    registry.get_resident(session, resident_id)
    query = select(ClaimRecord).where(ClaimRecord.resident_id == resident_id)
    if year is not None:
        query = query.where(ClaimRecord.year == year)
    return list(session.scalars(query.order_by(ClaimRecord.id)))


def claims_at(session: Session, institution_code: str, *, limit: int = 200) -> list[ClaimRecord]:
    institution = get_institution(session, institution_code)
    return list(
        session.scalars(
            select(ClaimRecord)
            .where(ClaimRecord.institution_id == institution.id)
            .order_by(ClaimRecord.id.desc())
            .limit(limit)
        )
    )


def institution_code_of(session: Session, record: ClaimRecord) -> str:
    institution = session.get(Institution, record.institution_id)
    assert institution is not None
    return institution.code


# --------------------------------------------------------------------------- transfer (转移接续)

TRANSFER_STREAM = "medical-transfer"
TRANSFER_REQUEST = "medical.transfer.request"  # new city → old city: send me the history
TRANSFER_HISTORY = "medical.transfer.history"  # old city → new city: record closed, history
_OPEN_NEW_CITY = (TransferStatus.REQUESTED, TransferStatus.RECEIVED)


def _city_code(value: str, field: str) -> str:
    value = value.strip()
    if len(value) != 6 or not value.isdigit():
        raise InvalidInput("a city code is 6 digits (GB/T 2260)", field=field)
    if value == _own_city():
        raise InvalidInput(f"city {value} is this city; a transfer is between cities", field=field)
    return value


def request_transfer(
    session: Session, resident_id: int, *, old_city_code: str, actor: str, role: str = "clerk"
) -> TransferCase:
    """Start a transfer into this city (转入): ask ``old_city_code`` for the contribution history.

    The request packet goes to the old city through the outbox in this transaction. Deadlines
    in working days from today: the old city's step and the whole transfer (policy ``transfer``).
    """
    old_city_code = _city_code(old_city_code, "old_city_code")
    registry.get_resident(session, resident_id)
    open_case = session.scalar(
        select(TransferCase.id).where(
            TransferCase.resident_id == resident_id,
            TransferCase.role == TransferRole.NEW_CITY,
            TransferCase.status.in_(_OPEN_NEW_CITY),
        )
    )
    if open_case is not None:
        raise Conflict(
            f"resident {resident_id} already has an open transfer (case {open_case})",
            transfer_id=open_case,
        )
    today = clock.today()
    rules = city_policy(today.year).transfer
    id_number = registry.reveal(
        session, resident_id, actor=actor, role=role, fields=("id_number",),
        reason=f"医保关系转移接续: contribution history asked from city {old_city_code}",
    )["id_number"]  # fmt: skip
    case = TransferCase(
        case_ref=str(uuid.uuid4()),
        role=TransferRole.NEW_CITY,
        status=TransferStatus.REQUESTED,
        resident_id=resident_id,
        old_city_code=old_city_code,
        new_city_code=_own_city(),
        requested_on=today,
        old_city_due=add_working_days(today, rules.old_city_working_days),
        end_to_end_due=add_working_days(today, rules.end_to_end_working_days),
        insured_years=[],
        explanation=[
            f"{today}: transfer from city {old_city_code} requested; the old city's step is due "
            f"within {rules.old_city_working_days} working days, the whole transfer within "
            f"{rules.end_to_end_working_days}"
        ],
        messages=[],
        created_at=clock.now(),
        created_by=actor[:64],
    )
    session.add(case)
    session.flush()
    message = outbox.enqueue(
        session, old_city_code, TRANSFER_STREAM, TRANSFER_REQUEST,
        {"case_ref": case.case_ref, "id_number": id_number, "new_city_code": _own_city(),
         "requested_on": today.isoformat()},
    )  # fmt: skip
    case.messages = [message]
    session.flush()
    return case


def _body_text(body: dict[str, Any], name: str, *, length: int | None = None) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or (length is not None and len(value) != length):
        raise InvalidInput(f"transfer packet: {name} is missing or malformed", field=name)
    return value


def _body_date(body: dict[str, Any], name: str) -> dt.date | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"transfer packet: {name} is not a date", field=name) from None


def apply_transfer_packet(
    session: Session, sender: str, payload_type: str, body: dict[str, Any]
) -> TransferCase:
    """Apply a transfer packet from city ``sender`` (the federation inbox calls this for payload
    types ``medical.transfer.request`` and ``medical.transfer.history``). A replay of a packet
    already applied changes nothing and returns the case."""
    case_ref = _body_text(body, "case_ref", length=36)
    today = clock.today()
    if payload_type == TRANSFER_REQUEST:
        existing = session.scalar(
            select(TransferCase).where(
                TransferCase.case_ref == case_ref, TransferCase.role == TransferRole.OLD_CITY
            )
        )
        if existing is not None:
            return existing
        if _body_text(body, "new_city_code", length=6) != sender:
            raise InvalidInput("transfer packet: new_city_code is not the sender", field="sender")
        requested_on = _body_date(body, "requested_on") or today
        rules = city_policy(today.year).transfer
        person = registry.find_by_id_number(session, _body_text(body, "id_number"))
        case = TransferCase(
            case_ref=case_ref,
            role=TransferRole.OLD_CITY,
            status=TransferStatus.REQUESTED,
            resident_id=person.id if person else None,
            old_city_code=_own_city(),
            new_city_code=sender,
            requested_on=requested_on,
            old_city_due=add_working_days(today, rules.old_city_working_days),
            end_to_end_due=add_working_days(requested_on, rules.end_to_end_working_days),
            insured_years=[],
            explanation=[
                f"{today}: city {sender} asked for the history (requested {requested_on}); "
                + ("resident found" if person else "no resident with that ID number here")
                + f"; close and send within {rules.old_city_working_days} working days"
            ],
            messages=[],
            created_at=clock.now(),
            created_by=f"city:{sender}",
        )
        session.add(case)
        session.flush()
        return case
    if payload_type == TRANSFER_HISTORY:
        found = session.scalar(
            select(TransferCase).where(
                TransferCase.case_ref == case_ref, TransferCase.role == TransferRole.NEW_CITY
            )
        )
        if found is None or found.old_city_code != sender:
            raise NotFound(f"no transfer {case_ref} from city {sender} here")
        case = found
        if case.status is not TransferStatus.REQUESTED:
            return case
        years = body.get("insured_years")
        if not isinstance(years, list) or not all(isinstance(y, int) for y in years):
            raise InvalidInput("transfer packet: insured_years is not a list of years", field="y")
        rules = city_policy(today.year).transfer
        case.covered_until = _body_date(body, "covered_until")
        case.insured_years = sorted(set(years))
        case.received_on = today
        case.new_city_due = add_working_days(today, rules.new_city_working_days)
        case.status = TransferStatus.RECEIVED
        case.explanation = [
            *case.explanation,
            f"{today}: history received from city {sender}: insured years "
            f"{', '.join(map(str, case.insured_years)) or 'none'}, covered until "
            f"{case.covered_until or 'never'}; complete within {rules.new_city_working_days} "
            "working days",
        ]
        session.flush()
        return case
    raise InvalidInput(f"unknown transfer packet type {payload_type!r}", field="payload_type")


def receive_transfer_packet(session: Session, envelope: Envelope) -> None:
    """The federation inbox's handler for transfer packets (payload types
    ``medical.transfer.request`` and ``medical.transfer.history``).

    seed 000: the transfer is triggered by enrolling in the new city — so the old city closes the
    record and sends the history as soon as the request arrives, in the inbox's transaction (the
    history leaves through the outbox). A request for a person this city does not know stays
    open for a clerk (``send_transfer_history`` after finding the record, within the deadline).
    """
    case = apply_transfer_packet(session, envelope.sender, envelope.payload_type, envelope.body)
    if (
        envelope.payload_type == TRANSFER_REQUEST
        and case.status is TransferStatus.REQUESTED
        and case.resident_id is not None
    ):
        send_transfer_history(session, case.id, actor=f"city:{envelope.sender}")


federation.register_handler(TRANSFER_REQUEST, receive_transfer_packet)
federation.register_handler(TRANSFER_HISTORY, receive_transfer_packet)


def _transfer(session: Session, transfer_id: int, role: TransferRole) -> TransferCase:
    case = session.get(TransferCase, transfer_id)
    if case is None:
        raise NotFound(f"no transfer with id {transfer_id}")
    if case.role is not role:
        side = "old (转出)" if role is TransferRole.OLD_CITY else "new (转入)"
        raise Conflict(f"transfer {transfer_id} is not one where this city is the {side} city")
    return case


def send_transfer_history(session: Session, transfer_id: int, *, actor: str) -> TransferCase:
    """Old city's step (转出): close the record and send the contribution history — the insured
    years and the last day covered — to the new city through the outbox, in this transaction."""
    case = _transfer(session, transfer_id, TransferRole.OLD_CITY)
    if case.status is not TransferStatus.REQUESTED:
        raise Conflict(f"transfer {transfer_id} is {case.status.value}; the history was sent")
    years = sorted(_insured_years(session, case.resident_id)) if case.resident_id else []
    covered_until = dt.date(years[-1], 12, 31) if years else None
    today = clock.today()
    case.insured_years = years
    case.covered_until = covered_until
    case.status = TransferStatus.CLOSED
    case.closed_on = today
    message = outbox.enqueue(
        session, case.new_city_code, TRANSFER_STREAM, TRANSFER_HISTORY,
        {"case_ref": case.case_ref, "insured_years": years,
         "covered_until": covered_until.isoformat() if covered_until else None,
         "closed_on": today.isoformat()},
    )  # fmt: skip
    case.messages = [*case.messages, message]
    case.explanation = [
        *case.explanation,
        f"{today}: record closed by {actor[:40]} and history sent "
        f"({len(years)} insured year(s), covered until {covered_until or 'never'})",
    ]
    session.flush()
    return case


def complete_transfer(session: Session, transfer_id: int, *, actor: str) -> TransferCase:
    """New city's step (转入): recognise the old city's insured years (缴费年限互认); they count
    for continuous cover, the continuous-enrolment reward and any gap."""
    case = _transfer(session, transfer_id, TransferRole.NEW_CITY)
    if case.status is not TransferStatus.RECEIVED:
        raise Conflict(
            f"transfer {transfer_id} is {case.status.value}; only a received history completes"
        )
    today = clock.today()
    case.status = TransferStatus.COMPLETED
    case.completed_on = today
    case.explanation = [
        *case.explanation,
        f"{today}: completed by {actor[:40]}; years recognised: "
        f"{', '.join(map(str, case.insured_years)) or 'none'}",
    ]
    session.flush()
    return case


def _completed_transfers(session: Session, resident_id: int) -> list[TransferCase]:
    return list(
        session.scalars(
            select(TransferCase)
            .where(
                TransferCase.resident_id == resident_id,
                TransferCase.role == TransferRole.NEW_CITY,
                TransferCase.status == TransferStatus.COMPLETED,
            )
            .order_by(TransferCase.id)
        )
    )


def _closed_out(session: Session, resident_id: int) -> TransferCase | None:
    """The resident's latest transfer out of this city, unless one back in came after it."""
    latest = session.scalar(
        select(TransferCase)
        .where(TransferCase.resident_id == resident_id)
        .order_by(TransferCase.id.desc())
        .limit(1)
    )
    if latest is None or latest.role is not TransferRole.OLD_CITY:
        return None
    return latest if latest.status is TransferStatus.CLOSED else None


@dataclass(frozen=True)
class TransferView:
    case: TransferCase
    overdue: tuple[str, ...]  # which deadlines have passed, and by how many working days


def _late(due: dt.date, today: dt.date) -> int:
    return working_days_between(due, today)


def transfer_view(case: TransferCase, today: dt.date | None = None) -> TransferView:
    today = today or clock.today()
    reasons: list[str] = []
    open_step = case.status in (TransferStatus.REQUESTED, TransferStatus.RECEIVED)
    if case.status is TransferStatus.REQUESTED and today > case.old_city_due:
        late = _late(case.old_city_due, today)
        if late > 0:
            reasons.append(
                f"old city's step was due {case.old_city_due}: {late} working day(s) late"
            )
    if case.status is TransferStatus.RECEIVED and case.new_city_due and today > case.new_city_due:
        late = _late(case.new_city_due, today)
        if late > 0:
            reasons.append(
                f"new city's step was due {case.new_city_due}: {late} working day(s) late"
            )
    if open_step and today > case.end_to_end_due:
        late = _late(case.end_to_end_due, today)
        if late > 0:
            reasons.append(
                f"the whole transfer was due {case.end_to_end_due}: {late} working day(s) late"
            )
    return TransferView(case, tuple(reasons))


def list_transfers(
    session: Session, *, overdue: bool = False, limit: int = 500
) -> list[TransferView]:
    """Transfer cases, newest first; with ``overdue`` only the open ones past a deadline."""
    query = select(TransferCase).order_by(TransferCase.id.desc())
    if overdue:
        query = query.where(
            TransferCase.status.in_((TransferStatus.REQUESTED, TransferStatus.RECEIVED))
        )
    else:
        query = query.limit(limit)
    today = clock.today()
    views = [transfer_view(case, today) for case in session.scalars(query)]
    return [v for v in views if v.overdue][:limit] if overdue else views


def get_transfer(session: Session, transfer_id: int) -> TransferCase:
    case = session.get(TransferCase, transfer_id)
    if case is None:
        raise NotFound(f"no transfer with id {transfer_id}")
    return case


def life_signs(session: Session, *, since: dt.date, until: dt.date) -> list[tuple[int, dt.date]]:
    """(resident, latest service day) of every settled claim between ``since`` and ``until``:
    evidence of life for pension qualification certification (资格认证)."""
    query = (
        select(ClaimRecord.resident_id, func.max(ClaimRecord.service_date))
        .where(
            ClaimRecord.status == ClaimStatus.SETTLED,
            ClaimRecord.service_date >= since,
            ClaimRecord.service_date <= until,
        )
        .group_by(ClaimRecord.resident_id)
    )
    return [(int(rid), day) for rid, day in session.execute(query) if day is not None]
