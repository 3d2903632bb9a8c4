"""The pure rules of a pension transfer (养老保险关系转移接续), policy numbers passed in.

* The fund that moves (国办发〔2009〕66号 第四条): the whole individual account balance
  (个人账户储存额) plus the pooled part (统筹基金), 12 % of every year's contribution wages from
  1998 on — a year with fewer than twelve months counts its months only.
* Temporary account (临时基本养老保险缴费账户, 第五条): a man aged 50+ or a woman aged 40+ moving
  to a city that is not the household registration place (户籍所在地) keeps the relation in the
  old city; the new city opens a temporary account and no fund moves.
* Where the pension is paid (第六条): the household registration place if the relation is there;
  else the current place if 10+ years were paid there; else the last earlier place with 10+
  years; else everything is gathered at the household registration place.

Money is integer fen; an amount in fen × basis points is rounded half up once, at the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from yikatong.core.calendar import add_working_days
from yikatong.core.errors import InvalidInput
from yikatong.core.ids import Sex, age_on
from yikatong.core.money import Fen, format_yuan
from yikatong.pensions.policy import BASIS_POINTS, TransferRules

MONTHS_PER_YEAR = 12


@dataclass(frozen=True, slots=True)
class ContributionYear:
    """Contributions of one calendar year in one city: months paid and the monthly wage base
    (缴费工资基数, fen)."""

    year: int
    months: int
    monthly_base: int
    city_code: str

    @property
    def wages(self) -> int:
        """The year's contribution wages (年度缴费工资), fen."""
        return self.monthly_base * self.months


def check_years(years: Iterable[ContributionYear]) -> list[ContributionYear]:
    """Validate a contribution record; a year may not hold more than twelve months in total
    (contributing twice for one month, 重复缴费, is refused)."""
    checked = list(years)
    per_year: dict[int, int] = {}
    seen: set[tuple[int, str]] = set()
    for item in checked:
        if not 1950 <= item.year <= 2100:
            raise InvalidInput(f"contribution year {item.year} is out of range", field="year")
        if not 1 <= item.months <= MONTHS_PER_YEAR:
            raise InvalidInput(
                f"{item.year}: months must be 1–12, got {item.months}", field="months"
            )
        if item.monthly_base < 0:
            raise InvalidInput(f"{item.year}: the wage base cannot be negative", field="base")
        if len(item.city_code) != 6 or not item.city_code.isdigit():
            raise InvalidInput(f"{item.year}: city code must be 6 digits", field="city_code")
        if (item.year, item.city_code) in seen:
            raise InvalidInput(f"{item.year} appears twice for city {item.city_code}", field="year")
        seen.add((item.year, item.city_code))
        per_year[item.year] = per_year.get(item.year, 0) + item.months
        if per_year[item.year] > MONTHS_PER_YEAR:
            raise InvalidInput(
                f"{item.year} holds {per_year[item.year]} months across cities; a month is "
                "paid in one place only",
                field="months",
            )
    return checked


def _round_bp(total: int) -> Fen:
    return Fen((total + BASIS_POINTS // 2) // BASIS_POINTS)


def pooled_part(years: Iterable[ContributionYear], rules: TransferRules) -> Fen:
    """统筹基金: ``pooled_rate`` of the contribution wages of every year since
    ``pooled_from_year``, by month."""
    total = sum(
        y.wages * rules.pooled_rate_bp
        for y in check_years(years)
        if y.year >= rules.pooled_from_year
    )
    return _round_bp(total)


def individual_account_credits(years: Iterable[ContributionYear], rules: TransferRules) -> Fen:
    """What the contributions credited to the individual account (11 % 1998–2005, 8 % since
    2006), without interest; a balance before the first rate comes from the old city's books."""
    total = sum(y.wages * rules.account_rate_bp(y.year) for y in check_years(years))
    return _round_bp(total)


@dataclass(frozen=True, slots=True)
class TransferFund:
    individual_account: Fen
    pooled: Fen

    @property
    def total(self) -> Fen:
        return Fen(self.individual_account + self.pooled)

    def explain(self) -> str:
        return (
            f"individual account {format_yuan(self.individual_account)} + pooled "
            f"{format_yuan(self.pooled)} = {format_yuan(self.total)} yuan"
        )


def transfer_fund(
    individual_account_balance: int, years: Sequence[ContributionYear], rules: TransferRules
) -> TransferFund:
    """The money that follows the person: the whole individual account plus the pooled part."""
    if individual_account_balance < 0:
        raise InvalidInput(
            "an individual account balance cannot be negative", field="individual_account"
        )
    return TransferFund(Fen(individual_account_balance), pooled_part(years, rules))


@dataclass(frozen=True, slots=True)
class TemporaryDecision:
    temporary: bool
    reason: str


def temporary_account_decision(
    *,
    sex: Sex,
    birth_date: dt.date,
    on: dt.date,
    new_city_code: str,
    hukou_city_code: str,
    rules: TransferRules,
) -> TemporaryDecision:
    """Does someone moving to ``new_city_code`` on ``on`` get a temporary account there?"""
    age = age_on(birth_date, on)
    limit = rules.temporary_account.male_age if sex == "M" else rules.temporary_account.female_age
    who = f"{'man' if sex == 'M' else 'woman'} aged {age}"
    if new_city_code == hukou_city_code:
        return TemporaryDecision(
            False, f"{who} moving to the household registration place: the relation moves"
        )
    if age >= limit:
        return TemporaryDecision(
            True,
            f"{who} (limit {limit}) moving to a city that is not the household registration "
            "place: the relation stays in the old city, a temporary account is opened here",
        )
    return TemporaryDecision(False, f"{who}, under {limit}: the relation and the fund move")


@dataclass(frozen=True, slots=True)
class PayingCity:
    city_code: str
    reason: str


def pension_paying_city(
    years: Sequence[ContributionYear], *, hukou_city_code: str, rules: TransferRules
) -> PayingCity:
    """Where the pension will be paid (待遇领取地). ``years`` in chronological order; the city of
    the last one is where the relation is now."""
    record = check_years(years)
    if not record:
        raise InvalidInput("no contribution years: nothing decides a paying city", field="years")
    months: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    for index, item in enumerate(record):
        months[item.city_code] = months.get(item.city_code, 0) + item.months
        last_seen[item.city_code] = index
    current = record[-1].city_code
    needed = rules.pension_place_min_years * MONTHS_PER_YEAR

    def paid(city: str) -> str:
        whole, rest = divmod(months[city], MONTHS_PER_YEAR)
        return f"{whole} year(s) {rest} month(s)" if rest else f"{whole} year(s)"

    if current == hukou_city_code:
        return PayingCity(current, "the relation is at the household registration place")
    if months[current] >= needed:
        return PayingCity(current, f"{paid(current)} paid at the current place (≥{needed // 12})")
    earlier = [c for c in months if c != current and months[c] >= needed]
    if earlier:
        city = max(earlier, key=lambda c: last_seen[c])
        return PayingCity(
            city,
            f"{paid(current)} at the current place; back to the last place with "
            f"{rules.pension_place_min_years}+ years ({paid(city)})",
        )
    return PayingCity(
        hukou_city_code,
        f"no place reaches {rules.pension_place_min_years} years: gathered at the household "
        "registration place",
    )


def step_due(done_on: dt.date, rules: TransferRules) -> dt.date:
    """The deadline of the next step: ``step_working_days`` working days after ``done_on``."""
    return add_working_days(done_on, rules.step_working_days)
