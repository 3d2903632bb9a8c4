"""Chinese working-day calendar (工作日), including 调休 make-up working days.

Backed by ``chinesecalendar`` (State Council notices). A year without an official notice in the
table raises ``CalendarUnavailable`` instead of guessing: deadlines must not be silently wrong.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar

from yikatong.core.errors import CalendarUnavailable


@lru_cache(maxsize=1)
def supported_years() -> frozenset[int]:
    """Years for which an official holiday notice is in the table."""
    years = {d.year for d in chinese_calendar.holidays} | {
        d.year for d in chinese_calendar.workdays
    }
    return frozenset(years)


def _require_year(day: dt.date) -> None:
    if day.year not in supported_years():
        known = sorted(supported_years())
        raise CalendarUnavailable(
            f"no official working-day calendar for {day.year} (known: {known[0]}–{known[-1]}); "
            "update the chinesecalendar package once the State Council notice is published",
            year=day.year,
        )


def is_working_day(day: dt.date) -> bool:
    _require_year(day)
    return bool(chinese_calendar.is_workday(day))


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
