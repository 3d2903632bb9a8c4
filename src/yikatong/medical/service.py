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
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yikatong import node as current_node
from yikatong.cards import service as cards
from yikatong.core import clock
from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyError
from yikatong.core.ids import age_on
from yikatong.core.money import Fen, format_yuan, parse_yuan
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
    continuous_reward,
    contribution_due,
    coverage_start,
    fiscal_subsidy,
    settle_claim,
)
from yikatong.registry import service as registry
from yikatong.registry.service import Resident


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


def city_policy(year: int, *, field: str = "year") -> MedicalPolicy:
    """The own city's policy for cover ``year``; a year without a policy is bad input."""
    current = current_node.current()
    city = city_name_for_code(current.city_code)
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
    return set(
        session.scalars(
            select(Enrolment.year).where(Enrolment.resident_id == resident_id, Enrolment.paid)
        )
    )


def _continuous_before(years: set[int], year: int) -> int:
    count, probe = 0, year - 1
    while probe in years:
        count += 1
        probe -= 1
    return count


def enrol(
    session: Session, resident_id: int, year: int, *, tier: str | None, actor: str
) -> Enrolment:
    """Enrol a resident for cover ``year`` (参保登记), or return the existing enrolment."""
    due = amount_due(session, resident_id, year, tier=tier)
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
    record = ClaimRecord(
        institution_id=institution.id,
        claim_no=claim_no,
        attempt=len(attempts) + 1,
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


def _post_settlement(
    session: Session, record: ClaimRecord, institution: Institution, settlement: Settlement
) -> list[int]:
    credit = institution_account(session, institution)
    sources: list[tuple[str, int, Fen]] = [
        ("fund", fund_account(session), settlement.fund),
        ("critical_illness", critical_illness_account(session), settlement.critical_illness),
        ("personal_account", personal_account(session, record.resident_id),
         settlement.personal_account),
        ("cash", cash_account(session), settlement.cash),
    ]  # fmt: skip
    if record.family_payer_id is not None:
        sources.insert(
            3,
            ("family_account", personal_account(session, record.family_payer_id),
             settlement.family_account),
        )  # fmt: skip
    prefix = f"medical:claim:{institution.code}:{record.claim_no}:{record.attempt}"
    requests = [
        TransferRequest(
            idempotency_key=f"{prefix}:{payer}",
            debit_account_id=account,
            credit_account_id=credit,
            amount=amount,
            metadata={"medical": "settlement", "claim": record.id, "payer": payer},
        )
        for payer, account, amount in sources
        if amount > 0
    ]
    if not requests:
        return []
    return [transfer.id for transfer in ledger.post_linked(session, requests)]


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
