"""Chinese working-day calendar (工作日), including 调休 make-up working days.

Two sources, never a guess:

- ``chinesecalendar``, the package that tabulates the State Council's yearly holiday notices
  (国务院办公厅关于部分节假日安排的通知);
- a notice entered by the operator (``ykt calendar import``) for a year the package does not
  have yet: the notice is published each November or December, often before the package is
  released, and working-day deadlines (15 working days for a pension transfer step) start
  reaching into the new year weeks before it begins. The file is validated and kept in the
  node's data directory (``calendar/<year>.yaml``); every node of a league should load the same.

A year found in neither raises ``CalendarUnavailable``: deadlines must not be silently wrong.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from yikatong.core.errors import CalendarUnavailable, PolicyError

_SATURDAY = 5


class HolidayPeriod(BaseModel):
    """One festival's days off (放假), first and last day included."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=32, description="e.g. 春节")
    first: dt.date
    last: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> HolidayPeriod:
        if self.last < self.first:
            raise ValueError(f"{self.name}: the last day {self.last} is before the first")
        if (self.last - self.first).days > 14:
            raise ValueError(f"{self.name}: a holiday period is at most 15 days")
        return self

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=n) for n in range((self.last - self.first).days + 1)]


class HolidayNotice(BaseModel):
    """A year's official holiday arrangement, as published by the General Office of the State
    Council: the festivals' days off and the weekend days worked in exchange (调休上班)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=2000, le=2100)
    notice: str = Field(
        min_length=4, max_length=200, description="title and document number of the notice"
    )
    published: dt.date
    holidays: list[HolidayPeriod] = Field(min_length=1)
    working_days: list[dt.date] = Field(
        default_factory=list, description="Saturdays and Sundays worked (调休上班)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> HolidayNotice:
        off: dict[dt.date, str] = {}
        for period in self.holidays:
            for day in period.days():
                if day.year != self.year:
                    raise ValueError(f"{period.name}: {day} is not in {self.year}")
                if day in off:
                    raise ValueError(f"{day} is in both {off[day]} and {period.name}")
                off[day] = period.name
        for day in self.working_days:
            if day.year != self.year:
                raise ValueError(f"working day {day} is not in {self.year}")
            if day.weekday() < _SATURDAY:
                raise ValueError(f"working day {day} is a weekday; list only weekend days worked")
            if day in off:
                raise ValueError(f"{day} is both a day off ({off[day]}) and a working day")
        if len(set(self.working_days)) != len(self.working_days):
            raise ValueError("a working day is listed twice")
        if self.published.year not in (self.year - 1, self.year):
            raise ValueError(f"a notice for {self.year} is published in {self.year - 1} or then")
        return self

    def days_off(self) -> frozenset[dt.date]:
        return frozenset(day for period in self.holidays for day in period.days())

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() < _SATURDAY and day not in self.days_off()


_notices: dict[int, HolidayNotice] = {}


@lru_cache(maxsize=1)
def package_years() -> frozenset[int]:
    """Years the chinesecalendar package tabulates."""
    years = {d.year for d in chinese_calendar.holidays} | {
        d.year for d in chinese_calendar.workdays
    }
    return frozenset(years)


def supported_years() -> frozenset[int]:
    """Years for which an official holiday notice is known (package or imported)."""
    return package_years() | frozenset(_notices)


def source_of(year: int) -> str | None:
    """Where the calendar of ``year`` comes from, or ``None`` when it is unknown."""
    if year in package_years():
        return f"chinesecalendar {getattr(chinese_calendar, '__version__', '')}".strip()
    notice = _notices.get(year)
    return None if notice is None else notice.notice


def notice_of(year: int) -> HolidayNotice | None:
    return _notices.get(year)


def parse_notice(text: str, *, source: str = "the notice") -> HolidayNotice:
    """A notice from its YAML text, or a PolicyError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source} must hold a mapping (year, notice, published, holidays…)")
    try:
        notice = HolidayNotice.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'notice'}: {error['msg']}"
            for error in exc.errors()
        )
        raise PolicyError(f"{source} is refused: {problems}") from None
    if notice.year in package_years():
        raise PolicyError(
            f"{source}: {notice.year} is already tabulated by the chinesecalendar package; "
            "a notice is only taken for a year the package does not have"
        )
    return notice


def use_notice(notice: HolidayNotice) -> None:
    """Take ``notice`` for its year from now on (this process)."""
    _notices[notice.year] = notice


def forget_notice(year: int) -> None:
    _notices.pop(year, None)


def load_notices(directory: Path) -> list[int]:
    """Take every ``<year>.yaml`` notice in ``directory``; the years taken. A file that no
    longer validates is refused loudly rather than skipped."""
    if not directory.is_dir():
        return []
    taken: list[int] = []
    for path in sorted(directory.glob("*.yaml")):
        notice = parse_notice(path.read_text(encoding="utf-8"), source=str(path))
        if path.stem != str(notice.year):
            raise PolicyError(
                f"{path} holds the notice for {notice.year}; name it {notice.year}.yaml"
            )
        use_notice(notice)
        taken.append(notice.year)
    return taken


def import_notice(directory: Path, text: str, *, replace: bool = False) -> HolidayNotice:
    """Validate a notice, keep it as ``<year>.yaml`` in ``directory`` and take it at once.

    A different notice already kept for the year is only replaced when asked (a corrected
    notice); the same notice again changes nothing. The file is written whole or not at all.
    """
    notice = parse_notice(text)
    target = directory / f"{notice.year}.yaml"
    if target.exists():
        kept = parse_notice(target.read_text(encoding="utf-8"), source=str(target))
        if kept == notice:
            use_notice(kept)
            return kept
        if not replace:
            raise PolicyError(
                f"a different notice for {notice.year} is already imported ({kept.notice}); "
                "pass --replace to take the corrected one"
            )
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".yaml.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    use_notice(notice)
    return notice


def year_summary(year: int) -> tuple[list[dt.date], list[dt.date]]:
    """(weekdays off, weekend days worked) of a known year: what differs from a plain week."""
    _require_year(dt.date(year, 1, 1))
    day, off, worked = dt.date(year, 1, 1), [], []
    while day.year == year:
        working = is_working_day(day)
        if day.weekday() < _SATURDAY and not working:
            off.append(day)
        elif day.weekday() >= _SATURDAY and working:
            worked.append(day)
        day += dt.timedelta(days=1)
    return off, worked


def _require_year(day: dt.date) -> None:
    if day.year not in supported_years():
        known = sorted(supported_years())
        raise CalendarUnavailable(
            f"no official working-day calendar for {day.year} (known: {known[0]}–{known[-1]}); "
            "import the State Council's holiday notice with `ykt calendar import` once it is "
            "published, or update the chinesecalendar package",
            year=day.year,
        )


def is_working_day(day: dt.date) -> bool:
    _require_year(day)
    if day.year in package_years():
        return bool(chinese_calendar.is_workday(day))
    return _notices[day.year].is_working_day(day)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative when end is before start."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count
