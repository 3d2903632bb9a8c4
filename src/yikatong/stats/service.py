"""The figures the city reports (统计): e-SSC verifications, certificate prints, benefits paid,
medical settlements, canteen meals and subsidies, rides and the certification rate, by day or
month and by district.

Statistics read the other domains' tables read-only, by SQL over table names (no domain's
models are imported: statistics change nothing and must not tie the domains together). A figure
whose domain has no table in this database (a domain not yet migrated here) is reported as
*unavailable* ("no data"), never as zero and never as an error.

Days are Beijing days (UTC+8): a timestamp counts on the local date it happened. The district
is the resident's registered district (``resident.district_code``); a row that names no local
resident (a visiting card, an anonymous tap) counts under the district ``""`` (unknown). Canteen
meals count in the canteen's district (whose budget pays the subsidy).

e-SSC verifications are the codes accepted online (``essc_used_nonce``, one row per accepted
code). ``ykt qr purge-nonces`` forgets expired ones: run the figures of a period before purging
it, or keep the nonces as long as the city reports on them.

The certification rate (资格认证率, target ≥ 99 %) is that of the retirees as last evaluated:
certified ones over all retirees, on the day of the evaluation (``certification_state.as_of``);
a period without an evaluation has no rate.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    case,
    column,
    func,
    inspect,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from yikatong.core import clock
from yikatong.core.clock import CHINA_TZ
from yikatong.core.db import UTCDateTime
from yikatong.core.errors import InvalidInput

log = logging.getLogger(__name__)

Query = Select[*tuple[Any, ...]]

MAX_DAYS = 366
MAX_MONTHS = 120
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the platform's records; beyond is a typing error


def N_(text: str) -> str:
    """Marks a title for the web's translation catalogues (extracted by Babel; no effect here)."""
    return text


# What each figure is called in the city's reports; the web shows them translated.
TITLES = {
    "essc_verifications": N_("电子社保卡验码"),
    "certificate_prints": N_("证明打印"),
    "benefits_paid": N_("待遇发放金额"),
    "benefit_payments": N_("待遇发放笔数"),
    "medical_settlements": N_("医保结算笔数"),
    "medical_fund": N_("医保基金支付"),
    "canteen_meals": N_("助餐次数"),
    "canteen_subsidies": N_("助餐补贴"),
    "rides": N_("乘车次数"),
    "certification_rate": N_("资格认证率"),
}


class Granularity(enum.StrEnum):
    DAY = "day"
    MONTH = "month"


class Unit(enum.StrEnum):
    COUNT = "count"
    FEN = "fen"
    PERMILLE = "permille"  # a rate in ‰ (numerator / denominator × 1000, rounded half up)


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive local dates and how to slice them, optionally for one district."""

    since: dt.date
    until: dt.date
    granularity: Granularity = Granularity.DAY
    district: str | None = None

    @classmethod
    def of(
        cls,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        granularity: Granularity | str = Granularity.DAY,
        district: str | None = None,
    ) -> Period:
        """Check and complete a request: by default the last 30 days (day) or 12 months."""
        try:
            step = Granularity(granularity)
        except ValueError:
            raise InvalidInput("granularity must be day or month", field="granularity") from None
        last = _in_range(until or clock.today(), "until")
        if since is None:
            since = (
                last - dt.timedelta(days=29)
                if step is Granularity.DAY
                else _add_months(last.replace(day=1), -11)
            )
        since = _in_range(since, "since")
        if since > last:
            raise InvalidInput(f"since ({since}) is after until ({last})", field="since")
        if step is Granularity.DAY and (last - since).days + 1 > MAX_DAYS:
            raise InvalidInput(
                f"a daily series covers at most {MAX_DAYS} days; ask for months", field="since"
            )
        months = (last.year - since.year) * 12 + last.month - since.month + 1
        if step is Granularity.MONTH and months > MAX_MONTHS:
            raise InvalidInput(
                f"a monthly series covers at most {MAX_MONTHS} months", field="since"
            )
        code = (district or "").strip() or None
        if code is not None and not (len(code) == 6 and code.isdigit()):
            raise InvalidInput("a district is its 6-digit code, e.g. 370202", field="district")
        return cls(since, last, step, code)

    def keys(self) -> list[str]:
        """Every period of the range, oldest first: ``2025-03-01`` or ``2025-03``."""
        if self.granularity is Granularity.MONTH:
            return [f"{month:%Y-%m}" for month in _months(self.since, self.until)]
        days = (self.until - self.since).days + 1
        return [(self.since + dt.timedelta(days=n)).isoformat() for n in range(days)]


def _in_range(day: dt.date, field: str) -> dt.date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"{field} must fall in {FIRST_YEAR}–{LAST_YEAR}, not {day}", field=field)
    return day


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _months(since: dt.date, until: dt.date) -> list[dt.date]:
    first, found = since.replace(day=1), []
    while first <= until:
        found.append(first)
        first = _add_months(first, 1)
    return found


@dataclass(frozen=True, slots=True)
class Series:
    """One figure over the periods: ``points`` aligned with ``Figures.periods``.

    ``available`` is False when the figure's domain has no table here ("no data"); its points
    are then all zero and mean nothing. For rates, points and totals are ‰ of the summed
    numerators over the summed denominators (None where nothing was due).
    """

    key: str
    unit: Unit
    available: bool
    points: tuple[int | None, ...]
    total: int | None
    by_district: tuple[tuple[str, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Figures:
    period: Period
    periods: tuple[str, ...]
    series: tuple[Series, ...]
    districts: tuple[str, ...] = field(default=())

    def get(self, key: str) -> Series:
        for series in self.series:
            if series.key == key:
                return series
        raise KeyError(key)


# --------------------------------------------------------------------------- reading the tables

_resident = table("resident", column("id", Integer), column("district_code", String))
_card = table("card", column("card_ref", String), column("resident_id", Integer))
_used_nonce = table("essc_used_nonce", column("card_ref", String), column("used_at", UTCDateTime()))
_document = table(
    "document_issued", column("resident_id", Integer), column("issued_at", UTCDateTime())
)
_payment_line = table(
    "benefit_payment_line",
    column("batch_id", Integer),
    column("resident_id", Integer),
    column("amount", Integer),
    column("status", String),
)
_batch = table("benefit_batch", column("id", Integer), column("value_date", Date))
_claim = table(
    "medical_claim",
    column("resident_id", Integer),
    column("settled_at", UTCDateTime()),
    column("fund", Integer),
    column("status", String),
)
_tap = table(
    "acquiring_tap",
    column("merchant_id", Integer),
    column("resident_id", Integer),
    column("business_date", Date),
    column("status", String),
)
_merchant = table("acquiring_merchant", column("id", Integer), column("kind", String))
_meal = table(
    "canteen_meal",
    column("district_code", String),
    column("business_date", Date),
    column("subsidy", Integer),
    column("status", String),
)
_certification = table(
    "certification_state",
    column("district_code", String),
    column("status", String),
    column("as_of", Date),
)


class _Day:
    """The local day of a column as ``YYYY-MM-DD`` text, on SQLite and PostgreSQL alike."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def of_instant(self, value: ColumnElement[dt.datetime]) -> ColumnElement[str]:
        if self.dialect == "postgresql":
            # China keeps UTC+8 all year (no daylight saving since 1991)
            local = func.timezone(literal_column("'Asia/Shanghai'"), value)
            return func.to_char(local, literal_column("'YYYY-MM-DD'"))
        return func.strftime(literal_column("'%Y-%m-%d'"), value, literal_column("'+8 hours'"))

    def of_date(self, value: ColumnElement[dt.date]) -> ColumnElement[str]:
        if self.dialect == "postgresql":
            return func.to_char(value, literal_column("'YYYY-MM-DD'"))
        return func.strftime(literal_column("'%Y-%m-%d'"), value)


def _bucket(day: ColumnElement[str], granularity: Granularity) -> ColumnElement[str]:
    return func.substr(day, 1, 7) if granularity is Granularity.MONTH else day


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CHINA_TZ).astimezone(dt.UTC)


def _district(resident: TableClause) -> ColumnElement[str]:
    return func.coalesce(resident.c.district_code, literal(""))


@dataclass(frozen=True, slots=True)
class _Measure:
    """A figure: the tables it needs and a query yielding (period, district, value[, due])."""

    key: str
    unit: Unit
    tables: tuple[str, ...]
    query: Callable[[Period, _Day], Query]


def _verifications(period: Period, day: _Day) -> Query:
    bucket = _bucket(day.of_instant(_used_nonce.c.used_at), period.granularity)
    return (
        select(bucket, _district(_resident), func.count())
        .select_from(
            _used_nonce.outerjoin(_card, _card.c.card_ref == _used_nonce.c.card_ref).outerjoin(
                _resident, _resident.c.id == _card.c.resident_id
            )
        )
        .where(
            _used_nonce.c.used_at >= _local_midnight(period.since),
            _used_nonce.c.used_at < _local_midnight(period.until + dt.timedelta(days=1)),
        )
    )


def _prints(period: Period, day: _Day) -> Query:
    bucket = _bucket(day.of_instant(_document.c.issued_at), period.granularity)
    return (
        select(bucket, _district(_resident), func.count())
        .select_from(_document.outerjoin(_resident, _resident.c.id == _document.c.resident_id))
        .where(
            _document.c.issued_at >= _local_midnight(period.since),
            _document.c.issued_at < _local_midnight(period.until + dt.timedelta(days=1)),
        )
    )


def _benefits(value: ColumnElement[int]) -> Callable[[Period, _Day], Query]:
    def query(period: Period, day: _Day) -> Query:
        bucket = _bucket(day.of_date(_batch.c.value_date), period.granularity)
        return (
            select(bucket, _district(_resident), value)
            .select_from(
                _payment_line.join(_batch, _batch.c.id == _payment_line.c.batch_id).outerjoin(
                    _resident, _resident.c.id == _payment_line.c.resident_id
                )
            )
            .where(
                _payment_line.c.status == "paid",
                _batch.c.value_date >= period.since,
                _batch.c.value_date <= period.until,
            )
        )

    return query


def _settlements(value: ColumnElement[int]) -> Callable[[Period, _Day], Query]:
    def query(period: Period, day: _Day) -> Query:
        bucket = _bucket(day.of_instant(_claim.c.settled_at), period.granularity)
        return (
            select(bucket, _district(_resident), value)
            .select_from(_claim.outerjoin(_resident, _resident.c.id == _claim.c.resident_id))
            .where(
                _claim.c.status == "settled",
                _claim.c.settled_at >= _local_midnight(period.since),
                _claim.c.settled_at < _local_midnight(period.until + dt.timedelta(days=1)),
            )
        )

    return query


def _rides(period: Period, day: _Day) -> Query:
    bucket = _bucket(day.of_date(_tap.c.business_date), period.granularity)
    return (
        select(bucket, _district(_resident), func.count())
        .select_from(
            _tap.join(_merchant, _merchant.c.id == _tap.c.merchant_id).outerjoin(
                _resident, _resident.c.id == _tap.c.resident_id
            )
        )
        .where(
            _merchant.c.kind.in_(("bus", "metro")),
            # charged or owed rides; a reversed tap was undone and is no ride
            _tap.c.status.in_(("approved", "debt")),
            _tap.c.business_date >= period.since,
            _tap.c.business_date <= period.until,
        )
    )


def _meals(value: ColumnElement[int]) -> Callable[[Period, _Day], Query]:
    def query(period: Period, day: _Day) -> Query:
        bucket = _bucket(day.of_date(_meal.c.business_date), period.granularity)
        return select(bucket, func.coalesce(_meal.c.district_code, literal("")), value).where(
            _meal.c.status == "approved",  # served; a reversed meal was undone
            _meal.c.business_date >= period.since,
            _meal.c.business_date <= period.until,
        )

    return query


def _certification_rate(period: Period, day: _Day) -> Query:
    certified = func.sum(case((_certification.c.status == "certified", 1), else_=0))
    bucket = _bucket(day.of_date(_certification.c.as_of), period.granularity)
    return select(
        bucket, func.coalesce(_certification.c.district_code, literal("")), certified, func.count()
    ).where(_certification.c.as_of >= period.since, _certification.c.as_of <= period.until)


MEASURES: tuple[_Measure, ...] = (
    _Measure(
        "essc_verifications",
        Unit.COUNT,
        ("essc_used_nonce", "card", "resident"),
        _verifications,
    ),
    _Measure("certificate_prints", Unit.COUNT, ("document_issued", "resident"), _prints),
    _Measure(
        "benefits_paid",
        Unit.FEN,
        ("benefit_payment_line", "benefit_batch", "resident"),
        _benefits(func.coalesce(func.sum(_payment_line.c.amount), 0)),
    ),
    _Measure(
        "benefit_payments",
        Unit.COUNT,
        ("benefit_payment_line", "benefit_batch", "resident"),
        _benefits(func.count()),
    ),
    _Measure(
        "medical_settlements", Unit.COUNT, ("medical_claim", "resident"), _settlements(func.count())
    ),
    _Measure(
        "medical_fund",
        Unit.FEN,
        ("medical_claim", "resident"),
        _settlements(func.coalesce(func.sum(_claim.c.fund), 0)),
    ),
    _Measure("rides", Unit.COUNT, ("acquiring_tap", "acquiring_merchant", "resident"), _rides),
    _Measure("canteen_meals", Unit.COUNT, ("canteen_meal",), _meals(func.count())),
    _Measure(
        "canteen_subsidies",
        Unit.FEN,
        ("canteen_meal",),
        _meals(func.coalesce(func.sum(_meal.c.subsidy), 0)),
    ),
    _Measure("certification_rate", Unit.PERMILLE, ("certification_state",), _certification_rate),
)


# --------------------------------------------------------------------------- the figures


def _rows(
    session: Session, measure: _Measure, period: Period, day: _Day
) -> list[tuple[Any, ...]] | None:
    """The measure's grouped rows, or None when its tables are not in this database."""
    inspector = inspect(session.connection())
    if not all(inspector.has_table(name) for name in measure.tables):
        return None
    query = measure.query(period, day).group_by(text("1"), text("2"))
    try:
        # a table of a domain still being built may lack a column this query reads: that figure
        # is "no data", the rest of the report stands (the savepoint keeps the transaction usable)
        with session.begin_nested():
            return [tuple(row) for row in session.execute(query)]
    except SQLAlchemyError as exc:
        log.warning("statistics: %s unavailable: %s", measure.key, exc)
        return None


def _permille(done: int, due: int) -> int | None:
    return None if due <= 0 else (done * 1000 * 2 + due) // (due * 2)


def _series(measure: _Measure, period: Period, rows: list[tuple[Any, ...]] | None) -> Series:
    keys = period.keys()
    if rows is None:
        return Series(measure.key, measure.unit, False, tuple(0 for _ in keys), None)
    ratio = measure.unit is Unit.PERMILLE
    by_period: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_district: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        bucket, district, value = str(row[0]), str(row[1] or ""), int(row[2] or 0)
        due = int(row[3] or 0) if ratio else 0
        by_district[district][0] += value
        by_district[district][1] += due
        if period.district is None or district == period.district:
            by_period[bucket][0] += value
            by_period[bucket][1] += due
    done_total = sum(by_period[key][0] for key in keys)
    due_total = sum(by_period[key][1] for key in keys)
    if ratio:
        points: tuple[int | None, ...] = tuple(_permille(*by_period[key]) for key in keys)
        total = _permille(done_total, due_total)
        districts = tuple((d, _permille(*v)) for d, v in sorted(by_district.items()))
    else:
        points = tuple(by_period[key][0] for key in keys)
        total = done_total
        districts = tuple((d, v[0]) for d, v in sorted(by_district.items()))
    return Series(measure.key, measure.unit, True, points, total, districts)


def figures(session: Session, period: Period) -> Figures:
    """Every figure over ``period``; figures of domains without tables here are unavailable."""
    day = _Day(session.get_bind().dialect.name)
    series = tuple(
        _series(measure, period, _rows(session, measure, period, day)) for measure in MEASURES
    )
    return Figures(period, tuple(period.keys()), series, districts(session))


def districts(session: Session) -> tuple[str, ...]:
    """The districts residents are registered in, for the district filter."""
    query = select(_resident.c.district_code).distinct().order_by(_resident.c.district_code)
    return tuple(str(code) for code in session.scalars(query) if code)
