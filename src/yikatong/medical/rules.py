"""Resident medical insurance rules as pure functions over a ``MedicalPolicy``.

No database, no clock: every input is an argument, so a cashier's what-if, a settlement and a
test give the same answer.

Rounding: every share of an amount (class B self-pay, the fund's ratio, a critical-illness band)
is rounded half up to the fen at the step where it is taken; every later step works on those
integer fen, and cash is the remainder, so the payers always add up to the bill exactly.

Dates: a waiting period of *n* months ends on the same day number *n* months later; when that
month is shorter the period ends on its last day (paid 2025-11-30 + 3 months → 2026-02-28;
paid 2024-02-29 + 3 months → 2024-05-29). Cover starts on that date.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from yikatong.core.errors import InvalidInput
from yikatong.core.money import Fen, format_yuan
from yikatong.medical.policy import (
    BASIS_POINTS,
    Category,
    InstitutionLevel,
    MedicalPolicy,
    OffsiteCase,
)

NO_FEN = Fen(0)


def share_of(amount: int, ratio_bp: int) -> Fen:
    """``ratio_bp`` basis points of ``amount`` fen, rounded half up to the fen."""
    if amount < 0 or ratio_bp < 0:
        raise ValueError("shares are taken of non-negative amounts at non-negative ratios")
    return Fen((amount * ratio_bp + BASIS_POINTS // 2) // BASIS_POINTS)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day number ``months`` later, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _percent(ratio_bp: int) -> str:
    whole, frac = divmod(ratio_bp, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}%"


# --------------------------------------------------------------------------- contributions


def contribution_due(policy: MedicalPolicy, category: Category | str) -> Fen:
    """Individual contribution (个人缴费) of one person of ``category`` for the policy year."""
    return policy.contributions.individual.of(_category(category))


def fiscal_subsidy(policy: MedicalPolicy, category: Category | str) -> Fen:
    """Fiscal subsidy (财政补助) paid for one person of ``category`` for the policy year."""
    return policy.contributions.subsidy.of(_category(category))


def _category(category: Category | str) -> Category:
    try:
        return Category(category)
    except ValueError:
        names = ", ".join(c.value for c in Category)
        raise InvalidInput(
            f"unknown contribution category {category!r}; use one of {names}", field="category"
        ) from None


# --------------------------------------------------------------------------- waiting period


@dataclass(frozen=True)
class PriorCover:
    """Cover years before the one being paid for (insured in this city or recognised on
    transfer). No insured year at all means a first enrolment, which is not a break."""

    insured_years: frozenset[int] = frozenset()

    @classmethod
    def of(cls, years: Iterable[int]) -> PriorCover:
        return cls(frozenset(years))

    @classmethod
    def first_enrolment(cls) -> PriorCover:
        return cls(frozenset())

    def gap_before(self, year: int) -> int | None:
        """Uninsured years right before ``year`` (0: continuous; None: never insured before)."""
        earlier = [y for y in self.insured_years if y < year]
        if not earlier:
            return None
        return year - 1 - max(earlier)


class WaitRule(StrEnum):
    """Which rule decided the start of cover."""

    IN_WINDOW = "in_window"  # paid in the collection window, continuous cover
    NEWBORN = "newborn"  # newborn insured in the first year: no wait
    LATE_PAYMENT = "late_payment"  # paid after the window: fixed wait (seed 002)
    BROKEN_COVER = "broken_cover"  # cover broken: fixed + per-gap-year wait (2025 national)
    TRANSFER = "transfer"  # moved from another city, gap bridged by the missed months (转移接续)


@dataclass(frozen=True)
class CoverageDecision:
    """When cover of the policy year starts for one payment, and why."""

    year: int
    paid_on: dt.date
    rule: WaitRule
    covered_from: dt.date
    cover_ends: dt.date
    waiting_months: int
    gap_years: int | None
    explanation: tuple[str, ...]

    @property
    def has_cover(self) -> bool:
        """False when the wait runs past 31 December: the payment buys no cover this year."""
        return self.covered_from <= self.cover_ends


def coverage_start(
    policy: MedicalPolicy,
    paid_on: dt.date,
    *,
    prior_cover: PriorCover,
    newborn_birth_date: dt.date | None = None,
    back_paid_months: int = 0,
) -> CoverageDecision:
    """Start of cover (待遇享受起始日) for a contribution to ``policy.year`` paid on ``paid_on``.

    * newborn insured within ``newborn_exempt_within_months`` of birth: covered from birth (or
      1 January), no wait;
    * paid in the window with continuous cover (or a first enrolment): 1 January;
    * otherwise the fixed wait (seed 002: 3 months after a payment after 1 January);
    * when the policy applies the broken-cover rule (2025 national): for a gap of *g* years add
      *g* × ``months_per_gap_year``, minus ``months_repaired_per_back_paid_year`` for each whole
      year paid back (never below zero), and a gap of ``long_gap_years`` or more never waits
      less than ``long_gap_min_months`` in all.

    The wait is counted from the payment date, or from 1 January when paid before it.
    """
    window = policy.collection
    year = policy.year
    if paid_on < window.opens:
        raise InvalidInput(
            f"payment on {paid_on} is before the {year} collection window opens on "
            f"{window.opens}; pay the {year - 1} contribution instead",
            field="paid_on",
        )
    if paid_on > policy.cover_ends:
        raise InvalidInput(
            f"payment on {paid_on} is after the {year} cover year ended on {policy.cover_ends}; "
            f"use the {paid_on.year} policy",
            field="paid_on",
        )
    if back_paid_months < 0:
        raise InvalidInput("back-paid months cannot be negative", field="back_paid_months")
    if newborn_birth_date is not None and newborn_birth_date > paid_on:
        raise InvalidInput(
            f"birth date {newborn_birth_date} is after the payment on {paid_on}",
            field="newborn_birth_date",
        )

    rules = policy.waiting_period
    gap = prior_cover.gap_before(year)
    in_window = window.opens <= paid_on <= window.closes
    notes = [
        f"cover year {year}: window {window.opens} – {window.closes}, cover from "
        f"{window.cover_starts} to {policy.cover_ends}; paid on {paid_on} "
        f"({'in' if in_window else 'after'} the window)"
    ]

    if newborn_birth_date is not None:
        exempt_until = add_months(newborn_birth_date, rules.newborn_exempt_within_months)
        if paid_on <= exempt_until:
            covered_from = max(newborn_birth_date, window.cover_starts)
            notes.append(
                f"newborn born {newborn_birth_date}, insured by {exempt_until} (within "
                f"{rules.newborn_exempt_within_months} months of birth): no waiting period, "
                f"covered from {covered_from}"
            )
            return CoverageDecision(
                year, paid_on, WaitRule.NEWBORN, covered_from, policy.cover_ends, 0, gap,
                tuple(notes),
            )  # fmt: skip
        notes.append(
            f"newborn born {newborn_birth_date} but insured after {exempt_until}: "
            "the newborn exemption no longer applies"
        )

    if gap is None:
        notes.append("first enrolment: no earlier cover, so no broken-cover period")
    elif gap == 0:
        notes.append(f"continuous cover: insured in {year - 1}")
    else:
        notes.append(f"cover broken: {gap} uninsured year(s) before {year}")

    broken = gap is not None and gap > 0 and rules.applies_to_broken_cover
    if back_paid_months and not broken:
        raise InvalidInput(
            "back-paid months only shorten a broken-cover waiting period, which does not apply",
            field="back_paid_months",
        )
    if broken and gap is not None and back_paid_months > gap * 12:
        raise InvalidInput(
            f"{back_paid_months} back-paid months exceed the {gap}-year gap ({gap * 12} months)",
            field="back_paid_months",
        )
    if in_window and not broken:
        notes.append(f"paid in the window: covered from {window.cover_starts}")
        return CoverageDecision(
            year, paid_on, WaitRule.IN_WINDOW, window.cover_starts, policy.cover_ends, 0, gap,
            tuple(notes),
        )  # fmt: skip

    months = rules.fixed_months
    notes.append(f"fixed waiting period (固定等待期): {rules.fixed_months} months")
    rule = WaitRule.LATE_PAYMENT
    if broken and gap is not None:
        rule = WaitRule.BROKEN_COVER
        variable = gap * rules.months_per_gap_year
        back_paid_years = back_paid_months // 12
        repaired = min(variable, back_paid_years * rules.months_repaired_per_back_paid_year)
        months += variable - repaired
        notes.append(
            f"variable waiting period (变动等待期): {gap} year(s) × "
            f"{rules.months_per_gap_year} month(s) = {variable} months"
        )
        if back_paid_months:
            notes.append(
                f"back-paid {back_paid_months} months = {back_paid_years} whole year(s): "
                f"variable period shortened by {repaired} months"
            )
        if gap >= rules.long_gap_years and months < rules.long_gap_min_months:
            notes.append(
                f"gap of {gap} years ≥ {rules.long_gap_years}: never less than "
                f"{rules.long_gap_min_months} months in all"
            )
            months = rules.long_gap_min_months
    counted_from = max(paid_on, window.cover_starts)
    covered_from = add_months(counted_from, months)
    notes.append(
        f"{months} months counted from {counted_from}: covered from {covered_from}"
        + (
            ""
            if covered_from <= policy.cover_ends
            else f", after the cover year ends on {policy.cover_ends}: no {year} benefits"
        )
    )
    return CoverageDecision(
        year, paid_on, rule, covered_from, policy.cover_ends, months, gap, tuple(notes)
    )


# --------------------------------------------------------------------------- rewards


def continuous_reward(policy: MedicalPolicy, continuous_years: int) -> Fen:
    """Rise of the critical-illness cap for continuous enrolment (连续参保激励): ``per_year`` for
    each continuous year beyond ``starts_after_years``, at most ``max_share_of_cap_bp`` of the
    original cap."""
    if continuous_years < 0:
        raise InvalidInput("continuous years cannot be negative", field="continuous_years")
    reward = policy.continuous_reward
    earned = max(0, continuous_years - reward.starts_after_years) * reward.per_year
    limit = share_of(policy.settlement.critical_illness.cap, reward.max_share_of_cap_bp)
    return Fen(min(earned, limit))


def transfer_gap_months(covered_until: dt.date, paid_on: dt.date) -> int:
    """Calendar months without cover between the old city's last covered day and a payment in
    the new city, the month of payment included (cover to 2024-12-31, paid 2025-03-10 → 3:
    January, February, March); 0 when paid while the old cover still ran."""
    if paid_on <= covered_until:
        return 0
    first = covered_until + dt.timedelta(days=1)
    return (paid_on.year * 12 + paid_on.month) - (first.year * 12 + first.month) + 1


def bridge_transfer_gap(
    policy: MedicalPolicy,
    decision: CoverageDecision,
    *,
    covered_until: dt.date,
    old_city_code: str,
) -> CoverageDecision:
    """Apply a completed transfer (转移接续) to a coverage decision of the new city.

    A gap of at most ``transfer.max_gap_months_without_wait`` months after the old city's cover
    is bridged: the contribution pays the missed months and cover runs on from the day after the
    old cover ended (never before 1 January of the cover year), with no waiting period. A longer
    gap keeps ``decision`` and says why.
    """
    limit = policy.transfer.max_gap_months_without_wait
    gap = transfer_gap_months(covered_until, decision.paid_on)
    note = (
        f"transferred from city {old_city_code}, covered there until {covered_until}: "
        f"{gap} month(s) without cover up to the payment on {decision.paid_on}"
    )
    if gap > limit:
        return replace(
            decision,
            explanation=(*decision.explanation, f"{note}; more than {limit}: the wait applies"),
        )
    covered_from = max(covered_until + dt.timedelta(days=1), policy.collection.cover_starts)
    if covered_from > policy.cover_ends or covered_from >= decision.covered_from:
        return replace(decision, explanation=(*decision.explanation, f"{note}; nothing to bridge"))
    missed = (
        f"pays the {gap} missed month(s) from {covered_until + dt.timedelta(days=1)}"
        if gap
        else "no month missed"
    )
    return replace(
        decision,
        rule=WaitRule.TRANSFER,
        covered_from=covered_from,
        waiting_months=0,
        explanation=(
            *decision.explanation,
            f"{note}; at most {limit}: the contribution {missed}, no waiting period, "
            f"covered from {covered_from}",
        ),
    )


# --------------------------------------------------------------------------- settlement


class ItemClass(StrEnum):
    """Catalogue class of a drug or service (甲类/乙类/丙类)."""

    A = "A"
    B = "B"
    C = "C"


@dataclass(frozen=True)
class ClaimItem:
    item_class: ItemClass
    quantity: int
    unit_price: Fen
    name: str = ""

    @property
    def amount(self) -> Fen:
        return Fen(self.quantity * self.unit_price)


@dataclass(frozen=True)
class Claim:
    """One visit's bill, and what the patient's accounts could pay towards it."""

    items: tuple[ClaimItem, ...]
    personal_account_balance: Fen = NO_FEN
    family_account_balance: Fen = NO_FEN


@dataclass(frozen=True)
class Accumulators:
    """A person's year-to-date figures (年度累计), carried from one claim to the next."""

    year: int
    deductible_paid: Fen = NO_FEN
    fund_paid: Fen = NO_FEN
    critical_illness_eligible: Fen = NO_FEN
    critical_illness_paid: Fen = NO_FEN
    continuous_years: int = 0


@dataclass(frozen=True)
class SettlementLine:
    """One line of the explanation a cashier and the resident can read."""

    code: str
    label_zh: str
    label_en: str
    amount: Fen
    detail: str = ""


@dataclass(frozen=True)
class Settlement:
    total: Fen
    class_c_self_pay: Fen
    class_b_self_pay: Fen
    eligible: Fen
    deductible: Fen
    ratio_bp: int
    fund: Fen
    co_pay: Fen
    over_cap: Fen
    critical_illness: Fen
    personal_account: Fen
    family_account: Fen
    cash: Fen
    accumulators: Accumulators
    lines: tuple[SettlementLine, ...] = field(default=())

    @property
    def patient_share(self) -> Fen:
        return Fen(self.total - self.fund - self.critical_illness)


def _claim_sums(claim: Claim, b_share_bp: int) -> tuple[int, int, int]:
    """Validate a claim and add it up in one pass: (total, class C, class B self-pay share).

    The class B share is rounded per item: the share printed next to each line of the bill.
    """
    if not claim.items:
        raise InvalidInput("a claim needs at least one item", field="items")
    total = class_c = class_b = 0
    half = BASIS_POINTS // 2
    for index, item in enumerate(claim.items):
        item_class = item.item_class
        if not isinstance(item_class, ItemClass):
            raise InvalidInput(
                f"item {index}: class must be A, B or C", field=f"items[{index}].item_class"
            )
        if item.quantity < 1:
            raise InvalidInput(
                f"item {index}: quantity must be at least 1", field=f"items[{index}].quantity"
            )
        if item.unit_price < 0:
            raise InvalidInput(
                f"item {index}: unit price cannot be negative", field=f"items[{index}].unit_price"
            )
        amount = item.quantity * item.unit_price
        total += amount
        if item_class is ItemClass.C:
            class_c += amount
        elif item_class is ItemClass.B:
            class_b += (amount * b_share_bp + half) // BASIS_POINTS  # share_of, inlined
    for name in ("personal_account_balance", "family_account_balance"):
        if getattr(claim, name) < 0:
            raise InvalidInput(f"{name.replace('_', ' ')} cannot be negative", field=name)
    return total, class_c, class_b


def _critical_illness_on(policy: MedicalPolicy, eligible: int) -> int:
    """Critical-illness payment on a year's cumulative eligible self-pay, before the cap."""
    scheme = policy.settlement.critical_illness
    paid = 0
    lower: int = scheme.threshold
    for band in scheme.bands:
        upper = eligible if band.up_to is None else min(eligible, band.up_to)
        if upper > lower:
            paid += (upper - lower) * band.ratio_bp
        if band.up_to is None or eligible <= band.up_to:
            break
        lower = band.up_to
    return (paid + BASIS_POINTS // 2) // BASIS_POINTS


def settle_claim(
    policy: MedicalPolicy,
    claim: Claim,
    accumulators: Accumulators,
    *,
    institution_level: InstitutionLevel | int,
    offsite: OffsiteCase | None,
) -> Settlement:
    """Settle one bill (医保结算) and say who pays what, line by line.

    Order: class C fully self-paid; class B's self-pay share; the deductible still open this
    year; the pooling fund at the level's ratio less the off-site reduction, within what is left
    of the annual cap; critical-illness insurance on the year's cumulative eligible self-pay
    above its threshold, by bands, within its cap raised by the continuous-enrolment reward;
    the rest from the personal account, then the family-shared account, then cash.
    """
    if accumulators.year != policy.year:
        raise InvalidInput(
            f"the accumulators are for {accumulators.year} but the policy is for {policy.year}; "
            f"settle with the {accumulators.year} policy",
            field="year",
        )
    try:
        level = InstitutionLevel(institution_level)
    except ValueError:
        raise InvalidInput(
            f"institution level must be 1, 2 or 3, not {institution_level!r}",
            field="institution_level",
        ) from None
    rules = policy.settlement
    b_share_bp = rules.catalogue.class_b_self_pay_bp
    total, class_c, class_b = _claim_sums(claim, b_share_bp)
    eligible = total - class_c - class_b

    deductible_level = rules.deductible.of(level)
    deductible_open = max(0, deductible_level - accumulators.deductible_paid)
    deductible = min(eligible, deductible_open)
    above_deductible = eligible - deductible

    base_bp = rules.reimbursement_bp.of(level)
    reduction_bp = policy.offsite.reduction_bp(offsite)
    ratio_bp = max(0, base_bp - reduction_bp)
    fund_at_ratio = share_of(above_deductible, ratio_bp)
    cap_open = max(0, rules.annual_cap - accumulators.fund_paid)
    fund = Fen(min(fund_at_ratio, cap_open))
    co_pay = above_deductible - fund_at_ratio
    over_cap = fund_at_ratio - fund

    # critical illness works on the year's running total so the order of claims cannot change it
    ci_eligible_now = deductible + co_pay + over_cap
    ci_before = accumulators.critical_illness_eligible
    ci_after = ci_before + ci_eligible_now
    ci_raw = _critical_illness_on(policy, ci_after) - _critical_illness_on(policy, ci_before)
    reward = continuous_reward(policy, accumulators.continuous_years)
    ci_cap = rules.critical_illness.cap + reward
    ci_open = max(0, ci_cap - accumulators.critical_illness_paid)
    critical_illness = max(0, min(ci_raw, ci_open, ci_eligible_now))

    patient = total - fund - critical_illness
    personal = min(patient, claim.personal_account_balance)
    family = min(patient - personal, claim.family_account_balance)
    cash = patient - personal - family

    updated = replace(
        accumulators,
        deductible_paid=Fen(accumulators.deductible_paid + deductible),
        fund_paid=Fen(accumulators.fund_paid + fund),
        critical_illness_eligible=Fen(ci_after),
        critical_illness_paid=Fen(accumulators.critical_illness_paid + critical_illness),
    )

    ratio_detail = f"level {int(level)}: {_percent(base_bp)}"
    if offsite is not None:
        ratio_detail += (
            f" − off-site {offsite.value} {_percent(reduction_bp)} = {_percent(ratio_bp)}"
        )
    lines = (
        SettlementLine("total", "医疗费用总额", "Bill total", Fen(total),
                       f"{len(claim.items)} item(s)"),
        SettlementLine("class_c", "丙类自费", "Class C, fully self-paid", Fen(class_c)),
        SettlementLine("class_b_self_pay", "乙类先行自付", "Class B self-paid share",
                       Fen(class_b), f"{_percent(b_share_bp)} of class B items"),
        SettlementLine("eligible", "政策范围内费用", "Eligible amount", Fen(eligible)),
        SettlementLine("deductible", "起付线自付", "Deductible paid", Fen(deductible),
                       f"level {int(level)} deductible {format_yuan(deductible_level)}, "
                       f"{format_yuan(deductible_open)} still open this year"),
        SettlementLine("co_pay", "比例内自付", "Co-payment", Fen(co_pay),
                       f"reimbursed {ratio_detail}"),
        SettlementLine("over_cap", "超封顶线自付", "Above the annual cap", Fen(over_cap),
                       f"annual cap {format_yuan(rules.annual_cap)}, "
                       f"{format_yuan(cap_open)} left before this bill"),
        SettlementLine("fund", "统筹基金支付", "Pooling fund pays", fund,
                       f"{_percent(ratio_bp)} of {format_yuan(above_deductible)}"),
        SettlementLine("critical_illness", "大病保险支付", "Critical-illness insurance pays",
                       Fen(critical_illness),
                       f"year's eligible self-pay {format_yuan(ci_before)} → "
                       f"{format_yuan(ci_after)}, threshold "
                       f"{format_yuan(rules.critical_illness.threshold)}, cap "
                       f"{format_yuan(ci_cap)} (incl. reward {format_yuan(reward)})"),
        SettlementLine("personal_account", "个人账户支付", "Personal account pays",
                       Fen(personal)),
        SettlementLine("family_account", "家庭共济支付", "Family-shared account pays",
                       Fen(family)),
        SettlementLine("cash", "现金支付", "Cash", Fen(cash)),
    )  # fmt: skip
    return Settlement(
        total=Fen(total),
        class_c_self_pay=Fen(class_c),
        class_b_self_pay=Fen(class_b),
        eligible=Fen(eligible),
        deductible=Fen(deductible),
        ratio_bp=ratio_bp,
        fund=fund,
        co_pay=Fen(co_pay),
        over_cap=Fen(over_cap),
        critical_illness=Fen(critical_illness),
        personal_account=Fen(personal),
        family_account=Fen(family),
        cash=Fen(cash),
        accumulators=updated,
        lines=lines,
    )


def settle_year(
    policy: MedicalPolicy,
    claims: Sequence[Claim],
    *,
    institution_level: InstitutionLevel | int,
    offsite: OffsiteCase | None = None,
    continuous_years: int = 0,
) -> list[Settlement]:
    """Settle claims in order through one year, carrying the accumulators."""
    accumulators = Accumulators(year=policy.year, continuous_years=continuous_years)
    settled = []
    for claim in claims:
        settlement = settle_claim(
            policy, claim, accumulators, institution_level=institution_level, offsite=offsite
        )
        settled.append(settlement)
        accumulators = settlement.accumulators
    return settled
